/* output.c - what the views print of a record: padding, durations,
 * JSON, a string from a message. */
#include "trace-reader.h"

#include <stdio.h>
#include <string.h>

/* Pads by characters, not bytes: "µs" and "→" are wider in UTF-8. */
void output_pad(GString *s, const char *text, guint width, gboolean right)
{
    int pad = (int)MAX((glong)width - g_utf8_strlen(text, -1), 0);

    g_string_append_printf(s, "%*s", right ? pad : 0, "");
    g_string_append(s, text);
    g_string_append_printf(s, "%*s", right ? 0 : pad, "");
}

char *output_us(gint64 us, const Style *style)
{
    if (us < 0) {
        return g_strdup("-");
    }
    if (us < 1000) {
        return g_strdup_printf("%" G_GINT64_FORMAT " %s", us, style->utf8 ? "µs" : "us");
    }
    return g_strdup_printf("%" G_GINT64_FORMAT ".%03d ms", us / 1000, (int)(us % 1000));
}

char *output_json(JsonNode *node)
{
    return node ? json_to_string(node, FALSE) : NULL;
}

/* msg.@outer.@inner when it is a string, else NULL. */
const char *output_msg_string(const Record *r, const char *outer, const char *inner)
{
    JsonNode *n = r->msg ? json_object_get_member(r->msg, outer) : NULL;
    const char *value = NULL;

    if (n && JSON_NODE_HOLDS_OBJECT(n)) {
        reader_get_str(json_node_get_object(n), inner, FALSE, &value, NULL);
    }
    return value;
}
