"""The package's import graph, read from the AST of every module (function-local imports included).

It has no cycle; the renderers import no client and no stage; at most a handful of modules sit at the
top of mlprom/; and no function grows past what a reader follows in one sitting.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[3] / "mlprom"
MAX_TOP_MODULES = 8
MAX_FUNCTION_LINES = 120


def _modules() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def _imported(module: str, path: Path, known: dict[str, Path]) -> set[str]:
    """The mlprom modules `module` imports: `from a.b import c` names a.b.c when that is a module, else a.b."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names if alias.name in known)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            for alias in node.names:
                name = f"{base}.{alias.name}"
                if name in known:
                    out.add(name)
                elif base in known:
                    out.add(base)
    out.discard(module)
    return out


def _graph() -> dict[str, set[str]]:
    known = _modules()
    return {name: _imported(name, path, known) for name, path in known.items()}


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of the graph as a path of module names, or None."""
    state: dict[str, int] = {}  # 1 on the stack, 2 done
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        stack.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state:
            found = visit(start)
            if found:
                return found
    return None


def test_the_package_has_no_import_cycle() -> None:
    cycle = _cycle(_graph())
    assert cycle is None, " -> ".join(cycle or [])


def test_the_cycle_finder_finds_a_planted_cycle() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}
    assert _cycle(graph) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


def test_relative_and_function_local_imports_are_edges(tmp_path: Path) -> None:
    source = tmp_path / "m.py"
    source.write_text("def f():\n    from mlprom.render import literal\n    import mlprom.errors\n")
    known = {"mlprom.render": Path(), "mlprom.render.literal": Path(), "mlprom.errors": Path()}
    assert _imported("mlprom.x", source, known) == {"mlprom.render.literal", "mlprom.errors"}


def test_renderers_import_no_client_and_no_stage() -> None:
    bad = {
        (module, target)
        for module, targets in _graph().items()
        if module.startswith("mlprom.render")
        for target in targets
        if target.startswith(("mlprom.clients", "mlprom.stages"))
    }
    assert not bad, sorted(bad)


def test_few_modules_sit_at_the_top_of_the_package() -> None:
    top = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert len(top) <= MAX_TOP_MODULES, top


def test_no_function_is_longer_than_a_reader_follows() -> None:
    long: list[str] = []
    for name, path in _modules().items():
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                lines = (node.end_lineno or node.lineno) - node.lineno + 1
                if lines > MAX_FUNCTION_LINES:
                    long.append(f"{name}:{node.name} ({lines} lines)")
    assert not long, long


# The one-way rule (docs/architecture.md): a module imports its own layer or lower ones, never higher.
# Within a layer imports are allowed but acyclic (the cycle test); stages and render are one layer whose
# two packages never import each other.
LAYERS: dict[str, int] = {
    "errors": 0,
    "dates": 0,
    "redact": 0,
    "layout": 0,
    "config": 1,
    "records": 1,
    "analysis": 1,
    "runtime": 1,
    "clients": 2,
    "storage": 2,
    "events": 3,
    "infra": 3,
    "reports": 3,
    "serving": 3,
    "stages": 4,
    "render": 4,
    "cli": 5,
    "__main__": 5,
}


def _room(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""  # "": the package's own __init__ (version, lazy Monitor)


def test_every_room_has_a_layer() -> None:
    rooms = {_room(m) for m in _modules()} - {""}
    assert rooms <= set(LAYERS), sorted(rooms - set(LAYERS))


def test_imports_run_one_way_between_layers() -> None:
    upward = sorted(
        f"{module} -> {target}"
        for module, targets in _graph().items()
        for target in targets
        if _room(module) and _room(target) and LAYERS[_room(target)] > LAYERS[_room(module)]
    )
    assert not upward, upward


def test_stages_and_renderers_do_not_import_each_other() -> None:
    crossing = sorted(
        f"{module} -> {target}"
        for module, targets in _graph().items()
        for target in targets
        if {_room(module), _room(target)} == {"stages", "render"}
    )
    assert not crossing, crossing
