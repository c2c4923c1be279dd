"""vLLM: the OpenAI protocol with `reasoning_content`; `/version` tells the build."""

from __future__ import annotations

from typing import Any

from tokbench.backends import wire
from tokbench.backends.base import Detected, Getter
from tokbench.backends.openai import OpenAIBackend, model_ids


def probe(get: Getter, root: str) -> Detected | None:
    ver = get("/version")
    if isinstance(ver, dict) and "version" in ver:
        return Detected(root, "vllm", str(ver["version"]), model_ids(get))
    return None


class VLLMBackend(OpenAIBackend):
    kind = "vllm"

    def describe_server(self) -> dict[str, Any]:
        return {"server_version": wire.scalar(self._get_json("/version").get("version"))}
