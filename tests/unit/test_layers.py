"""The package's layers, read from its imports: what may import what, and no cycles.

    apps and serving      spagent_graph.apps (cli, runner, doctor, bench, evaluation, expansion,
                          training_data, report) and spagent_graph.serving: on top, nothing below imports them
    stages                nodes: the graph's steps
    core and services     state, context, services, graph, ...
    tools, store          tool_adapters, capability_store: know nothing of the stages; a tool does
                          not read the store (a fact both need lives in the tool layer)

Every import counts, also one inside a function or under TYPE_CHECKING: each is a dependency a
reader must follow. The modules are found as installed, `nodes/` read as `spagent_graph.nodes`.
"""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

ROOT = Path(__file__).parents[2]
APPS = {"apps", "serving"}  # the subpackages that hold the apps and the serving code


def package_modules() -> dict[str, Path]:
    mapping = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-dir"]
    modules = {}
    for package, folder in mapping.items():
        for path in (ROOT / folder).rglob("*.py"):
            parts = list(path.relative_to(ROOT / folder).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            name = ".".join([package, *parts])
            # `spagent_graph` maps its own folder; a subpackage mapped elsewhere wins over a stray copy.
            if name not in modules or package != "spagent_graph":
                modules[name] = path
    return modules


def imports_of(name: str, path: Path, known: set[str], unknown: list[str] | None = None) -> set[str]:
    """The package's modules that `name` imports; an import of the package that names no module of
    it (a module that moved, say) goes into `unknown`."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            # `from a import b` depends on the module a.b where b is one, else on a itself.
            targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base for alias in node.names]
            if base.startswith("spagent_graph") and base not in known and unknown is not None:
                unknown.append(f"{name}: from {base} import ...")
        else:
            continue
        for target in targets:
            while target and target not in known:  # `import a.b.c` of a non-module attribute: its module
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


def layer(name: str) -> str:
    first = name.split(".")[1] if "." in name else ""
    if first in APPS:
        return "app"
    return {"nodes": "stage", "tool_adapters": "tool", "capability_store": "store"}.get(first, "core")


GRAPH = {name: imports_of(name, path, set(package_modules())) for name, path in package_modules().items()}


def test_every_import_of_the_package_names_one_of_its_modules():
    # A lazy import inside a function fails only when that function runs: read them all here.
    modules = package_modules()
    unknown: list[str] = []
    for name, path in modules.items():
        imports_of(name, path, set(modules), unknown)
    assert not unknown, unknown


def test_the_package_is_found_with_its_mapped_folders():
    assert {"spagent_graph.graph", "spagent_graph.nodes.execute", "spagent_graph.tool_adapters.toolbox",
            "spagent_graph.capability_store.store", "spagent_graph.apps.doctor"} <= set(GRAPH)
    # The reading of imports is checked on a case of each form.
    assert "spagent_graph.state" in GRAPH["spagent_graph.graph"]  # `import spagent_graph.state as state`
    assert "spagent_graph.tool_adapters.weights" in GRAPH["spagent_graph.nodes.check"]


def test_nothing_below_the_apps_imports_an_app():
    broken = {f"{name} imports {target}" for name, targets in GRAPH.items() if layer(name) != "app"
              for target in targets if layer(target) == "app"}
    assert not broken, sorted(broken)


def test_tools_and_the_store_know_nothing_of_the_stages_and_tools_do_not_read_the_store():
    allowed = {"tool": {"tool", "core"}, "store": {"store", "tool", "core"}}
    broken = {f"{name} imports {target}" for name, targets in GRAPH.items() if layer(name) in allowed
              for target in targets if layer(target) not in allowed[layer(name)]}
    assert not broken, sorted(broken)
    # The core the tools may use is the plain kind: no graph, services or stages behind it.
    for name, targets in GRAPH.items():
        if layer(name) == "tool":
            assert not targets & {"spagent_graph.graph", "spagent_graph.services"}, name


def test_the_imports_have_no_cycle():
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles = []

    def visit(module: str) -> None:  # Tarjan's strongly connected components
        index[module] = low[module] = len(index)
        stack.append(module)
        for target in GRAPH[module]:
            if target not in index:
                visit(target)
                low[module] = min(low[module], low[target])
            elif target in stack:
                low[module] = min(low[module], index[target])
        if low[module] == index[module]:
            group = []
            while True:
                member = stack.pop()
                group.append(member)
                if member == module:
                    break
            if len(group) > 1:
                cycles.append(sorted(group))

    for module in sorted(GRAPH):
        if module not in index:
            visit(module)
    assert not cycles, cycles
