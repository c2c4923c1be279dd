"""The commands whose stdout is pinned byte for byte by `test_output_formats.py`, and the
script that wrote the golden files (`python -m tests.cli.golden_outputs`): it was run on
main before the output formats became a registry, so the test proves that refactoring
changed no byte. Rerun it only for an intended change of output, and review the diff."""

from __future__ import annotations

import shutil
from pathlib import Path

from click.testing import CliRunner

from tokbench.cli import cli

FIXTURE = Path(__file__).parents[1] / "store" / "fixtures" / "store-0.1.0.sqlite"
GOLDEN = Path(__file__).parent / "golden"
SUITE, BENCH, EMBEDDED = (
    "20261202-080404-5bce-cd3991",
    "20261202-080405-5bce-4bd0f4",
    "20261202-080413-5bce-60e669",
)
ESTIMATE = ("estimate", "deepseek-r1", "--quant", "Q4_K_M", "--bandwidth", "50", "--ram", "64")


def _with_formats(args: tuple[str, ...], *formats: str) -> list[tuple[str, ...]]:
    return [(*args, "--format", f) for f in formats]


COMMANDS: list[tuple[str, ...]] = [
    *_with_formats(("history",), "table", "json"),
    *[
        c
        for r in (SUITE, BENCH, EMBEDDED)
        for c in _with_formats(("show", r), "table", "md", "json")
    ],
    ("show", SUITE, "--answers"),
    ("show", BENCH, "--json"),
    *_with_formats(("compare",), "table", "md", "csv", "json"),
    *_with_formats(("compare", SUITE, "--ref", EMBEDDED), "table", "md", "json"),
    *_with_formats(
        ("answers", SUITE, EMBEDDED, "--item", "autumn-quatrain"), "table", "md", "json"
    ),
    *_with_formats(("export",), "csv", "jsonl"),
    *_with_formats(("export", "--bench"), "csv", "jsonl"),
    ("export", "--json"),
    *_with_formats(("plan",), "table", "md", "json"),
    *_with_formats(("plan", "--price", "seed-4ch=2000", "--kwh-price", "0.3"), "table", "md"),
    *_with_formats(ESTIMATE, "table", "md", "json"),
]


def name(args: tuple[str, ...]) -> str:
    """The golden file of one command line."""
    return "_".join(a.lstrip("-").replace("=", "-").replace(".", "") for a in args) + ".out"


def invoke(args: tuple[str, ...], db: Path) -> str:
    """The command's exit code and stdout, as one text to compare."""
    runner = CliRunner()
    with_db = args if args[0] in ("plan", "estimate") else (*args, "--db", str(db))
    result = runner.invoke(cli, list(with_db), catch_exceptions=False)
    return f"exit {result.exit_code}\n{result.stdout}"


def fresh_store(tmp: Path) -> Path:
    db = tmp / "store.sqlite"
    shutil.copy(FIXTURE, db)
    return db


if __name__ == "__main__":
    import tempfile

    GOLDEN.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        db = fresh_store(Path(tmp))
        for args in COMMANDS:
            (GOLDEN / name(args)).write_text(invoke(args, db), encoding="utf-8", newline="")
