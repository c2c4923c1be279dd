"""The results database: SQLite, a versioned schema, one row per request.

Every request is written (and committed) the moment it completes, so a crash
or Ctrl-C loses nothing that finished.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tokbench.errors import TokbenchError
from tokbench.grade import Grade
from tokbench.metrics import RequestMetrics

Migration = Callable[[sqlite3.Connection], None]
MIGRATIONS: list[tuple[str, Migration]] = []


def migration(fn: Migration) -> Migration:
    MIGRATIONS.append((fn.__name__, fn))
    return fn


def _script(db: sqlite3.Connection, sql: str) -> None:
    # executescript() would COMMIT our migration transaction half-way; run statements one by one.
    for statement in sql.split(";"):
        if statement.strip():
            db.execute(statement)


@migration
def m001_runs_and_requests(db: sqlite3.Connection) -> None:
    _script(
        db,
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
def m002_bench_samples(db: sqlite3.Connection) -> None:
    _script(
        db,
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
def m003_request_grades(db: sqlite3.Connection) -> None:
    for column in ("grade TEXT", "grade_value TEXT", "grade_reason TEXT", "grader TEXT"):
        db.execute(f"ALTER TABLE requests ADD COLUMN {column}")


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
    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self.db = sqlite3.connect(path, timeout=30, isolation_level=None)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA foreign_keys=ON")
            self.migrate()
        except sqlite3.DatabaseError as exc:
            raise TokbenchError(
                f"cannot open the results database {path}: {exc}; pass --db or set TOKBENCH_DB "
                "to use another file"
            ) from exc
        except OSError as exc:
            raise TokbenchError(f"cannot create the results database {path}: {exc}") from exc

    def close(self) -> None:
        self.db.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield self.db
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    def migrate(self) -> list[str]:
        """Apply migrations not yet recorded; returns the names applied."""
        self.db.execute(
            "CREATE TABLE IF NOT EXISTS _migrations (name TEXT PRIMARY KEY, applied_at TEXT)"
        )
        done = {r[0] for r in self.db.execute("SELECT name FROM _migrations")}
        applied = []
        for name, fn in MIGRATIONS:
            if name in done:
                continue
            with self._tx() as db:
                fn(db)
                db.execute("INSERT INTO _migrations VALUES (?, datetime('now'))", (name,))
            applied.append(name)
        return applied

    # runs -------------------------------------------------------------------
    def create_run(self, run: RunInfo) -> None:
        with self._tx() as db:
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
            raise TokbenchError(f"no run {run_id!r} in {self.path}; `tokbench history` lists runs")
        if len(rows) > 1:
            ids = ", ".join(r[0] for r in rows[:5])
            raise TokbenchError(f"run id {run_id!r} is ambiguous ({ids}); give more characters")
        return _run_from_row(rows[0])

    def runs(self, limit: int | None = None) -> list[RunInfo]:
        sql = "SELECT * FROM runs ORDER BY created_at DESC, id DESC"
        if limit:
            sql += f" LIMIT {int(limit)}"
        return [_run_from_row(r) for r in self.db.execute(sql)]

    # requests ---------------------------------------------------------------
    def add_request(self, rec: RequestRecord) -> None:
        m, g = rec.metrics, rec.grade
        with self._tx() as db:
            db.execute(
                "INSERT OR REPLACE INTO requests (run_id, item_id, rep, started_at, status, "
                "error, prompt, answer, thinking, ttft_ms, decode_tps, completion_tokens, "
                "metrics_json, grade, grade_value, grade_reason, grader) "
                "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
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
            for r in rows
        ]

    def add_bench_sample(self, s: BenchSample) -> None:
        with self._tx() as db:
            db.execute(
                "INSERT OR REPLACE INTO bench_samples (run_id, model, test, concurrency, rep, "
                "stream, started_at, t_s, status, note, tps, server_tps, tokens, ttft_ms, span_s) "
                "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
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
        return [BenchSample(*r) for r in rows]

    def request_counts(self) -> dict[str, tuple[int, int]]:
        """run id -> (ok, failed)."""
        out: dict[str, tuple[int, int]] = {}
        for run_id, ok, bad in self.db.execute(
            "SELECT run_id, SUM(status = 'ok'), SUM(status != 'ok') FROM requests GROUP BY run_id "
            "UNION ALL SELECT run_id, SUM(status = 'ok'), SUM(status != 'ok') FROM bench_samples "
            "WHERE rep >= 0 GROUP BY run_id"
        ):
            out[run_id] = (ok or 0, bad or 0)
        return out


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
