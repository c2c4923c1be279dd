"""Quality views: paired comparison and answers side by side."""

from __future__ import annotations

from typing import Any

from rich.table import Table
from rich.text import Text

from tokbench.core.records import RequestRecord, RunInfo
from tokbench.render.safe import fence, md
from tokbench.results.quality import Paired, answer_health, items_needed


def _label(run: RunInfo) -> str:
    return f"{run.display_model or '?'} ({run.backend}, {run.id})"


def _needed(p: Paired) -> int | None:
    a, b = p.cand_passed / p.n, p.ref_passed / p.n
    return items_needed(a, b) if a != b else None


def paired_record(cand: RunInfo, ref: RunInfo, p: Paired) -> dict[str, Any]:
    return {
        "items_needed": _needed(p),
        "candidate": cand.id,
        "reference": ref.id,
        "pairs": p.n,
        "candidate_pass_rate": p.cand_passed / p.n,
        "reference_pass_rate": p.ref_passed / p.n,
        "difference": p.diff,
        "difference_ci": [p.diff_low, p.diff_high],
        "mcnemar_p": p.p_value,
        "right_to_wrong": p.right_to_wrong,
        "wrong_to_right": p.wrong_to_right,
        "answer_agreement": p.agreement,
        "longer_thinking": p.longer_thinking,
    }


def paired_markdown(cand: RunInfo, ref: RunInfo, p: Paired) -> str:
    agree = "–" if p.agreement is None else f"{p.agreement:.0%}"
    lines = [
        f"**Candidate** {md(_label(cand))} against **reference** {md(_label(ref))}, "
        f"{p.n} paired answers:",
        "",
        "| | candidate | reference |",
        "| --- | ---: | ---: |",
        f"| passed | {p.cand_passed}/{p.n} ({p.cand_passed / p.n:.0%}) | "
        f"{p.ref_passed}/{p.n} ({p.ref_passed / p.n:.0%}) |",
        "",
        f"- Difference: {p.diff:+.1%} (paired 95% CI {p.diff_low:+.1%} to {p.diff_high:+.1%})",
        f"- Exact McNemar test: p = {p.p_value:.3g}"
        + (" (not significant at 5%)" if p.p_value >= 0.05 else " (significant at 5%)"),
        f"- Right → wrong: {md(', '.join(p.right_to_wrong) or 'none')}",
        f"- Wrong → right: {md(', '.join(p.wrong_to_right) or 'none')}",
        f"- Same extracted answer: {agree}",
    ]
    if p.longer_thinking:
        lines.append(f"- Thinking more than twice as long: {md(', '.join(p.longer_thinking))}")
    needed = _needed(p)
    if needed:
        lines.append(
            f"- To tell {p.cand_passed / p.n:.0%} from {p.ref_passed / p.n:.0%} apart reliably "
            f"(5% level, 80% power) takes about {needed} independent items per run; "
            f"this comparison has {p.n} answers."
        )
    return "\n".join(lines) + "\n"


def _grade(r: RequestRecord) -> str:
    if not r.grade:
        return "not graded"
    return f"{r.grade.verdict}" + (f" ({r.grade.extracted})" if r.grade.extracted else "")


def answers_table(item_id: str, rows: list[tuple[RunInfo, list[RequestRecord]]]) -> Table:
    t = Table(title=f"Answers to {item_id}", title_justify="left", show_lines=True)
    for run, _ in rows:
        t.add_column(_label(run), overflow="fold", ratio=1)
    longest = max(len(recs) for _, recs in rows)
    for i in range(longest):
        cells = []
        for _run, recs in rows:
            if i >= len(recs):
                cells.append(Text(""))
                continue
            r = recs[i]
            signs = ", ".join(answer_health(r))
            head = f"rep {r.rep + 1}: {_grade(r)}" + (f" [{signs}]" if signs else "")
            cells.append(Text(head + "\n\n", style="bold") + Text(r.answer or "(empty)"))
        t.add_row(*cells)
    return t


def answers_markdown(item_id: str, rows: list[tuple[RunInfo, list[RequestRecord]]]) -> str:
    lines = [f"## {md(item_id)}"]
    for run, recs in rows:
        for r in recs:
            lines += [
                "",
                f"### {md(_label(run))}, rep {r.rep + 1}: {md(_grade(r))}",
                "",
                fence(r.answer or "(empty)"),
            ]
            if r.grade:
                lines += ["", f"_{md(r.grade.reason)}_"]
    return "\n".join(lines) + "\n"


def answers_records(
    item_id: str, rows: list[tuple[RunInfo, list[RequestRecord]]]
) -> list[dict[str, object]]:
    """One item's answers across runs, as JSON records."""
    return [
        {
            "item_id": item_id,
            "run_id": run.id,
            "model": run.model,
            "backend": run.backend,
            "rep": r.rep,
            "status": r.status,
            "answer": r.answer,
            "thinking": r.thinking,
            "grade": r.grade.verdict if r.grade else None,
            "grade_value": r.grade.extracted if r.grade else None,
            "grade_reason": r.grade.reason if r.grade else None,
        }
        for run, recs in rows
        for r in recs
    ]
