"""measure(candidate, reps) for the search: the embedded engine, or llama-server launched
with the candidate's flags on loopback. Both keep the last candidate's model loaded (the
search tops a duel up one repetition at a time), warm up after every load, and hand each
good sample to a sink so the run can store it the moment it exists.
"""

from __future__ import annotations

import contextlib
import math
import re
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from tokbench.backends.embedded import EmbeddedBackend
from tokbench.backends.embedded_bench import EmbeddedBench
from tokbench.backends.llama_server import LlamaServerBackend
from tokbench.backends.openai_bench import CompletionsBench
from tokbench.core.config import BenchTest, EngineSettings
from tokbench.core.processes import run_captured, start, stop_group
from tokbench.core.records import Sample
from tokbench.errors import TokbenchError
from tokbench.net.http import Client, TransportError
from tokbench.tune.flags import ServerDialect, dialect_from_help, engine_settings, server_command
from tokbench.tune.search import Measurement
from tokbench.tune.space import Candidate

SampleSink = Callable[[Candidate, BenchTest, int, Sample], None]
WARMUP_TOKENS = 8  # a few decoded tokens read every weight: enough to page the model in


@dataclass(frozen=True, slots=True)
class Workload:
    """What one repetition measures: tgN (the objective by default) and, when n_prompt > 0, ppN."""

    n_gen: int = 128
    n_prompt: int = 0

    def __post_init__(self) -> None:
        if self.n_gen < 1 or self.n_prompt < 0:
            raise TokbenchError("tune needs -n of at least 1 and -p of at least 0")

    @property
    def tests(self) -> tuple[BenchTest, ...]:
        tg = BenchTest("tg", self.n_gen)
        return (BenchTest("pp", self.n_prompt), tg) if self.n_prompt else (tg,)

    def n_ctx(self, candidate: Candidate) -> int:
        """A context that holds the tests and the candidate's batch (never cut by n_ctx)."""
        need = max(self.n_prompt, self.n_gen) + 16
        batch = int(candidate.get("batch", "512"))
        return 256 * math.ceil(max(need, batch, 512) / 256)


class _Engine(Protocol):
    def measure(self, test: BenchTest, rep: int) -> Sample: ...
    def close(self) -> None: ...


class CandidateMeasure:
    """The measure() the search calls; subclasses open an engine for a candidate."""

    def __init__(self, workload: Workload, sink: SampleSink, reps_done: dict[str, int]) -> None:
        self.workload = workload
        self.sink = sink
        self.reps_done = reps_done  # candidate key -> repetitions stored (a resumed run's too)
        self.recheck_sink: SampleSink | None = None
        self.recheck_reps: dict[str, int] = {}
        self._current: Candidate | None = None
        self._engine: _Engine | None = None

    def open(self, candidate: Candidate) -> _Engine:
        raise NotImplementedError

    def describe_failure(self, error: str) -> str:
        return error

    def _engine_for(self, candidate: Candidate) -> _Engine:
        if self._engine is not None and self._current == candidate:
            return self._engine
        self.close()
        engine = self.open(candidate)
        self._engine, self._current = engine, candidate
        for test in self.workload.tests:  # warm-up, not stored
            short = BenchTest(test.kind, min(test.n, WARMUP_TOKENS if test.kind == "tg" else 64))
            self._check(engine.measure(short, -1), short)
        return engine

    def _check(self, s: Sample, test: BenchTest) -> float:
        if s.status != "ok" or not s.tps:
            why = self.describe_failure(f"{test.name}: {s.note or s.status}")
            self.close()
            raise TokbenchError(why)
        return s.tps

    def __call__(self, candidate: Candidate, reps: int) -> Measurement:
        return self._measure(candidate, reps, self.sink, self.reps_done)

    def recheck(self, candidate: Candidate, reps: int) -> Measurement:
        """The start measured again at the end, into `recheck_sink` (kept apart from its
        first samples); without one, into the ordinary sink."""
        return self._measure(candidate, reps, self.recheck_sink or self.sink, self.recheck_reps)

    def _measure(
        self, candidate: Candidate, reps: int, sink: SampleSink, reps_done: dict[str, int]
    ) -> Measurement:
        engine = self._engine_for(candidate)
        decode: list[float] = []
        prefill: list[float] = []
        for _ in range(reps):
            rep = reps_done.get(candidate.key, 0)
            for test in self.workload.tests:
                s = engine.measure(test, rep)
                tps = self._check(s, test)
                sink(candidate, test, rep, s)
                (decode if test.kind == "tg" else prefill).append(tps)
            reps_done[candidate.key] = rep + 1
        return Measurement(tuple(decode), tuple(prefill))

    def close(self) -> None:
        engine, self._engine, self._current = self._engine, None, None
        if engine is not None:
            engine.close()


class EmbeddedMeasure(CandidateMeasure):
    """llama.cpp in this process (llama-cpp-python), one `Llama` per candidate."""

    def __init__(
        self,
        model_path: Path,
        workload: Workload,
        sink: SampleSink,
        reps_done: dict[str, int],
        default_threads: int,
    ) -> None:
        super().__init__(workload, sink, reps_done)
        self.model_path = model_path
        self.default_threads = default_threads

    def open(self, candidate: Candidate) -> _Engine:
        base = EngineSettings(threads=self.default_threads, n_ctx=self.workload.n_ctx(candidate))
        return EmbeddedBench(EmbeddedBackend(self.model_path, engine_settings(candidate, base)))


HELP_TIMEOUT_S = 30.0
HELP_LIMIT_BYTES = 1 << 20  # a llama-server --help is about 20 kB


def capture(argv: list[str], timeout_s: float, what: str) -> str:
    """The output (stdout and stderr) of a short command, decoded with replacement, at most
    HELP_LIMIT_BYTES; its whole group is ended when it is done, runs past `timeout_s` or
    outputs without end."""
    try:
        done = run_captured(argv, timeout_s, HELP_LIMIT_BYTES, merge_stderr=True)
    except OSError as exc:
        raise TokbenchError(f"{what} does not run: {exc.strerror or exc}") from exc
    if done.timed_out:
        raise TokbenchError(f"{what} did not finish in {timeout_s:g} s (stopped)")
    return done.stdout.decode("utf-8", errors="replace")


def read_dialect(server_bin: Path, timeout_s: float = HELP_TIMEOUT_S) -> ServerDialect:
    """The flag spelling of a llama-server binary; a TokbenchError if it is none (or its
    --help hangs: ended with its process group after `timeout_s`)."""
    if not server_bin.is_file():
        raise TokbenchError(f"--server-bin {server_bin}: no such file")
    text = capture([str(server_bin), "--help"], timeout_s, f"--server-bin {server_bin} --help")
    return dialect_from_help(text)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def log_reason(text: str) -> str:
    """The line of a llama-server log that says why it stopped: its first error, else its last."""
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    errors = [ln for ln in lines if re.search(r"\berror\b|failed|unsupported|invalid", ln, re.I)]
    return (errors or lines or ["no output"])[0 if errors else -1][:300]


class _Server:
    """One llama-server process and the bench engine that talks to it."""

    def __init__(self, proc: subprocess.Popen[bytes], bench: CompletionsBench) -> None:
        self.proc, self.bench = proc, bench

    def measure(self, test: BenchTest, rep: int) -> Sample:
        return self.bench.measure(test, rep)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.bench.close()
        stop_group(self.proc)


class ServerMeasure(CandidateMeasure):
    """llama-server started with each candidate's flags on a free loopback port."""

    def __init__(
        self,
        model_path: Path,
        workload: Workload,
        sink: SampleSink,
        reps_done: dict[str, int],
        server_bin: Path,
        dialect: ServerDialect,
        load_timeout_s: float = 600.0,
        deadline: float | None = None,
    ) -> None:
        super().__init__(workload, sink, reps_done)
        self.model_path = model_path
        self.server_bin = server_bin
        self.dialect = dialect
        self.load_timeout_s = load_timeout_s
        self.deadline = deadline  # time.monotonic() when --max-time ends: no wait goes past it
        self._dir = tempfile.TemporaryDirectory(prefix="tokbench-tune-")
        self._log: Path | None = None
        self._proc: subprocess.Popen[bytes] | None = None

    def argv(self, candidate: Candidate, port: int) -> list[str]:
        extra = ["-c", str(self.workload.n_ctx(candidate)), "-np", "1"]
        return server_command(
            candidate,
            str(self.model_path),
            server_bin=str(self.server_bin),
            dialect=self.dialect,
            host="127.0.0.1",
            port=port,
            extra=extra,
        )

    def _reason(self) -> str:
        text = self._log.read_text(errors="replace") if self._log else ""
        return log_reason(text)

    def describe_failure(self, error: str) -> str:
        if self._proc is not None and self._proc.poll() is not None:
            return f"llama-server exited ({self._proc.returncode}): {self._reason()}"
        return error

    def _time_left(self, most: float) -> float:
        """`most` seconds, or what is left of --max-time if that is less (at least 1 s)."""
        if self.deadline is None:
            return most
        return max(1.0, min(most, self.deadline - time.monotonic()))

    def open(self, candidate: Candidate) -> _Engine:
        port = free_port()
        self._log = Path(self._dir.name) / "server.log"
        proc = start(self.argv(candidate, port), self._log)
        self._proc = proc
        try:
            self._wait_healthy(proc, port)
            backend = LlamaServerBackend(
                f"http://127.0.0.1:{port}/v1", timeout_s=self._time_left(600.0)
            )
            return _Server(proc, CompletionsBench(backend))
        except BaseException:
            stop_group(proc)
            raise

    def _wait_healthy(self, proc: subprocess.Popen[bytes], port: int) -> None:
        client = Client(f"http://127.0.0.1:{port}", timeout_s=5, connect_timeout_s=1)
        wait_s = self._time_left(self.load_timeout_s)
        deadline = time.monotonic() + wait_s
        try:
            while time.monotonic() < deadline:
                if proc.poll() is not None:
                    raise TokbenchError(
                        f"llama-server exited ({proc.returncode}): {self._reason()}"
                    )
                try:
                    if client.get("/health")[0] == 200:
                        return
                except TransportError:
                    client.close()
                time.sleep(0.2)
        finally:
            client.close()
        raise TokbenchError(f"llama-server did not answer /health in {wait_s:.0f} s")

    def cleanup(self) -> None:
        self.close()
        self._dir.cleanup()
