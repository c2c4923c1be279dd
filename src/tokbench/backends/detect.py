"""Which LLM server is behind a URL? Probe each kind's characteristic endpoint (the kinds
come from `backends.registry`, which also offers `detect` and `scan` over all of them).

The kinds are probed in the registry's order: the richest protocol a server speaks wins
(llama-server also answers `/v1/models`, so it is probed for `/props` first).
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from tokbench.backends import replies
from tokbench.backends.base import Detected, ServerKind
from tokbench.errors import TokbenchError
from tokbench.net.http import Client, TransportError, credentials, root_url
from tokbench.net.status import explain_status

DEFAULT_PORTS = (11434, 1234, 8080, 8000, 30000)


class _AuthRequired(Exception):
    def __init__(self, status: int, body: bytes) -> None:
        self.status, self.body = status, body


def _get(client: Client, path: str, failures: list[int]) -> Any:
    status, _ctype, body = client.get(path)
    if status in (401, 403):
        raise _AuthRequired(status, body)
    if status >= 400:
        if status == 429 or status >= 500:
            failures.append(status)
        return None
    return replies.loads(body)


def detect(
    url: str,
    kinds: Sequence[ServerKind],
    *,
    timeout_s: float = 2.0,
    api_key: str | None = None,
    api_key_env: str | None = None,
) -> Detected:
    """Identify the server at `url`; raises TokbenchError when it is none we know."""

    root = root_url(url)
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    client = Client(
        root,
        headers=headers,
        timeout_s=timeout_s,
        connect_timeout_s=timeout_s,
        auth=credentials(url),
        # detection has its own short timeout: --timeout is for the requests
        timeout_name="timeout of detection",
        timeout_remedy=f"detection waits {timeout_s:g} s; name the protocol with --backend",
    )
    try:
        return _probe(client, root, kinds)
    except TransportError as exc:
        raise TokbenchError(str(exc)) from exc
    except _AuthRequired as exc:
        raise TokbenchError(explain_status(exc.status, exc.body, api_key_env, None)) from exc
    finally:
        client.close()


def _probe(client: Client, root: str, kinds: Sequence[ServerKind]) -> Detected:
    failures: list[int] = []

    def get(path: str) -> Any:
        return _get(client, path, failures)

    for kind in kinds:
        if kind.probe is not None and (found := kind.probe(get, root)) is not None:
            return found
    if failures:  # busy or failing, not "no LLM server": say what it answered
        raise TokbenchError(
            f"{root} answered HTTP {failures[-1]} while being identified (busy or failing): "
            "try again, or name its protocol with --backend"
        )
    raise TokbenchError(
        f"{root} answers HTTP but is not an LLM server tokbench knows (no "
        + ", ".join(k.signature for k in kinds if k.signature)
        + "); check the port, or force a protocol with --backend"
    )


def scan(
    kinds: Sequence[ServerKind], hosts: list[str] | None = None, *, timeout_s: float = 0.5
) -> list[Detected | str]:
    """Probe the default local ports plus `hosts` (host:port) in parallel.

    Returns what was found; a listening port that is not an LLM server comes back as a
    message. Ports where nothing listens are left out.
    """
    targets = [f"http://127.0.0.1:{p}" for p in DEFAULT_PORTS]
    targets += [h if "://" in h else f"http://{h}" for h in hosts or []]

    def one(url: str) -> Detected | str | None:
        try:
            return detect(url, kinds, timeout_s=timeout_s)
        except TokbenchError as exc:
            msg = str(exc)
            if "connection refused" in msg or "timed out connecting" in msg:
                return None
            return f"{url}: {msg}"

    with ThreadPoolExecutor(max_workers=len(targets)) as pool:
        found = list(pool.map(one, targets))
    return [f for f in found if f is not None]
