"""Executors: where and how a generated script runs."""
