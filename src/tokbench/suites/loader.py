"""Prompt suites: the built-in ones and user TOML files, validated at the boundary."""

from __future__ import annotations

import json
import re
import tomllib
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from tokbench.core.config import Sampling
from tokbench.core.trace import ChatRequest
from tokbench.errors import TokbenchError
from tokbench.grade.pipeline import GradeSpec
from tokbench.grade.registry import GRADERS
from tokbench.suites.mcq import suite_from_jsonl
from tokbench.suites.variants import seed5_variants

BUILTIN = ("seed5", "seed5-en", "seed5-variants", "basics")


class _Params(BaseModel):
    model_config = ConfigDict(extra="forbid")

    system: str | None = None
    max_tokens: int | None = Field(default=None, gt=0, le=1_000_000)
    temperature: float | None = Field(default=None, ge=0, le=5)
    top_p: float | None = Field(default=None, gt=0, le=1)
    top_k: int | None = Field(default=None, ge=0)
    seed: int | None = None
    extra_body: dict[str, Any] | None = None
    grade: GradeSpec | None = None


class _ItemFile(_Params):
    id: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.\-]+$")
    prompt: str = Field(min_length=1)
    grader: str | None = None


class _SuiteFile(_Params):
    name: str | None = None
    description: str = ""
    items: list[_ItemFile] = Field(min_length=1)


@dataclass(frozen=True, slots=True)
class Item:
    id: str
    prompt: str
    system: str | None
    max_tokens: int
    sampling: Sampling
    extra_body: dict[str, Any] = field(default_factory=dict)
    grader: str | None = None
    grade_spec: GradeSpec | None = None

    def request(self) -> ChatRequest:
        messages: tuple[tuple[str, str], ...] = (("system", self.system),) if self.system else ()
        return ChatRequest(
            (*messages, ("user", self.prompt)), self.max_tokens, self.sampling, self.extra_body
        )


@dataclass(frozen=True, slots=True)
class Suite:
    name: str
    description: str
    items: tuple[Item, ...]
    source: str  # "builtin:NAME" or the file path: for display only
    # True only for the suites shipped in this package's own data. Trust follows this flag,
    # never `source`: a user's file may well be named "builtin:seed5.toml".
    builtin: bool = False


DEFAULT_MAX_TOKENS = 1024
MAX_SUITE_BYTES = 64 * 2**20  # a suite of multiple-choice items, not a data set's dump


def load_suite(spec: str, overrides: dict[str, Any] | None = None) -> Suite:
    """Load a built-in suite by name or a user suite from a TOML file path.

    `overrides` (from CLI flags) win over the file's suite-level and item-level values.
    """
    if spec == "seed5-variants":
        suite = _build(seed5_variants(), "", "builtin:seed5-variants", spec, overrides or {})
        return replace(suite, builtin=True)
    if spec in BUILTIN:
        text = resources.files("tokbench.suites").joinpath(f"{spec}.toml").read_text("utf-8")
        return replace(_parse(text, f"builtin:{spec}", spec, overrides or {}), builtin=True)
    path = Path(spec)
    if path.exists() and not path.is_file():  # a FIFO would block, a device never end
        raise TokbenchError(f"{path}: not a regular file, so not a suite file")
    if not path.is_file():
        raise TokbenchError(
            f"no suite named {spec!r}: use one of {', '.join(BUILTIN)}, or the path of a TOML "
            "suite or a JSONL file of multiple-choice items"
        )
    try:
        with path.open("rb") as f:  # counted as read: a file may grow, or lie in st_size
            data = f.read(MAX_SUITE_BYTES + 1)
        if len(data) > MAX_SUITE_BYTES:
            raise TokbenchError(
                f"{path}: over {MAX_SUITE_BYTES // 2**20} MiB, too big to be a suite file"
            )
        text = data.decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise TokbenchError(f"{path}: cannot read suite file ({exc})") from exc
    if path.suffix == ".jsonl":
        return _build(suite_from_jsonl(text, str(path)), "", str(path), path.stem, overrides or {})
    return _parse(text, str(path), path.stem, overrides or {})


def _parse(text: str, source: str, default_name: str, overrides: dict[str, Any]) -> Suite:
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise TokbenchError(f"{source}: invalid TOML: {exc}") from exc
    except RecursionError:
        raise TokbenchError(f"{source}: TOML nested too deep to be a suite") from None
    return _build(raw, text, source, default_name, overrides)


def _build(
    raw: dict[str, Any], text: str, source: str, default_name: str, overrides: dict[str, Any]
) -> Suite:
    try:
        model = _SuiteFile.model_validate(raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = err["loc"]
        field = ".".join(str(p) for p in loc)
        line = _line_of(text, loc)
        where = f"{source}, line {line}" if line else source
        raise TokbenchError(f"{where}, field '{field}': {err['msg']}") from exc

    seen: set[str] = set()
    items = []
    for it in model.items:
        if it.grader is not None and it.grader not in GRADERS:
            raise TokbenchError(
                f"{source}: item {it.id!r} names an unknown grader {it.grader!r}; "
                f"known: {', '.join(sorted(GRADERS))}"
            )
        if it.id in seen:
            raise TokbenchError(f"{source}: item id {it.id!r} appears twice; ids must be unique")
        seen.add(it.id)
        items.append(_item(model, it, overrides))
    return Suite(model.name or default_name, model.description, tuple(items), source)


def _pick(name: str, overrides: dict[str, Any], *layers: _Params) -> Any:
    if overrides.get(name) is not None:
        return overrides[name]
    for layer in layers:
        value = getattr(layer, name)
        if value is not None:
            return value
    return None


def _item(suite: _SuiteFile, it: _ItemFile, overrides: dict[str, Any]) -> Item:
    def pick(name: str) -> Any:
        return _pick(name, overrides, it, suite)

    extra_body = {
        **(suite.extra_body or {}),
        **(it.extra_body or {}),
        **(overrides.get("extra_body") or {}),
    }
    try:  # sent as JSON with every request: a TOML date or time cannot be
        json.dumps(extra_body)
    except (TypeError, ValueError) as exc:
        raise TokbenchError(f"item {it.id!r}: extra_body is not JSON ({exc})") from None
    return Item(
        id=it.id,
        prompt=it.prompt,
        system=pick("system"),
        max_tokens=pick("max_tokens") or DEFAULT_MAX_TOKENS,
        sampling=Sampling(pick("temperature"), pick("top_p"), pick("top_k"), pick("seed")),
        # suite-level, then item-level, then --extra-body: later keys win
        extra_body=extra_body,
        grader=it.grader,
        grade_spec=it.grade or (suite.grade if it.grader is None else None),
    )


_HEADER = re.compile(r"^\s*\[\[\s*items\s*\]\]\s*(#.*)?$")
_TABLE = re.compile(r"^\s*\[")


def _line_of(text: str, loc: tuple[int | str, ...]) -> int | None:
    """Best-effort line number of a field, for error messages (tomllib keeps no positions)."""
    lines = text.splitlines()
    start, end = 0, len(lines)
    parts = list(loc)
    if len(parts) >= 2 and parts[0] == "items" and isinstance(parts[1], int):
        headers = [i for i, ln in enumerate(lines) if _HEADER.match(ln)]
        if parts[1] >= len(headers):
            return None
        start = headers[parts[1]]
        end = next((j for j in range(start + 1, len(lines)) if _TABLE.match(lines[j])), len(lines))
        parts = parts[2:]
    else:
        end = next((j for j in range(len(lines)) if _TABLE.match(lines[j])), len(lines))
    if parts:
        key = re.compile(rf"^\s*{re.escape(str(parts[0]))}\s*=")
        for i in range(start, end):
            if key.match(lines[i]):
                return i + 1
    in_item = loc[0] == "items" and len(loc) >= 2
    return start + 1 if in_item else None
