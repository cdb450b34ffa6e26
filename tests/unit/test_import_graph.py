"""The import graph of the project's packages, read from their source (ast; nothing is imported).

Rules:
  (a) udfs/, connectors/, schemas/ and sql/ never import anything under auditflow/: they run on
      Flink workers, are shipped as data, or are adapters handed their clients by the caller.
      No exception (not auditflow.paths either: a job passes its pure code what that needs).
  (b) no module import cycles, anywhere in auditflow/, udfs/, jobs/, connectors/, schemas/, sql/.
  (c) no loops between those top-level packages either (e.g. auditflow -> connectors -> auditflow).

Every import counts: at module level, inside functions, under `if TYPE_CHECKING:`, relative ones,
and `importlib.import_module("...")` / `__import__("...")` with a literal name. Importing
`a.b.c` runs `a/b/__init__.py` first, so it is an edge to `a.b` too, unless the importing module
is itself inside `a.b` (then that package already ran). tests/, bench/ and scripts/ are not
checked: they may use anything.
"""

from __future__ import annotations

import ast
from collections import deque
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("auditflow", "udfs", "jobs", "connectors", "schemas", "sql")
UPPER = "auditflow"
LOWER = ("udfs", "connectors", "schemas", "sql")


@dataclass(frozen=True)
class Module:
    name: str
    path: Path
    rel: str  # the path as messages show it, relative to the scanned root
    is_package: bool  # an __init__.py


@dataclass(frozen=True)
class Import:
    target: str  # absolute dotted name, a submodule when `from X import name` names one
    line: int


@dataclass(frozen=True)
class Edge:
    line: int
    target: str  # what the source line imports (the edge may be to a package it runs first)


def find_modules(root: Path) -> dict[str, Module]:
    modules = {}
    for top in PACKAGES:
        for path in sorted((root / top).rglob("*.py")):
            if "__pycache__" in path.parts:
                continue
            parts = list(path.relative_to(root).with_suffix("").parts)
            is_package = parts[-1] == "__init__"
            if is_package:
                parts.pop()
            name = ".".join(parts)
            modules[name] = Module(name, path, path.relative_to(root).as_posix(), is_package)
    return modules


def _literal_import(node: ast.Call) -> str | None:
    """The name in importlib.import_module("x.y") / import_module("x.y") / __import__("x.y")."""
    func = node.func
    name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else None
    if name not in ("import_module", "__import__") or not node.args:
        return None
    arg = node.args[0]
    return arg.value if isinstance(arg, ast.Constant) and isinstance(arg.value, str) else None


def find_imports(module: Module, known: dict[str, Module]) -> list[Import]:
    package = module.name if module.is_package else module.name.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(module.path.read_text(), str(module.path))):
        if isinstance(node, ast.Import):
            found += [Import(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                if node.level - 1 >= len(base):
                    continue  # beyond the top-level package: not ours
                base = base[:len(base) - (node.level - 1)]
                source = ".".join([*base, *([node.module] if node.module else [])])
            else:
                source = node.module or ""
            for alias in node.names:
                sub = f"{source}.{alias.name}"
                found.append(Import(sub if sub in known else source, node.lineno))
        elif isinstance(node, ast.Call) and (name := _literal_import(node)):
            found.append(Import(name, node.lineno))
    return found


def build_graph(modules: dict[str, Module]) -> tuple[dict[str, dict[str, Edge]], dict[str, list[Import]]]:
    """(module -> {module it imports or runs: where}, module -> its imports of the project)."""
    graph: dict[str, dict[str, Edge]] = {name: {} for name in modules}
    project_imports: dict[str, list[Import]] = {}
    for name, module in modules.items():
        parts = name.split(".")
        # packages that already ran before this module does: its parents (and itself)
        ran = {".".join(parts[:i]) for i in range(1, len(parts) + 1)}
        mine = [imp for imp in find_imports(module, modules) if imp.target.split(".")[0] in PACKAGES]
        project_imports[name] = mine
        for imp in mine:
            target = imp.target.split(".")
            for i in range(1, len(target) + 1):
                runs = ".".join(target[:i])
                if runs in modules and runs not in ran:
                    graph[name].setdefault(runs, Edge(imp.line, imp.target))
    return graph, project_imports


def upward_imports(modules: dict[str, Module], project_imports: dict[str, list[Import]]) -> list[str]:
    return [
        f"{modules[name].rel}:{imp.line} imports {imp.target}"
        for name, imps in sorted(project_imports.items()) if name.split(".")[0] in LOWER
        for imp in imps if imp.target.split(".")[0] == UPPER
    ]


def _strongly_connected(graph: dict[str, dict]) -> list[set[str]]:
    """Tarjan's algorithm, iterative; only the components that hold a cycle (two or more)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found = []
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, edges = work[-1]
            step = next(edges, None)
            if step is not None:
                if step not in index:
                    index[step] = low[step] = len(index)
                    stack.append(step)
                    on_stack.add(step)
                    work.append((step, iter(sorted(graph[step]))))
                elif step in on_stack:
                    low[node] = min(low[node], index[step])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.add(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(component)
    return found


def cycles(graph: dict[str, dict]) -> list[list[str]]:
    """One shortest cycle per strongly connected component, as [a, b, ..., a]."""
    chains = []
    for component in _strongly_connected(graph):
        start = min(component)
        came_from: dict[str, str] = {}
        queue = deque([start])
        while queue:
            node = queue.popleft()
            if start in graph[node]:
                chain = [start]
                while node != start:
                    chain.append(node)
                    node = came_from[node]
                chains.append([start, *reversed(chain[1:]), start])
                break
            for step in sorted(graph[node]):
                if step in component and step not in came_from and step != start:
                    came_from[step] = node
                    queue.append(step)
    return sorted(chains)


def describe(chain: list[str], graph: dict[str, dict[str, Edge]], modules: dict[str, Module]) -> str:
    lines = [" -> ".join(chain)]
    for a, b in zip(chain, chain[1:], strict=False):
        edge = graph[a][b]
        runs = "" if edge.target == b else f", which runs {b} first"
        lines.append(f"    {modules[a].rel}:{edge.line} imports {edge.target}{runs}")
    return "\n".join(lines)


def package_graph(graph: dict[str, dict[str, Edge]], modules: dict[str, Module]) -> dict[str, dict[str, str]]:
    """Top-level package -> {package it imports: one source line that does, as a message}."""
    tops: dict[str, dict[str, str]] = {top: {} for top in PACKAGES}
    for name, edges in sorted(graph.items()):
        for target, edge in sorted(edges.items()):
            a, b = name.split(".")[0], target.split(".")[0]
            if a != b:
                tops[a].setdefault(b, f"{modules[name].rel}:{edge.line} imports {edge.target}")
    return tops


# --- the rules, on this project -----------------------------------------------------------------

MODULES = find_modules(ROOT)
GRAPH, IMPORTS = build_graph(MODULES)


def test_the_scan_sees_the_packages():
    for name in ("auditflow.cli", "auditflow.commands.ingest", "udfs.normalize", "udfs.parse",
                 "udfs.parse.base", "jobs.normalize", "connectors.ingest.producer"):
        assert name in MODULES, f"{name} was not found under {ROOT}"
    assert GRAPH["jobs.normalize"], "jobs/normalize.py imports nothing of the project?"


def test_nothing_below_auditflow_imports_it():
    upward = upward_imports(MODULES, IMPORTS)
    assert not upward, (
        f"{', '.join(f'{p}/' for p in LOWER)} must not import {UPPER} (the caller passes in what "
        "they need):\n  " + "\n  ".join(upward))


def test_no_import_cycles():
    found = cycles(GRAPH)
    assert not found, "import cycles:\n" + "\n".join(describe(c, GRAPH, MODULES) for c in found)


def test_no_loops_between_the_top_level_packages():
    tops = package_graph(GRAPH, MODULES)
    found = cycles(tops)
    assert not found, "the top-level packages import each other in a loop:\n" + "\n".join(
        "\n    ".join([" -> ".join(c), *(tops[a][b] for a, b in zip(c, c[1:], strict=False))])
        for c in found)


# --- the checker itself, on planted trees --------------------------------------------------------


def _tree(root: Path, files: dict[str, str]) -> tuple[dict[str, Module], dict, dict]:
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    modules = find_modules(root)
    return (modules, *build_graph(modules))


def test_checker_finds_upward_imports_inside_functions_and_by_name(tmp_path):
    modules, _graph, imports = _tree(tmp_path, {
        "auditflow/paths.py": "",
        "udfs/__init__.py": "",
        "udfs/job.py": "def settings():\n    from auditflow import paths\n    return paths\n",
        "connectors/x.py": "import importlib\nimportlib.import_module('auditflow.kafka')\n",
        "jobs/y.py": "from auditflow import paths\n",  # jobs may
    })
    assert upward_imports(modules, imports) == [
        "connectors/x.py:2 imports auditflow.kafka", "udfs/job.py:2 imports auditflow.paths"]


def test_checker_finds_a_cycle_through_a_package_init(tmp_path):
    # the shape udfs.validate <-> udfs.parse had: validate imported udfs.parse.base, which runs
    # udfs/parse/__init__.py first, which imports validate
    modules, graph, _imports = _tree(tmp_path, {
        "udfs/__init__.py": "",
        "udfs/validate.py": "from udfs.parse.base import ParseError\n",
        "udfs/parse/__init__.py": "from udfs import validate\nfrom . import base\n",
        "udfs/parse/base.py": "from .. import chain\n",
        "udfs/chain.py": "",
    })
    assert cycles(graph) == [["udfs.parse", "udfs.validate", "udfs.parse"]]
    assert describe(cycles(graph)[0], graph, modules).splitlines()[1:] == [
        "    udfs/parse/__init__.py:1 imports udfs.validate",
        "    udfs/validate.py:1 imports udfs.parse.base, which runs udfs.parse first",
    ]
    assert "udfs.parse.base" in graph["udfs.parse"]
    assert "udfs.chain" in graph["udfs.parse.base"]  # a relative import, resolved
    assert "udfs.parse" not in graph["udfs.parse.base"]  # its own package ran before it


def test_checker_reports_a_longer_cycle_as_a_chain(tmp_path):
    modules, graph, _imports = _tree(tmp_path, {
        "auditflow/a.py": "import auditflow.b\n",
        "auditflow/b.py": "\n\ndef f():\n    from auditflow import c\n",
        "auditflow/c.py": "from auditflow.a import x\n",
    })
    [chain] = cycles(graph)
    assert chain == ["auditflow.a", "auditflow.b", "auditflow.c", "auditflow.a"]
    assert describe(chain, graph, modules).splitlines()[1:] == [
        "    auditflow/a.py:1 imports auditflow.b",
        "    auditflow/b.py:4 imports auditflow.c",
        "    auditflow/c.py:1 imports auditflow.a",
    ]


def test_checker_finds_a_loop_between_top_level_packages(tmp_path):
    modules, graph, _imports = _tree(tmp_path, {
        "auditflow/demo.py": "from connectors.ingest.producer import RawProducer\n",
        "connectors/ingest/producer.py": "from auditflow import kafka\n",
        "auditflow/kafka.py": "",
    })
    tops = package_graph(graph, modules)
    assert cycles(graph) == []  # no module cycle, but a loop of the packages
    assert cycles(tops) == [["auditflow", "connectors", "auditflow"]]
    assert tops["connectors"]["auditflow"] == "connectors/ingest/producer.py:1 imports auditflow.kafka"


def test_test_modules_have_unique_names_across_unit_and_integration():
    # pytest imports test files by basename (no packages under tests/): two of one name make the
    # whole run stop at collection, which `pytest tests/unit` alone never shows
    root = Path(__file__).resolve().parents[1]
    names = [p.name for p in root.glob("*/test_*.py")]
    assert sorted({n for n in names if names.count(n) > 1}) == []
