"""Which LLM server is behind a URL? Probe each kind's characteristic endpoint.

Order matters: the richest protocol a server speaks wins (llama-server also
answers `/v1/models`, so it is probed for `/props` first).
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from tokbench.backends.ollama import root_url
from tokbench.errors import TokbenchError
from tokbench.http import Client, TransportError

KINDS = ("ollama", "llama-server", "lmstudio", "vllm", "sglang", "openai")
DEFAULT_PORTS = (11434, 1234, 8080, 8000, 30000)


@dataclass(frozen=True, slots=True)
class Detected:
    url: str  # the server root
    kind: str
    version: str | None = None
    models: list[str] = field(default_factory=list)


class _AuthRequired(Exception):
    def __init__(self, status: int, body: bytes) -> None:
        self.status, self.body = status, body


def _get(client: Client, path: str) -> Any:
    status, _ctype, body = client.get(path)
    if status in (401, 403):
        raise _AuthRequired(status, body)
    if status >= 400:
        return None
    try:
        return json.loads(body)
    except ValueError:
        return None


def _model_ids(obj: Any) -> list[str]:
    if isinstance(obj, dict) and isinstance(obj.get("data"), list):
        return [str(m.get("id")) for m in obj["data"] if isinstance(m, dict)]
    return []


def detect(
    url: str,
    *,
    timeout_s: float = 2.0,
    api_key: str | None = None,
    api_key_env: str | None = None,
) -> Detected:
    """Identify the server at `url`; raises TokbenchError when it is none we know."""
    from tokbench.backends.openai import explain_status

    root = root_url(url)
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    client = Client(root, headers=headers, timeout_s=timeout_s, connect_timeout_s=timeout_s)
    try:
        return _probe(client, root)
    except TransportError as exc:
        raise TokbenchError(str(exc)) from exc
    except _AuthRequired as exc:
        raise TokbenchError(explain_status(exc.status, exc.body, api_key_env, None)) from exc
    finally:
        client.close()


def _probe(client: Client, root: str) -> Detected:
    version = _get(client, "/api/version")
    if isinstance(version, dict) and "version" in version:
        tags = _get(client, "/api/tags") or {}
        models = [str(m.get("name")) for m in tags.get("models", []) if isinstance(m, dict)]
        return Detected(root, "ollama", str(version["version"]), models)
    props = _get(client, "/props")
    if isinstance(props, dict) and (
        "build_info" in props or "default_generation_settings" in props
    ):
        return Detected(
            root, "llama-server", props.get("build_info"), _model_ids(_get(client, "/v1/models"))
        )
    lms = _get(client, "/api/v0/models")
    if _model_ids(lms):
        return Detected(root, "lmstudio", None, _model_ids(lms))
    info = _get(client, "/get_server_info")
    if isinstance(info, dict) and ("version" in info or "model_path" in info):
        return Detected(root, "sglang", info.get("version"), _model_ids(_get(client, "/v1/models")))
    ver = _get(client, "/version")
    if isinstance(ver, dict) and "version" in ver:
        return Detected(root, "vllm", str(ver["version"]), _model_ids(_get(client, "/v1/models")))
    models = _get(client, "/v1/models")
    if isinstance(models, dict) and isinstance(models.get("data"), list):
        return Detected(root, "openai", None, _model_ids(models))
    raise TokbenchError(
        f"{root} answers HTTP but is not an LLM server tokbench knows (no Ollama /api/version, "
        "llama-server /props, LM Studio /api/v0/models, vLLM /version or OpenAI /v1/models); "
        "check the port, or force a protocol with --backend"
    )


def scan(hosts: list[str] | None = None, *, timeout_s: float = 0.5) -> list[Detected | str]:
    """Probe the default local ports plus `hosts` (host:port) in parallel.

    Returns what was found; a listening port that is not an LLM server comes back as a
    message. Ports where nothing listens are left out.
    """
    targets = [f"http://127.0.0.1:{p}" for p in DEFAULT_PORTS]
    targets += [h if "://" in h else f"http://{h}" for h in hosts or []]

    def one(url: str) -> Detected | str | None:
        try:
            return detect(url, timeout_s=timeout_s)
        except TokbenchError as exc:
            msg = str(exc)
            if "connection refused" in msg or "timed out connecting" in msg:
                return None
            return f"{url}: {msg}"

    with ThreadPoolExecutor(max_workers=len(targets)) as pool:
        found = list(pool.map(one, targets))
    return [f for f in found if f is not None]
