"""scripts/vllm_cpu.py without vLLM: the tokenizer fix, the chat template, the serve
command and the one-sentence failures (the whole set-up runs for real in
tests/backends/test_vllm_live.py's recipe, docs/vllm_cpu.md)."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "vllm_cpu.py"


@pytest.fixture(scope="module")
def script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("vllm_cpu", SCRIPT)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _tokenizer(folder: Path, bos: object = "<bos>") -> None:
    """What transformers writes for the bundled Gemma: BOS named, but not added."""
    folder.mkdir(exist_ok=True)
    added = [{"id": 0, "content": "<pad>"}, {"id": 2, "content": "<bos>"}]
    (folder / "tokenizer.json").write_text(
        json.dumps({"added_tokens": added, "post_processor": None, "model": {"type": "BPE"}})
    )
    (folder / "tokenizer_config.json").write_text(json.dumps({"bos_token": bos}))


def test_the_tokenizer_is_made_to_add_bos_once(script: ModuleType, tmp_path: Path) -> None:
    _tokenizer(tmp_path)
    assert not script.bos_is_patched(tmp_path)
    script.patch_bos(tmp_path)
    assert script.bos_is_patched(tmp_path)
    tok = json.loads((tmp_path / "tokenizer.json").read_text())
    post = tok["post_processor"]
    assert post["type"] == "TemplateProcessing"
    assert post["single"][0] == {"SpecialToken": {"id": "<bos>", "type_id": 0}}
    assert post["special_tokens"]["<bos>"]["ids"] == [2]  # the id the tokenizer gives <bos>
    assert tok["model"] == {"type": "BPE"}  # the rest is kept
    config = json.loads((tmp_path / "tokenizer_config.json").read_text())
    assert config == {"bos_token": "<bos>", "add_bos_token": True}


def test_a_tokenizer_without_bos_is_refused(script: ModuleType, tmp_path: Path) -> None:
    _tokenizer(tmp_path, bos="<s>")  # named, but no such token
    with pytest.raises(script.SetupError, match="no BOS token"):
        script.patch_bos(tmp_path)
    assert not script.bos_is_patched(tmp_path)


def test_the_chat_template_renders_gemma_turns(script: ModuleType) -> None:
    jinja2 = pytest.importorskip("jinja2")
    turns = [("system", "Be brief."), ("user", "Hi"), ("assistant", "Hello"), ("user", "2+2?")]
    messages = [{"role": r, "content": c} for r, c in turns]
    text = jinja2.Template(script.CHAT_TEMPLATE).render(
        messages=messages, bos_token="<bos>", add_generation_prompt=True
    )
    assert text == (
        "<bos><start_of_turn>user\nBe brief.<end_of_turn>\n<start_of_turn>user\nHi<end_of_turn>\n"
        "<start_of_turn>model\nHello<end_of_turn>\n<start_of_turn>user\n2+2?<end_of_turn>\n"
        "<start_of_turn>model\n"
    )


def test_serve_asks_vllm_for_its_cache_counts(script: ModuleType, tmp_path: Path) -> None:
    cmd = script.serve_command(tmp_path / "venv", tmp_path / "model", 8123, eager=True)
    assert cmd[1:3] == ["-m", "vllm.entrypoints.openai.api_server"]
    assert "--enable-prompt-tokens-details" in cmd and "--enforce-eager" in cmd
    assert cmd[cmd.index("--port") + 1] == "8123" and cmd[cmd.index("--host") + 1] == "127.0.0.1"


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["serve"], "no vLLM set-up at"),
        (["stop"], "no detached vLLM recorded"),
    ],
)
def test_failures_are_one_sentence(args: list[str], says: str, tmp_path: Path) -> None:
    r = subprocess.run(
        [sys.executable, str(SCRIPT), *args, "--venv", str(tmp_path / "none")],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert r.returncode == 1
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and says in lines[0], r.stderr
