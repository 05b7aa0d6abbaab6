"""Analyst tools: evaluation, explanation and watchlist importers."""
