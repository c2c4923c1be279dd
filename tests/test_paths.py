"""Files the user names (#20 item 10): checked before the work, written whole or not at all.
`report -o` and `export -o` against /dev/full, /proc, a missing folder, a folder, and a disk
that fills up half-way through the write."""

from __future__ import annotations

import errno
import json
import os
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.conftest import tokbench
from tokbench.cli import cli
from tokbench.errors import TokbenchError
from tokbench.paths import atomic_output, output_problem

OLD = "the old report\n"


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


def test_a_write_that_fails_half_way_keeps_the_old_file(tmp_path: Path) -> None:
    target = tmp_path / "r.html"
    target.write_text(OLD)
    full = r"cannot write .*r\.html: No space left on device"
    with pytest.raises(TokbenchError, match=full), atomic_output(target) as out:
        out.write("x" * 100_000)
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    assert target.read_text() == OLD
    assert _leftovers(tmp_path) == []


def test_a_new_file_appears_whole_with_a_normal_mode(tmp_path: Path) -> None:
    target = tmp_path / "new.csv"
    with atomic_output(target, newline="") as out:
        out.write("a,b\r\n")
        assert not target.exists()  # nothing at the path until the file is complete
    assert target.read_bytes() == b"a,b\r\n"
    umask = os.umask(0)
    os.umask(umask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~umask  # not mkstemp's 0600
    assert _leftovers(tmp_path) == []


def test_an_interrupted_write_leaves_nothing(tmp_path: Path) -> None:
    target = tmp_path / "r.html"
    with pytest.raises(KeyboardInterrupt), atomic_output(target) as out:
        out.write("half")
        raise KeyboardInterrupt
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("missing/r.html", "does not exist"),
        (".", "is a folder"),
    ],
)
def test_output_problem(tmp_path: Path, name: str, why: str) -> None:
    problem = output_problem(tmp_path / name)
    assert problem is not None and why in problem
    assert output_problem(tmp_path / "fine.html") is None
    assert output_problem(Path("/dev/null")) is None  # a device is written as it is


@pytest.fixture
def db(tmp_path: Path) -> Path:
    """A store with one imported run (a llama-bench result)."""
    row = {
        "build_commit": "abc", "model_type": "llama 1B Q8_0", "n_threads": 4, "n_prompt": 0,
        "n_gen": 16, "avg_ts": 10.5, "stddev_ts": 0.5,
    }  # fmt: skip
    result = tmp_path / "lb.json"
    result.write_text(json.dumps([row]))
    path = tmp_path / "results.db"
    r = tokbench("import", str(result), "--db", str(path))
    assert r.returncode == 0, r.stderr
    return path


def _one_sentence(r: subprocess.CompletedProcess[str]) -> str:
    """The one error a failed command printed (no traceback; a usage error adds click's
    usage lines before it); it exited non-zero."""
    assert r.returncode != 0 and "Traceback" not in r.stderr, r.stderr
    (line,) = [ln for ln in r.stderr.splitlines() if ln.startswith("Error")]
    return line


COMMANDS = [("report", "-o"), ("export", "-o")]
WRITTEN = {"report": "llama 1B", "export": "run_id,run_created_at"}  # what each file holds


@pytest.mark.parametrize(("command", "flag"), COMMANDS)
def test_dev_full_is_one_sentence(db: Path, command: str, flag: str) -> None:
    r = tokbench(command, "--db", str(db), flag, "/dev/full")
    assert "/dev/full: No space left on device" in _one_sentence(r)


@pytest.mark.parametrize(("command", "flag"), COMMANDS)
@pytest.mark.parametrize("target", ["/proc/x", "/proc/x/y.html", "/sys/x"])
def test_a_pseudo_filesystem_is_one_sentence(
    db: Path, command: str, flag: str, target: str
) -> None:
    r = tokbench(command, "--db", str(db), flag, target)
    assert target in _one_sentence(r)
    assert not Path(target).exists()


@pytest.mark.parametrize(("command", "flag"), COMMANDS)
def test_a_missing_folder_or_a_folder_is_refused_before_the_work(
    db: Path, tmp_path: Path, command: str, flag: str
) -> None:
    missing = tmp_path / "no" / "such" / "out.txt"
    r = tokbench(command, "--db", str(db), flag, str(missing))
    assert "does not exist" in _one_sentence(r) and not missing.parent.exists()
    r = tokbench(command, "--db", str(db), flag, str(tmp_path))
    assert "is a directory" in _one_sentence(r)  # click's own check, the same sentence


@pytest.mark.parametrize(("command", "flag"), COMMANDS)
def test_a_disk_that_fills_up_keeps_the_old_file(
    db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, command: str, flag: str
) -> None:
    """The disk fills while the file is flushed to it (where a full disk shows on most
    filesystems): one sentence, the old file as it was, no temporary file left."""
    target = tmp_path / "out.txt"
    target.write_text(OLD)

    def full(_fd: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", full)
    r = CliRunner().invoke(cli, [command, "--db", str(db), flag, str(target)])
    assert r.exit_code == 2 and not isinstance(r.exception, OSError)
    assert "No space left on device" in r.output and "Traceback" not in r.output
    assert target.read_text() == OLD
    assert _leftovers(tmp_path) == []


@pytest.mark.parametrize(("command", "flag"), COMMANDS)
def test_the_file_is_written(db: Path, tmp_path: Path, command: str, flag: str) -> None:
    target = tmp_path / "out.txt"
    target.write_text(OLD)
    r = tokbench(command, "--db", str(db), flag, str(target))
    assert r.returncode == 0, r.stderr
    assert WRITTEN[command] in target.read_text()
    assert _leftovers(tmp_path) == []
