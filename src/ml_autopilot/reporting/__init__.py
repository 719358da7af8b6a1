"""Everything visible afterwards: the Markdown report, its plots, and the HTML dashboard."""
