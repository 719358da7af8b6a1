"""Build the executor a run asked for: local processes (default), warm workers, or Dask."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ml_autopilot.execution.base import Executor
from ml_autopilot.execution.local import LocalExecutor

if TYPE_CHECKING:  # not at run time: pydantic's import (0.15 s) would delay the zygote's start
    from ml_autopilot.config import RunConfig


def make_executor(config: RunConfig) -> Executor:
    """``warm`` (default) forks each script from a process that has the libraries imported
    already; ``local`` runs each script in a fresh interpreter; ``dask`` runs it on a Dask
    cluster (a LocalCluster unless ``scheduler`` names one)."""
    if config.executor == "warm":
        return start_warm_executor()
    if config.executor == "dask":
        from ml_autopilot.execution.dask_executor import DaskExecutor

        return DaskExecutor(
            scheduler_address=config.scheduler, n_workers=config.workers, threads_per_worker=1
        )
    return LocalExecutor()


def start_warm_executor() -> Executor:
    """A warm executor whose zygote starts importing the libraries now, in the background
    (the CLI calls this first thing, so the imports overlap its own and the data loading)."""
    from ml_autopilot.execution.warm import WarmExecutor

    executor = WarmExecutor()
    executor.start(wait=False)
    return executor
