"""The fault suite: every fault mode of the loopback fault server (OpenAI, llama-server and
Ollama protocols), driven through `tokbench run` and `tokbench bench`. For each case: no
traceback, the exit code a user should see, the reason named, hostile text inert, and
what completed is in the database (a failed request is recorded and the run goes on).

The CLI runs in-process (click's runner) so the 500-odd cases take a minute, not ten; the
slow modes (endless streams, 50 MB lines) run in `test_slow_fault_cases`."""

from __future__ import annotations

import time
import traceback
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from tests.testing.fault_cases import CASES, FAST_CASES, SUITE_TOML, FaultCase
from tests.testing.faults import FaultServer
from tokbench.cli import cli
from tokbench.store.database import Store


@pytest.fixture(scope="module")
def server() -> Iterator[FaultServer]:
    with FaultServer() as srv:
        yield srv


def invoke(args: list[str]) -> Result:
    return CliRunner().invoke(cli, args, catch_exceptions=True)


def check(case: FaultCase, srv: FaultServer, tmp: Path) -> None:
    suite = tmp / "suite.toml"
    suite.write_text(SUITE_TOML)
    db = tmp / "r.db"
    args = [a.format(url=srv.url_for(case.fault), suite=suite) for a in case.args]
    t0 = time.monotonic()
    r = invoke([*args, "--db", str(db)])
    elapsed_s = time.monotonic() - t0
    out = r.stdout + r.stderr
    if r.exception is not None and not isinstance(r.exception, SystemExit):
        tb = "".join(traceback.format_exception(r.exception))
        pytest.fail(f"{case.id}: a traceback\n{tb}")
    assert "Traceback" not in out, out
    assert r.exit_code == case.exit_code, f"{case.id}: exit {r.exit_code}\n{out}"
    # generous (a hang, or work quadratic in a 50 MB answer, takes minutes): not a timing
    assert elapsed_s < case.limit_s, f"{case.id}: took {elapsed_s:.0f} s"
    if case.literal:
        assert case.literal in out, f"{case.id}: {case.literal!r} not shown\n{out}"
    if case.absent:
        assert case.absent not in out, f"{case.id}: {case.absent!r} reached the terminal"
    store = Store(db)
    runs = store.runs()
    assert all(run.status != "running" for run in runs), f"{case.id}: a run left running"
    if case.stored == "no-run":
        assert case.reason.lower() in out.lower(), f"{case.id}: reason {case.reason!r}\n{out}"
        return
    (run,) = runs
    if case.command == "run":
        rows = [(q.status, q.error or "") for q in store.requests(run.id)]
    else:
        rows = [(s.status, s.note or "") for s in store.bench_samples(run.id)]
    assert rows, f"{case.id}: nothing stored"
    if case.stored == "error":
        assert run.status == "failed", f"{case.id}: run {run.status}"
        assert all(status == "error" for status, _ in rows), f"{case.id}: {rows}"
        assert all(case.reason.lower() in why.lower() for _, why in rows), (
            f"{case.id}: reason {case.reason!r} not in {rows}"
        )
    else:
        assert run.status == "done", f"{case.id}: run {run.status}: {rows}"
        assert all(status in ("ok", "short") for status, _ in rows), f"{case.id}: {rows}"
    for after in case.after:
        again = invoke([*(a.format(run_id=run.id) for a in after), "--db", str(db)])
        assert (again.exit_code == 0 and again.exception is None) or isinstance(
            again.exception, SystemExit
        ), f"{case.id}: {after} failed\n{again.stdout}{again.stderr}"
        assert again.exit_code == 0, f"{case.id}: {after}\n{again.stdout}{again.stderr}"
        if case.absent:
            assert case.absent not in again.stdout + again.stderr


def test_the_suite_is_big_enough() -> None:
    protocols = {c.protocol for c in CASES}
    assert len({c.fault for c in CASES}) >= 100
    assert protocols == {"openai", "llama-server", "ollama"}
    assert {c.command for c in CASES} == {"run", "bench"}


@pytest.mark.parametrize("case", FAST_CASES, ids=lambda c: c.id)
def test_fault_case(case: FaultCase, server: FaultServer, tmp_path: Path, tb_home: Path) -> None:
    check(case, server, tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize("case", [c for c in CASES if c.slow], ids=lambda c: c.id)
def test_slow_fault_cases(
    case: FaultCase, server: FaultServer, tmp_path: Path, tb_home: Path
) -> None:
    check(case, server, tmp_path)
