"""Every format of the cheap read-only commands prints the same bytes as before the
formats became a registry (golden files written by main's code: `golden_outputs.py`),
and each command's `--format` choices are its registry's names."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
import pytest

from tests.cli.golden_outputs import COMMANDS, GOLDEN, fresh_store, invoke, name
from tokbench.cli import bench, converse, gguf, history, hw, quant, report, run, servers, tune
from tokbench.cli import eval as eval_
from tokbench.cli.options import emit
from tokbench.render.outputs import Outputs


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return fresh_store(tmp_path_factory.mktemp("golden"))


@pytest.mark.parametrize("args", COMMANDS, ids=" ".join)
def test_stdout_is_unchanged(args: tuple[str, ...], store: Path) -> None:
    expected = (GOLDEN / name(args)).read_bytes().decode()  # CSV line ends kept
    assert invoke(args, store) == expected


def _format_choices(command: click.Command) -> tuple[str, ...]:
    (option,) = [p for p in command.params if p.name == "fmt"]
    assert isinstance(option.type, click.Choice)
    return tuple(option.type.choices)


@pytest.mark.parametrize(
    ("command", "registries"),
    [
        (history.history, [history.HISTORY]),
        (
            history.show,
            [history.SHOW_RUN, history.SHOW_BENCH, history.SHOW_QUANT, history.SHOW_CONVERSATION],
        ),
        (report.compare, [report.COMPARE, report.QUANTS, report.PAIRED, report.CONVERSATIONS]),
        (report.answers, [report.ANSWERS]),
        (report.export, [report.ROW_WRITERS]),
        (hw.hw, [hw.HOST]),
        (hw.estimate, [hw.ESTIMATE]),
        (hw.plan, [hw.PLAN]),
        (bench.bench, [bench.BENCH]),
        (run.run, [run.RUN]),
        (converse.converse, [converse.CONVERSE, converse.CAPACITY]),
        (eval_.eval_, [eval_.EVAL, eval_.TIME]),
        (tune.tune, [tune.TUNE]),
        (quant.quant, [quant.QUANT]),
        (gguf.inspect, [gguf.INSPECT]),
        (servers.servers, [servers.SERVERS]),
    ],
    ids=lambda v: getattr(v, "name", ""),
)
def test_format_choices_are_the_registry_names(
    command: click.Command, registries: list[Any]
) -> None:
    """`--format` offers exactly what is registered, and a command that prints one of
    several views (show: a run, a bench or a quant comparison) has every format for each."""
    for registry in registries:
        names = tuple(registry.names if isinstance(registry, Outputs) else registry)
        assert _format_choices(command) == names


def test_a_format_is_registered_once() -> None:
    outputs: Outputs[str] = Outputs()
    outputs.add("md", "text")(str)
    with pytest.raises(ValueError, match="registered twice"):
        outputs.add("md", "text")(str)


def test_a_new_format_is_one_registration_and_keeps_the_escaping(
    capsys: pytest.CaptureFixture[str],
) -> None:
    outputs: Outputs[str] = Outputs()
    outputs.add("shout", "text")(lambda s: s.upper())
    outputs.add("json", "json")(lambda s: {"said": s})
    outputs.add("table", "console")(lambda s: [s, s])
    said = "hi\x1b[2J"  # foreign text with a terminal control sequence
    for fmt in outputs.names:
        emit(outputs, fmt, said)
    out = capsys.readouterr().out
    assert "\x1b" not in out
    assert out == 'HI\\x1b[2J{\n  "said": "hi\\u001b[2J"\n}\nhi\\x1b[2J\nhi\\x1b[2J\n'
