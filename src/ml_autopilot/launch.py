"""The ``autopilot`` command's entry point: a new run's zygote starts before the CLI loads.

The warm executor's zygote imports pandas and scikit-learn for about 2 s, and the first
experiment waits for it. The CLI's own imports (Typer, Rich, pydantic's state models) take
another 0.2-0.3 s; starting the zygote before them, when the arguments name a new run, lets
the two overlap. The guess is made from the raw arguments: the CLI then decides, and closes
the zygote when the run it parsed does not use it (another executor, a bad argument).
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, NoReturn

if TYPE_CHECKING:
    from ml_autopilot.execution.base import Executor

_started: list[Executor] = []


def new_run(arguments: list[str]) -> bool:
    """Whether the arguments ask for a new run (not a resumed one, not help)."""
    if not arguments or arguments[0] != "run":
        return False
    flags = {argument.split("=", 1)[0] for argument in arguments[1:]}
    return not flags & {"--resume", "--help"}


def take_started() -> Executor | None:
    """The executor started before the CLI loaded, once (None if there is none)."""
    return _started.pop() if _started else None


def main() -> NoReturn:
    if new_run(sys.argv[1:]):
        from ml_autopilot.execution.factory import start_warm_executor

        _started.append(start_warm_executor())
    from ml_autopilot.cli import main as cli_main

    cli_main()
