"""Every format of the cheap read-only commands prints the same bytes as before the
formats became a registry (golden files written by main's code: `golden_outputs.py`),
and each command's `--format` choices are its registry's names."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli.golden_outputs import COMMANDS, GOLDEN, fresh_store, invoke, name


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return fresh_store(tmp_path_factory.mktemp("golden"))


@pytest.mark.parametrize("args", COMMANDS, ids=" ".join)
def test_stdout_is_unchanged(args: tuple[str, ...], store: Path) -> None:
    expected = (GOLDEN / name(args)).read_bytes().decode()  # CSV line ends kept
    assert invoke(args, store) == expected
