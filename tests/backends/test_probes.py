"""Every kind's detection probe reads through the tolerant boundary: whatever shape each
endpoint answers with, a probe says "this kind" or "not this kind", and never raises."""

from __future__ import annotations

from typing import Any

import pytest

from tokbench.backends import replies
from tokbench.backends.registry import KINDS

# what a hostile or broken server can put where a probe expects an object
SHAPES: list[Any] = [
    None, 5, True, "text", [], [1, 2], {},
    {"models": 5}, {"models": True}, {"models": "abc"}, {"models": [5, None, {"name": 5}]},
    {"models": {"name": "m"}}, {"data": 5}, {"data": [{"id": ["x"]}, 7]},
    {"version": {"v": 1}}, {"version": [1]}, {"version": None}, {"version": True},
    {"build_info": {"x": 1}}, {"default_generation_settings": 5}, {"model_path": []},
]  # fmt: skip


@pytest.mark.parametrize("kind", [k for k in KINDS if k.probe is not None], ids=lambda k: k.name)
@pytest.mark.parametrize("shape", SHAPES, ids=repr)
def test_a_probe_never_raises_on_a_wrong_shape(kind: Any, shape: Any) -> None:
    found = kind.probe(lambda _path: shape, "http://127.0.0.1:1")
    if found is not None:  # whatever it found is typed: text, never a repr of a structure
        assert found.version is None or isinstance(found.version, str)
        assert all(isinstance(m, str) and m for m in found.models)
        assert not (found.version or "").startswith(("{", "["))


def test_the_readers_of_a_listing() -> None:
    listing = [{"name": "a"}, {"name": 5}, "b", {"name": ""}, {"name": "c"}]
    assert replies.names(listing, "name") == [
        "a",
        "c",
    ]
    assert replies.names(5, "name") == [] and replies.names({"name": "a"}, "name") == []
    assert replies.label("0.6.2") == "0.6.2" and replies.label(6123) == "6123"
    assert replies.label({"v": 1}) is None and replies.label(True) is None
    assert replies.label("") is None
    assert replies.loads(b"[" * 50_000 + b"]" * 50_000) is None and replies.loads(b"{no") is None


def test_a_descriptive_count_is_a_whole_number_or_unknown() -> None:
    # what a target's n_params, gguf_bytes and n_ctx hold: never text, a flag or a fraction
    assert replies.whole(4096) == 4096 and replies.whole(4096.0) == 4096
    for wrong in ("4096", True, 1.5, float("nan"), float("inf"), [1], {"n": 1}, None):
        assert replies.whole(wrong) is None, wrong
