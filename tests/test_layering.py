"""The import graph of mofo/ points one way (STYLE.md: low layers never import high ones).

Every `from .x import` / `import mofo.x` in a module, at the top or inside a function, is an edge;
an edge may only go to the same or a lower layer.
"""
import ast
from pathlib import Path

ROOT = Path(__file__).parent.parent / "mofo"
LAYERS = [  # low to high
    {"config", "files", "seeds", "align", "distributed"},
    {"data", "codecs", "text"},
    {"layers", "export"},
    {"model"},
    {"flow", "sampling", "checkpoint"},
    {"convert", "train", "evaluate", "completion"},
    {"pipeline"},
    {"cli", "app", "__init__"},
]
FORBIDDEN = {("model", "text"), ("pipeline", "evaluate"), ("flow", "model")}


def module_of(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    return ".".join(rel.parts)


def imports(path: Path) -> set[str]:
    """mofo modules `path` imports (dotted, without the `mofo.` prefix)."""
    here = module_of(path).split(".")
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = here[: len(here) - node.level] if path.name != "__init__.py" else here[: len(here) - node.level + 1]
                name = ".".join(base + ([node.module] if node.module else []))
            elif node.module and node.module.startswith("mofo"):
                name = node.module[len("mofo."):] if node.module != "mofo" else ""
            else:
                continue
            out.add(name)
        elif isinstance(node, ast.Import):
            out |= {a.name[len("mofo."):] for a in node.names if a.name.startswith("mofo.")}
    return {n for n in out if n}


def layer(module: str) -> int:
    top = module.split(".")[0]
    return next(i for i, names in enumerate(LAYERS) if top in names)


def test_imports_point_downward():
    bad = []
    for path in sorted(ROOT.rglob("*.py")):
        source = module_of(path)
        for target in imports(path):
            edge = (source.split(".")[0], target.split(".")[0])
            if edge in FORBIDDEN or layer(target) > layer(source):
                bad.append(f"{source} -> {target}")
    assert not bad, bad


def test_every_module_has_a_layer():
    for path in ROOT.rglob("*.py"):
        layer(module_of(path))


def test_no_import_cycle():
    """No module reaches itself through imports (`data.benchmarks` and `data.datasets` once did)."""
    graph = {module_of(p): imports(p) for p in ROOT.rglob("*.py")}
    graph = {m: {t for t in targets if t in graph and t != m} for m, targets in graph.items()}
    done, path = set(), []

    def visit(m):
        if m in path:
            raise AssertionError(" -> ".join(path[path.index(m):] + [m]))
        if m not in done:
            path.append(m)
            for t in sorted(graph[m]):
                visit(t)
            path.pop()
            done.add(m)

    for m in sorted(graph):
        visit(m)
