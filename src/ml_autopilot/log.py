"""The package's one logger. Library code logs here and never prints; the CLI owns the console."""

import logging

LOGGER_NAME = "ml_autopilot"


def get_logger(child: str | None = None) -> logging.Logger:
    """Return the package logger, or a child of it (``ml_autopilot.<child>``)."""
    return logging.getLogger(f"{LOGGER_NAME}.{child}" if child else LOGGER_NAME)
