"""`tokbench fleet run` on a real two-node Ray cluster (both nodes on this machine, named
box-a and box-b) writing into a real shared PostgreSQL store."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from tests.conftest import tokbench
from tests.testing.fakeserver import FakeConfig, FakeServer
from tokbench.errors import TokbenchError
from tokbench.runs.fleet import fleet_run, match_nodes
from tokbench.store.database import Store


@pytest.fixture(scope="module")
def two_nodes() -> Iterator[str]:
    import ray
    from ray.cluster_utils import Cluster

    c = Cluster(
        initialize_head=True,
        head_node_args={"num_cpus": 1, "node_name": "box-a", "include_dashboard": False},
    )
    c.add_node(num_cpus=1, node_name="box-b")
    ray.init(address=c.address, log_to_driver=False, configure_logging=False)
    yield c.address
    ray.shutdown()
    c.shutdown()


def test_node_matching_by_name_hostname_or_ip() -> None:
    nodes = [
        {"NodeID": "n1", "Alive": True, "NodeName": "gpu1", "NodeManagerHostname": "gpu1.lan"},
        {"NodeID": "n2", "Alive": True, "NodeName": "10.0.0.2", "NodeManagerAddress": "10.0.0.2"},
        {"NodeID": "n3", "Alive": False, "NodeName": "gone"},
    ]
    assert match_nodes(["gpu1.lan", "10.0.0.2"], nodes) == {"gpu1.lan": "n1", "10.0.0.2": "n2"}
    with pytest.raises(TokbenchError, match="no live Ray node is called 'gone'"):
        match_nodes(["gone"], nodes)


def test_fleet_bench_lands_in_the_shared_store_tagged_by_host(two_nodes: str, pg_url: str) -> None:
    with FakeServer(FakeConfig(ttft_s=0.02, itl_s=0.005, n_tokens=8)) as srv:
        argv = ["bench", "--url", srv.url, "-p", "0", "-n", "8", "-r", "2", "--warmup", "0"]
        results = fleet_run(["box-a", "box-b"], argv, pg_url, two_nodes)
    assert [(r.host, r.returncode, len(r.run_ids)) for r in results] == [
        ("box-a", 0, 1),
        ("box-b", 0, 1),
    ], [r.error for r in results]
    store = Store(pg_url)
    runs = {r.host_name: r for r in store.runs()}
    assert set(runs) == {"box-a", "box-b"}
    for r in runs.values():
        assert [s.status for s in store.bench_samples(r.id)] == ["ok", "ok"]
    ids = [r.run_ids[0] for r in results]
    cmp = tokbench("compare", *ids, "--format", "json", "--db", pg_url)
    assert cmp.returncode == 0, cmp.stderr
    rows = json.loads(cmp.stdout)
    assert {row["host"] for row in rows} == {"box-a", "box-b"}
    assert all(row["decode_tps_mean"] for row in rows)  # the bench tg numbers, per host


def test_a_failing_host_is_reported_and_the_others_go_on(two_nodes: str, pg_url: str) -> None:
    with FakeServer(FakeConfig(n_tokens=4)) as srv:
        ok = ["bench", "--url", srv.url, "-p", "0", "-n", "4", "-r", "1", "--warmup", "0"]
        results = fleet_run(["box-a"], ok, pg_url, two_nodes)
    bad = fleet_run(["box-b"], ["bench", "--url", "http://127.0.0.1:1/v1"], pg_url, two_nodes)
    assert results[0].returncode == 0 and bad[0].returncode != 0
    assert bad[0].error and "127.0.0.1:1" in bad[0].error


def test_fleet_cli(two_nodes: str, pg_url: str) -> None:
    with FakeServer(FakeConfig(n_tokens=4)) as srv:
        args = ["fleet", "run", "--hosts", "box-b,box-a", "--ray", two_nodes, "--db", pg_url]
        bench = ["bench", "--url", srv.url, "-p", "0", "-n", "4", "-r", "1", "--warmup", "0"]
        r = tokbench(*args, "--", *bench)
    assert r.returncode == 0, r.stderr
    rows = [line.split("\t") for line in r.stdout.splitlines()]
    assert [(h, state) for h, state, _ in rows] == [("box-b", "ok"), ("box-a", "ok")]
    assert "side by side: tokbench compare" in r.stderr
    bad = tokbench("fleet", "run", "--hosts", "box-z", "--ray", two_nodes, "--db", pg_url)
    assert bad.returncode == 2 and "no live Ray node is called 'box-z'" in bad.stderr
    assert "box-a" in bad.stderr and "Traceback" not in bad.stderr
