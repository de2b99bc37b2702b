"""The package layers: a small core at the bottom (synthesizrr.core), metrics/ and distill/ libraries that import
only the core, everything else of synthesizrr on top; no import cycles between files (lazy imports included)."""
import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PACKAGES = ("synthesizrr", "distill", "metrics")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def project_imports(path: Path) -> set[str]:
    """Modules of this project that a file imports anywhere in it (top level or inside functions)."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(up + ([base] if base else []))
            targets = [base] + [f"{base}.{a.name}" for a in node.names]
        else:
            continue
        found.update(t for t in targets if t.split(".")[0] in PACKAGES)
    return found


def graph() -> dict[str, set[str]]:
    files = {module_name(p): p for pkg in PACKAGES for p in (REPO / pkg).rglob("*.py")}
    edges = {}
    for name, path in files.items():
        # an import of a package or of a name in a module resolves to the file that exists
        edges[name] = {t if t in files else t.rpartition(".")[0] for t in project_imports(path)} & set(files)
        edges[name].discard(name)
    return edges


def test_core_imports_nothing_above_it():
    for name, deps in graph().items():
        if name.startswith("synthesizrr.core"):
            assert all(d.startswith("synthesizrr.core") for d in deps), (name, deps)


def test_metrics_and_distill_import_only_the_core_and_themselves():
    for name, deps in graph().items():
        lib = name.split(".")[0]
        if lib in ("metrics", "distill"):
            bad = {d for d in deps if not (d.startswith("synthesizrr.core") or d.split(".")[0] == lib
                                           or (lib == "distill" and d.startswith("metrics")))}
            assert not bad, f"{name} imports {sorted(bad)}"


def test_no_import_cycles_between_files():
    edges, state, cycles = graph(), {}, []

    def visit(node, stack):
        state[node] = "open"
        for dep in sorted(edges.get(node, ())):
            if dep.endswith("__init__") or dep in PACKAGES:
                continue
            if state.get(dep) == "open":
                cycles.append(stack[stack.index(dep):] + [dep])
            elif dep not in state:
                visit(dep, stack + [dep])
        state[node] = "done"

    for node in sorted(edges):
        if node not in state:
            visit(node, [node])
    assert not cycles, "import cycles: " + "; ".join(" -> ".join(c) for c in cycles)
