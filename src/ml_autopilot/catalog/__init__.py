"""What the autopilot can use: models, preprocessing, metrics, and the spec validator."""
