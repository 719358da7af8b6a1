"""Error hierarchy: who is at fault decides how a failure is reported.

``UserError`` is something the user can fix (a missing file, a wrong column); the CLI prints
its message on one line and exits with code 2. ``ExperimentError`` and ``PlannerError`` are
raised inside the loop and turned into data (a failed experiment, a fallback) by the session.
"""


class AutopilotError(Exception):
    """Base class of every error this package raises on purpose."""


class UserError(AutopilotError):
    """Bad input the user can fix; the message says what was wrong and how to fix it."""


class SpecValidationError(AutopilotError):
    """An experiment spec that must not reach code generation."""


class ExperimentError(AutopilotError):
    """An experiment that could not be prepared or run."""


class PlannerError(AutopilotError):
    """A planner that could not produce a proposal."""
