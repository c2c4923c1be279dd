"""`tokbench gguf inspect` as rich tables."""

from __future__ import annotations

from typing import Any

from rich.console import Group
from rich.table import Table

from tokbench.gguf.analysis import CLASSES, Analysis, kv_bytes_per_token
from tokbench.gguf.reader import Model
from tokbench.render.numbers import human_bytes


def inspect_view(model: Model, a: Analysis, kv_cache: str, show_tensors: bool) -> Group:
    meta = model.metadata
    head = Table(show_header=False, box=None)
    head.add_column(style="dim")
    head.add_column()
    kv = kv_bytes_per_token(a, kv_cache)
    rows: list[tuple[str, Any]] = [
        ("file", ", ".join(str(s.path) for s in model.shards)),
        ("name", meta.get("general.name", "–")),
        ("architecture", a.architecture),
        ("parameters", f"{a.params / 1e9:.3f} B"),
        ("size", f"{human_bytes(model.total_bytes)} in {len(model.shards)} file(s)"),
        ("experts", f"{a.experts_used} of {a.experts} used per token" if a.experts else "dense"),
        ("output matrix", "tied to the embedding" if a.tied_output else "separate"),
        (
            "read per token",
            f"{human_bytes(a.bytes_per_token)} ({a.active_params / 1e9:.3f} B parameters)",
        ),
        (
            "KV cache per token",
            f"{human_bytes(kv)} ({a.kv_regime}, {kv_cache})" if kv else a.kv_regime,
        ),
        ("context length", model.key("context_length", "–")),
    ]
    for k, v in rows:
        head.add_row(k, str(v))
    classes = Table(title="Bytes by class", title_justify="left")
    for col in ("class", "bytes", "parameters", "read per token"):
        classes.add_column(col, justify="left" if col == "class" else "right")
    share = (a.experts_used / a.experts) if a.experts and a.experts_used else 1.0
    for c in CLASSES:
        if c not in a.bytes_by_class:
            continue
        f = (
            share
            if c == "routed_experts"
            else ((1.0 if a.tied_output else 0.0) if c == "embeddings" else 1.0)
        )
        classes.add_row(
            c,
            human_bytes(a.bytes_by_class[c]),
            f"{a.params_by_class[c] / 1e6:,.1f} M",
            human_bytes(a.bytes_by_class[c] * f),
        )
    types = Table(title="Bytes by type", title_justify="left")
    types.add_column("type")
    types.add_column("bytes", justify="right")
    for name, n in sorted(a.bytes_by_type.items(), key=lambda x: -x[1]):
        types.add_row(name, human_bytes(n))
    parts: list[Any] = [head, classes, types]
    if show_tensors:
        t = Table(title="Tensors", title_justify="left")
        for col in ("name", "type", "shape", "bytes", "shard"):
            t.add_column(col)
        for x in model.tensors:
            t.add_row(
                x.name,
                x.type_name,
                "×".join(map(str, x.shape)),
                human_bytes(x.n_bytes),
                str(x.shard + 1),
            )
        parts.append(t)
    return Group(*parts)
