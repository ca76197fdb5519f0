"""The layering holds: no import cycle among library modules (function-local imports
included), `proofs/` imports neither `conformance/` nor `impl/`, and `impl/` nothing of
the spec side (it is written independently; only tests connect them)."""

from __future__ import annotations

import ast
import functools
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LAYERS = ("spec", "impl", "proofs", "conformance", "review", "interop", "opsref")


def module_name(path: Path) -> str:
    layer = path.parent.name
    return f"opsref.{path.stem}" if layer == "opsref" else f"opsref.{layer}.{path.stem}"


def imports_of(path: Path, known: set[str]) -> set[str]:
    """Every library module `path` imports, at any depth of its code."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
    return {name for name in found if name in known}


@functools.cache  # read once per test process: every parametrized test below reads the same graph
def import_graph() -> dict[str, set[str]]:
    files = [p for layer in LAYERS for p in sorted((ROOT / layer).glob("*.py"))]
    known = {module_name(p) for p in files}
    return {module_name(p): imports_of(p, known) - {module_name(p)} for p in files}


def cycle_through(graph: dict[str, set[str]], start: str) -> list[str] | None:
    """A path start -> ... -> start, if there is one (depth-first)."""
    stack: list[tuple[str, list[str]]] = [(start, [start])]
    seen: set[str] = set()
    while stack:
        node, path = stack.pop()
        for nxt in sorted(graph[node]):
            if nxt == start:
                return path + [start]
            if nxt not in seen:
                seen.add(nxt)
                stack.append((nxt, path + [nxt]))
    return None


def test_the_graph_is_read_from_every_layer() -> None:
    graph = import_graph()
    assert "opsref.conformance.drive" in graph["opsref.conformance.killers"]  # a top-level import
    assert "opsref.proofs.inductive" in graph["opsref.proofs.mutants"]  # a function-local one


def test_a_cycle_is_found_when_there_is_one() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycle_through(graph, "a") == ["a", "b", "c", "a"] and cycle_through(graph, "d") is None


@pytest.mark.parametrize("module", sorted(import_graph()))
def test_no_import_cycle(module: str) -> None:
    assert cycle_through(import_graph(), module) is None


@pytest.mark.parametrize(("layer", "forbidden"), [
    ("proofs", ("conformance", "impl", "review", "interop")),
    ("spec", ("proofs", "conformance", "impl", "review", "interop")),
    ("impl", ("spec", "proofs", "conformance", "review", "interop")),
])
def test_layer_imports_only_what_is_below_it(layer: str, forbidden: tuple[str, ...]) -> None:
    graph = import_graph()
    bad = {m: sorted(d for d in deps if d.split(".")[1] in forbidden)
           for m, deps in graph.items() if m.split(".")[1] == layer}
    assert {m: d for m, d in bad.items() if d} == {}
