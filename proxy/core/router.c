/* router.c - requests to QEMU in fair turns, replies back to them.
 *
 * QEMU answers the in-band commands of one monitor strictly in the order
 * it read them (the QMP spec, "Out-of-band execution"), so they go to QEMU
 * with no id at all and their replies are matched by order: QEMU reads its
 * monitor a byte per system call, and every byte costs latency. Only
 * exec-oob commands, which may overtake, carry an id, the router's own
 * (the smallest free), so that ids from different clients never collide.
 * A reply's text keeps QEMU's bytes; the client's id is put back where
 * QEMU would have put it, written as QEMU would have echoed it (request.c).
 * Events go to the layers, then to every negotiated client, unchanged.
 *
 * QEMU runs one command at a time. Were every request forwarded at once,
 * an origin pipelining slow commands would put all others behind them;
 * QEMU itself serves its monitors round-robin. So in-band commands wait
 * in a backlog per origin (a client, or a layer's own commands) and enter
 * QEMU a few at a time, taking turns origin by origin. OOB commands skip
 * the line, as they do in QEMU. */
#include "core-internal.h"

#include "writer.h"

#include <string.h>

/* In-band commands handed to QEMU at once: enough to keep it busy while
 * the next reply travels (QEMU itself queues up to 8 per monitor). */
#define UPSTREAM_WINDOW 4

struct CoreRouter {
    Core *core;
    GQueue in_band;  /* of CoreRequest QEMU has, in the order it answers them */
    GHashTable *oob; /* upstream id -> CoreRequest, for exec-oob QEMU has */
    GQueue turns;    /* of CoreOrigin with commands waiting */
    guint sent;      /* commands sent so far: their numbers in the trace */
    /* QEMU's socket keeps only the latest batch of descriptors until a
     * getfd or add-fd takes it: one such command in QEMU at a time, or a
     * client's descriptors could go to another's command */
    gboolean fd_command_upstream;
    GQueue fd_gate; /* of CoreOrigin whose next command takes descriptors */
    gboolean debug; /* g_debug() formats even when it prints nothing */
};

CoreRouter *core_router_new(Core *core)
{
    CoreRouter *router = g_new0(CoreRouter, 1);

    router->core = core;
    router->debug = !g_log_writer_default_would_drop(G_LOG_LEVEL_DEBUG, G_LOG_DOMAIN);
    router->oob = g_hash_table_new_full(NULL, NULL, NULL, (GDestroyNotify)core_request_unref);
    g_queue_init(&router->in_band);
    g_queue_init(&router->turns);
    g_queue_init(&router->fd_gate);
    return router;
}

void core_router_free(CoreRouter *router)
{
    if (!router) {
        return;
    }
    g_queue_clear(&router->turns);
    g_queue_clear(&router->fd_gate);
    g_queue_clear_full(&router->in_band, (GDestroyNotify)core_request_unref);
    g_hash_table_unref(router->oob);
    g_free(router);
}

static guint origin_number(const CoreOrigin *origin)
{
    return origin ? origin->number : 0;
}

/* Sends @req: in-band without an id, exec-oob under the smallest id
 * free, so that it stays a digit or two however long the proxy runs. */
static void send_request(CoreRouter *router, CoreRequest *req)
{
    char id_text[16];
    g_autoptr(GString) text = NULL;

    req->state = REQ_UPSTREAM;
    if (req->oob) {
        guint id = 1;

        while (g_hash_table_contains(router->oob, GUINT_TO_POINTER(id))) {
            id++;
        }
        g_hash_table_insert(router->oob, GUINT_TO_POINTER(id), req);
        req->upstream_id = id;
        g_snprintf(id_text, sizeof(id_text), "%u", id);
        text = qmp_message_with_id(req->text->str, req->text->len, req->msg, id_text);
    } else {
        g_queue_push_tail(&router->in_band, req);
        req->upstream_id = ++router->sent;
        text = qmp_message_with_id(req->text->str, req->text->len, req->msg, NULL);
    }
    if (router->debug) {
        g_debug("client %u -> QEMU: %s (%s %u)", origin_number(req->origin), req->command,
                req->oob ? "id" : "in order", req->upstream_id);
    }
    if (req->traced && core_taps_want(router->core->taps, req->command)) {
        CoreCrossing c = { .dir = CORE_TO_QEMU,
                           .kind = "command",
                           .client = core_request_client(req),
                           .name = req->command,
                           .id = req->client_id,
                           .upstream_id = req->upstream_id,
                           .by_proxy = req->by_proxy,
                           .latency_us = -1,
                           .msg = req->msg,
                           .msg_size = req->text->len };
        core_taps_show(router->core->taps, &c);
    }
    core_upstream_send(router->core->up, text->str, text->len, g_steal_pointer(&req->fds),
                       req->n_fds);
    req->n_fds = 0;
}

/* Lets waiting commands into QEMU, one origin at a time. */
static void pump(CoreRouter *router)
{
    CoreOrigin *o;

    while (router->in_band.length < UPSTREAM_WINDOW && (o = g_queue_pop_head(&router->turns))) {
        CoreRequest *head = g_queue_peek_head(&o->waiting);

        if (head->takes_fds && router->fd_command_upstream) {
            o->queued = FALSE;
            g_queue_push_tail(&router->fd_gate, o);
            continue;
        }
        router->fd_command_upstream |= head->takes_fds;
        send_request(router, g_queue_pop_head(&o->waiting));
        if (g_queue_is_empty(&o->waiting)) {
            o->queued = FALSE;
        } else {
            g_queue_push_tail(&router->turns, o);
        }
    }
}

void core_router_submit(CoreRouter *router, CoreRequest *req)
{
    CoreOrigin *o = req->origin;

    core_request_ref(req);
    if (req->oob) {
        send_request(router, req);
        return;
    }
    g_queue_push_tail(&o->waiting, req);
    if (!o->queued) {
        o->queued = TRUE;
        g_queue_push_tail(&router->turns, o);
    }
    pump(router);
}

/* The command @msg answers: by its id for exec-oob, else the oldest
 * in-band command QEMU has. */
static CoreRequest *take_request(CoreRouter *router, QmpValue *msg)
{
    QmpValue *id = qmp_value_dict_get(msg, "id");
    guint64 key;

    if (!id) {
        return g_queue_pop_head(&router->in_band);
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
    CoreRequest *req = g_hash_table_lookup(router->oob, GUINT_TO_POINTER((guint)key));
    if (req) {
        g_hash_table_steal(router->oob, GUINT_TO_POINTER((guint)key));
    }
    return req;
}

/* An event: traced here, then the core's (to the layers, then clients). */
static void upstream_event(CoreRouter *router, QmpValue *msg, const char *raw, gsize len)
{
    Core *core = router->core;
    const char *name = qmp_value_dict_get_string(msg, "event");

    if (core_taps_want(core->taps, name)) {
        CoreCrossing c = {
            .dir = CORE_FROM_QEMU,
            .kind = "event",
            .name = name,
            .latency_us = -1,
            .msg = msg,
            .msg_size = len,
        };
        core_taps_show(core->taps, &c);
    }
    core->event(core, msg, raw, len);
}

void core_router_upstream_message(CoreRouter *router, QmpValue *msg, const char *raw, gsize len)
{
    if (qmp_value_type(msg) != QMP_VALUE_DICT) {
        g_warning("upstream sent a non-object message; ignored");
        return;
    }
    if (qmp_value_dict_get(msg, "event")) {
        upstream_event(router, msg, raw, len);
        return;
    }

    CoreRequest *req = take_request(router, msg);
    if (!req) {
        g_warning("upstream sent a reply for no command of ours: %.*s", (int)MIN(len, 200), raw);
        return;
    }
    if (req->traced && core_taps_want(router->core->taps, req->command)) {
        CoreCrossing c = { .dir = CORE_FROM_QEMU,
                           .client = core_request_client(req),
                           .name = req->command,
                           .id = req->client_id,
                           .upstream_id = req->upstream_id,
                           .latency_us = g_get_monotonic_time() - req->received_us,
                           .msg = msg,
                           .by_proxy = req->by_proxy,
                           .msg_size = len };
        core_taps_classify_reply(&c, msg);
        core_taps_show(router->core->taps, &c);
    }
    if (req->takes_fds) {
        CoreOrigin *o;

        router->fd_command_upstream = FALSE;
        while ((o = g_queue_pop_head(&router->fd_gate))) {
            if (!o->queued) {
                o->queued = TRUE;
                g_queue_push_tail(&router->turns, o);
            }
        }
    }
    if (router->debug) {
        g_debug("client %u: %s answered in %" G_GINT64_FORMAT " us", origin_number(req->origin),
                req->command, g_get_monotonic_time() - req->received_us);
    }
    core_request_replied(req, msg, raw, len);
    core_request_unref(req);
    pump(router);
}

void core_router_forget(CoreRouter *router, CoreOrigin *origin)
{
    CoreRequest *req;

    /* what never reached QEMU never will */
    g_queue_remove(&router->turns, origin);
    g_queue_remove(&router->fd_gate, origin);
    origin->queued = FALSE;
    while ((req = g_queue_pop_head(&origin->waiting))) {
        req->origin = NULL;
        core_request_unref(req);
    }
}

static void log_request(CoreRequest *req, const char *where)
{
    g_autofree char *id = req->client_id ? qmp_json_to_string(req->client_id, FALSE) : NULL;

    if (core_request_client(req) && !req->sender) {
        g_message("%s when QEMU went away: client %u, %s, id %s", where, req->client->number,
                  req->command, id ? id : "(none)");
    } else if (!req->sender) {
        g_message("%s when QEMU went away: %s, id %s, from a client that left", where, req->command,
                  id ? id : "(none)");
    } else {
        g_message("%s when QEMU went away: %s, made by the proxy", where, req->command);
    }
}

guint core_router_log_in_flight(CoreRouter *router)
{
    GHashTableIter iter;
    CoreRequest *req;
    guint n = g_hash_table_size(router->oob) + router->in_band.length;

    for (GList *l = router->in_band.head; l; l = l->next) {
        log_request(l->data, "in flight");
    }
    g_hash_table_iter_init(&iter, router->oob);
    while (g_hash_table_iter_next(&iter, NULL, (gpointer *)&req)) {
        log_request(req, "in flight");
    }
    for (GList *l = router->turns.head; l; l = l->next) {
        CoreOrigin *o = l->data;

        for (GList *w = o->waiting.head; w; w = w->next, n++) {
            log_request(w->data, "waiting to be sent");
        }
    }
    return n;
}
