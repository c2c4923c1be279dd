"""llama-bench outputs as people paste them (GPU tables, depth tests, extra columns) and broken
ones; the real tool's output is tested in test_llama_bench_real.py."""

from __future__ import annotations

import json

import pytest

from tokbench.errors import TokbenchError
from tokbench.interop.detect import detect_format, parse_text
from tokbench.interop.llama_bench import parse_md, parse_sql, parse_test_name
from tokbench.interop.llama_bench import test_name as make_test_name

# A CUDA table with non-default columns, a depth sweep and a pp+tg test, as pasted in a
# discussion (command line and build footer around it).
PASTED_MD = """\
$ ./llama-bench -m qwen3-8b-q4_k_m.gguf -fa 1 -d 0,4096 -pg 512,128
| model                          |       size |     params | backend    | ngl | fa |            test |                  t/s |
| ------------------------------ | ---------: | ---------: | ---------- | --: | -: | --------------: | -------------------: |
| qwen3 8B Q4_K - Medium         |   4.68 GiB |     8.19 B | CUDA       |  99 |  1 |           pp512 |      7412.84 ± 35.10 |
| qwen3 8B Q4_K - Medium         |   4.68 GiB |     8.19 B | CUDA       |  99 |  1 |           tg128 |        152.61 ± 0.42 |
| qwen3 8B Q4_K - Medium         |   4.68 GiB |     8.19 B | CUDA       |  99 |  1 |   pp512 @ d4096 |      6120.02 ± 12.77 |
| qwen3 8B Q4_K - Medium         |   4.68 GiB |     8.19 B | CUDA       |  99 |  1 |   tg128 @ d4096 |        140.05 ± 0.31 |
| qwen3 8B Q4_K - Medium         |   4.68 GiB |     8.19 B | CUDA       |  99 |  1 |     pp512+tg128 |        688.90 ± 2.00 |

build: 0104b151 (7311)
"""  # noqa: E501


def test_pasted_markdown_table() -> None:
    assert detect_format(PASTED_MD, "bench.md") == "llama-bench-md"
    run = parse_text(PASTED_MD)
    assert run.model == "qwen3 8B Q4_K - Medium"
    assert run.model_quant == "Q4_K - Medium"
    assert (run.backend, run.n_gpu_layers) == ("CUDA", 99)
    assert (run.build_commit, run.build_number) == ("0104b151", 7311)
    assert run.model_size_bytes is None  # md rounds it: kept as shown, in extra
    assert json.loads(run.extra) == {"size": "4.68 GiB", "params": "8.19 B"}
    names = [t.name for t in run.tests]
    assert names == ["pp512", "tg128", "pp512 @ d4096", "tg128 @ d4096", "pp512+tg128"]
    by = {t.name: t for t in run.tests}
    assert (by["pp512"].mean_tps, by["pp512"].sd_tps) == (7412.84, 35.10)
    assert (by["tg128 @ d4096"].n_gen, by["tg128 @ d4096"].depth) == (128, 4096)
    assert by["pp512+tg128"].kind == "pp+tg"
    assert (by["pp512+tg128"].n_prompt, by["pp512+tg128"].n_gen) == (512, 128)
    assert dict(by["pp512"].params)["flash_attn"] == "1"
    assert by["pp512"].samples_tps == () and by["pp512"].n is None
    assert any("rounds t/s" in n for n in run.notes)


def test_test_names_round_trip() -> None:
    for shape in [(512, 0, 0), (0, 128, 0), (512, 128, 0), (512, 0, 4096), (0, 32, 16)]:
        assert parse_test_name(make_test_name(*shape)) == shape
    assert parse_test_name("decode") is None


SQL = """\
CREATE TABLE IF NOT EXISTS llama_bench (
  build_commit TEXT,
  cpu_info TEXT,
  model_type TEXT,
  n_threads INTEGER,
  n_prompt INTEGER,
  n_gen INTEGER,
  avg_ts REAL,
  stddev_ts REAL
);

INSERT INTO llama_bench (build_commit, cpu_info, model_type, n_threads, n_prompt, n_gen, avg_ts, stddev_ts) VALUES ('abc', 'AMD Ryzen 9 7950X 16-Core Processor, ''fast''', 'llama 1B Q8_0', '16', '512', '0', '1500.250000', '3.500000');
INSERT INTO llama_bench (build_commit, cpu_info, model_type, n_threads, n_prompt, n_gen, avg_ts, stddev_ts) VALUES ('abc', 'AMD Ryzen 9 7950X 16-Core Processor, ''fast''', 'llama 1B Q8_0', '8', '0', '128', '90.125000', NULL);
"""  # noqa: E501


def test_sql_with_quotes_null_and_differing_threads() -> None:
    run = parse_sql(SQL)
    assert run.cpu == "AMD Ryzen 9 7950X 16-Core Processor, 'fast'"
    assert run.threads is None  # the tests differ
    assert any("differ in n_threads" in n for n in run.notes)
    pp, tg = run.tests
    assert (pp.mean_tps, pp.sd_tps) == (1500.25, 3.5)
    assert (tg.mean_tps, tg.sd_tps) == (90.125, None)
    assert dict(tg.params)["n_threads"] == "8"


def test_newer_llama_bench_fields_are_kept_with_a_note() -> None:
    rec = {
        "build_commit": "x",
        "model_type": "m",
        "n_prompt": 0,
        "n_gen": 4,
        "n_depth": 0,
        "avg_ts": 10.5,
        "stddev_ts": 0.25,
        "samples_ts": [10.25, 10.75],
        "kv_unified": True,
    }
    run = parse_text(json.dumps([rec]))
    assert run.format == "llama-bench-json"
    assert any("kv_unified" in n for n in run.notes)
    (t,) = run.tests
    assert dict(t.params)["kv_unified"] == "true"
    assert (t.samples_tps, t.n) == ((10.25, 10.75), 2)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[{"avg_ts": 1.0, "n_gen": 4}]', "lacks n_prompt"),
        ('[{"avg_ts": "fast", "n_gen": 4, "n_prompt": 0}]', "non-numeric"),
        (
            '[{"avg_ts": 1.0, "n_gen": 4, "n_prompt": 0, "samples_ts": "1,2"}]',
            "samples_ts that is not a list",
        ),
        ("[]", "not a benchmark file"),
        ("| test | t/s |\n|---|---|\n| pp512 | fast |\n", "not 'mean ± sd'"),
        ("| test | t/s |\n|---|---|\n| decode | 1.00 ± 0.10 |\n", "unknown test name"),
        ("| test | t/s |\n|---|---|\n| pp512 | 1.00 ± 0.10 | 3 |\n", "has 3 cells"),
        ('build_commit,n_prompt,n_gen,avg_ts\n"a","1"\n', "rows of differing lengths"),
        ("INSERT INTO llama_bench (n_prompt, n_gen) VALUES ('1');\n", "2 fields but 1 values"),
        ("INSERT INTO llama_bench (n_prompt) VALUES ('1);\n", "unclosed string"),
    ],
)
def test_malformed_llama_bench_output(text: str, message: str) -> None:
    with pytest.raises(TokbenchError, match=message):
        parse_text(text)


def test_md_without_rows_is_refused() -> None:
    with pytest.raises(TokbenchError, match="holds no test results"):
        parse_md("| model | test | t/s |\n| --- | ---: | ---: |\n")
