"""The results database: SQLite (the default, one file) or PostgreSQL (one store shared
by a fleet), the same versioned schema on both, one row per request. Every `RunInfo` is
made here: a new run's (`new_run_info`, through the run ledger, which identifies its
model) and a stored run's (from its row).

Every request is written (and committed) the moment it completes, so a crash
or Ctrl-C loses nothing that finished. SQL is written once, in the dialect both
engines share; `Db` swaps placeholders and the two column types that differ.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, suppress
from dataclasses import fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tokbench import __version__
from tokbench.core.energy import HostWindow, RequestEnergy, RunEnergy
from tokbench.core.records import (
    BenchSample,
    Grade,
    HostInfo,
    RequestMetrics,
    RequestRecord,
    RunInfo,
    Settings,
    Target,
    TestStats,
    new_run_id,
    settings_from_json,
    targets_from_json,
    targets_to_json,
    utc_now,
)
from tokbench.core.redact import redact_url
from tokbench.errors import TokbenchError
from tokbench.hardware.probe import host_name
from tokbench.store.connection import Db, StoreError
from tokbench.store.migrations import MIGRATION_LOCK, MIGRATIONS


class Store:
    """Results, in SQLite (a path or `sqlite:///path`) or PostgreSQL (`postgresql://...`)."""

    def __init__(self, location: str | Path) -> None:
        try:
            self.db = Db(location)
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
    def _tx(self) -> Iterator[Db]:
        self.db.execute("BEGIN IMMEDIATE" if self.dialect == "sqlite" else "BEGIN")
        try:
            yield self.db
        except BaseException:
            with suppress(StoreError):  # the failure that got us here is the one to tell
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
    def _insert_run(db: Db, run: RunInfo) -> None:
        row = run_row(run)
        if run.status == "running":
            row |= _owner()
        insert(db, "runs", row)

    def transaction(self) -> AbstractContextManager[Db]:
        """One write transaction for a caller that stores a run with rows of its own
        tables (a quant comparison): all of it is committed, or none."""
        return self._tx()

    @staticmethod
    def insert_run(db: Db, run: RunInfo) -> None:
        """The run's row, inside a caller's `transaction()`."""
        Store._insert_run(db, run)

    def fetch_dicts(self, sql: str, params: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
        """The rows of a query as column name -> value (the same on both engines)."""
        return _dicts(self.db.execute(sql, params))

    def update_run(
        self,
        run_id: str,
        *,
        status: str | None = None,
        finished_at: str | None = None,
        clear_finished: bool = False,
        model: str | None = None,
        targets: dict[str, Target] | None = None,
        config: Settings | None = None,
        energy: RunEnergy | None = None,
    ) -> None:
        """Set the given fields of a run (None: unchanged; `clear_finished` empties
        finished_at when a run is resumed)."""
        kind, model_id, model_name = "", None, None
        if targets is not None:
            run = self.run(run_id)
            kind = run.kind
            model_id, model_name = run_identity(model or run.model, targets)
        values: dict[str, Any] = {
            "status": status,
            "finished_at": finished_at,
            "model": model,
            "model_id": model_id,
            "model_name": model_name,
            "target_json": json.dumps(targets_to_json(kind, targets))
            if targets is not None
            else None,
            "config_json": json.dumps(config.to_json()) if config is not None else None,
            "energy_json": _json(energy),
        }
        sets = {k: v for k, v in values.items() if v is not None}
        if status == "running":  # started or resumed here: this process owns it now
            sets |= _owner()
        if clear_finished:
            sets["finished_at"] = None
        if not sets:
            return
        with self._tx() as db:
            db.execute(
                f"UPDATE runs SET {', '.join(f'{k} = ?' for k in sets)} WHERE id = ?",
                (*sets.values(), run_id),
            )

    def run(self, run_id: str) -> RunInfo:
        """A run by id or unique id prefix."""
        prefix = run_id.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        rows = _dicts(
            self.db.execute(
                "SELECT * FROM runs WHERE id = ? OR id LIKE ? ESCAPE '\\' ORDER BY id",
                (run_id, prefix + "%"),
            )
        )
        exact = [r for r in rows if r["id"] == run_id]
        if exact:
            rows = exact
        if not rows:
            raise TokbenchError(
                f"no run {run_id!r} in {self.location}; `tokbench history` lists runs"
            )
        if len(rows) > 1:
            ids = ", ".join(r["id"] for r in rows[:5])
            raise TokbenchError(f"run id {run_id!r} is ambiguous ({ids}); give more characters")
        return run_from_row(rows[0])

    def runs(self, limit: int | None = None) -> list[RunInfo]:
        sql = "SELECT * FROM runs ORDER BY created_at DESC, id DESC"
        if limit:
            sql += f" LIMIT {int(limit)}"
        return [run_from_row(r) for r in _dicts(self.db.execute(sql))]

    # requests ---------------------------------------------------------------
    def add_request(self, rec: RequestRecord) -> None:
        with self._tx() as db:
            self._insert_request(db, rec)

    @staticmethod
    def _insert_request(db: Db, rec: RequestRecord) -> None:
        row = request_row(rec)
        db.execute(
            _upsert("requests", list(row), key=("run_id", "item_id", "rep")), tuple(row.values())
        )

    def requests(self, run_id: str) -> list[RequestRecord]:
        rows = self.db.execute("SELECT * FROM requests WHERE run_id = ? ORDER BY id", (run_id,))
        return [request_from_row(r) for r in _dicts(rows)]

    def add_bench_sample(self, s: BenchSample) -> None:
        with self._tx() as db:
            self._insert_sample(db, s)

    @staticmethod
    def _insert_sample(db: Db, s: BenchSample) -> None:
        row = sample_row(s)
        key = ("run_id", "model", "test", "concurrency", "rep", "stream")
        db.execute(_upsert("bench_samples", list(row), key=key), tuple(row.values()))

    def bench_samples(self, run_id: str, tests: Sequence[str] | None = None) -> list[BenchSample]:
        """The run's samples; only those of the named tests when `tests` is given (a view
        of the first tests of a big imported run)."""
        if tests is None:
            rows = self.db.execute(
                "SELECT * FROM bench_samples WHERE run_id = ? ORDER BY id", (run_id,)
            )
            return [sample_from_row(r) for r in _dicts(rows)]
        out = []
        names = list(dict.fromkeys(tests))
        for i in range(0, len(names), 500):  # within every SQLite's limit on parameters
            chunk = names[i : i + 500]
            rows = self.db.execute(
                f"SELECT * FROM bench_samples WHERE run_id = ? AND test IN "
                f"({','.join('?' * len(chunk))}) ORDER BY id",
                (run_id, *chunk),
            )
            out += [sample_from_row(r) for r in _dicts(rows)]
        return out

    # whole runs -------------------------------------------------------------
    def add_run(
        self,
        run: RunInfo,
        requests: list[RequestRecord] | None = None,
        samples: list[BenchSample] | None = None,
        tests: list[TestStats] | None = None,
    ) -> bool:
        """Store a finished run with everything it holds, in one transaction (a copy from
        another store, an import). False, and nothing written, when the run is already
        here or, for an imported run, a run from the same file is."""
        with self._tx() as db:
            if db.execute(
                "SELECT 1 FROM runs WHERE id = ? OR source_sha256 = ?",
                (run.id, run.source_sha256 or ""),
            ).fetchall():
                return False
            self._insert_run(db, run)
            for rec in requests or []:
                self._insert_request(db, rec)
            for s in samples or []:
                self._insert_sample(db, s)
            for test in tests or []:
                insert(db, "imported_tests", test_stats_row(run.id, test))
        return True

    def imported_tests(self, run_id: str, limit: int | None = None) -> list[TestStats]:
        """The run's imported tests in file order; the first `limit` when given."""
        sql = "SELECT * FROM imported_tests WHERE run_id = ? ORDER BY id"
        if limit is None:
            rows = self.db.execute(sql, (run_id,))
        else:
            rows = self.db.execute(sql + " LIMIT ?", (run_id, limit))
        return [test_stats_from_row(r) for r in _dicts(rows)]

    def orphaned(self, runs: list[RunInfo]) -> set[str]:
        """The ids of the `running` runs among `runs` whose process is gone: started on this
        host by a pid that no longer exists (killed with -9, or the machine went down).
        A run of another host, or of a store older than m008, is never claimed orphaned."""
        ids = [r.id for r in runs if r.status == "running"]
        if not ids:
            return set()
        marks = ", ".join("?" * len(ids))
        rows = _dicts(
            self.db.execute(
                f"SELECT id, owner_host, owner_pid FROM runs WHERE id IN ({marks})", tuple(ids)
            )
        )
        here = socket.gethostname()
        return {
            r["id"]
            for r in rows
            if r["owner_host"] == here
            and r["owner_pid"] is not None
            and not _process_alive(int(r["owner_pid"]))
        }

    def imported_test_count(self, run_id: str) -> int:
        rows = self.db.execute("SELECT COUNT(*) FROM imported_tests WHERE run_id = ?", (run_id,))
        return int(rows.fetchall()[0][0])

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


def _owner() -> dict[str, Any]:
    return {"owner_host": socket.gethostname(), "owner_pid": os.getpid()}


def _process_alive(pid: int) -> bool:
    """Whether a process with this pid exists (another user's counts: it exists)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, ValueError):
        return True
    return True


def _dicts(cursor: Any) -> list[dict[str, Any]]:
    """Rows as column name -> value, the same on SQLite and PostgreSQL: a migration that
    adds or reorders columns cannot shift a value into the wrong field."""
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, r, strict=True)) for r in cursor.fetchall()]


def insert(db: Db, table: str, row: dict[str, Any]) -> None:
    """One row, its columns by name."""
    db.execute(
        f"INSERT INTO {table} ({', '.join(row)}) VALUES ({','.join('?' * len(row))})",
        tuple(row.values()),
    )


def _upsert(table: str, columns: list[str], key: tuple[str, ...]) -> str:
    """INSERT that replaces the row with the same key (a retried request, a resumed run),
    in the ON CONFLICT form SQLite and PostgreSQL share."""
    sets = ", ".join(f"{c} = excluded.{c}" for c in columns if c not in key)
    marks = ",".join("?" * len(columns))
    return (
        f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks}) "
        f"ON CONFLICT ({', '.join(key)}) DO UPDATE SET {sets}"
    )


def new_run_info(
    kind: str,
    settings: Settings,
    host: HostInfo,
    *,
    backend: str,
    url: str | None = None,
    model: str | None = None,
    suite: str | None = None,
    targets: dict[str, Target] | None = None,
    status: str = "running",
    created_at: str | None = None,
    finished_at: str | None = None,
    run_id: str | None = None,
    source: str | None = None,
    source_sha256: str | None = None,
    version: str = __version__,
) -> RunInfo:
    """A run not yet stored: its id from the host's name, created now unless told when;
    its model identity is its targets' (`run_identity`; the ledger's `new_run` identifies
    them first)."""
    targets = dict(targets or {})
    model_id, model_name = run_identity(model, targets)
    return RunInfo(
        id=run_id or new_run_id(host.hostname or host_name()),
        created_at=created_at or utc_now(),
        finished_at=finished_at,
        status=status,
        kind=kind,
        tokbench_version=version,
        backend=backend,
        url=url,
        model=model,
        suite=suite,
        host_name=host.hostname,
        config=settings,
        targets=targets,
        host=host,
        source=source,
        source_sha256=source_sha256,
        model_id=model_id,
        model_name=model_name,
    )


def run_identity(model: str | None, targets: dict[str, Target]) -> tuple[str | None, str | None]:
    """A run's model identity and name: its named model's target (a run's one model, a
    quant comparison's reference), else its targets' (a bench of several models joins
    them); a run with no identified target keeps its name."""
    named = targets.get(model or "")
    if named is not None and named.model_id:
        return named.model_id, named.model_name or model
    known = {t.model_id: t.model_name or name for name, t in targets.items() if t.model_id}
    if not known:
        return None, model
    return ",".join(known), ", ".join(dict.fromkeys(known.values()))


def run_row(run: RunInfo) -> dict[str, Any]:
    return {
        "id": run.id,
        "created_at": run.created_at,
        "finished_at": run.finished_at,
        "status": run.status,
        "kind": run.kind,
        "tokbench_version": run.tokbench_version,
        "backend": run.backend,
        "url": redact_url(run.url) if run.url else None,
        "model": run.model,
        "suite": run.suite,
        "host_name": run.host_name,
        "config_json": json.dumps(run.config.to_json()),
        "target_json": json.dumps(targets_to_json(run.kind, run.targets)),
        "host_json": json.dumps(run.host.to_json()),
        "source": run.source,
        "source_sha256": run.source_sha256,
        "energy_json": _json(run.energy),
        "model_id": run.model_id,
        "model_name": run.model_name,
    }


def run_from_row(r: dict[str, Any]) -> RunInfo:
    return RunInfo(
        id=r["id"],
        created_at=r["created_at"],
        finished_at=r["finished_at"],
        status=r["status"],
        kind=r["kind"],
        tokbench_version=r["tokbench_version"],
        backend=r["backend"],
        url=r["url"],
        model=r["model"],
        suite=r["suite"],
        host_name=r["host_name"],
        config=settings_from_json(r["kind"], json.loads(r["config_json"])),
        targets=targets_from_json(r["kind"], r["model"], json.loads(r["target_json"])),
        host=HostInfo.from_json(json.loads(r["host_json"])),
        source=r.get("source"),
        source_sha256=r.get("source_sha256"),
        energy=RunEnergy.from_json(json.loads(r["energy_json"])) if r.get("energy_json") else None,
        model_id=r.get("model_id"),
        model_name=r.get("model_name") or r["model"],
    )


def test_stats_row(run_id: str, t: TestStats) -> dict[str, Any]:
    return {
        "run_id": run_id,
        "model": t.model,
        "test": t.test,
        "kind": t.kind,
        "n_prompt": t.n_prompt,
        "n_gen": t.n_gen,
        "depth": t.depth,
        "concurrency": t.concurrency,
        "mean_tps": t.mean_tps,
        "sd_tps": t.sd_tps,
        "n": t.n,
        "samples_json": json.dumps(list(t.samples_tps)) if t.samples_tps else None,
        "stats_json": json.dumps(t.stats),
    }


def test_stats_from_row(r: dict[str, Any]) -> TestStats:
    return TestStats(
        model=r["model"],
        test=r["test"],
        kind=r["kind"],
        n_prompt=r["n_prompt"],
        n_gen=r["n_gen"],
        depth=r["depth"],
        concurrency=r["concurrency"],
        mean_tps=r["mean_tps"],
        sd_tps=r["sd_tps"],
        n=r["n"],
        samples_tps=tuple(json.loads(r["samples_json"])) if r["samples_json"] else (),
        stats=json.loads(r["stats_json"]),
    )


def request_row(rec: RequestRecord) -> dict[str, Any]:
    m, g = rec.metrics, rec.grade
    return {
        "run_id": rec.run_id,
        "item_id": rec.item_id,
        "rep": rec.rep,
        "started_at": rec.started_at,
        "status": rec.status,
        "error": rec.error,
        "prompt": rec.prompt,
        "answer": rec.answer,
        "thinking": rec.thinking,
        "ttft_ms": m.ttft_ms if m else None,
        "decode_tps": m.decode_tps if m else None,
        "completion_tokens": m.completion_tokens if m else None,
        "metrics_json": json.dumps(m.as_dict()) if m else None,
        "grade": g.verdict if g else None,
        "grade_value": g.extracted if g else None,
        "grade_reason": g.reason if g else None,
        "grader": g.grader if g else None,
        **_energy_cols(rec.energy, rec.host),
        "health": None if rec.health is None else ",".join(rec.health),
    }


def request_from_row(r: dict[str, Any]) -> RequestRecord:
    energy, host = _energy_of(r)
    return RequestRecord(
        run_id=r["run_id"],
        item_id=r["item_id"],
        rep=r["rep"],
        started_at=r["started_at"],
        status=r["status"],
        error=r["error"],
        prompt=r["prompt"],
        answer=r["answer"],
        thinking=r["thinking"],
        metrics=RequestMetrics.from_dict(json.loads(r["metrics_json"]))
        if r["metrics_json"]
        else None,
        grade=(
            Grade(r["grade"], r["grade_value"], r["grade_reason"] or "", r["grader"] or "")
            if r["grade"]
            else None
        ),
        energy=energy,
        host=host,
        health=None if r.get("health") is None else tuple(filter(None, r["health"].split(","))),
    )


def _json(record: RequestEnergy | HostWindow | RunEnergy | None) -> str | None:
    return json.dumps(record.to_json()) if record is not None else None


def _energy_cols(energy: RequestEnergy | None, host: HostWindow | None) -> dict[str, Any]:
    """The energy and host-monitor columns of a request or bench sample row."""
    return {
        "energy_json": _json(energy),
        "host_window_json": _json(host),
        "busy": None if host is None else int(host.busy),
    }


def _energy_of(r: dict[str, Any]) -> tuple[RequestEnergy | None, HostWindow | None]:
    """Back from the columns (absent or NULL in stores older than migration m004)."""
    e, h = r.get("energy_json"), r.get("host_window_json")
    return (
        RequestEnergy.from_json(json.loads(e)) if e else None,
        HostWindow.from_json(json.loads(h)) if h else None,
    )


_SAMPLE_COLUMNS = tuple(f.name for f in fields(BenchSample) if f.name not in ("energy", "host"))


def sample_row(s: BenchSample) -> dict[str, Any]:
    return {**{n: getattr(s, n) for n in _SAMPLE_COLUMNS}, **_energy_cols(s.energy, s.host)}


def sample_from_row(r: dict[str, Any]) -> BenchSample:
    energy, host = _energy_of(r)
    return BenchSample(**{n: r[n] for n in _SAMPLE_COLUMNS}, energy=energy, host=host)
