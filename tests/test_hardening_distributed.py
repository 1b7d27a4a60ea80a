"""Issue 29, item 5 (the issue's item 6): the rendezvous store listens on the configured interface
only (127.0.0.1 on one machine), and the worker CLI fails within --timeout-s, naming the cause, with
a non-zero exit, when it never got a job because it could not reach node 0. Loopback only."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time

import pytest

from faceless.distributed import DistributedConfig, launch
from faceless.distributed.launch import free_port
from tests.distributed import jobs

from .conftest import PROJECT_ROOT


def test_the_rendezvous_store_listens_on_loopback_only():
    config = DistributedConfig(nproc=2, backend="gloo", nnodes=1, node_rank=0, master="127.0.0.1:29500", timeout_s=60)
    found = launch(config, jobs.listening_addresses, device="cpu")
    assert found == ["0100007F"], found  # 127.0.0.1, and nothing on 0.0.0.0 or ::


def worker(master: str, timeout_s: int = 4, idle_timeout_s: int = 30) -> tuple[int, str, float]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(PROJECT_ROOT / "src"), os.environ.get("PYTHONPATH", "")])}
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "faceless.distributed.worker", "--nnodes", "2", "--node-rank", "1",
                           "--nproc", "1", "--device", "cpu", "--master", master, "--timeout-s", str(timeout_s),
                           "--idle-timeout-s", str(idle_timeout_s)],
                          capture_output=True, text=True, timeout=120, env=env)
    return done.returncode, done.stderr, time.monotonic() - started


def last_line(stderr: str) -> str:
    assert "Traceback" not in stderr, stderr[-2000:]
    return stderr.strip().splitlines()[-1]


def test_a_master_name_that_does_not_resolve_fails_at_once_naming_it():
    code, stderr, seconds = worker("no-such-host.invalid:29500")
    assert code != 0 and seconds < 30
    assert last_line(stderr).startswith("Error: --master no-such-host.invalid:29500: the name 'no-such-host.invalid' "
                                        "does not resolve")


def test_a_refused_connection_fails_within_the_timeout_naming_it():
    code, stderr, seconds = worker(f"127.0.0.1:{free_port()}", timeout_s=4)
    assert code != 0 and seconds < 4 + 20
    assert "connection refused" in last_line(stderr) and last_line(stderr).startswith("Error: --master 127.0.0.1:")


def test_a_port_that_accepts_and_never_answers_fails_within_the_timeout():
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    accepted = []
    stop = threading.Event()

    def accept_and_say_nothing():
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                accepted.append(listener.accept()[0])
            except OSError:
                pass

    thread = threading.Thread(target=accept_and_say_nothing, daemon=True)
    thread.start()
    try:
        code, stderr, seconds = worker(f"127.0.0.1:{listener.getsockname()[1]}", timeout_s=4)
    finally:
        stop.set()
        thread.join()
        for connection in accepted:
            connection.close()
        listener.close()
    assert code != 0 and seconds < 4 + 20, stderr[-2000:]
    assert "no answer" in last_line(stderr)
