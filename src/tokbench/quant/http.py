"""Quant quality over HTTP: what a server would have to give, and why the servers tokbench
knows cannot (docs/metrics.md, "Quant quality over HTTP").

Teacher-forced scoring needs, for every position of a given text, the log-probability of
the text's next token and of the reference's top-k tokens: prompt-token log-probabilities.
- llama-server (`/completion` `n_probs`, `/v1/completions` `logprobs`) returns
  probabilities for generated tokens only, never for the prompt's;
- Ollama and LM Studio return at most generated-token log-probabilities;
- vLLM has `prompt_logprobs` (an extension of /v1/completions), but capped at the server's
  `max_logprobs` (20 by default) most likely tokens per position: the candidate's
  probabilities on the reference's top-k tokens, which KL divergence needs, are not there.
So a quant is measured on the embedded engine, from its GGUF file.
"""

from __future__ import annotations

from tokbench.backends.registry import detect
from tokbench.errors import TokbenchError

_NAMES = {
    "llama-server": "llama-server",
    "ollama": "Ollama",
    "lmstudio": "LM Studio",
    "vllm": "vLLM",
    "sglang": "SGLang",
    "openai": "the OpenAI-compatible server",
}


def refuse_server(url: str) -> None:
    """Raise the one sentence that says why the server at `url` cannot be measured."""
    kind = detect(url).kind
    name = _NAMES.get(kind, f"this {kind} server")
    if kind == "vllm":
        raise TokbenchError(
            f"{name} at {url} gives prompt-token log-probabilities only for its top "
            "max_logprobs tokens (20 by default), not the candidate's probabilities on the "
            "reference's top-k tokens that KL divergence needs: run tokbench quant on the "
            "GGUF files instead"
        )
    if kind == "sglang":
        raise TokbenchError(
            f"tokbench does not read prompt-token log-probabilities from {name} at {url}: "
            "run tokbench quant on the GGUF files instead"
        )
    raise TokbenchError(
        f"{name} at {url} cannot provide prompt-token log-probabilities (llama-server only "
        "returns them for generated tokens): run tokbench quant on the GGUF files instead"
    )
