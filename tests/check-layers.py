#!/usr/bin/env python3
"""check-layers.py LIB.a... : the daemon's object files call each other in
no cycle, and each part uses only the parts below it.

From the static libraries the daemon is built of, `nm` tells which object
defines which symbol and which object uses it; an edge A -> B means A uses
a symbol B defines. The test fails, naming them, on a cycle between object
files or an edge from a lower part to a higher one. Prints a TAP plan."""
import re
import subprocess
import sys
from collections import defaultdict

# the parts, lowest first: a part may use only the parts before it
ORDER = ["qmp", "core", "placement", "trace", "manager", "app"]
BELOW = {"qmp": set(), "core": {"qmp"}, "placement": {"qmp", "core"},
         "trace": {"qmp", "core"}, "manager": {"qmp", "core", "placement"},
         "app": set(ORDER) - {"app"}}


NM_LINE = re.compile(r"^(?P<obj>[^:]+\.o):\s*(?:[0-9a-f]+\s+)?(?P<kind>[A-Za-z?])\s+(?P<name>\S+)$")


def objects(lib):
    """{object: (defined, used)} of one archive, from nm."""
    out = subprocess.run(["nm", "-A", lib], capture_output=True, text=True, check=True).stdout
    objs = defaultdict(lambda: (set(), set()))
    for line in out.splitlines():
        # ARCHIVE:OBJECT: [address] TYPE name; the archive is given, so strip it
        m = NM_LINE.match(line[len(lib) + 1:] if line.startswith(lib + ":") else line)
        if not m:
            continue
        obj, kind, name = m.group("obj").rsplit("/", 1)[-1], m.group("kind"), m.group("name")
        if kind == "U":
            objs[obj][1].add(name)
        elif kind.isupper():
            objs[obj][0].add(name)
    return objs


def part_of(lib):
    name = lib.rsplit("/", 1)[-1]
    return name[3:-2] if name.startswith("lib") else name


def main():
    owner, uses, part = {}, {}, {}
    for lib in sys.argv[1:]:
        for obj, (defined, used) in objects(lib).items():
            stem = obj[: -len(".c.o")] if obj.endswith(".c.o") else obj
            node = "%s/%s" % (part_of(lib), stem.split("_", 1)[-1])
            part[node] = part_of(lib)
            uses[node] = used
            for sym in defined:
                owner[sym] = node
    edges = {n: {owner[s] for s in u if s in owner and owner[s] != n} for n, u in uses.items()}
    problems = []
    for a, bs in edges.items():
        for b in bs:
            if part[b] != part[a] and part[b] not in BELOW[part[a]]:
                problems.append("%s uses %s: %s may not use %s" % (a, b, part[a], part[b]))
    # cycles: depth-first search for a back edge
    state, stack = {}, []

    def visit(n):
        state[n] = 1
        stack.append(n)
        for m in sorted(edges[n]):
            if state.get(m) == 1:
                problems.append("cycle: " + " -> ".join(stack[stack.index(m):] + [m]))
            elif m not in state:
                visit(m)
        stack.pop()
        state[n] = 2

    for n in sorted(edges):
        if n not in state:
            visit(n)
    print("1..1")
    if problems:
        print("not ok 1 /layers/one-way")
        for p in problems:
            print("# " + p)
        return 1
    print("ok 1 /layers/one-way # %d objects, %d edges" %
          (len(edges), sum(len(b) for b in edges.values())))
    return 0


sys.exit(main())
