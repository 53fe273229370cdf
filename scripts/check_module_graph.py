#!/usr/bin/env python3
"""Fails when the crate's top-level modules depend on each other in a cycle.

A top-level module is `src/<name>.rs` or the directory `src/<name>/` (every file in it
belongs to `<name>`). Module A depends on module B when code anywhere in A names
`crate::B` (or `$crate::B`), whether in a `use` line, a path or a grouped
`use crate::{B, ...}`; comments, string literals and `super::`/`self::` paths within A
are ignored. `src/lib.rs` (the crate root, which only declares and re-exports) is not a
module here, but its re-exports are followed: after `pub use B::item;` there,
`crate::item` counts as a use of B. The PyO3 binding layer `src/python/` is a leaf: it
may use any module, but no module may use it.

Usage: scripts/check_module_graph.py [SRC_DIR]   (default: the repository's src/)
Exit status 0 when the graph is acyclic, 1 naming the cycle (with the line that adds
each edge) or the module that uses the binding layer. Standard library only.
"""

from __future__ import annotations

import itertools
import re
import sys
from pathlib import Path

BINDING_LAYER = "python"
RAW_STRING = re.compile(r'b?r(#*)"')
CHAR_LITERAL = re.compile(r"b?'(\\u\{[0-9a-fA-F]+\}|\\.|[^\\'])'")

Edge = tuple[str, str]
# (file, line) of the first reference that creates an edge.
Where = dict[Edge, tuple[Path, int]]


def strip_comments_and_strings(text: str) -> str:
    """The text with comments, string and char literals blanked out (newlines kept)."""
    out: list[str] = []
    i, n = 0, len(text)

    def blank(segment: str) -> str:
        return re.sub(r"[^\n]", " ", segment)

    while i < n:
        c = text[i]
        if text.startswith("//", i):
            end = text.find("\n", i)
            end = n if end == -1 else end
            out.append(blank(text[i:end]))
            i = end
        elif text.startswith("/*", i):
            depth, j = 1, i + 2
            while j < n and depth:
                if text.startswith("/*", j):
                    depth, j = depth + 1, j + 2
                elif text.startswith("*/", j):
                    depth, j = depth - 1, j + 2
                else:
                    j += 1
            out.append(blank(text[i:j]))
            i = j
        elif (raw := RAW_STRING.match(text, i)) and (i == 0 or not _ident(text[i - 1])):
            close = '"' + raw.group(1)
            end = text.find(close, raw.end())
            end = n if end == -1 else end + len(close)
            out.append(blank(text[i:end]))
            i = end
        elif c == '"':
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            out.append(blank(text[i : j + 1]))
            i = j + 1
        elif c == "'":
            # A char literal ('x', '\n', '\u{..}'); otherwise a lifetime or label.
            lit = CHAR_LITERAL.match(text, i)
            if lit:
                out.append(blank(lit.group(0)))
                i = lit.end()
            else:
                out.append(c)
                i += 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


def _ident(c: str) -> bool:
    return c.isalnum() or c == "_"


def referenced_modules(code: str) -> list[tuple[str, int]]:
    """`(module, line)` for every `crate::module` reference in comment-free code."""
    found: list[tuple[str, int]] = []
    for m in re.finditer(r"(?<![A-Za-z0-9_])\$?crate\s*::\s*", code):
        line = code.count("\n", 0, m.start()) + 1
        rest = code[m.end() :]
        name = re.match(r"[A-Za-z_][A-Za-z0-9_]*", rest)
        if name:
            found.append((name.group(0), line))
        elif rest.startswith("{"):
            # `crate::{a, b::c, d::{e, f}}`: the first segment of each top-level item.
            depth, item_start = 0, True
            for j, ch in enumerate(rest):
                if ch == "{":
                    depth += 1
                    item_start = depth == 1
                elif ch == "}":
                    depth -= 1
                    if depth == 0:
                        break
                elif ch == "," and depth == 1:
                    item_start = True
                elif item_start and depth == 1 and (ch.isalpha() or ch == "_"):
                    seg = re.match(r"[A-Za-z_][A-Za-z0-9_]*", rest[j:])
                    assert seg
                    found.append((seg.group(0), line + rest.count("\n", 0, j)))
                    item_start = False
                elif not ch.isspace():
                    item_start = False
    return found


def top_level_modules(src: Path) -> dict[str, list[Path]]:
    """Each top-level module's name and files."""
    modules: dict[str, list[Path]] = {}
    for path in sorted(src.glob("*.rs")):
        if path.name != "lib.rs":
            modules.setdefault(path.stem, []).append(path)
    for directory in sorted(p for p in src.iterdir() if p.is_dir()):
        modules.setdefault(directory.name, []).extend(sorted(directory.rglob("*.rs")))
    return modules


def root_reexports(src: Path, modules: dict[str, list[Path]]) -> dict[str, str]:
    """`item -> module` for the crate root's `pub use module::...::item;` lines."""
    aliases: dict[str, str] = {}
    lib = src / "lib.rs"
    code = strip_comments_and_strings(lib.read_text(encoding="utf-8")) if lib.exists() else ""
    for m in re.finditer(r"\bpub(?:\([^)]*\))?\s+use\s+(?:crate\s*::\s*)?([^;]+);", code):
        # One space between words, none around punctuation: `a::{b as c, d}`.
        path = re.sub(r"\s*([:{},])\s*", r"\1", re.sub(r"\s+", " ", m.group(1).strip()))
        module = path.split("::")[0]
        if module not in modules:
            continue
        tail = path[len(module) :]
        leaves = tail[tail.index("{") + 1 :].rstrip("}").split(",") if "{" in tail else [tail]
        for leaf in leaves:
            item = leaf.split(" as ")[-1].split("::")[-1].strip("{} ")
            if item and item != "self":
                aliases[item] = module
    return aliases


def build_graph(src: Path) -> tuple[dict[str, set[str]], Where]:
    modules = top_level_modules(src)
    aliases = root_reexports(src, modules)
    graph: dict[str, set[str]] = {name: set() for name in modules}
    where: Where = {}
    for name, files in modules.items():
        for path in files:
            code = strip_comments_and_strings(path.read_text(encoding="utf-8"))
            for target, line in referenced_modules(code):
                target = aliases.get(target, target)
                if target == name or target not in modules:
                    continue  # within the module, or not a module (a re-export)
                graph[name].add(target)
                where.setdefault((name, target), (path, line))
    return graph, where


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """Some cycle `[a, b, ..., a]`, or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def main(argv: list[str]) -> int:
    src = Path(argv[1]) if len(argv) > 1 else Path(__file__).resolve().parent.parent / "src"
    graph, where = build_graph(src)
    users = sorted(m for m, deps in graph.items() if BINDING_LAYER in deps and m != BINDING_LAYER)
    if users:
        for m in users:
            path, line = where[(m, BINDING_LAYER)]
            print(f"module {m} uses the binding layer `{BINDING_LAYER}` ({path}:{line})")
        return 1
    cycle = find_cycle(graph)
    if cycle:
        print("module cycle: " + " -> ".join(cycle))
        for a, b in itertools.pairwise(cycle):
            path, line = where[(a, b)]
            print(f"  {a} -> {b}: {path}:{line}")
        return 1
    edges = sum(len(deps) for deps in graph.values())
    print(f"module graph: {len(graph)} top-level modules, {edges} edges, no cycle")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
