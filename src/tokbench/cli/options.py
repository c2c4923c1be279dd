"""Options shared by several commands."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar, cast

import click

if TYPE_CHECKING:
    from tokbench.render.outputs import Outputs

V = TypeVar("V")

F = TypeVar("F", bound=Callable[..., Any])


class ServerKindType(click.ParamType[str]):
    """A server kind from `backends.registry` (or "auto"), read from the registry only when
    an option is parsed or help is shown, so `tokbench --help` stays instant."""

    name = "kind"

    def _names(self) -> list[str]:
        from tokbench.backends.registry import SERVER_KINDS

        return ["auto", *SERVER_KINDS]

    def get_metavar(self, param: click.Parameter, ctx: click.Context | None = None) -> str:
        return "[" + "|".join(self._names()) + "]"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if value in self._names():
            return value
        self.fail(f"{value!r} is not one of {', '.join(self._names())}", param, ctx)


backend_option = click.option(
    "--backend",
    type=ServerKindType(),
    default="auto",
    show_default=True,
    help="Server protocol; auto probes the server and uses the richest it speaks.",
)

db_option = click.option(
    "--db",
    envvar="TOKBENCH_DB",
    metavar="PATH|URL",
    help="Results database: a SQLite file (default: in the user data dir) or a shared "
    "postgresql://user@host/dbname. Env TOKBENCH_DB.",
)


def format_option(
    *formats: str, default: str = "table", json_format: str = "json"
) -> Callable[[F], F]:
    """`--format` with the formats a command prints, and `--json` as the alias of
    `--format json` (of `json_format`): the command receives one `fmt` argument."""

    def decorate(fn: F) -> F:
        @functools.wraps(fn)
        def wrapper(*args: Any, fmt: str, as_json: bool, **kwargs: Any) -> Any:
            return fn(*args, fmt=json_format if as_json else fmt, **kwargs)

        with_json = click.option(
            "--json",
            "as_json",
            is_flag=True,
            help=f"Print JSON on stdout (--format {json_format}).",
        )(wrapper)
        return cast(
            F,
            click.option(
                "--format",
                "fmt",
                type=click.Choice(formats),
                default=default,
                show_default=True,
                help="What to print on stdout.",
            )(with_json),
        )

    return decorate


def grouped(target: str, build: Callable[..., Any], names: tuple[str, ...]) -> Callable[[F], F]:
    """The named options' values handed to the command as ONE argument, `target`, made by
    `build` (a `Connection`, a `Sampling`): commands take settings objects, not 14 loose
    values. Put it below the options it gathers."""

    def decorate(fn: F) -> F:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            values = {n: kwargs.pop(n) for n in names}
            return fn(*args, **{target: build(**values)}, **kwargs)

        return cast(F, wrapper)

    return decorate


def options(*decorators: Callable[[F], F]) -> Callable[[F], F]:
    """Several option decorators as one, applied in the order given (top to bottom)."""

    def decorate(fn: F) -> F:
        for option in reversed(decorators):
            fn = option(fn)
        return fn

    return decorate


def _connection(
    *, backend: str = "auto", timeout_s: float | None = None, default_timeout_s: float, **rest: Any
) -> Any:
    from tokbench.core.config import Connection

    kind = None if backend == "auto" else backend
    return Connection(kind=kind, timeout_s=timeout_s or default_timeout_s, **rest)


def connection_options(
    *,
    url_help: str,
    model: bool = True,
    server_extras: bool = True,
    default_timeout_s: float = 300.0,
) -> Callable[[F], F]:
    """`--url`, `--backend`, `--api-key-env`, the timeouts and (with `model`) `--model` and
    `--model-path`, and (with `server_extras`) Ollama's `--think`/`--keep-alive` and
    llama-server's `--prompt-cache`: handed to the command as one `connection`."""
    from tokbench.cli.checks import timeout_options

    decorators: list[Callable[[F], F]] = [click.option("--url", help=url_help), backend_option]
    names = ["url", "backend", "api_key_env", "timeout_s", "idle_timeout_s", "max_response_mb"]
    decorators.append(
        click.option(
            "--api-key-env",
            metavar="VAR",
            help="Read the API key from this environment variable (never stored or printed).",
        )
    )
    if model:
        names += ["model", "model_path"]
        decorators += [
            click.option(
                "-m", "--model", help="Model name on the server (default: the first it lists)."
            ),
            click.option(
                "--model-path",
                type=click.Path(exists=True, dir_okay=False),
                help="Embedded engine: run this GGUF file instead of the bundled Gemma 3 270M.",
            ),
        ]
    decorators += timeout_options
    if server_extras:
        names += ["think", "keep_alive", "prompt_cache"]
        decorators += [
            click.option(
                "--think/--no-think",
                default=None,
                help="Ollama: turn thinking on or off (default: the model's own behaviour).",
            ),
            click.option("--keep-alive", help="Ollama: keep_alive passed through, e.g. 10m or -1."),
            click.option(
                "--prompt-cache",
                is_flag=True,
                help="llama-server, vLLM and the embedded engine: allow prompt-cache reuse "
                "(off by default, so repeated runs pay their full prefill).",
            ),
        ]
    build = functools.partial(_connection, default_timeout_s=default_timeout_s)
    return options(*decorators, grouped("connection", build, tuple(names)))


def _layers(_ctx: click.Context, _param: click.Parameter, value: str | None) -> int | None:
    if value is None:
        return None
    if value == "all":
        return -1
    if value.isdigit() and int(value) <= 100_000:
        return int(value)
    raise click.BadParameter(f"{value!r}: a number of layers or 'all'")


def _engine(*, flash_attn: str | None = None, **values: Any) -> Any:
    from tokbench.backends.embedded import checked
    from tokbench.core.config import EngineSettings

    fa = None if flash_attn is None else flash_attn == "on"
    return checked(EngineSettings(flash_attn=fa, **values))


def engine_options(*, context: bool = True) -> Callable[[F], F]:
    """The embedded engine's settings, named as llama.cpp's tools name them (`-t`, `-fa`,
    `-ctk`, `-ctv`, `-b`, `-ub`...), and (with `context`) `--ctx` and `--chat-format`:
    handed to the command as one checked `engine` (EngineSettings). These are the knobs
    `tokbench tune` turns, so its recommendation runs as printed."""
    from tokbench.core.config import KV_CACHE_TYPES, MMAP_MODES, NUMA_MODES

    names = ["threads", "flash_attn", "cache_type_k", "cache_type_v", "batch", "ubatch",
             "mmap", "numa", "gpu_layers"]  # fmt: skip
    decorators: list[Callable[[F], F]] = [
        click.option(
            "-t",
            "--threads",
            type=click.IntRange(1, 4_096),
            help="Embedded engine threads (default: physical cores).",
        )
    ]
    if context:
        names += ["n_ctx", "chat_format"]
        decorators += [
            click.option(
                "--ctx",
                "n_ctx",
                type=click.IntRange(256, 2**21),
                default=4096,
                show_default=True,
                help="Embedded engine context size.",
            ),
            click.option(
                "--chat-format",
                help="Embedded engine: chat format when the GGUF has no template "
                "(gemma, chatml, llama-2...).",
            ),
        ]
    kv_help = (
        "Embedded engine: {} cache type (default f16; a V cache other than f16, bf16 and "
        "f32 needs flash attention)."
    )
    decorators += [
        click.option(
            "-fa",
            "--flash-attn",
            type=click.Choice(["on", "off"]),
            help="Embedded engine: flash attention (default: on, as llama.cpp's auto on CPUs).",
        ),
        click.option(
            "-ctk", "--cache-type-k", type=click.Choice(KV_CACHE_TYPES), help=kv_help.format("K")
        ),
        click.option(
            "-ctv", "--cache-type-v", type=click.Choice(KV_CACHE_TYPES), help=kv_help.format("V")
        ),
        click.option(
            "-b",
            "--batch-size",
            "batch",
            type=click.IntRange(1, 2**21),
            help="Embedded engine: logical batch size (default 512).",
        ),
        click.option(
            "-ub",
            "--ubatch-size",
            "ubatch",
            type=click.IntRange(1, 2**21),
            help="Embedded engine: physical batch size, at most the batch size (default 512).",
        ),
        click.option(
            "--mmap",
            type=click.Choice(MMAP_MODES),
            help="Embedded engine: map the model file (on, the default), read it into RAM "
            "(off), or map and lock it in RAM (mlock).",
        ),
        click.option(
            "--numa",
            type=click.Choice(NUMA_MODES),
            help="Embedded engine: NUMA placement (process-wide in llama.cpp).",
        ),
        click.option(
            "-ngl",
            "--gpu-layers",
            metavar="N|all",
            callback=_layers,
            help="Embedded engine: layers on the GPU (GPU builds of llama-cpp-python).",
        ),
    ]
    return options(*decorators, grouped("engine", _engine, tuple(names)))


def _sampling(**values: Any) -> Any:
    from tokbench.core.config import Sampling

    return Sampling(**values)


def sampling_options(
    temperature_help: str = "Override the sampling temperature.",
) -> Callable[[F], F]:
    """`--temperature`, `--top-p`, `--top-k`, `--seed`, as one `sampling` (Sampling)."""
    from tokbench.cli.checks import Number

    return options(
        click.option("--temperature", type=Number(0, 100), help=temperature_help),
        click.option("--top-p", type=Number(0, 1), help="Override top_p."),
        click.option("--top-k", type=click.IntRange(0, 1_000_000), help="Override top_k."),
        click.option("--seed", type=int, help="Sampling seed."),
        grouped("sampling", _sampling, ("temperature", "top_p", "top_k", "seed")),
    )


# The energy and cost options of `run`, `eval` and `bench`.
_ENERGY_OPTIONS = (
    click.option(
        "--watts",
        type=float,
        metavar="W",
        help="Energy: a constant draw you measured (e.g. at the wall), in watts.",
    ),
    click.option(
        "--power-cmd",
        metavar="CMD",
        help="Energy: a command that prints watts, 0 to 100 kW (a smart plug, a USB meter), "
        "run once per sample through /bin/sh in its own process group, which is killed "
        "after each sample.",
    ),
    click.option(
        "--power-interval",
        "power_interval_s",
        type=float,
        default=0.2,
        show_default=True,
        metavar="S",
        help="Seconds between power and host-load samples, 0.01 to 60 (faster sampling "
        "slows the run it measures).",
    ),
    click.option(
        "--idle-s",
        type=float,
        default=3.0,
        show_default=True,
        metavar="S",
        help="Seconds of idle power measured before the first request, 0 (skip) to 600; "
        "only with a power source.",
    ),
    click.option(
        "--prefer-wall",
        is_flag=True,
        help="Energy: use a wall reader (ACPI power meter, IPMI) before RAPL and GPUs.",
    ),
    click.option(
        "--kwh-price",
        type=float,
        metavar="P",
        help="Electricity price per kWh: adds the electricity cost per million tokens.",
    ),
    click.option(
        "--box-price",
        type=float,
        metavar="P",
        help="What the box cost: with --lifetime, adds the hardware cost per million tokens.",
    ),
    click.option(
        "--lifetime",
        metavar="T",
        help="Hours of use the box is paid off over: 20000h, or years at a duty cycle, "
        "always in percent (1-100): 3y@50% or 3y@50 is half the time, 3y is always on.",
    ),
    click.option(
        "--currency", default="", help="A label for the prices, e.g. EUR or ¥ (shown only)."
    ),
)


def _energy(*, power_interval_s: float, currency: str, **values: Any) -> Any:
    from tokbench.core.config import EnergySettings
    from tokbench.energy.session import checked

    settings = EnergySettings(interval_s=power_interval_s, currency=currency.strip(), **values)
    return checked(settings)


def energy_options(fn: F) -> F:
    """Add the energy flags; the command receives one checked `energy` (EnergySettings)."""
    names = ("watts", "power_cmd", "power_interval_s", "idle_s", "prefer_wall", "kwh_price",
             "box_price", "lifetime", "currency")  # fmt: skip
    return options(*_ENERGY_OPTIONS, grouped("energy", _energy, names))(fn)


def json_object(text: str | None, flag: str = "--extra-body") -> dict[str, object] | None:
    """A JSON object given on the command line (None when not given)."""
    if text is None:
        return None
    import json

    try:
        value = json.loads(text)
    except ValueError as exc:
        raise click.BadParameter(f"not valid JSON: {exc}", param_hint=flag) from None
    if not isinstance(value, dict):
        raise click.BadParameter("must be a JSON object", param_hint=flag)
    return value


def _run_config(*, extra_body: str | None, **values: Any) -> Any:
    from tokbench.core.config import RunConfig

    return RunConfig(extra_body=json_object(extra_body), **values)


def run_config_arg(*own: str) -> Callable[[F], F]:
    """The settings `run` and `eval` share (the `connection`, `engine`, `sampling` and
    `energy` groups, `--max-tokens`, `--extra-body`, `--gguf`) and the command's `own`
    options, as one `config` (RunConfig). Put it below the options it gathers."""
    names = ("connection", "engine", "sampling", "energy", "max_tokens", "extra_body", "gguf")
    return grouped("config", _run_config, (*names, *own))


def open_store(db: str | None) -> Any:
    from tokbench.paths import default_db
    from tokbench.store.database import Store

    return Store(db or default_db())


def stdout_console() -> Any:
    """Results: no markup at all (model and server text is printed as it is, escaped)."""
    from tokbench.render.safe import SafeConsole

    console = SafeConsole(markup=False)
    if not console.is_terminal:
        # piped or redirected: don't squeeze tables into 80 columns
        console = SafeConsole(markup=False, width=200)
    return console


def stderr_console() -> Any:
    """Progress and messages: our markup; foreign text in them goes through `plain()`."""
    from tokbench.render.safe import SafeConsole

    return SafeConsole(stderr=True)


def print_json(obj: Any) -> None:
    """JSON on stdout: exact, with no raw control character (`render.safe.json_text`)."""
    from tokbench.render.safe import json_text

    click.echo(json_text(obj))


def print_text(text: str, *, err: bool = False, nl: bool = False) -> None:
    """A document (Markdown, CSV, a message) that may hold foreign text: its control
    characters are written visibly (`render.safe.shown`), never emitted."""
    from tokbench.render.safe import shown

    click.echo(shown(text), err=err, nl=nl)


def emit(outputs: Outputs[V], fmt: str, view: V) -> None:
    """Print `view` in format `fmt` of `outputs`, through the escaping point of its sink."""
    out = outputs[fmt]
    rendered = out.render(view)
    if out.sink == "json":
        print_json(rendered)
    elif out.sink == "text":
        print_text(rendered)
    else:
        console = stdout_console()
        for renderable in rendered:
            console.print(renderable)
