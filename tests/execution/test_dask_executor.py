"""The Dask executor: a real generated experiment on a LocalCluster, and the remote paths.

A worker of a LocalCluster shares this machine's filesystem, so the paths a remote worker would
take are shown by taking the file away from it: the inputs are shipped once, the parquet file is
renamed, and the task writes it back at its absolute path before the script reads it.
"""

from __future__ import annotations

import dataclasses
import json
import textwrap
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from ml_autopilot.codegen.render import RenderRequest, write_script
from ml_autopilot.config import RunConfig
from ml_autopilot.data.loading import prepare_data
from ml_autopilot.data.profiling import profile_data
from ml_autopilot.execution.base import ExecutionRequest
from ml_autopilot.execution.dask_executor import (
    SHIPPED_SUFFIX,
    DaskExecutor,
    NeedInputs,
    build_job,
    run_on_worker,
    script_inputs,
    write_back,
)
from ml_autopilot.planning.base import baseline_spec
from tests.conftest import make_classification_frame
from tests.execution.test_executor_contract import shared_executor

ROWS = 90


@pytest.fixture(scope="module")
def dask_executor(request: pytest.FixtureRequest) -> DaskExecutor:
    executor = shared_executor("dask", request)
    assert isinstance(executor, DaskExecutor)
    return executor


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory: pytest.TempPathFactory):
    """A run folder with its train/holdout parquet files, profile and data info."""
    root = tmp_path_factory.mktemp("dask_run")
    data = root / "classes.csv"
    make_classification_frame(ROWS).to_csv(data, index=False)
    run_dir = root / "run"
    config = RunConfig(data_path=str(data), target="species", output_dir=str(run_dir), folds=3)
    info, train = prepare_data(config, run_dir)
    profile = profile_data(train, "species", "classification")
    return info, profile, run_dir


def experiment(tiny_run, name: str) -> ExecutionRequest:
    """A real generated CV script (the baseline) in its own experiment folder."""
    info, profile, run_dir = tiny_run
    workdir = run_dir / "experiments" / name
    spec = baseline_spec("classification")
    script = write_script(RenderRequest(0, spec, info, profile, 3, 0, 1, workdir))
    return ExecutionRequest(script=script, workdir=workdir, timeout=120.0, n_threads=1)


def test_script_inputs_are_the_absolute_path_literals(tiny_run):
    request = experiment(tiny_run, "000_inputs")
    info = tiny_run[0]
    assert script_inputs(request.script.read_text()) == [info.train_path]
    assert script_inputs('X_PATH = "relative.csv"\nY_PATH = None\n') == []


def test_a_generated_experiment_runs_on_the_cluster(dask_executor, tiny_run):
    request = experiment(tiny_run, "001_baseline")
    out = dask_executor.run(request)
    assert out.status == "success", (out.error, out.output_tail)
    assert 0.0 <= out.payload["cv_score"] <= 1.0
    oof = np.load(request.workdir / "oof.npy")
    assert oof.shape == (tiny_run[0].n_train, 3)
    assert np.allclose(oof.sum(axis=1), 1.0)
    assert json.loads((request.workdir / "stdout.txt").read_text().splitlines()[-1])["cv_score"]


def test_a_worker_without_the_inputs_gets_them_shipped(dask_executor, tiny_run):
    request = experiment(tiny_run, "002_remote")
    job = build_job(request)
    train = Path(job.inputs[0].path)
    original = train.read_bytes()
    before = dataclasses.replace(dask_executor.stats)
    dask_executor.ship_inputs(job.inputs)  # staged on the cluster while the driver has it
    moved = train.with_name("moved.parquet")
    train.rename(moved)  # now no worker can see it at its absolute path
    try:
        result = dask_executor.run_job(job)
    finally:
        restored = train.read_bytes() if train.exists() else None
        moved.replace(train)
    assert result.outcome.status == "success", (result.outcome.error, result.outcome.output_tail)
    assert result.materialised == [str(train)]
    assert restored == original
    assert (train.parent / (train.name + SHIPPED_SUFFIX)).exists()
    assert dask_executor.stats.resubmits == before.resubmits + 1
    assert dask_executor.stats.inputs_shipped == before.inputs_shipped + 1
    assert (request.workdir / "oof.npy").exists()


def test_the_task_answers_need_inputs_before_running_anything(tmp_path):
    source = tmp_path / "train.parquet"
    source.write_bytes(b"parquet bytes")
    script = tmp_path / "work" / "experiment.py"
    script.parent.mkdir()
    script.write_text(f"TRAIN_PATH = {str(source)!r}\nprint('{{\"ok\": 1}}')\n")
    job = build_job(ExecutionRequest(script, script.parent, 30.0))
    source.unlink()
    answer = run_on_worker(job, {})
    assert isinstance(answer, NeedInputs)
    assert answer.paths == (str(source),)
    assert not (script.parent / "stdout.txt").exists()
    result = run_on_worker(job, {str(source): b"parquet bytes"})
    assert result.outcome.status == "success"
    assert source.read_bytes() == b"parquet bytes"
    assert source.stat().st_mtime_ns == job.inputs[0].mtime_ns


def test_a_worker_without_the_shared_filesystem_sends_the_files_back(tmp_path):
    body = """
        import json
        open("oof.npy", "wb").write(b"fake oof")
        print(json.dumps({"ok": 1}))
    """
    driver = tmp_path / "driver"
    driver.mkdir()
    (driver / "experiment.py").write_text(textwrap.dedent(body))
    job = build_job(ExecutionRequest(driver / "experiment.py", driver, 30.0))
    remote = tmp_path / "elsewhere"  # the worker's copy of the workdir does not exist yet
    job = dataclasses.replace(job, workdir=str(remote), script=str(remote / "experiment.py"))
    result = run_on_worker(job, {})
    assert result.outcome.status == "success", result.outcome.error
    assert not result.shared
    assert set(result.files) == {"oof.npy", "stdout.txt", "stderr.txt"}
    assert not remote.exists()  # the worker removed its copy
    write_back(driver, result.files)
    assert (driver / "oof.npy").read_bytes() == b"fake oof"


def test_always_ship_returns_the_outputs_as_bytes(dask_executor, tmp_path, monkeypatch):
    monkeypatch.setattr(dask_executor, "always_ship", True)
    before = dask_executor.stats.files_returned
    (tmp_path / "script.py").write_text('open("out.bin", "wb").write(b"x" * 10)\nprint("{}")\n')
    out = dask_executor.run(ExecutionRequest(tmp_path / "script.py", tmp_path, 30.0))
    assert out.status == "success", out.error
    assert dask_executor.stats.files_returned == before + 3
    assert (tmp_path / "out.bin").read_bytes() == b"x" * 10


def test_write_back_stays_inside_the_workdir(tmp_path):
    write_back(tmp_path / "w", {"../escape.txt": b"no", "ok.txt": b"yes"})
    assert not (tmp_path / "escape.txt").exists()
    assert (tmp_path / "w" / "ok.txt").read_bytes() == b"yes"


def test_the_driver_gives_up_after_the_timeout_and_margin(dask_executor, tmp_path, monkeypatch):
    monkeypatch.setattr(dask_executor, "timeout_margin", -1.5)  # the driver waits 0.5 s
    (tmp_path / "script.py").write_text("import time\ntime.sleep(2)\nprint('{}')\n")
    out = dask_executor.run(ExecutionRequest(tmp_path / "script.py", tmp_path, 2.0))
    assert out.status == "timeout"
    assert "Dask worker" in out.error


def test_cancel_all_also_stops_tasks_still_queued(dask_executor, tmp_path):
    body = "import time\nopen('started', 'w').write('1')\ntime.sleep(60)\n"
    workdirs = [tmp_path / name for name in ("a", "b", "queued")]  # two workers, three tasks
    for workdir in workdirs:
        workdir.mkdir()
        (workdir / "script.py").write_text(body)
    requests = [ExecutionRequest(w / "script.py", w, 30.0) for w in workdirs]
    with ThreadPoolExecutor(3) as pool:
        runs = [pool.submit(dask_executor.run, request) for request in requests[:2]]
        wait_for(lambda: all((w / "started").exists() for w in workdirs[:2]))
        runs.append(pool.submit(dask_executor.run, requests[2]))
        time.sleep(0.5)  # the third task is queued behind the two running ones
        started = time.monotonic()
        dask_executor.cancel_all()
        outcomes = [run.result(timeout=30) for run in runs]
    assert time.monotonic() - started < 15
    assert [o.status for o in outcomes] == ["failed"] * 3
    assert not (workdirs[2] / "started").exists()


def wait_for(condition, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.1)
