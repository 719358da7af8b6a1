"""The entry point starts a new run's zygote before the CLI loads; the CLI takes it or closes it."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from ml_autopilot import launch
from ml_autopilot.cli import _early_executor
from ml_autopilot.execution.warm import WarmExecutor


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        (["run", "data.csv", "--target", "y"], True),
        (["run", "data.csv", "--target", "y", "--executor", "local"], True),  # the CLI decides
        (["run", "--resume", "runs/x"], False),
        (["run", "--resume=runs/x"], False),
        (["run", "--help"], False),
        (["predict", "runs/x", "test.csv"], False),
        ([], False),
    ],
)
def test_only_a_new_run_starts_the_zygote_early(arguments: list[str], expected: bool) -> None:
    assert launch.new_run(arguments) is expected


def test_the_run_takes_the_zygote_started_early_or_closes_it() -> None:
    started = WarmExecutor()
    started.start()
    launch._started.append(started)
    try:
        assert _early_executor("warm") is started
        assert launch.take_started() is None  # taken once
        assert started.zygote_pid() is not None
    finally:
        started.close()

    unused = WarmExecutor()
    unused.start()
    launch._started.append(unused)
    assert unused.zygote_pid() is not None
    assert _early_executor("local") is None  # another executor: the zygote is closed
    assert launch.take_started() is None and unused.zygote_pid() is None


def processes_marked(mark: str) -> list[int]:
    """The live processes whose environment holds ``mark``."""
    found = []
    for environ in Path("/proc").glob("[0-9]*/environ"):
        try:
            if mark.encode() in environ.read_bytes():
                found.append(int(environ.parent.name))
        except OSError:
            continue
    return found


def test_bad_arguments_get_one_error_line_and_leave_no_zygote_behind() -> None:
    mark = f"AUTOPILOT_TEST_MARK={uuid.uuid4().hex}"
    name, value = mark.split("=")
    done = subprocess.run(
        [sys.executable, "-m", "ml_autopilot", "run", "missing.csv", "--no-such-option"],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, name: value},
    )
    assert done.returncode == 2 and "No such option: --no-such-option" in done.stderr
    deadline = time.monotonic() + 20
    while processes_marked(mark) and time.monotonic() < deadline:
        time.sleep(0.2)  # the zygote leaves when its pipe from the exited command closes
    assert processes_marked(mark) == []
