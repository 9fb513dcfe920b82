/* client.c - one client of the proxy, answered exactly as QEMU would.
 *
 * States: NEGOTIATING (greeting sent), READY (capabilities accepted).
 * What QEMU decides before it looks at a command (framing errors, the
 * shape of the request, negotiation) is decided here with QEMU's words;
 * everything else goes to QEMU itself.
 *
 * QEMU answers a client's in-band requests strictly in order, errors
 * included, so every in-band request takes a slot in a queue and replies
 * leave in slot order. Only exec-oob requests from a client that enabled
 * OOB skip the queue, as they do in QEMU.
 *
 * qmp_capabilities arguments are checked by QEMU: the proxy sends the
 * client's request to its own, already negotiated connection, where QEMU
 * runs the argument checks and then refuses with "already complete". Any
 * other answer is QEMU's verdict on the arguments and goes back as is. */
#include "proxy.h"

#include "conn.h"
#include "framer.h"
#include "manager.h"
#include "writer.h"

#include <string.h>
#include <unistd.h>

/* Requests a client may have outstanding (every one that takes a place in
 * its order: forwarded, the proxy's own, refused for their form) before
 * the proxy stops reading from it; QEMU itself stops reading a monitor at
 * 8 queued requests, parse errors included. */
#define MAX_IN_FLIGHT 64

#define CAPS_ALREADY_DONE "Capabilities negotiation is already complete, command ignored"

typedef enum {
    CLIENT_NEGOTIATING,
    CLIENT_READY,
} ClientState;

/* Every forwarded request takes a slot, in arrival order. An in-band
 * answer leaves only when every slot before it has: QEMU never answers an
 * in-band request before an OOB one it read earlier. OOB answers leave as
 * soon as they come; their slot then only marks the place. */
typedef struct {
    GString *text; /* NULL until answered */
    gboolean oob;
    gboolean sent;
    gboolean takes_fds; /* getfd, add-fd: the client's descriptors ride with it */
    /* for the trace: what was asked, and when it arrived */
    char *name;
    QmpValue *id;
    gint64 received_us;
    QmpValue *reply; /* QEMU's reply, when the answer is one */
} Slot;

struct ProxyClient {
    Proxy *proxy;
    guint number;
    ProxyPeer *peer;
    QmpConn *conn;
    ClientState state;
    gboolean oob;
    gboolean dm_events; /* enabled the device manager's capability */
    gboolean dropped;
    gboolean eof; /* the peer sent all it will send */
    guint drop_idle;

    GQueue slots;       /* of Slot, oldest first, until sent */
    GQueue oob_waiting; /* of Slot: the OOB ones not sent yet, oldest first */

    QmpValue *caps_request; /* the qmp_capabilities being checked */

    /* received with the client's bytes, not yet used: at most one batch
     * (QEMU's chardev too keeps only the latest), and no more is read
     * while a command that took a batch is out, so that a client holds
     * at most two batches' worth in the proxy */
    int *fds;
    guint n_fds;
    guint fd_commands;
};

static gboolean pretty(ProxyClient *client)
{
    return upstream_is_pretty(proxy_get_upstream(client->proxy));
}

static gboolean drop_now(gpointer data)
{
    ProxyClient *client = data;

    client->drop_idle = 0;
    proxy_remove_client(client->proxy, client);
    return G_SOURCE_REMOVE;
}

/* Gives up on the client. Deferred: callers may be walking the clients. */
static void drop(ProxyClient *client)
{
    if (client->dropped) {
        return;
    }
    client->dropped = TRUE;
    qmp_conn_set_reading(client->conn, FALSE);
    router_forget_client(proxy_get_router(client->proxy), client);
    client->drop_idle = g_idle_add_full(G_PRIORITY_DEFAULT, drop_now, client, NULL);
}

/* The bound (--client-queue-max) is on what a client leaves unread: a
 * reply larger than it reaches a client that reads it, and the client is
 * dropped only when it has left more than that of earlier output. */
static void send_text(ProxyClient *client, const char *text, gsize len)
{
    if (client->dropped) {
        return;
    }
    gsize unread = qmp_conn_queued(client->conn);
    if (unread > proxy_get_options(client->proxy)->client_queue_max) {
        g_message("client %u (pid %d) is not reading: %zu bytes queued for it; disconnecting",
                  client->number, (int)client->peer->pid, unread);
        drop(client);
        return;
    }
    qmp_conn_send(client->conn, text, len);
}

/* Like QEMU, which reads the end of input only after answering all that
 * came before it: once the peer is done sending and everything is
 * answered, close. */
static void maybe_finish(ProxyClient *client)
{
    if (client->eof && !client->dropped && g_queue_is_empty(&client->slots)) {
        qmp_conn_close(client->conn, "peer closed the connection");
    }
}

static void update_reading(ProxyClient *client)
{
    if (!client->dropped && !client->eof) {
        qmp_conn_set_reading(client->conn, client->slots.length < MAX_IN_FLIGHT &&
                                               !client->caps_request && !client->fd_commands);
    }
    maybe_finish(client);
}

/* Records what the client is sent; @name and @id are of its request. */
/* Records what the client is sent: @text, or QEMU's @reply as the
 * client gets it (with its own @id). @name and @id are of its request. */
static void trace_sent(ProxyClient *client, const char *kind, const char *name, const QmpValue *id,
                       gint64 received_us, const char *text, gsize len, QmpValue *reply)
{
    Trace *trace = proxy_get_trace(client->proxy);

    if (trace_wants(trace, name)) {
        TraceRecord r = { .dir = TRACE_PROXY_TO_CLIENT,
                          .kind = kind,
                          .client = client,
                          .name = name,
                          .id = id,
                          .latency_us = received_us ? g_get_monotonic_time() - received_us : -1,
                          .msg = reply,
                          .msg_with_client_id = reply != NULL,
                          .text = text,
                          .text_len = len };
        if (reply) {
            trace_classify_reply(&r, reply);
        }
        trace_record(trace, &r);
    }
}

static void trace_received(ProxyClient *client, const char *kind, const QmpRequest *req,
                           QmpValue *msg, gsize msg_size, const char *error, gint64 arrived_us)
{
    Trace *trace = proxy_get_trace(client->proxy);

    if (trace_wants(trace, req ? req->command : NULL)) {
        TraceRecord r = { .dir = TRACE_CLIENT_TO_PROXY,
                          .kind = kind,
                          .client = client,
                          .name = req ? req->command : NULL,
                          .id = req ? req->id : NULL,
                          .latency_us = -1,
                          .msg = msg,
                          .error = error,
                          .mono_us = arrived_us,
                          .msg_size = msg_size };
        trace_record(trace, &r);
    }
}

static Slot *slot_new(ProxyClient *client, gboolean oob, const QmpRequest *req, gint64 received_us)
{
    Slot *slot = g_new0(Slot, 1);

    slot->oob = oob;
    if (req) {
        slot->name = g_strdup(req->command);
        slot->id = req->id ? qmp_value_ref(req->id) : NULL;
    }
    slot->received_us = received_us;
    g_queue_push_tail(&client->slots, slot);
    if (oob) {
        g_queue_push_tail(&client->oob_waiting, slot);
    }
    return slot;
}

static void slot_free(Slot *slot)
{
    if (slot->text) {
        g_string_free(slot->text, TRUE);
    }
    g_free(slot->name);
    qmp_value_unref(slot->id);
    qmp_value_unref(slot->reply);
    g_free(slot);
}

static void slot_send(ProxyClient *client, Slot *slot, GString *text)
{
    trace_sent(client, NULL, slot->name, slot->id, slot->received_us, text->str, text->len,
               slot->reply);
    send_text(client, text->str, text->len);
}

/* QEMU runs exec-oob requests the moment it reads them, so their answers
 * leave in the order the requests came, whatever in-band work is pending:
 * an OOB answer waits only for earlier OOB requests still unanswered. */
static void flush_oob(ProxyClient *client)
{
    Slot *slot;

    while ((slot = g_queue_peek_head(&client->oob_waiting)) && slot->text) {
        g_queue_pop_head(&client->oob_waiting);
        slot_send(client, slot, slot->text);
        g_string_free(g_steal_pointer(&slot->text), TRUE);
        slot->sent = TRUE;
    }
}

/* In-band answers leave when every request before them is answered; each
 * slot is looked at once on its way out, whatever is queued. */
static void flush_slots(ProxyClient *client)
{
    Slot *slot;

    flush_oob(client);
    while ((slot = g_queue_peek_head(&client->slots)) &&
           (slot->sent || (!slot->oob && slot->text))) {
        g_queue_pop_head(&client->slots);
        if (!slot->sent) {
            slot_send(client, slot, slot->text);
        }
        slot_free(slot);
    }
}

/* Sets @slot's answer (taking @text) and sends what may go now; a
 * request answered makes room for the next. */
static void settle(ProxyClient *client, Slot *slot, GString *text)
{
    slot->text = text;
    flush_slots(client);
    update_reading(client);
}

/* One of the proxy's own commands (schema/qmproxy.json): checked here,
 * run by the device manager, which may answer later. */
static void answer_own_command(ProxyClient *client, gboolean in_band, const QmpRequest *req,
                               gint64 received_us)
{
    Slot *slot = slot_new(client, !in_band, req, received_us);
    g_autofree char *problem = NULL;

    if (req->oob) {
        /* as QEMU says of a command without allow-oob */
        problem = g_strdup_printf("The command %s does not support OOB", req->command);
    } else {
        schema_check_arguments(proxy_get_schema(client->proxy), req->command, req->arguments,
                               &problem);
    }
    if (problem) {
        settle(client, slot, qmp_reply_error(QMP_CLASS_GENERIC, problem, req->id, pretty(client)));
        return;
    }
    update_reading(client);
    manager_execute(proxy_get_manager(client->proxy), client, slot, req);
}

void proxy_client_answer(ProxyClient *client, gpointer slot, GString *text)
{
    settle(client, slot, text);
}

/* The proxy's own error answer to @req (NULL for unparsable input). */
static void answer_error(ProxyClient *client, gboolean in_band, const QmpRequest *req,
                         gint64 received_us, const char *klass, const char *desc)
{
    Slot *slot = slot_new(client, !in_band, req, received_us);

    settle(client, slot, qmp_reply_error(klass, desc, req ? req->id : NULL, pretty(client)));
}

void proxy_client_reply(ProxyClient *client, gpointer slot, GString *text, QmpValue *reply)
{
    Slot *s = slot;

    s->reply = qmp_value_ref(reply);
    if (s->takes_fds) {
        client->fd_commands--;
    }
    settle(client, s, text);
}

static gboolean is_already_done(QmpValue *reply)
{
    QmpValue *err = qmp_value_dict_get(reply, "error");

    return err && qmp_value_type(err) == QMP_VALUE_DICT &&
           g_strcmp0(qmp_value_dict_get_string(err, "class"), QMP_CLASS_COMMAND_NOT_FOUND) == 0 &&
           g_strcmp0(qmp_value_dict_get_string(err, "desc"), CAPS_ALREADY_DONE) == 0;
}

/* Whether qmp_capabilities @request enables the device manager's
 * capability. */
static gboolean enables_own_capability(QmpValue *request)
{
    QmpValue *args = qmp_value_dict_get(request, "arguments");
    QmpValue *enable =
        args && qmp_value_type(args) == QMP_VALUE_DICT ? qmp_value_dict_get(args, "enable") : NULL;

    if (!enable || qmp_value_type(enable) != QMP_VALUE_LIST) {
        return FALSE;
    }
    for (guint i = 0; i < qmp_value_list_length(enable); i++) {
        if (g_strcmp0(qmp_value_get_string(qmp_value_list_get(enable, i)), MANAGER_CAPABILITY) ==
            0) {
            return TRUE;
        }
    }
    return FALSE;
}

/* @request without the device manager's capability, which QEMU would not
 * take, in the list it checks. */
static QmpValue *without_own_capability(QmpValue *request)
{
    QmpValue *args = qmp_value_dict_get(request, "arguments");
    QmpValue *enable = qmp_value_dict_get(args, "enable");
    g_autoptr(QmpValue) rest = qmp_value_new_list();

    for (guint i = 0; i < qmp_value_list_length(enable); i++) {
        QmpValue *cap = qmp_value_list_get(enable, i);

        if (g_strcmp0(qmp_value_get_string(cap), MANAGER_CAPABILITY) != 0) {
            qmp_value_list_append(rest, qmp_value_ref(cap));
        }
    }
    g_autoptr(QmpValue) args_rest = qmp_value_dict_copy_replacing(args, "enable", rest);
    return qmp_value_dict_copy_replacing(request, "arguments", args_rest);
}

/* QEMU's qmp_caps_accept(): every capability asked for must be offered. */
static GString *accept_caps(ProxyClient *client, QmpValue *request)
{
    QmpValue *args = qmp_value_dict_get(request, "arguments");
    QmpValue *enable = args ? qmp_value_dict_get(args, "enable") : NULL;
    QmpValue *id = qmp_value_dict_get(request, "id");
    Upstream *up = proxy_get_upstream(client->proxy);
    g_autoptr(GString) unavailable = NULL;
    gboolean oob = FALSE;

    for (guint i = 0; enable && i < qmp_value_list_length(enable); i++) {
        const char *cap = qmp_value_get_string(qmp_value_list_get(enable, i));

        if (!cap || strcmp(cap, MANAGER_CAPABILITY) == 0) {
            continue; /* QEMU's argument check already refused non-strings */
        }
        if (!upstream_offers(up, cap)) {
            if (!unavailable) {
                unavailable = g_string_new(cap);
            } else {
                g_string_append_printf(unavailable, ", %s", cap);
            }
        }
        oob |= strcmp(cap, "oob") == 0;
    }
    if (unavailable) {
        g_autofree char *desc = g_strdup_printf("Capability %s not available", unavailable->str);

        return qmp_reply_error(QMP_CLASS_GENERIC, desc, id, pretty(client));
    }
    client->state = CLIENT_READY;
    client->oob = oob;
    client->dm_events = enables_own_capability(request);
    g_debug("client %u negotiated capabilities%s", client->number, oob ? " (oob)" : "");

    g_autoptr(QmpValue) empty = qmp_value_new_dict();
    return qmp_reply_return(empty, id, pretty(client));
}

void proxy_client_caps_checked(ProxyClient *client, gpointer slot, QmpValue *reply, GString *text)
{
    g_autoptr(QmpValue) request = g_steal_pointer(&client->caps_request);

    if (is_already_done(reply)) {
        /* QEMU accepted the arguments; the negotiation itself is ours */
        g_string_free(text, TRUE);
        text = accept_caps(client, request);
    }
    /* what the client sent meanwhile was not read: it is now */
    settle(client, slot, text);
}

static void take_fds(ProxyClient *client, int **fds, guint *n_fds)
{
    *fds = g_steal_pointer(&client->fds);
    *n_fds = client->n_fds;
    client->n_fds = 0;
}

static void close_fds(ProxyClient *client)
{
    for (guint i = 0; i < client->n_fds; i++) {
        close(client->fds[i]);
    }
    g_clear_pointer(&client->fds, g_free);
    client->n_fds = 0;
}

static void handle_message(ProxyClient *client, QmpValue *value, const char *raw, gsize len,
                           const char *error)
{
    Router *router = proxy_get_router(client->proxy);
    g_autofree char *problem = NULL;
    gint64 now = g_get_monotonic_time();
    QmpRequest req;

    if (error) {
        trace_received(client, "invalid", NULL, NULL, 0, error, now);
        answer_error(client, TRUE, NULL, now, QMP_CLASS_GENERIC, error);
        return;
    }
    /* QEMU runs exec-oob at once only for clients that enabled OOB; for
     * others it reads nothing new until the previous command is done. */
    gboolean in_band = !(client->oob && qmp_request_is_oob(value));

    if (!qmp_request_check(value, client->oob, &req, &problem)) {
        trace_received(client, "invalid", &req, value, len, problem, now);
        answer_error(client, in_band, &req, now, QMP_CLASS_GENERIC, problem);
        return;
    }
    trace_received(client, "command", &req, value, len, NULL, now);

    if (client->state == CLIENT_NEGOTIATING) {
        if (strcmp(req.command, "qmp_capabilities") != 0) {
            answer_error(client, in_band, &req, now, QMP_CLASS_COMMAND_NOT_FOUND,
                         "Expecting capabilities negotiation with 'qmp_capabilities'");
            return;
        }
        /* nothing more is read until QEMU has judged it */
        client->caps_request = qmp_value_ref(value);
        g_autoptr(QmpValue) check = NULL;
        g_autofree char *check_text = NULL;
        if (enables_own_capability(value)) {
            check = without_own_capability(value);
            check_text = qmp_json_to_string(check, FALSE);
            value = check;
            raw = check_text;
            len = strlen(check_text);
        }
        Slot *slot = slot_new(client, FALSE, &req, now);
        update_reading(client);
        router_forward(router, client, slot, ROUTE_CAPS_CHECK, &req, value, raw, len, NULL, 0, NULL,
                       NULL);
        return;
    }

    if (schema_has_command(proxy_get_schema(client->proxy), req.command)) {
        answer_own_command(client, in_band, &req, now);
        return;
    }

    /* QEMU's getfd and add-fd take the descriptors the client sent last */
    int *fds = NULL;
    guint n_fds = 0;
    /* (QEMU refuses them out of band; the descriptors then stay here for
     * the client's next getfd, as they would stay in QEMU) */
    if (!req.oob && (strcmp(req.command, "getfd") == 0 || strcmp(req.command, "add-fd") == 0)) {
        take_fds(client, &fds, &n_fds);
    }
    /* what a plain device_add leaves out, the device manager fills in */
    g_autoptr(GString) rewritten = NULL;
    g_autoptr(QmpValue) rewritten_msg = NULL;
    DmPlug *plug = NULL;
    if (strcmp(req.command, "device_add") == 0) {
        plug = dm_device_add(proxy_get_dm(client->proxy), value, raw, len, &rewritten);
        if (rewritten) {
            /* dm_device_add() checked that the new text parses */
            rewritten_msg = qmp_json_parse(rewritten->str, rewritten->len);
            value = rewritten_msg;
            raw = rewritten->str;
            len = rewritten->len;
            qmp_request_check(value, client->oob, &req, &problem);
        }
    }
    Slot *slot = slot_new(client, !in_band, &req, now);
    if (fds) {
        slot->takes_fds = TRUE;
        client->fd_commands++;
    }
    update_reading(client);
    router_forward(router, client, slot, ROUTE_COMMAND, &req, value, raw, len, fds, n_fds,
                   plug ? dm_plug_done : NULL, plug);
}

static void on_message(QmpConn *conn, QmpValue *value, const char *raw, gsize len,
                       const char *error, gpointer user_data)
{
    ProxyClient *client = user_data;

    if (client->dropped) {
        return;
    }
    handle_message(client, value, raw, len, error);
}

static void on_fds(QmpConn *conn, int *fds, guint n_fds, gpointer user_data)
{
    ProxyClient *client = user_data;

    /* like QEMU's socket chardev: a new batch replaces an unused one */
    close_fds(client);
    client->fds = fds;
    client->n_fds = n_fds;
    g_debug("client %u sent %u file descriptor(s)", client->number, n_fds);
}

static void on_eof(QmpConn *conn, gpointer user_data)
{
    ProxyClient *client = user_data;

    client->eof = TRUE;
    maybe_finish(client);
}

static void on_closed(QmpConn *conn, const char *reason, gpointer user_data)
{
    ProxyClient *client = user_data;

    g_message("client %u (pid %d) disconnected: %s", client->number, (int)client->peer->pid,
              reason);
    drop(client);
}

static const QmpConnCallbacks client_callbacks = {
    .message = on_message,
    .fds = on_fds,
    .eof = on_eof,
    .closed = on_closed,
};

ProxyClient *proxy_client_new(Proxy *proxy, guint number, int fd, ProxyPeer *peer)
{
    ProxyClient *client = g_new0(ProxyClient, 1);
    const GString *greeting = proxy_get_greeting(proxy);

    client->proxy = proxy;
    client->number = number;
    client->peer = peer;
    client->state = CLIENT_NEGOTIATING;
    g_queue_init(&client->slots);
    g_queue_init(&client->oob_waiting);
    client->conn = qmp_conn_new(fd, 0, &client_callbacks, client);
    trace_sent(client, "greeting", NULL, NULL, 0, greeting->str, greeting->len, NULL);
    send_text(client, greeting->str, greeting->len);
    return client;
}

void proxy_client_free(ProxyClient *client)
{
    if (!client) {
        return;
    }
    g_clear_handle_id(&client->drop_idle, g_source_remove);
    qmp_conn_free(client->conn);
    g_queue_clear(&client->oob_waiting);
    g_queue_clear_full(&client->slots, (GDestroyNotify)slot_free);
    qmp_value_unref(client->caps_request);
    close_fds(client);
    proxy_peer_free(client->peer);
    g_free(client);
}

guint proxy_client_get_number(const ProxyClient *client)
{
    return client->number;
}

const ProxyPeer *proxy_client_get_peer(const ProxyClient *client)
{
    return client->peer;
}

gboolean proxy_client_is_ready(const ProxyClient *client)
{
    return client->state == CLIENT_READY && !client->dropped;
}

void proxy_client_event(ProxyClient *client, QmpValue *msg, const char *raw, gsize len)
{
    Trace *trace = proxy_get_trace(client->proxy);
    const char *name = qmp_value_dict_get_string(msg, "event");

    /* the proxy's own events go to those who asked for them */
    if (!proxy_client_is_ready(client) ||
        (!client->dm_events && g_str_has_prefix(name, "__org.qmproxy_"))) {
        return;
    }
    if (trace_wants(trace, name)) {
        TraceRecord r = { TRACE_PROXY_TO_CLIENT, "event",    client,         name,
                          .latency_us = -1,      .msg = msg, .msg_size = len };
        trace_record(trace, &r);
    }
    send_text(client, raw, len);
}

void proxy_client_close(ProxyClient *client, const char *reason)
{
    if (!client->dropped) {
        qmp_conn_close(client->conn, reason);
    }
}

void proxy_event_to_client(gpointer client, gpointer event)
{
    ProxyEvent *ev = event;

    proxy_client_event(client, ev->msg, ev->text, ev->len);
}
