"""ML Autopilot: an autonomous machine-learning experimentation engine."""

__version__ = "0.1.0"
