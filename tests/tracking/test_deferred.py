"""The background-built tracker: readiness, delegation, and a failed setup."""

from __future__ import annotations

import threading

import pytest

from ml_autopilot.tracking.base import NullTracker, Tracker
from ml_autopilot.tracking.deferred import DeferredTracker
from ml_autopilot.tracking.pyfunc_model import pip_requirements, prepare_model_logging


class Counting(NullTracker):
    def __init__(self) -> None:
        self.prepared = 0

    def prepare_final(self) -> None:
        self.prepared += 1


def test_ready_only_once_the_setup_is_done_and_calls_then_delegate() -> None:
    release = threading.Event()
    inner = Counting()

    def build() -> Tracker:
        release.wait(10)
        return inner

    tracker = DeferredTracker(build)
    tracker.begin_setup()
    assert not tracker.ready()  # the session does not wait for it while workers idle
    release.set()
    tracker.prepare_final()  # waits for the setup, then delegates
    assert tracker.ready() and inner.prepared == 1


def test_the_setup_waits_for_the_session_to_begin_it() -> None:
    built = threading.Event()

    def build() -> Tracker:
        built.set()
        return Counting()

    tracker = DeferredTracker(build)
    assert not built.wait(0.5) and not tracker.ready()  # not beside the session's own start
    tracker.begin_setup()
    assert built.wait(10)
    tracker.begin_setup()  # a second call starts nothing
    tracker.prepare_final()
    assert tracker.ready()


def test_a_call_before_the_setup_began_starts_it_and_waits() -> None:
    inner = Counting()
    tracker = DeferredTracker(lambda: inner)
    tracker.prepare_final()
    assert tracker.ready() and inner.prepared == 1


def test_a_failed_setup_leaves_a_ready_tracker_that_logs_nothing() -> None:
    def build() -> Tracker:
        raise RuntimeError("no store")

    tracker = DeferredTracker(build)
    tracker.prepare_final()
    assert tracker.ready()


def test_model_logging_preparation_gives_mlflow_the_map_of_our_requirements(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from mlflow.utils import requirements_utils

    monkeypatch.setattr(requirements_utils, "_MODULES_TO_PACKAGES", None)  # as MLflow starts
    prepare_model_logging()
    packages = requirements_utils._MODULES_TO_PACKAGES
    assert packages is not None and packages["sklearn"] == ["scikit-learn"]
    for requirement in pip_requirements():  # each one found installed, at the version pinned
        assert requirements_utils._check_requirement_satisfied(requirement) is None
