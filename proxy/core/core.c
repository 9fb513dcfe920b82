/* core.c - the core as a whole: wires listener, clients, router and
 * upstream together, holds the stack of layers and the taps, and decides
 * when it is done.
 *
 * The listening socket exists from the start, so a client that connects
 * early waits in the backlog; it is accepted once QEMU's connection is
 * negotiated and every layer has started, bottom first. When QEMU goes
 * away every client is closed after what is queued for it is written, as
 * QEMU's own close would. */
#include "core-internal.h"

#include "framer.h"
#include "writer.h"

#include <string.h>

#define CLOSE_GRACE_MS 2000

typedef struct {
    const CoreTapOps *ops;
    gpointer data;
} Tap;

struct Core {
    CoreOptions opts;
    char *upstream_path;
    char *listen_path;
    CoreFinished finished;
    gpointer finished_data;
    CoreUpstream *up;
    CoreRouter *router;
    CoreListener *listener;
    GPtrArray *clients;      /* of CoreClient */
    GPtrArray *layers;       /* of CoreLayer, the bottom first */
    GArray *taps;            /* of Tap */
    GPtrArray *capabilities; /* downstream names the layers added */
    GString *greeting;       /* for clients; made once QEMU's is known */
    guint started;           /* layers started so far */
    gboolean closing;        /* QEMU went away */
    gboolean stopping;       /* core_free() is running */
    gboolean done;           /* @finished was called */
    guint grace_id;
};

G_DEFINE_QUARK(qmproxy - error - quark, core_error)

static void finish(Core *core, int status)
{
    if (!core->done) {
        core->done = TRUE;
        core->finished(core->finished_data, status);
    }
}

Core *core_new(const CoreOptions *options, CoreFinished finished, gpointer data)
{
    Core *core = g_new0(Core, 1);

    core->opts = *options;
    core->upstream_path = g_strdup(options->upstream_path);
    core->listen_path = g_strdup(options->listen_path);
    core->opts.upstream_path = core->upstream_path;
    core->opts.listen_path = core->listen_path;
    core->opts.allow_uids = options->allow_uids ? g_array_ref(options->allow_uids) : NULL;
    core->finished = finished;
    core->finished_data = data;
    core->router = core_router_new(core);
    core->clients = g_ptr_array_new_with_free_func((GDestroyNotify)core_client_drop);
    core->layers = g_ptr_array_new();
    core->taps = g_array_new(FALSE, FALSE, sizeof(Tap));
    core->capabilities = g_ptr_array_new_with_free_func(g_free);
    return core;
}

static void layer_free(CoreLayer *layer)
{
    core_origin_forget(&layer->origin);
    g_hash_table_unref(layer->commands);
    g_free(layer);
}

void core_free(Core *core)
{
    if (!core) {
        return;
    }
    core->stopping = TRUE;
    g_clear_handle_id(&core->grace_id, g_source_remove);
    /* what is in flight completes with no one to answer: layers first */
    for (guint i = core->layers->len; i-- > 0;) {
        CoreLayer *layer = g_ptr_array_index(core->layers, i);

        if (layer->ops->stop) {
            layer->ops->stop(layer->data);
        }
    }
    /* clients next: their requests hold routes into the router */
    g_ptr_array_unref(core->clients);
    core_listener_free(core->listener);
    core_upstream_free(core->up);
    for (guint i = 0; i < core->layers->len; i++) {
        CoreLayer *layer = g_ptr_array_index(core->layers, i);

        core_router_forget(core->router, &layer->origin);
    }
    core_router_free(core->router);
    for (guint i = 0; i < core->layers->len; i++) {
        layer_free(g_ptr_array_index(core->layers, i));
    }
    g_ptr_array_unref(core->layers);
    g_array_unref(core->taps);
    g_ptr_array_unref(core->capabilities);
    if (core->greeting) {
        g_string_free(core->greeting, TRUE);
    }
    if (core->opts.allow_uids) {
        g_array_unref(core->opts.allow_uids);
    }
    g_free(core->upstream_path);
    g_free(core->listen_path);
    g_free(core);
}

/* ---- starting: QEMU, then the layers, then clients ---- */

static void start_next_layer(Core *core)
{
    if (core->stopping) {
        return;
    }
    if (core->started == core->layers->len) {
        g_message("serving clients on %s", core_listener_path(core->listener));
        core_listener_start(core->listener, core);
        return;
    }
    CoreLayer *layer = g_ptr_array_index(core->layers, core->started);
    if (layer->ops->start) {
        layer->ops->start(layer->data, layer);
    } else {
        core_layer_started(layer);
    }
}

void core_layer_started(CoreLayer *layer)
{
    Core *core = layer->core;

    g_return_if_fail(layer->index == core->started);
    core->started++;
    start_next_layer(core);
}

static void on_upstream_ready(CoreUpstream *up, const char *error, gpointer user_data)
{
    Core *core = user_data;

    if (error) {
        g_printerr("qmproxy: %s\n", error);
        finish(core, 1);
        return;
    }
    if (core_tapped(core, NULL)) {
        CoreCrossing c = { .dir = CORE_FROM_QEMU,
                           .kind = "greeting",
                           .latency_us = -1,
                           .msg = core_upstream_greeting_value(up) };
        core_tap(core, &c);
    }
    g_message("connected to QEMU at %s%s", core->upstream_path,
              core_upstream_offers(up, "oob") ? " (oob enabled)" : "");
    /* clients wait in the backlog until the layers know what QEMU has */
    start_next_layer(core);
}

static void on_upstream_message(CoreUpstream *up, QmpValue *msg, const char *raw, gsize len,
                                gpointer user_data)
{
    Core *core = user_data;

    core_router_upstream_message(core->router, msg, raw, len);
}

static gboolean grace_over(gpointer user_data)
{
    Core *core = user_data;

    core->grace_id = 0;
    g_message("%u client(s) still had output queued; closing anyway", core->clients->len);
    finish(core, 0);
    return G_SOURCE_REMOVE;
}

static void on_upstream_closed(CoreUpstream *up, const char *reason, gpointer user_data)
{
    Core *core = user_data;

    g_message("%s", reason);
    guint n = core_router_log_in_flight(core->router);
    if (n) {
        g_message("%u command(s) were in flight and will get no answer", n);
    }
    core->closing = TRUE;
    /* no new clients; the socket file goes now */
    g_clear_pointer(&core->listener, core_listener_free);
    if (core->clients->len == 0) {
        finish(core, 0);
        return;
    }
    for (guint i = 0; i < core->clients->len; i++) {
        core_client_close(g_ptr_array_index(core->clients, i), "QEMU went away");
    }
    core->grace_id = g_timeout_add(CLOSE_GRACE_MS, grace_over, core);
}

gboolean core_listen(Core *core, GError **error)
{
    GError *activation_error = NULL;

    core->listener = core_listener_new_activated(&activation_error);
    if (activation_error) {
        g_propagate_error(error, activation_error);
        return FALSE;
    }
    if (!core->listener && !core->listen_path) {
        g_set_error(error, CORE_ERROR, CORE_ERROR_INVALID,
                    "--listen is required: no socket was passed by systemd (LISTEN_PID is "
                    "not this process)");
        return FALSE;
    }
    if (!core->listener) {
        core->listener = core_listener_new(core->listen_path, core->opts.socket_mode, error);
    }
    return core->listener != NULL;
}

gboolean core_connect(Core *core, GError **error)
{
    if (!core->up) {
        core->up =
            core_upstream_new(core->upstream_path, core->opts.connect_timeout, on_upstream_ready,
                              on_upstream_message, on_upstream_closed, core);
    }
    return core_upstream_connect(core->up, error);
}

const char *core_listen_path(Core *core)
{
    return core->listener ? core_listener_path(core->listener) : NULL;
}

/* ---- what the core's parts ask of it ---- */

const CoreOptions *core_options(Core *core)
{
    return &core->opts;
}

gboolean core_pretty(Core *core)
{
    return core->up && core_upstream_is_pretty(core->up);
}

CoreRouter *core_router(Core *core)
{
    return core->router;
}

CoreUpstream *core_upstream(Core *core)
{
    return core->up;
}

gboolean core_stopping(Core *core)
{
    return core->stopping;
}

/* QEMU's greeting with the layers' capabilities added to its list,
 * spliced into QEMU's own text: re-writing it would reorder members that
 * share a hash bucket. QEMU's greeting as is when it has no list. */
static GString *make_greeting(Core *core)
{
    CoreUpstream *up = core->up;
    const GString *raw = core_upstream_greeting(up);
    GString *out = g_string_new(raw->str);
    QmpSpan qmp, caps;

    if (core->capabilities->len == 0 ||
        !qmp_value_dict_get_span(core_upstream_greeting_value(up), "QMP", &qmp)) {
        return out;
    }
    /* members are located one level deep: parse the inner object alone */
    g_autoptr(QmpValue) inner =
        qmp_json_parse(raw->str + qmp.value_start, qmp.value_end - qmp.value_start);
    QmpValue *list = inner && qmp_value_type(inner) == QMP_VALUE_DICT
                         ? qmp_value_dict_get(inner, "capabilities")
                         : NULL;
    if (!list || qmp_value_type(list) != QMP_VALUE_LIST ||
        !qmp_value_dict_get_span(inner, "capabilities", &caps)) {
        return out;
    }
    const char *open = raw->str + qmp.value_start + caps.value_start; /* '[' */
    gsize at = qmp.value_start + caps.value_end - 1;                  /* ']' */
    gsize lead = strspn(open + 1, " \r\n");
    g_autoptr(GString) insert = g_string_new(NULL);
    gboolean first = qmp_value_list_length(list) == 0;
    if (!first) {
        while (at > 0 && strchr(" \r\n", raw->str[at - 1])) {
            at--;
        }
    }
    for (guint i = 0; i < core->capabilities->len; i++) {
        if (!first) {
            /* after the last item, separated as QEMU separates items */
            g_string_append_c(insert, ',');
            g_string_append_len(insert, lead ? open + 1 : " ", lead ? (gssize)lead : 1);
        }
        qmp_json_write_string(insert, g_ptr_array_index(core->capabilities, i));
        first = FALSE;
    }
    g_string_insert(out, (gssize)at, insert->str);
    return out;
}

const GString *core_greeting(Core *core)
{
    if (!core->greeting) {
        core->greeting = make_greeting(core);
    }
    return core->greeting;
}

gboolean core_is_own_capability(Core *core, const char *name)
{
    for (guint i = 0; name && i < core->capabilities->len; i++) {
        if (strcmp(g_ptr_array_index(core->capabilities, i), name) == 0) {
            return TRUE;
        }
    }
    return FALSE;
}

/* ---- clients ---- */

void core_add_client(Core *core, guint number, int fd, CorePeer *peer)
{
    g_ptr_array_add(core->clients, core_client_new(core, number, fd, peer));
}

guint core_client_count(Core *core)
{
    return core->clients->len;
}

CoreClient *core_client_at(Core *core, guint i)
{
    return g_ptr_array_index(core->clients, i);
}

void core_remove_client(Core *core, CoreClient *client)
{
    g_ptr_array_remove_fast(core->clients, client);
    if (core->closing && core->clients->len == 0) {
        finish(core, 0);
    }
}

/* ---- layers ---- */

CoreLayer *core_push_layer(Core *core, const CoreLayerOps *ops, gpointer data)
{
    CoreLayer *layer = g_new0(CoreLayer, 1);

    layer->core = core;
    layer->ops = ops;
    layer->data = data;
    layer->index = core->layers->len;
    layer->commands = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    core_origin_init(&layer->origin, NULL);
    g_ptr_array_add(core->layers, layer);
    return layer;
}

guint core_layer_count(Core *core)
{
    return core->layers->len;
}

CoreLayer *core_layer_at(Core *core, guint index)
{
    return g_ptr_array_index(core->layers, index);
}

void core_layer_add_command(CoreLayer *layer, const char *name, CoreCommandFunc func)
{
    g_hash_table_insert(layer->commands, g_strdup(name), func);
}

gboolean core_has_command(Core *core, const char *name)
{
    for (guint i = 0; i < core->layers->len; i++) {
        CoreLayer *layer = g_ptr_array_index(core->layers, i);

        if (g_hash_table_contains(layer->commands, name)) {
            return TRUE;
        }
    }
    return FALSE;
}

void core_layer_add_capability(CoreLayer *layer, const char *name)
{
    g_ptr_array_add(layer->core->capabilities, g_strdup(name));
}

void core_layer_emit(CoreLayer *layer, const char *name, QmpValue *data, const char *capability)
{
    Core *core = layer->core;
    g_autoptr(QmpValue) owned = data;
    g_autoptr(QmpValue) event = qmp_value_new_dict();
    gint64 now = g_get_real_time();
    gboolean pretty = core_pretty(core);

    if (core->stopping) {
        return;
    }
    QmpValue *timestamp = qmp_value_new_dict();
    qmp_value_dict_add(timestamp, "seconds", qmp_value_new_int(now / G_USEC_PER_SEC));
    qmp_value_dict_add(timestamp, "microseconds", qmp_value_new_int(now % G_USEC_PER_SEC));
    qmp_value_dict_add(event, "timestamp", timestamp);
    qmp_value_dict_add(event, "event", qmp_value_new_string(name));
    if (data) {
        qmp_value_dict_add(event, "data", g_steal_pointer(&owned));
    }
    g_autofree char *json = qmp_json_to_string(event, pretty);
    g_autofree char *text = pretty ? qmp_monitor_text(json) : g_steal_pointer(&json);
    g_autofree char *line = g_strconcat(text, "\r\n", NULL);

    for (guint i = 0; i < core->clients->len; i++) {
        core_client_event(g_ptr_array_index(core->clients, i), event, line, strlen(line),
                          capability);
    }
}

/* ---- taps ---- */

void core_add_tap(Core *core, const CoreTapOps *ops, gpointer data)
{
    Tap tap = { ops, data };

    g_array_append_val(core->taps, tap);
}

gboolean core_tapped(Core *core, const char *name)
{
    for (guint i = 0; i < core->taps->len; i++) {
        Tap *tap = &g_array_index(core->taps, Tap, i);

        if (!tap->ops->wants || tap->ops->wants(tap->data, name)) {
            return TRUE;
        }
    }
    return FALSE;
}

void core_tap(Core *core, const CoreCrossing *crossing)
{
    for (guint i = 0; i < core->taps->len; i++) {
        Tap *tap = &g_array_index(core->taps, Tap, i);

        if (!tap->ops->wants || tap->ops->wants(tap->data, crossing->name)) {
            tap->ops->crossing(tap->data, crossing);
        }
    }
}

void core_tap_classify_reply(CoreCrossing *c, const QmpValue *msg)
{
    QmpValue *err = qmp_value_type(msg) == QMP_VALUE_DICT ? qmp_value_dict_get(msg, "error") : NULL;

    c->kind = "reply";
    if (err && qmp_value_type(err) == QMP_VALUE_DICT) {
        c->kind = "error";
        c->error = qmp_value_dict_get_string(err, "desc");
        c->error_class = qmp_value_dict_get_string(err, "class");
    }
}
