"""The `tokbench` command. Thin: each command parses options, calls one library
function and renders. Library modules are imported inside commands so that
`tokbench --help` stays instant."""

from __future__ import annotations

from typing import Any

import click

from tokbench import __version__


class _Group(click.Group):
    def invoke(self, ctx: click.Context) -> Any:
        from tokbench.errors import TokbenchError

        try:
            return super().invoke(ctx)
        except TokbenchError as exc:
            from tokbench.render.safe import shown

            # messages carry server and file text: control characters are shown, not obeyed
            click.echo(f"Error: {shown(exc)}", err=True)
            ctx.exit(exc.exit_code)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="tokbench")
def cli() -> None:
    """Measure what your local LLM box really delivers.

    \b
    tokbench run                      the five seed questions on the embedded engine
    tokbench run --url URL            ... on any OpenAI-compatible server
    tokbench eval gsm8k --url URL     GSM8K accuracy, estimated from 100 items (--max-time 8h)
    tokbench bench -p 512 -n 128      llama-bench-style pp/tg tests with confidence intervals
    tokbench converse --url URL       multi-turn conversations: prompt cache hit rate, SLOs
    tokbench report -o report.html    one self-contained HTML report with charts
    tokbench compare --last 3         runs side by side (--format md for a blog)
    tokbench compare CAND --ref REF   paired quality comparison (McNemar, flipped items)
    tokbench answers RUN RUN --item autumn-quatrain   one item's answers side by side
    tokbench export --format csv      every request with its metrics
    tokbench gguf inspect FILE.gguf   bytes read per token (MoE-aware), KV cache per token
    tokbench gguf merge FIRST OUT     merge split GGUF files
    tokbench hw --bandwidth           the host, and its measured memory bandwidth
    tokbench estimate FILE.gguf       the decode-speed bound of a model here
    tokbench quant REF.gguf CAND.gguf   quant quality (KLD, perplexity) beside speed
    tokbench plan --price seed-4ch=2000   hardware options for DeepSeek-R1, price per tok/s
    tokbench tune FILE.gguf           the fastest llama.cpp settings here, and which knob matters
    tokbench history                  past runs
    tokbench show RUN_ID              one run again (tables, --json, --answers)
    tokbench servers                  LLM servers running on this machine
    tokbench path                     where results are kept
    tokbench db copy --from A --to B  move history into a shared PostgreSQL store
    tokbench fleet run --hosts a,b -- bench --url URL   every host, one shared store
    tokbench import results.json      llama-bench, vLLM or GuideLLM results, to compare
    """


def _register() -> None:
    from tokbench.cli import (
        bench,
        converse,
        db,
        eval,
        fleet,
        gguf,
        history,
        hw,
        imports,
        quant,
        report,
        run,
        servers,
        tune,
    )

    cli.add_command(run.run)
    cli.add_command(eval.eval_)
    cli.add_command(history.history)
    cli.add_command(history.show)
    cli.add_command(history.path)
    cli.add_command(servers.servers)
    cli.add_command(bench.bench)
    cli.add_command(converse.converse)
    cli.add_command(report.report)
    cli.add_command(report.compare)
    cli.add_command(report.export)
    cli.add_command(report.answers)
    cli.add_command(gguf.gguf)
    cli.add_command(gguf.synth)
    cli.add_command(hw.hw)
    cli.add_command(hw.estimate)
    cli.add_command(hw.plan)
    cli.add_command(db.db)
    cli.add_command(fleet.fleet)
    cli.add_command(tune.tune)
    cli.add_command(imports.import_)
    cli.add_command(quant.quant)


_register()


def _terminate(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt  # SIGTERM ends a run as Ctrl-C does: kept, and resumable


def main() -> None:
    import signal

    signal.signal(signal.SIGTERM, _terminate)
    cli(prog_name="tokbench")
