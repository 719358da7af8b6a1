"""Run one of the end phase's fixed scripts in a child process of the run's executor.

With the default warm executor the child is a fork of the zygote, which has pandas and
scikit-learn loaded: the work takes the other core instead of the session's own interpreter,
whose lock the MLflow logging and the report need at the same moment. The scripts are fixed
text: no value in them comes from the data, a spec or a user; each finds the run folder from
its own location (``RUN_DIR/report/<job folder>/<script>``) and writes its result there.
"""

from __future__ import annotations

from pathlib import Path

from ml_autopilot.execution.base import ExecutionOutcome, ExecutionRequest, Executor


def run_job(
    executor: Executor,
    run_dir: Path,
    folder_name: str,
    script_name: str,
    script: str,
    timeout: float,
    memory_limit_mb: int | None,
) -> ExecutionOutcome:
    """Write ``script`` to ``run_dir/report/folder_name/script_name`` and run it there."""
    folder = Path(run_dir) / "report" / folder_name
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / script_name
    path.write_text(script, encoding="utf-8")
    request = ExecutionRequest(
        script=path,
        workdir=folder,
        timeout=timeout,
        n_threads=1,
        memory_limit_mb=memory_limit_mb,
    )
    return executor.run(request)
