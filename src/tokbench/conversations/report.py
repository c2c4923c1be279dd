"""A stored conversation run, summarized: what `converse`, `show` and the report print."""

from __future__ import annotations

from dataclasses import dataclass

from tokbench.conversations.slo import Goodput, goodput, parse_slos
from tokbench.conversations.turns import ConversationSummary, summarize
from tokbench.core.config import ConverseConfig
from tokbench.core.records import ConverseSettings, RunInfo
from tokbench.errors import TokbenchError
from tokbench.store.database import Store


def config_of(run: RunInfo) -> ConverseConfig:
    if not isinstance(run.config, ConverseSettings):
        raise TokbenchError(f"run {run.id} is a {run.kind} run, not a conversation run")
    return run.config.converse


@dataclass(frozen=True, slots=True)
class ConversationReport:
    config: ConverseConfig
    summary: ConversationSummary
    goodput: Goodput | None


def conversation_report(store: Store, run_id: str) -> ConversationReport:
    run = store.run(run_id)
    cfg = config_of(run)
    records = store.requests(run_id)
    slos = parse_slos(cfg.slo)
    return ConversationReport(
        cfg,
        summarize(run.target.backend_kind or run.backend, records),
        goodput(slos, records) if slos and records else None,
    )
