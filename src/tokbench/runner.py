"""Run a suite against a backend, storing each request the moment it completes."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from tokbench.backends.base import Backend
from tokbench.metrics import request_metrics
from tokbench.store import RequestRecord, RunInfo, Store
from tokbench.suite import Item, Suite


def new_run_id() -> str:
    """Sortable by time and unique across hosts writing one shared store: UTC time, a tag
    of the host's name, random bits: 20261128-120501-7c2e-3fa9c1."""
    import hashlib

    from tokbench.host import host_name

    tag = hashlib.sha256(host_name().encode()).hexdigest()[:4]
    return f"{time.strftime('%Y%m%d-%H%M%S', time.gmtime())}-{tag}-{secrets.token_hex(3)}"


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


class Observer(Protocol):
    def started(self, item: Item, rep: int, index: int, total: int) -> None: ...
    def token(self) -> None: ...
    def finished(self, record: RequestRecord) -> None: ...


class QuietObserver:
    def started(self, item: Item, rep: int, index: int, total: int) -> None:
        pass

    def token(self) -> None:
        pass

    def finished(self, record: RequestRecord) -> None:
        pass


@dataclass(frozen=True, slots=True)
class Outcome:
    status: str  # done | failed | interrupted
    ok: int
    failed: int


def execute(
    backend: Backend,
    suite: Suite,
    store: Store,
    run_id: str,
    *,
    repeat: int = 1,
    observer: Observer | None = None,
    after_request: Callable[[], None] | None = None,
) -> Outcome:
    """Send every (rep, item) not yet stored for `run_id`; returns how the run ended.

    Ctrl-C ends the run as "interrupted" (not an exception): the request in flight is
    dropped, everything finished before it is already stored.

    Repetitions go round the whole suite (all items, then all again), like a person
    asking the questions in turn; requests already stored (a resumed run) are skipped.
    """
    obs = observer or QuietObserver()
    done = {(r.item_id, r.rep) for r in store.requests(run_id)}
    plan = [(rep, item) for rep in range(repeat) for item in suite.items]
    ok = failed = 0
    status = "interrupted"
    try:
        for index, (rep, item) in enumerate(plan):
            if (item.id, rep) in done:
                continue
            obs.started(item, rep, index, len(plan))
            started_at = utc_now()
            trace = backend.stream(item.request(), obs.token)
            metrics = request_metrics(trace)
            grade = None
            if item.grader or item.grade_spec:
                from tokbench.grade.registry import grade_answer

                grade = grade_answer(
                    item.grader,
                    trace.text("answer"),
                    metrics.answer_state,
                    trace.error,
                    item.grade_spec,
                    item.prompt,
                )
            record = RequestRecord(
                run_id=run_id,
                item_id=item.id,
                rep=rep,
                started_at=started_at,
                status="error" if trace.error else "ok",
                error=trace.error,
                prompt=item.prompt,
                answer=trace.text("answer"),
                thinking=trace.text("thinking"),
                metrics=metrics,
                grade=grade,
            )
            store.add_request(record)
            if trace.error:
                failed += 1
            else:
                ok += 1
            obs.finished(record)
            if after_request:
                after_request()
        all_recs = store.requests(run_id)
        status = "done" if any(r.status == "ok" for r in all_recs) else "failed"
    except KeyboardInterrupt:
        status = "interrupted"  # what finished is stored; the run can be resumed
    finally:
        store.update_run(run_id, status=status, finished_at=utc_now())
    return Outcome(status, ok, failed)


def run_folder(base: Path, run_id: str) -> Path:
    return base / run_id


@dataclass(frozen=True, slots=True)
class RunConfig:
    """Everything `tokbench run` needs; stored with the run so it can be resumed."""

    suite: str = "seed5"
    url: str | None = None
    backend: str | None = None  # None: detect the server kind
    model: str | None = None
    api_key_env: str | None = None
    model_path: str | None = None
    threads: int | None = None
    n_ctx: int = 4096
    chat_format: str | None = None
    repeat: int = 1
    timeout_s: float = 300.0
    max_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    top_k: int | None = None
    seed: int | None = None
    think: bool | None = None  # Ollama's `think` option; None: the server's default
    keep_alive: str | None = None  # Ollama
    prompt_cache: bool = False  # llama-server's cache_prompt
    gguf: str | None = None  # a server's model file, when it is on this machine (speed bound)
    extra_body: dict[str, Any] | None = None  # merged into every request body

    def overrides(self) -> dict[str, object]:
        return {
            "max_tokens": self.max_tokens,
            "temperature": self.temperature,
            "top_p": self.top_p,
            "top_k": self.top_k,
            "seed": self.seed,
            "extra_body": self.extra_body,
        }


@dataclass(frozen=True, slots=True)
class RunResult:
    run: RunInfo
    records: list[RequestRecord]
    outcome: Outcome
    folder: Path


def open_backend(config: RunConfig, notify: Callable[[str], None]) -> Backend:
    """The embedded engine when no URL is given, else an OpenAI-compatible server."""
    import os

    from tokbench.errors import TokbenchError

    if config.url:
        from tokbench.backends.ollama import OllamaBackend
        from tokbench.backends.openai import OpenAIBackend
        from tokbench.detect import detect

        key = None
        if config.api_key_env:
            key = os.environ.get(config.api_key_env)
            if not key:
                raise TokbenchError(
                    f"environment variable {config.api_key_env} is not set or empty: "
                    f"export {config.api_key_env}=YOUR_KEY first"
                )
        kind = config.backend
        if kind is None:
            found = detect(config.url, api_key=key, api_key_env=config.api_key_env)
            kind = found.kind
            notify(f"{found.url}: {kind} {found.version or ''}".rstrip())
        if kind == "ollama":
            return OllamaBackend(
                config.url,
                config.model,
                api_key=key,
                api_key_env=config.api_key_env,
                timeout_s=config.timeout_s,
                keep_alive=config.keep_alive,
                think=config.think,
            )
        return OpenAIBackend(
            config.url,
            config.model,
            flavor=kind,
            api_key=key,
            api_key_env=config.api_key_env,
            timeout_s=config.timeout_s,
            prompt_cache=config.prompt_cache,
        )
    from tokbench.backends.embedded import EmbeddedBackend
    from tokbench.host import physical_cores
    from tokbench.model_asset import bundled_model_path

    path = Path(config.model_path) if config.model_path else bundled_model_path(notify)
    notify(f"loading {path.name} into llama.cpp")
    return EmbeddedBackend(
        path,
        threads=config.threads or physical_cores(),
        n_ctx=config.n_ctx,
        chat_format=config.chat_format,
    )


def run_suite(
    config: RunConfig,
    store: Store,
    runs_base: Path,
    *,
    resume: str | None = None,
    observer: Observer | None = None,
    notify: Callable[[str], None] = lambda _msg: None,
) -> RunResult:
    """Open the backend, create (or resume) the run, send every request, keep everything."""
    from dataclasses import asdict, replace

    from tokbench import __version__
    from tokbench.host import host_summary, physical_cores
    from tokbench.results import write_run_folder
    from tokbench.store import RunInfo
    from tokbench.suite import load_suite

    if resume:
        old = store.run(resume)
        config = RunConfig(**old.config["run_config"])
    suite = load_suite(config.suite, config.overrides())
    backend = open_backend(config, notify)
    try:
        if not config.url:
            config = replace(config, threads=config.threads or physical_cores())
        target = {**backend.describe(), "backend_kind": backend.kind}
        target.update(speed_bound(config.gguf or target.get("gguf_path")))
        if resume:
            run = store.run(resume)
            store.update_run(run.id, status="running", finished_at=None)
        else:
            run = RunInfo(
                id=new_run_id(),
                created_at=utc_now(),
                status="running",
                kind="run",
                tokbench_version=__version__,
                backend=backend.kind,
                url=getattr(backend, "base_url", None),
                model=backend.model,
                suite=suite.name,
                host_name=None,
                config={
                    "run_config": asdict(config),
                    "suite_source": suite.source,
                    "repeat": config.repeat,
                    "threads": config.threads,
                    "items": [
                        {"id": i.id, "max_tokens": i.max_tokens, "sampling": asdict(i.sampling)}
                        for i in suite.items
                    ],
                },
                target=target,
                host={**host_summary(), "hw": _hw_probe()},
            )
            run = replace(run, host_name=run.host.get("hostname"))
            store.create_run(run)
        folder = run_folder(runs_base, run.id)

        def save() -> None:
            write_run_folder(folder, store.run(run.id), store.requests(run.id))

        try:
            outcome = execute(
                backend,
                suite,
                store,
                run.id,
                repeat=config.repeat,
                observer=observer,
                after_request=save,
            )
        finally:
            save()
        return RunResult(store.run(run.id), store.requests(run.id), outcome, folder)
    finally:
        backend.close()


def speed_bound(gguf_path: str | None) -> dict[str, object]:
    """The decode bound of a run whose model file is known here and whose host bandwidth
    was measured (`tokbench hw --bandwidth`): kept with the run."""
    from tokbench.errors import TokbenchError
    from tokbench.hwstore import load_bandwidth

    bw = load_bandwidth()
    if not gguf_path or bw is None or not Path(gguf_path).is_file():
        return {}
    from tokbench.gguf import read_model
    from tokbench.gguf_analysis import analyze

    try:
        a = analyze(read_model(Path(gguf_path)))
    except TokbenchError:
        return {}
    return {
        "bandwidth_gbs": bw,
        "bytes_per_token": a.bytes_per_token,
        "bound_tps": bw * 1e9 / a.bytes_per_token,
    }


def _hw_probe() -> dict[str, object]:
    """The fuller host probe (ISA, caches, NUMA, memory), stored with every run."""
    from tokbench.hw import probe

    return probe()
