"""The evaluation text: the built-in bilingual English/Chinese text shipped in
`quant/data/` (sources in `data/SOURCES.md`), or any UTF-8 text file."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from tokbench.core.files import read_bounded
from tokbench.errors import TokbenchError

BUILTIN_NAME = "eval_en_zh.txt"
MAX_TEXT_BYTES = 64 << 20  # wikitext-2's test set is 1.3 MB; 64 MiB is ~30M tokens to score


@dataclass(frozen=True, slots=True)
class EvalText:
    name: str  # "builtin:eval_en_zh.txt" or the file's path
    text: str
    sha256: str  # of the UTF-8 bytes: part of a reference file's key


def text_sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def builtin_text() -> EvalText:
    data = resources.files("tokbench.quant").joinpath("data", BUILTIN_NAME).read_text("utf-8")
    return EvalText(f"builtin:{BUILTIN_NAME}", data, text_sha256(data))


def load_text(path: Path | str | None = None) -> EvalText:
    """The built-in text when `path` is None, else the UTF-8 file at `path`."""
    if path is None:
        return builtin_text()
    p = Path(path)
    try:
        data = read_bounded(p, MAX_TEXT_BYTES, "text file").decode("utf-8")
    except UnicodeDecodeError as exc:
        raise TokbenchError(
            f"--text {p}: not UTF-8 text ({exc.reason} at byte {exc.start})"
        ) from None
    if not data.strip():
        raise TokbenchError(f"--text {p}: the file is empty")
    return EvalText(str(p), data, text_sha256(data))
