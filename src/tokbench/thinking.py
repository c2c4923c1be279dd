"""One normaliser for thinking vs answer, whatever the server.

Servers deliver thinking in a separate field (`reasoning_content`, `reasoning`,
Ollama's `thinking`) or inline in the answer text: `<think>...</think>`, or only
`...</think>` when the chat template already opened the tag in the prompt.
`split_inline` moves inline thinking to the thinking channel, piece by piece, so
every timestamp survives; the tags themselves stay as empty thinking pieces
because they are tokens the model generated.
"""

from __future__ import annotations

from tokbench.events import ANSWER, THINKING, Channel

OPEN, CLOSE = "<think>", "</think>"

Pieces = tuple[tuple[int, ...], tuple[Channel, ...], tuple[str, ...]]


def split_inline(
    times: tuple[int, ...], channels: tuple[Channel, ...], texts: tuple[str, ...]
) -> tuple[Pieces, bool]:
    """Returns the re-labelled pieces and whether a thinking block was left open."""
    answer = "".join(t for c, t in zip(channels, texts, strict=True) if c == ANSWER)
    if CLOSE not in answer and OPEN not in answer:
        return (times, channels, texts), False
    body = answer.lstrip()
    lead = len(answer) - len(body)
    opened = body.startswith(OPEN)
    think_from = lead + len(OPEN) if opened else 0
    close = answer.find(CLOSE, think_from)
    if close < 0 and not opened:
        return (times, channels, texts), False  # a stray "<think>" mid-answer is just text
    think_to = close if close >= 0 else len(answer)
    answer_from = close + len(CLOSE) if close >= 0 else len(answer)
    # character ranges of the answer text -> channel ("" text for the tags themselves)
    spans = [
        (0, think_from, THINKING, True),  # leading space and "<think>": a tag piece
        (think_from, think_to, THINKING, False),
        (think_to, answer_from, THINKING, True),  # "</think>"
        (answer_from, len(answer), ANSWER, False),
    ]
    out_t: list[int] = []
    out_c: list[Channel] = []
    out_x: list[str] = []
    pos = 0
    for t, c, x in zip(times, channels, texts, strict=True):
        if c != ANSWER:
            out_t.append(t)
            out_c.append(c)
            out_x.append(x)
            continue
        start, end = pos, pos + len(x)
        pos = end
        for a, b, channel, is_tag in spans:
            lo, hi = max(a, start), min(b, end)
            if lo < hi:
                out_t.append(t)
                out_c.append(channel)
                out_x.append("" if is_tag else x[lo - start : hi - start])
    return (tuple(out_t), tuple(out_c), tuple(out_x)), close < 0


def answer_state(
    answer: str, thinking: str, finish_reason: str | None, think_open: bool, error: str | None
) -> str:
    """answered | thinking_truncated | empty | error."""
    if error:
        return "error"
    if answer.strip():
        return "answered"
    if think_open or (thinking.strip() and finish_reason == "length"):
        return "thinking_truncated"
    return "empty"
