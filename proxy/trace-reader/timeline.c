/* timeline.c - "qmproxy trace FILE": one line per message, in order. */
#include "trace-reader.h"

#include <stdio.h>
#include <string.h>

/* Bold headers, red errors, cyan events, green replies, magenta greetings. */
static const char *const kind_colors[] = {
    [KIND_HEADER] = "\033[1m", [KIND_ERROR] = "\033[31m", [KIND_INVALID] = "\033[31m",
    [KIND_EVENT] = "\033[36m", [KIND_REPLY] = "\033[32m", [KIND_GREETING] = "\033[35m",
    [KIND_OTHER] = NULL,
};

static void timeline_header(GString *s, const Record *r, const Style *style)
{
    const char *rule = style->utf8 ? "────" : "----";
    const char *members[] = { "qmproxy", "upstream", "filter" };

    g_string_append_printf(s, " %s trace header (proxy started or reopened the file):", rule);
    for (guint i = 0; i < G_N_ELEMENTS(members); i++) {
        const char *value = NULL;
        if (reader_get_str(r->obj, members[i], FALSE, &value, NULL) && value) {
            g_string_append_printf(s, " %s %s", members[i], value);
        }
    }
    g_string_append_printf(s, " %s", rule);
}

static void timeline_body(GString *s, const Record *r, Timeline *tl)
{
    const Style *style = tl->style;
    g_autofree char *who = NULL;
    g_autofree char *id = output_json(r->id);
    g_autofree char *delta = NULL;
    JsonNode *extra = NULL;

    if (tl->have_prev) {
        gint64 d = r->mono_us - tl->prev_us;
        delta = g_strdup_printf("%c%" G_GINT64_FORMAT ".%03d ms", d < 0 ? '-' : '+', ABS(d) / 1000,
                                (int)(ABS(d) % 1000));
    }
    output_pad(s, delta ? delta : "", 14, TRUE);
    g_string_append(s, "  ");
    if (r->client > 0) {
        who = g_strdup_printf("#%" G_GINT64_FORMAT " %s[%" G_GINT64_FORMAT "]", r->client,
                              r->exe ? r->exe : "?", r->pid);
    }
    output_pad(s, who ? who : "-", 20, FALSE);
    g_string_append_printf(s, " %s  ",
                           style->utf8 ? reader_dirs[r->dir].arrow : reader_dirs[r->dir].ascii);
    output_pad(s, r->kind_name, 8, FALSE);
    g_string_append_c(s, ' ');
    output_pad(s, r->name ? r->name : "", 20, FALSE);
    if (id) {
        g_string_append_printf(s, " id=%s", id);
    }
    if (r->kind == KIND_REPLY || r->kind == KIND_ERROR) {
        g_autofree char *latency = output_us(r->latency_us, style);
        if (r->latency_us >= 0) {
            g_string_append_printf(s, " %s", latency);
        }
    }
    if (r->kind == KIND_ERROR || r->kind == KIND_INVALID) {
        g_string_append_printf(s, " %s%s%s", r->klass ? r->klass : "", r->klass ? ": " : "",
                               r->error ? r->error : "");
    }
    /* Arguments and event data are what one looks for in a hot-plug trace. */
    if (r->msg && r->kind == KIND_COMMAND) {
        extra = json_object_get_member(r->msg, "arguments");
    } else if (r->msg && r->kind == KIND_EVENT) {
        extra = json_object_get_member(r->msg, "data");
    }
    if (extra) {
        g_autofree char *text = output_json(extra);
        g_string_append_printf(s, " %s", text);
    }
    if (r->by_proxy) {
        g_string_append(s, " (by_proxy)");
    }
}

void timeline_print(Record *record, gpointer user_data)
{
    g_autoptr(Record) r = record;
    Timeline *tl = user_data;
    g_autoptr(GString) s = g_string_new(NULL);
    g_autoptr(GDateTime) utc = g_date_time_to_utc(r->when);
    g_autofree char *clock = g_date_time_format(utc, "%H:%M:%S.%f");
    const char *color = tl->style->color ? kind_colors[r->kind] : NULL;

    if (color) {
        g_string_append(s, color);
    }
    g_string_append(s, clock);
    if (r->kind == KIND_HEADER) {
        timeline_header(s, r, tl->style);
    } else {
        timeline_body(s, r, tl);
    }
    while (s->len > 0 && s->str[s->len - 1] == ' ') {
        g_string_truncate(s, s->len - 1); /* the padding of an empty last column */
    }
    if (color) {
        g_string_append(s, "\033[0m");
    }
    g_string_append_c(s, '\n');
    fputs(s->str, stdout);
    tl->prev_us = r->mono_us;
    tl->have_prev = TRUE;
}
