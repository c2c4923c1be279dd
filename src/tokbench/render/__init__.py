"""Rendering: results in, text out. Nothing here computes a metric."""
