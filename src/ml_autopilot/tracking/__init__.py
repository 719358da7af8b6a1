"""Experiment tracking: the session logs through a small interface; MLflow is the default."""
