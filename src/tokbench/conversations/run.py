"""`tokbench converse`: conversations sent turn by turn, each turn carrying the whole
history, so the server's prompt cache decides how much prefill each turn pays.

Each turn is stored as a request the moment it completes (item id `c003.t01`:
conversation 3, turn 1); a resumed run rebuilds each conversation's history from the
stored answers and asks only the turns not yet stored.
"""

from __future__ import annotations

import math
import queue
import random
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Protocol

from tokbench.backends.base import Backend
from tokbench.backends.registry import open_backend
from tokbench.conversations.capacity import (
    LevelRun,
    LevelStop,
    Over,
    saturated,
    ttft_bound_ms,
)
from tokbench.conversations.lostcost import cost_item_id, parse_lengths
from tokbench.conversations.plan import Conversation, arrival_offsets, conversations, words
from tokbench.conversations.slo import Slo, parse_slos
from tokbench.conversations.turns import item_id
from tokbench.core.config import ConverseConfig, EngineSettings, Sampling
from tokbench.core.metrics import request_metrics
from tokbench.core.records import ConverseSettings, RequestRecord, RunInfo, utc_now
from tokbench.core.trace import ChatRequest
from tokbench.errors import TokbenchError
from tokbench.store.database import Store
from tokbench.store.ledger import RunLedger, resumable

KIND = "converse"
StopRule = Callable[[list[RequestRecord]], bool]


class TurnObserver(Protocol):
    def plan(self, total: int) -> None: ...
    def finished(self, record: RequestRecord) -> None: ...


class _Quiet:
    def plan(self, total: int) -> None:
        pass

    def finished(self, record: RequestRecord) -> None:
        pass


def check_config(cfg: ConverseConfig) -> ConverseConfig:
    """One clear sentence for each setting that cannot work."""
    for name in ("conversations", "turns", "concurrency", "max_tokens"):
        if getattr(cfg, name) < 1:
            raise TokbenchError(f"--{name.replace('_', '-')} must be at least 1")
    for name in ("system_tokens", "shared_prefix_tokens", "user_tokens"):
        if getattr(cfg, name) < 0:
            raise TokbenchError(f"--{name.replace('_', '-')} must be 0 or more")
    if cfg.shared_prefix_tokens > cfg.system_tokens:
        raise TokbenchError("--shared-prefix-tokens cannot exceed --system-tokens")
    if cfg.think_time_s < 0:
        raise TokbenchError("--think-time must be 0 seconds or more")
    if cfg.url is None and cfg.concurrency > 1:
        raise TokbenchError("--concurrency needs a server (--url): the embedded engine serves one")
    arrival_offsets(cfg.arrival, 1, cfg.rate)
    parse_slos(cfg.slo)
    if cfg.lost_cache_cost is not None:
        parse_lengths(cfg.lost_cache_cost)
        if not cfg.prompt_cache:
            raise TokbenchError("--lost-cache-cost compares warm turns with cold: drop --no-cache")
        if cfg.lost_cache_reps < 1:
            raise TokbenchError("--lost-cache-reps must be at least 1")
    return cfg


def open_ledger(
    cfg: ConverseConfig, store: Store, backend: Backend, resume: str | None
) -> RunLedger:
    """Create the conversation run on the run ledger (or mark a resumed one running)."""
    return RunLedger.open(
        store,
        KIND,
        ConverseSettings(cfg),
        backend=backend.kind,
        url=getattr(backend, "base_url", None),
        model=backend.model,
        suite=f"converse:{cfg.source}",
        targets=None if resume else {backend.model: backend.describe()},
        resume=resume,
    )


def _engine(cfg: ConverseConfig) -> EngineSettings:
    # the embedded engine's context holds the longest history asked for (the lost-cache
    # lengths), a user message and an answer
    longest = max(parse_lengths(cfg.lost_cache_cost)) if cfg.lost_cache_cost else 0
    need = longest + cfg.user_tokens * 2 + cfg.max_tokens + 256
    return replace(cfg.engine, n_ctx=max(cfg.engine.n_ctx, need))


def converse(
    cfg: ConverseConfig,
    store: Store,
    *,
    resume: str | None = None,
    observer: TurnObserver | None = None,
    notify: Callable[[str], None] = lambda _msg: None,
    stop_when: StopRule | None = None,
) -> RunInfo:
    """Open the backend, create (or resume) the run, ask every turn not yet stored.
    `stop_when(records)`: checked after each stored turn; True ends the run early
    (status "stopped": a decided or over-saturated capacity level)."""
    if resume:
        old = resumable(store, resume, (KIND,), "tokbench converse").config
        assert isinstance(old, ConverseSettings)  # a converse run keeps ConverseSettings
        cfg = old.converse
    check_config(cfg)
    plan = conversations(cfg)
    backend = open_backend(cfg.connection, notify, _engine(cfg))
    try:
        ledger = open_ledger(cfg, store, backend, resume)
        if cfg.lost_cache_cost is not None:
            return ledger.finish(measure_lost_cost(cfg, backend, ledger, observer or _Quiet()))
        # one backend (one connection) per conversation in flight: a client is not shared
        conn = replace(cfg.connection, kind=backend.kind, model=backend.model)
        extra = [open_backend(conn, notify, _engine(cfg)) for _ in range(cfg.concurrency - 1)]
        try:
            status = execute(cfg, plan, [backend, *extra], ledger, observer or _Quiet(), stop_when)
        finally:
            for b in extra:
                b.close()
        return ledger.finish(status)
    finally:
        backend.close()


def ask(
    backend: Backend, request: ChatRequest, run_id: str, key: str, prompt: str, rep: int = 0
) -> RequestRecord:
    """Send one turn; its record, keeping `prompt` (the new question, not the whole
    history) as its prompt. A failure is a record too: the run goes on."""
    started_at = utc_now()
    trace = backend.stream(request)
    return RequestRecord(
        run_id=run_id,
        item_id=key,
        rep=rep,
        started_at=started_at,
        status="error" if trace.error else "ok",
        error=trace.error,
        prompt=prompt,
        answer=trace.text("answer"),
        thinking=trace.text("thinking"),
        metrics=request_metrics(trace),
    )


def execute(
    cfg: ConverseConfig,
    plan: list[Conversation],
    backends: list[Backend],
    ledger: RunLedger,
    observer: TurnObserver,
    stop_when: StopRule | None = None,
) -> str:
    """Run the conversations (one per backend at a time, each starting at its arrival
    offset); worker threads send, this thread stores. Returns the run's status."""
    run_id = ledger.run_id
    done = {r.item_id: r for r in ledger.requests()}
    observer.plan(sum(len(c.users) for c in plan))
    offsets = arrival_offsets(cfg.arrival, len(plan), cfg.rate, cfg.seed)
    out: queue.Queue[tuple[RequestRecord, threading.Event]] = queue.Queue()
    stop = threading.Event()
    t0 = time.monotonic()
    sampling = Sampling(temperature=cfg.temperature, seed=cfg.seed)

    free: queue.Queue[Backend] = queue.Queue()
    for b in backends:
        free.put(b)

    def one(index: int) -> None:
        backend = free.get()
        try:
            talk(index, backend)
        finally:
            free.put(backend)

    def talk(index: int, backend: Backend) -> None:
        conv = plan[index]
        delay = t0 + offsets[index] - time.monotonic()
        if delay > 0 and stop.wait(delay):
            return
        history: list[tuple[str, str]] = [("system", conv.system)] if conv.system else []
        for turn, user in enumerate(conv.users):
            if stop.is_set():
                return
            history.append(("user", user))
            key = item_id(index, turn)
            if key in done:
                history.append(("assistant", done[key].answer))
                continue
            if turn and cfg.think_time_s and stop.wait(cfg.think_time_s):
                return
            request = ChatRequest(tuple(history), cfg.max_tokens, sampling)
            record = ask(backend, request, run_id, key, user)
            answer = record.answer
            # wait until this turn is stored and the stop rule has seen it, so that no
            # turn is sent after the rule stopped the run
            seen = threading.Event()
            out.put((record, seen))
            seen.wait()
            # a failed turn leaves an empty answer: the conversation goes on, as a user's would
            history.append(("assistant", answer))

    pool = ThreadPoolExecutor(max_workers=len(backends), thread_name_prefix="converse")
    futures = [pool.submit(one, i) for i in range(len(plan))]
    status = "interrupted"
    stored: list[RequestRecord] = []

    def store_one(timeout_s: float) -> None:
        try:
            record, seen = out.get(timeout=timeout_s)
        except queue.Empty:
            return
        try:
            ledger.add_request(record)
            observer.finished(record)
            stored.append(record)
            if stop_when is not None and not stop.is_set() and stop_when(stored):
                stop.set()  # turns in flight finish and are kept
        finally:
            seen.set()

    try:
        while not all(f.done() for f in futures) or not out.empty():
            store_one(0.1)
        for f in futures:
            f.result()  # a worker's own bug surfaces here, not silently
        records = ledger.requests()
        status = "done" if any(r.status == "ok" for r in records) else "failed"
        if stop.is_set() and status == "done":
            status = "stopped"
    except KeyboardInterrupt:
        stop.set()
    finally:
        stop.set()
        pool.shutdown(wait=False, cancel_futures=True)
        while not all(f.done() for f in futures) or not out.empty():
            store_one(0.1)  # turns that finish while stopping are kept too
    return status


def measure_lost_cost(
    cfg: ConverseConfig, backend: Backend, ledger: RunLedger, observer: TurnObserver
) -> str:
    """For each history length, `lost_cache_reps` pairs: a fresh history with a question
    (cold: nothing of it can be cached), then the same history with another question
    (warm: the history is in the cache). Each turn is stored as it completes."""
    lengths = parse_lengths(cfg.lost_cache_cost or "")
    done = {r.item_id for r in ledger.requests()}
    observer.plan(2 * cfg.lost_cache_reps * len(lengths))
    sampling = Sampling(temperature=cfg.temperature, seed=cfg.seed)
    try:
        for length in lengths:
            for rep in range(cfg.lost_cache_reps):
                rng = random.Random(f"{cfg.seed}:lost:{length}:{rep}")
                # a head of its own (the run's id: not even an earlier run of the same
                # settings on this server shares the first words), so the cold turn is cold
                # (the pair's own numbers first: what it shares with the pair before is
                # only the chat template and "history ")
                head = f"history {length}.{rep} of {ledger.run_id}: "
                history = head + words(rng, length)
                for which in ("cold", "warm"):
                    key = cost_item_id(length, rep, which)
                    question = f"{which} question: " + words(rng, cfg.user_tokens)
                    if key in done:
                        continue
                    # the history in the user message, not a system prompt: some chat
                    # formats drop system messages (llama-cpp-python's gemma)
                    messages = (("user", f"{history}\n\n{question}"),)
                    request = ChatRequest(messages, cfg.max_tokens, sampling)
                    record = ask(backend, request, ledger.run_id, key, question, rep)
                    ledger.add_request(record)
                    observer.finished(record)
    except KeyboardInterrupt:
        return "interrupted"
    return "done" if any(r.status == "ok" for r in ledger.requests()) else "failed"


def server_levels(
    cfg: ConverseConfig,
    store: Store,
    slos: Sequence[Slo],
    *,
    max_requests: int = 60,
    notify: Callable[[str], None] = lambda _msg: None,
    over: Over = "concurrency",
) -> Callable[[float], LevelRun]:
    """Measure a level as a conversation run of its own (stored, visible in history):
    `load` conversations in flight (closed loop), or (`over="rate"`) conversations
    started at `load` a second as a Poisson process, each on a connection of its own
    (open loop: a slow server does not slow the arrivals); until the level's interval
    decides, it saturates, or `max_requests` turns were asked."""

    def measure(load: float) -> LevelRun:
        per_conversation = max(1, cfg.turns)
        if over == "rate":
            n = max(2, math.ceil(max_requests / per_conversation))
            level_cfg = replace(
                cfg, concurrency=n, conversations=n, arrival="poisson", rate=load,
                seed=cfg.seed + round(1000 * load),
            )  # fmt: skip
            notify(f"capacity: measuring {load:g} new conversations a second")
        else:
            n = max(int(load), math.ceil(max_requests / per_conversation))
            # conversations of their own per level: none finds its prefix cached by another
            level_cfg = replace(
                cfg, concurrency=int(load), conversations=n, arrival="closed",
                seed=cfg.seed + 1000 * int(load),
            )  # fmt: skip
            notify(f"capacity: measuring {load:g} conversation(s) at once")
        rule = LevelStop(slos)
        run = converse(level_cfg, store, notify=notify, stop_when=rule)
        records = tuple(store.requests(run.id))
        over_saturated = rule.saturated or saturated(records, ttft_bound_ms(slos))
        return LevelRun(records, over_saturated, run.id)

    return measure
