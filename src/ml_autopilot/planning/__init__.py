"""Planners: who designs the next experiment."""
