"""How long an eval takes, before it runs: items × (prompt at prefill speed + reply at decode
speed). A reasoning model's reply is mostly thinking: the seed's R1 wrote 500-2,000 tokens
an answer, so the estimate is given for that range."""

from __future__ import annotations

from dataclasses import dataclass

SEED_DECODE_TPS = 1.5  # the seed's DeepSeek-R1 IQ2_XXS on four DDR4 channels
SEED_REPLY_TOKENS = (500, 1000, 2000)


@dataclass(frozen=True, slots=True)
class TimeEstimate:
    items: int
    reply_tokens: int
    prompt_tokens: int
    decode_tps: float
    prefill_tps: float | None  # None: prefill not counted (the estimate is a lower bound)

    @property
    def seconds(self) -> float:
        per_item = self.reply_tokens / self.decode_tps
        if self.prefill_tps:
            per_item += self.prompt_tokens / self.prefill_tps
        return self.items * per_item


def estimates(
    items: int,
    decode_tps: float,
    prefill_tps: float | None,
    prompt_tokens: int,
    reply_tokens: tuple[int, ...] = SEED_REPLY_TOKENS,
) -> list[TimeEstimate]:
    return [TimeEstimate(items, r, prompt_tokens, decode_tps, prefill_tps) for r in reply_tokens]
