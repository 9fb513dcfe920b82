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

#include "writer.h"

#include <string.h>
#include <unistd.h>

/* In-band commands handed to QEMU at once: enough to keep it busy while
 * the next reply travels (QEMU itself queues up to 8 per monitor). */
#define UPSTREAM_WINDOW 4

typedef struct {
    guint64 id;
    gboolean oob;
    ProxyClient *client; /* NULL once the client is gone */
    gpointer slot;
    RouteKind kind;
    QmpValue *client_id; /* NULL when the client sent no id */
    char *command;
    gint64 sent_us;
} Route;

/* A command waiting for its turn upstream. */
typedef struct {
    guint64 id;
    GString *text;
    int *fds;
    guint n_fds;
} Pending;

typedef struct {
    ProxyClient *client;
    GQueue pending;  /* of Pending, oldest first */
    gboolean queued; /* in the round-robin */
} Backlog;

struct Router {
    Proxy *proxy;
    guint64 next_id;
    GHashTable *routes;   /* id (as a pointer: 64-bit hosts) -> Route */
    GHashTable *backlogs; /* ProxyClient -> Backlog */
    GQueue turns;         /* of Backlog with commands waiting */
    guint in_band_upstream;
};

static void pending_free(Pending *p)
{
    for (guint i = 0; i < p->n_fds; i++) {
        close(p->fds[i]);
    }
    g_free(p->fds);
    g_string_free(p->text, TRUE);
    g_free(p);
}

static void backlog_free(Backlog *b)
{
    g_queue_clear_full(&b->pending, (GDestroyNotify)pending_free);
    g_free(b);
}

static void route_free(Route *r)
{
    qmp_value_unref(r->client_id);
    g_free(r->command);
    g_free(r);
}

Router *router_new(Proxy *proxy)
{
    Router *router = g_new0(Router, 1);

    router->proxy = proxy;
    router->next_id = 1;
    router->routes = g_hash_table_new_full(NULL, NULL, NULL, (GDestroyNotify)route_free);
    router->backlogs = g_hash_table_new_full(NULL, NULL, NULL, (GDestroyNotify)backlog_free);
    g_queue_init(&router->turns);
    return router;
}

void router_free(Router *router)
{
    if (!router) {
        return;
    }
    g_queue_clear(&router->turns);
    g_hash_table_unref(router->backlogs);
    g_hash_table_unref(router->routes);
    g_free(router);
}

static void send_upstream(Router *router, GString *text, int *fds, guint n_fds)
{
    upstream_send(proxy_get_upstream(router->proxy), text->str, text->len, fds, n_fds);
}

/* Lets waiting commands into QEMU, one client at a time. */
static void pump(Router *router)
{
    Backlog *b;

    while (router->in_band_upstream < UPSTREAM_WINDOW && (b = g_queue_pop_head(&router->turns))) {
        Pending *p = g_queue_pop_head(&b->pending);

        send_upstream(router, p->text, g_steal_pointer(&p->fds), p->n_fds);
        p->n_fds = 0;
        pending_free(p);
        router->in_band_upstream++;
        if (g_queue_is_empty(&b->pending)) {
            b->queued = FALSE;
        } else {
            g_queue_push_tail(&router->turns, b);
        }
    }
}

void router_forward(Router *router, ProxyClient *client, gpointer slot, RouteKind kind,
                    const QmpRequest *req, QmpValue *msg, const char *raw, gsize raw_len, int *fds,
                    guint n_fds)
{
    Route *r = g_new0(Route, 1);
    char id_text[24];

    r->id = router->next_id++;
    r->oob = req->oob;
    r->client = client;
    r->slot = slot;
    r->kind = kind;
    r->client_id = req->id ? qmp_value_ref(req->id) : NULL;
    r->command = g_strdup(req->command);
    r->sent_us = g_get_monotonic_time();
    g_hash_table_insert(router->routes, GSIZE_TO_POINTER(r->id), r);

    g_snprintf(id_text, sizeof(id_text), "%" G_GUINT64_FORMAT, r->id);
    GString *text = qmp_message_with_id(raw, raw_len, msg, id_text);
    g_string_append_c(text, '\n');
    if (r->oob) {
        send_upstream(router, text, fds, n_fds);
        g_string_free(text, TRUE);
        return;
    }

    Backlog *b = g_hash_table_lookup(router->backlogs, client);
    if (!b) {
        b = g_new0(Backlog, 1);
        b->client = client;
        g_queue_init(&b->pending);
        g_hash_table_insert(router->backlogs, client, b);
    }
    Pending *p = g_new0(Pending, 1);
    p->id = r->id;
    p->text = text;
    p->fds = fds;
    p->n_fds = n_fds;
    g_queue_push_tail(&b->pending, p);
    if (!b->queued) {
        b->queued = TRUE;
        g_queue_push_tail(&router->turns, b);
    }
    pump(router);
}

static Route *take_route(Router *router, QmpValue *msg)
{
    QmpValue *id = qmp_value_dict_get(msg, "id");
    gsize key;

    if (!id) {
        return NULL;
    }
    switch (qmp_value_type(id)) {
    case QMP_VALUE_INT:
        key = (gsize)qmp_value_get_int(id);
        break;
    case QMP_VALUE_UINT:
        key = (gsize)qmp_value_get_uint(id);
        break;
    default:
        return NULL;
    }
    Route *r = g_hash_table_lookup(router->routes, GSIZE_TO_POINTER(key));
    if (r) {
        g_hash_table_steal(router->routes, GSIZE_TO_POINTER(key));
    }
    return r;
}

static void send_event(gpointer data, gpointer user_data)
{
    ProxyClient *client = data;
    const GString *text = user_data;

    proxy_client_event(client, text->str, text->len);
}

void router_upstream_message(Router *router, QmpValue *msg, const char *raw, gsize len)
{
    if (qmp_value_type(msg) != QMP_VALUE_DICT) {
        g_warning("upstream sent a non-object message; ignored");
        return;
    }
    if (qmp_value_dict_get(msg, "event")) {
        g_autoptr(GString) text = g_string_sized_new(len + 2);

        g_string_append_len(text, raw, (gssize)len);
        g_string_append(text, "\r\n");
        proxy_foreach_client(router->proxy, send_event, text);
        return;
    }

    Route *r = take_route(router, msg);
    if (!r) {
        g_warning("upstream sent a reply for no command of ours: %.*s", (int)MIN(len, 200), raw);
        return;
    }
    if (!r->oob) {
        router->in_band_upstream--;
        pump(router);
    }
    if (!r->client) {
        g_debug("reply to %s (id %" G_GUINT64_FORMAT ") for a client that left; dropped",
                r->command, r->id);
        route_free(r);
        return;
    }

    g_autofree char *client_id = r->client_id ? qmp_json_to_string(r->client_id, FALSE) : NULL;
    if (client_id && upstream_is_pretty(proxy_get_upstream(router->proxy))) {
        g_free(client_id);
        client_id = qmp_json_to_string(r->client_id, TRUE);
    }
    GString *text = qmp_message_with_id(raw, len, msg, client_id);
    g_string_append(text, "\r\n");

    g_debug("client %u: %s answered in %" G_GINT64_FORMAT " us", proxy_client_get_number(r->client),
            r->command, g_get_monotonic_time() - r->sent_us);
    if (r->kind == ROUTE_CAPS_CHECK) {
        proxy_client_caps_checked(r->client, r->slot, msg, text);
    } else {
        proxy_client_reply(r->client, r->slot, text);
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
        for (GList *l = b->pending.head; l; l = l->next) {
            g_hash_table_remove(router->routes, GSIZE_TO_POINTER(((Pending *)l->data)->id));
        }
        g_queue_remove(&router->turns, b);
        g_hash_table_remove(router->backlogs, client);
    }

    g_hash_table_iter_init(&iter, router->routes);
    while (g_hash_table_iter_next(&iter, NULL, (gpointer *)&r)) {
        if (r->client == client) {
            r->client = NULL;
            r->slot = NULL;
        }
    }
}

guint router_log_in_flight(Router *router)
{
    GHashTableIter iter;
    Route *r;

    g_hash_table_iter_init(&iter, router->routes);
    while (g_hash_table_iter_next(&iter, NULL, (gpointer *)&r)) {
        g_autofree char *id = r->client_id ? qmp_json_to_string(r->client_id, FALSE) : NULL;

        if (r->client) {
            g_message("in flight when QEMU went away: client %u, %s, id %s",
                      proxy_client_get_number(r->client), r->command, id ? id : "(none)");
        } else {
            g_message("in flight when QEMU went away: %s, id %s, from a client that left",
                      r->command, id ? id : "(none)");
        }
    }
    return g_hash_table_size(router->routes);
}
