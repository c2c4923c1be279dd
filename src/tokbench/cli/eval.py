"""`tokbench eval`: standard benchmarks (GSM8K, MMLU, CMMLU, C-Eval) in a time box, with an
estimate of the full-set accuracy."""

from __future__ import annotations

import re
import sys
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import click

from tokbench.cli.checks import Number
from tokbench.cli.options import (
    connection_options,
    db_option,
    emit,
    energy_options,
    engine_options,
    format_option,
    open_store,
    run_config_arg,
    sampling_options,
)
from tokbench.render.outputs import Outputs

if TYPE_CHECKING:
    from tokbench.core.config import RunConfig

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|min|h|d)?\s*$")
_UNIT_S = {None: 1, "s": 1, "m": 60, "min": 60, "h": 3600, "d": 86400}


class Duration(click.ParamType[float]):
    name = "DURATION"

    def convert(self, value: Any, param: Any, ctx: Any) -> float:
        m = _DURATION.match(str(value))
        if not m or float(m.group(1)) <= 0:
            self.fail("give a positive duration: 90, 90s, 30m, 8h or 2d", param, ctx)
        return float(m.group(1)) * _UNIT_S[m.group(2)]


def _data(pairs: tuple[str, ...]) -> dict[str, str]:
    out = {}
    for pair in pairs:
        name, sep, path = pair.partition("=")
        if not sep or not name or not path:
            raise click.BadParameter(f"{pair!r}: give NAME=PATH", param_hint="--data")
        out[name.strip().lower()] = path
    return out


class _Progress:
    """The run command's progress bar, told about benchmark items."""

    def __init__(self, bar: Any) -> None:
        self.bar = bar

    def started(self, item: Any, index: int, total: int) -> None:
        self.bar.progress.update(self.bar.task, total=total)
        self.bar.started(item, 0, index, total)

    def token(self) -> None:
        self.bar.token()

    def finished(self, record: Any) -> None:
        self.bar.finished(record)


EVAL: Outputs[Any] = Outputs()  # a finished eval run (`runs.eval` result)
TIME: Outputs[Any] = Outputs()  # `--estimate-time`: the predicted duration rows


@EVAL.add("table", "console")
def _eval_table(result: Any) -> list[Any]:
    from tokbench.render.evals import eval_view

    return [eval_view(result.run, result.results, result.stopped_by)]


@EVAL.add("json", "json")
def _eval_json(result: Any) -> Any:
    from tokbench.render.evals import eval_document

    return eval_document(result.run, result.records, result.results, result.stopped_by)


@TIME.add("table", "console")
def _time_table(rows: Any) -> list[Any]:
    from tokbench.render.evals import time_table

    return [time_table(rows)]


@TIME.add("json", "json")
def _time_json(rows: Any) -> Any:
    from tokbench.render.evals import time_document

    return time_document(rows)


@click.command(name="eval")
@click.argument("benchmarks", nargs=-1)
@connection_options(
    url_help="OpenAI-compatible server; without it the embedded llama.cpp engine.",
    default_timeout_s=600.0,
)
@engine_options()
@click.option(
    "--data",
    "data",
    multiple=True,
    metavar="NAME=PATH",
    help="A benchmark's own files (GSM8K JSONL, MMLU/CMMLU/C-Eval CSV, a file or folder); "
    "repeatable. GSM8K and MMLU subsets ship; CMMLU and C-Eval (CC BY-NC-SA) come from here.",
)
@click.option("--full", is_flag=True, help="Every item of the sets given by --data, not 100.")
@click.option(
    "--limit",
    type=click.IntRange(1, 10**6),
    help="The first N items of each subset (every prefix is a fair sample).",
)
@click.option(
    "--max-time",
    "max_time_s",
    type=Duration(),
    help="End the run on time (90s, 30m, 8h) with the estimate so far; the answer "
    "in flight is cut and marked, and asked again on --resume.",
)
@click.option(
    "--until-ci",
    "until_ci_pts",
    type=Number(0.1, 50),
    metavar="POINTS",
    help="Stop a benchmark once its 95 % interval is within ±POINTS (after 10 items).",
)
@click.option(
    "--style",
    type=click.Choice(["chat", "completion"]),
    default="chat",
    show_default=True,
    help="Prompt format (docs/evals.md).",
)
@click.option(
    "--shots",
    type=click.IntRange(0, 8),
    default=0,
    show_default=True,
    help="GSM8K: worked train problems before the question.",
)
@click.option(
    "--max-tokens",
    "--think-budget",
    "max_tokens",
    type=click.IntRange(1, 2**21),
    help="Tokens an answer may take, thinking included [default: 2048]. A "
    "reasoning model needs thousands; an answer cut by it counts wrong.",
)
@sampling_options("Sampling temperature (R1: 0.6).")
@click.option("--extra-body", metavar="JSON", help="Extra request fields for the server.")
@click.option(
    "--gguf",
    type=click.Path(exists=True, dir_okay=False),
    help="The server's model file, when on this machine (speed bound).",
)
@click.option("--resume", metavar="RUN_ID", help="Continue an eval run; answered items are kept.")
@click.option(
    "--estimate-time",
    is_flag=True,
    help="Print how long the items would take at --tps and stop (nothing is sent).",
)
@click.option(
    "--tps",
    "decode_tps",
    type=Number(0.001, 1e6),
    default=1.5,
    show_default=True,
    help="--estimate-time: decode speed (default: the seed's R1 at 1.5 tok/s).",
)
@click.option(
    "--prefill-tps",
    type=Number(0.001, 1e7),
    help="--estimate-time: prompt speed (default: prefill not counted).",
)
@click.option("--no-progress", is_flag=True, help="No progress bar on stderr.")
@energy_options
@db_option
@format_option(*EVAL.names)
@run_config_arg()
def eval_(
    benchmarks: tuple[str, ...],
    config: RunConfig,
    data: tuple[str, ...],
    full: bool,
    limit: int | None,
    max_time_s: float | None,
    until_ci_pts: float | None,
    style: str,
    shots: int,
    resume: str | None,
    estimate_time: bool,
    decode_tps: float,
    prefill_tps: float | None,
    no_progress: bool,
    db: str | None,
    fmt: str,
) -> None:
    """Run standard benchmarks and estimate each one's full-set accuracy with a 95 % interval.

    BENCHMARKS: gsm8k and mmlu (subsets ship), cmmlu and ceval (give their files with --data);
    none with --resume RUN_ID, which asks the stored run's remaining items.
    Items are asked in a fixed order where every prefix is a fair sample of the full set,
    one benchmark after another in turn, so a run stopped by --max-time, --until-ci or
    Ctrl-C still estimates each. Every request's speed and energy is kept as for `run`;
    the run shows in history, show, compare (--ref: item-by-item McNemar) and report.

    How long it takes: `tokbench eval gsm8k --estimate-time` (at the seed's 1.5 tok/s,
    100 items of 500-2,000 thinking tokens take about 9-37 hours).

    \b
    Prompts (docs/evals.md): chat, zero-shot, chain of thought allowed, ending with
    "The answer is N" (GSM8K) or "The answer is X" / "答案：X" (multiple choice); the
    verdict is read from the answer after the thinking, never from the thinking.
    """
    from tokbench.cli.options import stderr_console
    from tokbench.core.records import EvalPlan
    from tokbench.paths import runs_dir
    from tokbench.render.run_folder import write_run_folder

    names = tuple(b.lower() for b in benchmarks)
    if not names and not resume:
        raise click.UsageError("name at least one benchmark: gsm8k, mmlu, cmmlu or ceval")
    plan = EvalPlan(
        benchmarks=names,
        data=_data(data),
        full=full,
        limit=limit,
        style=style,
        shots=shots,
        max_time_s=max_time_s,
        until_ci_pts=until_ci_pts,
    )
    if estimate_time:
        _estimate_time(plan, decode_tps, prefill_tps, fmt)
        return
    config = replace(config, suite="eval:" + "+".join(names))
    from tokbench.runs.eval import run_eval

    err = stderr_console()
    store = open_store(db)

    def notify(msg: str) -> None:
        err.print(msg, style="dim", markup=False, highlight=False)

    kwargs: dict[str, Any] = {
        "resume": resume,
        "notify": notify,
        "on_end": write_run_folder,
    }
    if not no_progress and err.is_terminal:
        from tokbench.cli.progress import ProgressObserver

        bar = ProgressObserver(err, 0)
        with bar:
            result = run_eval(config, plan, store, runs_dir(), observer=_Progress(bar), **kwargs)
    else:
        result = run_eval(config, plan, store, runs_dir(), **kwargs)
    emit(EVAL, fmt, result)
    err.print(f"results: {result.folder}", style="dim", markup=False, highlight=False)
    if result.status == "interrupted":
        err.print(f"Interrupted: resume with: tokbench eval --resume {result.run.id}")
        sys.exit(130)
    if result.status == "failed":
        err.print("[red]No request succeeded.[/red]")
        sys.exit(1)


def _estimate_time(plan: Any, decode_tps: float, prefill_tps: float | None, fmt: str) -> None:
    from tokbench.evals.summary import estimates
    from tokbench.runs.eval import plan_items

    items, _, _ = plan_items(plan)
    prompt_tokens = sum(len(i.question) for i in items) // max(len(items), 1) // 4 + 40
    rows = estimates(len(items), decode_tps, prefill_tps, prompt_tokens)
    emit(TIME, fmt, rows)
