"""Rendering one standalone Python script per experiment from Jinja2 templates."""
