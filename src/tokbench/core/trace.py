"""What one request produced on the wire, as timestamped values.

Backends turn their protocol into a `Trace`; every metric is computed from it by
the pure functions in `tokbench.core.metrics`. Times are `time.perf_counter_ns()`
values (monotonic), taken when a chunk was read, never later.

Thinking vs answer: Servers deliver thinking in a separate field (`reasoning_content`, `reasoning`,
Ollama's `thinking`) or inline in the answer text: `<think>...</think>`, or only
`...</think>` when the chat template already opened the tag in the prompt.
`split_inline` moves inline thinking to the thinking channel, piece by piece, so
every timestamp survives; the tags themselves stay as empty thinking pieces
because they are tokens the model generated.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from typing import Any, Literal

from tokbench.core.config import Sampling

Channel = Literal["answer", "thinking"]
TokenSource = Literal["engine", "server", "estimate"]
ANSWER: Channel = "answer"
THINKING: Channel = "thinking"


@dataclass(frozen=True, slots=True)
class Count:
    """A token count and where it came from."""

    value: int
    source: TokenSource


@dataclass(frozen=True, slots=True)
class EngineTiming:
    """Timings the engine or server measured on its own clock."""

    prompt_tokens: int | None = None
    prompt_ms: float | None = None
    decode_tokens: int | None = None
    decode_ms: float | None = None
    load_ms: float | None = None
    cached_prompt_tokens: int | None = None  # prompt tokens served from the server's cache
    draft_tokens: int | None = None  # speculative decoding: tokens the draft model proposed
    draft_accepted_tokens: int | None = None  # ... and those the target model kept


@dataclass(frozen=True, slots=True)
class ChatRequest:
    messages: tuple[tuple[str, str], ...]  # (role, content)
    max_tokens: int
    sampling: Sampling = field(default_factory=Sampling)
    # server-specific request fields passed through as given (e.g. llama-server's
    # `grammar`, vLLM's `chat_template_kwargs`); the embedded engine ignores them
    extra: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)


@dataclass(frozen=True, slots=True)
class Trace:
    """One request, start to end. `times_ns[i]` is when `texts[i]` was read."""

    start_ns: int
    end_ns: int
    times_ns: tuple[int, ...]
    channels: tuple[Channel, ...]
    texts: tuple[str, ...]
    prompt_tokens: Count | None = None
    completion_tokens: Count | None = None
    thinking_tokens: Count | None = None
    finish_reason: str | None = None
    engine: EngineTiming | None = None
    error: str | None = None
    think_open: bool = False  # the output ended inside a thinking block
    server: dict[str, Any] | None = None  # what the server said about itself (build, cache...)

    def text(self, channel: Channel) -> str:
        """The channel's whole text, clean for storage (see `clean_text`)."""
        return clean_text(
            "".join(t for c, t in zip(self.channels, self.texts, strict=True) if c == channel)
        )


def clean_text(text: str) -> str:
    """Valid UTF-8 in NFC: a lone surrogate (JSON may carry `"\\ud83d"`) becomes U+FFFD,
    so storage and every output can encode it."""
    if text.isascii():
        return text
    return unicodedata.normalize("NFC", _SURROGATE.sub("\ufffd", text))


_SURROGATE = re.compile("[\ud800-\udfff]")


class Recorder:
    """Collects deltas cheaply while a stream is read; `finish()` freezes them.

    Kept to appends on three lists so the hot loop does no other work.
    """

    __slots__ = ("channels", "start_ns", "texts", "times_ns")

    def __init__(self, start_ns: int) -> None:
        self.start_ns = start_ns
        self.times_ns: list[int] = []
        self.channels: list[Channel] = []
        self.texts: list[str] = []

    def add(self, t_ns: int, channel: Channel, text: str) -> None:
        if text:
            self.times_ns.append(t_ns)
            self.channels.append(channel)
            self.texts.append(text)

    def finish(
        self,
        end_ns: int,
        *,
        prompt_tokens: Count | None = None,
        completion_tokens: Count | None = None,
        thinking_tokens: Count | None = None,
        finish_reason: str | None = None,
        engine: EngineTiming | None = None,
        error: str | None = None,
        server: dict[str, Any] | None = None,
    ) -> Trace:
        (times, channels, texts), think_open = split_inline(
            tuple(self.times_ns), tuple(self.channels), tuple(self.texts)
        )
        return Trace(
            start_ns=self.start_ns,
            end_ns=end_ns,
            times_ns=times,
            channels=channels,
            texts=texts,
            think_open=think_open,
            server=server,
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            thinking_tokens=thinking_tokens,
            finish_reason=finish_reason,
            engine=engine,
            error=clean_text(error) if error else error,
        )


# Thinking vs answer, whatever the server.

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
