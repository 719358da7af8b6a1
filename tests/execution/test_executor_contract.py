"""One contract, three executors: local subprocess, warm fork server, Dask task.

Each executor must turn results, crashes, bad output, hangs and memory blow-ups into the same
``ExecutionOutcome`` shapes, pass the thread variables, leave the script's files in its workdir
and serve two threads at once. The warm zygote and the Dask cluster are expensive to start, so
one of each serves the whole test session (``shared_executor``; test_dask_executor.py uses the
same cluster).
"""

from __future__ import annotations

import json
import textwrap
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psutil
import pytest

from ml_autopilot.execution.base import ExecutionOutcome, ExecutionRequest, Executor
from ml_autopilot.execution.dask_executor import DaskExecutor
from ml_autopilot.execution.local import LocalExecutor
from ml_autopilot.execution.warm import WarmExecutor

KINDS = ("local", "warm", "dask")
_SHARED: dict[str, Executor] = {}
_FACTORIES: dict[str, Callable[[], Executor]] = {
    "local": LocalExecutor,
    # the contract does not depend on what the zygote preloads; the default set is exercised
    # in test_warm.py, here numpy keeps the two zygotes (n_threads 1 and 3) quick to start
    "warm": lambda: WarmExecutor(preload=("numpy",)),
    "dask": lambda: DaskExecutor(n_workers=2, threads_per_worker=1),
}


def shared_executor(kind: str, request: pytest.FixtureRequest) -> Executor:
    """The session's one executor of ``kind``, closed when the test session ends."""
    if kind not in _SHARED:
        executor = _FACTORIES[kind]()
        _SHARED[kind] = executor
        request.session.addfinalizer(executor.close)
    return _SHARED[kind]


@pytest.fixture(scope="module", params=KINDS)
def executor(request: pytest.FixtureRequest) -> Executor:
    return shared_executor(request.param, request)


def run_script(
    executor: Executor, workdir: Path, body: str, timeout: float = 60.0, **kw: object
) -> ExecutionOutcome:
    workdir.mkdir(parents=True, exist_ok=True)
    script = workdir / "script.py"
    script.write_text(textwrap.dedent(body))
    request = ExecutionRequest(script=script, workdir=workdir, timeout=timeout, **kw)  # type: ignore[arg-type]
    return executor.run(request)


def assert_gone(pid: int) -> None:
    """The process has exited (a zombie waiting for its reaper counts as gone)."""
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                return
        except psutil.NoSuchProcess:
            return
        time.sleep(0.1)
    raise AssertionError(f"process {pid} is still running")


def test_success_reads_json_on_last_line(executor, tmp_path):
    out = run_script(executor, tmp_path, 'print("noise")\nprint(\'{"cv_score": 0.5}\')\n')
    assert out.status == "success", out.error
    assert out.payload == {"cv_score": 0.5}
    assert out.duration > 0
    assert (tmp_path / "stdout.txt").read_text().startswith("noise")


def test_crash_is_a_failure_with_its_error(executor, tmp_path):
    out = run_script(executor, tmp_path, 'raise ValueError("boom in fold 2")\n')
    assert out.status == "failed"
    assert "exit code 1" in out.error
    assert "ValueError: boom in fold 2" in out.error
    assert "Traceback" in out.output_tail
    assert "boom in fold 2" in (tmp_path / "stderr.txt").read_text()


def test_exit_code_is_honoured(executor, tmp_path):
    out = run_script(executor, tmp_path, "import sys\nprint('{\"a\": 1}')\nsys.exit(3)\n")
    assert out.status == "failed"
    assert out.error.startswith("exit code 3")


def test_bad_output_is_a_failure(executor, tmp_path):
    out = run_script(executor, tmp_path, 'print("no json here")\n')
    assert out.status == "failed"
    assert "no JSON" in out.error


def test_hang_is_killed_with_its_whole_process_group(executor, tmp_path):
    body = """
        import subprocess, sys, time
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
        open("child.pid", "w").write(str(child.pid))
        print("started", flush=True)
        time.sleep(120)
    """
    started = time.monotonic()
    out = run_script(executor, tmp_path, body, timeout=2.0)
    assert out.status == "timeout"
    assert "timeout" in out.error
    assert time.monotonic() - started < 20
    assert "started" in out.output_tail
    assert_gone(int((tmp_path / "child.pid").read_text()))


def test_memory_limit_is_enforced(executor, tmp_path):
    body = "x = bytearray(2 * 1024**3)\nprint('{\"ok\": 1}')\n"
    out = run_script(executor, tmp_path, body, memory_limit_mb=500)
    assert out.status == "failed"
    assert "MemoryError" in out.output_tail
    assert "out of memory" in out.error


def test_thread_variables_reach_the_script(executor, tmp_path):
    body = """
        import json, os
        names = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
        print(json.dumps({name: os.environ[name] for name in names}))
    """
    out = run_script(executor, tmp_path, body, n_threads=3)
    assert out.status == "success", out.error
    # OpenMP gets the experiment's threads; BLAS one (its spinning pool starves busy cores)
    assert out.payload == {
        "OMP_NUM_THREADS": "3",
        "OPENBLAS_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
    }


def test_files_written_by_the_script_appear_in_the_workdir(executor, tmp_path):
    body = """
        import json, os
        os.makedirs("sub", exist_ok=True)
        open("artifact.bin", "wb").write(bytes(range(256)) * 4)
        open(os.path.join("sub", "note.txt"), "w").write("hello")
        print(json.dumps({"cwd": os.getcwd()}))
    """
    out = run_script(executor, tmp_path, body)
    assert out.status == "success", out.error
    assert Path(out.payload["cwd"]).resolve() == tmp_path.resolve()
    assert (tmp_path / "artifact.bin").read_bytes() == bytes(range(256)) * 4
    assert (tmp_path / "sub" / "note.txt").read_text() == "hello"


def test_two_concurrent_runs_from_two_threads_both_succeed(executor, tmp_path):
    body = """
        import json, os, time
        start = time.time()
        time.sleep(1.5)
        name = os.path.basename(os.getcwd())
        print(json.dumps({"name": name, "pid": os.getpid(), "start": start, "end": time.time()}))
    """

    def one(name: str) -> ExecutionOutcome:
        return run_script(executor, tmp_path / name, body)

    with ThreadPoolExecutor(2) as pool:
        outcomes = list(pool.map(one, ["a", "b"]))
    assert [o.status for o in outcomes] == ["success", "success"], [o.error for o in outcomes]
    assert [o.payload["name"] for o in outcomes] == ["a", "b"]
    first, second = (o.payload for o in outcomes)
    assert first["pid"] != second["pid"]
    assert max(first["start"], second["start"]) < min(first["end"], second["end"])  # overlapped
    for name in ("a", "b"):
        assert json.loads((tmp_path / name / "stdout.txt").read_text())["name"] == name


def test_cancel_all_kills_running_scripts(executor, tmp_path):
    body = """
        import subprocess, sys, time
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
        open("child.pid", "w").write(str(child.pid))
        time.sleep(120)
    """
    with ThreadPoolExecutor(1) as pool:
        running = pool.submit(run_script, executor, tmp_path, body, 60.0)
        deadline = time.monotonic() + 30
        while not (tmp_path / "child.pid").exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(0.2)
        started = time.monotonic()
        executor.cancel_all()
        out = running.result(timeout=30)
    assert time.monotonic() - started < 15
    assert out.status == "failed"
    assert "killed by signal 9" in out.error
    assert_gone(int((tmp_path / "child.pid").read_text()))
