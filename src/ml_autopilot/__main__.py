"""`python -m ml_autopilot` runs the CLI."""

from ml_autopilot.launch import main

main()
