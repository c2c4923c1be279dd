"""The knobs `tokbench tune` turns, as data, and the candidates they span.

A Knob lists the values worth measuring on this host for this model and llama.cpp's
default; a Candidate is one setting of every knob in play. Values are strings (the form
a user types in `--set threads=8` and the form stored in a candidate's key), so a key
like `threads=8,fa=on,ubatch=512` names a candidate across runs and resumes.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Literal

from tokbench.core.config import KV_CACHE_TYPES, MMAP_MODES, NUMA_MODES
from tokbench.errors import TokbenchError
from tokbench.tune.inputs import HostFacts, ModelFacts

AppliesTo = Literal["embedded", "server", "both"]
Target = Literal["embedded", "server"]

# Search and key order: threads first (the knob that matters most on CPUs), placement next,
# flash attention before the KV type (a quantized V cache needs flash attention).
KNOB_ORDER = ("threads", "ngl", "cpu_moe", "numa", "fa", "kv", "ubatch", "batch", "mmap")

KV_TYPES = KV_CACHE_TYPES[:3]  # f16, q8_0, q4_0
# what llama.cpp's -ctk/-ctv also accept (KV_CACHE_TYPES) is offered through --set, not searched


@dataclass(frozen=True, slots=True)
class Knob:
    """One setting: the values to measure, llama.cpp's default, and where it applies."""

    name: str
    values: tuple[str, ...]
    default: str
    llama_server_flag: str
    applies_to: AppliesTo
    help: str = ""

    def __post_init__(self) -> None:
        if self.default not in self.values:
            raise ValueError(f"knob {self.name}: default {self.default} not among its values")
        if len(set(self.values)) != len(self.values):
            raise ValueError(f"knob {self.name}: repeated values")

    @property
    def searched(self) -> bool:
        return len(self.values) > 1


def _order(name: str) -> tuple[int, str]:
    return (KNOB_ORDER.index(name), "") if name in KNOB_ORDER else (len(KNOB_ORDER), name)


class Candidate(Mapping[str, str]):
    """An immutable, hashable setting of knobs, e.g. {threads: 8, fa: on}."""

    __slots__ = ("_items",)
    _items: tuple[tuple[str, str], ...]

    def __init__(self, values: Mapping[str, str] | Iterable[tuple[str, str]] = ()) -> None:
        pairs = dict(values.items() if isinstance(values, Mapping) else values)
        for k, v in pairs.items():
            if not k or not v or any(c in k + v for c in ",= "):
                raise TokbenchError(f"bad knob setting {k!r}={v!r}: no commas, '=' or spaces")
        object.__setattr__(
            self, "_items", tuple(sorted(pairs.items(), key=lambda kv: _order(kv[0])))
        )

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("a Candidate is immutable")

    def __getitem__(self, name: str) -> str:
        for k, v in self._items:
            if k == name:
                return v
        raise KeyError(name)

    def __iter__(self) -> Iterator[str]:
        return (k for k, _ in self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __hash__(self) -> int:
        return hash(self._items)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Candidate):
            return self._items == other._items
        return NotImplemented

    def __repr__(self) -> str:
        return f"Candidate({self.key})"

    @property
    def key(self) -> str:
        """Stable text key in knob order, e.g. `threads=8,fa=on,ubatch=512`."""
        return ",".join(f"{k}={v}" for k, v in self._items)

    @classmethod
    def from_key(cls, key: str) -> Candidate:
        if not key:
            return cls()
        pairs = []
        for part in key.split(","):
            name, sep, value = part.partition("=")
            if not sep:
                raise TokbenchError(f"bad candidate key {key!r}: expected knob=value parts")
            pairs.append((name, value))
        return cls(pairs)

    def with_value(self, name: str, value: str) -> Candidate:
        return Candidate({**dict(self._items), name: value})

    def without(self, name: str) -> Candidate:
        return Candidate((k, v) for k, v in self._items if k != name)


# --- the search space ------------------------------------------------------------------


def thread_values(host: HostFacts) -> tuple[str, ...]:
    """Powers of two up to the logical count, plus physical, logical and one socket's cores."""
    picks = {host.physical_cores, host.logical_cores, host.physical_per_socket}
    p = 1
    while p <= host.logical_cores:
        picks.add(p)
        p *= 2
    return tuple(str(n) for n in sorted(picks))


def layer_steps(n_layers: int) -> tuple[str, ...]:
    """0, quarters of the layer count and `all`: enough to see where the speed turns."""
    steps = sorted({0, *(math.ceil(n_layers * q / 4) for q in (1, 2, 3))} - {n_layers})
    return (*(str(s) for s in steps), "all")


def _knobs(host: HostFacts, model: ModelFacts, target: Target) -> list[Knob]:
    server = target == "server"
    knobs = [
        Knob(
            "threads",
            thread_values(host),
            str(host.physical_cores),  # llama.cpp: cpu_get_num_math(), the physical cores
            "-t",
            "both",
            "CPU threads for generation",
        ),
    ]
    if host.gpus:
        # llama.cpp's own default is `auto` (offload what fits); `all` is what auto picks when
        # the model fits, and an explicit count is what the user copies, so measure those
        knobs.append(
            Knob("ngl", layer_steps(model.n_layers), "all", "-ngl", "both", "layers on the GPU")
        )
        if model.is_moe and server:
            knobs.append(
                Knob(
                    "cpu_moe",
                    layer_steps(model.n_layers),
                    "0",
                    "--n-cpu-moe",
                    "server",
                    "MoE expert tensors of the first N layers kept on the CPU (all: -ot exps=CPU)",
                )
            )
    if host.numa_nodes > 1:
        knobs.append(Knob("numa", NUMA_MODES, "off", "--numa", "both", "NUMA placement"))
    knobs += [
        Knob(
            "fa",
            ("auto", "on", "off") if server else ("on", "off"),
            # llama-server defaults to auto; tokbench's embedded engine turns it on, as
            # llama.cpp's auto does on every CPU build
            "auto" if server else "on",
            "-fa",
            "both",
            "flash attention",
        ),
        Knob("kv", KV_TYPES, "f16", "-ctk/-ctv", "both", "KV-cache type (K and V)"),
        Knob(
            "ubatch",
            ("128", "256", "512", "1024"),
            "512",
            "-ub",
            "both",
            "physical batch size",
        ),
        Knob(
            "batch",
            ("512", "2048", "4096") if server else ("512", "2048"),
            "2048" if server else "512",  # llama-server 2048, llama-cpp-python 512
            "-b",
            "both",
            "logical batch size",
        ),
        Knob("mmap", MMAP_MODES, "on", "--no-mmap/--mlock", "both", "model loading"),
    ]
    return knobs


def _check_value(knob: Knob, value: str) -> str:
    name = knob.name
    if name in ("threads", "batch", "ubatch"):
        if not value.isdigit() or int(value) < 1:
            raise TokbenchError(f"--set {name}={value}: expected a whole number of at least 1")
        return str(int(value))
    if name in ("ngl", "cpu_moe"):
        if value == "all" or (value.isdigit()):
            return value if value == "all" else str(int(value))
        raise TokbenchError(f"--set {name}={value}: expected a number of layers or 'all'")
    choices = {
        "numa": NUMA_MODES,
        "fa": ("auto", "on", "off"),
        "kv": KV_CACHE_TYPES,
        "mmap": MMAP_MODES,
    }[name]
    if value not in choices:
        raise TokbenchError(f"--set {name}={value}: expected one of {', '.join(choices)}")
    return value


def search_space(
    host: HostFacts,
    model: ModelFacts,
    only: set[str] | None = None,
    fixed: Mapping[str, str] | None = None,
    *,
    target: Target = "server",
) -> list[Knob]:
    """The knobs to tune on this host for this model, in search order.

    `only` keeps those knobs searchable and drops the rest (llama.cpp then uses its own
    defaults for them); `fixed` pins knobs to one value (`--set key=value`). Knobs that do
    not apply to the target engine, or to this hardware, are left out.
    """
    fixed = dict(fixed or {})
    offered = _knobs(host, model, target)
    by_name = {k.name: k for k in offered}
    valid = [n for n in KNOB_ORDER if n in by_name]
    for name in [*(only or ()), *fixed]:
        if name in by_name:
            continue
        if name not in KNOB_ORDER:
            raise TokbenchError(f"unknown knob {name!r}; valid knobs: {', '.join(valid)}")
        raise TokbenchError(f"knob {name!r} {_absent_reason(name, host, model, target)}")
    knobs = []
    for knob in offered:
        if knob.name in fixed:
            # one value pins the knob; `threads=1,2` measures just those values
            values = tuple(
                dict.fromkeys(_check_value(knob, v.strip()) for v in fixed[knob.name].split(","))
            )
            if "auto" in values and knob.name == "fa" and "auto" not in knob.values:
                raise TokbenchError("--set fa=auto is llama-server only; use on or off")
            default = knob.default if knob.default in values else values[0]
            knobs.append(
                Knob(knob.name, values, default, knob.llama_server_flag, knob.applies_to, knob.help)
            )
        elif only is None or knob.name in only:
            knobs.append(knob)
    return sorted(knobs, key=lambda k: _order(k.name))


def _absent_reason(name: str, host: HostFacts, model: ModelFacts, target: Target) -> str:
    if name == "numa":
        return "has nothing to tune here: this host has one NUMA node"
    if name == "ngl":
        return "needs a GPU, and this host has none"
    if name == "cpu_moe" and target != "server":
        return "applies to llama-server only (llama-cpp-python cannot place tensors)"
    if name == "cpu_moe" and not model.is_moe:
        return "applies to mixture-of-experts models only"
    return "needs a GPU, and this host has none"


def parse_only(text: str | None) -> set[str] | None:
    """`--only threads,fa` -> {"threads", "fa"}; None or empty means every knob."""
    if not text:
        return None
    names = {n.strip() for n in text.split(",") if n.strip()}
    return names or None


def parse_set(items: Iterable[str]) -> dict[str, str]:
    """`--set threads=8 --set fa=on` -> {"threads": "8", "fa": "on"}; a value may list
    several, `--set threads=1,2`, to measure only those."""
    out: dict[str, str] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name.strip() or not value.strip():
            raise TokbenchError(f"--set {item}: expected KNOB=VALUE, e.g. --set threads=8")
        out[name.strip()] = value.strip()
    return out


def default_candidate(knobs: Iterable[Knob]) -> Candidate:
    """llama.cpp's defaults (or the pinned values) for every knob in play."""
    return Candidate((k.name, k.default) for k in knobs)


def grid_size(knobs: Iterable[Knob]) -> int:
    return math.prod(len(k.values) for k in knobs)


def conflict(candidate: Mapping[str, str]) -> str | None:
    """Why llama.cpp would refuse or silently change this candidate, or None if it is fine."""
    fa = candidate.get("fa")
    kv = candidate.get("kv", "f16")
    if fa == "off" and kv not in ("f16", "bf16", "f32"):
        return f"a {kv} V cache needs flash attention (fa=off)"
    batch, ubatch = candidate.get("batch"), candidate.get("ubatch")
    if batch and ubatch and int(ubatch) > int(batch):
        return f"ubatch {ubatch} above batch {batch} is cut to {batch}, a duplicate"
    ngl, cpu_moe = candidate.get("ngl"), candidate.get("cpu_moe")
    if cpu_moe not in (None, "0") and ngl == "0":
        return "expert placement changes nothing with no layers on the GPU (ngl=0)"
    return None
