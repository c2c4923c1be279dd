"""SGLang: the OpenAI protocol; `/get_server_info` identifies it."""

from __future__ import annotations

from tokbench.backends import replies
from tokbench.backends.base import Detected, Getter
from tokbench.backends.openai import OpenAIBackend, model_ids
from tokbench.core.records import Target


def probe(get: Getter, root: str) -> Detected | None:
    info = get("/get_server_info")
    if isinstance(info, dict) and ("version" in info or "model_path" in info):
        return Detected(root, "sglang", replies.label(info.get("version")), model_ids(get))
    return None


class SGLangBackend(OpenAIBackend):
    kind = "sglang"

    def describe_server(self) -> Target:
        info = self._get_json("/get_server_info")
        return Target(server_version=replies.label(info.get("version")))
