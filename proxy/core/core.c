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

#include <errno.h>
#include <fcntl.h>
#include <glib-unix.h>
#include <string.h>
#include <unistd.h>

#define CLOSE_GRACE_MS 2000

static void finish(Core *core, int status)
{
    if (!core->done) {
        core->done = TRUE;
        core->finished(core->finished_data, status);
    }
}

/* ---- what the files below ask of the core ---- */

static void submit(Core *core, CoreRequest *req)
{
    core_router_submit(core->router, req);
}

static void client_gone(Core *core, CoreClient *client)
{
    g_ptr_array_remove_fast(core->clients, client);
    if (core->closing && core->clients->len == 0) {
        finish(core, 0);
    }
}

/* An event from QEMU: to the layers, nearest QEMU first, then to every
 * client. */
static void event(Core *core, QmpValue *msg, const char *raw, gsize len)
{
    g_autoptr(GString) text = g_string_sized_new(len + 2);

    for (guint i = 0; i < core->layers->len; i++) {
        CoreLayer *layer = g_ptr_array_index(core->layers, i);

        if (layer->ops->event && !core->stopping) {
            layer->ops->event(layer->data, msg);
        }
    }
    g_string_append_len(text, raw, (gssize)len);
    g_string_append(text, "\r\n");
    for (guint i = 0; i < core->clients->len; i++) {
        core_client_event(g_ptr_array_index(core->clients, i), msg, text->str, text->len, NULL);
    }
}

/* The policies a client is held to: its socket's, and those of the peer
 * rules naming its uid or gid; full ones need no check. */
static GPtrArray *policies_for(Core *core, const CorePeer *peer, const CorePolicy *socket)
{
    GPtrArray *policies = g_ptr_array_new();
    GArray *rules = core->opts.peer_rules;

    if (socket && !core_policy_is_full(socket)) {
        g_ptr_array_add(policies, (gpointer)socket);
    }
    for (guint i = 0; rules && i < rules->len; i++) {
        const CorePeerRule *r = &g_array_index(rules, CorePeerRule, i);

        if ((r->gid ? peer->gid : peer->uid) == r->id && !core_policy_is_full(r->policy)) {
            g_ptr_array_add(policies, (gpointer)r->policy);
        }
    }
    return policies;
}

static void accepted(gpointer data, guint number, int fd, CorePeer *peer, const CorePolicy *policy)
{
    Core *core = data;

    if (core->clients->len >= core->opts.max_clients) {
        g_message("client %u refused: pid %d uid %u (%s): already %u clients (--max-clients)",
                  number, (int)peer->pid, (unsigned)peer->uid, peer->exe, core->opts.max_clients);
        close(fd);
        core_peer_free(peer);
        return;
    }
    GPtrArray *policies = policies_for(core, peer, policy);
    g_autoptr(GString) held = g_string_new(NULL);
    for (guint i = 0; i < policies->len; i++) {
        g_string_append_printf(held, "%s%s", i ? ", " : "; policy ",
                               core_policy_name(g_ptr_array_index(policies, i)));
    }
    g_message("client %u connected: pid %d uid %u gid %u (%s)%s", number, (int)peer->pid,
              (unsigned)peer->uid, (unsigned)peer->gid, peer->exe, held->str);
    g_ptr_array_add(core->clients, core_client_new(core, number, fd, peer, policies));
}

/* ---- the core's life ---- */

Core *core_new(const CoreOptions *options, CoreFinished finished, gpointer data)
{
    Core *core = g_new0(Core, 1);

    core->opts = *options;
    core->upstream_path = g_strdup(options->upstream_path);
    core->listen_path = g_strdup(options->listen_path);
    core->opts.upstream_path = core->upstream_path;
    core->opts.listen_path = core->listen_path;
    core->opts.allow_uids = options->allow_uids ? g_array_ref(options->allow_uids) : NULL;
    core->opts.peer_rules = options->peer_rules ? g_array_ref(options->peer_rules) : NULL;
    core->finished = finished;
    core->finished_data = data;
    core->submit = submit;
    core->client_gone = client_gone;
    core->event = event;
    core->router = core_router_new(core);
    core->taps = core_taps_new();
    core->clients = g_ptr_array_new_with_free_func((GDestroyNotify)core_client_drop);
    core->listeners = g_ptr_array_new_with_free_func((GDestroyNotify)core_listener_free);
    core->adopted = g_array_new(FALSE, FALSE, sizeof(int));
    core->next_client = 1;
    core->layers = g_ptr_array_new();
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
    g_ptr_array_unref(core->listeners);
    for (guint i = 0; i < core->adopted->len; i++) {
        close(g_array_index(core->adopted, int, i));
    }
    g_array_unref(core->adopted);
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
    core_taps_free(core->taps);
    g_ptr_array_unref(core->capabilities);
    if (core->greeting) {
        g_string_free(core->greeting, TRUE);
    }
    if (core->opts.allow_uids) {
        g_array_unref(core->opts.allow_uids);
    }
    if (core->opts.peer_rules) {
        g_array_unref(core->opts.peer_rules);
    }
    g_free(core->upstream_path);
    g_free(core->listen_path);
    g_free(core);
}

/* ---- starting: QEMU, then the layers, then clients ---- */

/* Clients in: those passed connected first, then the listeners'. */
static void serve(Core *core)
{
    for (guint i = 0; i < core->adopted->len; i++) {
        int fd = g_array_index(core->adopted, int, i);
        guint number = core->next_client++;
        CorePeer *peer = core_peer_new(fd);

        if (!peer) {
            g_warning("client %u: SO_PEERCRED failed (%s); refused", number, g_strerror(errno));
            close(fd);
            continue;
        }
        accepted(core, number, fd, peer, NULL);
    }
    g_array_set_size(core->adopted, 0);
    for (guint i = 0; i < core->listeners->len; i++) {
        CoreListener *l = g_ptr_array_index(core->listeners, i);

        g_message("serving clients on %s", core_listener_path(l));
        core_listener_start(l, core->opts.allow_uids, &core->next_client, accepted, core);
    }
    if (core->serving) {
        core->serving(core->serving_data);
    }
}

static void start_next_layer(Core *core)
{
    if (core->stopping) {
        return;
    }
    if (core->started == core->layers->len) {
        serve(core);
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
    if (core_taps_want(core->taps, NULL)) {
        CoreCrossing c = { .dir = CORE_FROM_QEMU,
                           .kind = "greeting",
                           .latency_us = -1,
                           .msg = core_upstream_greeting_value(up) };
        core_taps_show(core->taps, &c);
    }
    /* QEMU's, byte for byte: the QMP spec asks downstream not to offer
     * capabilities of its own, and strict clients refuse unknown ones;
     * the layers' are enabled by name (core_layer_add_capability()) */
    core->greeting = g_string_new(core_upstream_greeting(up)->str);
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
    /* no new clients; the socket files go now */
    g_ptr_array_set_size(core->listeners, 0);
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
    CoreListener *l = core_listener_new_activated(&activation_error);

    if (activation_error) {
        g_propagate_error(error, activation_error);
        return FALSE;
    }
    if (!l && !core->listen_path) {
        g_set_error(error, CORE_ERROR, CORE_ERROR_INVALID,
                    "--listen is required: no socket was passed by systemd (LISTEN_PID is "
                    "not this process)");
        return FALSE;
    }
    if (!l) {
        l = core_listener_new(core->listen_path, core->opts.socket_mode, core->opts.listen_policy,
                              error);
    } else {
        core_listener_set_policy(l, core->opts.listen_policy);
    }
    if (l) {
        g_ptr_array_add(core->listeners, l);
    }
    return l != NULL;
}

gboolean core_listen_also(Core *core, const char *path, const CorePolicy *policy, GError **error)
{
    CoreListener *l = core_listener_new(path, core->opts.socket_mode, policy, error);

    if (l) {
        g_ptr_array_add(core->listeners, l);
    }
    return l != NULL;
}

gboolean core_listen_fd(Core *core, int fd, GError **error)
{
    CoreListener *l = core_listener_new_fd(fd, error);

    if (l) {
        g_ptr_array_add(core->listeners, l);
    }
    return l != NULL;
}

void core_adopt_client(Core *core, int fd)
{
    g_unix_set_fd_nonblocking(fd, TRUE, NULL);
    fcntl(fd, F_SETFD, FD_CLOEXEC);
    g_array_append_val(core->adopted, fd);
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

void core_on_serving(Core *core, CoreServing func, gpointer data)
{
    core->serving = func;
    core->serving_data = data;
}

pid_t core_qemu_pid(Core *core)
{
    return core->up ? core_upstream_pid(core->up) : 0;
}

const char *core_listen_path(Core *core)
{
    return core->listeners->len ? core_listener_path(g_ptr_array_index(core->listeners, 0)) : NULL;
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
    core_origin_init(&layer->origin, NULL, NULL, 0);
    g_ptr_array_add(core->layers, layer);
    return layer;
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

void core_layer_send(CoreLayer *layer, QmpValue *cmd, CoreSendFlags flags, CoreClient *for_client,
                     CoreDone done, gpointer data)
{
    CoreRequest *req = core_request_new_for_layer(
        layer, cmd, flags, for_client ? core_client_origin(for_client) : NULL, done, data);

    if (layer->core->stopping) {
        core_request_unref(req); /* answered with NULL */
        return;
    }
    core_request_submit(req, &layer->origin);
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
    core_taps_add(core->taps, ops, data);
}
