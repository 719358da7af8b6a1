"""What every executor promises, as helpers the executors share.

All executors (local subprocess, warm fork server, Dask) run the same generated script with the
same isolation: its own process group (a timeout kills every process it started), a memory
limit through ``RLIMIT_AS``, thread counts through the usual environment variables, stdout and
stderr captured to ``stdout.txt`` and ``stderr.txt`` in the experiment folder, and an
``ExecutionOutcome`` built by one function from the exit code and those two files.

The outcome rules live in ``local.outcome_from_run`` and the thread variables in ``threads``;
they are reused here, not copied, so the three executors cannot drift apart.
"""

from __future__ import annotations

import contextlib
import os
import signal
from pathlib import Path

from ml_autopilot.execution.base import ExecutionOutcome, ExecutionRequest
from ml_autopilot.execution.local import default_memory_limit_mb, outcome_from_run
from ml_autopilot.execution.threads import thread_environment

STDOUT_NAME = "stdout.txt"
STDERR_NAME = "stderr.txt"

__all__ = [
    "STDERR_NAME",
    "STDOUT_NAME",
    "kill_process_group",
    "memory_limit_bytes",
    "outcome_from_files",
    "outcome_from_run",
    "read_output",
    "thread_environment",
]


def memory_limit_bytes(request: ExecutionRequest) -> int:
    """The address-space limit for a request: its own, else three quarters of physical memory."""
    return (request.memory_limit_mb or default_memory_limit_mb()) * 2**20


def kill_process_group(pid: int) -> None:
    """SIGKILL the process group led by ``pid`` (and ``pid`` itself), ignoring gone processes."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pid, signal.SIGKILL)


def read_output(path: Path) -> str:
    """A captured output file as text; an absent file reads as empty."""
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return ""


def outcome_from_files(
    returncode: int, timed_out: bool, duration: float, request: ExecutionRequest
) -> ExecutionOutcome:
    """The outcome of a run whose output was captured to the workdir's stdout/stderr files."""
    stdout = read_output(request.workdir / STDOUT_NAME)
    stderr = read_output(request.workdir / STDERR_NAME)
    return outcome_from_run(returncode, timed_out, duration, stdout, stderr, request)
