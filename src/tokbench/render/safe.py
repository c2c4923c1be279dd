"""Foreign text (model output, model and server names, imported fields, quant references'
names, server messages) made inert wherever it is written. One rule per kind of output:

- every text output (terminal tables, Markdown, CSV, HTML, SVG, messages): control
  characters (C0 but newline and tab, DEL, C1 such as the 8-bit CSI U+009B) and the bidi
  overrides that reorder what is shown are written as visible `\\x1b` / `\\u202e` text,
  never emitted: `shown()`, applied to the whole document where it is written;
- Markdown: HTML tags (as entities), links, code spans, emphasis and table pipes escaped
  in every foreign cell or sentence: `md()`; model output goes in a code fence longer than
  any backtick run inside it (`fence()`), where nothing is markup;
- CSV: a cell that starts with `=`, `+`, `-`, `@`, tab or carriage return gets a leading
  `'`, so no spreadsheet runs it as a formula (OWASP, "CSV injection"): `csv_cell()`;
- JSON: exact. Its own escaping covers C0; DEL, C1 and bidi overrides are written as
  `\\uXXXX`, which decodes to the same text: `json_text()`."""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import IO, Any

from rich.console import Console
from rich.markup import escape
from rich.segment import Segment

# DEL, C1, then the bidi embeddings, overrides, isolates and marks that reorder or hide
# what a terminal or an editor shows ("Trojan Source", CVE-2021-42574).
_BEYOND_C0 = r"\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"
# C0 but tab, newline and the CR of a CRLF line end (CSV's): a lone CR could rewrite a line
_CONTROL = re.compile(rf"[\x00-\x08\x0b\x0c\x0e-\x1f{_BEYOND_C0}]|\r(?!\n)")
_JSON_RAW = re.compile(rf"[{_BEYOND_C0}]")  # what JSON's own escaping leaves raw

# Markdown that could carry HTML, a link, a code span or a cell break; `_` and `#` stay
# (intraword `_` is no emphasis in GFM, and foreign text never starts a line here), so
# `Q4_K_M` reads as itself in the raw Markdown too.
_MD_SPECIAL = str.maketrans(
    {c: "\\" + c for c in "\\`*[]|"}
    | {"<": "&lt;", ">": "&gt;", "&": "&amp;", "\n": " ", "\r": " "}
)
CSV_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _visible(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def shown(text: object) -> str:
    """`text` with every control character and bidi override written as visible text
    (`\\x1b`, `\\u202e`); newlines, CRLF line ends and tabs stay."""
    return _CONTROL.sub(_visible, str(text))


def plain(text: object) -> str:
    """`text` for a rich console with markup: markup escaped, control characters shown."""
    return escape(shown(text))


def md(text: object) -> str:
    """Foreign text inert in Markdown (a table cell, a heading, a sentence): no HTML tag,
    link, code span or table cell break can come out of it, and it stays on its line."""
    return str(text).translate(_MD_SPECIAL)


def md_row(cells: Iterable[object]) -> str:
    """One Markdown table row, every cell through `md()`."""
    return "| " + " | ".join(md(c) for c in cells) + " |"


def fence(text: str) -> str:
    """A code fence longer than any backtick run inside, so model output can't break out."""
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    ticks = "`" * max(3, longest + 1)
    return f"{ticks}text\n{text}\n{ticks}"


def csv_cell(value: Any) -> Any:
    """A CSV cell a spreadsheet shows, never evaluates, and a terminal never obeys: text
    that starts like a formula gets a leading `'`, control characters are shown. Numbers
    are left as they are (`-1.5` is a number, not a formula)."""
    if not isinstance(value, str):
        return value
    return shown("'" + value if value.startswith(CSV_FORMULA_START) else value)


def write_csv(out: IO[str], fieldnames: Sequence[str], rows: Iterable[Mapping[str, Any]]) -> None:
    """A header and rows (dicts keyed by `fieldnames`), every cell through `csv_cell()`."""
    w = csv.writer(out)
    w.writerow([csv_cell(f) for f in fieldnames])
    for row in rows:
        w.writerow([csv_cell(row.get(f)) for f in fieldnames])


def json_text(obj: Any, indent: int | None = 2) -> str:
    """`obj` as JSON that decodes to exactly `obj` and holds no raw control character."""
    text = json.dumps(obj, ensure_ascii=False, indent=indent)
    return _JSON_RAW.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


class SafeConsole(Console):
    """A console that shows control characters in anything it prints (`\\x1b[2J` stays
    text), whatever renderable carried them; its own styling is applied after this."""

    def render(self, renderable: Any, options: Any = None) -> Iterable[Segment]:
        for seg in super().render(renderable, options):
            if not seg.control and _CONTROL.search(seg.text):
                seg = Segment(shown(seg.text), seg.style, seg.control)
            yield seg
