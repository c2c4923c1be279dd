"""`tokbench converse`: multi-turn conversations, the prompt cache and goodput under SLOs."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

import click

from tokbench.cli.options import connection_options, db_option, emit, format_option
from tokbench.render.outputs import Outputs

if TYPE_CHECKING:
    from tokbench.core.config import Connection

CONVERSE: Outputs[Any] = Outputs()  # (run, ConversationReport)
CAPACITY: Outputs[Any] = Outputs()  # a Capacity


@CONVERSE.add("table", "console")
def _converse_table(v: Any) -> list[Any]:
    from tokbench.render.conversation import conversation_view

    return conversation_view(*v)


@CONVERSE.add("md", "text")
def _converse_markdown(v: Any) -> str:
    from tokbench.render.conversation import conversation_markdown

    return conversation_markdown(*v)


@CONVERSE.add("json", "json")
def _converse_json(v: Any) -> Any:
    from tokbench.render.conversation import conversation_json

    return conversation_json(*v)


@CAPACITY.add("table", "console")
def _capacity_table(cap: Any) -> list[Any]:
    from tokbench.render.conversation import capacity_view

    return capacity_view(cap)


@CAPACITY.add("md", "text")
def _capacity_markdown(cap: Any) -> str:
    from tokbench.render.conversation import capacity_markdown

    return capacity_markdown(cap)


@CAPACITY.add("json", "json")
def _capacity_json(cap: Any) -> Any:
    from tokbench.render.conversation import capacity_json

    return capacity_json(cap)


@click.command()
@connection_options(
    url_help="The server (llama-server, vLLM, SGLang, Ollama, LM Studio...). "
    "Without it: the embedded engine (llama.cpp in process, the bundled model or "
    "--model-path), which keeps its context's KV cache between turns.",
    server_extras=False,
)
@click.option(
    "--source",
    default="synthetic",
    show_default=True,
    metavar="synthetic|seed5|FILE.jsonl",
    help="synthetic: generated conversations (the lengths below); seed5: the seed "
    "article's five questions as one five-turn conversation; or a JSONL file, one "
    'conversation a line: [{"role": "system"|"user", "content": ...}, ...].',
)
@click.option(
    "-n",
    "--conversations",
    default=4,
    show_default=True,
    help="Conversations (users); a file's are repeated in turn to reach it.",
)
@click.option(
    "-t", "--turns", default=4, show_default=True, help="Turns per synthetic conversation."
)
@click.option(
    "--system-tokens",
    default=64,
    show_default=True,
    help="Synthetic system prompt length (words, about a token each).",
)
@click.option(
    "--shared-prefix-tokens",
    default=0,
    show_default=True,
    help="Words every system prompt shares (a prefix reusable across users).",
)
@click.option("--user-tokens", default=32, show_default=True, help="Words per user message.")
@click.option("--max-tokens", default=32, show_default=True, help="Tokens per answer at most.")
@click.option(
    "-c",
    "--concurrency",
    default=1,
    show_default=True,
    help="Conversations in flight at once (more than the server's slots evict).",
)
@click.option(
    "--think-time",
    "think_time_s",
    default=0.0,
    show_default=True,
    metavar="SECONDS",
    help="A user's pause between an answer and the next question.",
)
@click.option(
    "--arrival",
    default="closed",
    show_default=True,
    type=click.Choice(["closed", "constant", "poisson", "burst"]),
    help="closed: start conversations as slots free up (-c); constant, poisson, "
    "burst: start them on a clock at --rate.",
)
@click.option("--rate", type=float, help="Conversations started per second (open arrivals).")
@click.option(
    "--no-cache",
    is_flag=True,
    help="Turn the prompt cache off: llama-server gets cache_prompt: false, vLLM a fresh "
    "cache_salt per turn, the embedded engine empties its context before each turn; every "
    "turn pays its whole history's prefill (servers without such a switch ignore it).",
)
@click.option(
    "--slo",
    metavar="SPEC",
    help="Objectives, e.g. ttft_p90=3s,itl_p90=250ms,e2e_p99=60s,tps_p90=10: "
    "attainment with its interval, and goodput (requests/s meeting all).",
)
@click.option(
    "--capacity",
    "capacity_max",
    type=int,
    metavar="MAX",
    help="Search the most conversations at once (up to MAX) that meet --slo: double, then "
    "bisect; each level is a run of its own, decided by its interval (meets / fails / "
    "undecided), stopped early when over-saturated.",
)
@click.option(
    "--capacity-over",
    default="concurrency",
    show_default=True,
    type=click.Choice(["concurrency", "rate"]),
    help="With --capacity: search conversations at once (closed loop), or new "
    "conversations a second (Poisson arrivals, starting at --rate or 0.5/s, up to MAX/s).",
)
@click.option(
    "--level-requests",
    default=60,
    show_default=True,
    help="With --capacity: turns asked at most per level (more: fewer undecided levels).",
)
@click.option(
    "--lost-cache-cost",
    metavar="LENGTHS",
    help="Measure what losing the prompt cache costs at these history lengths (tokens, "
    "e.g. 4k,8k,16k): per length, pairs of a fresh history (cold) and the same history "
    "again (warm); prints the cost in seconds of TTFT and prefill with its interval. "
    "The server's context must hold the longest (llama-server -c).",
)
@click.option(
    "--lost-cache-reps",
    default=3,
    show_default=True,
    help="With --lost-cache-cost: cold/warm pairs per length.",
)
@click.option("--temperature", default=0.0, show_default=True, type=float)
@click.option("--seed", default=0, show_default=True, help="Seed of the synthetic text.")
@click.option("--resume", metavar="RUN_ID", help="Continue an interrupted conversation run.")
@click.option("--no-progress", is_flag=True, help="No progress on stderr.")
@db_option
@format_option(*CONVERSE.names)
def converse(
    connection: Connection,
    source: str,
    conversations: int,
    turns: int,
    system_tokens: int,
    shared_prefix_tokens: int,
    user_tokens: int,
    max_tokens: int,
    concurrency: int,
    think_time_s: float,
    arrival: str,
    rate: float | None,
    no_cache: bool,
    slo: str | None,
    capacity_max: int | None,
    capacity_over: str,
    level_requests: int,
    lost_cache_cost: str | None,
    lost_cache_reps: int,
    temperature: float,
    seed: int,
    resume: str | None,
    no_progress: bool,
    db: str | None,
    fmt: str,
) -> None:
    """Talk to a model as people do: N conversations of T turns, each turn resending the
    whole history, so the server's prompt cache decides what each turn costs.

    \b
    Per turn: TTFT, context length, prefill tokens the server computed, tokens it reused
    from its cache, the hit rate (read from the server's own counters: llama-server
    timings, vLLM/SGLang cached_tokens, the embedded engine's own count; "not reported"
    where it says nothing, as Ollama, which counts only the tokens it evaluated) and decode
    speed. Every turn is stored as it completes (resumable; see
    tokbench show / export).

    \b
    tokbench converse --url http://127.0.0.1:8080 -n 4 -t 6 -c 4
    tokbench converse --url URL --no-cache          the cost of a lost cache
    tokbench converse --url URL --source seed5      the seed questions as one conversation
    tokbench converse --url URL -c 8 --slo ttft_p90=3s,tps_p90=10
    tokbench converse --url URL --slo ttft_p90=3s --capacity 16   the load it still serves
    tokbench converse --url URL --slo ttft_p90=3s --capacity 8 --capacity-over rate
    tokbench converse --url URL --lost-cache-cost 4k,8k,16k   seconds a lost cache costs
    """
    from tokbench.cli.options import open_store, stderr_console
    from tokbench.conversations.run import converse as run_converse
    from tokbench.conversations.turns import conversation_report
    from tokbench.core.config import ConverseConfig

    cfg = ConverseConfig(
        replace(connection, prompt_cache=not no_cache),
        source=source,
        conversations=conversations,
        turns=turns,
        system_tokens=system_tokens,
        shared_prefix_tokens=shared_prefix_tokens,
        user_tokens=user_tokens,
        max_tokens=max_tokens,
        concurrency=concurrency,
        think_time_s=think_time_s,
        arrival=arrival,
        rate=rate,
        seed=seed,
        temperature=temperature,
        slo=slo,
        lost_cache_cost=lost_cache_cost,
        lost_cache_reps=lost_cache_reps,
    )
    err = stderr_console()
    store = open_store(db)
    if capacity_max is not None:
        _capacity(cfg, store, capacity_max, capacity_over, level_requests, err, fmt)
        return
    progress = _Progress(err) if not no_progress else None
    run = run_converse(cfg, store, resume=resume, observer=progress, notify=err.print)
    report = conversation_report(store, run.id)
    emit(CONVERSE, fmt, (run, report))
    if run.status == "failed":
        raise SystemExit(1)


class _Progress:
    def __init__(self, console: Any) -> None:
        self.console = console
        self.total = 0
        self.n = 0

    def plan(self, total: int) -> None:
        self.total = total

    def finished(self, record: Any) -> None:
        self.n += 1
        m = record.metrics
        ttft = f"{m.ttft_ms:.0f} ms" if m and m.ttft_ms is not None else "-"
        state = "failed" if record.status != "ok" else f"TTFT {ttft}"
        self.console.print(f"[{self.n}/{self.total}] {record.item_id}: {state}", markup=False)


def _capacity(
    cfg: Any, store: Any, max_load: int, over: Any, per_level: int, err: Any, fmt: str
) -> None:
    from tokbench.conversations.capacity import search_capacity
    from tokbench.conversations.run import check_config, server_levels
    from tokbench.conversations.slo import parse_slos
    from tokbench.errors import TokbenchError

    slos = parse_slos(cfg.slo)
    if not slos:
        raise TokbenchError("--capacity needs objectives to meet: give --slo, e.g. ttft_p90=3s")
    if max_load < 1 or per_level < 1:
        raise TokbenchError("--capacity and --level-requests must be at least 1")
    check_config(cfg)
    if over == "rate":
        if cfg.url is None:
            raise TokbenchError("--capacity-over rate needs a server (--url)")
        if cfg.rate is not None and not cfg.rate > 0:
            raise TokbenchError("--rate must be above 0 conversations a second")
    unit = "/s" if over == "rate" else " at once"
    measure = server_levels(cfg, store, slos, max_requests=per_level, notify=err.print, over=over)
    cap = search_capacity(
        measure,
        slos,
        max_load=max_load,
        over=over,
        start=(cfg.rate or 0.5) if over == "rate" else 1,
        on_level=lambda lv: err.print(f"  {lv.load:g}{unit}: {lv.verdict}", markup=False),
    )
    emit(CAPACITY, fmt, cap)
