"""The LLM planner: a language model designs, reads, ranks and reports; the validator gates.

Public entry points: ``build_llm_planner`` (used by ``planning.factory``), ``LLMPlanner``,
``LlmSettings`` / ``settings_from_config`` and ``build_model``. Submodules are imported lazily
by the factory, so the offline path never imports pydantic-ai.
"""

from ml_autopilot.planning.llm.planner import LLMPlanner, build_llm_planner
from ml_autopilot.planning.llm.providers import build_model
from ml_autopilot.planning.llm.settings import LlmSettings, settings_from_config

__all__ = ["LLMPlanner", "LlmSettings", "build_llm_planner", "build_model", "settings_from_config"]
