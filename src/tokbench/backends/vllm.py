"""vLLM: the OpenAI protocol with `reasoning_content`; `/version` tells the build."""

from __future__ import annotations

from tokbench.backends import replies
from tokbench.backends.base import Detected, Getter
from tokbench.backends.openai import OpenAIBackend, model_ids
from tokbench.core.records import Target


def probe(get: Getter, root: str) -> Detected | None:
    version = replies.label(replies.field(get("/version"), "version"))
    return None if version is None else Detected(root, "vllm", version, model_ids(get))


class VLLMBackend(OpenAIBackend):
    kind = "vllm"

    def describe_server(self) -> Target:
        return Target(server_version=replies.label(self._get_json("/version").get("version")))
