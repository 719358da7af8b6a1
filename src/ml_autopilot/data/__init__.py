"""Loading, splitting and profiling tabular data."""
