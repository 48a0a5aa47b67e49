"""Run one function in a child process bounded in wall time, CPU time and memory.

Decoders (libtiff, libjpeg, pdfium, qpdf) are C code fed with untrusted bytes; a crafted
file can make them crash, loop or allocate without bound. Running them in a separate
process turns all of that into an ordinary ``IngestError`` in the caller, and the caller's
process (a web worker) survives.

The child is started with the 'spawn' method: a fresh interpreter that shares no
threads, locks or open database connections with the parent (fork would copy them).
It ends when its parent does (``ingest.lifeline``), even one killed with SIGKILL.
"""
from __future__ import annotations

import errno
import math
import multiprocessing
import os
import resource
import signal
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Any, Callable, TypeVar

from ingest import exceptions
from ingest.exceptions import IngestError, ResourceLimit, UnreadableInput, is_no_space
from ingest.lifeline import die_with_parent

T = TypeVar("T")

MEMORY_REASON = "the file needs more memory than allowed"
CRASH_REASON = "the decoder crashed while reading the file"

# Signals that mean "the C code under test broke", as opposed to resource exhaustion.
_CRASH_SIGNALS = {signal.SIGSEGV, signal.SIGBUS, signal.SIGILL, signal.SIGFPE, signal.SIGABRT, signal.SIGTRAP}
_GRACE_SECONDS = 5.0  # how long to wait for a child that has already answered to exit


def time_reason(seconds: float) -> str:
    return f"reading the file took longer than {seconds:g} s"


def run_limited(
    func: Callable[..., T],
    args: tuple[Any, ...],
    *,
    path: Path,
    seconds: float,
    memory_bytes: int,
) -> T:
    """Return ``func(*args)`` computed in a child process.

    ``func`` must be a module-level function and its arguments and result picklable.
    IngestErrors raised in the child are re-raised here with the same class and reason;
    a timeout, memory exhaustion or crash becomes ResourceLimit / UnreadableInput naming
    ``path``.
    """
    ctx = multiprocessing.get_context("spawn")
    receiver, sender = ctx.Pipe(duplex=False)
    child = ctx.Process(
        target=_child_main,
        args=(sender, func, args, seconds, memory_bytes, os.getpid()),
        name=f"ingest-sandbox:{Path(path).name}",
        daemon=True,
    )
    child.start()
    sender.close()  # so that a dead child shows up as EOF on our end
    try:
        ready = wait([receiver, child.sentinel], timeout=seconds)
        if not ready:
            _stop(child)
            raise ResourceLimit(path, time_reason(seconds))
        message = _read_message(receiver, ready)
        if message is None:
            # Died without answering. The sentinel closes while the process is still
            # exiting, so wait for its status rather than asking is_alive().
            child.join(_GRACE_SECONDS)
            raise _error_for_exit(path, child.exitcode, seconds)
        return _unpack(path, message)
    finally:
        if child.is_alive():
            child.join(_GRACE_SECONDS)
        if child.is_alive():
            _stop(child)
        receiver.close()
        child.close()


def _read_message(receiver: Connection, ready: list) -> tuple | None:
    """The child's answer, or None if it died without answering."""
    try:
        # The child may have exited right after sending: data still in the pipe wins.
        if receiver.poll(0 if receiver in ready else 0.2):
            return receiver.recv()
    except (EOFError, OSError):
        pass
    return None


def _stop(child: multiprocessing.process.BaseProcess) -> None:
    child.kill()
    child.join(_GRACE_SECONDS)


def _error_for_exit(path: Path, exitcode: int | None, seconds: float) -> IngestError:
    if exitcode is not None and exitcode < 0:
        sig = -exitcode
        if sig == signal.SIGXCPU:
            return ResourceLimit(path, time_reason(seconds))
        if sig == signal.SIGKILL:
            # Not us (we only kill on timeout, handled above): the kernel's OOM killer.
            return ResourceLimit(path, MEMORY_REASON)
        if sig in _CRASH_SIGNALS:
            return UnreadableInput(path, f"{CRASH_REASON} ({signal.Signals(sig).name})")
        return UnreadableInput(path, f"the reading process was stopped by signal {sig}")
    return UnreadableInput(path, f"the reading process ended unexpectedly (exit status {exitcode})")


def _unpack(path: Path, message: tuple) -> Any:
    if message[0] == "ok":
        return message[1]
    if message[0] == "no_space":  # the caller says which disk (ingest.exceptions.full_disk_as)
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    _, class_name, reason = message
    cls = getattr(exceptions, class_name, None)
    if not (isinstance(cls, type) and issubclass(cls, UnreadableInput)):
        cls = UnreadableInput
    raise cls(path, reason)


# --- child side ---------------------------------------------------------------------


def _child_main(
    sender: Connection, func: Callable[..., Any], args: tuple[Any, ...], seconds: float,
    memory_bytes: int, parent: int,
) -> None:
    die_with_parent(parent)  # a parent killed with SIGKILL must not leave a decoder running
    _apply_limits(seconds, memory_bytes)
    try:
        message: tuple = ("ok", func(*args))
    except UnreadableInput as exc:
        message = ("error", type(exc).__name__, exc.reason)
    except MemoryError:
        message = ("error", "ResourceLimit", MEMORY_REASON)
    except RecursionError:
        message = ("error", "UnreadableInput", "the file's structure is nested too deeply")
    except Exception as exc:  # any other failure of a decoder on hostile bytes
        if is_no_space(exc):  # not the file's fault: the work space is full
            message = ("no_space",)
        else:
            message = ("error", "UnreadableInput",
                       f"the file could not be read ({type(exc).__name__})")
    try:
        sender.send(message)
    except MemoryError:
        sender.send(("error", "ResourceLimit", MEMORY_REASON))
    sender.close()


def _apply_limits(seconds: float, memory_bytes: int) -> None:
    # RLIMIT_AS bounds what C decoders can allocate (a failed malloc instead of the OOM
    # killer); RLIMIT_CPU is a backstop for the parent's wall-clock timer.
    _lower_limit(resource.RLIMIT_AS, memory_bytes, memory_bytes)
    cpu = max(1, math.ceil(seconds))
    _lower_limit(resource.RLIMIT_CPU, cpu, cpu + 5)
    # Never write a core dump of a decoder crash (it could contain the document).
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def _lower_limit(which: int, soft: int, hard: int) -> None:
    # An unprivileged process may only lower a hard limit: respect a stricter one
    # inherited from the service manager instead of failing.
    _, current_hard = resource.getrlimit(which)
    if current_hard != resource.RLIM_INFINITY:
        hard = min(hard, current_hard)
        soft = min(soft, hard)
    resource.setrlimit(which, (soft, hard))
