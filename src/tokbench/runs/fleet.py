"""`tokbench fleet run`: the same tokbench command on several machines of a Ray cluster
at once, each against its own local server, every result in one shared store tagged
with its host.

Each host gets a Ray task pinned to its node (hard node affinity) that runs the command
as a `tokbench` subprocess there, with `TOKBENCH_HOST` set to the host's name and
`TOKBENCH_DB` to the shared store. A host that fails is reported, and the others go on.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tokbench.core.records import utc_now
from tokbench.errors import TokbenchError
from tokbench.store.database import Store


@dataclass(frozen=True, slots=True)
class FleetResult:
    host: str
    returncode: int
    run_ids: tuple[str, ...]  # runs this host added to the shared store
    error: str | None  # the end of its stderr, when it failed


def match_nodes(hosts: list[str], nodes: list[dict[str, Any]]) -> dict[str, str]:
    """host -> Ray node id, matching each host against a live node's name (`ray start
    --node-name`), hostname or IP."""
    alive = [n for n in nodes if n.get("Alive")]
    out = {}
    for h in hosts:
        found = [
            n["NodeID"]
            for n in alive
            if h in (n.get("NodeName"), n.get("NodeManagerHostname"), n.get("NodeManagerAddress"))
        ]
        if len(found) != 1:
            names = ", ".join(sorted({str(n.get("NodeName")) for n in alive})) or "none"
            why = "no live Ray node is" if not found else f"{len(found)} Ray nodes are"
            raise TokbenchError(
                f"{why} called {h!r} (by node name, hostname or IP); the cluster's nodes: {names}"
            )
        out[h] = found[0]
    return out


def run_on_node(argv: list[str], host: str, db: str) -> tuple[int, str]:
    """Runs on the host's node: the tokbench command, tagged with the host's name."""
    env = {**os.environ, "TOKBENCH_HOST": host, "TOKBENCH_DB": db}
    r = subprocess.run(
        [sys.executable, "-m", "tokbench", *argv], capture_output=True, text=True, env=env
    )
    return r.returncode, r.stderr[-2000:]


def fleet_run(
    hosts: list[str],
    argv: list[str],
    db: str,
    address: str | None,
    done: Callable[[FleetResult], None] | None = None,
) -> list[FleetResult]:
    try:
        import ray
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy
    except ImportError:
        raise TokbenchError("fleet needs Ray: pip install 'tokbench[fleet]'") from None

    store = Store(db)  # migrated once, here, before the hosts write to it
    if not ray.is_initialized():
        try:
            ray.init(address=address, log_to_driver=False, configure_logging=False)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            raise TokbenchError(f"cannot join the Ray cluster at {address}: {exc}") from None
    nodes = match_nodes(hosts, ray.nodes())  # type: ignore[no-untyped-call]
    started = utc_now()
    task: Any = ray.remote(num_cpus=0, max_retries=0)(run_on_node)
    refs = {
        task.options(
            scheduling_strategy=NodeAffinitySchedulingStrategy(node_id, soft=False)
        ).remote(argv, host, db): host
        for host, node_id in nodes.items()
    }
    results = []
    pending = list(refs)
    while pending:
        ready, pending = ray.wait(pending, num_returns=1)
        host = refs[ready[0]]
        try:
            code, err = ray.get(ready[0])
        except ray.exceptions.RayError as exc:
            code, err = -1, f"the Ray task died: {type(exc).__name__}"
        ids = tuple(r.id for r in store.runs() if r.host_name == host and r.created_at >= started)
        res = FleetResult(host, code, ids, None if code == 0 else err.strip() or "failed")
        results.append(res)
        if done:
            done(res)
    return sorted(results, key=lambda r: hosts.index(r.host))
