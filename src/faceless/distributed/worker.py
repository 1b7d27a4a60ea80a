"""Another machine's side of a distributed run: ``python -m faceless.distributed.worker``.

Run it on every machine but node 0, in the same project folder (shared storage: the same project
files and data paths), while node 0 runs ``kedro run`` with ``<stage>.distributed.nnodes`` > 1::

    python -m faceless.distributed.worker --nnodes 2 --node-rank 1 --nproc 8 --master node0:29500

It joins each job node 0 launches (one per distributed node of the pipeline: the SR trainings,
the upscaling, the classifiers), one after the other, and stops after ``--jobs`` jobs, or when no
job has come for ``--idle-timeout-s`` seconds, or on Ctrl-C. Results and MLflow stay with node 0.
"""
from __future__ import annotations

import argparse
import logging
import os
import sys

from faceless.distributed.config import master_address
from faceless.distributed.launch import join
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


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    if "TORCH_CPP_LOG_LEVEL" not in os.environ:
        # Waiting for node 0 is this command's normal state: c10d's C++ retry lines (each with a
        # stack) are not for users. torch reads the level when it is imported, so start again with it.
        os.environ["TORCH_CPP_LOG_LEVEL"] = "FATAL"
        os.execv(sys.executable, [sys.executable, "-m", __spec__.name, *(sys.argv[1:] if argv is None else argv)])
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        master_address(args.master)
        if not 0 < args.node_rank < args.nnodes:
            raise ConfigError(f"--node-rank must be in 1..{args.nnodes - 1} (node 0 is the Kedro run), "
                              f"got {args.node_rank}")
        done = 0
        while not args.jobs or done < args.jobs:
            logger.info("waiting for job %d from %s", done + 1, args.master)
            try:
                join(args.nproc, args.nnodes, args.node_rank, args.master, args.backend, args.device,
                     args.idle_timeout_s if done else max(args.idle_timeout_s, args.timeout_s))
            except (TimeoutError, RuntimeError) as err:
                if "timeout" in str(err).lower() or "timed out" in str(err).lower():
                    logger.info("no job from %s for %d s: stopping after %d jobs", args.master,
                                args.idle_timeout_s, done)
                    return 0
                raise
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
