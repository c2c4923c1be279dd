"""Foreign text through every output (#20 item 2). A hostile model name (terminal escapes:
ESC[2J, an OSC 0 title, an OSC 8 link, the 8-bit CSI U+009B, a bidi override; HTML tags;
a spreadsheet formula) is stored through the real paths: a llama-bench JSON file imported
with `tokbench import`, a `tokbench run` against a loopback server whose model id (and
answers) hold it, and a quant reference whose model name holds it. Then every format of
every command that reads runs back prints it: no control byte reaches stdout, Markdown and
HTML carry no raw tag, CSV cells are no formula, JSON keeps the text exactly.

The formats come from the commands' own `--format` choices, so a new format is tested (or
this test fails until it is)."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
import numpy as np
import pytest

from tests.conftest import tokbench
from tests.testing.fakeserver import FakeConfig, FakeServer
from tokbench.cli import cli

LINK = "\x1b]8;;http://evil.example/\x1b\\click\x1b]8;;\x1b\\"
HOSTILE = (
    '=HYPERLINK("http://evil.example","x")\x1b[2J\x1b]0;pwned\x07'
    + LINK
    + "\x9b31m\u202eevil<script>alert(1)</script><img src=x onerror=alert(1)>|"
)
ANSWER = "\x1b[31mred\x1b]0;title\x07 <script>alert(2)</script> "
# Every character that a terminal obeys or that reorders what it shows.
FORBIDDEN = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
RAW_TAGS = ("<script>alert", "<img src=x")
FORMULA = ("=", "+", "-", "@", "\t", "\r")
# A file name cannot hold "/": the quant candidate's own hostile name.
HOSTILE_FILE = "=cand\x1b[2J\x1b]0;pwned\x07\x9b31m\u202e<script>alert(3)<img src=x>.gguf"


def _llama_bench_json(path: Path) -> Path:
    row = {
        "build_commit": "abc", "build_number": 1, "cpu_info": HOSTILE, "gpu_info": "",
        "model_filename": HOSTILE, "model_type": HOSTILE, "model_size": 1000,
        "model_n_params": 1000, "n_threads": 4, "n_prompt": 0, "n_gen": 16, "n_depth": 0,
        "test_time": "2026-01-01T00:00:00Z", "avg_ts": 10.5, "stddev_ts": 0.5,
        "samples_ts": [10.0, 11.0],
    }  # fmt: skip
    path.write_text(json.dumps([row]))
    return path


def _hostile_reference(src: Path, dst: Path) -> None:
    """A saved quant reference whose model name is HOSTILE (as a file from elsewhere)."""
    with np.load(src, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    meta = json.loads(bytes(arrays["meta"]).decode())
    meta["model_name"] = HOSTILE
    arrays["meta"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    with dst.open("wb") as f:
        np.savez_compressed(f, **arrays)


def _ok(*args: str, env: dict[str, str]) -> str:
    r = tokbench(*args, env=env)
    assert r.returncode == 0, r.stderr[-3000:]
    _check_terminal(r.stderr, f"stderr of {args}")
    return r.stdout


def _json_out(*args: str, env: dict[str, str]) -> Any:
    return json.loads(_ok(*args, "--json", env=env))


@pytest.fixture(scope="module")
def stored(gemma_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """One store holding the three hostile runs; the environment that reads it."""
    tmp = tmp_path_factory.mktemp("hostile")
    env = {"TOKBENCH_HOME": str(tmp / "home"), "TOKBENCH_CACHE": str(tmp / "cache")}
    _ok("import", str(_llama_bench_json(tmp / "bench.json")), env=env)
    (imported,) = _json_out("history", env=env)

    with FakeServer(FakeConfig(model=HOSTILE, token=ANSWER, n_tokens=4)) as srv:
        served = _json_out(
            "run", "--url", srv.url, "--suite", "seed5-en", "-n", "1", "--max-tokens", "4",
            "--no-progress", env=env,
        )["run"]  # fmt: skip

    common = ["--ctx", "128", "--chunks", "1", "--threads", "2"]
    saved = tmp / "saved.npz"
    _ok("quant", str(gemma_path), "--save-reference", str(saved), *common, env=env)
    reference = tmp / "hostile.npz"
    _hostile_reference(saved, reference)
    candidate = tmp / HOSTILE_FILE
    candidate.symlink_to(gemma_path)
    quant_md = _ok("quant", str(reference), str(candidate), *common, "--format", "md", env=env)
    quant_id = _json_out("history", env=env)[0]["id"]
    yield {
        "env": env,
        "tmp": tmp,
        "ids": {"imported": imported["id"], "served": served["id"], "quant": quant_id},
        "quant_md": quant_md,
    }


def _squeezed(text: str) -> str:
    """Text without whitespace and box lines: a wrapped table cell reads whole again."""
    return re.sub(r"[\s\u2500-\u257f]", "", text)


def _check_terminal(text: str, what: str) -> None:
    bad = sorted({f"U+{ord(c):04X}" for c in FORBIDDEN.findall(text)})
    assert not bad, f"{what} emits {', '.join(bad)}"


def _check(kind: str, text: str, what: str) -> None:
    """`text` printed or written as `kind`: safe for that kind, and the hostile text is
    in it (so the check is not vacuous)."""
    if kind in ("json", "jsonl"):
        docs = (
            [json.loads(line) for line in text.splitlines()]
            if kind == "jsonl"
            else [json.loads(text)]
        )
        _check_terminal(text, what)  # C1 and bidi as \\u escapes, decoded back exactly:
        assert any(HOSTILE in s or HOSTILE_FILE in s for d in docs for s in _strings(d)), what
        return
    _check_terminal(text, what)
    assert "pwned" in _squeezed(text) or "x1b" in _squeezed(text), f"{what}: name not shown"
    if kind in ("md", "html"):
        outside = re.sub(r"(?s)(`{3,}).*?\1", "", text) if kind == "md" else text
        for tag in RAW_TAGS:
            assert tag not in outside, f"{what} carries a raw {tag}"
    if kind == "csv":
        rows = list(csv.reader(io.StringIO(text)))
        assert len({len(row) for row in rows}) == 1, f"{what}: ragged rows"
        cells = [c for row in rows for c in row]
        assert not any(c.endswith("\\x0d") for c in cells), f"{what}: line ends mangled"
        for c in cells:
            assert not c.startswith(FORMULA) or _number(c), f"{what}: formula cell {c[:40]!r}"
        assert any(c.startswith("'=HYPERLINK") or c.startswith("'=cand") for c in cells), what


def _number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def _strings(obj: Any) -> Iterator[str]:
    if isinstance(obj, str):
        yield obj
    elif isinstance(obj, dict):
        for k, v in obj.items():
            yield k
            yield from _strings(v)
    elif isinstance(obj, list):
        for v in obj:
            yield from _strings(v)


def _formats(command: str) -> tuple[str, ...]:
    cmd = cli.commands[command]
    (fmt,) = [p for p in cmd.params if p.name == "fmt"]
    assert isinstance(fmt.type, click.Choice)
    return tuple(str(c) for c in fmt.type.choices)


# (command, its arguments before --format, the runs it reads); every format of the command
READERS = [
    ("show", ["{imported}"]),
    ("show", ["{served}"]),
    ("show", ["{served}", "--answers"]),
    ("show", ["{quant}"]),
    ("compare", ["{imported}", "{served}"]),
    ("compare", ["{quant}"]),
    ("answers", ["{served}", "--item", "essay"]),
    ("history", []),
    ("export", ["{served}"]),
    ("export", ["--bench", "{imported}"]),
    ("export", ["--quant", "{quant}"]),
]
READ_COMMANDS = {"show", "compare", "answers", "history", "export"}


def test_every_reading_command_is_in_the_table() -> None:
    assert {c for c, _ in READERS} == READ_COMMANDS
    for command in READ_COMMANDS:
        assert _formats(command), command  # each has --format: all its choices run below


@pytest.mark.parametrize(
    ("command", "args", "fmt"),
    [(c, a, f) for c, a in READERS for f in _formats(c)],
    ids=lambda x: x if isinstance(x, str) else "-".join(x).replace("{", "").replace("}", ""),
)
def test_each_format_prints_hostile_text_inert(
    stored: dict[str, Any], command: str, args: list[str], fmt: str
) -> None:
    argv = [command, *(a.format(**stored["ids"]) for a in args), "--format", fmt]
    if command == "history":
        argv += ["-n", "10"]
    out = _ok(*argv, env=stored["env"])
    _check(fmt, out, " ".join(argv))


@pytest.mark.parametrize("fmt", _formats("bench"))
def test_bench_prints_a_hostile_server_model_inert(tmp_path: Path, fmt: str) -> None:
    env = {"TOKBENCH_HOME": str(tmp_path / "home")}
    with FakeServer(FakeConfig(model=HOSTILE, n_tokens=4)) as srv:
        out = _ok("bench", "--url", srv.url, "-p", "16", "-n", "4", "-r", "3", "--format", fmt,
                  env=env)  # fmt: skip
    _check(fmt.removeprefix("llama-bench-"), out, f"bench --format {fmt}")


def test_quant_md_as_printed_by_quant(stored: dict[str, Any]) -> None:
    _check("md", stored["quant_md"], "quant --format md")
    assert "&lt;script&gt;" in stored["quant_md"]  # the tags are there, as text


@pytest.mark.parametrize("fmt", _formats("export"))
def test_export_to_a_file(stored: dict[str, Any], fmt: str) -> None:
    out = stored["tmp"] / f"export.{fmt}"
    _ok("export", stored["ids"]["served"], "--format", fmt, "-o", str(out), env=stored["env"])
    _check(fmt, out.read_text("utf-8"), f"export -o {out.name}")


def test_report_and_its_charts(stored: dict[str, Any]) -> None:
    page, charts = stored["tmp"] / "report.html", stored["tmp"] / "charts"
    ids = stored["ids"]
    _ok(
        "report", ids["imported"], ids["served"], ids["quant"], "-o", str(page),
        "--charts", str(charts), env=stored["env"],
    )  # fmt: skip
    _check("html", page.read_text("utf-8"), "report -o")
    assert "&lt;script&gt;alert(1)" in page.read_text("utf-8")
    for svg in charts.glob("*.svg"):
        text = svg.read_text("utf-8")
        _check_terminal(text, svg.name)
        assert not any(tag in text for tag in RAW_TAGS), svg.name


def test_run_folder_files(stored: dict[str, Any]) -> None:
    folder = Path(stored["env"]["TOKBENCH_HOME"]) / "runs" / stored["ids"]["served"]
    _check("md", (folder / "results.md").read_text("utf-8"), "results.md")
    _check("json", (folder / "results.json").read_text("utf-8"), "results.json")


def test_json_is_exact(stored: dict[str, Any]) -> None:
    """JSON escapes what a terminal would obey and decodes back to the very bytes stored."""
    doc = _json_out("show", stored["ids"]["served"], env=stored["env"])
    assert doc["run"]["model"] == HOSTILE
    assert doc["requests"][0]["answer"].startswith(ANSWER)


def test_error_quoting_a_name_is_inert(stored: dict[str, Any]) -> None:
    r = tokbench("show", HOSTILE, env=stored["env"])
    assert r.returncode != 0 and "Traceback" not in r.stderr
    _check_terminal(r.stderr, "error")
    assert "pwned" in r.stderr


def test_markdown_shows_each_escape_as_text(stored: dict[str, Any]) -> None:
    """What a person sees: the escapes as text (`\\x1b\\[2J`, its `[` escaped for Markdown),
    not a cleared screen."""
    out = _ok("show", stored["ids"]["served"], "--format", "md", env=stored["env"])
    assert "\\x1b\\[2J" in out and "\\x9b31m" in out and "\\u202e" in out and "\\x07" in out


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("a\x1b[2Jb", "a\\x1b[2Jb"),
        ("\x1b]0;t\x07", "\\x1b]0;t\\x07"),
        ("\x9b31m", "\\x9b31m"),
        ("abc\u202edef", "abc\\u202edef"),
        ("tab\tand\nnewline", "tab\tand\nnewline"),
        ("\r\x00\x7f", "\\x0d\\x00\\x7f"),
        ("csv\r\nline", "csv\r\nline"),  # a CRLF line end is no attack
    ],
)
def test_shown(text: str, shown: str) -> None:
    from tokbench.render.safe import shown as show

    assert show(text) == shown


def test_markdown_cell_rule() -> None:
    from tokbench.render.safe import md

    assert md("<b>|x</b>") == "&lt;b&gt;\\|x&lt;/b&gt;"
    assert md("[a](javascript:x) `c` *e*\nnext") == "\\[a\\](javascript:x) \\`c\\` \\*e\\* next"
    assert md("Q4_K_M & co") == "Q4_K_M &amp; co"


@pytest.mark.parametrize("start", ["=", "+", "-", "@", "\t", "\r"])
def test_csv_formula_starts_are_neutralised(start: str) -> None:
    from tokbench.render.safe import csv_cell

    cell = csv_cell(start + "1+1")
    assert cell.startswith("'") and "1+1" in cell
    assert csv_cell(-1.5) == -1.5 and csv_cell("a=b") == "a=b"


def test_json_text_round_trips_and_holds_no_raw_control() -> None:
    from tokbench.render.safe import json_text

    value = {"m": HOSTILE, "list": [ANSWER, "\u2066x\u2069", "\x7f"]}
    for indent in (None, 2):
        text = json_text(value, indent)
        assert json.loads(text) == value
        _check_terminal(text, "json_text")
