#!/usr/bin/env python3
"""Fails when the collector's stages import each other the wrong way.

Data flows one way through the stages below, lowest first. A module may use its own
stage and the ones under it, never one above; modules of one stage, and the protocols
(each of `protocols/*` counts as its own module), may use each other but never in a
cycle. Every `crate::<module>` path in the module's files counts, tests included: a test
that needs a higher stage belongs to that stage.

A script, not cargo-modules' `--acyclic` check: that one builds rust-analyzer's crates
(minutes on a 2-core CI machine) and reports every parent <-> child module edge as a
cycle, which is not what this checks. This reads `crate::` paths with a regex, so it
sees what `use` and full paths name; a `super::super::` reaching into another stage is
not seen (none exists; review catches it).

    .ci/layers.py [collector/src]     prints the graph, exits 1 on a violation
"""

import os
import re
import sys

# Lowest first.
STAGES = [
    ["telemetry", "testing", "supervise"],
    ["config", "console", "redact"],
    ["kernel"],
    ["decode"],
    ["enrich"],
    ["signals"],
    ["protocols"],
    ["export"],
    ["pipeline"],
]
RANK = {m: i for i, stage in enumerate(STAGES) for m in stage}
SPLIT = {"protocols"}  # children are nodes of their own

PATH = re.compile(r"\bcrate::([a-z_][a-z0-9_]*)(?:::([a-z_][a-z0-9_]*))?")
GROUP = re.compile(r"\buse\s+crate::\{([^;]*)\};", re.S)
COMMENT = re.compile(r"//[^\n]*")


def node_of(parts):
    """The node a file (path parts below src) belongs to."""
    top = parts[0][:-3] if parts[0].endswith(".rs") else parts[0]
    if top in SPLIT and len(parts) > 2:
        return f"{top}::{parts[1][:-3] if parts[1].endswith('.rs') else parts[1]}"
    return top


def targets(text):
    """The nodes a file's `crate::` paths name."""
    text = COMMENT.sub("", text)
    out = set()
    for top, sub in PATH.findall(text):
        out.add(f"{top}::{sub}" if top in SPLIT and sub else top)
    for group in GROUP.findall(text):
        for item in re.split(r",(?![^{]*\})", group):
            m = re.match(r"\s*([a-z_][a-z0-9_]*)(?:::([a-z_][a-z0-9_]*))?", item)
            if m:
                top, sub = m.groups()
                out.add(f"{top}::{sub}" if top in SPLIT and sub else top)
    return out


def main():
    src = sys.argv[1] if len(sys.argv) > 1 else "collector/src"
    edges = {}
    for root, _, files in os.walk(src):
        for f in files:
            if not f.endswith(".rs"):
                continue
            parts = os.path.relpath(os.path.join(root, f), src).split(os.sep)
            if parts[0] in ("main.rs", "lib.rs"):
                continue
            node = node_of(parts)
            with open(os.path.join(root, f), encoding="utf-8") as fh:
                found = targets(fh.read())
            for t in found:
                top = t.split("::")[0]
                if top in RANK and t != node:
                    edges.setdefault(node, set()).add(t)
    bad = []
    for a in sorted(edges):
        for b in sorted(edges[a]):
            ra, rb = RANK.get(a.split("::")[0]), RANK[b.split("::")[0]]
            if ra is None:
                bad.append(f"{a} is in no stage: add it to STAGES in {sys.argv[0]}")
            elif rb > ra:
                bad.append(f"{a} (stage {ra}) imports {b} (stage {rb}), a higher stage")
    # Cycles, by depth-first search from every node.
    state = {}
    stack = []

    def visit(n):
        state[n] = 1
        stack.append(n)
        for m in sorted(edges.get(n, ())):
            if state.get(m) == 1:
                bad.append("cycle: " + " -> ".join(stack[stack.index(m):] + [m]))
            elif m not in state:
                visit(m)
        stack.pop()
        state[n] = 2

    for n in sorted(edges):
        if n not in state:
            visit(n)
    for a in sorted(edges):
        print(f"{a} -> {', '.join(sorted(edges[a]))}")
    for b in bad:
        print(f"error: {b}", file=sys.stderr)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
