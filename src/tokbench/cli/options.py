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


def _connection(*, backend: str, timeout_s: float | None, **rest: Any) -> Any:
    from tokbench.core.config import Connection

    kind = None if backend == "auto" else backend
    return Connection(kind=kind, timeout_s=timeout_s or 300.0, **rest)  # the default wait


def _sampling(**values: Any) -> Any:
    from tokbench.core.config import Sampling

    return Sampling(**values)


# `--url`, `--backend`, `--model`... of `run`, as one `connection` argument
connection_arg = grouped(
    "connection",
    _connection,
    ("url", "backend", "model", "api_key_env", "model_path", "threads", "n_ctx",
     "chat_format", "timeout_s", "idle_timeout_s", "max_response_mb", "think", "keep_alive",
     "prompt_cache"),
)  # fmt: skip
# `--temperature`, `--top-p`, `--top-k`, `--seed`, as one `sampling` argument
sampling_arg = grouped("sampling", _sampling, ("temperature", "top_p", "top_k", "seed"))


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
