"""`python -m ml_autopilot` runs the CLI."""

from ml_autopilot.cli import app

app(prog_name="autopilot")
