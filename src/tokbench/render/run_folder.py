"""A run as one JSON document, and the run folder (results.json + results.md)."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

from tokbench.core.records import RequestRecord, RunInfo
from tokbench.errors import TokbenchError
from tokbench.render.markdown import run_markdown
from tokbench.render.safe import json_text, shown
from tokbench.results.summary import RunSummary, summarize_run

SCHEMA = 1


def run_document(run: RunInfo, recs: list[RequestRecord]) -> dict[str, Any]:
    summary = summarize_run(recs)
    doc_summary = summary_dict(summary)
    bound, decode = run.target.bound_tps, summary.overall["decode_tps"].mean
    doc_summary["efficiency"] = decode / bound if bound and decode else None
    return {
        "schema": SCHEMA,
        "run": run.to_json(),
        "summary": doc_summary,
        "requests": [
            {
                **{
                    k: v
                    for k, v in asdict(r).items()
                    if k not in ("metrics", "energy", "host", "health")
                },
                "metrics": r.metrics.as_dict() if r.metrics else None,
                **_energy(r),
                # stored since migration m008: old runs print exactly what they printed
                **({"health": list(r.health)} if r.health is not None else {}),
            }
            for r in recs
        ],
    }


def _energy(r: RequestRecord) -> dict[str, Any]:
    """Energy, host window and busy flag: only for requests that have them (old runs
    print exactly what they printed before)."""
    out: dict[str, Any] = {}
    if r.energy is not None:
        out["energy"] = r.energy.to_json()
    if r.host is not None:
        out["host"] = r.host.to_json()
        out["busy"] = r.host.busy
    return out


def summary_dict(s: RunSummary) -> dict[str, Any]:
    return {
        "ok": s.ok,
        "failed": s.failed,
        "overall": {k: v.as_dict() for k, v in s.overall.items()},
        "per_item": {
            item: {k: v.as_dict() for k, v in ms.items()} for item, ms in s.per_item.items()
        },
        "quality": s.quality.as_dict() if s.quality else None,
        "health": s.health,
        "quality_per_item": {
            k: v.as_dict() if v else None for k, v in (s.quality_per_item or {}).items()
        },
    }


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    try:
        tmp.write_text(text, "utf-8")
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)


def write_run_folder(folder: Path, run: RunInfo, recs: list[RequestRecord]) -> None:
    """(Re)write results.json and results.md; atomic, so a crash never leaves half a file
    (nor a temporary one). The database stays the record: a folder that cannot be written
    is one clear error, the run itself is kept."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        _atomic_write(
            folder / "results.json",
            json_text(run_document(run, recs)) + "\n",
        )
        _atomic_write(folder / "results.md", shown(run_markdown(run, recs)))
    except OSError as exc:
        raise TokbenchError(
            f"cannot write the run folder {folder}: {exc.strerror or exc}; the run is kept in "
            f"the database (tokbench show {run.id})"
        ) from None
