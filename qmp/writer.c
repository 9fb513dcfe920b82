/* writer.c - QEMU-identical JSON output (qobject/json-writer.c, 7.2):
 * non-ASCII and control characters as upper-case \uXXXX, invalid UTF-8 as
 * U+FFFD, doubles with %.17g in the C locale. */
#include "writer.h"

#include "utf8.h"

#include <string.h>

typedef struct {
    GString *out;
    gsize start; /* where this writer's output begins in @out */
    gboolean pretty;
    gboolean minimal; /* no white space at all */
    gboolean need_comma;
    guint depth;
    const char *replace_key; /* a top-level member written otherwise */
    const QmpValue *replace_value;
} Writer;

static void newline(Writer *w)
{
    if (w->pretty) {
        g_string_append_c(w->out, '\n');
        for (guint i = 0; i < w->depth * 4; i++) {
            g_string_append_c(w->out, ' ');
        }
    }
}

void qmp_json_write_string(GString *out, const char *s)
{
    g_string_append_c(out, '"');
    for (const char *p = s, *end; *p; p = end) {
        int cp = qmp_utf8_decode(p, 6, &end);

        switch (cp) {
        case '"':
            g_string_append(out, "\\\"");
            break;
        case '\\':
            g_string_append(out, "\\\\");
            break;
        case '\b':
            g_string_append(out, "\\b");
            break;
        case '\f':
            g_string_append(out, "\\f");
            break;
        case '\n':
            g_string_append(out, "\\n");
            break;
        case '\r':
            g_string_append(out, "\\r");
            break;
        case '\t':
            g_string_append(out, "\\t");
            break;
        default:
            if (cp < 0) {
                cp = 0xFFFD;
            }
            if (cp > 0xFFFF) {
                g_string_append_printf(out, "\\u%04X\\u%04X", 0xD800 + ((cp - 0x10000) >> 10),
                                       0xDC00 + ((cp - 0x10000) & 0x3FF));
            } else if (cp < 0x20 || cp >= 0x7F) {
                g_string_append_printf(out, "\\u%04X", cp);
            } else {
                g_string_append_c(out, (char)cp);
            }
        }
    }
    g_string_append_c(out, '"');
}

static void quoted(Writer *w, const char *s)
{
    qmp_json_write_string(w->out, s);
}

static void member_prefix(Writer *w, const char *name)
{
    if (w->need_comma) {
        g_string_append_c(w->out, ',');
        if (w->pretty) {
            newline(w);
        } else if (!w->minimal) {
            g_string_append_c(w->out, ' ');
        }
    } else {
        if (w->out->len > w->start) {
            newline(w);
        }
        w->need_comma = TRUE;
    }
    if (name) {
        quoted(w, name);
        g_string_append(w->out, w->minimal ? ":" : ": ");
    }
}

static void write_value(Writer *w, const char *name, const QmpValue *v)
{
    char dbl[G_ASCII_DTOSTR_BUF_SIZE];

    member_prefix(w, name);
    switch (qmp_value_type(v)) {
    case QMP_VALUE_NULL:
        g_string_append(w->out, "null");
        break;
    case QMP_VALUE_BOOL:
        g_string_append(w->out, qmp_value_get_bool(v) ? "true" : "false");
        break;
    case QMP_VALUE_INT:
        g_string_append_printf(w->out, "%" G_GINT64_FORMAT, qmp_value_get_int(v));
        break;
    case QMP_VALUE_UINT:
        g_string_append_printf(w->out, "%" G_GUINT64_FORMAT, qmp_value_get_uint(v));
        break;
    case QMP_VALUE_DOUBLE:
        g_string_append(w->out,
                        g_ascii_formatd(dbl, sizeof(dbl), "%.17g", qmp_value_get_double(v)));
        break;
    case QMP_VALUE_STRING:
        quoted(w, qmp_value_get_string(v));
        break;
    case QMP_VALUE_LIST:
        g_string_append_c(w->out, '[');
        w->depth++;
        w->need_comma = FALSE;
        for (guint i = 0; i < qmp_value_list_length(v); i++) {
            write_value(w, NULL, qmp_value_list_get(v, i));
        }
        w->depth--;
        w->need_comma = TRUE;
        newline(w);
        g_string_append_c(w->out, ']');
        break;
    case QMP_VALUE_DICT: {
        g_autoptr(GArray) order = qmp_value_dict_qemu_order(v);

        g_string_append_c(w->out, '{');
        w->depth++;
        w->need_comma = FALSE;
        for (guint i = 0; i < order->len; i++) {
            QmpValue *item;
            const char *key = qmp_value_dict_nth(v, g_array_index(order, guint, i), &item);

            if (w->depth == 1 && w->replace_key && strcmp(key, w->replace_key) == 0) {
                if (!w->replace_value) {
                    continue;
                }
                item = (QmpValue *)w->replace_value;
            }
            write_value(w, key, item);
        }
        w->depth--;
        w->need_comma = TRUE;
        newline(w);
        g_string_append_c(w->out, '}');
        break;
    }
    }
}

void qmp_json_write(GString *out, const QmpValue *v, gboolean pretty)
{
    Writer w = { out, out->len, pretty, FALSE, FALSE, 0 };

    write_value(&w, NULL, v);
}

void qmp_json_write_minimal(GString *out, const QmpValue *v)
{
    Writer w = { out, out->len, FALSE, TRUE, FALSE, 0 };

    write_value(&w, NULL, v);
}

void qmp_json_write_replacing(GString *out, const QmpValue *dict, const char *key,
                              const QmpValue *value)
{
    Writer w = { out, out->len, FALSE, FALSE, FALSE, 0, key, value };

    write_value(&w, NULL, dict);
}

char *qmp_json_to_string(const QmpValue *v, gboolean pretty)
{
    GString *out = g_string_new(NULL);

    qmp_json_write(out, v, pretty);
    return g_string_free(out, FALSE);
}

char *qmp_json_nested_to_string(const QmpValue *v, gboolean pretty, guint depth)
{
    GString *out = g_string_new(NULL);
    Writer w = { out, out->len, pretty, FALSE, FALSE, depth };

    write_value(&w, NULL, v);
    return g_string_free(out, FALSE);
}
