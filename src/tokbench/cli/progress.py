"""Live progress on stderr: a bar with ETA and the current request's tokens/s."""

from __future__ import annotations

import time
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from tokbench.core.records import RequestRecord
from tokbench.render.safe import plain
from tokbench.suites.loader import Item


class _RateColumn(ProgressColumn):
    def __init__(self, observer: ProgressObserver) -> None:
        super().__init__()
        self.obs = observer

    def render(self, task: Task) -> Text:
        o = self.obs
        if o.first_ns is None or o.tokens < 2:
            return Text(f"{o.tokens:>5} tok", style="cyan")
        secs = (time.perf_counter_ns() - o.first_ns) / 1e9
        rate = (o.tokens - 1) / secs if secs > 0 else 0.0
        return Text(f"{o.tokens:>5} tok {rate:6.1f} tok/s", style="cyan")


class ProgressObserver:
    """Counts tokens with a plain increment; rich redraws from a thread at 8 Hz."""

    def __init__(self, console: Console, total: int) -> None:
        self.tokens = 0
        self.first_ns: int | None = None
        self.progress = Progress(
            TextColumn("{task.description:<22}"),
            BarColumn(bar_width=24),
            MofNCompleteColumn(),
            _RateColumn(self),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=console,
            refresh_per_second=8,
            transient=True,
        )
        self.task = self.progress.add_task("starting", total=total)
        self.failed: list[str] = []

    def __enter__(self) -> ProgressObserver:
        self.progress.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.progress.stop()

    def started(self, item: Item, rep: int, index: int, total: int) -> None:
        self.tokens = 0
        self.first_ns = None
        self.progress.update(self.task, description=f"{plain(item.id)} #{rep + 1}", completed=index)

    def token(self) -> None:
        if self.first_ns is None:
            self.first_ns = time.perf_counter_ns()
        self.tokens += 1

    def finished(self, record: RequestRecord) -> None:
        self.progress.advance(self.task)
        if record.status != "ok":
            self.progress.console.print(
                f"[red]✗ {plain(record.item_id)} #{record.rep + 1}:[/red] {plain(record.error)}",
                markup=True,
                highlight=False,
            )


class BenchProgress:
    """Bench progress: measurements done of planned, ETA, the test being measured."""

    def __init__(self, console: Console) -> None:
        self.progress = Progress(
            TextColumn("{task.description:<34}"),
            BarColumn(bar_width=24),
            MofNCompleteColumn(),
            TextColumn("{task.fields[last]}"),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=console,
            transient=True,
        )
        self.task = self.progress.add_task("starting", total=None, last="")

    def __enter__(self) -> BenchProgress:
        self.progress.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.progress.stop()

    def plan(self, total: int) -> None:
        self.progress.update(self.task, total=total)

    def measuring(self, model: str, test: str, rep: int, warmup: bool) -> None:
        label = f"{plain(test)} {'warm-up' if warmup else f'#{rep + 1}'}"
        self.progress.update(self.task, description=label)

    def measured(self, sample: Any) -> None:
        last = f"{sample.tps:.1f} t/s" if sample.tps else sample.status
        self.progress.update(self.task, advance=1, last=last)
