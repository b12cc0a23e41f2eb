#!/usr/bin/env python3
"""Import circles inside each crate: files that reach each other through `use` paths.

A file is a module (`src/a/b.rs` or `src/a/b/mod.rs` is `a::b`). A path it names —
`crate::a::b::x`, `super::x`, `self::x`, or `x::y` for a module `x` it declares — is an edge
to the deepest module that path names; the crate root (lib.rs, main.rs) only declares and
re-exports, so its own paths are no edges. Any cycle is printed and fails the check.
Usage: circles.py CRATE_DIR...
"""
import re
import sys
from pathlib import Path

PATH = re.compile(r"\b((?:crate|super|self)(?:::[A-Za-z_][A-Za-z0-9_]*)+|[a-z_][a-z0-9_]*(?:::[A-Za-z_][A-Za-z0-9_]*)+)")
COMMENT = re.compile(r"//[^\n]*")


def modules(src: Path):
    mods = {}
    for f in src.rglob("*.rs"):
        rel = f.relative_to(src).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "mod" or (len(parts) == 1 and parts[0] in ("lib", "main")):
            parts = parts[:-1]
        mods[tuple(parts)] = f
    return mods


def resolve(mods, here, words):
    """The deepest module named by `words`, seen from module `here`."""
    if words[0] == "crate":
        base, rest = (), words[1:]
    elif words[0] == "super":
        base, rest = here, words
        while rest and rest[0] == "super":
            base, rest = base[:-1], rest[1:]
    elif words[0] == "self":
        base, rest = here, words[1:]
    elif here + (words[0],) in mods:
        base, rest = here, words
    else:
        return None
    best = base if base in mods else None
    cur = base
    for w in rest:
        cur = cur + (w,)
        if cur in mods:
            best = cur
        else:
            break
    return best


def cycles(graph):
    index, low, stack, on, out = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
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
                out.append(comp)

    sys.setrecursionlimit(10000)
    for v in graph:
        if v not in index:
            visit(v)
    return out


def main():
    bad = 0
    for crate in sys.argv[1:]:
        src = Path(crate) / "src"
        mods = modules(src)
        graph = {}
        for mod, f in mods.items():
            text = COMMENT.sub("", f.read_text())
            # Tests may reach anywhere in their own crate.
            text = text.split("#[cfg(test)]")[0]
            for m in PATH.finditer(text):
                target = resolve(mods, mod, m.group(1).split("::"))
                # The crate root only declares and re-exports: its edges say nothing.
                if target is not None and target != mod and mod != ():
                    graph.setdefault(mod, set()).add(target)
        for comp in cycles(graph):
            bad += 1
            names = sorted("::".join(c) or "crate" for c in comp)
            print(f"{crate}: import circle: {' <-> '.join(names)}")
            for a in comp:
                for b in sorted(graph.get(a, ())):
                    if b in comp:
                        print(f"    {'::'.join(a) or 'crate'} -> {'::'.join(b) or 'crate'}")
    if bad:
        sys.exit(1)
    print(f"circles: none in {len(sys.argv) - 1} crates")


if __name__ == "__main__":
    main()
