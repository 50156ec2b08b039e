"""The layers are enforced: no module imports from a layer above it, `service/` and `eval/` use only `rag`'s public
API, and there is no import cycle. Each check is also run on a copy of the code with a planted violation, to show
that it fails when it should.

Layers, lowest first (see `rag/__init__.py`)::

    foundation < text < ingest < index < retrieve < answer < pipeline < apps (service, eval, tools) < entry (vankien)

Every import counts: at module level, inside functions (lazy imports) and under `TYPE_CHECKING`.
"""

from __future__ import annotations

import ast
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.samples import REPO_ROOT

ROOT = REPO_ROOT
PACKAGES = ("rag", "service", "eval", "tools", "vankien")
LAYERS = ("foundation", "text", "ingest", "index", "retrieve", "answer", "pipeline", "apps", "entry")
#: Module prefix -> layer; the longest matching prefix wins.
LAYER_OF_PREFIX = {
    "rag.types": "foundation",
    "rag.errors": "foundation",
    "rag.config": "foundation",
    "rag.records": "foundation",
    "rag.progress": "foundation",
    "rag.text": "text",
    "rag.ingest": "ingest",
    "rag.index": "index",
    "rag.retrieve": "retrieve",
    "rag.answer": "answer",
    "rag.pipeline": "pipeline",
    "rag.integrations": "pipeline",
    "service": "apps",
    "eval": "apps",
    "tools": "apps",
    "vankien": "entry",
    # `python -m rag` runs the command line: an entry point that nothing imports.
    "rag.__main__": "entry",
}
#: Modules of service/ and eval/ allowed to reach past the public API, and why.
INTERNAL_ALLOWED = {
    # They fit the answer layer's own constants (the abstention model file, the support threshold) and must
    # compute exactly the features the answer layer computes.
    "eval.calibrate_abstention": "rag.answer",
    "eval.calibrate_support": "rag.",
    # It reads the hybrid retriever's candidate lists and the fusion functions, to compare fusions on one set of
    # lists exactly as the product computes them.
    "eval.tune_fusion": "rag.retrieve",
    # The same lists with the candidates' vectors, to move the query vector and fuse again (feedback).
    "eval.tune_prf": "rag.retrieve",
    # It rescores the multiple-choice chooser's own option function with other weights, on one reading.
    "eval.tune_mcq": "rag.",
}


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def layer_of(module: str) -> str | None:
    best = None
    for prefix, layer in LAYER_OF_PREFIX.items():
        if (module == prefix or module.startswith(prefix + ".")) and (best is None or len(prefix) > len(best[0])):
            best = (prefix, layer)
    return best[1] if best else None


def modules(root: Path) -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            found[module_name(path, root)] = path
    return found


def public_exports(root: Path) -> dict[str, str]:
    """`rag`'s public names and their defining modules, read from `_EXPORTS` in rag/__init__.py."""
    tree = ast.parse((root / "rag" / "__init__.py").read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.target.id == "_EXPORTS":
            assert node.value is not None
            table: dict[str, str] = {}
            for call in ast.walk(node.value):
                if isinstance(call, ast.Call) and getattr(call.func, "attr", "") == "fromkeys":
                    names = ast.literal_eval(call.args[0])
                    table.update(dict.fromkeys(names, ast.literal_eval(call.args[1])))
            return table
    raise AssertionError("rag/__init__.py has no _EXPORTS table")


def imports(path: Path, module: str) -> Iterator[tuple[int, str, tuple[str, ...]]]:
    """(line, imported module, names) for every import of the project's packages in a file."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] in PACKAGES:
                    yield node.lineno, alias.name, ()
        elif isinstance(node, ast.ImportFrom):
            target = node.module or ""
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join([*base, target] if target else base)
            if target.split(".")[0] in PACKAGES:
                yield node.lineno, target, tuple(a.name for a in node.names)


def resolve(target: str, names: tuple[str, ...], known: dict[str, Path], exports: dict[str, str]) -> list[str]:
    """The modules an import really reaches: `from rag import X` reaches X's defining module; `from pkg import sub`
    reaches the submodule when there is one."""
    if target == "rag" and names:
        return sorted({exports.get(n, f"rag.{n}" if f"rag.{n}" in known else "rag") for n in names})
    reached = {f"{target}.{n}" for n in names if f"{target}.{n}" in known}
    if len(reached) < len(names) or not names:
        reached.add(target)
    return sorted(reached)


def violations(root: Path) -> list[str]:
    """Every import that breaks a layering rule, as readable lines (empty when the code is sound)."""
    known = modules(root)
    exports = public_exports(root)
    found = []
    for module, path in known.items():
        if module == "rag":
            continue  # the public API: it names what it re-exports, loaded lazily
        mine = layer_of(module)
        assert mine is not None, f"{module} belongs to no layer: add it to LAYER_OF_PREFIX"
        app = module.split(".")[0]
        for line, target, names in imports(path, module):
            where = f"{path.relative_to(root)}:{line}"
            if app in ("service", "eval") and target.startswith("rag."):
                allowed = INTERNAL_ALLOWED.get(module)
                if not (allowed and target.startswith(allowed)):
                    found.append(f"{where}: {module} imports {target}; service/ and eval/ use only `from rag import`")
            if app == "rag" and target == "rag" and any(n in exports for n in names):
                found.append(f"{where}: {module} imports the public API `rag`; import from the defining module")
            for reached in resolve(target, names, known, exports):
                theirs = layer_of(reached)
                if theirs is None or mine == "entry":
                    continue
                if LAYERS.index(theirs) > LAYERS.index(mine):
                    found.append(f"{where}: {module} ({mine}) imports {reached} ({theirs}), a layer above it")
                elif mine == theirs == "apps" and reached.split(".")[0] != app and app != "tools":
                    found.append(f"{where}: {module} imports {reached}; service and eval do not import each other")
    return found


def cycles(root: Path) -> list[list[str]]:
    """Import cycles between modules (every import counts, lazy ones too), each as its members."""
    known = modules(root)
    exports = public_exports(root)
    graph: dict[str, set[str]] = {m: set() for m in known}
    for module, path in known.items():
        if module == "rag":
            continue
        for _, target, names in imports(path, module):
            for reached in resolve(target, names, known, exports):
                parent = reached
                while parent and parent not in known:
                    parent = parent.rpartition(".")[0]
                if parent and parent != module and parent != "rag":
                    graph[module].add(parent)
    # Tarjan's strongly connected components.
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_no_module_imports_from_a_layer_above_it() -> None:
    assert violations(ROOT) == []


def test_no_import_cycles() -> None:
    assert cycles(ROOT) == []


def test_the_public_api_table_matches_all() -> None:
    import rag

    assert sorted(rag.__all__) == sorted(public_exports(ROOT))
    for name in rag.__all__:
        assert getattr(rag, name) is not None


@pytest.fixture
def code_copy(tmp_path: Path) -> Path:
    for package in PACKAGES:
        shutil.copytree(ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__", "static"))
    return tmp_path


def _plant(path: Path, line: str) -> None:
    path.write_text(path.read_text(encoding="utf-8") + f"\n\ndef _planted() -> None:\n    {line}\n", encoding="utf-8")


def test_a_planted_upward_import_is_caught(code_copy: Path) -> None:
    _plant(code_copy / "rag" / "text" / "normalize.py", "from rag.pipeline import Library  # noqa")
    found = violations(code_copy)
    assert len(found) == 1
    assert "rag.text.normalize (text) imports rag.pipeline" in found[0]


def test_a_planted_private_import_in_the_service_is_caught(code_copy: Path) -> None:
    _plant(code_copy / "service" / "routers" / "search.py", "from rag.index.store import IndexStore  # noqa")
    found = violations(code_copy)
    assert len(found) == 1 and "use only `from rag import`" in found[0]


def test_a_planted_import_cycle_is_caught(code_copy: Path) -> None:
    _plant(code_copy / "rag" / "index" / "lexical.py", "from rag.index.store import IndexStore  # noqa")
    assert any({"rag.index.lexical", "rag.index.store"} <= set(cycle) for cycle in cycles(code_copy))
