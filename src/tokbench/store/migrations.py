"""The schema's versions, applied in order and recorded in `_migrations`. Both engines run
the same statements (`Db.ddl` swaps the two column types that differ). A migration is
never edited once released: a change is a new migration."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol


class Db(Protocol):
    """The part of `connection.Db` a migration uses (so the schema imports no connection)."""

    def ddl(self, sql: str) -> None: ...


Migration = Callable[[Db], None]
MIGRATIONS: list[tuple[str, Migration]] = []
MIGRATION_LOCK = 0x746F6B62  # "tokb": the advisory lock key on PostgreSQL


def migration(fn: Migration) -> Migration:
    MIGRATIONS.append((fn.__name__, fn))
    return fn


@migration
def m001_runs_and_requests(db: Db) -> None:
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
def m002_bench_samples(db: Db) -> None:
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
def m003_request_grades(db: Db) -> None:
    for column in ("grade TEXT", "grade_value TEXT", "grade_reason TEXT", "grader TEXT"):
        db.ddl(f"ALTER TABLE requests ADD COLUMN {column}")


@migration
def m004_energy_and_host(db: Db) -> None:
    """Energy and the host monitor's window, per request, per bench sample and per run
    (JSON of `energy`'s records; NULL where nothing was measured)."""
    for table in ("requests", "bench_samples"):
        db.ddl(f"ALTER TABLE {table} ADD COLUMN energy_json TEXT")
        db.ddl(f"ALTER TABLE {table} ADD COLUMN host_window_json TEXT")
        db.ddl(f"ALTER TABLE {table} ADD COLUMN busy INTEGER")
    db.ddl("ALTER TABLE runs ADD COLUMN energy_json TEXT")


@migration
def m005_imported_results(db: Db) -> None:
    """Runs imported from other tools' files (`tokbench import`): where they came from, and
    each test's statistics as the file gave them."""
    db.ddl("ALTER TABLE runs ADD COLUMN source TEXT")  # NULL: measured by tokbench
    db.ddl("ALTER TABLE runs ADD COLUMN source_sha256 TEXT")
    db.ddl("CREATE UNIQUE INDEX runs_source_sha256 ON runs(source_sha256)")
    db.ddl(
        """
        CREATE TABLE imported_tests (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            run_id TEXT NOT NULL REFERENCES runs(id),
            model TEXT NOT NULL,
            test TEXT NOT NULL,
            kind TEXT NOT NULL,
            n_prompt INTEGER,
            n_gen INTEGER,
            depth INTEGER,
            concurrency REAL,
            mean_tps REAL,
            sd_tps REAL,
            n INTEGER,
            samples_json TEXT,
            stats_json TEXT NOT NULL,
            UNIQUE (run_id, model, test)
        );
        CREATE INDEX imported_tests_run ON imported_tests(run_id)
        """
    )


@migration
def m007_quant_results(db: Db) -> None:
    """Quant comparisons (`tokbench quant`, runs of kind "quant"): each candidate model's
    perplexity, KL divergence and top-token agreement against a reference, and the
    reference the run used (docs/metrics.md, "Quant quality")."""
    db.ddl(
        """
        CREATE TABLE quant_results (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            run_id TEXT NOT NULL REFERENCES runs(id),
            position INTEGER NOT NULL,
            model_path TEXT NOT NULL,
            model_sha256 TEXT,
            size_bytes INTEGER,
            reference_kind TEXT NOT NULL,
            reference_name TEXT,
            text_sha256 TEXT,
            n_ctx INTEGER NOT NULL,
            windows INTEGER NOT NULL,
            scored_tokens INTEGER NOT NULL,
            top_k INTEGER,
            threads INTEGER,
            perplexity REAL,
            perplexity_se REAL,
            reference_perplexity REAL,
            ln_ppl_ratio REAL,
            ln_ppl_ratio_se REAL,
            kld_mean REAL,
            kld_se REAL,
            kld_median REAL,
            kld_p90 REAL,
            kld_p99 REAL,
            kld_max REAL,
            kld_is_topk INTEGER,
            topk_kld_mean REAL,
            topk_rel_error REAL,
            same_top REAL,
            same_top_se REAL,
            delta_p_mean REAL,
            delta_p_se REAL,
            delta_p_rms REAL,
            delta_p_top_mean REAL,
            delta_p_top_se REAL,
            load_s REAL,
            elapsed_s REAL,
            scored_tps REAL,
            UNIQUE (run_id, position)
        );
        CREATE INDEX quant_results_run ON quant_results(run_id);
        CREATE TABLE quant_references (
            run_id TEXT PRIMARY KEY REFERENCES runs(id),
            model_path TEXT,
            model_name TEXT NOT NULL,
            model_sha256 TEXT NOT NULL,
            size_bytes INTEGER,
            source TEXT NOT NULL,
            file_path TEXT,
            file_bytes INTEGER,
            text_name TEXT,
            text_sha256 TEXT NOT NULL,
            n_ctx INTEGER NOT NULL,
            top_k INTEGER NOT NULL,
            windows INTEGER NOT NULL,
            scored_tokens INTEGER NOT NULL,
            perplexity REAL,
            perplexity_se REAL,
            build_s REAL
        )
        """
    )


@migration
def m008_run_owner(db: Db) -> None:
    """The process that runs a run (its host and pid), set when the run starts or resumes:
    a `running` run whose process is gone was killed (`kill -9`, a power cut) and
    `tokbench history` says so."""
    db.ddl("ALTER TABLE runs ADD COLUMN owner_host TEXT")
    db.ddl("ALTER TABLE runs ADD COLUMN owner_pid INTEGER")


@migration
def m009_request_health(db: Db) -> None:
    """Each answer's health flags, computed once when it is recorded (comma-separated, ""
    when healthy; NULL for answers recorded before: computed when read)."""
    db.ddl("ALTER TABLE requests ADD COLUMN health TEXT")


@migration
def m010_quant_coverage_and_speed(db: Db) -> None:
    """Quant comparisons against a reference that keeps tokens up to a probability mass
    (issue 22): the mass (NULL: an older fixed top-k reference, `top_k` then its k; now the
    most tokens kept per position), the mean mass left uncovered, the compact KLD's upper
    bound, and each model's decode tok/s measured by the comparison itself."""
    for table in ("quant_results", "quant_references"):
        for column in ("mass REAL", "uncovered_mass REAL", "decode_tps REAL",
                       "decode_tps_se REAL"):
            db.ddl(f"ALTER TABLE {table} ADD COLUMN {column}")
    db.ddl("ALTER TABLE quant_results ADD COLUMN kld_upper REAL")


@migration
def m011_model_identity(db: Db) -> None:
    """Each run's model identity (gguf.identity: a GGUF's sha256, else the server's model
    id with its quant and size) and its one display name, so `compare` groups one model
    run embedded, served and imported. Runs stored before keep their old name; a quant
    comparison's id comes from the sha256 its reference stored."""
    db.ddl("ALTER TABLE runs ADD COLUMN model_id TEXT")
    db.ddl("ALTER TABLE runs ADD COLUMN model_name TEXT")
    db.ddl("UPDATE runs SET model_name = model")  # ddl: statements without parameters
    db.ddl(
        "UPDATE runs SET model_id = (SELECT 'sha256:' || q.model_sha256 FROM quant_references q "
        "WHERE q.run_id = runs.id) WHERE kind = 'quant'"
    )
