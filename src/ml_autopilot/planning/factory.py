"""Choose the planner for a session: the offline optimizer, or the LLM planner when asked.

``auto`` uses the LLM planner when an API key or a base URL is configured and the offline
optimizer otherwise; the choice is recorded in the state and announced by the CLI.
"""

from __future__ import annotations

import os

from ml_autopilot.config import RunConfig
from ml_autopilot.planning.base import Planner, PlanningContext
from ml_autopilot.planning.optimizer import OptimizerPlanner
from ml_autopilot.state import SessionState

KEY_VARIABLES = (
    "GEMINI_API_KEY",
    "GOOGLE_API_KEY",
    "OPENAI_API_KEY",
    "ANTHROPIC_API_KEY",
)


def resolve_planner_name(config: RunConfig) -> str:
    """``optimizer`` or ``llm``, deciding ``auto`` from the environment and the flags."""
    if config.planner != "auto":
        return config.planner
    configured = config.llm_base_url or any(os.environ.get(v) for v in KEY_VARIABLES)
    return "llm" if configured else "optimizer"


def make_planner(context: PlanningContext, state: SessionState) -> Planner:
    """Build the session's planner; the LLM planner falls back to the optimizer per step."""
    optimizer = OptimizerPlanner(context, seed=state.config.seed)
    if state.planner_name != "llm":
        return optimizer
    from ml_autopilot.planning.llm.planner import build_llm_planner

    return build_llm_planner(context, state, fallback=optimizer)
