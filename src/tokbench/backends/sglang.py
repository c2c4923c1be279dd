"""SGLang: the OpenAI protocol; `/get_server_info` identifies it."""

from __future__ import annotations

from typing import Any

from tokbench.backends import replies
from tokbench.backends.base import Detected, Getter
from tokbench.backends.openai import OpenAIBackend, model_ids


def probe(get: Getter, root: str) -> Detected | None:
    info = get("/get_server_info")
    if isinstance(info, dict) and ("version" in info or "model_path" in info):
        return Detected(root, "sglang", replies.label(info.get("version")), model_ids(get))
    return None


class SGLangBackend(OpenAIBackend):
    kind = "sglang"

    def describe_server(self) -> dict[str, Any]:
        return {"server_version": replies.scalar(self._get_json("/get_server_info").get("version"))}
