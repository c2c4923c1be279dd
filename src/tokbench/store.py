"""The results database: SQLite (the default, one file) or PostgreSQL (one store shared
by a fleet), the same versioned schema on both, one row per request.

Every request is written (and committed) the moment it completes, so a crash
or Ctrl-C loses nothing that finished. SQL is written once, in the dialect both
engines share; `_Db` swaps placeholders and the two column types that differ.
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tokbench.errors import TokbenchError
from tokbench.grade import Grade
from tokbench.metrics import RequestMetrics


class _Db:
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
        return self.conn.execute(sql, params)

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


def redact_url(url: str) -> str:
    """The URL without its password: secrets never reach messages or results."""
    return re.sub(r"(://[^:/@]+):[^@/]*@", r"\1:***@", url)


Migration = Callable[[_Db], None]
MIGRATIONS: list[tuple[str, Migration]] = []
MIGRATION_LOCK = 0x746F6B62  # "tokb": the advisory lock key on PostgreSQL


def migration(fn: Migration) -> Migration:
    MIGRATIONS.append((fn.__name__, fn))
    return fn


@migration
def m001_runs_and_requests(db: _Db) -> None:
    db.ddl(
        """
        CREATE TABLE runs (
            id TEXT PRIMARY KEY,
            created_at TEXT NOT NULL,
            finished_at TEXT,
            status TEXT NOT NULL,
            kind TEXT NOT NULL,
            tokbench_version TEXT NOT NULL,
            backend TEXT NOT NULL,
            url TEXT,
            model TEXT,
            suite TEXT,
            host_name TEXT,
            config_json TEXT NOT NULL,
            target_json TEXT NOT NULL,
            host_json TEXT NOT NULL
        );
        CREATE TABLE requests (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            run_id TEXT NOT NULL REFERENCES runs(id),
            item_id TEXT NOT NULL,
            rep INTEGER NOT NULL,
            started_at TEXT NOT NULL,
            status TEXT NOT NULL,
            error TEXT,
            prompt TEXT NOT NULL,
            answer TEXT NOT NULL,
            thinking TEXT NOT NULL,
            ttft_ms REAL,
            decode_tps REAL,
            completion_tokens INTEGER,
            metrics_json TEXT,
            UNIQUE (run_id, item_id, rep)
        );
        CREATE INDEX requests_run ON requests(run_id);
        """,
    )


@migration
def m002_bench_samples(db: _Db) -> None:
    db.ddl(
        """
        CREATE TABLE bench_samples (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            run_id TEXT NOT NULL REFERENCES runs(id),
            model TEXT NOT NULL,
            test TEXT NOT NULL,
            concurrency INTEGER NOT NULL,
            rep INTEGER NOT NULL,
            stream INTEGER NOT NULL,
            started_at TEXT NOT NULL,
            t_s REAL NOT NULL,
            status TEXT NOT NULL,
            note TEXT,
            tps REAL,
            server_tps REAL,
            tokens INTEGER,
            ttft_ms REAL,
            span_s REAL,
            UNIQUE (run_id, model, test, concurrency, rep, stream)
        );
        CREATE INDEX bench_samples_run ON bench_samples(run_id)
        """,
    )


@migration
def m003_request_grades(db: _Db) -> None:
    for column in ("grade TEXT", "grade_value TEXT", "grade_reason TEXT", "grader TEXT"):
        db.ddl(f"ALTER TABLE requests ADD COLUMN {column}")


@dataclass(frozen=True, slots=True)
class BenchSample:
    """One measurement. Warm-ups have rep < 0; concurrent streams share a rep."""

    run_id: str
    model: str
    test: str
    concurrency: int
    rep: int
    stream: int
    started_at: str
    t_s: float  # when it was sent, seconds after the process started measuring
    status: str
    note: str | None
    tps: float | None
    server_tps: float | None
    tokens: int | None
    ttft_ms: float | None
    span_s: float | None  # send to last token


@dataclass(frozen=True, slots=True)
class RunInfo:
    id: str
    created_at: str
    status: str  # running | done | interrupted | failed
    kind: str  # run (suite questions) | bench
    tokbench_version: str
    backend: str
    url: str | None
    model: str | None
    suite: str | None
    host_name: str | None
    config: dict[str, Any] = field(default_factory=dict)
    target: dict[str, Any] = field(default_factory=dict)
    host: dict[str, Any] = field(default_factory=dict)
    finished_at: str | None = None


@dataclass(frozen=True, slots=True)
class RequestRecord:
    run_id: str
    item_id: str
    rep: int
    started_at: str
    status: str  # ok | error
    error: str | None
    prompt: str
    answer: str
    thinking: str
    metrics: RequestMetrics | None
    grade: Grade | None = None


class Store:
    """Results, in SQLite (a path or `sqlite:///path`) or PostgreSQL (`postgresql://...`)."""

    def __init__(self, location: str | Path) -> None:
        try:
            self.db = _Db(location)
            self.location = self.db.location
            self.migrate()
        except sqlite3.DatabaseError as exc:
            raise TokbenchError(
                f"cannot open the results database {location}: {exc}; pass --db or set "
                "TOKBENCH_DB to use another file"
            ) from exc
        except OSError as exc:
            raise TokbenchError(f"cannot create the results database {location}: {exc}") from exc

    @property
    def dialect(self) -> str:
        return self.db.dialect

    def close(self) -> None:
        self.db.close()

    @contextmanager
    def _tx(self) -> Iterator[_Db]:
        self.db.execute("BEGIN IMMEDIATE" if self.dialect == "sqlite" else "BEGIN")
        try:
            yield self.db
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    @contextmanager
    def _migration_lock(self) -> Iterator[None]:
        """Machines that start against a new shared store at once migrate one at a time."""
        if self.dialect == "sqlite":
            yield  # BEGIN IMMEDIATE already serialises writers
            return
        self.db.execute("SELECT pg_advisory_lock(?)", (MIGRATION_LOCK,))
        try:
            yield
        finally:
            self.db.execute("SELECT pg_advisory_unlock(?)", (MIGRATION_LOCK,))

    def migrate(self) -> list[str]:
        """Apply migrations not yet recorded; returns the names applied. Safe when several
        processes open a new store at once: each migration is checked inside its own
        write transaction (and, on PostgreSQL, under an advisory lock)."""
        applied = []
        with self._migration_lock():
            self.db.execute(
                "CREATE TABLE IF NOT EXISTS _migrations (name TEXT PRIMARY KEY, applied_at TEXT)"
            )
            done = {r[0] for r in self.db.execute("SELECT name FROM _migrations").fetchall()}
            for name, fn in MIGRATIONS:
                if name in done:
                    continue
                with self._tx() as db:
                    if db.execute("SELECT 1 FROM _migrations WHERE name = ?", (name,)).fetchall():
                        continue  # another process got here first
                    fn(db)
                    db.execute(
                        "INSERT INTO _migrations VALUES (?, ?)",
                        (name, datetime.now(UTC).isoformat(timespec="seconds")),
                    )
                applied.append(name)
        return applied

    def schema_version(self) -> list[str]:
        return [r[0] for r in self.db.execute("SELECT name FROM _migrations ORDER BY name")]

    # runs -------------------------------------------------------------------
    def create_run(self, run: RunInfo) -> None:
        with self._tx() as db:
            self._insert_run(db, run)

    @staticmethod
    def _insert_run(db: _Db, run: RunInfo) -> None:
        db.execute(
            "INSERT INTO runs VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                run.id,
                run.created_at,
                run.finished_at,
                run.status,
                run.kind,
                run.tokbench_version,
                run.backend,
                run.url,
                run.model,
                run.suite,
                run.host_name,
                json.dumps(run.config),
                json.dumps(run.target),
                json.dumps(run.host),
            ),
        )

    def update_run(self, run_id: str, **values: Any) -> None:
        cols = {"status", "finished_at", "model", "target", "config"}
        sets, args = [], []
        for key, value in values.items():
            if key not in cols:
                raise ValueError(key)
            if key in ("target", "config"):
                key, value = f"{key}_json", json.dumps(value)
            sets.append(f"{key} = ?")
            args.append(value)
        with self._tx() as db:
            db.execute(f"UPDATE runs SET {', '.join(sets)} WHERE id = ?", (*args, run_id))

    def run(self, run_id: str) -> RunInfo:
        """A run by id or unique id prefix."""
        rows = self.db.execute(
            "SELECT * FROM runs WHERE id = ? OR id LIKE ? ORDER BY id", (run_id, run_id + "%")
        ).fetchall()
        exact = [r for r in rows if r[0] == run_id]
        if exact:
            rows = exact
        if not rows:
            raise TokbenchError(
                f"no run {run_id!r} in {self.location}; `tokbench history` lists runs"
            )
        if len(rows) > 1:
            ids = ", ".join(r[0] for r in rows[:5])
            raise TokbenchError(f"run id {run_id!r} is ambiguous ({ids}); give more characters")
        return _run_from_row(rows[0])

    def runs(self, limit: int | None = None) -> list[RunInfo]:
        sql = "SELECT * FROM runs ORDER BY created_at DESC, id DESC"
        if limit:
            sql += f" LIMIT {int(limit)}"
        return [_run_from_row(r) for r in self.db.execute(sql).fetchall()]

    # requests ---------------------------------------------------------------
    def add_request(self, rec: RequestRecord) -> None:
        with self._tx() as db:
            self._insert_request(db, rec)

    @staticmethod
    def _insert_request(db: _Db, rec: RequestRecord) -> None:
        m, g = rec.metrics, rec.grade
        db.execute(
            _upsert(
                "requests",
                "run_id, item_id, rep, started_at, status, error, prompt, answer, "
                "thinking, ttft_ms, decode_tps, completion_tokens, metrics_json, grade, "
                "grade_value, grade_reason, grader",
                key="run_id, item_id, rep",
            ),
            (
                rec.run_id,
                rec.item_id,
                rec.rep,
                rec.started_at,
                rec.status,
                rec.error,
                rec.prompt,
                rec.answer,
                rec.thinking,
                m.ttft_ms if m else None,
                m.decode_tps if m else None,
                m.completion_tokens if m else None,
                json.dumps(m.as_dict()) if m else None,
                g.verdict if g else None,
                g.extracted if g else None,
                g.reason if g else None,
                g.grader if g else None,
            ),
        )

    def requests(self, run_id: str) -> list[RequestRecord]:
        rows = self.db.execute(
            "SELECT run_id, item_id, rep, started_at, status, error, prompt, answer, thinking, "
            "metrics_json, grade, grade_value, grade_reason, grader FROM requests "
            "WHERE run_id = ? ORDER BY id",
            (run_id,),
        )
        return [
            RequestRecord(
                run_id=r[0],
                item_id=r[1],
                rep=r[2],
                started_at=r[3],
                status=r[4],
                error=r[5],
                prompt=r[6],
                answer=r[7],
                thinking=r[8],
                metrics=RequestMetrics.from_dict(json.loads(r[9])) if r[9] else None,
                grade=Grade(r[10], r[11], r[12] or "", r[13] or "") if r[10] else None,
            )
            for r in rows.fetchall()
        ]

    def add_bench_sample(self, s: BenchSample) -> None:
        with self._tx() as db:
            self._insert_sample(db, s)

    @staticmethod
    def _insert_sample(db: _Db, s: BenchSample) -> None:
        db.execute(
            _upsert(
                "bench_samples",
                "run_id, model, test, concurrency, rep, stream, started_at, t_s, status, "
                "note, tps, server_tps, tokens, ttft_ms, span_s",
                key="run_id, model, test, concurrency, rep, stream",
            ),
            (
                s.run_id,
                s.model,
                s.test,
                s.concurrency,
                s.rep,
                s.stream,
                s.started_at,
                s.t_s,
                s.status,
                s.note,
                s.tps,
                s.server_tps,
                s.tokens,
                s.ttft_ms,
                s.span_s,
            ),
        )

    def bench_samples(self, run_id: str) -> list[BenchSample]:
        rows = self.db.execute(
            "SELECT run_id, model, test, concurrency, rep, stream, started_at, t_s, status, note, "
            "tps, server_tps, tokens, ttft_ms, span_s FROM bench_samples WHERE run_id = ? "
            "ORDER BY id",
            (run_id,),
        )
        return [BenchSample(*r) for r in rows.fetchall()]

    def request_counts(self) -> dict[str, tuple[int, int]]:
        """run id -> (ok, failed)."""
        out: dict[str, tuple[int, int]] = {}
        ok, bad = (
            "SUM(CASE WHEN status = 'ok' THEN 1 ELSE 0 END)",
            "SUM(CASE WHEN status = 'ok' THEN 0 ELSE 1 END)",
        )
        for run_id, n_ok, n_bad in self.db.execute(
            f"SELECT run_id, {ok}, {bad} FROM requests GROUP BY run_id UNION ALL "
            f"SELECT run_id, {ok}, {bad} FROM bench_samples WHERE rep >= 0 GROUP BY run_id"
        ).fetchall():
            out[run_id] = (int(n_ok or 0), int(n_bad or 0))
        return out


def _upsert(table: str, columns: str, key: str) -> str:
    """INSERT that replaces the row with the same key (a retried request, a resumed run),
    in the ON CONFLICT form SQLite and PostgreSQL share."""
    cols = [c.strip() for c in columns.split(",")]
    keys = {k.strip() for k in key.split(",")}
    sets = ", ".join(f"{c} = excluded.{c}" for c in cols if c not in keys)
    marks = ",".join("?" * len(cols))
    return (
        f"INSERT INTO {table} ({columns}) VALUES ({marks}) ON CONFLICT ({key}) DO UPDATE SET {sets}"
    )


def _run_from_row(r: tuple[Any, ...]) -> RunInfo:
    return RunInfo(
        id=r[0],
        created_at=r[1],
        finished_at=r[2],
        status=r[3],
        kind=r[4],
        tokbench_version=r[5],
        backend=r[6],
        url=r[7],
        model=r[8],
        suite=r[9],
        host_name=r[10],
        config=json.loads(r[11]),
        target=json.loads(r[12]),
        host=json.loads(r[13]),
    )


@dataclass(frozen=True, slots=True)
class CopyResult:
    runs_copied: int
    runs_present: int  # already in the destination: left as they are
    requests: int
    bench_samples: int


def copy_runs(
    src: Store, dst: Store, progress: Callable[[int, int], None] | None = None
) -> CopyResult:
    """Copy every run the destination lacks, oldest first, each run in one transaction:
    an interrupted copy is resumed by running it again."""
    present = {r.id for r in dst.runs()}
    todo = [r for r in reversed(src.runs()) if r.id not in present]
    n_req = n_samples = 0
    for i, run in enumerate(todo):
        reqs, samples = src.requests(run.id), src.bench_samples(run.id)
        with dst._tx() as db:
            dst._insert_run(db, run)
            for rec in reqs:
                dst._insert_request(db, rec)
            for s in samples:
                dst._insert_sample(db, s)
        n_req += len(reqs)
        n_samples += len(samples)
        if progress:
            progress(i + 1, len(todo))
    return CopyResult(len(todo), len(present & {r.id for r in src.runs()}), n_req, n_samples)
