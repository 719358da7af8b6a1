"""The one function tool the components offer the model: look up a catalog model.

Besides being useful to a model that wants the exact ranges again, a function tool next to the
output tool lets pydantic-ai name the output tool in ``tool_choice`` (a strict subset of the tool
list), which OpenAI-compatible local servers need to constrain the answer to its schema.
"""

from __future__ import annotations

import difflib

from pydantic_ai import Tool

from ml_autopilot.catalog.models import CATALOG
from ml_autopilot.config import TaskType
from ml_autopilot.planning.llm.prompts import catalog_text
from ml_autopilot.planning.llm.untrusted import bounded


def catalog_tool(models: list[str], task: TaskType) -> Tool[None]:
    """A ``describe_model`` tool over the models this run may use."""

    def describe_model(model: str) -> str:
        """Describe one catalog model: its traits and hyperparameters with their ranges."""
        key = model.strip().lower()
        if key in models and key in CATALOG:
            return catalog_text([key], task)
        close = difflib.get_close_matches(key, models, n=1)
        hint = f" Did you mean '{close[0]}'?" if close else ""
        return f"Unknown model '{bounded(model, 40)}'.{hint} Choose one of: {', '.join(models)}."

    return Tool(describe_model, takes_ctx=False, name="describe_model")
