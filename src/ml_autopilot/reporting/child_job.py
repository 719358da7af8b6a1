"""Run one of the end phase's fixed scripts in a child process of the run's executor.

With the default warm executor the child is a fork of the zygote, which has pandas and
scikit-learn loaded: the work takes the other core instead of the session's own interpreter,
whose lock the MLflow logging and the report need at the same moment. The scripts are fixed
text: no value in them comes from the data, a spec or a user; each finds the run folder from
its own location (``RUN_DIR/report/<job folder>/<script>``) and writes its result there.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from ml_autopilot.atomic_file import write_text_atomically
from ml_autopilot.execution.base import ExecutionOutcome, ExecutionRequest, Executor
from ml_autopilot.state import SessionState

POLL_SECONDS = 0.01  # how often a waiting script looks for its signal


@dataclass(frozen=True)
class ChildJob:
    """A fixed script: its folder under ``report/``, its file name, its text, and the signals
    it may wait for (empty files the session writes in that folder as each input is saved)."""

    folder: str
    script_name: str
    script: str
    signals: tuple[str, ...] = ()


def job_dir(run_dir: Path, job: ChildJob) -> Path:
    return Path(run_dir) / "report" / job.folder


def clear_signals(run_dir: Path, job: ChildJob) -> None:
    """Remove the signals an earlier attempt left (a resumed run). Call it in the caller's
    thread before the job starts, so that it can never undo a signal sent after."""
    for name in job.signals:
        (job_dir(run_dir, job) / name).unlink(missing_ok=True)


def send_signal(run_dir: Path, job: ChildJob, name: str, text: str = "") -> None:
    """Let the job's script go on past ``name`` (one of ``job.signals``); ``text`` is what
    the script then reads from it (written whole before the signal appears). A signal sent
    again keeps the text it was first sent with."""
    folder = job_dir(run_dir, job)
    folder.mkdir(parents=True, exist_ok=True)
    if text:
        write_text_atomically(folder / name, text)
    else:
        (folder / name).touch()


def send_all_signals(run_dir: Path, job: ChildJob) -> None:
    """Let a script still waiting go on (the session is ending, or failed)."""
    for name in job.signals:
        send_signal(run_dir, job, name)


def wait_for_signal(folder: Path, name: str, poll: float = POLL_SECONDS) -> str:
    """The script's side: wait until the session has sent ``name`` into ``folder`` (looking
    every ``poll`` seconds); the text it was sent with ("" for none)."""
    path = folder / name
    while not path.exists():
        time.sleep(poll)
    return path.read_text(encoding="utf-8")


def run_job(
    executor: Executor, state: SessionState, run_dir: Path, job: ChildJob, timeout: float
) -> ExecutionOutcome:
    """Write the job's script to ``run_dir/report/<folder>/<script_name>`` and run it there,
    single-threaded, under the run's memory limit."""
    folder = job_dir(run_dir, job)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / job.script_name
    path.write_text(job.script, encoding="utf-8")
    request = ExecutionRequest(
        script=path,
        workdir=folder,
        timeout=timeout,
        n_threads=1,
        memory_limit_mb=state.config.memory_limit_mb,
    )
    return executor.run(request)
