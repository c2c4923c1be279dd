"""vLLM: the OpenAI protocol with `reasoning_content`; `/version` tells the build; a fresh
`cache_salt` per request keeps it from reusing its prefix cache."""

from __future__ import annotations

import uuid
from typing import Any

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

    def cache_fields(self, reuse: bool) -> dict[str, Any]:
        """vLLM reuses its prefix cache for any request that starts like an earlier one (on
        by default since v1) and has no per-request switch to skip it: a salt never used
        before (`cache_salt`, vLLM >= 0.9; older versions ignore the field) gives the request
        a cache of its own, so it pays its whole prefill, like llama-server's
        `cache_prompt: false`."""
        return {} if reuse else {"cache_salt": uuid.uuid4().hex}
