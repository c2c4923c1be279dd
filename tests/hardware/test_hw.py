"""`tokbench hw`, `estimate` and `plan` as a user runs them, and every run's efficiency."""

from __future__ import annotations

import json
import re
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
    assert "| peak bandwidth | 76.8 GB/s |" in md.stdout
    # the table in human units: no raw byte count, ISA as names, JSON exact
    table = tokbench("hw").stdout
    assert str(d["ram_total_bytes"]) not in table and "=True" not in table
    assert re.search(r"^ *RAM +\d[\d.]* GiB *$", table, re.MULTILINE), table
    assert re.search(r"L1d \d+ KiB", table), table
    assert ", ".join(k for k, v in d["isa"].items() if v) in table
    assert isinstance(d["ram_total_bytes"], int) and isinstance(d["caches"], dict)


def test_bandwidth_memory_and_disk_are_measured_and_kept(tb_home: Path, tmp_path: Path) -> None:
    from tokbench.hardware.survey import measure

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
    table = tokbench("hw", "--bandwidth", "--disk", str(disk), "--disk-mb", "16").stdout
    assert "GB/s all cores" in table and "GB/s sequential" in table
    assert "one_thread_gbs" not in table and "all_cores_gbs" not in table


@pytest.mark.slow
def test_estimate_and_run_efficiency(tb_home: Path, gemma_path: Path) -> None:
    r = tokbench("estimate", str(gemma_path), "--bandwidth", "20", "--json")
    assert r.returncode == 0, r.stderr
    e = json.loads(r.stdout)
    assert e["bound_weights_tps"] == pytest.approx(20e9 / 246_587_904, rel=1e-3)
    assert e["fits"] is True and " dense " in e["efficiency_profile"]
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
    head, rule, row, blank, evidence, *points = r.stdout.strip().splitlines()
    assert head.startswith("| box | quant |") and rule.startswith("|---|")
    assert row.startswith("| seed-1ch | UD-IQ2_XXS |") and "from SSD at 0.5 GB/s" in row
    assert r"calibrated \[1\]" in row and not blank and evidence.startswith("η: ")
    assert points[0] == "1. calibrated" and "the seed article" in points[1]


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
    assert isinstance(mods, tuple) and {m.configured_mts for m in mods} == {2400}
    # its one-channel state: four modules, all in channel A
    one = _dmi(*[(f"P1-DIMMA{i}", "", "64 GB") for i in (1, 2, 3, 4)])
    assert populated_channels(parse_dmidecode(one)) == 1
    # AMD bank locators; two sockets count their channels apart
    amd = _dmi(*[("DIMM 0", f"P{s}_Node0_Channel{c}_Dimm0", "16 GB") for s in (0, 1) for c in "AB"])
    assert populated_channels(parse_dmidecode(amd)) == 4
    # Dell's A1..A12 name the socket, not the channel: unknown, never a guess
    dell = _dmi(("A1", "", "16 GB"), ("A2", "", "16 GB"))
    assert populated_channels(parse_dmidecode(dell)) is None


def test_a_described_box_is_predicted_with_its_own_ram(tb_home: Path) -> None:
    base = ("estimate", "deepseek-r1", "--quant", "Q4_K_M", "--bandwidth", "460", "--json")
    host = json.loads(tokbench(*base).stdout)  # this host's RAM: far too little, pages
    assert host["fits"] is False and host["box_facts"]["ram_source"] == "this host"
    r = tokbench(*base, "--ram", "768", "--ssd", "7", "--cpu", "epyc-ddr5-avx512")
    assert r.returncode == 0, r.stderr
    e = json.loads(r.stdout)
    assert e["fits"] is True and e["ram_bytes"] == 768e9 and e["ssd_read_gbs"] == 7
    assert e["box_facts"]["ram_source"] == "given" and e["calibration"] == "calibrated"
    assert 6.5 < e["low_tps"] < 7.0 < 8.0 < e["high_tps"] < 8.5
    assert any("#10981" in a for a in e["anchors"])
    # a preset's RAM and SSD can be replaced the same way
    small = tokbench(
        "estimate", "deepseek-r1", "--quant", "Q4_K_M", "--hw", "ddr5-12ch", "--ram", "256GiB",
        "--json",
    )  # fmt: skip
    assert json.loads(small.stdout)["fits"] is False
    text = tokbench(*base[:-1]).stdout
    assert "describe the box's own with --ram" in text and "η rests on: calibrated" in text


def test_plan_a_described_box(tb_home: Path) -> None:
    r = tokbench(
        "plan", "--bandwidth", "460", "--ram", "768GB", "--cpu", "epyc-ddr5-avx512",
        "--quant", "Q4_K_M", "--box", "seed-4ch", "--json",
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    rows = {row["box"]: row for row in json.loads(r.stdout)}
    assert set(rows) == {"seed-4ch", "described"}
    assert rows["described"]["fits"] and rows["described"]["calibration"] == "calibrated"
    # without a CPU class the described box has no published point of its class
    bare = json.loads(tokbench("plan", "--bandwidth", "460", "--ram", "768", "--json").stdout)
    assert {row["calibration"] for row in bare} == {"uncalibrated"}
    ssd = json.loads(tokbench("plan", "--box", "seed-1ch", "--ssd", "3", "--json").stdout)
    assert {row["ssd_read_gbs"] for row in ssd} == {3.0}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("plan", "--bandwidth", "460"), "needs --ram too"),
        (("plan", "--ram", "lots"), "--ram 'lots': give the box's memory"),
        (("plan", "--ram", "0.5"), "1 GB to 1 PB"),
        (("estimate", "deepseek-r1", "--quant", "Q4_K_M", "--hw", "x"), "unknown box 'x'"),
        (("plan", "--cpu", "pentium"), "Invalid value for '--cpu'"),
    ],
)
def test_bad_box_descriptions_are_one_sentence(args: tuple[str, ...], message: str) -> None:
    r = tokbench(*args)
    assert r.returncode == 2 and message in r.stderr and "Traceback" not in r.stderr


def test_hw_table_in_human_units() -> None:
    from tokbench.hardware.probe import Gpu, HostProbe
    from tokbench.hardware.survey import Bandwidth, HostSurvey
    from tokbench.render.hardware import binary_size, host_markdown, sig3

    info = HostSurvey(
        HostProbe(
            cpu_model="AMD EPYC 7502P",
            isa={"avx2": True, "avx512f": False, "fma": True},
            caches={"L1d": 32768, "L2": 1048576, "L3": 134217728},
            ram_total_bytes=25276194816,
            peak_bandwidth_gbs=204.8,
            gpus=(Gpu("RTX 4090", 24564 * 2**20),),
            memory_modules=(),
        ),
        Bandwidth(
            one_thread_gbs=16.5440564761952,
            all_cores_gbs=30.26,
            threads=2,
            working_set_bytes=536870912,
            reps=5,
        ),
    )
    md = host_markdown(info)
    for cell in (
        "| ISA | avx2, fma |",
        "| caches | L1d 32 KiB, L2 1 MiB, L3 128 MiB |",
        "| RAM | 23.5 GiB |",
        "| peak bandwidth | 205 GB/s |",
        "30.3 GB/s all cores (2 threads), 16.5 GB/s one thread; 512 MiB read, best of 5",
        "| GPUs | RTX 4090 (24 GiB) |",
        "| memory modules | unknown |",
        "| sockets | unknown |",
    ):
        assert cell in md, md
    assert "25276194816" not in md and "16.544" not in md and "True" not in md
    assert [sig3(x) for x in (16.544, 204.8, 0.012345, 16008)] == [
        "16.5",
        "205",
        "0.0123",
        "16,000",
    ]
    assert binary_size(512) == "512 B" and binary_size(1.5 * 2**40) == "1.5 TiB"


def test_the_probe_as_json_keeps_its_keys_and_exact_values() -> None:
    from tokbench.hardware.probe import Gpu, HostProbe, parse_dmidecode

    mods = parse_dmidecode(_dmi(("CPU1_DIMM_A1", "NODE 1", "32 GB")))
    d = HostProbe(ram_total_bytes=25276194816, memory_modules=mods, gpus=(Gpu("A", 2**30),))
    out = json.loads(json.dumps(d.to_json()))
    assert out["ram_total_bytes"] == 25276194816 and out["gpus"] == [
        {"name": "A", "memory_bytes": 2**30}
    ]
    assert out["memory_modules"][0]["configured_mts"] == 2400
    assert out["memory_modules"][0]["channel"] == "1:A"
    why = "unknown: dmidecode needs root (or pass --channels and --mts)"
    assert HostProbe(memory_modules=why).to_json()["memory_modules"] == why
