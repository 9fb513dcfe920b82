#!/usr/bin/env python3
"""Generates C from schema/qmproxy.json, the one source of the proxy's
QMP names:

  schema-data.c   the schema's text (the daemon checks arguments against it
                  and adds it to QEMU's introspection), and a name table per
                  enum
  schema-names.h  a C enum per QAPI enum, named from its values, and a
                  macro per command and event name

Usage: gen.py SCHEMA OUT.c OUT.h
"""
import ast
import re
import sys

PREFIX = "__org.qmproxy_"


def definitions(text):
    """The schema's top-level objects: QAPI is JSON with '#' comments and
    single quotes, i.e. Python literals once the comments are gone."""
    lines = [l for l in text.splitlines() if not l.lstrip().startswith("#")]
    body = "\n".join(lines)
    defs, depth, start, quote = [], 0, None, None
    for i, c in enumerate(body):
        if quote:
            if c == quote:
                quote = None
        elif c in "'\"":
            quote = c
        elif c == "{":
            if depth == 0:
                start = i
            depth += 1
        elif c == "}":
            depth -= 1
            if depth == 0:
                defs.append(ast.literal_eval(body[start:i + 1]))
    return defs


def c_name(name):
    """__org.qmproxy_device-new -> DEVICE_NEW; DeviceState -> DEVICE_STATE"""
    if name.startswith(PREFIX):
        name = name[len(PREFIX):]
    name = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name)
    return re.sub(r"[^A-Za-z0-9]", "_", name).upper()


def c_string(text):
    out = []
    for line in text.splitlines(True):
        esc = line.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
        out.append('    "%s"\n' % esc)
    return "".join(out)


def main():
    src, out_c, out_h = sys.argv[1:4]
    text = open(src, encoding="utf-8").read()
    defs = definitions(text)
    enums = [d for d in defs if "enum" in d]

    with open(out_h, "w", encoding="utf-8") as h:
        h.write("/* schema-names.h - generated from qmproxy.json by schema/gen.py */\n")
        h.write("#pragma once\n\n")
        h.write("/* The schema's text, as built into the daemon. */\n")
        h.write("extern const char qmproxy_schema[];\n\n")
        for d in defs:
            for meta, kind in (("command", "CMD"), ("event", "EVENT")):
                if meta in d:
                    h.write('#define QMPROXY_%s_%s "%s"\n' % (kind, c_name(d[meta]), d[meta]))
        for d in enums:
            t = "Qmproxy" + d["enum"][len(PREFIX):]
            up = c_name(d["enum"])
            h.write("\n/* %s */\ntypedef enum {\n" % d["enum"])
            for v in d["data"]:
                h.write("    QMPROXY_%s_%s,\n" % (up, c_name(v)))
            h.write("    QMPROXY_%s__MAX,\n} %s;\n" % (up, t))
            h.write("extern const char *const qmproxy_%s_names[QMPROXY_%s__MAX];\n"
                    % (up.lower(), up))
        h.write("\n/* The value of @name in @names (of @n), or -1. */\n")
        h.write("int qmproxy_enum_value(const char *const *names, int n, const char *name);\n")

    with open(out_c, "w", encoding="utf-8") as c:
        c.write("/* generated from qmproxy.json by schema/gen.py */\n")
        c.write('#include "schema-names.h"\n\n#include <string.h>\n\n')
        c.write("const char qmproxy_schema[] =\n%s;\n" % c_string(text))
        for d in enums:
            up = c_name(d["enum"])
            c.write("\nconst char *const qmproxy_%s_names[QMPROXY_%s__MAX] = {\n"
                    % (up.lower(), up))
            for v in d["data"]:
                c.write('    [QMPROXY_%s_%s] = "%s",\n' % (up, c_name(v), v))
            c.write("};\n")
        c.write("""
int qmproxy_enum_value(const char *const *names, int n, const char *name)
{
    for (int i = 0; name && i < n; i++) {
        if (strcmp(names[i], name) == 0) {
            return i;
        }
    }
    return -1;
}
""")


main()
