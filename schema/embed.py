#!/usr/bin/env python3
"""Writes schema/qmproxy.json into a C file as a string, so that the
daemon carries the one copy of its schema."""
import sys

src, out = sys.argv[1], sys.argv[2]
text = open(src, encoding="utf-8").read()
with open(out, "w", encoding="utf-8") as f:
    f.write("/* generated from %s by schema/embed.py */\n" % src.split("/")[-1])
    f.write("const char qmproxy_schema[] =\n")
    for line in text.splitlines(True):
        f.write('    "%s"\n' % line.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n"))
    f.write(";\n")
