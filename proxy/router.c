/* router.c - who gets which reply.
 *
 * Every command goes to QEMU under an id the router owns (a counter), so
 * ids from different clients never collide. The reply's text keeps QEMU's
 * bytes; only the id is put back as the client wrote it, serialised the
 * way QEMU would have echoed it (QEMU normalises numbers and key order),
 * or removed when the client sent none. Events go to every negotiated
 * client unchanged.
 *
 * QEMU runs one command at a time. Were every request forwarded at once,
 * a client pipelining slow commands would put all others behind them;
 * QEMU itself serves its monitors round-robin. So in-band commands wait
 * in a backlog per client and enter QEMU a few at a time, taking turns
 * client by client. OOB commands skip the line, as they do in QEMU. */
#include "proxy.h"

#include "framer.h"
#include "manager.h"
#include "writer.h"

#include <string.h>
#include <unistd.h>

/* In-band commands handed to QEMU at once: enough to keep it busy while
 * the next reply travels (QEMU itself queues up to 8 per monitor). */
#define UPSTREAM_WINDOW 4

/* One client request, from the moment it reaches the router until QEMU's
 * reply has been handed back. */
typedef struct {
    guint id; /* on the upstream connection; 0 until sent */
    gboolean oob;
    ProxyClient *client;     /* NULL once the client is gone */
    gboolean internal;       /* the proxy's own question: not traced */
    ProxyClient *for_client; /* a proxy command made for this client (trace only) */
    gboolean by_proxy;       /* made by router_ask() */
    gpointer slot;
    RouteKind kind;
    QmpValue *client_id; /* NULL when the client sent no id */
    char *command;
    gint64 received_us;
    /* until sent: the client's text and what was parsed from it */
    QmpValue *msg;
    char *raw;
    gsize raw_len;
    int *fds;
    guint n_fds;
    RouteDone done; /* called once, with the reply or NULL */
    gpointer done_data;
    /* unplug ordering: the device whose DEVICE_DELETED this waits for */
    Router *router;
    char *hold;
    guint hold_timer;
    gboolean hold_expired;
    char *unplugs;      /* a device_del's device */
    gboolean takes_fds; /* getfd, add-fd */
} Route;

typedef struct {
    ProxyClient *client;
    GQueue waiting;  /* of Route, oldest first */
    gboolean queued; /* in the round-robin */
} Backlog;

struct Router {
    Proxy *proxy;
    GHashTable *routes;   /* upstream id -> Route, for commands QEMU has */
    GHashTable *backlogs; /* ProxyClient -> Backlog */
    GQueue turns;         /* of Backlog with commands waiting */
    guint in_band_upstream;
    /* QEMU's socket keeps only the latest batch of descriptors until a
     * getfd or add-fd takes it: one such command in QEMU at a time, or a
     * client's descriptors could go to another's command */
    gboolean fd_command_upstream;
    GQueue fd_gate; /* of Backlog whose next command takes descriptors */
    gboolean debug; /* g_debug() formats even when it prints nothing */
};

static void route_free(Route *r)
{
    if (r->done) {
        r->done(r->done_data, NULL);
    }
    g_clear_handle_id(&r->hold_timer, g_source_remove);
    g_free(r->hold);
    g_free(r->unplugs);
    for (guint i = 0; i < r->n_fds; i++) {
        close(r->fds[i]);
    }
    g_free(r->fds);
    qmp_value_unref(r->msg);
    g_free(r->raw);
    qmp_value_unref(r->client_id);
    g_free(r->command);
    g_free(r);
}

static void backlog_free(Backlog *b)
{
    g_queue_clear_full(&b->waiting, (GDestroyNotify)route_free);
    g_free(b);
}

Router *router_new(Proxy *proxy)
{
    Router *router = g_new0(Router, 1);

    router->proxy = proxy;
    router->debug = !g_log_writer_default_would_drop(G_LOG_LEVEL_DEBUG, G_LOG_DOMAIN);
    router->routes = g_hash_table_new_full(NULL, NULL, NULL, (GDestroyNotify)route_free);
    router->backlogs = g_hash_table_new_full(NULL, NULL, NULL, (GDestroyNotify)backlog_free);
    g_queue_init(&router->turns);
    g_queue_init(&router->fd_gate);
    return router;
}

void router_free(Router *router)
{
    if (!router) {
        return;
    }
    g_queue_clear(&router->turns);
    g_queue_clear(&router->fd_gate);
    g_hash_table_unref(router->backlogs);
    g_hash_table_unref(router->routes);
    g_free(router);
}

/* QEMU reads its monitor a byte per system call, some 2 us a byte: the id
 * the router puts in a command is as short as it can be, the smallest one
 * free, so that it stays a digit or two however long the proxy runs. */
static void send_route(Router *router, Route *r)
{
    char id_text[16];

    r->id = 1;
    while (g_hash_table_contains(router->routes, GUINT_TO_POINTER(r->id))) {
        r->id++;
    }
    g_hash_table_insert(router->routes, GUINT_TO_POINTER(r->id), r);
    g_snprintf(id_text, sizeof(id_text), "%u", r->id);
    if (strcmp(r->command, "device_del") == 0) {
        QmpValue *args = qmp_value_dict_get(r->msg, "arguments");

        r->unplugs = g_strdup(args ? qmp_value_dict_get_string(args, "id") : NULL);
        dm_unplug_sent(proxy_get_dm(router->proxy), r->unplugs);
    }

    if (router->debug) {
        g_debug("client %u -> QEMU: %s as id %u",
                r->client ? proxy_client_get_number(r->client) : 0, r->command, r->id);
    }
    g_autoptr(GString) text = qmp_message_with_id(r->raw, r->raw_len, r->msg, id_text);
    Trace *trace = r->internal ? NULL : proxy_get_trace(router->proxy);
    if (trace_wants(trace, r->command)) {
        TraceRecord tr = { .dir = TRACE_PROXY_TO_QEMU,
                           .kind = "command",
                           .client = r->client ? r->client : r->for_client,
                           .name = r->command,
                           .id = r->client_id,
                           .upstream_id = r->id,
                           .by_proxy = r->by_proxy,
                           .latency_us = -1,
                           .msg = r->msg,
                           .msg_size = r->raw_len };
        trace_record(trace, &tr);
    }
    upstream_send(proxy_get_upstream(router->proxy), text->str, text->len, g_steal_pointer(&r->fds),
                  r->n_fds);
    r->n_fds = 0;
    g_clear_pointer(&r->msg, qmp_value_unref);
    g_clear_pointer(&r->raw, g_free);
}

static void pump(Router *router);

/* The command may go now: its client's backlog takes turns again. */
static void unhold(Router *router, Route *r)
{
    Backlog *b = r->client ? g_hash_table_lookup(router->backlogs, r->client) : NULL;

    g_clear_pointer(&r->hold, g_free);
    g_clear_handle_id(&r->hold_timer, g_source_remove);
    if (b && !b->queued) {
        b->queued = TRUE;
        g_queue_push_tail(&router->turns, b);
    }
    pump(router);
}

static gboolean on_hold_timeout(gpointer data)
{
    Route *r = data;

    r->hold_timer = 0;
    g_message("client %u: %s waited %u s for DEVICE_DELETED of %s; sending it as is",
              r->client ? proxy_client_get_number(r->client) : 0, r->command,
              proxy_get_options(r->router->proxy)->unplug_timeout, r->hold);
    r->hold_expired = TRUE;
    unhold(r->router, r);
    return G_SOURCE_REMOVE;
}

/* Only a backlog's first command can be held: it stops the rest. */
static void release_holds(Router *router, const char *device)
{
    GHashTableIter iter;
    Backlog *b;
    g_autoptr(GPtrArray) ready = g_ptr_array_new();

    g_hash_table_iter_init(&iter, router->backlogs);
    while (g_hash_table_iter_next(&iter, NULL, (gpointer *)&b)) {
        Route *r = g_queue_peek_head(&b->waiting);

        if (r && g_strcmp0(r->hold, device) == 0) {
            g_ptr_array_add(ready, r);
        }
    }
    for (guint i = 0; i < ready->len; i++) {
        unhold(router, g_ptr_array_index(ready, i));
    }
}

/* QEMU answers device_del before the device is gone, so removing a back
 * end it still uses fails ("Node X is in use"): such a command waits for
 * the device's DEVICE_DELETED, or --unplug-timeout, whichever is first. */
static gboolean must_wait(Router *router, Route *r)
{
    if (r->hold) {
        return TRUE;
    }
    if (r->hold_expired) {
        return FALSE;
    }
    QmpValue *args = qmp_value_dict_get(r->msg, "arguments");
    const char *busy = dm_backend_busy(proxy_get_dm(router->proxy), r->command, args);
    if (!busy) {
        return FALSE;
    }
    r->router = router;
    r->hold = g_strdup(busy);
    r->hold_timer =
        g_timeout_add_seconds(proxy_get_options(router->proxy)->unplug_timeout, on_hold_timeout, r);
    g_debug("client %u: %s waits for DEVICE_DELETED of %s",
            r->client ? proxy_client_get_number(r->client) : 0, r->command, busy);
    return TRUE;
}

/* Lets waiting commands into QEMU, one client at a time. */
static void pump(Router *router)
{
    Backlog *b;

    while (router->in_band_upstream < UPSTREAM_WINDOW && (b = g_queue_pop_head(&router->turns))) {
        Route *head = g_queue_peek_head(&b->waiting);

        if (must_wait(router, head)) {
            b->queued = FALSE; /* back in turn once released */
            continue;
        }
        if (head->takes_fds && router->fd_command_upstream) {
            b->queued = FALSE;
            g_queue_push_tail(&router->fd_gate, b);
            continue;
        }
        router->fd_command_upstream |= head->takes_fds;
        send_route(router, g_queue_pop_head(&b->waiting));
        router->in_band_upstream++;
        if (g_queue_is_empty(&b->waiting)) {
            b->queued = FALSE;
        } else {
            g_queue_push_tail(&router->turns, b);
        }
    }
}

static Route *route_new(ProxyClient *client, gpointer slot, RouteKind kind, const QmpRequest *req,
                        QmpValue *msg, const char *raw, gsize raw_len, int *fds, guint n_fds,
                        RouteDone done, gpointer done_data)
{
    Route *r = g_new0(Route, 1);

    r->done = done;
    r->done_data = done_data;
    r->internal = client == NULL;
    r->takes_fds = !req->oob && (g_strcmp0(req->command, "getfd") == 0 ||
                                 g_strcmp0(req->command, "add-fd") == 0);
    r->oob = req->oob;
    r->client = client;
    r->slot = slot;
    r->kind = kind;
    r->client_id = req->id ? qmp_value_ref(req->id) : NULL;
    r->command = g_strdup(req->command);
    r->received_us = g_get_monotonic_time();
    r->msg = qmp_value_ref(msg);
    r->raw = g_memdup2(raw, raw_len);
    r->raw_len = raw_len;
    r->fds = fds;
    r->n_fds = n_fds;
    return r;
}

static void submit(Router *router, Route *r)
{
    if (r->oob) {
        send_route(router, r);
        return;
    }

    Backlog *b = g_hash_table_lookup(router->backlogs, r->client);
    if (!b) {
        b = g_new0(Backlog, 1);
        b->client = r->client;
        g_queue_init(&b->waiting);
        g_hash_table_insert(router->backlogs, r->client, b);
    }
    g_queue_push_tail(&b->waiting, r);
    if (!b->queued) {
        b->queued = TRUE;
        g_queue_push_tail(&router->turns, b);
    }
    pump(router);
}

void router_forward(Router *router, ProxyClient *client, gpointer slot, RouteKind kind,
                    const QmpRequest *req, QmpValue *msg, const char *raw, gsize raw_len, int *fds,
                    guint n_fds, RouteDone done, gpointer done_data)
{
    submit(router,
           route_new(client, slot, kind, req, msg, raw, raw_len, fds, n_fds, done, done_data));
}

void router_ask(Router *router, const char *json, gsize len, gboolean traced,
                ProxyClient *for_client, RouteDone done, gpointer data)
{
    g_autoptr(QmpValue) msg = qmp_json_parse(json, len);
    g_autofree char *problem = NULL;
    QmpRequest req;

    g_assert(msg && qmp_request_check(msg, FALSE, &req, &problem));
    Route *r = route_new(NULL, NULL, ROUTE_COMMAND, &req, msg, json, len, NULL, 0, done, data);
    r->internal = !traced;
    r->by_proxy = TRUE;
    r->for_client = for_client;
    submit(router, r);
}

static Route *take_route(Router *router, QmpValue *msg)
{
    QmpValue *id = qmp_value_dict_get(msg, "id");
    guint64 key;

    if (!id) {
        return NULL;
    }
    switch (qmp_value_type(id)) {
    case QMP_VALUE_INT:
        key = (guint64)qmp_value_get_int(id);
        break;
    case QMP_VALUE_UINT:
        key = qmp_value_get_uint(id);
        break;
    default:
        return NULL;
    }
    if (key == 0 || key > G_MAXUINT) {
        return NULL;
    }
    Route *r = g_hash_table_lookup(router->routes, GUINT_TO_POINTER((guint)key));
    if (r) {
        g_hash_table_steal(router->routes, GUINT_TO_POINTER((guint)key));
    }
    return r;
}

/* A repeated device_del is refused while the first one's unplug goes on. */
static gboolean unplug_pending(QmpValue *reply)
{
    QmpValue *err = qmp_value_dict_get(reply, "error");
    const char *desc = err && qmp_value_type(err) == QMP_VALUE_DICT
                           ? qmp_value_dict_get_string(err, "desc")
                           : NULL;

    return desc && strstr(desc, "already in the process of unplug");
}

/* An event: to the device manager, then to every negotiated client. */
static void upstream_event(Router *router, QmpValue *msg, const char *raw, gsize len)
{
    Trace *trace = proxy_get_trace(router->proxy);
    const char *name = qmp_value_dict_get_string(msg, "event");
    g_autoptr(GString) text = g_string_sized_new(len + 2);

    if (trace_wants(trace, name)) {
        TraceRecord tr = { TRACE_QEMU_TO_PROXY, "event",    NULL,           name,
                           .latency_us = -1,    .msg = msg, .msg_size = len };
        trace_record(trace, &tr);
    }
    dm_event(proxy_get_dm(router->proxy), msg);
    manager_event(proxy_get_manager(router->proxy), msg);
    if (g_strcmp0(name, "DEVICE_DELETED") == 0) {
        QmpValue *data = qmp_value_dict_get(msg, "data");
        const char *device = data && qmp_value_type(data) == QMP_VALUE_DICT
                                 ? qmp_value_dict_get_string(data, "device")
                                 : NULL;

        if (device) {
            release_holds(router, device);
        }
    }
    g_string_append_len(text, raw, (gssize)len);
    g_string_append(text, "\r\n");
    ProxyEvent ev = { msg, text->str, text->len };
    proxy_foreach_client(router->proxy, proxy_event_to_client, &ev);
}

/* Introspection shows the proxy's own commands beside QEMU's: the reply
 * with the schema's entries appended, or NULL for any other reply. */
static GString *with_own_commands(Router *router, Route *r, QmpValue *msg, const char *raw,
                                  gsize len, gboolean pretty)
{
    Schema *schema = proxy_get_schema(router->proxy);
    g_autoptr(QmpValue) items = NULL;

    if (g_strcmp0(r->command, "query-commands") == 0) {
        items = schema_command_infos(schema);
    } else if (g_strcmp0(r->command, "query-qmp-schema") == 0) {
        items = schema_infos(schema);
    } else {
        return NULL;
    }
    return qmp_message_extend_return(raw, len, msg, items, pretty);
}

void router_upstream_message(Router *router, QmpValue *msg, const char *raw, gsize len)
{
    if (qmp_value_type(msg) != QMP_VALUE_DICT) {
        g_warning("upstream sent a non-object message; ignored");
        return;
    }
    if (qmp_value_dict_get(msg, "event")) {
        upstream_event(router, msg, raw, len);
        return;
    }

    Route *r = take_route(router, msg);
    if (!r) {
        g_warning("upstream sent a reply for no command of ours: %.*s", (int)MIN(len, 200), raw);
        return;
    }
    Trace *trace = proxy_get_trace(router->proxy);
    if (!r->internal && trace_wants(trace, r->command)) {
        TraceRecord tr = { TRACE_QEMU_TO_PROXY,
                           NULL,
                           r->client ? r->client : r->for_client,
                           r->command,
                           r->client_id,
                           r->id,
                           g_get_monotonic_time() - r->received_us,
                           msg,
                           .by_proxy = r->by_proxy,
                           .msg_size = len };
        trace_classify_reply(&tr, msg);
        trace_record(trace, &tr);
    }
    if (r->done) {
        r->done(r->done_data, msg);
        r->done = NULL;
    }
    if (r->unplugs && !qmp_value_dict_get(msg, "return") && !unplug_pending(msg)) {
        /* refused: nothing will be deleted, nothing need wait */
        dm_unplug_refused(proxy_get_dm(router->proxy), r->unplugs);
        release_holds(router, r->unplugs);
    }
    if (r->takes_fds) {
        Backlog *b;

        router->fd_command_upstream = FALSE;
        while ((b = g_queue_pop_head(&router->fd_gate))) {
            if (!b->queued) {
                b->queued = TRUE;
                g_queue_push_tail(&router->turns, b);
            }
        }
    }
    if (!r->oob) {
        router->in_band_upstream--;
        pump(router);
    }
    if (!r->client) {
        g_debug("reply to %s (id %u) for a client that left; dropped", r->command, r->id);
        route_free(r);
        return;
    }

    gboolean pretty = upstream_is_pretty(proxy_get_upstream(router->proxy));
    g_autoptr(GString) extended = with_own_commands(router, r, msg, raw, len, pretty);
    g_autoptr(QmpValue) extended_msg =
        extended ? qmp_json_parse(extended->str, extended->len) : NULL;
    if (extended_msg) {
        msg = extended_msg;
        raw = extended->str;
        len = extended->len;
    }
    g_autofree char *client_id = NULL;
    if (r->client_id) {
        g_autofree char *json = qmp_json_member_to_string(r->client_id, pretty);
        client_id = pretty ? qmp_monitor_text(json) : g_steal_pointer(&json);
    }
    GString *text = qmp_message_with_id(raw, len, msg, client_id);
    g_string_append(text, "\r\n");

    if (router->debug) {
        g_debug("client %u: %s answered in %" G_GINT64_FORMAT " us",
                proxy_client_get_number(r->client), r->command,
                g_get_monotonic_time() - r->received_us);
    }
    if (r->kind == ROUTE_CAPS_CHECK) {
        proxy_client_caps_checked(r->client, r->slot, msg, text);
    } else {
        proxy_client_reply(r->client, r->slot, text, msg);
    }
    route_free(r);
}

void router_forget_client(Router *router, ProxyClient *client)
{
    GHashTableIter iter;
    Route *r;
    Backlog *b = g_hash_table_lookup(router->backlogs, client);

    /* what never reached QEMU never will */
    if (b) {
        g_queue_remove(&router->turns, b);
        g_queue_remove(&router->fd_gate, b);
        g_hash_table_remove(router->backlogs, client);
    }
    g_hash_table_iter_init(&iter, router->routes);
    while (g_hash_table_iter_next(&iter, NULL, (gpointer *)&r)) {
        if (r->client == client) {
            r->client = NULL;
            r->slot = NULL;
        }
        if (r->for_client == client) {
            r->for_client = NULL;
        }
    }
    /* the proxy's commands made for it and not sent yet */
    b = g_hash_table_lookup(router->backlogs, NULL);
    for (GList *l = b ? b->waiting.head : NULL; l; l = l->next) {
        r = l->data;
        if (r->for_client == client) {
            r->for_client = NULL;
        }
    }
}

static void log_route(Route *r, const char *where)
{
    g_autofree char *id = r->client_id ? qmp_json_to_string(r->client_id, FALSE) : NULL;

    if (r->client) {
        g_message("%s when QEMU went away: client %u, %s, id %s", where,
                  proxy_client_get_number(r->client), r->command, id ? id : "(none)");
    } else {
        g_message("%s when QEMU went away: %s, id %s, from a client that left", where, r->command,
                  id ? id : "(none)");
    }
}

guint router_log_in_flight(Router *router)
{
    GHashTableIter iter;
    Route *r;
    Backlog *b;
    guint n = g_hash_table_size(router->routes);

    g_hash_table_iter_init(&iter, router->routes);
    while (g_hash_table_iter_next(&iter, NULL, (gpointer *)&r)) {
        log_route(r, "in flight");
    }
    g_hash_table_iter_init(&iter, router->backlogs);
    while (g_hash_table_iter_next(&iter, NULL, (gpointer *)&b)) {
        for (GList *l = b->waiting.head; l; l = l->next, n++) {
            log_route(l->data, "waiting to be sent");
        }
    }
    return n;
}
