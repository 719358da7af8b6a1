"""The local executor: results, crashes, hangs and bad output all come back as data."""

from __future__ import annotations

import textwrap
import time
from pathlib import Path

import psutil

from ml_autopilot.execution.base import ExecutionRequest, parse_last_json_line
from ml_autopilot.execution.local import LocalExecutor


def run_script(tmp_path: Path, body: str, timeout: float = 30.0, **kw):
    script = tmp_path / "script.py"
    script.write_text(textwrap.dedent(body))
    request = ExecutionRequest(script=script, workdir=tmp_path, timeout=timeout, **kw)
    return LocalExecutor().run(request)


def test_success_reads_json_on_last_line(tmp_path):
    out = run_script(tmp_path, 'print("noise")\nprint(\'{"cv_score": 0.5}\')\n')
    assert out.status == "success"
    assert out.payload == {"cv_score": 0.5}
    assert (tmp_path / "stdout.txt").read_text().startswith("noise")


def test_crash_is_a_failure_with_its_error(tmp_path):
    out = run_script(tmp_path, 'raise ValueError("boom in fold 2")\n')
    assert out.status == "failed"
    assert "ValueError: boom in fold 2" in out.error
    assert "Traceback" in out.output_tail


def test_bad_output_is_a_failure(tmp_path):
    out = run_script(tmp_path, 'print("no json here")\n')
    assert out.status == "failed"
    assert "no JSON" in out.error


def test_hang_is_killed_with_its_whole_process_group(tmp_path):
    body = """
        import subprocess, sys, time
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
        open("child.pid", "w").write(str(child.pid))
        time.sleep(120)
    """
    started = time.monotonic()
    out = run_script(tmp_path, body, timeout=2.0)
    assert out.status == "timeout"
    assert time.monotonic() - started < 15
    child_pid = int((tmp_path / "child.pid").read_text())
    time.sleep(0.2)
    assert not psutil.pid_exists(child_pid) or psutil.Process(child_pid).status() == "zombie"


def test_memory_limit_is_enforced(tmp_path):
    out = run_script(
        tmp_path, "x = bytearray(2 * 1024**3)\nprint('{\"ok\": 1}')\n", memory_limit_mb=500
    )
    assert out.status == "failed"
    assert "MemoryError" in out.output_tail


def test_thread_variables_reach_the_child(tmp_path):
    out = run_script(
        tmp_path,
        'import json, os\nprint(json.dumps({"omp": os.environ["OMP_NUM_THREADS"]}))\n',
        n_threads=3,
    )
    assert out.payload == {"omp": "3"}


def test_parse_last_json_line_ignores_earlier_lines():
    assert parse_last_json_line('{"a": 1}\nnot json\n') is None
    assert parse_last_json_line('x\n{"a": 1}\n\n') == {"a": 1}
    assert parse_last_json_line("[1, 2]") is None
