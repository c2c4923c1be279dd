"""What an LLM server's HTTP error status means, in one sentence for the user."""

from __future__ import annotations

import json


def explain_status(status: int, body: bytes, api_key_env: str | None, model: str | None) -> str:
    detail = error_detail(body)
    if status in (401, 403):
        if api_key_env:
            return (
                f"the server rejected the API key from ${api_key_env} (HTTP {status}): "
                "check that the key is valid for this server"
            )
        return (
            f"the server requires authentication (HTTP {status}): put the key in an environment "
            "variable and pass --api-key-env VAR"
        )
    if status == 404 and model and "model" in detail.lower():
        return f"the server does not know model {model!r} (HTTP 404: {detail})"
    if status == 404:
        return f"HTTP 404 ({detail}): is --url the server's OpenAI-compatible base URL?"
    return (
        f"HTTP {status} from the server: {detail}" if detail else f"HTTP {status} from the server"
    )


def error_detail(body: bytes) -> str:
    try:
        obj = json.loads(body)
    except ValueError:
        return body.decode("utf-8", "replace").strip()[:200]
    err = obj.get("error", obj) if isinstance(obj, dict) else obj
    if isinstance(err, dict):
        return str(err.get("message") or err.get("detail") or err)[:300]
    return str(err)[:300]
