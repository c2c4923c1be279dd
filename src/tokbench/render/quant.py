"""`tokbench quant` output: each model's quality loss against the reference beside its
speed facts, as a terminal table, Markdown, JSON or CSV; several comparisons side by side
(`tokbench compare`) get a run column."""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from rich.table import Table

from tokbench.quant.view import ModelSpeed, QuantView
from tokbench.render.charts import Point, scatter_linear
from tokbench.render.numbers import DASH, human_bytes
from tokbench.render.safe import md, md_row, write_csv
from tokbench.store.quant import QuantRow

HEADER = [
    "model",
    "size",
    "bytes/tok",
    "bound tok/s",
    "decode tok/s",
    "PPL",
    "ln PPL ratio",
    "KLD mean",
    "KLD p50",
    "KLD p90",
    "KLD p99",
    "KLD max",
    "same top",
    "Δp",
    "Δp top",
]


@dataclass(frozen=True, slots=True)
class ModelLine:
    """One model of a comparison as shown: the reference (no row) or a candidate, with the
    speed facts of its file."""

    name: str
    model_path: str
    size_bytes: int | None  # the run's, else the file's now
    perplexity: float | None
    perplexity_se: float | None
    row: QuantRow | None  # None: the reference
    speed: ModelSpeed | None

    @property
    def decode_tps(self) -> float | None:
        return self.speed.decode_tps if self.speed else None

    @property
    def bound_tps(self) -> float | None:
        return self.speed.bound_tps if self.speed else None


def model_lines(v: QuantView) -> list[ModelLine]:
    """The reference first, then each candidate."""
    ref = v.reference
    out = []
    if ref.model_path:
        out.append(ModelLine(Path(ref.model_path).name, ref.model_path, ref.size_bytes,
                             ref.perplexity, ref.perplexity_se, None,
                             v.speeds.get(ref.model_path)))
    for r in v.rows:
        out.append(ModelLine(Path(r.model_path).name, r.model_path, r.size_bytes,
                             r.perplexity, r.perplexity_se, r, v.speeds.get(r.model_path)))
    return [
        replace(m, size_bytes=m.speed.size_bytes)
        if m.size_bytes is None and m.speed is not None else m
        for m in out
    ]


def model_records(v: QuantView) -> list[dict[str, Any]]:
    """The models as flat JSON records: the reference's own fields, or a candidate's row
    (and, fresh over HTTP, how the server was read), then the speed facts."""
    out: list[dict[str, Any]] = []
    # each file's identity (gguf.identity), as the run stored it with its targets
    ids = {t.gguf_path: t for t in (v.run.targets.values() if v.run else ()) if t.gguf_path}
    for m in model_lines(v):
        rec: dict[str, Any] = {"name": m.name}
        if m.row is None:
            rec.update(role="reference", model_path=m.model_path, size_bytes=m.size_bytes,
                       perplexity=m.perplexity, perplexity_se=m.perplexity_se)
        else:
            rec.update(role="candidate", **asdict(m.row))
            rec["size_bytes"] = m.size_bytes
            if v.http is not None:
                rec.update(asdict(v.http))
        if (t := ids.get(m.model_path)) is not None and t.model_id:
            rec.update(model_id=t.model_id, model_name=t.model_name)
        s = m.speed
        rec.update(
            bytes_per_token=s.bytes_per_token if s else None,
            bound_tps=m.bound_tps,
            bandwidth_gbs=s.bandwidth_gbs if s else None,
            decode_tps=m.decode_tps,
            decode_run=s.decode_run if s else None,
        )
        out.append(rec)
    return out


def to_json(v: QuantView) -> dict[str, Any]:
    cfg = v.run.config if v.run is not None else None
    return {
        "run_id": v.run.id if v.run else None,
        "kind": "quant",
        "created_at": v.run.created_at if v.run else None,
        "finished_at": v.run.finished_at if v.run else None,
        "host_name": v.run.host_name if v.run else None,
        # the reference model's identity, shared with its other runs (gguf.identity)
        "model_id": v.run.model_id if v.run else None,
        "model_name": v.run.display_model if v.run else None,
        "settings": asdict(cfg) if cfg is not None else None,
        "reference": asdict(v.reference),
        "models": model_records(v),
    }


def _f(x: Any, digits: int, scale: float = 1.0, suffix: str = "") -> str:
    return DASH if x is None else f"{x * scale:.{digits}f}{suffix}"


def _pm(x: Any, se: Any, digits: int, scale: float = 1.0, suffix: str = "") -> str:
    if x is None:
        return DASH
    if not se:
        return _f(x, digits, scale, suffix)
    return f"{x * scale:.{digits}f} ± {se * scale:.{digits}f}{suffix}"


def kld_cell(row: QuantRow) -> str:
    """The mean KLD, saying in the cell whether it is exact: from a reference file it is
    "≈" with the upper bound the uncovered mass allows; where no upper bound is known it is
    "≥" (a lower bound), or "≈ (no bound)" over HTTP when the server left ids out."""
    x = _pm(row.kld_mean, row.kld_se, 4)
    if x == DASH or not row.kld_is_topk:
        return x
    if row.kld_upper is not None:
        return f"≈{x} (≤ {row.kld_upper:.4f})"
    if row.reference_kind == "http-approx":
        return f"≈{x} (no bound)"
    old_topk = row.mass is None and row.top_k
    return f"≥{x}" + (f" (top {row.top_k})" if old_topk else "")


def cells(m: ModelLine) -> list[str]:
    s, r = m.speed, m.row
    bpt = s.bytes_per_token if s else None
    head = [
        m.name + (" (ref)" if r is None else ""),
        human_bytes(m.size_bytes) if m.size_bytes else DASH,
        human_bytes(bpt) if bpt else DASH,
        _f(m.bound_tps, 1),
        _f(m.decode_tps, 1),
        _pm(m.perplexity, m.perplexity_se, 3),
    ]
    if r is None:
        return [*head, "0 (ref)", "0 (ref)", DASH, DASH, DASH, DASH, "100 %", DASH, DASH]
    low = "≥" if r.kld_is_topk else ""  # per-position lower bounds: so are quantiles
    return [
        *head,
        _pm(r.ln_ppl_ratio, r.ln_ppl_ratio_se, 4),
        kld_cell(r),
        _low(low, r.kld_median),
        _low(low, r.kld_p90),
        _low(low, r.kld_p99),
        _low(low, r.kld_max),
        _pm(r.same_top, r.same_top_se, 1, 100, " %"),
        _pm(r.delta_p_mean, r.delta_p_se, 2, 100, " %"),
        _pm(r.delta_p_top_mean, r.delta_p_top_se, 2, 100, " %"),
    ]


def _low(mark: str, x: Any) -> str:
    out = _f(x, 4)
    return out if out == DASH else mark + out


def caption(v: QuantView, esc: Callable[[object], str] = str) -> str:
    """The reference and the marks' meaning; `esc` escapes the reference's names and paths
    (foreign text: a reference file's metadata) for the output at hand."""
    r = v.reference
    where = {"built": "built by this run", "cache": "from the cache", "file": "given"}.get(
        str(r.source), str(r.source))
    compact = any(row.kld_is_topk for row in v.rows)
    lines = [
        f"reference {esc(r.model_name)} ({esc(where)}: {esc(r.file_path)}), "
        f"text {esc(r.text_name)}, "
        f"ctx {r.n_ctx}, {r.windows} windows, {r.scored_tokens} scored tokens",
    ]
    if compact and r.mass is not None:
        left = r.uncovered_mass
        lines.append(
            f"KLD ≈: from the reference file, which keeps per position the likeliest tokens up "
            f"to {r.mass:.1%} of the probability (at most {r.top_k}"
            + (f"; {left:.2%} left uncovered on average" if left is not None else "")
            + "): the KLD over them plus the rest as one bucket, a lower bound (≥), and (≤) "
            "the most the uncovered mass allows; --full-kld measures it exactly")
    elif compact:
        lines.append(f"KLD ≥: over the reference's top {r.top_k} tokens plus the rest, a "
                     "lower bound of the full KLD; --full-kld measures it exactly")
    if any(row.reference_kind == "http-approx" for row in v.rows):
        lines.append("≈ (no bound): over HTTP the server left out some of the reference's "
                     "kept tokens; their probability is bounded by its smallest one, so that "
                     "KLD is approximate")
    if not any(s.bound_tps for s in v.speeds.values()):
        lines.append("bound: run `tokbench hw --bandwidth` once to know this host's")
    if not any(s.decode_tps for s in v.speeds.values()):
        lines.append("decode tok/s: none measured (`tokbench quant` measures it unless "
                     "--no-speed)")
    return "\n".join(lines)


def _rows(views: list[QuantView]) -> list[tuple[str | None, ModelLine]]:
    many = len(views) > 1
    return [(v.run.id if many and v.run else None, m) for v in views for m in model_lines(v)]


# the terminal's columns (Markdown and JSON have them all)
TERMINAL = ("model", "size", "bytes/tok", "bound tok/s", "decode tok/s", "PPL", "KLD mean",
            "KLD p99", "KLD max", "same top", "Δp top")


def table(views: list[QuantView]) -> Table:
    many = len(views) > 1
    keep = [i for i, h in enumerate(HEADER) if h in TERMINAL]
    t = Table(title="Quant quality against the reference, and speed",
              caption="\n".join(caption(v) for v in views), caption_justify="left")
    for h in (["run"] if many else []) + [HEADER[i] for i in keep]:
        t.add_column(h, justify="left" if h in ("run", "model") else "right",
                     no_wrap=h == "model")
    for run_id, m in _rows(views):
        c = cells(m)
        t.add_row(*([run_id or DASH] if many else []), *(c[i] for i in keep))
    return t


def markdown(views: list[QuantView]) -> str:
    many = len(views) > 1
    head = (["run"] if many else []) + HEADER
    lines = ["| " + " | ".join(head) + " |",
             "|" + "|".join("---" if h in ("run", "model") else "---:" for h in head) + "|"]
    for run_id, m in _rows(views):
        row = ([run_id or DASH] if many else []) + cells(m)
        lines.append(md_row(row))
    notes = "\n\n".join(caption(v, md) for v in views)
    return "\n".join(lines) + "\n\n" + notes + "\n"


def to_csv(views: list[QuantView]) -> str:
    recs = [{"run_id": v.run.id if v.run else None, **rec} for v in views
            for rec in model_records(v)]
    names: dict[str, None] = {}
    for rec in recs:
        names.update(dict.fromkeys(rec))
    buf = io.StringIO()
    write_csv(buf, list(names), recs)
    return buf.getvalue()


def chart_points(v: QuantView) -> list[Point]:
    """(decode tok/s, mean KLD) per model: measured decode speed where the store has one,
    else the bound here (labelled "bound"); the reference sits at KLD 0."""
    pts = []
    for m in model_lines(v):
        kld = 0.0 if m.row is None else m.row.kld_mean
        tps, tag = m.decode_tps, ""
        if tps is None and m.bound_tps:
            tps, tag = m.bound_tps, " (bound)"
        if kld is None or tps is None:
            continue
        pts.append(Point(m.name + tag, float(tps), float(kld)))
    return pts


def quant_chart(v: QuantView) -> str:
    title = "KL divergence against decode speed" + (f" ({v.run.id})" if v.run else "")
    return scatter_linear(
        chart_points(v),
        title,
        "decode tok/s (measured; else the bound here)",
        "mean KLD vs the reference (lower is better)",
        "no model with a measured decode speed or a known bound: `tokbench bench "
        "--model-path FILE`, or `tokbench hw --bandwidth`",
        pareto=True,
    )


@dataclass(frozen=True, slots=True)
class QuantBlock:
    """What the HTML report shows of one quant comparison: its table and chart."""

    run_id: str
    reference: str
    header: list[str]
    rows: list[list[str]]
    caption: str
    svg: str


def html_blocks(views: list[QuantView]) -> list[QuantBlock]:
    return [
        QuantBlock(
            run_id=v.run.id if v.run else "",
            reference=v.reference.model_name,
            header=HEADER,
            rows=[cells(m) for m in model_lines(v)],
            caption=caption(v),
            svg=quant_chart(v),
        )
        for v in views
    ]
