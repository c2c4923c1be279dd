"""Option values checked before any work starts: finite numbers within what makes sense
(the limit is in the message), output paths whose folder exists and can be written."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import click


class Number(click.ParamType[float]):
    """A finite number in [low, high] (`low` excluded with `open_low`): `inf`, `nan`,
    `1e400`, negative timeouts and absurd counts get one sentence, not a traceback."""

    def __init__(
        self,
        low: float,
        high: float,
        *,
        integer: bool = False,
        open_low: bool = False,
        unit: str = "",
    ) -> None:
        self.low, self.high, self.integer, self.open_low, self.unit = (
            low,
            high,
            integer,
            open_low,
            unit,
        )
        self.name = "integer" if integer else "number"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, int | float) and not isinstance(value, bool):
            number = float(value)
        else:
            try:
                number = float(str(value).strip())
            except ValueError:
                self.fail(
                    f"{value!r} is not {'an integer' if self.integer else 'a number'}", param, ctx
                )
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite {self.name}", param, ctx)
        if self.integer and not number.is_integer():
            self.fail(f"{value!r} is not a whole number", param, ctx)
        too_low = number <= self.low if self.open_low else number < self.low
        if too_low or number > self.high:
            low = f"more than {self.low:g}" if self.open_low else f"at least {self.low:g}"
            self.fail(f"{value!r} must be {low} and at most {self.high:g}{self.unit}", param, ctx)
        return int(number) if self.integer else number


def writable_output(path: Path) -> Path:
    """`path` can be written (`tokbench.paths.output_problem`), checked before the work."""
    from tokbench.paths import output_problem

    if why := output_problem(path):
        raise click.BadParameter(why, param_hint=str(path))
    return path


def output_path(_ctx: click.Context, _param: click.Parameter, value: Path | None) -> Path | None:
    """A click callback for `-o`-style options."""
    return None if value is None else writable_output(value)


MAX_TOKENS_PER_TEST = 2**20  # a prompt, a generation or a context depth, in tokens
MAX_SECONDS = 7 * 24 * 3600.0  # a week: no timeout, soak or test runs longer

seconds = Number(0, MAX_SECONDS, open_low=True, unit=" s")

timeout_options = [
    click.option(
        "--timeout",
        "timeout_s",
        type=seconds,
        default=None,
        help="Deadline for one whole request, connect to last byte (seconds).",
    ),
    click.option(
        "--idle-timeout",
        "idle_timeout_s",
        type=seconds,
        help="Longest wait for the next data of a response (default: --timeout).",
    ),
    click.option(
        "--max-response",
        "max_response_mb",
        type=Number(0, 4096, open_low=True, unit=" MB"),
        default=64,
        show_default=True,
        help="A response (or one line of it) larger than this many MB is an error.",
    ),
]
