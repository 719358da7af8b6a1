"""The warm executor: fork safety with real boosting fits, zygote restarts and fallback, speed."""

from __future__ import annotations

import os
import signal
import statistics
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from ml_autopilot.execution.base import ExecutionOutcome, ExecutionRequest
from ml_autopilot.execution.local import LocalExecutor
from ml_autopilot.execution.warm import WarmExecutor

N_THREADS = 2  # more than one, so the children really start OpenMP and BLAS thread pools

FIT = """
import json, os
import lightgbm, xgboost
from sklearn.datasets import make_classification
from threadpoolctl import threadpool_info

X, y = make_classification(300, 8, random_state=0)
lgb = lightgbm.LGBMClassifier(n_estimators=8, verbose=-1).fit(X, y)
xgb = xgboost.XGBClassifier(n_estimators=8).fit(X, y)
pools = {info["internal_api"]: info["num_threads"] for info in threadpool_info()}
print(json.dumps({
    "lgb": round(float(lgb.predict_proba(X)[:, 1].sum()), 6),
    "xgb": round(float(xgb.predict_proba(X)[:, 1].sum()), 6),
    "pools": pools,
    "pid": os.getpid(),
}))
"""

IMPORTS = """
import json
import numpy as np
import pandas as pd
import lightgbm
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import Pipeline
print(json.dumps({"ok": True}))
"""


@pytest.fixture(scope="module")
def warm() -> Iterator[WarmExecutor]:
    """The default preload (the template's modules, the boosting libraries), started once."""
    executor = WarmExecutor()
    yield executor
    executor.close()


def run(executor, workdir: Path, body: str, timeout: float = 90.0, **kw) -> ExecutionOutcome:
    workdir.mkdir(parents=True, exist_ok=True)
    script = workdir / "script.py"
    script.write_text(textwrap.dedent(body))
    kw.setdefault("n_threads", N_THREADS)
    request = ExecutionRequest(script, workdir, timeout, **kw)
    return executor.run(request)


def test_real_fits_in_consecutive_children_are_fork_safe(warm, tmp_path):
    first = run(warm, tmp_path / "first", FIT)
    zygote = psutil.Process(warm.zygote_pid())
    zygote_threads = zygote.num_threads()
    second = run(warm, tmp_path / "second", FIT)
    assert first.status == second.status == "success", (first.error, second.error)
    assert first.payload["pid"] != second.payload["pid"]
    assert first.payload["lgb"] == second.payload["lgb"]
    assert first.payload["xgb"] == second.payload["xgb"]
    assert first.payload["pools"].get("openmp") == N_THREADS  # the child ran real OpenMP pools
    # the zygote only imported: the children's fits started no pool in it
    assert zygote.num_threads() == zygote_threads


def test_one_zygote_serves_every_thread_count(warm, tmp_path):
    pids = set()
    for threads in (1, 2, 1):
        out = run(warm, tmp_path / f"t{threads}_{len(pids)}", FIT, n_threads=threads)
        assert out.status == "success", out.error
        assert out.payload["pools"].get("openmp") == threads  # OpenMP sized per request
        assert out.payload["pools"].get("openblas", 1) == 1  # BLAS never spins on two cores
        pids.add(warm.zygote_pid())
    assert len(pids) == 1


def test_children_get_fresh_numpy_seeds(warm, tmp_path):
    body = 'import json, numpy as np\nprint(json.dumps({"r": float(np.random.rand())}))\n'
    draws = {run(warm, tmp_path / str(i), body).payload["r"] for i in range(2)}
    assert len(draws) == 2


def test_zygote_is_restarted_after_it_is_killed(tmp_path):
    with WarmExecutor(preload=("json",)) as executor:
        ok = "print('{\"ok\": 1}')\n"
        assert run(executor, tmp_path / "a", ok).status == "success"
        first = executor.zygote_pid()
        os.kill(first, signal.SIGKILL)
        out = run(executor, tmp_path / "b", ok)
        assert out.status == "success", out.error
        assert executor.zygote_pid() not in (None, first)
        assert not executor.fallen_back


def test_zygote_death_mid_run_reruns_the_script_in_a_new_zygote(tmp_path):
    body = """
        import json, os, time
        with open("runs.txt", "a") as runs:
            runs.write(f"{os.getpid()}\\n")
        time.sleep(1.5)
        print(json.dumps({"ok": 1}))
    """
    with WarmExecutor(preload=("json",)) as executor:
        executor.start()
        first = executor.zygote_pid()
        threading.Timer(0.7, os.kill, (first, signal.SIGKILL)).start()
        out = run(executor, tmp_path, body, timeout=30)
        assert out.status == "success", out.error
        pids = (tmp_path / "runs.txt").read_text().split()
        assert len(pids) == 2
        assert not psutil.pid_exists(int(pids[0])) or psutil.Process(int(pids[0])).status() in (
            psutil.STATUS_ZOMBIE,
        )
        assert executor.zygote_pid() not in (None, first)


def test_closing_the_executor_stops_a_running_script_for_good(tmp_path):
    """A zygote its owner closes is not a crash: the script is stopped, not run again in a
    new zygote or locally (a waiting report child once kept an interrupted run alive so)."""
    body = """
        import json, os, time
        with open("runs.txt", "a") as runs:
            runs.write(f"{os.getpid()}\\n")
        time.sleep(60)
        print(json.dumps({"ok": 1}))
    """
    executor = WarmExecutor(preload=("json",))
    executor.start()
    threading.Timer(1.0, executor.close).start()
    started = time.monotonic()
    out = run(executor, tmp_path, body, timeout=120)
    assert time.monotonic() - started < 30
    assert out.status == "failed" and "stopped" in (out.error or "")
    assert len((tmp_path / "runs.txt").read_text().split()) == 1  # run once, not again
    assert executor.zygote_pid() is None
    executor.close()


def test_a_zygote_that_cannot_start_falls_back_to_the_local_executor(tmp_path, caplog):
    with WarmExecutor(preload=("json",), startup_timeout=0.001) as executor:
        out = run(executor, tmp_path, 'import json\nprint(json.dumps({"ok": 1}))\n')
        assert out.status == "success"
        assert executor.fallen_back
        assert "local executor" in caplog.text


def test_warm_runs_a_script_importing_sklearn_and_lightgbm_faster_than_local(warm, tmp_path):
    def median_seconds(executor) -> float:
        times = []
        for i in range(3):
            started = time.perf_counter()
            out = run(executor, tmp_path / f"{type(executor).__name__}{i}", IMPORTS)
            times.append(time.perf_counter() - started)
            assert out.payload == {"ok": True}, out.error
        return statistics.median(times)

    warm_seconds = median_seconds(warm)
    local_seconds = median_seconds(LocalExecutor())
    assert warm_seconds + 0.5 < local_seconds, (warm_seconds, local_seconds)
