"""What a conversation run asks: each conversation's system prompt and user turns, from a
synthetic generator, a JSONL file of message lists, or the built-in seed conversation
(the seed article's five questions asked as one five-turn conversation); and when each
conversation starts: all at once within the concurrency limit (closed loop, like
`bench -c`), or on a clock (open loop) at a constant rate, as a Poisson process, or in
bursts."""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path

from tokbench.core.config import ConverseConfig
from tokbench.errors import TokbenchError
from tokbench.suites.loader import load_suite

MAX_FILE_BYTES = 64 * 2**20
# common short English words: about one token each in most tokenizers
_WORDS = (
    "the of and to in is was for on that with as by at from it an be this are or his "
    "which had not but have were one all they their there been has when who will more "
    "no if out so said what up its about into than them can only other new some time "
    "could these two may then first any like now my such make over our even most made "
    "after also did many before must through back years where much your way well down"
).split()


@dataclass(frozen=True, slots=True)
class Conversation:
    """One user's conversation: the system prompt (may be empty) and the user turns; the
    assistant's turns are the server's own answers, sent back as history."""

    system: str
    users: tuple[str, ...]


def words(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(_WORDS) for _ in range(n))


def synthetic(cfg: ConverseConfig) -> list[Conversation]:
    """`conversations` conversations of `turns` turns. Every system prompt starts with the
    same `shared_prefix_tokens` words (a prefix a server can share across conversations),
    then words of its own; each conversation's first words differ so no two are the same
    prompt. Lengths are in words, about a token each."""
    shared = words(random.Random(f"{cfg.seed}:shared"), cfg.shared_prefix_tokens)
    out = []
    for i in range(cfg.conversations):
        rng = random.Random(f"{cfg.seed}:{i}")
        own_n = max(0, cfg.system_tokens - cfg.shared_prefix_tokens)
        own = f"conversation {i}: " + words(rng, own_n)
        system = f"{shared} {own}".strip()
        users = tuple(f"question {t + 1}: {words(rng, cfg.user_tokens)}" for t in range(cfg.turns))
        out.append(Conversation(system, users))
    return out


def seed_conversation() -> Conversation:
    """The seed's five questions, asked in turn in one conversation."""
    return Conversation("", tuple(item.prompt for item in load_suite("seed5").items))


def from_file(path: Path) -> list[Conversation]:
    """One conversation per line: a JSON list of {"role", "content"} messages. A leading
    system message is the system prompt; the user messages are the turns (assistant
    messages in the file are ignored: the server's own answers become the history)."""
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            raise TokbenchError(f"{path}: larger than {MAX_FILE_BYTES >> 20} MiB")
        lines = path.read_text("utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise TokbenchError(f"cannot read conversations from {path}: {exc}") from exc
    out = []
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            messages = json.loads(line)
        except ValueError as exc:
            raise TokbenchError(f"{path}:{n}: not JSON ({exc})") from exc
        if not isinstance(messages, list) or not all(
            isinstance(m, dict)
            and isinstance(m.get("role"), str)
            and isinstance(m.get("content"), str)
            for m in messages
        ):
            raise TokbenchError(
                f'{path}:{n}: expected a list of {{"role": ..., "content": ...}} messages'
            )
        system = messages[0]["content"] if messages and messages[0]["role"] == "system" else ""
        users = tuple(m["content"] for m in messages if m["role"] == "user")
        if not users:
            raise TokbenchError(f"{path}:{n}: a conversation without a user message")
        out.append(Conversation(system, users))
    if not out:
        raise TokbenchError(f"{path}: no conversations in the file")
    return out


def conversations(cfg: ConverseConfig) -> list[Conversation]:
    """The run's conversations, repeated round-robin up to `cfg.conversations` for a file
    or the seed (so more users than slots can share one script)."""
    if cfg.source == "synthetic":
        return synthetic(cfg)
    base = [seed_conversation()] if cfg.source == "seed5" else from_file(Path(cfg.source))
    return [base[i % len(base)] for i in range(cfg.conversations)]


PATTERNS = ("closed", "constant", "poisson", "burst")
BURST_SIZE = 4  # conversations that arrive together in a burst


def arrival_offsets(pattern: str, n: int, rate: float | None, seed: int = 0) -> list[float]:
    """`n` start offsets for `pattern` at `rate` conversations per second (a burst of
    `BURST_SIZE` every `BURST_SIZE / rate` seconds keeps the same mean rate)."""
    if pattern not in PATTERNS:
        choices = ", ".join(PATTERNS)
        raise TokbenchError(f"unknown arrival pattern {pattern!r}: use one of {choices}")
    if pattern == "closed":
        return [0.0] * n
    if rate is None or not rate > 0:
        raise TokbenchError(f"--arrival {pattern} needs --rate, conversations per second > 0")
    if pattern == "constant":
        return [i / rate for i in range(n)]
    if pattern == "burst":
        return [(i // BURST_SIZE) * BURST_SIZE / rate for i in range(n)]
    rng = random.Random(seed)
    t, out = 0.0, []
    for _ in range(n):
        out.append(t)
        t += rng.expovariate(rate)
    return out
