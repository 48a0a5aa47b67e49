"""Child processes end when the process that owns them ends, however it ends.

A ``hudang ingest`` killed with SIGKILL runs none of its clean-up code. Its OCR
workers then waited for work forever, and kept multiprocessing's forkserver and
resource tracker alive with them (ten killed ingests left 21 processes holding
1.9 GB). Two ways out, one per kind of child:

- :func:`die_with_parent`, for a child whose parent is the owner (the sandbox child of
  ``ingest.sandbox``): the kernel's parent-death signal (Linux ``PR_SET_PDEATHSIG``)
  sends it SIGKILL when the parent goes.
- :func:`die_with_owner`, for the OCR workers: their parent is the forkserver, which
  itself waits for them, so the signal would never come. A thread waits on a pidfd of
  the owner and, when the owner has gone, kills the worker's own process group (the
  worker and the Tesseract it may be running). Once the workers are gone the
  forkserver and the resource tracker see their pipes close and exit too.
"""
from __future__ import annotations

import ctypes
import os
import select
import signal
import sys
import threading
import time

_PR_SET_PDEATHSIG = 1
_POLL_SECONDS = 1.0  # without pidfd (Linux < 5.3, other systems): how often to look


def die_with_parent(parent: int) -> None:
    """End this process with SIGKILL when its parent ``parent`` ends (Linux; elsewhere a
    watch on the parent)."""
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            if libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) == 0:
                if os.getppid() != parent:  # it went before the signal was asked for
                    os._exit(1)
                return
        except (OSError, AttributeError):
            pass
    die_with_owner(parent, own_group=False)


def die_with_owner(owner: int, *, own_group: bool = True) -> None:
    """End this process (with ``own_group``: its whole new process group, so children
    such as Tesseract go too) when the process ``owner`` ends."""
    if own_group:
        try:
            os.setpgid(0, 0)
        except OSError:
            own_group = False
    try:
        pidfd = os.pidfd_open(owner)
    except ProcessLookupError:  # already gone
        _end(own_group)
        return
    except (AttributeError, OSError):
        pidfd = None
    threading.Thread(target=_watch, args=(owner, pidfd, own_group), daemon=True,
                     name="hudang-lifeline").start()


def _watch(owner: int, pidfd: int | None, own_group: bool) -> None:
    if pidfd is not None:
        select.select([pidfd], [], [])  # readable once the owner has exited
    else:
        while _alive(owner):
            time.sleep(_POLL_SECONDS)
    _end(own_group)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _end(own_group: bool) -> None:
    if own_group:
        os.killpg(os.getpgrp(), signal.SIGKILL)
    os._exit(1)
