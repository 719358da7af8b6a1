"""Run a generated script as a subprocess of this Python, isolated and bounded.

The child gets its own process group (so a timeout kills every process it started), a memory
limit through ``RLIMIT_AS``, thread counts set through the usual environment variables, and its
stdout and stderr captured to files in the experiment folder.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time

import psutil

from ml_autopilot.execution.base import (
    ExecutionOutcome,
    ExecutionRequest,
    Executor,
    last_error_line,
    parse_last_json_line,
    tail,
)
from ml_autopilot.execution.threads import thread_environment
from ml_autopilot.log import get_logger

logger = get_logger("execution")


def default_memory_limit_mb() -> int:
    """Three quarters of physical memory."""
    return int(psutil.virtual_memory().total * 0.75 / 2**20)


# Sets the memory limit inside the child, then runs the script as __main__. Passing it on the
# command line (not through preexec_fn) keeps process start-up safe when threads launch runs.
BOOTSTRAP = (
    "import resource, runpy, sys\n"
    "limit = int(sys.argv[1])\n"
    "resource.setrlimit(resource.RLIMIT_AS, (limit, limit))\n"
    "script = sys.argv[2]\n"
    "sys.argv = [script]\n"
    "runpy.run_path(script, run_name='__main__')\n"
)


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


class LocalExecutor(Executor):
    """Runs each script in a fresh ``sys.executable`` subprocess (thread-safe)."""

    def __init__(self) -> None:
        self._live: set[subprocess.Popen[bytes]] = set()
        self._lock = threading.Lock()

    def cancel_all(self) -> None:
        with self._lock:
            live = list(self._live)
        for process in live:
            _kill_group(process)

    def run(self, request: ExecutionRequest) -> ExecutionOutcome:
        env = os.environ.copy()
        env.update(thread_environment(request.n_threads))
        limit_mb = request.memory_limit_mb or default_memory_limit_mb()
        stdout_path = request.workdir / "stdout.txt"
        stderr_path = request.workdir / "stderr.txt"
        started = time.perf_counter()
        with stdout_path.open("wb") as out, stderr_path.open("wb") as err:
            process = subprocess.Popen(
                [sys.executable, "-c", BOOTSTRAP, str(limit_mb * 2**20), str(request.script)],
                cwd=request.workdir,
                stdout=out,
                stderr=err,
                stdin=subprocess.DEVNULL,
                env=env,
                start_new_session=True,
            )
            with self._lock:
                self._live.add(process)
            try:
                timed_out = self._wait(process, max(request.timeout, 0.1))
            finally:
                with self._lock:
                    self._live.discard(process)
        duration = time.perf_counter() - started
        stdout = stdout_path.read_text(encoding="utf-8", errors="replace")
        stderr = stderr_path.read_text(encoding="utf-8", errors="replace")
        return outcome_from_run(process.returncode, timed_out, duration, stdout, stderr, request)

    @staticmethod
    def _wait(process: subprocess.Popen[bytes], timeout: float) -> bool:
        try:
            process.wait(timeout=timeout)
            return False
        except subprocess.TimeoutExpired:
            _kill_group(process)
            return True
        except BaseException:  # Ctrl+C or an exit: never leave the child behind
            _kill_group(process)
            raise


def outcome_from_run(
    returncode: int,
    timed_out: bool,
    duration: float,
    stdout: str,
    stderr: str,
    request: ExecutionRequest,
) -> ExecutionOutcome:
    output_tail = tail(stdout + ("\n" if stdout and stderr else "") + stderr)
    if timed_out:
        return ExecutionOutcome(
            "timeout",
            duration=duration,
            output_tail=output_tail,
            error=f"killed after {request.timeout:.1f} s (timeout)",
        )
    if returncode != 0:
        reason = last_error_line(stderr or stdout)
        if returncode < 0:
            reason = f"killed by signal {-returncode}; {reason}"
        elif "MemoryError" in stderr:
            reason = f"out of memory (limit {request.memory_limit_mb or 'default'} MB); {reason}"
        return ExecutionOutcome(
            "failed",
            duration=duration,
            output_tail=output_tail,
            error=f"exit code {returncode}: {reason}",
        )
    payload = parse_last_json_line(stdout)
    if payload is None:
        return ExecutionOutcome(
            "failed",
            duration=duration,
            output_tail=output_tail,
            error="the script printed no JSON result on its last line",
        )
    return ExecutionOutcome("success", payload=payload, duration=duration, output_tail=output_tail)
