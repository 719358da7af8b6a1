"""`python -m ml_autopilot` runs the CLI."""

from ml_autopilot.cli import main

main()
