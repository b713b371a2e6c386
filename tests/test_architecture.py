"""The layout's rules, checked on the source (docs/architecture.md is the map).

* No module uses another module's private names: no ``from m import _x``, no ``m._x`` on an
  imported module, and a private module (``vsil/pkg/_mod.py``) is imported only from inside
  its own package ``vsil/pkg``.
* The audit's modules import each other without a cycle.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
VSIL = ROOT / "vsil"

#: (importing module, imported name) pairs allowed to break the privacy rule, and why.
#: Empty: keep it so.
ALLOWED: dict[tuple[str, str], str] = {}


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(VSIL.rglob("*.py"))}


MODULES = modules()


def package_of(mod: str, path: Path) -> str:
    return mod if path.name == "__init__.py" else mod.rpartition(".")[0]


def absolute(node: ast.ImportFrom, mod: str, path: Path) -> str:
    if not node.level:
        return node.module or ""
    base = package_of(mod, path).split(".")
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def is_private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def private_owner(target: str) -> str | None:
    """The package a private module belongs to (``vsil.a._b`` -> ``vsil.a``), else None."""
    parts = target.split(".")
    for i, part in enumerate(parts):
        if is_private(part):
            return ".".join(parts[:i])
    return None


def imports(mod: str, path: Path, tree: ast.AST | None = None
            ) -> Iterator[tuple[ast.Import | ast.ImportFrom, ast.alias, str, str | None]]:
    """(node, alias, imported module, imported name or None) for every import in ``mod``."""
    tree = tree or ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                yield node, a, a.name, None
        elif isinstance(node, ast.ImportFrom):
            base = absolute(node, mod, path)
            for a in node.names:
                if f"{base}.{a.name}" in MODULES:  # `from pkg import module`
                    yield node, a, f"{base}.{a.name}", None
                else:
                    yield node, a, base, a.name


def dotted(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute) and (head := dotted(node.value)):
        return f"{head}.{node.attr}"
    return None


def violations(mod: str, path: Path, source: str | None = None) -> list[str]:
    """Every use in ``mod`` of another vsil module's private names."""
    tree = ast.parse(source if source is not None else path.read_text(encoding="utf-8"))
    found: list[str] = []
    bound: dict[str, str] = {}  # local name -> the module it is bound to
    for node, alias, target, name in imports(mod, path, tree):
        if not target.startswith("vsil"):
            continue
        owner = private_owner(target)
        if owner is not None and not (mod == owner or mod.startswith(f"{owner}.")):
            found.append(f"{mod}:{node.lineno} imports private module {target}")
        if name is not None and is_private(name) and target != mod:
            found.append(f"{mod}:{node.lineno} imports private name {name} from {target}")
        if name is None:
            local = alias.asname or (alias.name if isinstance(node, ast.ImportFrom)
                                     else alias.name.split(".")[0])
            bound[local] = (target if alias.asname or isinstance(node, ast.ImportFrom)
                            else local)
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Attribute) and is_private(node.attr)):
            continue
        chain = dotted(node.value)
        head, _, rest = (chain or "").partition(".")
        if head in bound:
            used = ".".join(x for x in (bound[head], rest) if x)
            if used in MODULES and used != mod:
                found.append(f"{mod}:{node.lineno} uses {used}.{node.attr}")
    return [v for v in found
            if not any(v.startswith(f"{m}:") and n in v for (m, n) in ALLOWED)]


def test_no_module_uses_another_modules_private_names() -> None:
    bad = [v for mod, path in MODULES.items() for v in violations(mod, path)]
    assert not bad, "\n".join(bad)


def test_the_check_finds_each_kind_of_private_use() -> None:
    """The rule fires on each kind of private use (so that a pass means something)."""
    probe = "\n".join([
        "from vsil.audit.runner import RunContext as _Ctx",  # a private alias is fine
        "from vsil.detectors._base import warm_up",
        "from vsil.audit.plan import _describers",
        "import vsil.audit.runner as r",
        "import vsil.audit.plan",
        "from vsil.audit import runner",
        "x = r._batch_size, vsil.audit.plan._describers, runner._batch_size, r.run_judge",
    ])
    got = violations("vsil.cli.probe", VSIL / "cli" / "probe.py", probe)
    assert [g.split(" ", 1)[1] for g in got] == [
        "imports private module vsil.detectors._base",
        "imports private name _describers from vsil.audit.plan",
        "uses vsil.audit.runner._batch_size",
        "uses vsil.audit.plan._describers",
        "uses vsil.audit.runner._batch_size",
    ]
    # inside its own package a private module is fine
    assert not violations("vsil.detectors.judges.x", VSIL / "detectors" / "judges" / "x.py",
                          "from vsil.detectors._base import Verdict")


def audit_graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for mod, path in MODULES.items():
        if not mod.startswith("vsil.audit"):
            continue
        edges = graph.setdefault(mod, set())
        for _, _, target, _ in imports(mod, path):
            if target.startswith("vsil.audit") and target != mod:
                edges.add(target)
    return graph


def cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(n: str) -> list[str] | None:
        state[n] = 1
        stack.append(n)
        for m in sorted(graph.get(n, ())):
            if state.get(m) == 1:
                return [*stack[stack.index(m):], m]
            if m not in state and (found := visit(m)):
                return found
        stack.pop()
        state[n] = 2
        return None

    for n in sorted(graph):
        if n not in state and (found := visit(n)):
            return found
    return None


def test_audit_modules_import_each_other_without_a_cycle() -> None:
    found = cycle(audit_graph())
    assert found is None, " -> ".join(found or [])


@pytest.mark.parametrize(("graph", "has_cycle"), [
    ({"a": {"b"}, "b": {"c"}, "c": set()}, False),
    ({"a": {"b"}, "b": {"c"}, "c": {"a"}}, True),
])
def test_the_cycle_check_finds_cycles(graph: dict[str, set[str]], has_cycle: bool) -> None:
    assert (cycle(graph) is not None) == has_cycle


def test_the_audit_is_split_as_the_map_says() -> None:
    audit = {m.removeprefix("vsil.audit.") for m in MODULES if m.startswith("vsil.audit.")}
    assert {"plan", "runner", "assemble", "engines", "engines.local", "engines.ray"} <= audit
    doc = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    for name in ("plan.py", "runner.py", "assemble.py", "engines/", "local.py", "ray.py"):
        assert name in doc
