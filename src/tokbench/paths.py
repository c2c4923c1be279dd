"""Where tokbench keeps its database, run folders and assembled model files, and how it
writes a file the user named (`atomic_output`)."""

from __future__ import annotations

import os
import stat
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from tokbench.errors import TokbenchError


def data_dir() -> Path:
    """`TOKBENCH_HOME` if set, else the platform's user data dir."""
    if env := os.environ.get("TOKBENCH_HOME"):
        return Path(env)
    from platformdirs import user_data_path

    return user_data_path("tokbench", appauthor=False)


def cache_dir() -> Path:
    if env := os.environ.get("TOKBENCH_CACHE"):
        return Path(env)
    from platformdirs import user_cache_path

    return user_cache_path("tokbench", appauthor=False)


def default_db() -> str:
    """`TOKBENCH_DB` (a SQLite path, `sqlite:///path` or `postgresql://...`) if set, else
    results.db in the data dir."""
    return os.environ.get("TOKBENCH_DB") or str(data_dir() / "results.db")


def runs_dir() -> Path:
    return data_dir() / "runs"


def output_problem(path: Path) -> str | None:
    """Why a user-named output file cannot be written (one sentence), or None: checked
    before the work starts, so a typo costs nothing."""
    if path.is_dir():
        return "it is a folder, not a file"
    if path.exists() and not path.is_file():
        return None  # a device or a pipe (/dev/stdout, a FIFO): written as it is
    folder = path.absolute().parent
    if not folder.is_dir():
        return f"the folder {folder} does not exist"
    if not os.access(folder, os.W_OK | os.X_OK):
        return f"the folder {folder} is not writable"
    return None


@contextmanager
def atomic_output(path: Path, *, newline: str | None = None) -> Iterator[IO[str]]:
    """A user-named text file written all or nothing: into a temporary file beside it,
    synced, then renamed over `path`. A failure (a full disk, a vanished folder) is one
    TokbenchError naming the file, and leaves no partial file: an old file at `path` keeps
    its content and the temporary file is removed. A device or pipe (`/dev/stdout`) is
    written directly: nothing can be renamed over it."""
    if why := output_problem(path):
        raise TokbenchError(f"cannot write {path}: {why}")
    try:
        if path.exists() and not path.is_file():
            with path.open("w", encoding="utf-8", newline=newline) as out:
                yield out
            return
        target = path.resolve() if path.is_symlink() else path
        fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    except OSError as exc:
        raise TokbenchError(f"cannot write {path}: {exc.strerror or exc}") from None
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline=newline) as out:
            yield out
            out.flush()
            os.fsync(out.fileno())
        tmp.chmod(_new_file_mode(target))
        tmp.replace(target)
    except OSError as exc:
        raise TokbenchError(
            f"cannot write {path}: {exc.strerror or exc}; it is left as it was"
        ) from None
    finally:
        tmp.unlink(missing_ok=True)


def _new_file_mode(target: Path) -> int:
    """The mode the file would have had without the temporary file (mkstemp's is 0600):
    the old file's, else what the umask gives a new one."""
    try:
        return stat.S_IMODE(target.stat().st_mode)
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask
