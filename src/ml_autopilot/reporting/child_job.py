"""Run one of the end phase's fixed scripts in a child process of the run's executor.

With the default warm executor the child is a fork of the zygote, which has pandas and
scikit-learn loaded: the work takes the other core instead of the session's own interpreter,
whose lock the MLflow logging and the report need at the same moment. The scripts are fixed
text: no value in them comes from the data, a spec or a user; each finds the run folder from
its own location (``RUN_DIR/report/<job folder>/<script>``) and writes its result there.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ml_autopilot.execution.base import ExecutionOutcome, ExecutionRequest, Executor
from ml_autopilot.state import SessionState


@dataclass(frozen=True)
class ChildJob:
    """A fixed script: its folder under ``report/``, its file name and its text."""

    folder: str
    script_name: str
    script: str


def run_job(
    executor: Executor, state: SessionState, run_dir: Path, job: ChildJob, timeout: float
) -> ExecutionOutcome:
    """Write the job's script to ``run_dir/report/<folder>/<script_name>`` and run it there,
    single-threaded, under the run's memory limit."""
    folder = Path(run_dir) / "report" / job.folder
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
