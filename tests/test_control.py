"""Steer and stop: files other processes write, read back safely by the session."""

from __future__ import annotations

import pytest

from ml_autopilot import control
from ml_autopilot.errors import UserError
from ml_autopilot.state import Constraints
from ml_autopilot.steering import merge, read_instruction, wants_ensemble


@pytest.fixture
def run_dir(tmp_path):
    (tmp_path / "state.json").write_text("{}")
    return tmp_path


def test_steer_lines_are_appended_and_read_in_order(run_dir):
    assert control.send_steer(run_dir, "avoid svc") == 1
    assert control.send_steer(run_dir, 'prefer catboost; "quoted"') == 2
    assert control.read_steering(run_dir) == ["avoid svc", 'prefer catboost; "quoted"']
    assert control.read_steering(run_dir, since=1) == ['prefer catboost; "quoted"']


def test_torn_lines_are_ignored(run_dir):
    control.send_steer(run_dir, "avoid svc")
    with (run_dir / "control" / "steer.jsonl").open("a") as handle:
        handle.write('{"text": "half')
    assert control.read_steering(run_dir) == ["avoid svc"]


def test_stop_request_round_trip(run_dir):
    assert not control.stop_requested(run_dir)
    control.request_stop(run_dir)
    assert control.stop_requested(run_dir)
    control.clear_stop(run_dir)
    assert not control.stop_requested(run_dir)


def test_no_run_no_control(tmp_path):
    with pytest.raises(UserError, match="No run found"):
        control.send_steer(tmp_path, "avoid svc")
    with pytest.raises(UserError, match="Say what"):
        (tmp_path / "state.json").write_text("{}")
        control.send_steer(tmp_path, "   ")


def test_instructions_become_constraints():
    current = Constraints(preferred_models=["svc"])
    said = merge(current, read_instruction("avoid SVC and KNN"))
    assert current.avoided_models == ["svc", "kneighbors"]
    assert current.preferred_models == []
    assert said == ["avoid svc, kneighbors"]
    said = merge(current, read_instruction("plateau: 6"))
    assert current.plateau == 6 and said == ["plateau = 6"]
    said = merge(current, read_instruction("encoding: target"))
    assert current.preprocessing == {"encoding": "target"}
    assert merge(current, read_instruction("look at the seasonal pattern")) == []


def test_ensemble_requests_are_recognised():
    assert wants_ensemble("try an ensemble of the top two")
    assert wants_ensemble("Blend the best models")
    assert not wants_ensemble("avoid svc")
