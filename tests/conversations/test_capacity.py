"""The capacity search against a paced fake server whose capacity is known: two slots,
the rest queue (the wait shows in TTFT)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from tests.testing.fakeserver import FakeConfig, FakeServer
from tokbench.conversations.capacity import search_capacity
from tokbench.conversations.run import server_levels
from tokbench.conversations.slo import parse_slos
from tokbench.core.config import Connection, ConverseConfig
from tokbench.store.database import Store

# service time ~0.28 s: within two slots TTFT ~0.25 s; a queued request waits ~0.28 s more
PACED = FakeConfig(ttft_s=0.25, itl_s=0.01, n_tokens=3, slots=2)


def _cfg(url: str, slo: str) -> ConverseConfig:
    return ConverseConfig(
        Connection(url=url, kind="openai", prompt_cache=True),
        turns=2, system_tokens=8, user_tokens=4, max_tokens=3, slo=slo,
    )  # fmt: skip


def test_capacity_search_finds_the_servers_two_slots(tmp_path: Path) -> None:
    slos = parse_slos("ttft_p90=400ms")
    with FakeServer(PACED) as srv:
        store = Store(tmp_path / "runs.db")
        measure = server_levels(_cfg(srv.url, "ttft_p90=400ms"), store, slos, max_requests=60)
        cap = search_capacity(measure, slos, max_load=8)
    assert cap.outcome == "found", [(lv.load, lv.verdict, lv.goodput.total) for lv in cap.levels]
    assert cap.load == 2
    verdicts = {lv.load: lv.verdict for lv in cap.levels}
    assert verdicts[1] == verdicts[2] == "meets" and verdicts[3] == "fails"
    assert cap.sentence.startswith("this box serves 2 conversations at once at ttft p90 ≤ 400 ms")
    # every level is a stored conversation run of its own
    assert len(store.runs()) == len(cap.levels)


def test_too_few_requests_to_decide_says_undecided(tmp_path: Path) -> None:
    slos = parse_slos("ttft_p90=400ms")
    with FakeServer(PACED) as srv:
        store = Store(tmp_path / "runs.db")
        measure = server_levels(_cfg(srv.url, "ttft_p90=400ms"), store, slos, max_requests=6)
        cap = search_capacity(measure, slos, max_load=8)
    # 6 of 6 met, but a Wilson interval on 6 requests cannot show a share >= 90 %
    assert cap.outcome == "undecided" and cap.undecided_at == 1 and cap.load == 0
    assert cap.levels[0].goodput.good == 6
    assert cap.sentence.startswith("undecided")


def test_no_turn_is_sent_after_the_stop_rule_fired(tmp_path: Path) -> None:
    from tokbench.conversations.run import converse

    store = Store(tmp_path / "runs.db")
    cfg = replace(_cfg("", "ttft_p90=1s"), conversations=4, turns=3, concurrency=2)
    with FakeServer(FakeConfig(ttft_s=0.02, itl_s=0.01, n_tokens=3)) as srv:
        run = converse(
            replace(cfg, connection=replace(cfg.connection, url=srv.url)),
            store,
            stop_when=lambda recs: len(recs) >= 3,
        )
        sent = [q for q in srv.requests if "messages" in q]
    assert run.status == "stopped"
    stored = store.requests(run.id)
    # the third stored turn stops the run: only the other conversation's turn in flight
    assert len(stored) == len(sent) and 3 <= len(stored) <= 4


# one slot, 50 ms a request: it cannot serve more than 20 requests a second
ONE_SLOT = FakeConfig(ttft_s=0.04, itl_s=0.005, n_tokens=3, slots=1)
SERVICE_S = 0.04 + 2 * 0.005


def test_capacity_over_arrival_rate_finds_a_rate_below_the_servers_throughput(
    tmp_path: Path,
) -> None:
    slos = parse_slos("ttft_p50=200ms")
    cfg = replace(_cfg("", "ttft_p50=200ms"), turns=1)
    with FakeServer(ONE_SLOT) as srv:
        store = Store(tmp_path / "runs.db")
        measure = server_levels(
            replace(cfg, connection=replace(cfg.connection, url=srv.url)),
            store,
            slos,
            max_requests=60,
            over="rate",
        )
        cap = search_capacity(measure, slos, max_load=64, over="rate", start=4)
    verdicts = {lv.load: lv.verdict for lv in cap.levels}
    assert cap.over == "rate"
    # 4 a second keeps the slot busy a fifth of the time: most requests never queue
    assert verdicts[4] == "meets", verdicts
    # past the throughput (1 / service time) the queue never drains (at it exactly, a
    # short level may still pass before the queue builds)
    assert all(v == "fails" for load, v in verdicts.items() if load > 1.05 / SERVICE_S), verdicts
    assert cap.outcome in ("found", "undecided"), verdicts
    assert 4 <= cap.load <= 1 / SERVICE_S
    if cap.outcome == "found":  # bisected to within 12.5 % of the first rate that failed
        failed = min(load for load, v in verdicts.items() if v == "fails")
        assert failed - cap.load <= 0.125 * failed
        assert "new conversations a second (Poisson arrivals)" in cap.sentence
    # every level is a stored run of Poisson arrivals at its rate
    runs = store.runs()
    assert len(runs) == len(cap.levels)
