"""One connection to the results database, SQLite or PostgreSQL, speaking one dialect."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path
from typing import Any

from tokbench.core.redact import redact_url
from tokbench.errors import TokbenchError


class StoreError(TokbenchError):
    """The database failed (full disk, read-only or damaged file, lost server)."""


def _is_db_error(exc: Exception) -> bool:
    return isinstance(exc, sqlite3.Error) or type(exc).__module__.startswith("psycopg")


def explain(location: str, exc: Exception) -> str:
    """One sentence for a database failure, with what to do about it."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    low = text.lower()
    if "full" in low or "no space" in low:
        hint = "free some disk space, then resume the run"
    elif "readonly" in low or "read-only" in low or "permission" in low:
        hint = "make the file (and its folder) writable, or pass --db with another path"
    elif "malformed" in low or "not a database" in low or "corrupt" in low:
        hint = "the file is damaged: move it aside (tokbench starts a new one) or pass --db"
    elif "locked" in low:
        hint = "another process holds it: try again"
    else:
        hint = "check the database, or pass --db with another one"
    return f"the results database {location} failed: {text}; {hint}"


class Db:
    """One connection, SQLite or PostgreSQL, with SQLite's `?` placeholders on both."""

    def __init__(self, location: str | Path) -> None:
        text = str(location)
        self.dialect = "postgresql" if is_postgres_url(text) else "sqlite"
        self.location = redact_url(text)
        if self.dialect == "sqlite":
            path = sqlite_path(text)
            self.location = str(path)
            path.parent.mkdir(parents=True, exist_ok=True)
            self.conn: Any = sqlite3.connect(path, timeout=30, isolation_level=None)
            self.conn.execute("PRAGMA journal_mode=WAL")
            self.conn.execute("PRAGMA foreign_keys=ON")
            return
        try:
            import psycopg
        except ImportError:
            raise TokbenchError(
                "a PostgreSQL store needs psycopg: pip install 'tokbench[postgres]'"
            ) from None
        try:
            self.conn = psycopg.connect(text, autocommit=True, connect_timeout=10)
        except psycopg.Error as exc:
            raise TokbenchError(f"cannot connect to {self.location}: {exc}".strip()) from None

    def execute(self, sql: str, params: tuple[Any, ...] = ()) -> Any:
        if self.dialect == "postgresql":
            sql = sql.replace("?", "%s")
        try:
            return self.conn.execute(sql, params)
        except Exception as exc:
            if _is_db_error(exc):
                raise StoreError(explain(self.location, exc)) from exc
            raise

    def ddl(self, sql: str) -> None:
        """Run CREATE/ALTER statements one by one (executescript() would COMMIT the
        migration's transaction half-way), in this engine's types."""
        if self.dialect == "postgresql":
            sql = sql.replace("INTEGER PRIMARY KEY AUTOINCREMENT", "BIGSERIAL PRIMARY KEY")
            sql = re.sub(r"\bREAL\b", "DOUBLE PRECISION", sql)  # PostgreSQL's REAL is 4 bytes
        for statement in sql.split(";"):
            if statement.strip():
                self.execute(statement)

    def close(self) -> None:
        self.conn.close()


def is_postgres_url(location: str) -> bool:
    return location.startswith(("postgresql://", "postgres://"))


def sqlite_path(location: str) -> Path:
    """A SQLite store's file, from a path or `sqlite:///path`."""
    return Path(location.removeprefix("sqlite://"))
