"""A throw-away Redis server for the province's set-up (workers on several machines share a
job queue on Debian's ``redis-server``, ``HUDANG_QUEUE_URL=redis://…``).

The suite's PostgreSQL run (``HUDANG_TEST_POSTGRES=1``, which also installs
``redis-server``) puts the several-worker test's queue on Redis; the SQLite run keeps the
queue in the data home, the embedded default.
"""
from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pg_support

SERVER = "redis-server"


def province() -> bool:
    """The run stands for a province: PostgreSQL catalogue, Redis queue."""
    return pg_support.enabled()


@contextlib.contextmanager
def redis_server(directory: Path) -> Iterator[str]:
    """``redis-server`` on a free local port, persisting nothing; yields its URL."""
    binary = shutil.which(SERVER)
    if binary is None:
        raise AssertionError(f"{SERVER} is not installed: HUDANG_TEST_POSTGRES=1 make test "
                             "installs it (apt-get install redis-server)")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    directory.mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                             "--appendonly", "no", "--dir", str(directory)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    try:
        for _ in range(200):
            if proc.poll() is not None:
                raise AssertionError(f"{SERVER} exited with {proc.returncode}")
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
                break
            time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        proc.wait(30)


@contextlib.contextmanager
def job_queue(directory: Path) -> Iterator[str | None]:
    """The queue a several-worker test uses: Redis in a province's run, else None (the data
    home's SQLite queue)."""
    if not province():
        yield None
        return
    with redis_server(directory) as url:
        yield url
