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
 * other answer is QEMU's verdict on the arguments and goes back as is.
 * Capabilities the layers add (downstream names) are taken out of what
 * QEMU checks and remembered for the client.
 *
 * Every other request goes down the stack of layers (request.c) and, for
 * most, on to QEMU. */
#include "core-internal.h"

#include "conn.h"
#include "framer.h"
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
    QmpValue *reply;        /* QEMU's reply, when the answer is one */
    CoreRequest *req;       /* the request it waits for, until answered */
    const char *refused_by; /* the policy that refused it, or NULL */
} Slot;

struct CoreClient {
    gint refs; /* the core's, and one per request that names it */
    Core *core;
    guint number;
    CorePeer *peer;
    QmpConn *conn;
    ClientState state;
    gboolean oob;
    GPtrArray *enabled;  /* downstream capabilities it enabled */
    GPtrArray *policies; /* of const CorePolicy: each must allow a command */
    gboolean dropped;
    gboolean gone; /* out of the core: only who it was is kept */
    gboolean eof;  /* the peer sent all it will send */
    guint drop_idle;
    CoreOrigin origin;

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

static gboolean pretty(CoreClient *client)
{
    return core_pretty(client->core);
}

static gboolean drop_now(gpointer data)
{
    CoreClient *client = data;

    client->drop_idle = 0;
    client->core->client_gone(client->core, client);
    return G_SOURCE_REMOVE;
}

/* Gives up on the client. Deferred: callers may be walking the clients. */
static void drop(CoreClient *client)
{
    if (client->dropped) {
        return;
    }
    client->dropped = TRUE;
    qmp_conn_set_reading(client->conn, FALSE);
    /* what never reached QEMU never will */
    core_origin_forget(&client->origin);
    core_router_forget(client->core->router, &client->origin);
    client->drop_idle = g_idle_add_full(G_PRIORITY_DEFAULT, drop_now, client, NULL);
}

/* The bound (--client-queue-max) is on what a client leaves unread: a
 * reply larger than it reaches a client that reads it, and the client is
 * dropped only when it has left more than that of earlier output. */
static void send_text(CoreClient *client, const char *text, gsize len)
{
    if (client->dropped) {
        return;
    }
    gsize unread = qmp_conn_queued(client->conn);
    if (unread > client->core->opts.client_queue_max) {
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
static void maybe_finish(CoreClient *client)
{
    if (client->eof && !client->dropped && g_queue_is_empty(&client->slots)) {
        qmp_conn_close(client->conn, "peer closed the connection");
    }
}

static void update_reading(CoreClient *client)
{
    if (!client->dropped && !client->eof) {
        qmp_conn_set_reading(client->conn, client->slots.length < MAX_IN_FLIGHT &&
                                               !client->caps_request && !client->fd_commands);
    }
    maybe_finish(client);
}

/* Records what the client is sent: @text, or QEMU's @reply as the
 * client gets it (with its own @id). @name and @id are of its request. */
static void tap_sent(CoreClient *client, const char *kind, const char *name, const QmpValue *id,
                     gint64 received_us, const char *text, gsize len, QmpValue *reply,
                     const char *refused_by)
{
    if (core_taps_want(client->core->taps, name)) {
        CoreCrossing c = { .dir = CORE_CLIENT_OUT,
                           .kind = kind,
                           .client = client,
                           .name = name,
                           .id = id,
                           .latency_us = received_us ? g_get_monotonic_time() - received_us : -1,
                           .msg = reply,
                           .msg_with_client_id = reply != NULL,
                           .text = text,
                           .text_len = len,
                           .refused_by = refused_by };
        if (reply) {
            core_taps_classify_reply(&c, reply);
        }
        core_taps_show(client->core->taps, &c);
    }
}

static void tap_received(CoreClient *client, const char *kind, const QmpRequest *req, QmpValue *msg,
                         gsize msg_size, const char *error, gint64 arrived_us)
{
    if (core_taps_want(client->core->taps, req ? req->command : NULL)) {
        CoreCrossing c = { .dir = CORE_CLIENT_IN,
                           .kind = kind,
                           .client = client,
                           .name = req ? req->command : NULL,
                           .id = req ? req->id : NULL,
                           .latency_us = -1,
                           .msg = msg,
                           .error = error,
                           .mono_us = arrived_us,
                           .msg_size = msg_size };
        core_taps_show(client->core->taps, &c);
    }
}

static Slot *slot_new(CoreClient *client, gboolean oob, const QmpRequest *req, gint64 received_us)
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
    if (slot->req) {
        slot->req->slot = NULL; /* the request outlives the client */
    }
    if (slot->text) {
        g_string_free(slot->text, TRUE);
    }
    g_free(slot->name);
    qmp_value_unref(slot->id);
    qmp_value_unref(slot->reply);
    g_free(slot);
}

static void slot_send(CoreClient *client, Slot *slot, GString *text)
{
    tap_sent(client, NULL, slot->name, slot->id, slot->received_us, text->str, text->len,
             slot->reply, slot->refused_by);
    send_text(client, text->str, text->len);
}

/* QEMU runs exec-oob requests the moment it reads them, so their answers
 * leave in the order the requests came, whatever in-band work is pending:
 * an OOB answer waits only for earlier OOB requests still unanswered. */
static void flush_oob(CoreClient *client)
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
static void flush_slots(CoreClient *client)
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
static void settle(CoreClient *client, Slot *slot, GString *text)
{
    slot->text = text;
    flush_slots(client);
    update_reading(client);
}

static void origin_unlink(CoreOrigin *origin, gpointer slot)
{
    ((Slot *)slot)->req = NULL;
}

static void origin_answer(CoreOrigin *origin, gpointer slot, GString *text, QmpValue *reply)
{
    CoreClient *client = origin->client;
    Slot *s = slot;

    s->req = NULL;
    s->reply = reply ? qmp_value_ref(reply) : NULL;
    if (s->takes_fds) {
        client->fd_commands--;
    }
    settle(client, s, text);
}

/* The proxy's own error answer to @req (NULL for unparsable input). */
static void answer_error(CoreClient *client, gboolean in_band, const QmpRequest *req,
                         gint64 received_us, const char *klass, const char *desc)
{
    Slot *slot = slot_new(client, !in_band, req, received_us);

    settle(client, slot, qmp_reply_error(klass, desc, req ? req->id : NULL, pretty(client)));
}

static gboolean is_already_done(QmpValue *reply)
{
    QmpValue *err = qmp_value_dict_get(reply, "error");

    return err && qmp_value_type(err) == QMP_VALUE_DICT &&
           g_strcmp0(qmp_value_dict_get_string(err, "class"), QMP_CLASS_COMMAND_NOT_FOUND) == 0 &&
           g_strcmp0(qmp_value_dict_get_string(err, "desc"), CAPS_ALREADY_DONE) == 0;
}

/* Whether @name is a capability a layer added. */
static gboolean own_capability(Core *core, const char *name)
{
    for (guint i = 0; name && i < core->capabilities->len; i++) {
        if (strcmp(g_ptr_array_index(core->capabilities, i), name) == 0) {
            return TRUE;
        }
    }
    return FALSE;
}

/* @request's "enable" list when it names a capability a layer added. */
static QmpValue *own_capabilities_in(Core *core, QmpValue *request)
{
    QmpValue *args = qmp_value_dict_get(request, "arguments");
    QmpValue *enable =
        args && qmp_value_type(args) == QMP_VALUE_DICT ? qmp_value_dict_get(args, "enable") : NULL;

    for (guint i = 0;
         enable && qmp_value_type(enable) == QMP_VALUE_LIST && i < qmp_value_list_length(enable);
         i++) {
        if (own_capability(core, qmp_value_get_string(qmp_value_list_get(enable, i)))) {
            return enable;
        }
    }
    return NULL;
}

/* @request without the capabilities the layers added, which QEMU would
 * not take, in the list it checks. */
static QmpValue *without_own_capabilities(Core *core, QmpValue *request)
{
    QmpValue *args = qmp_value_dict_get(request, "arguments");
    QmpValue *enable = qmp_value_dict_get(args, "enable");
    g_autoptr(QmpValue) rest = qmp_value_new_list();

    for (guint i = 0; i < qmp_value_list_length(enable); i++) {
        QmpValue *cap = qmp_value_list_get(enable, i);

        if (!own_capability(core, qmp_value_get_string(cap))) {
            qmp_value_list_append(rest, qmp_value_ref(cap));
        }
    }
    g_autoptr(QmpValue) args_rest = qmp_value_dict_copy_replacing(args, "enable", rest);
    return qmp_value_dict_copy_replacing(request, "arguments", args_rest);
}

/* QEMU's qmp_caps_accept(): every capability asked for must be offered. */
static GString *accept_caps(CoreClient *client, QmpValue *request)
{
    QmpValue *args = qmp_value_dict_get(request, "arguments");
    QmpValue *enable = args ? qmp_value_dict_get(args, "enable") : NULL;
    QmpValue *id = qmp_value_dict_get(request, "id");
    CoreUpstream *up = client->core->up;
    g_autoptr(GString) unavailable = NULL;
    g_autoptr(GPtrArray) own = g_ptr_array_new_with_free_func(g_free);
    gboolean oob = FALSE;

    for (guint i = 0; enable && i < qmp_value_list_length(enable); i++) {
        const char *cap = qmp_value_get_string(qmp_value_list_get(enable, i));

        if (!cap) {
            continue; /* QEMU's argument check already refused non-strings */
        }
        if (own_capability(client->core, cap)) {
            g_ptr_array_add(own, g_strdup(cap));
            continue;
        }
        if (!core_upstream_offers(up, cap)) {
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
    g_ptr_array_extend_and_steal(client->enabled, g_steal_pointer(&own));
    g_debug("client %u negotiated capabilities%s", client->number, oob ? " (oob)" : "");

    g_autoptr(QmpValue) empty = qmp_value_new_dict();
    return qmp_reply_return(empty, id, pretty(client));
}

static void origin_caps_checked(CoreOrigin *origin, gpointer slot, QmpValue *reply, GString *text)
{
    CoreClient *client = origin->client;
    g_autoptr(QmpValue) request = g_steal_pointer(&client->caps_request);

    ((Slot *)slot)->req = NULL;
    if (is_already_done(reply)) {
        /* QEMU accepted the arguments; the negotiation itself is ours */
        g_string_free(text, TRUE);
        text = accept_caps(client, request);
    }
    /* what the client sent meanwhile was not read: it is now */
    settle(client, slot, text);
}

static void take_fds(CoreClient *client, int **fds, guint *n_fds)
{
    *fds = g_steal_pointer(&client->fds);
    *n_fds = client->n_fds;
    client->n_fds = 0;
}

static void close_fds(CoreClient *client)
{
    for (guint i = 0; i < client->n_fds; i++) {
        close(client->fds[i]);
    }
    g_clear_pointer(&client->fds, g_free);
    client->n_fds = 0;
}

/* The policy of the client's that refuses @command, or NULL. */
static const CorePolicy *refusing(CoreClient *client, const char *command)
{
    for (guint i = 0; i < client->policies->len; i++) {
        const CorePolicy *p = g_ptr_array_index(client->policies, i);

        if (!core_policy_allows(p, command)) {
            return p;
        }
    }
    return NULL;
}

/* What a restricted client is told of the commands there are: only
 * those it may use, so that completion (qmp-shell asks query-commands)
 * and capability probes tell the truth. */
static void filter_introspection(gpointer data, CoreReply *reply)
{
    CoreClient *client = data;
    QmpValue *msg = core_reply_value(reply);
    QmpValue *list = msg ? qmp_value_dict_get(msg, "return") : NULL;

    if (!list || qmp_value_type(list) != QMP_VALUE_LIST) {
        return;
    }
    g_autoptr(QmpValue) kept = qmp_value_new_list();
    for (guint i = 0; i < qmp_value_list_length(list); i++) {
        QmpValue *entry = qmp_value_list_get(list, i);
        const char *name = qmp_value_dict_get_string(entry, "name");
        const char *meta = qmp_value_dict_get_string(entry, "meta-type");
        /* query-qmp-schema: commands only (events and types stay, as QEMU
         * does for -compat deprecated-output=hide); query-commands: all */
        gboolean command =
            !qmp_value_dict_get(entry, "meta-type") || g_strcmp0(meta, "command") == 0;

        if (!command || (name && !refusing(client, name))) {
            qmp_value_list_append(kept, qmp_value_ref(entry));
        }
    }
    core_reply_set_return(reply, g_steal_pointer(&kept));
}

static void handle_message(CoreClient *client, QmpValue *value, const char *raw, gsize len,
                           const char *error)
{
    g_autofree char *problem = NULL;
    gint64 now = g_get_monotonic_time();
    QmpRequest req;

    if (error) {
        tap_received(client, "invalid", NULL, NULL, 0, error, now);
        answer_error(client, TRUE, NULL, now, QMP_CLASS_GENERIC, error);
        return;
    }
    /* QEMU runs exec-oob at once only for clients that enabled OOB; for
     * others it reads nothing new until the previous command is done. */
    gboolean in_band = !(client->oob && qmp_request_is_oob(value));

    if (!qmp_request_check(value, client->oob, &req, &problem)) {
        tap_received(client, "invalid", &req, value, len, problem, now);
        answer_error(client, in_band, &req, now, QMP_CLASS_GENERIC, problem);
        return;
    }
    tap_received(client, "command", &req, value, len, NULL, now);

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
        if (own_capabilities_in(client->core, value)) {
            check = without_own_capabilities(client->core, value);
            check_text = qmp_json_to_string(check, FALSE);
            value = check;
            raw = check_text;
            len = strlen(check_text);
        }
        Slot *slot = slot_new(client, FALSE, &req, now);
        update_reading(client);
        CoreRequest *r = core_request_new(client->core, &client->origin, slot, &req, value, raw,
                                          len, NULL, 0, now);
        slot->req = r;
        r->caps_check = TRUE; /* to QEMU directly: the layers have nothing to do with it */
        r->origin = &client->origin;
        r->state = REQ_WAITING;
        core_router_submit(client->core->router, r);
        core_request_unref(r);
        return;
    }

    const CorePolicy *policy =
        strcmp(req.command, "qmp_capabilities") != 0 ? refusing(client, req.command) : NULL;
    if (policy) {
        /* QEMU's words for a command it has disabled */
        g_autofree char *desc =
            g_strdup_printf("Command %s has been disabled: the %s policy of this QMP socket does "
                            "not allow it",
                            req.command, core_policy_name(policy));
        Slot *slot = slot_new(client, !in_band, &req, now);

        slot->refused_by = core_policy_name(policy);
        g_message("client %u (pid %d): %s refused by policy %s", client->number,
                  (int)client->peer->pid, req.command, core_policy_name(policy));
        settle(client, slot,
               qmp_reply_error(QMP_CLASS_COMMAND_NOT_FOUND, desc, req.id, pretty(client)));
        return;
    }
    int *fds = NULL;
    guint n_fds = 0;
    /* (QEMU refuses them out of band; the descriptors then stay here for
     * the client's next getfd, as they would stay in QEMU) */
    if (!req.oob && (strcmp(req.command, "getfd") == 0 || strcmp(req.command, "add-fd") == 0)) {
        take_fds(client, &fds, &n_fds);
    }
    Slot *slot = slot_new(client, !in_band, &req, now);
    if (fds) {
        slot->takes_fds = TRUE;
        client->fd_commands++;
    }
    update_reading(client);
    CoreRequest *r = core_request_new(client->core, &client->origin, slot, &req, value, raw, len,
                                      fds, n_fds, now);
    slot->req = r;
    if (client->policies->len &&
        (!strcmp(req.command, "query-commands") || !strcmp(req.command, "query-qmp-schema"))) {
        /* added first: it runs last, on what the layers made of the reply */
        core_request_on_reply(r, filter_introspection, client);
    }
    core_request_submit(r, &client->origin);
}

static void on_message(QmpConn *conn, QmpValue *value, const char *raw, gsize len,
                       const char *error, gpointer user_data)
{
    CoreClient *client = user_data;

    if (client->dropped) {
        return;
    }
    handle_message(client, value, raw, len, error);
}

static void on_fds(QmpConn *conn, int *fds, guint n_fds, gpointer user_data)
{
    CoreClient *client = user_data;

    /* like QEMU's socket chardev: a new batch replaces an unused one */
    close_fds(client);
    client->fds = fds;
    client->n_fds = n_fds;
    if (refusing(client, "getfd") && refusing(client, "add-fd")) {
        /* no command of its may take them: they never reach QEMU */
        close_fds(client);
        return;
    }
    g_debug("client %u sent %u file descriptor(s)", client->number, n_fds);
}

static void on_eof(QmpConn *conn, gpointer user_data)
{
    CoreClient *client = user_data;

    client->eof = TRUE;
    maybe_finish(client);
}

static void on_closed(QmpConn *conn, const char *reason, gpointer user_data)
{
    CoreClient *client = user_data;

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

static void core_client_unref(CoreClient *client);

static void origin_ref(CoreOrigin *origin)
{
    core_client_ref(origin->client);
}

static void origin_unref(CoreOrigin *origin)
{
    core_client_unref(origin->client);
}

/* How requests reach back to the client. */
static const CoreOriginOps origin_ops = {
    .ref = origin_ref,
    .unref = origin_unref,
    .answer = origin_answer,
    .caps_checked = origin_caps_checked,
    .unlink = origin_unlink,
};

CoreClient *core_client_new(Core *core, guint number, int fd, CorePeer *peer, GPtrArray *policies)
{
    CoreClient *client = g_new0(CoreClient, 1);
    const GString *greeting = core->greeting;

    client->refs = 1;
    client->core = core;
    client->number = number;
    client->peer = peer;
    client->state = CLIENT_NEGOTIATING;
    client->enabled = g_ptr_array_new_with_free_func(g_free);
    client->policies = policies;
    g_queue_init(&client->slots);
    g_queue_init(&client->oob_waiting);
    core_origin_init(&client->origin, &origin_ops, client, number);
    client->conn = qmp_conn_new(fd, 0, &client_callbacks, client);
    tap_sent(client, "greeting", NULL, NULL, 0, greeting->str, greeting->len, NULL, NULL);
    send_text(client, greeting->str, greeting->len);
    return client;
}

CoreClient *core_client_ref(CoreClient *client)
{
    client->refs++;
    return client;
}

static void core_client_unref(CoreClient *client)
{
    if (client && --client->refs == 0) {
        g_ptr_array_unref(client->policies);
        core_peer_free(client->peer);
        g_free(client);
    }
}

void core_client_drop(CoreClient *client)
{
    if (!client || client->gone) {
        return;
    }
    if (!client->dropped) {
        core_origin_forget(&client->origin);
        core_router_forget(client->core->router, &client->origin);
    }
    client->gone = TRUE;
    client->origin.gone = TRUE;
    g_clear_handle_id(&client->drop_idle, g_source_remove);
    g_clear_pointer(&client->conn, qmp_conn_free);
    g_queue_clear(&client->oob_waiting);
    g_queue_clear_full(&client->slots, (GDestroyNotify)slot_free);
    g_clear_pointer(&client->caps_request, qmp_value_unref);
    g_clear_pointer(&client->enabled, g_ptr_array_unref);
    close_fds(client);
    core_client_unref(client);
}

CoreOrigin *core_client_origin(CoreClient *client)
{
    return &client->origin;
}

guint core_client_number(const CoreClient *client)
{
    return client->number;
}

const CorePeer *core_client_peer(const CoreClient *client)
{
    return client->peer;
}

gboolean core_client_is_ready(const CoreClient *client)
{
    return client->state == CLIENT_READY && !client->dropped && !client->gone;
}

static gboolean enabled(const CoreClient *client, const char *name)
{
    for (guint i = 0; client->enabled && i < client->enabled->len; i++) {
        if (strcmp(g_ptr_array_index(client->enabled, i), name) == 0) {
            return TRUE;
        }
    }
    return FALSE;
}

void core_client_event(CoreClient *client, QmpValue *msg, const char *text, gsize len,
                       const char *capability)
{
    const char *name = qmp_value_dict_get_string(msg, "event");

    /* a layer's events go to those who asked for them */
    if (!core_client_is_ready(client) || (capability && !enabled(client, capability))) {
        return;
    }
    if (core_taps_want(client->core->taps, name)) {
        CoreCrossing c = { .dir = CORE_CLIENT_OUT,
                           .kind = "event",
                           .client = client,
                           .name = name,
                           .latency_us = -1,
                           .msg = msg,
                           .msg_size = len };
        core_taps_show(client->core->taps, &c);
    }
    send_text(client, text, len);
}

void core_client_close(CoreClient *client, const char *reason)
{
    if (!client->dropped && !client->gone) {
        qmp_conn_close(client->conn, reason);
    }
}
