/* chrome.c - "qmproxy trace --chrome OUT.json": the trace as Chrome Trace
 * Event JSON, for https://ui.perfetto.dev or chrome://tracing. */
#include "trace-reader.h"

#include <stdio.h>
#include <string.h>

enum {
    PID_CLIENTS = 1,
    PID_DEVICES = 2,
    PID_EVENTS = 3,
    PID_PROXY = 4, /* the commands the proxy made itself */
};

static void json_add_int(JsonBuilder *b, const char *name, gint64 value)
{
    json_builder_set_member_name(b, name);
    json_builder_add_int_value(b, value);
}

static void json_add_str(JsonBuilder *b, const char *name, const char *value)
{
    json_builder_set_member_name(b, name);
    json_builder_add_string_value(b, value);
}

/* Opens an event object; the caller adds what is particular to it. */
static void chrome_begin(JsonBuilder *b, const char *ph, const char *name, gint64 pid, gint64 tid)
{
    json_builder_begin_object(b);
    json_add_str(b, "ph", ph);
    json_add_str(b, "name", name);
    json_add_int(b, "pid", pid);
    json_add_int(b, "tid", tid);
}

static void chrome_meta(JsonBuilder *b, const char *what, gint64 pid, gint64 tid, const char *name)
{
    chrome_begin(b, "M", what, pid, tid);
    json_builder_set_member_name(b, "args");
    json_builder_begin_object(b);
    json_add_str(b, "name", name);
    json_builder_end_object(b);
    json_builder_end_object(b);
}

static void chrome_span(JsonBuilder *b, const char *name, gint64 pid, gint64 tid, gint64 ts,
                        gint64 dur)
{
    chrome_begin(b, "X", name, pid, tid);
    json_add_int(b, "ts", ts);
    json_add_int(b, "dur", MAX(dur, 0));
    json_builder_set_member_name(b, "args");
    json_builder_begin_object(b);
}

static void chrome_span_end(JsonBuilder *b)
{
    json_builder_end_object(b); /* args */
    json_builder_end_object(b);
}

static char *client_label(const Client *c)
{
    return g_strdup_printf("client %" G_GINT64_FORMAT " %s (pid %" G_GINT64_FORMAT ")", c->number,
                           c->exe ? c->exe : "?", c->pid);
}

/* The clients' commands on one track per client; with @by_proxy, the
 * commands the proxy made itself, in a process of their own with one
 * track per client that caused them (0: none). */
static void chrome_commands(JsonBuilder *b, const Analysis *t, gboolean by_proxy)
{
    gint64 pid = by_proxy ? PID_PROXY : PID_CLIENTS;
    g_autoptr(GHashTable) tracks = g_hash_table_new(g_int64_hash, g_int64_equal);
    gboolean any_command = FALSE;

    for (guint i = 0; i < t->commands->len; i++) {
        const Command *c = t->commands->pdata[i];
        if (c->by_proxy == by_proxy) {
            any_command = TRUE;
            g_hash_table_add(tracks, (gpointer)&c->client);
        }
    }
    if (by_proxy && !any_command) {
        return;
    }
    if (!by_proxy) {
        GList *clients = analysis_clients_sorted(t);
        chrome_meta(b, "process_name", pid, 0, "clients");
        for (GList *l = clients; l; l = l->next) {
            g_autofree char *name = client_label(l->data);
            chrome_meta(b, "thread_name", pid, ((const Client *)l->data)->number, name);
        }
        g_list_free(clients);
    } else {
        GList *numbers = g_list_sort(g_hash_table_get_keys(tracks), analysis_compare_int64);
        chrome_meta(b, "process_name", pid, 0, "made by the proxy (device manager)");
        for (GList *l = numbers; l; l = l->next) {
            gint64 number = *(const gint64 *)l->data;
            const Client *c = g_hash_table_lookup(t->clients, &number);
            g_autofree char *label = c ? client_label(c) : NULL;
            g_autofree char *name = g_strdup_printf("for %s", label ? label : "no client");
            chrome_meta(b, "thread_name", pid, number, name);
        }
        g_list_free(numbers);
    }
    for (guint i = 0; i < t->commands->len; i++) {
        const Command *c = t->commands->pdata[i];
        gint64 start;
        const Record *any = c->request ? c->request : c->reply;
        if (c->by_proxy != by_proxy) {
            continue;
        }
        start = analysis_command_start(c);
        chrome_span(b, analysis_command_name(c), pid, c->client, start,
                    c->reply ? MAX(analysis_command_latency(c), 0) : t->end_us - start);
        if (by_proxy) {
            json_builder_set_member_name(b, "by_proxy");
            json_builder_add_boolean_value(b, TRUE);
            if (any->upstream_id >= 0) {
                json_add_int(b, "upstream_id", any->upstream_id);
            }
            if (c->request && c->request->msg &&
                json_object_has_member(c->request->msg, "arguments")) {
                json_builder_set_member_name(b, "arguments");
                json_builder_add_value(
                    b, json_node_copy(json_object_get_member(c->request->msg, "arguments")));
            }
        }
        if (any->id) {
            json_builder_set_member_name(b, "id");
            json_builder_add_value(b, json_node_copy(any->id));
        }
        if (analysis_command_failed(c)) {
            json_add_str(b, "error_class", c->reply->klass ? c->reply->klass : "?");
            json_add_str(b, "error_desc", c->reply->error ? c->reply->error : "");
        }
        if (!c->reply) {
            json_builder_set_member_name(b, "no_reply");
            json_builder_add_boolean_value(b, TRUE);
        }
        chrome_span_end(b);
    }
}

static void chrome_devices(JsonBuilder *b, const Analysis *t)
{
    chrome_meta(b, "process_name", PID_DEVICES, 0, "devices");
    for (guint i = 0; i < t->devices->len; i++) {
        const Device *d = t->devices->pdata[i];
        g_autofree char *name = g_strdup_printf("%s (%s)", d->id, d->driver ? d->driver : "?");
        gint64 start = d->add   ? analysis_command_start(d->add)
                       : d->del ? analysis_command_start(d->del)
                                : d->deleted->mono_us;
        gint64 end = d->deleted ? d->deleted->mono_us
                     : d->add && analysis_command_failed(d->add)
                         ? start + analysis_command_latency(d->add)
                         : t->end_us;
        chrome_meta(b, "thread_name", PID_DEVICES, i + 1, name);
        chrome_span(b, d->id, PID_DEVICES, i + 1, start, end - start);
        json_add_str(b, "driver", d->driver ? d->driver : "?");
        json_add_str(b, "state", analysis_device_state(d));
        json_add_int(b, "plug_us", d->add ? analysis_command_latency(d->add) : -1);
        json_add_int(b, "unplug_us", analysis_device_unplug_us(d));
        json_builder_set_member_name(b, "by_proxy");
        json_builder_add_boolean_value(b, analysis_device_by_proxy(d));
        json_builder_set_member_name(b, "open_at_end_of_trace");
        json_builder_add_boolean_value(b,
                                       !d->deleted && !(d->add && analysis_command_failed(d->add)));
        chrome_span_end(b);
    }
}

static void chrome_events(JsonBuilder *b, const Analysis *t)
{
    chrome_meta(b, "process_name", PID_EVENTS, 0, "QEMU events");
    for (guint i = 0; i < t->records->len; i++) {
        const Record *r = t->records->pdata[i];
        JsonNode *data;
        if (r->dir != DIR_Q2P || r->kind != KIND_EVENT) {
            continue;
        }
        chrome_begin(b, "i", r->name, PID_EVENTS, 1);
        json_add_int(b, "ts", r->mono_us);
        json_add_str(b, "s", "p");
        json_builder_set_member_name(b, "args");
        json_builder_begin_object(b);
        if (r->msg && (data = json_object_get_member(r->msg, "data"))) {
            json_builder_set_member_name(b, "data");
            json_builder_add_value(b, json_node_copy(data));
        }
        json_builder_end_object(b);
        json_builder_end_object(b);
    }
}

gboolean chrome_write(const Analysis *t, const char *out, guint *n_events, GError **error)
{
    g_autoptr(JsonBuilder) b = json_builder_new();
    g_autoptr(JsonGenerator) gen = json_generator_new();
    g_autoptr(JsonNode) root = NULL;

    json_builder_begin_object(b);
    json_add_str(b, "displayTimeUnit", "ms");
    json_builder_set_member_name(b, "traceEvents");
    json_builder_begin_array(b);
    chrome_commands(b, t, FALSE);
    chrome_devices(b, t);
    chrome_events(b, t);
    chrome_commands(b, t, TRUE);
    json_builder_end_array(b);
    json_builder_end_object(b);
    root = json_builder_get_root(b);
    *n_events = json_array_get_length(
        json_object_get_array_member(json_node_get_object(root), "traceEvents"));
    json_generator_set_root(gen, root);
    return json_generator_to_file(gen, out, error);
}
