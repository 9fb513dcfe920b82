/* writer.h - writes values exactly as QEMU's json-writer does. */
#pragma once

#include "value.h"

/* Appends @v to @out in QEMU's layout: ", " and ": " separators, or with
 * @pretty one member per line indented by four; members in QDict order. */
void qmp_json_write(GString *out, const QmpValue *v, gboolean pretty);
/* Appends @v in the fewest bytes (no white space), for QEMU to read: it
 * reads its monitor a byte per system call. */
void qmp_json_write_minimal(GString *out, const QmpValue *v);
/* Appends the object @dict as qmp_json_write() does, but with member @key
 * holding @value instead (NULL: without the member). */
void qmp_json_write_replacing(GString *out, const QmpValue *dict, const char *key,
                              const QmpValue *value);
/* Appends @s as a JSON string, escaped as QEMU escapes it. */
void qmp_json_write_string(GString *out, const char *s);
/* The same as a new string. */
char *qmp_json_to_string(const QmpValue *v, gboolean pretty);
/* @v as QEMU writes it @depth levels deep (1: a member of a top-level
 * object): in pretty layout its inner lines are indented to match. */
char *qmp_json_nested_to_string(const QmpValue *v, gboolean pretty, guint depth);
#define qmp_json_member_to_string(v, pretty) qmp_json_nested_to_string((v), (pretty), 1)
