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
    ("energy",),
    ("gguf",),
    ("hardware",),
    ("store",),
    ("backends",),
    ("grade",),
    ("suites",),
    ("results",),
    ("evals",),
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
SMALL_MODULE_LINES = 60

# A module shorter than SMALL_MODULE_LINES stands alone only for a reason; the rest are merged.
SMALL_MODULES = {
    "tokbench.__main__": "`python -m tokbench`",
    "tokbench.errors": "the one error type every layer raises, at the bottom",
    "tokbench.tune.verdict": "the one rule for 'is a faster than b', shared by the search's "
    "duels and the report's pick and sensitivity",
    "tokbench.core.redact": "the secret rule, used by net, store, records and cli alike",
    "tokbench.net.status": "what a server's HTTP error status means; the HTTP client knows "
    "no server",
    "tokbench.gguf.tools": "finding llama.cpp's binaries is not reading a GGUF",
    "tokbench.backends.bundled": "the bundled model package, apart from any server kind",
    "tokbench.backends.lmstudio": "one module per server kind (the registry's entries)",
    "tokbench.backends.sglang": "one module per server kind (the registry's entries)",
    "tokbench.backends.vllm": "one module per server kind (the registry's entries)",
    "tokbench.store.copy": "`tokbench db copy`: reads one store, writes another",
    "tokbench.runs.launch": "sits above runs.bench and runs.ray (Ray's runner imports the "
    "matrix), so it cannot join either",
    "tokbench.suites.trust": "the one trust rule for suites, checked before anything runs",
    "tokbench.grade.grading": "the graders' entry point, above the registry it dispatches to",
    "tokbench.grade.registry": "graders by name, imported by suites without the graders",
    "tokbench.render.chart_files": "chart files written beside a report, apart from drawing",
    "tokbench.render.numbers": "number formatting every renderer shares",
    "tokbench.render.outputs": "the formats' registry, imported by every command at start-up "
    "without rich or any renderer",
    "tokbench.render.llama_bench": "llama-bench's own Markdown table, for `--format "
    "llama-bench-md`",
    "tokbench.quant.rows": "the one `quant_results` row shape, written by quant.compare and "
    "quant.http alike (http importing compare would lengthen the CLI's chain)",
    "tokbench.quant.view": "the comparison as rendered, below quant.compare and quant.http",
    "tokbench.quant.text": "the evaluation text (the shipped one or a file), read by both KLD "
    "paths (quant.evaluate, quant.http) and quant.compare; its file reading is core.files'",
    # hardware/ and energy/: issue 21 merges their tiny modules (another branch)
    "tokbench.energy.ipmi": "one power source per module (RAPL, NVML, hwmon, IPMI, command)",
}

# Private names that still cross a module (none: keep it so).
PRIVATE_CROSSINGS_BEING_FIXED: set[str] = set()


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
        f"{m} -> {d}" for m in sorted(MODULES) for d in sorted(imports_of(m)) if layer(d) > layer(m)
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


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def private_crossings(module: str) -> set[str]:
    """`from tokbench.x import _y`, `x._y` on an imported tokbench module, and `p._y` on a
    parameter annotated with a class imported from another tokbench module."""
    tree = ast.parse(MODULES[module].read_text("utf-8"))
    modules: dict[str, str] = {}  # local name -> tokbench module
    classes: dict[str, str] = {}  # local name -> the module it came from
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if not node.module.startswith("tokbench"):
                continue
            for a in node.names:
                full = f"{node.module}.{a.name}"
                if full in MODULES:
                    modules[a.asname or a.name] = full
                elif _private(a.name):
                    found.add(f"{module} -> {full}")
                elif a.name[:1].isupper():
                    classes[a.asname or a.name] = node.module
        elif isinstance(node, ast.Import):
            for a in node.names:
                if a.name in MODULES and a.asname:
                    modules[a.asname] = a.name
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and _private(node.attr)
            and isinstance(node.value, ast.Name)
            and node.value.id in modules
        ):
            found.add(f"{module} -> {modules[node.value.id]}.{node.attr}")
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            typed = {
                a.arg: a.annotation.id
                for a in [*node.args.args, *node.args.kwonlyargs]
                if isinstance(a.annotation, ast.Name) and a.annotation.id in classes
            }
            for inner in ast.walk(node):
                if (
                    isinstance(inner, ast.Attribute)
                    and _private(inner.attr)
                    and isinstance(inner.value, ast.Name)
                    and inner.value.id in typed
                ):
                    cls = typed[inner.value.id]
                    found.add(f"{module} -> {classes[cls]}.{cls}.{inner.attr}")
    return found


def test_no_private_name_crosses_a_module() -> None:
    crossings = set().union(*(private_crossings(m) for m in MODULES))
    new = sorted(crossings - PRIVATE_CROSSINGS_BEING_FIXED)
    assert not new, "private names used from another module:\n" + "\n".join(new)
    gone = sorted(PRIVATE_CROSSINGS_BEING_FIXED - crossings)
    assert not gone, "fixed: remove from PRIVATE_CROSSINGS_BEING_FIXED:\n" + "\n".join(gone)


def test_a_small_module_has_a_reason_to_stand_alone() -> None:
    small = {
        m
        for m, path in MODULES.items()
        if path.name != "__init__.py"
        and not m.startswith("tokbench.cli.")  # one command per module
        and len(path.read_text("utf-8").splitlines()) < SMALL_MODULE_LINES
    }
    unexplained = sorted(small - set(SMALL_MODULES))
    assert not unexplained, "merge these into a neighbour, or say why they stand alone: " + (
        ", ".join(unexplained)
    )
    grown = sorted(set(SMALL_MODULES) - small)
    assert not grown, "no longer small (or gone): remove from SMALL_MODULES: " + ", ".join(grown)


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
        c = tmp_path / "c.py"
        c.write_text(
            "from tokbench.store.database import Store, _dicts\n"
            "from tokbench.core import records\n"
            "def f(store: Store) -> None:\n"
            "    store._tx()\n"
            "    records._known(None, {})\n"
            "    self_like = store\n"
        )
        MODULES["tokbench.core.c"] = c
        assert private_crossings("tokbench.core.c") == {
            "tokbench.core.c -> tokbench.store.database._dicts",
            "tokbench.core.c -> tokbench.store.database.Store._tx",
            "tokbench.core.c -> tokbench.core.records._known",
        }
    finally:
        MODULES.clear()
        MODULES.update(real)
        imports_of.cache_clear()
