"""A tracker whose setup (importing MLflow, creating its store) runs in the background.

Importing MLflow and creating a fresh SQLite store take seconds; a session should not spend its
time budget waiting for them. ``DeferredTracker`` builds the real tracker in a thread once the
session has launched its first experiments (``begin_setup``), so the setup overlaps with them;
every call waits for that thread first (starting it if nobody has), then delegates, in the
session's own thread (one writer of the state).

Not earlier: the setup holds the interpreter lock for about 2 s of Python, and beside the
session's own start (reading, splitting and profiling the data) it slowed that by about 0.75 s
on connect-4 (67,000 rows), all of it before the first model could start.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

from ml_autopilot.log import get_logger
from ml_autopilot.state import ExperimentRecord, SessionState
from ml_autopilot.tracking.base import NullTracker, Tracker

logger = get_logger("tracking")


class DeferredTracker(Tracker):
    """Delegates to the tracker ``build`` returns, built in a background thread."""

    def __init__(self, build: Callable[[], Tracker]) -> None:
        self._tracker: Tracker = NullTracker()
        self._thread = threading.Thread(
            target=self._build, args=(build,), daemon=True, name="tracker-setup"
        )
        self._started = False
        self._start_lock = threading.Lock()

    def begin_setup(self) -> None:
        with self._start_lock:
            if not self._started:
                self._started = True
                self._thread.start()

    def _build(self, build: Callable[[], Tracker]) -> None:
        try:
            self._tracker = build()
        except Exception as exc:  # tracking must never stop the loop
            logger.warning("experiment tracking is off: %s", exc)

    def _ready(self) -> Tracker:
        self.begin_setup()
        self._thread.join()
        return self._tracker

    def ready(self) -> bool:
        return self._started and not self._thread.is_alive()

    def start(self, state: SessionState) -> None:
        self._ready().start(state)

    def log_experiment(self, state: SessionState, record: ExperimentRecord) -> None:
        self._ready().log_experiment(state, record)

    def log_final(self, state: SessionState) -> None:
        self._ready().log_final(state)

    def prepare_final(self) -> None:
        self._ready().prepare_final()

    def log_model(self, state: SessionState, model_path: Path) -> None:
        self._ready().log_model(state, model_path)

    def close(self, state: SessionState) -> None:
        self._ready().close(state)
