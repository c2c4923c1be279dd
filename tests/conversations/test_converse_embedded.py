"""`tokbench converse` on the embedded engine (llama.cpp in process, the bundled Gemma) with
and without its prompt cache: the cached counts are what the engine did (prompt tokens it
did not evaluate), and without the cache every turn computes its whole history."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from tokbench.conversations.run import converse
from tokbench.conversations.turns import conversation_report
from tokbench.core.config import Connection, ConverseConfig
from tokbench.store.database import Store

CFG = ConverseConfig(
    conversations=1, turns=3, system_tokens=40, user_tokens=12, max_tokens=4, seed=3
)


def test_the_embedded_engines_prompt_cache_on_and_off(gemma_path: Path, tmp_path: Path) -> None:
    store = Store(tmp_path / "runs.db")
    reports = {}
    for cache in (True, False):
        cfg = replace(CFG, connection=Connection(model_path=str(gemma_path), prompt_cache=cache))
        run = converse(cfg, store)
        assert run.status == "done"
        reports[cache] = conversation_report(store, run.id)
        for r in store.requests(run.id):
            m = r.metrics
            assert m is not None and m.prompt_tokens is not None
            if cache:  # reused + evaluated = the whole prompt, by the engine's own counter
                assert m.cached_prompt_tokens is not None and m.engine_prompt_tokens is not None
                assert m.cached_prompt_tokens + m.engine_prompt_tokens == m.prompt_tokens
            else:
                assert m.cached_prompt_tokens is None
                assert m.engine_prompt_tokens == m.prompt_tokens
    on, off = reports[True].summary, reports[False].summary
    assert on.cache_source == "engine" and off.cache_source == "none"
    # turn 1 starts from an empty context either way; later turns reuse their history
    assert on.turns[0].cached_tokens == 0 and off.turns[0].cached_tokens == 0
    for t_on, t_off in zip(on.turns[1:], off.turns[1:], strict=True):
        assert t_on.cached_tokens is not None and t_on.cached_tokens > 0
        assert t_off.cached_tokens == 0
        assert t_on.computed_tokens is not None and t_off.computed_tokens is not None
        assert t_on.computed_tokens < t_off.computed_tokens
    assert on.hit_rate is not None and on.hit_rate > 0.3
    assert off.hit_rate == 0.0
