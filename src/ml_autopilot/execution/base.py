"""The executor interface: run one generated script, return what happened as data.

A crash, a timeout or unreadable output is never raised: it comes back as an
``ExecutionOutcome`` with the status and the tail of the output, as in AIDE's interpreter.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

OutcomeStatus = Literal["success", "failed", "timeout"]
TAIL_CHARS = 4000


@dataclass
class ExecutionOutcome:
    """What running a script produced."""

    status: OutcomeStatus
    payload: dict[str, Any] = field(default_factory=dict)
    duration: float = 0.0
    error: str | None = None
    output_tail: str = ""


@dataclass(frozen=True)
class ExecutionRequest:
    script: Path
    workdir: Path
    timeout: float
    n_threads: int = 1
    memory_limit_mb: int | None = None


class Executor(ABC):
    """Runs generated scripts in isolation."""

    #: Whether the scripts it runs read this machine's files at their paths (a Dask worker
    #: elsewhere gets only the inputs a script names, see ``dask_executor``).
    local_files: bool = True

    @abstractmethod
    def run(self, request: ExecutionRequest) -> ExecutionOutcome:
        """Run one script to completion, timeout or crash; never raise for its failures."""

    def cancel_all(self) -> None:
        """Kill every script still running (the session is being interrupted)."""
        return None

    def close(self) -> None:
        """Release workers, clusters or processes this executor holds."""
        return None


def tail(text: str, limit: int = TAIL_CHARS) -> str:
    """The last ``limit`` characters of ``text``."""
    return text[-limit:] if len(text) > limit else text


def parse_last_json_line(stdout: str) -> dict[str, Any] | None:
    """The JSON object on the last non-empty line of ``stdout``, if there is one."""
    for line in reversed(stdout.splitlines()):
        if line.strip():
            try:
                value = json.loads(line)
            except json.JSONDecodeError:
                return None
            return value if isinstance(value, dict) else None
    return None


def last_error_line(text: str) -> str:
    """The most telling line of a traceback: the last non-empty one."""
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1].strip() if lines else "no output"
