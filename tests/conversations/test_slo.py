"""Objectives: parsing, attainment with its Wilson interval, goodput; arrivals; plans."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from tokbench.conversations.plan import (
    arrival_offsets,
    conversations,
    from_file,
    seed_conversation,
)
from tokbench.conversations.slo import Slo, attainment, goodput, parse_slos
from tokbench.core.config import ConverseConfig
from tokbench.core.records import RequestMetrics, RequestRecord
from tokbench.errors import TokbenchError


def _metrics(ttft_ms: float, total_ms: float = 1000.0, tps: float = 20.0) -> RequestMetrics:
    nones = dict.fromkeys(RequestMetrics.__dataclass_fields__)
    return replace(
        RequestMetrics(**nones),  # type: ignore[arg-type]
        ttft_ms=ttft_ms,
        total_ms=total_ms,
        decode_tps=tps,
    )


def _record(i: int, ttft_ms: float, status: str = "ok") -> RequestRecord:
    return RequestRecord(
        "r", f"c{i:03d}.t00", 0, f"2026-12-06T10:00:{i:02d}.000+00:00", status, None,
        "q", "a", "", _metrics(ttft_ms),
    )  # fmt: skip


def test_parse_slos_reads_times_and_rates() -> None:
    slos = parse_slos("ttft_p90=3s, itl_p90=250ms,e2e_p99=60s,tps_p50=10")
    assert slos == (
        Slo("ttft", 0.9, 3000.0),
        Slo("itl", 0.9, 250.0),
        Slo("e2e", 0.99, 60000.0),
        Slo("tps", 0.5, 10.0),
    )
    assert slos[0].label == "ttft p90 ≤ 3 s" and slos[3].label == "tps p50 ≥ 10 tok/s"
    assert parse_slos(None) == ()


@pytest.mark.parametrize(
    ("spec", "says"),
    [
        ("ttft=3s", "cannot read 'ttft=3s'"),
        ("latency_p90=3s", "METRIC one of"),
        ("ttft_p90=3", "give the time's unit"),
        ("tps_p90=10ms", "without a unit"),
        ("ttft_p0=3s", "between 0 and 100"),
    ],
)
def test_a_bad_slo_gets_one_sentence(spec: str, says: str) -> None:
    with pytest.raises(TokbenchError, match=says) as err:
        parse_slos(spec)
    assert "\n" not in str(err.value)


def test_attainment_is_decided_by_its_interval_not_its_point() -> None:
    slo = Slo("ttft", 0.9, 500.0)
    few = [_record(i, 100.0) for i in range(5)]
    many = [_record(i, 100.0) for i in range(50)]
    assert attainment(slo, few).share == 1.0 and attainment(slo, few).verdict == "undecided"
    assert attainment(slo, many).verdict == "meets"
    half = [_record(i, 100.0 if i % 2 else 900.0) for i in range(30)]
    assert attainment(slo, half).verdict == "fails"


def test_goodput_counts_requests_meeting_every_objective_per_second() -> None:
    recs = [_record(i, 100.0 if i < 8 else 900.0) for i in range(10)]
    recs.append(_record(10, 100.0, status="error"))  # a failed request meets nothing
    g = goodput(parse_slos("ttft_p90=500ms"), recs)
    assert (g.good, g.total) == (8, 11)
    assert g.span_s == pytest.approx(11.0)  # sends 0..10 s, the last ends 1 s later
    assert g.rps == pytest.approx(8 / 11)
    assert g.low_rps < g.rps < g.high_rps
    # 8 of 11 (73 %) against 90 %: eleven requests cannot tell it apart from 90 %
    assert g.verdict == "undecided" and g.attainments[0].high >= 0.9


def test_arrival_patterns() -> None:
    assert arrival_offsets("closed", 3, None) == [0.0, 0.0, 0.0]
    assert arrival_offsets("constant", 3, 2.0) == [0.0, 0.5, 1.0]
    assert arrival_offsets("burst", 6, 4.0) == [0.0] * 4 + [1.0] * 2
    poisson = arrival_offsets("poisson", 200, 10.0, seed=1)
    assert poisson == sorted(poisson) and 15 < poisson[-1] < 25  # mean gap 0.1 s
    with pytest.raises(TokbenchError, match="needs --rate"):
        arrival_offsets("poisson", 3, None)


def test_synthetic_conversations_share_their_prefix_and_differ_after_it() -> None:
    cfg = ConverseConfig(conversations=3, turns=2, system_tokens=20, shared_prefix_tokens=12)
    convs = conversations(cfg)
    prefix = convs[0].system.split()[:12]
    assert all(c.system.split()[:12] == prefix for c in convs)
    assert len({c.system for c in convs}) == 3 and all(len(c.users) == 2 for c in convs)
    assert conversations(cfg) == convs  # the same seed asks the same


def test_seed_conversation_is_the_five_questions() -> None:
    conv = seed_conversation()
    assert len(conv.users) == 5 and "9.11" in conv.users[1]


def test_conversation_file_and_its_errors(tmp_path: Path) -> None:
    good = tmp_path / "c.jsonl"
    good.write_text(
        json.dumps([{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"},
                    {"role": "assistant", "content": "ignored"},
                    {"role": "user", "content": "and?"}]) + "\n\n",
        "utf-8",
    )  # fmt: skip
    (conv,) = from_file(good)
    assert conv.system == "be brief" and conv.users == ("hi", "and?")
    bad = tmp_path / "bad.jsonl"
    for text, says in (
        ("{not json", "1: not JSON"),
        ('{"role": "user"}', "expected a list"),
        ('[{"role": "system", "content": "x"}]', "without a user message"),
        ("", "no conversations"),
    ):
        bad.write_text(text, "utf-8")
        with pytest.raises(TokbenchError, match=says):
            from_file(bad)
    with pytest.raises(TokbenchError, match="cannot read"):
        from_file(tmp_path / "missing.jsonl")


def test_saturation_is_ttft_growing_past_its_objective_not_a_slow_level() -> None:
    from tokbench.conversations.capacity import LevelStop, saturated

    growing = [_record(i, 200.0 + 150.0 * i + (40.0 if i % 2 else -40.0)) for i in range(12)]
    slow_but_steady = [_record(i, 3000.0 + (300.0 if i % 2 else -300.0)) for i in range(12)]
    assert saturated(growing, 1000.0) and not saturated(slow_but_steady, 1000.0)
    assert not saturated(growing[:5], 1000.0)  # too few points to call a trend
    # a trend still within the objective (a context growing turn by turn) is no reason
    assert not saturated(growing, 5000.0) and not saturated(growing, None)
    # past its objective: the level fails now, even though 90 % would need more requests
    rule = LevelStop(parse_slos("ttft_p50=1s"))
    assert rule(growing) and rule.saturated
