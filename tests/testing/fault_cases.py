"""The fault suite's cases as data: every fault mode x command (`run`, `bench`), with the
CLI arguments and what a hardened tokbench must do. The driver test (to be added with
the hardened clients) starts one `FaultServer`, and for each case:

1. writes `SUITE_TOML` to a file, formats `args` with `url=server.url_for(case.fault)`
   and `suite=<that file>`, appends `--db <tmp db>`, and runs `tokbench` in a
   subprocess with a wall-clock limit (`case.limit_s`);
2. asserts: no "Traceback" in stderr, `returncode == case.exit_code`, stderr (or the
   stored error) contains `case.reason` (case-insensitive) when it is set, the output
   contains `case.literal` verbatim and never `case.absent`;
3. checks the database: `stored == "no-run"`: no run is left `running` (none is
   created, or it is `failed`); `"error"`: the run is `failed` and every request or
   sample sent is stored with an error naming `case.reason`; `"ok"`: every request or
   sample is stored ok; `"ok_flagged"`: stored ok with a note or flag naming
   `case.reason`;
4. runs each command of `case.after` (with `{run_id}` filled in): each exits 0 with
   no traceback (stored hostile text must not break `history` or `show`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from tests.testing.faults import FAULTS, Expect, Fault

Command = Literal["run", "bench"]
Stored = Literal["no-run", "error", "ok", "ok_flagged"]
COMMANDS: tuple[Command, ...] = ("run", "bench")

# The item is graded (by a seed grader, whatever the answer) so that every case also
# grades and summarises what it received: a 50 MB answer must cost seconds, not minutes.
SUITE_TOML = """name = "faults"
description = "one short question, for the fault suite"
max_tokens = 8

[[items]]
id = "hello"
prompt = "Say hello in one word."
grader = "seed5.physics-choice"
"""

TIMEOUT_S = 3  # --timeout for every case: the deadline and stall modes must end by it
SIZE_BOUND_TIMEOUT_S = 40  # ... but the size-bound modes, which --max-response must end
BACKEND_FLAG = {"openai": "openai", "llama-server": "llama-server", "ollama": "ollama"}
EXIT_OK, EXIT_FAILED, EXIT_ERROR = 0, 1, 2  # done, no request succeeded, TokbenchError


@dataclass(frozen=True, slots=True)
class FaultCase:
    fault: str
    protocol: str
    klass: str
    command: Command
    args: tuple[str, ...]  # after `tokbench`; placeholders {url} and {suite}
    expect: Expect
    exit_code: int
    stored: Stored
    reason: str
    literal: str
    absent: str
    after: tuple[tuple[str, ...], ...]
    slow: bool
    limit_s: float  # wall-clock limit for the whole command

    @property
    def id(self) -> str:
        return f"{self.command}-{self.fault}"


def _args(f: Fault, command: Command) -> tuple[str, ...]:
    backend = () if f.detect else ("--backend", BACKEND_FLAG[f.protocol])
    # a mode that only the size bound ends gets a deadline it cannot reach first, even on
    # a loaded box (64 MB at a few MB/s)
    timeout_s = SIZE_BOUND_TIMEOUT_S if f.reason == "--max-response" else TIMEOUT_S
    common = ("--url", "{url}", *backend, "--timeout", str(timeout_s), "--no-progress")
    if command == "run":
        return ("run", *common, "-s", "{suite}")
    # one pp and one tg measurement, no warm-up: two requests per case
    return ("bench", *common, "-p", "16", "-n", "8", "-r", "1", "--warmup", "0", "--format", "json")


def _outcome(f: Fault, expect: Expect) -> tuple[int, Stored]:
    if expect == "error":
        return (EXIT_ERROR, "no-run") if f.phase == "setup" else (EXIT_FAILED, "error")
    return EXIT_OK, "ok" if expect == "ok" else "ok_flagged"


def case_for(f: Fault, command: Command) -> FaultCase:
    expect = f.expect_for(command)
    exit_code, stored = _outcome(f, expect)
    after: tuple[tuple[str, ...], ...] = ()
    if f.klass == "markup" and exit_code == EXIT_OK:
        after = (("history",), ("show", "{run_id}"), ("show", "{run_id}", "--answers"))
        if command == "bench":
            after = after[:2]
    # slow modes end by the --timeout deadline or the size bound; huge lines take a
    # few seconds to generate and store
    limit_s = 60.0 if f.slow else 30.0
    return FaultCase(
        fault=f.name,
        protocol=f.protocol,
        klass=f.klass,
        command=command,
        args=_args(f, command),
        expect=expect,
        exit_code=exit_code,
        stored=stored,
        reason=f.reason if expect != "ok" else "",
        literal=f.literal,
        absent=f.absent,
        after=after,
        slow=f.slow,
        limit_s=limit_s,
    )


def _cases() -> tuple[FaultCase, ...]:
    out = []
    for f in FAULTS:
        for command in COMMANDS:
            if command in f.commands:
                out.append(case_for(f, command))
    return tuple(out)


CASES: tuple[FaultCase, ...] = _cases()
FAST_CASES: tuple[FaultCase, ...] = tuple(c for c in CASES if not c.slow)
