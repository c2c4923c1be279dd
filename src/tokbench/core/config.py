"""What the user asked for: how to reach a model (`Connection`), how to set up the embedded
engine (`EngineSettings`), how to sample (`Sampling`) and measure energy (`EnergySettings`),
and the settings of each kind of run, composed of those parts.

Stored with each run (as flat JSON, field by field, as runs have always been stored) so
that a run can be resumed.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields, replace
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
    file for the embedded engine (set up by `EngineSettings`). One shape for every command."""

    url: str | None = None
    kind: str | None = None
    model: str | None = None  # the server's model name
    model_path: str | None = None  # the embedded engine's GGUF (None: the bundled model)
    api_key_env: str | None = None
    timeout_s: float = 300.0
    keep_alive: str | None = None  # Ollama
    think: bool | None = None  # Ollama's `think` option; None: the server's default
    prompt_cache: bool = False  # llama-server's `cache_prompt`
    idle_timeout_s: float | None = None  # one wait for data (None: --timeout)
    max_response_mb: float = 64.0  # a response (and a line) larger than this is an error


# What llama.cpp's -ctk/-ctv (llama-cpp-python's type_k/type_v) accept, by name.
KV_CACHE_TYPES = ("f16", "q8_0", "q4_0", "bf16", "f32", "q4_1", "q5_0", "q5_1", "iq4_nl")
NUMA_MODES = ("off", "distribute", "isolate", "numactl")
MMAP_MODES = ("on", "off", "mlock")  # mmap (llama.cpp's default), read into RAM, mmap + mlock


@dataclass(frozen=True, slots=True)
class EngineSettings:
    """How the embedded llama.cpp engine is set up: every `Llama(...)` setting tokbench
    exposes, named as `tokbench tune`'s knobs are. None: the engine's default (threads:
    the physical cores; flash attention on, as llama.cpp's `auto` is on every CPU build).
    `backends.embedded.checked` refuses settings llama.cpp would refuse or change."""

    threads: int | None = None
    n_ctx: int = 4096
    chat_format: str | None = None
    flash_attn: bool | None = None
    cache_type_k: str | None = None  # KV_CACHE_TYPES
    cache_type_v: str | None = None
    batch: int | None = None  # logical batch (n_batch)
    ubatch: int | None = None  # physical batch (n_ubatch)
    mmap: str | None = None  # MMAP_MODES
    numa: str | None = None  # NUMA_MODES
    gpu_layers: int | None = None  # -1: all

    def note(self) -> str:
        """The knobs given, as `tokbench run` spells them ("" when none): shown with a run."""
        words = {"flash_attn": "-fa", "cache_type_k": "-ctk", "cache_type_v": "-ctv",
                 "batch": "-b", "ubatch": "-ub", "mmap": "--mmap", "numa": "--numa",
                 "gpu_layers": "-ngl"}  # fmt: skip

        def shown(v: Any) -> str:
            if isinstance(v, bool):
                return "on" if v else "off"
            return "all" if v == -1 else str(v)

        return " ".join(f"{words[k]} {shown(v)}" for k, v in self.knobs().items())

    def knobs(self) -> dict[str, Any]:
        """The settings given (not None) beyond threads, context and chat format."""
        own = ("threads", "n_ctx", "chat_format")
        return {
            f.name: v
            for f in fields(self)
            if f.name not in own and (v := getattr(self, f.name)) is not None
        }


@dataclass(frozen=True, slots=True)
class EnergySettings:
    """What the user asked about energy and cost (the `--watts`, `--power-cmd`... flags of
    `run`, `bench` and `eval`); `energy.session.checked` refuses bad ones. Not stored with
    a run: a --power-cmd may carry a credential, and a resumed run measures with the
    flags given to --resume (as it always has)."""

    watts: float | None = None  # --watts: a constant draw the user measured
    power_cmd: str | None = None  # --power-cmd: a command printing watts
    interval_s: float = 0.2  # --power-interval
    idle_s: float = 3.0  # --idle-s: the idle baseline; 0 skips it
    kwh_price: float | None = None  # --kwh-price, currency per kWh
    box_price: float | None = None  # --box-price, currency
    lifetime: str | None = None  # --lifetime: "20000h", "3y", "3y@50%"
    currency: str = ""  # --currency, a label
    prefer_wall: bool = False  # --prefer-wall: the ACPI meter or IPMI before RAPL
    host_monitor: bool = True


# Connection's fields by their stored (flat) names: `kind` was stored as `backend`.
_STORED_AS = {"kind": "backend"}


def _picked(
    d: dict[str, Any], names: list[str], rename: dict[str, str] | None = None
) -> dict[str, Any]:
    """The values of `names` that `d` (a stored config) holds; JSON lists back to tuples."""
    rename = rename or {}
    out = {}
    for name in names:
        key = rename.get(name, name)
        if key in d:
            v = d[key]
            out[name] = tuple(v) if isinstance(v, list) else v
    return out


def _names(cls: Any, *but: str) -> list[str]:
    return [f.name for f in fields(cls) if f.name not in but]


def flat_settings(conn: Connection, engine: EngineSettings) -> dict[str, Any]:
    """A connection and engine settings as one flat object, in the stored key order (the
    engine's threads, n_ctx and chat_format after api_key_env, where runs have always kept
    them); the engine's knobs are not in it (`EngineSettings.knobs`)."""
    stored = {_STORED_AS.get(k, k): v for k, v in asdict(conn).items()}
    keys = list(stored)
    at = keys.index("api_key_env") + 1
    own = {"threads": engine.threads, "n_ctx": engine.n_ctx, "chat_format": engine.chat_format}
    head = {k: stored[k] for k in keys[:at]}
    tail = {k: stored[k] for k in keys[at:]}
    return {**head, **own, **tail}


def connection_of(d: dict[str, Any], **defaults: Any) -> Connection:
    """The connection of a flat stored config (fields it lacks take `defaults`, then the
    dataclass's)."""
    return Connection(**{**defaults, **_picked(d, _names(Connection), _STORED_AS)})


def engine_of(d: dict[str, Any]) -> EngineSettings:
    return EngineSettings(**_picked(d, _names(EngineSettings)))


@dataclass(frozen=True, slots=True)
class RunConfig:
    """Everything `tokbench run` (and `eval`) needs: how to reach the model (`Connection`),
    how the embedded engine is set up (`EngineSettings`), how to sample (`Sampling`) and how
    to measure energy (`EnergySettings`); stored with the run, whole but for the energy
    flags, so it can be resumed. Stored flat (one JSON object, as runs have always been
    stored)."""

    suite: str = "seed5"
    connection: Connection = field(default_factory=Connection)
    sampling: Sampling = field(default_factory=Sampling)
    engine: EngineSettings = field(default_factory=EngineSettings)
    energy: EnergySettings | None = None  # None: no energy measured, nor the host's load
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
        return self.engine.threads

    def overrides(self) -> dict[str, object]:
        return {
            "max_tokens": self.max_tokens,
            **asdict(self.sampling),
            "extra_body": self.extra_body,
        }

    def to_json(self) -> dict[str, Any]:
        """One flat object: the run's own fields, the connection's and engine's, the
        sampling's, then the engine's knobs (only those given)."""
        own = {n: getattr(self, n) for n in _names(RunConfig, *_PARTS)}
        conn = flat_settings(self.connection, self.engine)
        return {
            **own,
            **conn,
            **asdict(self.sampling),
            "allow_judge": list(self.allow_judge),
            **self.engine.knobs(),  # after every older key; a knob left at its default: none
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> RunConfig:
        """A stored config (any version's: fields it lacks take their defaults, fields
        this version does not know are dropped)."""
        return cls(
            connection=connection_of(d),
            sampling=Sampling(**_picked(d, _names(Sampling))),
            engine=engine_of(d),
            **_picked(d, _names(cls, *_PARTS)),
        )


_PARTS = ("connection", "sampling", "engine", "energy")


# A bench's connection fields, by their stored names, in the stored order (before and after
# the bench's own fields): a bench has always been stored flat.
_BENCH_CONN_HEAD = ("url", "backend", "models", "api_key_env", "threads")
_BENCH_CONN_TAIL = ("timeout_s", "idle_timeout_s", "max_response_mb")
BENCH_TIMEOUT_S = 600.0


@dataclass(frozen=True, slots=True)
class BenchConfig:
    """`tokbench bench`: how to reach the models (`Connection`; its `model` unused, the
    models are `models`), the embedded engine's settings (its context is sized per test),
    the energy flags, and the test matrix."""

    connection: Connection = field(default_factory=lambda: Connection(timeout_s=BENCH_TIMEOUT_S))
    engine: EngineSettings = field(default_factory=EngineSettings)
    energy: EnergySettings | None = None  # None: no energy measured, nor the host's load
    models: tuple[str, ...] = ()  # server model names, or GGUF paths for the embedded engine
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

    @property
    def url(self) -> str | None:
        return self.connection.url

    @property
    def threads(self) -> int | None:
        return self.engine.threads

    def to_json(self) -> dict[str, Any]:
        """One flat object, in the order benches have always been stored in."""
        flat = {**flat_settings(self.connection, self.engine), "models": list(self.models)}
        own = {n: getattr(self, n) for n in _names(BenchConfig, *_PARTS, "models")}
        own = {k: list(v) if isinstance(v, tuple) else v for k, v in own.items()}
        return {
            **{k: flat[k] for k in _BENCH_CONN_HEAD},
            **own,
            **{k: flat[k] for k in _BENCH_CONN_TAIL},
            **self.engine.knobs(),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> BenchConfig:
        """The stored config of a run (any version's; JSON lists back to tuples)."""
        return cls(
            connection=connection_of(d, timeout_s=BENCH_TIMEOUT_S),
            engine=engine_of(d),
            **_picked(d, _names(cls, *_PARTS)),
        )

    def tests(self) -> list[BenchTest]:
        out = []
        for d in self.depths:
            out += [BenchTest("pp", n, d) for n in self.n_prompt if n > 0]
            out += [BenchTest("tg", n, d) for n in self.n_gen if n > 0]
        return out


# a converse run's connection fields, by their stored names, in the stored order
_CONVERSE_CONN = ("url", "backend", "model", "api_key_env", "timeout_s")


@dataclass(frozen=True, slots=True)
class ConverseConfig:
    """`tokbench converse`: conversations sent turn by turn, each turn carrying the whole
    history; stored with the run so it can be resumed. `connection.prompt_cache` is
    llama-server's `cache_prompt` (on unless --no-cache); the embedded engine gets room for
    a whole conversation's history."""

    connection: Connection = field(default_factory=lambda: Connection(prompt_cache=True))
    engine: EngineSettings = field(default_factory=lambda: EngineSettings(n_ctx=8192))
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
    seed: int = 0
    temperature: float = 0.0
    slo: str | None = None  # e.g. "ttft_p90=3s,itl_p90=250ms"
    lost_cache_cost: str | None = None  # history lengths, e.g. "4k,8k,16k": cold vs warm turns
    lost_cache_reps: int = 3  # cold/warm pairs per history length

    @property
    def url(self) -> str | None:
        return self.connection.url

    @property
    def prompt_cache(self) -> bool:
        return self.connection.prompt_cache

    def to_json(self) -> dict[str, Any]:
        """One flat object, in the order conversation runs have always been stored in."""
        conn = flat_settings(self.connection, self.engine)
        own = {n: getattr(self, n) for n in _names(ConverseConfig, *_PARTS)}
        at = list(own).index("seed")  # prompt_cache was stored between rate and seed
        return {
            **{k: conn[k] for k in _CONVERSE_CONN},
            **dict(list(own.items())[:at]),
            "prompt_cache": self.connection.prompt_cache,
            **dict(list(own.items())[at:]),
            "model_path": self.connection.model_path,  # added after the fields above
            **self.engine.knobs(),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ConverseConfig:
        """The stored config of a run (any version's)."""
        return cls(
            connection=connection_of(d, prompt_cache=True),
            engine=replace(engine_of(d), n_ctx=8192),
            **_picked(d, _names(cls, *_PARTS)),
        )
