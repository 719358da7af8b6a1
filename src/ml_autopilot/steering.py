"""Turning a person's instruction (`autopilot steer`) into a change the planner obeys.

Instructions are read as constraints when they can be (models to prefer or avoid, a
preprocessing choice, a termination setting), as a request to blend the best models when they
mention an ensemble, and otherwise as a new research direction for the planner. Nothing in them
is ever executed; they change only structured constraints.
"""

from __future__ import annotations

from ml_autopilot.constraints import parse_constraints
from ml_autopilot.errors import UserError
from ml_autopilot.state import Constraints

SECTIONS = ("Models", "Preprocessing", "Termination")


def read_instruction(text: str) -> Constraints:
    """Whatever constraints the text states, read as if under each constraints heading."""
    found = Constraints()
    for section in SECTIONS:
        try:
            parsed = parse_constraints(f"## {section}\n{text}")
        except UserError:
            continue
        found.preferred_models += parsed.preferred_models
        found.avoided_models += parsed.avoided_models
        found.preprocessing.update(parsed.preprocessing)
        found.plateau = parsed.plateau or found.plateau
        found.max_iterations = parsed.max_iterations or found.max_iterations
        found.target_score = (
            parsed.target_score if parsed.target_score is not None else (found.target_score)
        )
    return found


def merge(current: Constraints, change: Constraints) -> list[str]:
    """Apply ``change`` to ``current`` in place; returns what changed, in words."""
    said: list[str] = []
    for model in change.avoided_models:
        if model not in current.avoided_models:
            current.avoided_models.append(model)
        if model in current.preferred_models:
            current.preferred_models.remove(model)
    if change.avoided_models:
        said.append(f"avoid {', '.join(change.avoided_models)}")
    for model in change.preferred_models:
        if model not in current.preferred_models and model not in current.avoided_models:
            current.preferred_models.append(model)
    if change.preferred_models:
        said.append(f"prefer {', '.join(change.preferred_models)}")
    if change.preprocessing:
        current.preprocessing.update(change.preprocessing)
        said.append(
            "preprocessing " + ", ".join(f"{k}={v}" for k, v in change.preprocessing.items())
        )
    for key in ("plateau", "max_iterations", "target_score"):
        value = getattr(change, key)
        if value is not None:
            setattr(current, key, value)
            said.append(f"{key.replace('_', ' ')} = {value}")
    return said


def wants_ensemble(text: str) -> bool:
    lowered = text.lower()
    return "ensemble" in lowered or "blend" in lowered or "stack" in lowered
