"""Another machine's side of a distributed run: ``python -m faceless.distributed.worker``.

Run it on every machine but node 0, in the same project folder (shared storage: the same project
files and data paths), while node 0 runs ``kedro run`` with ``<stage>.distributed.nnodes`` > 1::

    python -m faceless.distributed.worker --nnodes 2 --node-rank 1 --nproc 8 --master node0:29500

It joins each job node 0 launches (one per distributed node of the pipeline: the SR trainings,
the upscaling, the classifiers), one after the other, and stops after ``--jobs`` jobs, or when no
job has come for ``--idle-timeout-s`` seconds, or on Ctrl-C. Results and MLflow stay with node 0.

It reaches node 0 within ``--timeout-s`` or stops with one line naming why (the name does not
resolve; connection refused; no answer) and a non-zero exit (3) where it never got a job.
"""
from __future__ import annotations

import argparse
import logging
import os
import socket
import sys
import threading
import time

from faceless.distributed.config import master_address
from faceless.distributed.launch import RENDEZVOUS_REACHED, join
from faceless.utils.errors import ConfigError

logger = logging.getLogger("faceless.distributed.worker")


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m faceless.distributed.worker", description=__doc__.split("\n")[0])
    parser.add_argument("--nnodes", type=int, required=True, help="machines taking part, node 0 included")
    parser.add_argument("--node-rank", type=int, required=True, help="this machine's place: 1 .. nnodes-1")
    parser.add_argument("--nproc", type=int, required=True, help="processes on this machine (one per GPU)")
    parser.add_argument("--master", required=True, help="host:port of node 0's rendezvous (its distributed.master)")
    parser.add_argument("--backend", default="auto", choices=("auto", "gloo", "nccl"),
                        help="as node 0's distributed.backend (auto: nccl on CUDA, gloo on CPU)")
    parser.add_argument("--device", default="auto", choices=("auto", "cuda", "cpu"), help="as node 0's stage device")
    parser.add_argument("--timeout-s", type=int, default=1800, help="as node 0's distributed.timeout_s")
    parser.add_argument("--idle-timeout-s", type=int, default=3600,
                        help="stop when no job has come for this long (node 0's run between distributed stages)")
    parser.add_argument("--jobs", type=int, default=0, help="stop after this many jobs (0: no limit)")
    return parser.parse_args(argv)


#: The exit status when node 0 could not be reached (and no job was done).
UNREACHABLE = 3


class Unreachable(Exception):
    """Node 0's rendezvous could not be reached; the message names why."""


def resolve(master: str) -> tuple[str, int]:
    """``--master``'s host and port; a ConfigError where the name does not resolve."""
    host, port = master_address(master)
    try:
        socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as err:
        raise ConfigError(f"--master {master}: the name '{host}' does not resolve ({err.strerror or err}); "
                          "give node 0's address or a name this machine resolves") from None
    return host, port


def wait_for_master(master: str, seconds: float) -> None:
    """Return once a TCP connection to ``master`` opens; :class:`Unreachable` naming the last cause
    (connection refused, no answer, ...) after ``seconds``."""
    host, port = master_address(master)
    deadline = time.monotonic() + seconds
    cause = "no answer"
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        try:
            with socket.create_connection((host, port), timeout=max(0.1, min(5.0, remaining))):
                return
        except ConnectionRefusedError:
            cause = "connection refused"
        except (TimeoutError, socket.timeout):
            cause = "no answer (the connection attempts time out)"
        except socket.gaierror as err:
            cause = f"the name '{host}' does not resolve ({err.strerror or err})"
        except OSError as err:
            cause = err.strerror or str(err)
        time.sleep(max(0.0, min(0.5, deadline - time.monotonic())))
    raise Unreachable(f"--master {master}: {cause} for {seconds:g} s (--timeout-s): is node 0's `kedro run` at a "
                      f"distributed stage with distributed.master={master}, and the port open to this machine?")


def watchdog(master: str, seconds: float) -> threading.Event:
    """Stop this process with one line if its agent has not reached node 0's rendezvous store in
    ``seconds`` (a port held by a program that accepts and never answers); set the returned event
    to call it off."""
    done = threading.Event()

    def watch() -> None:
        deadline = time.monotonic() + seconds
        while not done.is_set() and not RENDEZVOUS_REACHED.is_set():
            if time.monotonic() >= deadline:
                sys.stderr.write(f"Error: --master {master}: no answer: the port accepts connections but does not "
                                 f"answer as node 0's rendezvous within {seconds:g} s (--timeout-s): another program "
                                 "holds it, or node 0 is stuck\n")
                sys.stderr.flush()
                os._exit(UNREACHABLE)
            time.sleep(0.2)

    threading.Thread(target=watch, name="faceless-rendezvous-watchdog", daemon=True).start()
    return done


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    if "TORCH_CPP_LOG_LEVEL" not in os.environ:
        # Waiting for node 0 is this command's normal state: c10d's C++ retry lines (each with a
        # stack) are not for users. torch reads the level when it is imported, so start again with it.
        os.environ["TORCH_CPP_LOG_LEVEL"] = "FATAL"
        os.execv(sys.executable, [sys.executable, "-m", __spec__.name, *(sys.argv[1:] if argv is None else argv)])
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        resolve(args.master)
        if not 0 < args.node_rank < args.nnodes:
            raise ConfigError(f"--node-rank must be in 1..{args.nnodes - 1} (node 0 is the Kedro run), "
                              f"got {args.node_rank}")
        done = 0
        while not args.jobs or done < args.jobs:
            logger.info("waiting for job %d from %s", done + 1, args.master)
            try:
                # The first job must come within --timeout-s; later ones within --idle-timeout-s.
                wait_for_master(args.master, args.idle_timeout_s if done else args.timeout_s)
            except Unreachable as err:
                if done:
                    logger.info("no job from %s for %d s: stopping after %d jobs", args.master,
                                args.idle_timeout_s, done)
                    return 0
                print(f"Error: {err}", file=sys.stderr)
                return UNREACHABLE
            RENDEZVOUS_REACHED.clear()
            stop_watching = watchdog(args.master, args.timeout_s)
            try:
                join(args.nproc, args.nnodes, args.node_rank, args.master, args.backend, args.device,
                     args.timeout_s)
            except (TimeoutError, RuntimeError) as err:
                if "timeout" in str(err).lower() or "timed out" in str(err).lower():
                    if not done:
                        print(f"Error: --master {args.master}: no job came within {args.timeout_s} s "
                              "(--timeout-s) after connecting", file=sys.stderr)
                        return UNREACHABLE
                    logger.info("no job from %s for %d s: stopping after %d jobs", args.master,
                                args.idle_timeout_s, done)
                    return 0
                raise
            finally:
                stop_watching.set()
            done += 1
            logger.info("job %d done", done)
        return 0
    except ConfigError as err:
        print(f"Error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
