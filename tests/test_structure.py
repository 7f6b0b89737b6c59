"""The code's shape (issue #11): no source file over 1,000 lines, no import cycle among the
project's Rust modules (per crate) or Python modules.

A module using items of its own ancestors is not counted as an edge: in Rust a module's parent
is where it is declared (``use super::Cause`` from a child of ``classify`` is the ordinary way a
rule names its parent's types), and in Python a submodule importing from its package's
``__init__`` is the same relation. Every other reference counts: a ``use`` (braces expanded), a
path written inline (``super::tracker::bit``, ``facts::Facts``), an ``import`` anywhere in a
Python file, function-level imports included (imports under ``if TYPE_CHECKING:`` name types for
annotations only and are not counted).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
MAX_LINES = 1000
SKIP_DIRS = {"target", ".git", "__pycache__", ".ipynb_checkpoints", "node_modules", "build", "dist"}


def source_files() -> list[Path]:
    out = []
    for top in ("rust", "python", "tests", "bench"):
        for p in (ROOT / top).rglob("*"):
            if p.suffix in (".rs", ".py", ".pyi") and p.is_file() and not SKIP_DIRS & set(p.relative_to(ROOT).parts):
                out.append(p)
    return sorted(out)


def test_no_source_file_over_1000_lines() -> None:
    files = source_files()
    assert len(files) > 50, "the walk found too few files to be looking in the right place"
    long = {str(p.relative_to(ROOT)): n for p in files if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert not long, f"files over {MAX_LINES} lines: {long}"


# --- cycles ---------------------------------------------------------------------------------


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of `graph` (as a list of nodes, first repeated last), or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(n: str) -> list[str] | None:
        state[n] = 1
        stack.append(n)
        for m in sorted(graph.get(n, ())):
            if state.get(m) == 1:
                return stack[stack.index(m):] + [m]
            if m not in state:
                found = visit(m)
                if found:
                    return found
        stack.pop()
        state[n] = 2
        return None

    for n in sorted(graph):
        if n not in state:
            found = visit(n)
            if found:
                return found
    return None


def test_find_cycle_finds_and_clears() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) is None


def rust_modules(src: Path) -> dict[tuple[str, ...], Path]:
    """Every file module of a crate: its path from the crate root -> the file."""
    mods: dict[tuple[str, ...], Path] = {}
    for p in src.rglob("*.rs"):
        rel = p.relative_to(src).with_suffix("").parts
        if rel[0] == "bin":
            continue
        if rel[-1] in ("mod", "lib"):
            rel = rel[:-1]
        mods[tuple(rel)] = p
    return mods


def strip_rust(text: str) -> str:
    """Source without comments and string literals (paths in docs do not count)."""
    text = re.sub(r"//[^\n]*", "", text)
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    text = re.sub(r'b?r#*"(?:.|\n)*?"#*', '""', text)
    return re.sub(r'b?"(?:\\.|[^"\\])*"', '""', text)


def expand_use(tree: str) -> list[str]:
    """`a::{b, c::{d, e}}` -> `a::b`, `a::c::d`, `a::c::e` (`self` in braces names the prefix)."""
    tree = re.sub(r"\s+", "", re.sub(r"\s+as\s+\w+", "", tree))
    depth = 0
    for i, ch in enumerate(tree):
        if ch == "{":
            if depth == 0:
                prefix, inner = tree[:i], tree[i + 1:tree.rindex("}")]
                parts, level, start = [], 0, 0
                for j, c in enumerate(inner):
                    if c == "{":
                        level += 1
                    elif c == "}":
                        level -= 1
                    elif c == "," and level == 0:
                        parts.append(inner[start:j])
                        start = j + 1
                parts.append(inner[start:])
                out = []
                for part in filter(None, parts):
                    out += [prefix.rstrip(":") if s == "self" else prefix + s for s in expand_use(part)]
                return out
            depth += 1
    return [tree]


def rust_edges(mods: dict[tuple[str, ...], Path]) -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for me, path in mods.items():
        text = strip_rust(path.read_text())
        children = {m[-1] for m in mods if len(m) == len(me) + 1 and m[:len(me)] == me}
        paths = [p for u in re.findall(r"\buse\s+([^;]+);", text) for p in expand_use(u)]
        paths += re.findall(r"\b((?:crate|super|self)(?:::\w+)+)", text)
        paths += [m.group(0) for m in re.finditer(r"\b(\w+)(?:::\w+)+", text) if m.group(1) in children]
        targets = set()
        for p in paths:
            segs = [s for s in p.split("::") if s]
            if not segs:
                continue
            if segs[0] == "crate":
                base: tuple[str, ...] = ()
                segs = segs[1:]
            elif segs[0] in ("super", "self"):
                base = me
                while segs and segs[0] in ("super", "self"):
                    base = base[:-1] if segs[0] == "super" else base
                    segs = segs[1:]
            elif segs[0] in children:
                base = me
            else:
                continue  # another crate or the standard library
            full = base + tuple(segs)
            # The deepest file module the path goes through.
            target = max((full[:k] for k in range(len(full) + 1) if full[:k] in mods), key=len)
            if target != me[:len(target)]:  # not itself and not an ancestor
                targets.add("::".join(target))
        graph["::".join(me)] = targets
    return graph


CRATES = sorted(p.parent for p in (ROOT / "rust").glob("*/src/lib.rs"))


@pytest.mark.parametrize("src", CRATES, ids=[c.parent.name for c in CRATES])
def test_no_rust_module_cycle(src: Path) -> None:
    mods = rust_modules(src)
    graph = rust_edges(mods)
    assert sum(len(v) for v in graph.values()) > 0 or len(mods) < 4, "no edges found: the parser is blind"
    cycle = find_cycle(graph)
    assert cycle is None, f"{src.parent.name}: module cycle {' -> '.join(cycle)}"


def test_rust_cycle_check_sees_a_sibling_cycle(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "lib.rs").write_text("mod a;\n")
    (tmp_path / "a" / "mod.rs").write_text("mod x;\nmod y;\npub use x::Thing;\n")
    (tmp_path / "a" / "x.rs").write_text("use super::{y::Other, Parent};\npub struct Thing;\n")
    (tmp_path / "a" / "y.rs").write_text("pub struct Other(crate::a::x::Thing);\n")
    assert find_cycle(rust_edges(rust_modules(tmp_path))) == ["a::x", "a::y", "a::x"]


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def python_edges(pkg: Path) -> dict[str, set[str]]:
    name = pkg.name
    mods = {}
    for p in pkg.rglob("*.py"):
        rel = p.relative_to(pkg.parent).with_suffix("").parts
        mods[".".join(rel[:-1] if rel[-1] == "__init__" else rel)] = p
    graph: dict[str, set[str]] = {}
    for me, path in mods.items():
        is_pkg = path.name == "__init__.py"
        here = me if is_pkg else me.rpartition(".")[0]
        targets: set[str] = set()
        tree = ast.parse(path.read_text())
        typing_only = {id(n) for block in ast.walk(tree) if isinstance(block, ast.If) and _is_type_checking(block.test)
                       for stmt in block.body for n in ast.walk(stmt)}
        for node in ast.walk(tree):
            if id(node) in typing_only:
                continue
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = here
                    for _ in range(node.level - 1):
                        base = base.rpartition(".")[0]
                    mod = f"{base}.{node.module}" if node.module else base
                else:
                    mod = node.module or ""
                names = [mod] + [f"{mod}.{a.name}" for a in node.names]
            for n in names:
                if n.split(".")[0] != name:
                    continue
                while n and n not in mods:
                    n = n.rpartition(".")[0]
                if n and n != me and not (me + ".").startswith(n + "."):
                    targets.add(n)
        graph[me] = targets
    return graph


def test_no_python_import_cycle() -> None:
    graph = python_edges(ROOT / "python" / "rstlab")
    assert "rstlab.cli" in graph and graph["rstlab.cli"], "the import walk found nothing"
    cycle = find_cycle(graph)
    assert cycle is None, f"import cycle {' -> '.join(cycle)}"
