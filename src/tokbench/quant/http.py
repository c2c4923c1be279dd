"""Quant quality over HTTP (docs/metrics.md, "Quant quality over HTTP").

Teacher-forced scoring needs, for every position of a given text, the log-probability of
the text's next token and of the reference's top-k tokens: prompt-token log-probabilities.
- vLLM has them: `/v1/completions` with the prompt as token ids and `prompt_logprobs: N`
  answers, per prompt position (the first is null), the N most likely tokens plus the
  actual one, `{token id: {"logprob", "rank", "decoded_token"}}`, capped by the server's
  `--max-logprobs` (20 by default). `measure_server` scores each window of a stored
  reference that way; a reference id outside the returned N gets the N-th log-prob, an
  upper bound on its probability. The KLD over HTTP is always approximate: the compact
  KLD's lower bound (no upper bound: that needs the candidate's whole distribution).
- llama-server (`/completion` `n_probs`, `/v1/completions` `logprobs`) returns
  probabilities for generated tokens only, never for the prompt's; Ollama and LM Studio
  at most generated-token log-probabilities: refused in one sentence.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from tokbench.backends.base import Detected
from tokbench.backends.registry import detect
from tokbench.core.records import QuantSettings, Target, utc_now
from tokbench.errors import TokbenchError
from tokbench.net.http import Client, TransportError, credentials
from tokbench.quant import kld as m
from tokbench.quant.evaluate import QuantResult, with_reference
from tokbench.quant.reference import Reference, check_reference, load_reference, tokens_sha256
from tokbench.quant.rows import result_row
from tokbench.quant.score import WindowPlan
from tokbench.quant.text import load_text
from tokbench.quant.view import HttpScoring, ModelSpeed, QuantView
from tokbench.store.database import Store
from tokbench.store.ledger import new_run, this_host
from tokbench.store.quant import QuantReference, save_quant_run

_NAMES = {
    "llama-server": "llama-server",
    "ollama": "Ollama",
    "lmstudio": "LM Studio",
    "vllm": "vLLM",
    "sglang": "SGLang",
    "openai": "the OpenAI-compatible server",
}

Progress = Callable[[str, int, int], None]


def refuse_kind(url: str, kind: str) -> None:
    """Raise the one sentence that says why a server of `kind` cannot be measured."""
    name = _NAMES.get(kind, f"this {kind} server")
    if kind == "sglang":
        raise TokbenchError(
            f"tokbench does not read prompt-token log-probabilities from {name} at {url}: "
            "run tokbench quant on the GGUF files instead"
        )
    raise TokbenchError(
        f"{name} at {url} cannot provide prompt-token log-probabilities (llama-server only "
        "returns them for generated tokens): run tokbench quant on the GGUF files instead"
    )


def refuse_server(url: str) -> None:
    """Raise the refusal for the server at `url` unless it is vLLM."""
    kind = detect(url).kind
    if kind != "vllm":
        refuse_kind(url, kind)


@dataclass(slots=True)
class _Scored:
    """The candidate's records over all scored positions."""

    actual: list[float]
    argmax: list[int]
    lp_at_ref: list[float]  # flat, the reference's kept ids position by position
    substituted: int  # reference ids the server did not return (bounded, not read)


def _error_message(body: bytes) -> str:
    try:
        doc = json.loads(body)
    except ValueError:
        return body[:200].decode("utf-8", "replace")
    if isinstance(doc, dict):
        err = doc.get("error", doc)
        if isinstance(err, dict) and "message" in err:
            return str(err["message"])
        if isinstance(err, str):
            return err
        if "detail" in doc:
            return str(doc["detail"])
    return json.dumps(doc)[:200]


class _Vllm:
    def __init__(self, det: Detected, url: str, model: str, top_n: int) -> None:
        self.url, self.model, self.top_n = url, model, top_n
        self.client = Client(det.url, timeout_s=600.0, auth=credentials(url))

    def post(self, path: str, body: dict[str, Any]) -> Any:
        try:
            with self.client.request("POST", path, body, accept="application/json") as resp:
                raw = resp.read()
        except TransportError as exc:
            raise TokbenchError(str(exc)) from None
        if resp.status != 200:
            msg = _error_message(raw)
            if resp.status == 400 and "logprobs" in msg and ("max" in msg or "allowed" in msg):
                found = re.search(r"max(?:imum)? allowed:? (-?\d+)", msg)
                cap = f" at most {found.group(1)}" if found else " fewer"
                raise TokbenchError(
                    f"vLLM at {self.url} returns{cap} prompt log-probabilities per position, "
                    f"this run asks for {self.top_n}: start vLLM with --max-logprobs "
                    f"{self.top_n} (or -1), or pass a smaller --http-top-n"
                )
            raise TokbenchError(f"vLLM at {self.url} answered HTTP {resp.status} to {path}: "
                                f"{msg[:300]}")
        try:
            return json.loads(raw)
        except ValueError:
            raise TokbenchError(f"vLLM at {self.url} sent a non-JSON answer to {path}") from None

    def tokenize(self, text: str) -> list[int]:
        doc = self.post("/tokenize", {"model": self.model, "prompt": text,
                                      "add_special_tokens": True})
        tokens = doc.get("tokens") if isinstance(doc, dict) else None
        if not isinstance(tokens, list):
            raise TokbenchError(f"vLLM at {self.url} sent no tokens from /tokenize")
        return [int(t) for t in tokens]

    def prompt_logprobs(self, window: list[int]) -> list[Any]:
        doc = self.post("/v1/completions", {
            "model": self.model, "prompt": window, "max_tokens": 1, "temperature": 0,
            "prompt_logprobs": self.top_n,
        })
        try:
            plp = doc["choices"][0]["prompt_logprobs"]
        except (KeyError, IndexError, TypeError):
            plp = None
        if not isinstance(plp, list) or len(plp) != len(window):
            raise TokbenchError(
                f"vLLM at {self.url} did not return prompt_logprobs for each of the "
                f"{len(window)} prompt tokens (a vLLM too old for prompt_logprobs?)"
            )
        return plp


def _position(entry: Any, actual: int, ref_ids: np.ndarray, n: int,
              out: _Scored) -> None:
    """One scored position from its prompt_logprobs entry."""
    if not isinstance(entry, dict):
        raise TokbenchError("a prompt_logprobs entry is not a token-id map")
    lps: dict[int, float] = {}
    ranks: dict[int, int] = {}
    for key, val in entry.items():
        tid = int(key)
        lps[tid] = float(val["logprob"]) if isinstance(val, dict) else float(val)
        rank = val.get("rank") if isinstance(val, dict) else None
        if isinstance(rank, int):
            ranks[tid] = rank
    if actual not in lps:
        raise TokbenchError("vLLM's prompt_logprobs lacks the prompt token's own log-prob")
    order = sorted(lps, key=lambda t: (-lps[t], t))
    top = [t for t in order if ranks.get(t, 0) <= n][:n] or order[:n]
    floor = min(lps[t] for t in top)  # the N-th most likely: no unreturned token is above it
    out.actual.append(lps[actual])
    out.argmax.append(order[0])
    for tid in ref_ids.tolist():
        if tid in lps:
            out.lp_at_ref.append(lps[tid])
        else:
            out.lp_at_ref.append(floor)
            out.substituted += 1


def _score(srv: _Vllm, ref: Reference, plan: WindowPlan, tokens: list[int],
           progress: Progress | None) -> _Scored:
    out = _Scored([], [], [], 0)
    per = plan.scored_per_window
    for i in range(plan.n_windows):
        window = plan.window(tokens, i)
        plp = srv.prompt_logprobs(window)
        rows = ref.rows.rows(i * per, (i + 1) * per)
        off = rows.offsets
        for j, p in enumerate(range(plan.first, plan.n_ctx - 1)):
            # entry p + 1: the distribution of token p + 1 given tokens 0..p
            _position(plp[p + 1], window[p + 1], rows.ids[off[j] : off[j + 1]], srv.top_n,
                      out)
        if progress is not None:
            progress(srv.model, i + 1, plan.n_windows)
    return out


def _pick_model(det: Detected, url: str, model: str | None) -> str:
    if model:
        if det.models and model not in det.models:
            raise TokbenchError(f"vLLM at {url} serves {', '.join(det.models)}, not {model}")
        return model
    if not det.models:
        raise TokbenchError(f"vLLM at {url} lists no model: name one with --model")
    if len(det.models) > 1:
        raise TokbenchError(f"vLLM at {url} serves several models "
                            f"({', '.join(det.models)}): choose one with --model")
    return det.models[0]


def measure_server(
    url: str, reference_file: Path | None, *, model: str | None = None, text: Path | None = None,
    chunks: int | None = None, top_n: int | None = None, store: Store | None = None,
    progress: Progress | None = None,
) -> QuantView:
    """Score the model a vLLM server at `url` serves against a stored reference file
    (its top-k records), from prompt-token log-probabilities; stored as a quant run."""
    started_at = utc_now()
    det = detect(url)
    if det.kind != "vllm":
        refuse_kind(url, det.kind)
    if reference_file is None:
        raise TokbenchError("over HTTP the reference is a reference file: give --reference REF "
                            "(made by tokbench quant REF.gguf --save-reference REF)")
    et = load_text(text)
    ref = load_reference(reference_file, max_tokens=len(et.text.encode("utf-8")) + 1)
    meta = ref.meta
    check_reference(reference_file, meta, text_sha256=et.sha256, text_name=et.name,
                    n_ctx=meta.n_ctx, n_vocab=meta.n_vocab,
                    vocab_fingerprint=meta.vocab_fingerprint, n_windows=chunks)
    n = top_n or int(ref.rows.counts.max())
    if n < 1:
        raise TokbenchError(f"--http-top-n {n}: must be at least 1")
    name = _pick_model(det, url, model)
    srv = _Vllm(det, url, name, n)
    t0 = time.perf_counter()
    try:
        tokens = srv.tokenize(et.text)
        bos = srv.tokenize("")
        used = tokens[: meta.n_windows * meta.n_ctx]
        if len(used) < meta.n_windows * meta.n_ctx or tokens_sha256(used) != meta.tokens_sha256:
            raise TokbenchError(
                f"{name} at {url} tokenizes the text differently from the reference "
                f"{meta.model_name} ({len(tokens)} tokens): KL divergence needs the same "
                "tokenizer on both sides"
            )
        windows = min(chunks or meta.n_windows, meta.n_windows)
        plan = WindowPlan(meta.n_ctx, windows, bool(bos), bos[0] if bos else 0)
        used_ref = ref.head(windows)
        t1 = time.perf_counter()
        scored = _score(srv, used_ref, plan, tokens, progress)
        t2 = time.perf_counter()
    finally:
        srv.client.close()
    res = _result(name, url, reference_file, et.name, plan, used_ref, scored, t1 - t0, t2 - t1)
    return _store(det, url, name, n, reference_file, ref, et, chunks, windows, res, scored,
                  store, started_at)


def _result(name: str, url: str, reference_file: Path, text_name: str, plan: WindowPlan,
            ref: Reference, s: _Scored, load_s: float, elapsed_s: float) -> QuantResult:
    actual = np.asarray(s.actual, dtype=np.float64)
    rows = ref.rows
    lq = np.asarray(s.lp_at_ref, dtype=np.float64)
    pos = np.repeat(np.arange(rows.counts.size), rows.counts)
    # the candidate's tail: 1 - its mass on the reference's ids (kept above 0)
    rest_p = 1.0 - np.bincount(pos, np.exp(lq), minlength=rows.counts.size)
    cand_rest = np.log(np.maximum(rest_p, np.finfo(np.float64).tiny))
    lower, _covered = m.compact_kld(rows.counts, rows.lps, rows.rest_lp, lq, cand_rest)
    ppl = m.perplexity(-actual)
    plain = QuantResult(
        model_path=name, model_size_bytes=0, text_name=text_name, n_ctx=plan.n_ctx,
        n_windows=plan.n_windows, scored_tokens=plan.scored_tokens, threads=0,
        perplexity=ppl.mean, perplexity_se=ppl.se, reference_kind="http",
        reference_name=str(reference_file), mass=None, max_k=None, uncovered_mass=None,
        reference_perplexity=None, reference_perplexity_se=None, ln_ppl_ratio=None,
        ln_ppl_ratio_se=None, kld=None, kld_exact=False, kld_upper=None, kld_compact=None,
        compact_error=None, same_top_rate=None, same_top_se=None,
        delta_p_mean=None, delta_p_se=None, delta_p_rms=None, delta_p_top_mean=None,
        delta_p_top_se=None, load_s=load_s, elapsed_s=elapsed_s,
        scored_tps=plan.scored_tokens / max(elapsed_s, 1e-9),
    )
    return with_reference(plain, rows, ref.meta.mass, ref.meta.max_k, actual,
                          np.asarray(s.argmax, dtype=np.int32), lq[rows.offsets[:-1]], lower,
                          None)


def _store(det: Detected, url: str, name: str, top_n: int, reference_file: Path,
           ref: Reference, et: Any, chunks: int | None, windows: int, res: QuantResult,
           scored: _Scored, store: Store | None, started_at: str) -> QuantView:
    meta = ref.meta
    used = ref.head(windows)
    ref_ppl = m.perplexity(-used.rows.actual_lp)
    reference = QuantReference(
        model_path=None, model_name=meta.model_name, model_sha256=meta.model_sha256,
        size_bytes=meta.model_size_bytes, source="file",
        file_path=str(reference_file), file_bytes=reference_file.stat().st_size,
        text_name=et.name, text_sha256=et.sha256, n_ctx=meta.n_ctx,
        top_k=meta.max_k, mass=meta.mass, uncovered_mass=used.rows.uncovered_mass,
        windows=windows,
        scored_tokens=windows * meta.scored_per_window, perplexity=ref_ppl.mean,
        perplexity_se=ref_ppl.se, build_s=None,
    )
    approx = scored.substituted > 0
    # stored: "http-approx" when some reference ids were bounded, not read
    row = replace(result_row(0, res, "", et.sha256), size_bytes=None, model_sha256=None,
                  threads=None, kld_is_topk=True,
                  reference_kind="http-approx" if approx else "http")
    total = max(len(scored.lp_at_ref), 1)
    how = HttpScoring(kld_approx=approx, bounded_ref_ids=scored.substituted,
                      bounded_ref_share=scored.substituted / total, prompt_logprobs=top_n,
                      server_url=det.url)
    speed = {name: ModelSpeed(name, None, None, None, None, None, None)}
    if store is None:
        return QuantView(None, reference, [row], speed, how)
    settings = QuantSettings(
        reference_model=None, reference_sha256=meta.model_sha256,
        reference_name=meta.model_name, reference_file=str(reference_file),
        reference_source="file", text_name=et.name, text_sha256=et.sha256, n_ctx=meta.n_ctx,
        chunks=chunks, n_windows=windows, top_k=meta.max_k, full_kld=False, threads=None,
    )
    target = Target(backend_kind="vllm", server_kind="vllm", server_version=det.version,
                    base_url=det.url, n_ctx=meta.n_ctx,
                    details={"prompt_logprobs": top_n, "kld_approx": approx,
                             "bounded_ref_ids": scored.substituted})
    run = new_run(
        "quant", settings, this_host(), backend="vllm", url=url, model=name,
        targets={name: target}, status="done", created_at=started_at, finished_at=utc_now(),
    )
    save_quant_run(store, run, reference, [row])
    return QuantView(run, reference, [row], speed, how)


def bounded_note(view: QuantView) -> str | None:
    """The sentence that says a KLD over HTTP is approximate, or None when it is not."""
    how = view.http  # None: read back from the store, which keeps only the kind
    if (how is not None and how.kld_approx) or any(
        r.reference_kind == "http-approx" for r in view.rows
    ):
        pct = f" ({how.bounded_ref_share:.1%} of them)" if how is not None else ""
        top = (how.prompt_logprobs if how is not None else None) or "N"
        return (
            "KLD over HTTP is approximate: some of the reference's kept"
            f" ids were not among the server's top {top}{pct} "
            "and were bounded by its smallest returned log-prob; raise --http-top-n "
            "(and vLLM's --max-logprobs) to read them"
        )
    return None


