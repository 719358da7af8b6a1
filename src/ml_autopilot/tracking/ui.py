"""Where a run folder keeps its MLflow store, and the MLflow UI over it.

A run tracked with the default store keeps everything inside the run folder:
``<run_dir>/mlflow.db`` (SQLite: experiments, runs, params, metrics, tags) and
``<run_dir>/mlartifacts`` (scripts, profiles, the final model). ``start_ui`` serves that store
with ``mlflow ui`` in a child process. This module does not import MLflow, so it stays cheap to
import from the CLI.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

DB_FILE = "mlflow.db"
ARTIFACTS_DIR = "mlartifacts"
UI_LOG_FILE = "mlflow-ui.log"
POLL_SECONDS = 0.25


def store_uri(run_dir: Path) -> str:
    """The SQLite tracking URI of a run folder's own MLflow store."""
    return f"sqlite:///{(Path(run_dir) / DB_FILE).resolve()}"


def artifact_root(run_dir: Path) -> Path:
    """The folder that holds the run folder's MLflow artifacts."""
    return (Path(run_dir) / ARTIFACTS_DIR).resolve()


def mlflow_command() -> str:
    """The ``mlflow`` console script of this interpreter's environment (else the one on PATH)."""
    beside = Path(sys.executable).with_name("mlflow")
    if beside.is_file():
        return str(beside)
    found = shutil.which("mlflow")
    if found is None:
        raise FileNotFoundError("the `mlflow` command is not installed in this environment")
    return found


def start_ui(
    run_dir: Path, port: int = 5000, host: str = "127.0.0.1", workers: int = 1
) -> tuple[str, subprocess.Popen[bytes]]:
    """Start ``mlflow ui`` over a run folder's store; returns its URL and the process.

    One worker is plenty for one person (MLflow's default of 4 takes a minute to start on a
    small machine). The server's output goes to ``<run_dir>/mlflow-ui.log``. It runs in its
    own process group (``mlflow ui`` starts worker processes of its own): stop it with
    ``stop_ui``. Use ``wait_until_up`` to know when it answers.
    """
    run_dir = Path(run_dir).resolve()
    command = [
        mlflow_command(),
        "ui",
        "--backend-store-uri",
        store_uri(run_dir),
        "--default-artifact-root",
        str(artifact_root(run_dir)),
        "--host",
        host,
        "--port",
        str(port),
        "--workers",
        str(workers),
    ]
    with (run_dir / UI_LOG_FILE).open("ab") as log:
        process = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, cwd=run_dir, start_new_session=True
        )
    return f"http://{host}:{port}", process


def wait_until_up(
    url: str, timeout: float = 60.0, process: subprocess.Popen[bytes] | None = None
) -> bool:
    """Poll ``url`` until it answers HTTP 200; False on timeout or when ``process`` exits."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            return False
        if _answers(url):
            return True
        time.sleep(POLL_SECONDS)
    return False


def stop_ui(process: subprocess.Popen[bytes], timeout: float = 10.0) -> int | None:
    """Stop a server started by ``start_ui`` and its workers; returns its exit code."""
    if process.poll() is None:
        _signal_group(process, signal.SIGTERM)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            _signal_group(process, signal.SIGKILL)
            process.wait(timeout=timeout)
    return process.returncode


def _signal_group(process: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, sig)  # the server's own group (start_new_session=True)


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2.0) as response:
            return response.status == 200
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return False
