"""Measure how the code is laid out: the before/after table of docs/architecture.md comes from here.

``python -m scripts.architecture_metrics [--root DIR] [--markdown]`` reads the Python sources under
``plugins/`` and ``dags/`` of a checkout (default: this one; a ``git worktree`` of an older commit gives the
"before" column) with :mod:`ast` only (nothing is imported) and prints:

* operator ``execute`` / setup ``run_step`` lengths (lines of the method, docstring included);
* the largest modules (lines);
* the distribution of function lengths;
* SQL or SOQL text outside ``sync_engine/state/`` and ``salesforce_access/`` (string literals that start like
  a statement: ``SELECT … FROM``, ``INSERT INTO``, ``UPDATE … SET``, ``DELETE FROM``), and SQLAlchemy Core
  statement builders (``select(``/``insert(``/``update(``/``delete(`` from ``sqlalchemy``) used there;
* ``task_ids="…"`` strings in operators (hidden data flow between tasks);
* top-level names defined with different meanings in several modules (the same class/alias/constant name
  bound to different definitions, e.g. two ``Direction`` literals);
* import cycles between project modules, type-only imports (``if TYPE_CHECKING:``) included;
* ``# type: ignore`` comments.
"""

from __future__ import annotations

import argparse
import ast
import re
import statistics
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGES_ROOT = "plugins"
SQL_HOME = ("sync_engine/state/", "salesforce_access/")
SQL_TEXT = re.compile(
    r"^\s*(SELECT\s+.+\s+FROM\s|INSERT\s+INTO\s|UPDATE\s+\w+\s+SET\s|DELETE\s+FROM\s|CREATE\s+TABLE\s)",
    re.IGNORECASE | re.DOTALL,
)
SQLALCHEMY_BUILDERS = {"select", "insert", "update", "delete", "text"}
LENGTH_BUCKETS = ((1, 10), (11, 25), (26, 50), (51, 100), (101, 10_000))


@dataclass
class Module:
    name: str  # dotted, e.g. sync_engine.plan.rules
    path: Path
    tree: ast.Module
    lines: int


@dataclass
class Metrics:
    execute_lengths: dict[str, int] = field(default_factory=dict)
    largest_modules: list[tuple[str, int]] = field(default_factory=list)
    function_lengths: list[int] = field(default_factory=list)
    sql_outside: list[str] = field(default_factory=list)
    task_id_strings: list[str] = field(default_factory=list)
    same_name_different_meaning: dict[str, list[str]] = field(default_factory=dict)
    import_cycles: list[list[str]] = field(default_factory=list)
    type_ignores: list[str] = field(default_factory=list)


def load_modules(root: Path) -> list[Module]:
    modules = []
    for base in (root / PACKAGES_ROOT, root / "dags"):
        if not base.is_dir():
            continue
        for path in sorted(base.rglob("*.py")):
            if "migrations/versions" in path.as_posix():
                continue  # frozen migration scripts are history, not design
            rel = path.relative_to(base).with_suffix("")
            parts = list(rel.parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            name = ".".join(parts) if base.name == PACKAGES_ROOT else "dags." + ".".join(parts)
            text = path.read_text(encoding="utf-8")
            modules.append(Module(name or base.name, path, ast.parse(text), text.count("\n") + 1))
    return modules


def _functions(tree: ast.AST) -> Iterator[ast.FunctionDef | ast.AsyncFunctionDef]:
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            yield node


def _length(node: ast.AST) -> int:
    return int(node.end_lineno or node.lineno) - int(node.lineno) + 1


def execute_lengths(modules: list[Module]) -> dict[str, int]:
    """``execute`` of every operator and ``run_step`` of every setup step, by ``module.Class``."""
    found = {}
    for module in modules:
        for cls in (n for n in ast.walk(module.tree) if isinstance(n, ast.ClassDef)):
            for item in cls.body:
                if isinstance(item, ast.FunctionDef) and item.name in {"execute", "run_step"}:
                    found[f"{module.name}.{cls.name}.{item.name}"] = _length(item)
    return dict(sorted(found.items(), key=lambda kv: -kv[1]))


def sql_outside_home(modules: list[Module]) -> list[str]:
    found = []
    for module in modules:
        rel = module.path.as_posix()
        if any(f"/{home}" in rel for home in SQL_HOME):
            continue
        imported_builders = set()
        for node in ast.walk(module.tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("sqlalchemy"):
                imported_builders |= {a.asname or a.name for a in node.names if a.name in SQLALCHEMY_BUILDERS}
        in_fstrings = {id(v) for node in ast.walk(module.tree) if isinstance(node, ast.JoinedStr) for v in node.values}
        for node in ast.walk(module.tree):
            if (isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in in_fstrings
                    and SQL_TEXT.match(node.value)):
                found.append(f"{module.name}:{node.lineno} SQL/SOQL text")
            elif isinstance(node, ast.JoinedStr):
                head = "".join(v.value for v in node.values if isinstance(v, ast.Constant) and isinstance(v.value, str))
                if SQL_TEXT.match(head):
                    found.append(f"{module.name}:{node.lineno} SQL/SOQL f-string")
            elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                  and node.func.id in imported_builders):
                found.append(f"{module.name}:{node.lineno} sqlalchemy {node.func.id}()")
    return found


def task_id_strings(modules: list[Module]) -> list[str]:
    found = []
    for module in modules:
        if not module.name.startswith("sync_operators"):
            continue
        for node in ast.walk(module.tree):
            if isinstance(node, ast.keyword) and node.arg == "task_ids" and isinstance(node.value, ast.Constant | ast.Tuple | ast.List):
                found.append(f"{module.name}:{node.value.lineno}")
    return found


def _top_level_definitions(module: Module) -> Iterator[tuple[str, str]]:
    """(name, a fingerprint of what it is) for classes, type aliases and UPPER_CASE constants of a module."""
    for node in module.tree.body:
        if isinstance(node, ast.ClassDef):
            yield node.name, "class " + ast.dump(ast.Module(body=node.body, type_ignores=[]))[:400]
        elif isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            value = node.value
            if value is None:
                continue
            for target in targets:
                if isinstance(target, ast.Name) and (target.id[:1].isupper()):
                    if isinstance(value, ast.Name | ast.Attribute):
                        continue  # a re-export or alias of another definition, not a new meaning
                    yield target.id, ast.dump(value)[:400]


def same_name_different_meaning(modules: list[Module]) -> dict[str, list[str]]:
    meanings: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for module in modules:
        if module.name.startswith("dags."):
            continue
        for name, fingerprint in _top_level_definitions(module):
            if name.startswith("_") or name in {"__all__", "log", "logger"}:
                continue
            meanings[name][fingerprint].append(module.name)
    return {name: sorted(m for mods in by.values() for m in mods)
            for name, by in sorted(meanings.items()) if len(by) > 1}


def import_graph(modules: list[Module]) -> dict[str, set[str]]:
    """Module -> project modules it imports (runtime and ``TYPE_CHECKING`` imports alike)."""
    names = {m.name for m in modules}
    graph: dict[str, set[str]] = {}
    for module in modules:
        package = module.name if module.path.name == "__init__.py" else module.name.rpartition(".")[0]
        targets = set()
        for node in ast.walk(module.tree):
            if isinstance(node, ast.Import):
                targets |= {a.name for a in node.names}
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")
                    anchor = anchor[: len(anchor) - (node.level - 1)] if node.level > 1 else anchor
                    base = ".".join([*anchor, base] if base else anchor)
                targets.add(base)
                targets |= {f"{base}.{a.name}" for a in node.names}
        resolved = set()
        for target in targets:
            while target and target not in names:
                target = target.rpartition(".")[0]
            if target and target != module.name:
                resolved.add(target)
        graph[module.name] = resolved
    return graph


def import_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan), each sorted.

    A package's ``__init__`` importing its own submodules is how packages export names, not a cycle of
    design: edges from a package to modules inside it are left out.
    """
    edges = {m: {t for t in ts if not t.startswith(m + ".")} for m, ts in graph.items()}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles = []
    counter = [0]

    def visit(node: str) -> None:
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for nxt in edges.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return sorted(cycles)


def measure(root: Path) -> Metrics:
    modules = load_modules(root)
    metrics = Metrics()
    metrics.execute_lengths = execute_lengths(modules)
    metrics.largest_modules = sorted(((m.name, m.lines) for m in modules), key=lambda kv: -kv[1])[:8]
    metrics.function_lengths = [_length(f) for m in modules for f in _functions(m.tree)]
    metrics.sql_outside = sql_outside_home(modules)
    metrics.task_id_strings = task_id_strings(modules)
    metrics.same_name_different_meaning = same_name_different_meaning(modules)
    metrics.import_cycles = import_cycles(import_graph(modules))
    metrics.type_ignores = [f"{m.name}:{i}" for m in modules
                            for i, line in enumerate(m.path.read_text(encoding="utf-8").splitlines(), 1)
                            if "# type: ignore" in line]
    return metrics


def summary_rows(metrics: Metrics) -> list[tuple[str, str]]:
    """The figures of the before/after table, as (what, value) rows."""
    ops = metrics.execute_lengths
    lengths = metrics.function_lengths
    buckets = ", ".join(
        f"{lo}-{hi if hi < 10_000 else '…'}: {sum(lo <= n <= hi for n in lengths)}" for lo, hi in LENGTH_BUCKETS
    )
    names = metrics.same_name_different_meaning
    return [
        ("operator `execute` / `run_step` methods", str(len(ops))),
        ("longest `execute` / `run_step` (lines)", ", ".join(f"{k.split('.')[-2]} {v}" for k, v in list(ops.items())[:4])),
        ("median `execute` / `run_step` (lines)", f"{statistics.median(ops.values()):.0f}" if ops else "-"),
        ("largest modules (lines)", ", ".join(f"{n} {c}" for n, c in metrics.largest_modules[:4])),
        ("functions by length (lines)", buckets),
        ("median / 95th percentile function length", f"{statistics.median(lengths):.0f} / "
         f"{sorted(lengths)[int(len(lengths) * 0.95)]}" if lengths else "-"),
        ("SQL or SOQL outside state/ and salesforce_access/", str(len(metrics.sql_outside))),
        ("`task_ids=` strings in operators", str(len(metrics.task_id_strings))),
        ("names with different meanings in several modules",
         f"{len(names)}" + (f" ({', '.join(sorted(names)[:8])}{', …' if len(names) > 8 else ''})" if names else "")),
        ("import cycles (type-only imports included)", str(len(metrics.import_cycles))),
        ("`# type: ignore` comments", str(len(metrics.type_ignores))),
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=REPO, help="checkout to measure (default: this one)")
    parser.add_argument("--details", action="store_true", help="list every finding, not only the figures")
    args = parser.parse_args(argv)
    metrics = measure(args.root)
    print("| measure | value |\n|---|---|")
    for what, value in summary_rows(metrics):
        print(f"| {what} | {value} |")
    if args.details:
        print("\nexecute/run_step lengths:", metrics.execute_lengths)
        print("SQL/SOQL outside its home:", *metrics.sql_outside, sep="\n  ")
        print("task_ids strings:", *metrics.task_id_strings, sep="\n  ")
        print("same name, different meaning:", *(f"{k}: {v}" for k, v in metrics.same_name_different_meaning.items()),
              sep="\n  ")
        print("import cycles:", *metrics.import_cycles, sep="\n  ")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
