"""`tokbench hw`, `estimate` and `plan` as a user runs them, and every run's efficiency."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import tokbench


def test_hw_probe_json_and_formats(tb_home: Path) -> None:
    r = tokbench("hw", "--json", "--channels", "4", "--mts", "2400")
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert d["cores"] >= 1 and d["threads"] >= 1 and d["ram_total_bytes"] > 0
    assert set(d["isa"]) >= {"avx2", "avx512f", "amx_tile"}
    assert d["peak_bandwidth_gbs"] == pytest.approx(76.8)  # 4 x 2400 MT/s x 8 B
    assert isinstance(d["memory_modules"], list | str)  # a list, or why it is unknown
    md = tokbench("hw", "--format", "md", "--channels", "4", "--mts", "2400")
    assert md.returncode == 0, md.stderr
    assert "| peak_bandwidth_gbs | 76.8 |" in md.stdout


def test_bandwidth_memory_and_disk_are_measured_and_kept(tb_home: Path, tmp_path: Path) -> None:
    from tokbench.hardware.bandwidth import measure

    bw = measure(working_set_bytes=64 * 2**20, reps=2)
    assert bw.one_thread_gbs > 0.5 and bw.all_cores_gbs > 0.5
    disk = tmp_path / "models"
    disk.mkdir()
    r = tokbench("hw", "--bandwidth", "--disk", str(disk), "--disk-mb", "16", "--format", "json")
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert d["measured_bandwidth"]["all_cores_gbs"] > 0.5
    assert d["disk_bandwidth"]["path"] == str(disk)
    assert d["disk_bandwidth"]["sequential_read_gbs"] > 0
    assert list(disk.iterdir()) == []  # the test file is gone
    kept = json.loads((tb_home / "hw.json").read_text())
    assert kept["bandwidth_gbs"] > 0.5
    assert kept["disk"]["sequential_read_gbs"] == d["disk_bandwidth"]["sequential_read_gbs"]


@pytest.mark.slow
def test_estimate_and_run_efficiency(tb_home: Path, gemma_path: Path) -> None:
    r = tokbench("estimate", str(gemma_path), "--bandwidth", "20", "--json")
    assert r.returncode == 0, r.stderr
    e = json.loads(r.stdout)
    assert e["bound_weights_tps"] == pytest.approx(20e9 / 246_587_904, rel=1e-3)
    assert e["fits"] is True and e["efficiency_profile"] == "dense"
    assert e["ssd_bytes_per_token"] == 0
    none = tokbench("estimate", str(gemma_path))
    assert none.returncode == 2 and "tokbench hw --bandwidth" in none.stderr

    tb_home.mkdir(parents=True, exist_ok=True)
    (tb_home / "hw.json").write_text(json.dumps({"bandwidth_gbs": 20.0}))
    run = tokbench("run", "--max-tokens", "12", "--json", "--no-progress")
    doc = json.loads(run.stdout)
    assert doc["run"]["target"]["bound_tps"] == pytest.approx(20e9 / 246_587_904, rel=1e-3)
    decode = doc["summary"]["overall"]["decode_tps"]["mean"]
    assert doc["summary"]["efficiency"] == pytest.approx(decode / doc["run"]["target"]["bound_tps"])
    shown = tokbench("show", doc["run"]["id"])
    assert "efficiency:" in shown.stdout and "tok/s bound" in shown.stdout


def _json(*args: str) -> Any:
    r = tokbench(*args)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def test_estimate_and_plan_commands_give_the_same_range(tb_home: Path) -> None:
    rows = {
        r["box"]: r
        for r in _json(
            "plan", "--quant", "UD-IQ2_XXS", "--box", "seed-4ch,seed-1ch",
            "--price", "seed-4ch=2000", "--json",
        )
    }  # fmt: skip
    for box in ("seed-4ch", "seed-1ch"):
        e = _json("estimate", "deepseek-r1", "--quant", "UD-IQ2_XXS", "--hw", box, "--json")
        assert (e["expected_low_tps"], e["expected_high_tps"]) == (
            rows[box]["low_tps"],
            rows[box]["high_tps"],
        )
        assert e["bound_with_kv_tps"] == rows[box]["bound_tps"]
    four, one = rows["seed-4ch"], rows["seed-1ch"]
    assert four["low_tps"] <= 1.5 and four["high_tps"] >= 1.83  # the seed's measurement
    assert four["fits"] and not one["fits"]
    assert one["high_tps"] < 0.2 < four["low_tps"]  # 183 GB in 64 GB pages from the SSD
    assert four["price_per_tps"] > 0 and one["price_per_tps"] is None


def test_cli_errors_are_one_sentence(tb_home: Path) -> None:
    bad = tokbench("estimate", "deepseek-r1", "--hw", "seed-4ch")
    assert bad.returncode == 2 and "needs --quant" in bad.stderr
    nope = tokbench("plan", "--box", "mainframe")
    assert nope.returncode == 2 and "unknown box 'mainframe'" in nope.stderr
    price = tokbench("plan", "--price", "seed-4ch=cheap")
    assert price.returncode == 2 and "use BOX=AMOUNT" in price.stderr
    assert "Traceback" not in bad.stderr + nope.stderr + price.stderr


def test_plan_markdown_shows_the_paging_rows(tb_home: Path) -> None:
    r = tokbench("plan", "--quant", "UD-IQ2_XXS", "--box", "seed-1ch", "--format", "md")
    assert r.returncode == 0, r.stderr
    head, rule, row = r.stdout.strip().splitlines()
    assert head.startswith("| box | quant |") and rule.startswith("|---|")
    assert row.startswith("| seed-1ch | UD-IQ2_XXS |") and "from SSD at 0.5 GB/s" in row


def test_server_run_with_gguf_shows_its_bound(tb_home: Path, gemma_path: Path) -> None:
    from tests.testing.fakeserver import FakeConfig, FakeServer

    tb_home.mkdir(parents=True, exist_ok=True)
    (tb_home / "hw.json").write_text(json.dumps({"bandwidth_gbs": 20.0}))
    with FakeServer(FakeConfig(n_tokens=5, itl_s=0.002)) as srv:
        r = tokbench("run", "--url", srv.url, "--gguf", str(gemma_path), "--json", "--no-progress")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["run"]["target"]["bound_tps"] == pytest.approx(20e9 / 246_587_904, rel=1e-3)
    assert doc["summary"]["efficiency"] is not None
    assert doc["run"]["host"]["hw"]["isa"]["avx2"] in (True, False)  # the probe is kept


def _dmi(*slots: tuple[str, str, str]) -> str:
    """dmidecode -t memory text: (locator, bank locator, size) per slot."""
    return "".join(
        f"Handle 0x{i:04X}, DMI type 17, 40 bytes\nMemory Device\n\tSize: {size}\n"
        f"\tLocator: {loc}\n\tBank Locator: {bank}\n\tType: DDR4\n"
        f"\tConfigured Memory Speed: 2400 MT/s\n\n"
        for i, (loc, bank, size) in enumerate(slots)
    )


def test_channels_are_inferred_from_dimm_locators() -> None:
    from tokbench.hardware.probe import parse_dmidecode, populated_channels

    # the seed's box: 4 of 8 slots filled, one per channel (A-D), second slots empty
    seed = _dmi(
        *[(f"CPU1_DIMM_{c}1", "NODE 1", "32 GB") for c in "ABCD"],
        *[(f"CPU1_DIMM_{c}2", "NODE 1", "No Module Installed") for c in "ABCD"],
    )
    mods = parse_dmidecode(seed)
    assert len(mods) == 4 and populated_channels(mods) == 4
    assert {m["configured_mts"] for m in mods} == {2400}
    # its one-channel state: four modules, all in channel A
    one = _dmi(*[(f"P1-DIMMA{i}", "", "64 GB") for i in (1, 2, 3, 4)])
    assert populated_channels(parse_dmidecode(one)) == 1
    # AMD bank locators; two sockets count their channels apart
    amd = _dmi(*[("DIMM 0", f"P{s}_Node0_Channel{c}_Dimm0", "16 GB") for s in (0, 1) for c in "AB"])
    assert populated_channels(parse_dmidecode(amd)) == 4
    # Dell's A1..A12 name the socket, not the channel: unknown, never a guess
    dell = _dmi(("A1", "", "16 GB"), ("A2", "", "16 GB"))
    assert populated_channels(parse_dmidecode(dell)) is None
