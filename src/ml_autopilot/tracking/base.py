"""The tracker interface the session logs through, and a no-op tracker for tests.

The session is the only writer: it calls ``start`` once per sitting (a resumed session reuses
the ids saved in ``state.tracking``), ``log_experiment`` as each experiment finishes, and
``log_final`` once the final model exists. Implementations must be idempotent per iteration, so a
resumed session never logs an experiment twice.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path

from ml_autopilot.state import ExperimentRecord, SessionState


class Tracker(ABC):
    """Logs a session's experiments somewhere a person can look at them."""

    @abstractmethod
    def start(self, state: SessionState) -> None:
        """Open (or reopen) the session's parent run; may set ``state.tracking``."""

    @abstractmethod
    def log_experiment(self, state: SessionState, record: ExperimentRecord) -> None:
        """Log one finished experiment as a child run (once per iteration)."""

    @abstractmethod
    def log_final(self, state: SessionState) -> None:
        """Log the final model and holdout score (once)."""

    def begin_setup(self) -> None:
        """The session's start is done (its first experiments run): a tracker set up in the
        background may begin now. Called more than once; calls after the first do nothing."""
        return None

    def ready(self) -> bool:
        """Whether a call would start at once (a tracker set up in the background may not be)."""
        return True

    def prepare_final(self) -> None:
        """Get ready for ``log_final`` (called in the background while the final refit runs)."""
        return None

    def log_model(self, state: SessionState, model_path: Path) -> None:
        """Log ``model_path``, saved as the final model before the state records it, ahead of
        ``log_final`` (which then logs it no more); called in the background."""
        return None

    def close(self, state: SessionState) -> None:
        """End the parent run when the session is done."""
        return None


class NullTracker(Tracker):
    """Logs nothing."""

    def start(self, state: SessionState) -> None:
        return None

    def log_experiment(self, state: SessionState, record: ExperimentRecord) -> None:
        return None

    def log_final(self, state: SessionState) -> None:
        return None
