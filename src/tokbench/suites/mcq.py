"""Multiple-choice items from JSONL (one object a line), graded generatively over any chat
API: the model is asked for the letter, and the letter it states is compared.

Each line: {"question": "...", "choices": ["..", ".."] or {"A": "..", ...},
            "answer": "B" | 1 (0-based index) | "the choice's text", "id": "optional"}
"""

from __future__ import annotations

import json
import string
from typing import Any

from tokbench.errors import TokbenchError

LETTERS = string.ascii_uppercase[:10]


def _item(obj: Any, where: str, n: int) -> dict[str, Any]:
    if not isinstance(obj, dict):
        raise TokbenchError(f"{where}: each line must be a JSON object")
    q = obj.get("question")
    if not isinstance(q, str) or not q.strip():
        raise TokbenchError(f"{where}, field 'question': a non-empty string is required")
    raw = obj.get("choices")
    if isinstance(raw, dict):
        keys = [str(k).strip().upper() for k in raw]
        if keys != list(LETTERS[: len(keys)]):
            raise TokbenchError(f"{where}, field 'choices': keys must be A, B, C... in order")
        choices = [str(v) for v in raw.values()]
    elif isinstance(raw, list) and all(isinstance(c, str | int | float) for c in raw):
        choices = [str(c) for c in raw]
    else:
        raise TokbenchError(f"{where}, field 'choices': a list or an A/B/C... object is required")
    if not 2 <= len(choices) <= len(LETTERS):
        raise TokbenchError(f"{where}, field 'choices': 2 to {len(LETTERS)} choices are allowed")
    ans = obj.get("answer")
    if isinstance(ans, int) and not isinstance(ans, bool) and 0 <= ans < len(choices):
        letter = LETTERS[ans]
    elif isinstance(ans, str) and ans.strip().upper() in LETTERS[: len(choices)]:
        letter = ans.strip().upper()
    elif isinstance(ans, str) and ans in choices:
        letter = LETTERS[choices.index(ans)]
    else:
        raise TokbenchError(
            f"{where}, field 'answer': give the letter, the 0-based index or the choice's text"
        )
    options = "\n".join(f"{LETTERS[i]}. {c}" for i, c in enumerate(choices))
    return {
        "id": str(obj.get("id") or f"q{n}"),
        "prompt": f"{q.strip()}\n{options}\nAnswer with the letter of the correct choice.",
        "grade": {"extract": "choice_letter", "score": "exact", "expected": letter},
    }


def suite_from_jsonl(text: str, source: str) -> dict[str, Any]:
    items = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        where = f"{source}, line {n}"
        try:
            obj = json.loads(line)
        except ValueError as exc:
            raise TokbenchError(f"{where}: not valid JSON ({exc})") from exc
        except RecursionError:
            raise TokbenchError(f"{where}: JSON nested too deep to be an item") from None
        items.append(_item(obj, where, n))
    if not items:
        raise TokbenchError(f"{source}: no items")
    return {
        "description": f"multiple-choice items from {source}",
        "max_tokens": 512,
        "items": items,
    }
