"""The package's shape: one subpackage per domain, imports only point down, no cycles,
and a short chain from the CLI to the bottom. Every `import` of a tokbench module counts,
deferred ones included."""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PKG = SRC / "tokbench"

# Lowest first: a module may import its own package and the packages before it.
LAYERS = (
    ("tokbench", "errors", "paths"),
    ("core",),
    ("net",),
    ("testing",),
    ("energy",),
    ("gguf",),
    ("hardware",),
    ("store",),
    ("backends",),
    ("grade",),
    ("suites",),
    ("results",),
    ("quant",),
    ("interop",),
    ("conversations",),
    ("render",),
    ("runs",),
    ("tune",),
    ("cli",),
    ("__main__",),
)
MAX_CHAIN = 9  # modules, from tokbench.cli to the deepest module it reaches
MAX_TOP_LEVEL_MODULES = 6


def _modules() -> dict[str, Path]:
    out = {}
    for path in PKG.rglob("*.py"):
        parts = list(path.relative_to(SRC).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


MODULES = _modules()


@cache
def imports_of(module: str) -> frozenset[str]:
    tree = ast.parse(MODULES[module].read_text("utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        found |= {n for n in names if n in MODULES and n != module}
    return frozenset(found)


def layer(module: str) -> int:
    parts = module.split(".")
    key = parts[1] if len(parts) > 1 else parts[0]
    for i, names in enumerate(LAYERS):
        if key in names:
            return i
    raise AssertionError(f"{module} belongs to no layer: add its package to LAYERS")


def test_every_module_has_a_layer() -> None:
    for module in MODULES:
        layer(module)


def test_imports_point_down() -> None:
    upward = [
        f"{m} -> {d}"
        for m in sorted(MODULES)
        for d in sorted(imports_of(m))
        if layer(d) > layer(m)
    ]
    assert not upward, "imports that point up a layer:\n" + "\n".join(upward)


def _cycle() -> list[str] | None:
    state: dict[str, int] = {}  # 1: on the stack, 2: done
    stack: list[str] = []

    def visit(m: str) -> list[str] | None:
        state[m] = 1
        stack.append(m)
        for d in sorted(imports_of(m)):
            if state.get(d) == 1:
                return [*stack[stack.index(d) :], d]
            if d not in state and (found := visit(d)):
                return found
        stack.pop()
        state[m] = 2
        return None

    for m in sorted(MODULES):
        if m not in state and (found := visit(m)):
            return found
    return None


def test_no_import_cycle() -> None:
    cycle = _cycle()
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def longest_chain(module: str) -> list[str]:
    @cache
    def deepest(m: str) -> tuple[str, ...]:
        below = [deepest(d) for d in imports_of(m)]
        return (m, *max(below, key=len, default=()))

    return list(deepest(module))


def test_chain_from_the_cli_is_short() -> None:
    assert _cycle() is None
    chain = longest_chain("tokbench.cli")
    assert len(chain) <= MAX_CHAIN, f"{len(chain)} modules: " + " -> ".join(chain)


def test_top_level_holds_few_modules() -> None:
    top = sorted(p.name for p in PKG.glob("*.py"))
    assert len(top) <= MAX_TOP_LEVEL_MODULES, top


INITS = sorted(p for p in PKG.glob("*/__init__.py") if p.parent.name != "cli")


@pytest.mark.parametrize("init", INITS, ids=lambda p: p.parent.name)
def test_subpackage_inits_hold_no_code(init: Path) -> None:
    """Importing `tokbench.x.y` runs `tokbench/x/__init__.py`: it must stay a docstring
    (`tokbench.cli` is the command group itself)."""
    body = ast.parse(init.read_text("utf-8")).body
    assert all(isinstance(n, ast.Expr) and isinstance(n.value, ast.Constant) for n in body)


def test_the_checks_catch_what_they_guard(tmp_path: Path) -> None:
    """The helpers see an upward import and a cycle when there is one."""
    assert layer("tokbench.core.records") < layer("tokbench.cli.run")
    imports_of.cache_clear()
    real = dict(MODULES)
    try:
        a, b = tmp_path / "a.py", tmp_path / "b.py"
        a.write_text("from tokbench.core import b\nimport tokbench.cli.run\n")
        b.write_text("import tokbench.core.a\n")
        MODULES["tokbench.core.a"], MODULES["tokbench.core.b"] = a, b
        assert "tokbench.cli.run" in imports_of("tokbench.core.a")
        assert _cycle() is not None
    finally:
        MODULES.clear()
        MODULES.update(real)
        imports_of.cache_clear()
