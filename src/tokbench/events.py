"""What one request produced on the wire, as timestamped values.

Backends turn their protocol into a `Trace`; every metric is computed from it by
the pure functions in `tokbench.metrics`. Times are `time.perf_counter_ns()`
values (monotonic), taken when a chunk was read, never later.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

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


@dataclass(frozen=True, slots=True)
class Sampling:
    temperature: float | None = None
    top_p: float | None = None
    top_k: int | None = None
    seed: int | None = None


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
        return "".join(t for c, t in zip(self.channels, self.texts, strict=True) if c == channel)


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

    def count(self, channel: Channel) -> int:
        return sum(1 for c in self.channels if c == channel)

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
        from tokbench.thinking import split_inline

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
            error=error,
        )
