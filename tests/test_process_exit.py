"""Leaving the process without interpreter teardown keeps what a normal exit guarantees."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from ml_autopilot.process_exit import exit_code


def _run(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_leave_runs_exit_handlers_flushes_and_keeps_the_code(tmp_path) -> None:
    log = tmp_path / "log.txt"
    done = _run(
        f"""
        import atexit, logging, sys
        from ml_autopilot.process_exit import leave
        handler = logging.FileHandler({str(log)!r})
        logging.getLogger("t").addHandler(handler)
        logging.getLogger("t").warning("written before the exit")
        atexit.register(lambda: print("handler ran"))
        sys.stdout.write("buffered, no newline")
        leave(3)
        """
    )
    assert done.returncode == 3
    assert done.stdout == "buffered, no newlinehandler ran\n"
    assert log.read_text() == "written before the exit\n"  # logging's own exit handler


def test_leave_waits_for_threads_and_ends_idle_pool_workers() -> None:
    done = _run(
        """
        import threading, time
        from concurrent.futures import ThreadPoolExecutor
        from ml_autopilot.process_exit import leave
        pool = ThreadPoolExecutor(1)  # never shut down: its idle worker must not block
        pool.submit(print, "pool task")
        def late():
            time.sleep(0.3)
            print("thread finished", flush=True)
        threading.Thread(target=late).start()
        leave(0)
        """
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["pool task", "thread finished"]


def test_without_cpythons_exit_hook_the_process_exits_the_normal_way() -> None:
    done = _run(
        """
        import atexit
        from ml_autopilot.process_exit import leave
        atexit.register(lambda: print("handler ran"))
        run_exitfuncs = atexit._run_exitfuncs
        del atexit._run_exitfuncs  # as on an interpreter without it
        try:
            leave(4)
        finally:
            atexit._run_exitfuncs = run_exitfuncs
        """
    )
    assert done.returncode == 4 and done.stdout == "handler ran\n"


@pytest.mark.parametrize(
    ("value", "code", "printed"),
    [(None, 0, ""), (0, 0, ""), (2, 2, ""), ("a message", 1, "a message\n")],
)
def test_exit_code_is_what_system_exit_gives(value, code, printed, capsys) -> None:
    assert exit_code(value) == code
    assert capsys.readouterr().err == printed
