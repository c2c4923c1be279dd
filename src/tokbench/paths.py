"""Where tokbench keeps its database, run folders and assembled model files."""

from __future__ import annotations

import os
from pathlib import Path


def data_dir() -> Path:
    """`TOKBENCH_HOME` if set, else the platform's user data dir."""
    if env := os.environ.get("TOKBENCH_HOME"):
        return Path(env)
    from platformdirs import user_data_path

    return user_data_path("tokbench", appauthor=False)


def cache_dir() -> Path:
    if env := os.environ.get("TOKBENCH_CACHE"):
        return Path(env)
    from platformdirs import user_cache_path

    return user_cache_path("tokbench", appauthor=False)


def default_db() -> str:
    """`TOKBENCH_DB` (a SQLite path, `sqlite:///path` or `postgresql://...`) if set, else
    results.db in the data dir."""
    return os.environ.get("TOKBENCH_DB") or str(data_dir() / "results.db")


def runs_dir() -> Path:
    return data_dir() / "runs"
