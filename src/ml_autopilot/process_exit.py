"""Leave the process as a normal interpreter exit would, without tearing the interpreter down.

A finished ``autopilot run`` has a few thousand modules loaded (scikit-learn, the boosters,
MLflow, SQLAlchemy, matplotlib, plotly); Python's teardown of them took 1.3 s here after the
last file was written, time in which the command had nothing left to do. ``leave`` does what a
normal exit does that matters (waits for non-daemon threads, runs the ``atexit`` handlers,
which close log files, the warm zygote and MLflow, flushes the standard streams) and then ends
the process with ``os._exit``. The warm executor's children leave the same way.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import sys
import threading
from typing import NoReturn


def exit_code(value: object) -> int:
    """The exit status ``SystemExit(value)`` gives: None is 0, a message is printed and is 1."""
    if value is None:
        return 0
    if isinstance(value, int):
        return value
    sys.stderr.write(f"{value}\n")
    return 1


def join_threads() -> None:
    """Wait for the non-daemon threads, as interpreter shutdown does: first the hooks that end
    idle thread-pool workers (``concurrent.futures`` registers one; joining its workers before
    it ran would wait forever), then every non-daemon thread. CPython's own shutdown step,
    where it exists; else a plain join."""
    shutdown = getattr(threading, "_shutdown", None)
    if shutdown is not None and threading.current_thread() is threading.main_thread():
        shutdown()
        return
    for thread in threading.enumerate():
        if thread is not threading.current_thread() and not thread.daemon:
            thread.join()


def finish() -> None:
    """What a normal exit does before teardown: threads joined, exit handlers run, streams
    flushed. Never raises (a handler's error is reported by ``atexit`` itself)."""
    with contextlib.suppress(BaseException):
        join_threads()
    with contextlib.suppress(BaseException):
        atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(BaseException):
            stream.flush()


def leave(code: int) -> NoReturn:
    """End the process with ``code`` after ``finish``, skipping the interpreter teardown (an
    interpreter without CPython's ``atexit._run_exitfuncs`` exits the normal way)."""
    if not hasattr(atexit, "_run_exitfuncs"):
        raise SystemExit(code)
    finish()
    os._exit(code)
