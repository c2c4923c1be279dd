"""What the user asked for: how to reach a model, a suite run's and a bench's settings.

Stored with each run (as JSON, field by field) so that a run can be resumed.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any, Literal


@dataclass(frozen=True, slots=True)
class Sampling:
    temperature: float | None = None
    top_p: float | None = None
    top_k: int | None = None
    seed: int | None = None


Kind = Literal["pp", "tg"]


@dataclass(frozen=True, slots=True)
class BenchTest:
    kind: Kind
    n: int
    depth: int = 0

    @property
    def name(self) -> str:
        return f"{self.kind}{self.n}" + (f" @ d{self.depth}" if self.depth else "")


@dataclass(frozen=True, slots=True)
class Connection:
    """How to reach a model: a server URL (and its kind, detected when None) or a GGUF
    file for the embedded engine. One shape for `run` and `bench`."""

    url: str | None = None
    kind: str | None = None
    model: str | None = None  # the server's model name
    model_path: str | None = None  # the embedded engine's GGUF (None: the bundled model)
    api_key_env: str | None = None
    threads: int | None = None  # embedded engine
    n_ctx: int = 4096  # embedded engine
    chat_format: str | None = None  # embedded engine
    timeout_s: float = 300.0
    keep_alive: str | None = None  # Ollama
    think: bool | None = None  # Ollama's `think` option; None: the server's default
    prompt_cache: bool = False  # llama-server's `cache_prompt`
    idle_timeout_s: float | None = None  # one wait for data (None: --timeout)
    max_response_mb: float = 64.0  # a response (and a line) larger than this is an error


# Connection's fields by their stored (flat) names: `kind` was stored as `backend`.
_STORED_AS = {"kind": "backend"}


@dataclass(frozen=True, slots=True)
class RunConfig:
    """Everything `tokbench run` needs, made of how to reach the model (`Connection`) and
    how to sample (`Sampling`); stored with the run, whole, so it can be resumed. Stored
    flat (one JSON object, as runs have always been stored)."""

    suite: str = "seed5"
    connection: Connection = field(default_factory=Connection)
    sampling: Sampling = field(default_factory=Sampling)
    repeat: int = 1
    max_tokens: int | None = None
    gguf: str | None = None  # a server's model file, when it is on this machine (speed bound)
    extra_body: dict[str, Any] | None = None  # merged into every request body
    allow_code: bool = False  # a suite file's Python graders may run (--allow-code)
    allow_judge: tuple[str, ...] = ()  # judges a suite file may ask (--allow-judge URL)

    @property
    def url(self) -> str | None:
        return self.connection.url

    @property
    def threads(self) -> int | None:
        return self.connection.threads

    def overrides(self) -> dict[str, object]:
        return {
            "max_tokens": self.max_tokens,
            **asdict(self.sampling),
            "extra_body": self.extra_body,
        }

    def to_json(self) -> dict[str, Any]:
        """One flat object: the connection's, the sampling's and the run's own fields."""
        own = {f.name: getattr(self, f.name) for f in fields(self)}
        own.pop("connection"), own.pop("sampling")
        conn = {_STORED_AS.get(k, k): v for k, v in asdict(self.connection).items()}
        return {**own, **conn, **asdict(self.sampling), "allow_judge": list(self.allow_judge)}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> RunConfig:
        """A stored config (any version's: fields it lacks take their defaults, fields
        this version does not know are dropped)."""

        def pick(names: list[str], rename: dict[str, str] | None = None) -> dict[str, Any]:
            rename = rename or {}
            out = {}
            for name in names:
                key = rename.get(name, name)
                if key in d:
                    v = d[key]
                    out[name] = tuple(v) if isinstance(v, list) else v
            return out

        conn = Connection(**pick([f.name for f in fields(Connection)], _STORED_AS))
        sampling = Sampling(**pick([f.name for f in fields(Sampling)]))
        own = [f.name for f in fields(cls) if f.name not in ("connection", "sampling")]
        return cls(connection=conn, sampling=sampling, **pick(own))


@dataclass(frozen=True, slots=True)
class BenchConfig:
    url: str | None = None
    backend: str | None = None
    models: tuple[str, ...] = ()  # server model names, or GGUF paths for the embedded engine
    api_key_env: str | None = None
    threads: int | None = None
    n_prompt: tuple[int, ...] = (512,)
    n_gen: tuple[int, ...] = (128,)
    depths: tuple[int, ...] = (0,)
    reps: int = 5
    warmup: int = 1
    until_ci_pct: float | None = (
        None  # stop when the 95% CI half-width is within this % of the mean
    )
    max_reps: int = 30
    max_time_s: float | None = None  # per test, with --until-ci
    concurrency: tuple[int, ...] = (1,)
    soak_s: float | None = None
    soak_n: int | None = None
    prefix_cache: bool = False
    timeout_s: float = 600.0
    idle_timeout_s: float | None = None
    max_response_mb: float = 64.0

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> BenchConfig:
        """The stored config of a run (JSON lists back to tuples)."""
        values: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v for k, v in d.items()}
        return cls(**values)

    def tests(self) -> list[BenchTest]:
        out = []
        for d in self.depths:
            out += [BenchTest("pp", n, d) for n in self.n_prompt if n > 0]
            out += [BenchTest("tg", n, d) for n in self.n_gen if n > 0]
        return out


@dataclass(frozen=True, slots=True)
class ConverseConfig:
    """`tokbench converse`: conversations sent turn by turn, each turn carrying the whole
    history; stored with the run so it can be resumed."""

    url: str | None = None
    backend: str | None = None
    model: str | None = None
    api_key_env: str | None = None
    timeout_s: float = 300.0
    model_path: str | None = None  # the embedded engine's GGUF (None: the bundled model)
    source: str = "synthetic"  # synthetic | seed5 | a JSONL file of message lists
    conversations: int = 4
    turns: int = 4
    system_tokens: int = 64  # synthetic: the system prompt's length (about, in words)
    shared_prefix_tokens: int = 0  # synthetic: a prefix every conversation's system shares
    user_tokens: int = 32  # synthetic: each user message
    max_tokens: int = 32  # each answer
    concurrency: int = 1  # conversations in flight at once
    think_time_s: float = 0.0  # a user's pause between an answer and the next question
    arrival: str = "closed"  # closed | constant | poisson | burst (conversations' starts)
    rate: float | None = None  # conversations started per second (constant, poisson, burst)
    prompt_cache: bool = True  # llama-server's `cache_prompt`; the embedded engine's KV reuse
    seed: int = 0
    temperature: float = 0.0
    slo: str | None = None  # e.g. "ttft_p90=3s,itl_p90=250ms"
    lost_cache_cost: str | None = None  # history lengths, e.g. "4k,8k,16k": cold vs warm turns
    lost_cache_reps: int = 3  # cold/warm pairs per history length

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ConverseConfig:
        names = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in d.items() if k in names})
