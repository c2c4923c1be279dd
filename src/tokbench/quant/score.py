"""Teacher-forced scoring on the embedded engine, window by window, as llama-perplexity does:
the token stream is cut into non-overlapping windows of n_ctx tokens, each decoded from an
empty KV cache with its first token replaced by BOS when the vocabulary adds one, and only
the second half is scored (logits at positions first .. n_ctx-2 predict the tokens after
them, first = n_ctx/2). Logits are requested for the scored half only, so the output
projection runs on half the tokens, and they are read in place from the engine's buffer,
ROWS rows at a time, never copied whole: Gemma's 262k vocabulary is 1 MB of f32 a row.
A reference keeps per position its most likely tokens up to a probability mass
(`covering_rows`); a candidate's rows are scored against them (`candidate_rows`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from tokbench.errors import TokbenchError
from tokbench.quant import kld
from tokbench.quant.reference import RefRows

ROWS = 16  # logits rows turned into records per numpy pass (16 MB a temporary for Gemma)
F32 = NDArray[np.float32]
F64 = NDArray[np.float64]
I32 = NDArray[np.int32]


@dataclass(frozen=True, slots=True)
class WindowPlan:
    n_ctx: int
    n_windows: int
    add_bos: bool
    bos_id: int

    @property
    def first(self) -> int:
        return self.n_ctx // 2

    @property
    def scored_per_window(self) -> int:
        return self.n_ctx - 1 - self.first

    @property
    def scored_tokens(self) -> int:
        return self.n_windows * self.scored_per_window

    def window(self, tokens: Sequence[int], i: int) -> list[int]:
        w = list(tokens[i * self.n_ctx : (i + 1) * self.n_ctx])
        if self.add_bos:
            w[0] = self.bos_id
        return w


def plan_windows(
    n_tokens: int, n_ctx: int, chunks: int | None, *, add_bos: bool, bos_id: int
) -> WindowPlan:
    if n_ctx < 16:
        raise TokbenchError(f"--ctx {n_ctx}: a window needs at least 16 tokens")
    if chunks is not None and chunks < 1:
        raise TokbenchError(f"--chunks {chunks}: must be at least 1")
    if n_tokens < n_ctx:
        raise TokbenchError(
            f"the text tokenizes to {n_tokens} tokens, fewer than one window of {n_ctx}: "
            "use a longer text or a smaller --ctx"
        )
    n = n_tokens // n_ctx
    return WindowPlan(n_ctx, n if chunks is None else min(n, chunks), add_bos, bos_id)


def tokenize(llm: Any, text: str) -> list[int]:
    """Tokens as llama-perplexity makes them: special tokens added (BOS), none parsed."""
    return list(llm.tokenize(text.encode("utf-8"), add_bos=True, special=False))


def vocab_info(llm: Any) -> tuple[int, str, bool, int]:
    """(n_vocab, fingerprint, add_bos, bos_id): the fingerprint hashes every token's text, so
    two GGUFs score the same token stream exactly when their fingerprints match."""
    import llama_cpp

    vocab = llama_cpp.llama_model_get_vocab(llm.model)
    n = int(llama_cpp.llama_vocab_n_tokens(vocab))
    add_bos = bool(llama_cpp.llama_vocab_get_add_bos(vocab))
    bos = int(llama_cpp.llama_vocab_bos(vocab))
    h = hashlib.sha256(f"n_vocab={n};bos={bos};add_bos={add_bos};".encode())
    for i in range(n):
        t = llama_cpp.llama_vocab_get_text(vocab, i) or b""
        h.update(len(t).to_bytes(4, "little"))
        h.update(t)
    return n, h.hexdigest()[:32], add_bos, bos


class WindowDecoder:
    """Decodes windows on a caller-made `llama_cpp.Llama` (n_ctx >= the window, n_batch as
    given) through llama.cpp's batch API. It clears that context's KV memory per window,
    so the Llama object's own prompt cache is not usable alongside."""

    def __init__(self, llm: Any, n_batch: int) -> None:
        import llama_cpp

        self._api = llama_cpp
        self._llm = llm
        self._ctx = llm.ctx
        self.n_vocab = int(llm.n_vocab())
        self._n_batch = n_batch
        self._batch = llama_cpp.llama_batch_init(n_batch, 0, 1)

    def close(self) -> None:
        if self._batch is not None:
            self._api.llama_batch_free(self._batch)
            self._batch = None

    def __enter__(self) -> WindowDecoder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def decode(self, window: Sequence[int], first: int) -> Iterator[tuple[int, F32]]:
        """Yield (offset, logits) per llama_decode call: the rows for window positions
        first + offset ... A view into the engine's buffer, valid until the next step."""
        api = self._api
        api.llama_memory_clear(api.llama_get_memory(self._ctx), True)
        b = self._batch
        n_out_done = 0
        for start in range(0, len(window) - 1, self._n_batch):
            # the last token is never a context for a scored prediction: not decoded
            end = min(start + self._n_batch, len(window) - 1)
            n_out = 0
            for j in range(start, end):
                k = j - start
                b.token[k] = window[j]
                b.pos[k] = j
                b.n_seq_id[k] = 1
                b.seq_id[k][0] = 0
                want = j >= first
                b.logits[k] = 1 if want else 0
                n_out += want
            b.n_tokens = end - start
            rc = api.llama_decode(self._ctx, b)
            if rc != 0:
                raise TokbenchError(f"llama.cpp failed to decode a window (llama_decode {rc})")
            if n_out:
                ptr = api.llama_get_logits(self._ctx)
                view = np.ctypeslib.as_array(ptr, shape=(n_out, self.n_vocab))
                yield n_out_done, view
                n_out_done += n_out


def _normalise(x: F32) -> tuple[F64, I32, F32]:
    """(log-partition, argmax, exp(x - max)) of each row of `x`."""
    am = np.argmax(x, axis=1).astype(np.int32)
    mx = x[np.arange(x.shape[0]), am]
    e = x - mx[:, None]
    np.exp(e, out=e)
    return mx.astype(np.float64), am, e


@dataclass(frozen=True, slots=True)
class CandidateRows:
    """A candidate's records, and against a reference's kept tokens (else None): its
    log-prob on the reference's top token and per position the compact KLD's lower and
    upper bound (`kld.compact_kld`, `kld.tail_upper`)."""

    actual_lp: F64
    argmax: I32
    lp_at_top: F64 | None
    kld_lower: F64 | None
    kld_upper: F64 | None


def _log_share(part: F64, total: F64) -> F32:
    """log(part / total), part kept above 0."""
    out: F32 = (np.log(np.maximum(part, np.finfo(np.float64).tiny)) - np.log(total)).astype(
        np.float32
    )
    return out


def _lse(mx: F64, e: F32) -> tuple[F64, F64]:
    total = e.sum(axis=1, dtype=np.float64)
    return total, mx + np.log(total)


def covering_rows(x: F32, next_tokens: I32, mass: float, max_k: int) -> RefRows:
    """A reference's records: per row the most likely tokens (ties by lower id) until they
    cover `mass` of the probability, at most `max_k` of them."""
    mx, _am, e = _normalise(x)
    n, v = x.shape
    rows = np.arange(n)[:, None]
    k = min(max_k, v)
    part = np.argpartition(x, v - k, axis=1)[:, v - k :]
    order = np.lexsort((part, -x[rows, part]), axis=1)
    ids = part[rows, order].astype(np.int32)
    total, lse = _lse(mx, e)
    p = e[rows, ids].astype(np.float64) / total[:, None]
    # the first j with p_0 + ... + p_j >= mass, so the kept tokens cover it
    counts = np.minimum((np.cumsum(p, axis=1) < mass).sum(axis=1) + 1, k).astype(np.int32)
    keep = np.arange(k)[None, :] < counts[:, None]
    kept = ids[keep]
    lps = (x[rows, ids].astype(np.float64) - lse[:, None])[keep].astype(np.float32)
    pos = np.repeat(np.arange(n), counts)
    e[pos, kept] = 0.0
    # float64 sums of the excluded entries: no 1 - sum(kept) cancellation near 0
    rest = e.sum(axis=1, dtype=np.float64)
    # the tail's sum of P ln P, for the upper bound (kld.tail_upper)
    tail_plogp = (e * (x - lse[:, None].astype(np.float32))).sum(axis=1, dtype=np.float64)
    tail_plogp /= total
    actual = x[np.arange(n), next_tokens].astype(np.float64) - lse
    return RefRows(actual, counts, kept, lps, _log_share(rest, total), tail_plogp)


def candidate_rows(x: F32, next_tokens: I32, ref: RefRows | None) -> CandidateRows:
    mx, am, e = _normalise(x)
    n = x.shape[0]
    total, lse = _lse(mx, e)
    actual = x[np.arange(n), next_tokens].astype(np.float64) - lse
    if ref is None:
        return CandidateRows(actual, am, None, None, None)
    pos = np.repeat(np.arange(n), ref.counts)
    # rounded as the reference's stored log-probs are: a model against itself gives 0
    lq = (x[pos, ref.ids].astype(np.float64) - lse[pos]).astype(np.float32).astype(np.float64)
    e[pos, ref.ids] = 0.0
    rest_lq = _log_share(e.sum(axis=1, dtype=np.float64), total).astype(np.float64)
    lower, covered = kld.compact_kld(ref.counts, ref.lps, ref.rest_lp, lq, rest_lq)
    edges, counts = _histogram(x, lse)
    upper = covered + kld.tail_upper(ref.tail_plogp, ref.rest_lp, ref.lps[ref.offsets[1:] - 1],
                                     edges, counts)
    return CandidateRows(actual, am, lq[ref.offsets[:-1]], lower, upper)


# The upper bound's histogram of each row's log-probs: bins by the top 16 bits of the
# float32 distance from the row's least likely token (sign, exponent, 7 mantissa bits), so
# a bin is under 1 % of that distance wide and binning is one shift and one bincount.
BINS = 0x7F80  # the finite non-negative floats' top 16 bits
_EDGES = (np.arange(BINS, dtype=np.int32) << 16).view(np.float32).astype(np.float64)


def _histogram(x: F32, lse: F64) -> tuple[F64, NDArray[np.int64]]:
    """Each row's log-probs as (lower edges, counts) of BINS bins, ascending."""
    lo = x.min(axis=1)
    counts = np.stack([np.bincount((x[i] - lo[i]).view(np.int32) >> 16, minlength=BINS)
                       for i in range(x.shape[0])])
    edges = _EDGES[None, :] + (lo.astype(np.float64) - lse)[:, None]
    return edges, counts


def full_kld_rows(ref_x: F32, cand_x: F32) -> F64:
    """Exact per-row KLD(P_ref || Q_cand) over the whole vocabulary."""
    def log_softmax(x: F32) -> F64:
        x64 = x.astype(np.float64)
        x64 -= x64.max(axis=1, keepdims=True)
        out: F64 = x64 - np.log(np.exp(x64).sum(axis=1, keepdims=True))
        return out

    lp = log_softmax(ref_x)
    lq = log_softmax(cand_x)
    out: F64 = (np.exp(lp) * (lp - lq)).sum(axis=1)
    return out


def row_blocks(n: int) -> Iterator[slice]:
    for s in range(0, n, ROWS):
        yield slice(s, min(s + ROWS, n))
