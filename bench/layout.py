"""Layout figures: top-level modules, modules that execute SQL, import cycles (digest/ only).

    .venv/bin/python bench/layout.py [--verbose]

A module "executes SQL" when it builds or runs a statement: it imports select/update/insert/
delete/text/func from sqlmodel or sqlalchemy, or calls `.exec(` / `.execute(`. Migrations are
schema scripts and are left out. Cycles are strongly connected components of the runtime
import graph (function-level imports included, `if TYPE_CHECKING:` blocks left out).
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1] / "digest"
SQL_NAMES = {"select", "update", "insert", "delete", "text", "func"}


def module_name(path: Path) -> str:
    """digest/rank/score.py -> digest.rank.score; a package's __init__ -> the package."""
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    """Every module of the package, migrations left out."""
    return {module_name(p): p for p in sorted(ROOT.rglob("*.py")) if "migrations" not in p.parts}


def _runtime_nodes(tree: ast.AST) -> list[ast.AST]:
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skip.update(id(n) for child in node.body for n in ast.walk(child))
    return [n for n in ast.walk(tree) if id(n) not in skip]


def imports_of(name: str, path: Path, known: set[str]) -> set[str]:
    """The package modules `name` imports at run time."""
    out: set[str] = set()
    for node in _runtime_nodes(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names if a.name in known)
        elif isinstance(node, ast.ImportFrom) and node.module:
            base = node.module if node.level == 0 else _relative(name, path, node)
            subs = {f"{base}.{a.name}" for a in node.names if f"{base}.{a.name}" in known}
            out.update(subs)
            if base in known and len(subs) < len(node.names):  # names the package defines
                out.add(base)
    out.discard(name)
    return out


def _relative(name: str, path: Path, node: ast.ImportFrom) -> str:
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    for _ in range(node.level - 1):
        package = package.rsplit(".", 1)[0]
    return f"{package}.{node.module}" if node.module else package


def executes_sql(path: Path) -> bool:
    """Whether the module builds or runs SQL statements."""
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in (
                "sqlmodel", "sqlalchemy") and any(a.name in SQL_NAMES for a in node.names):
            return True
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                and node.func.attr in ("exec", "execute"):
            return True
    return False


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    sys.setrecursionlimit(10_000)
    for v in graph:
        if v not in index:
            visit(v)
    return found


def main() -> None:
    """Print the three figures (and, with --verbose, which modules)."""
    mods = modules()
    known = set(mods)
    top = sorted(n for n, p in mods.items() if p.parent == ROOT and p.name != "__init__.py")
    sql = sorted(n for n, p in mods.items() if executes_sql(p))
    graph = {n: imports_of(n, p, known) for n, p in mods.items()}
    found = cycles(graph)
    unit = {n: ".".join(n.split(".")[:2]) for n in mods}
    units: dict[str, set[str]] = {u: set() for u in unit.values()}
    for n, targets in graph.items():
        units[unit[n]].update(unit[t] for t in targets if unit[t] != unit[n])
    unit_cycles = cycles(units)
    print(f"top-level modules:     {len(top)}")
    print(f"modules executing SQL: {len(sql)}")
    print(f"import cycles:         {len(found)} (modules in cycles: {sum(map(len, found))})")
    print(f"cycles between top-level units (folders or modules): {len(unit_cycles)} "
          f"(units in cycles: {sum(map(len, unit_cycles))})")
    if "--verbose" in sys.argv:
        print("top level:", ", ".join(top))
        print("SQL:", ", ".join(sql))
        for comp in found:
            print("cycle:", " <-> ".join(comp))
        for comp in unit_cycles:
            print("unit cycle:", " <-> ".join(comp))


if __name__ == "__main__":
    main()
