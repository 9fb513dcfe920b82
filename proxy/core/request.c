/* request.c - a request's way: down through the layers, each of which
 * may pass it on (rewritten or not), hold it and pass it on later, or
 * answer it; past the bottom into the router and to QEMU; and its reply
 * back up, through the hooks the layers left on the way down, to the
 * client or the layer it came from.
 *
 * In-band requests of one origin (a client, or a layer's own commands)
 * keep their order: while a layer holds one, the origin's later ones wait
 * to enter the stack, as they would wait behind it in QEMU. */
#include "core-internal.h"

#include "framer.h"
#include "writer.h"

#include <string.h>
#include <unistd.h>

static CoreRequest *request_alloc(Core *core)
{
    CoreRequest *req = g_new0(CoreRequest, 1);

    req->refs = 1;
    req->core = core;
    req->state = REQ_IN_STACK;
    req->on_reply = g_array_new(FALSE, FALSE, sizeof(CoreReplyHook));
    return req;
}

/* The hooks left on the way down learn that QEMU will not answer. */
static void drop_hooks(CoreRequest *req)
{
    GArray *hooks = g_steal_pointer(&req->on_reply);

    req->on_reply = g_array_new(FALSE, FALSE, sizeof(CoreReplyHook));
    for (guint i = hooks->len; i-- > 0;) {
        CoreReplyHook *h = &g_array_index(hooks, CoreReplyHook, i);
        CoreReply none = { NULL, NULL, FALSE };

        h->func(h->data, &none);
    }
    g_array_unref(hooks);
}

/* ... and the layer that sent it, that no answer will come at all. */
static void settle_unanswered(CoreRequest *req)
{
    drop_hooks(req);
    if (req->done) {
        CoreDone done = g_steal_pointer(&req->done);

        done(req->done_data, NULL);
    }
}

static void drop_deferred(CoreRequest *req)
{
    g_clear_pointer(&req->deferred_value, qmp_value_unref);
    if (req->deferred_text) {
        g_string_free(g_steal_pointer(&req->deferred_text), TRUE);
    }
}

static void request_free(CoreRequest *req)
{
    drop_deferred(req);
    if (req->state != REQ_DONE) {
        req->state = REQ_DONE;
        settle_unanswered(req);
    }
    if (req->slot) {
        req->client->ops->unlink(req->client, req->slot); /* dropped unanswered */
    }
    if (req->origin && req->origin->held == req) {
        req->origin->held = NULL; /* a layer let go of it without resuming it */
    }
    g_array_unref(req->on_reply);
    for (guint i = 0; i < req->n_fds; i++) {
        close(req->fds[i]);
    }
    g_free(req->fds);
    qmp_value_unref(req->msg);
    if (req->text) {
        g_string_free(req->text, TRUE);
    }
    g_free(req->command);
    qmp_value_unref(req->client_id);
    if (req->client) {
        req->client->ops->unref(req->client);
    }
    g_free(req);
}

CoreRequest *core_request_ref(CoreRequest *req)
{
    req->refs++;
    return req;
}

void core_request_unref(CoreRequest *req)
{
    if (req && --req->refs == 0) {
        request_free(req);
    }
}

static gboolean takes_fds(const char *command, gboolean oob)
{
    /* QEMU's getfd and add-fd take the descriptors the client sent last */
    return !oob && (strcmp(command, "getfd") == 0 || strcmp(command, "add-fd") == 0);
}

CoreRequest *core_request_new(Core *core, CoreOrigin *origin, gpointer slot, const QmpRequest *qr,
                              QmpValue *msg, const char *raw, gsize raw_len, int *fds, guint n_fds,
                              gint64 received_us)
{
    CoreRequest *req = request_alloc(core);

    origin->ops->ref(origin);
    req->client = origin;
    req->slot = slot;
    req->msg = qmp_value_ref(msg);
    req->text = g_string_new_len(raw, (gssize)raw_len);
    req->command = g_strdup(qr->command);
    req->client_id = qr->id ? qmp_value_ref(qr->id) : NULL;
    req->oob = qr->oob;
    req->traced = TRUE;
    req->fds = fds;
    req->n_fds = n_fds;
    req->takes_fds = takes_fds(qr->command, qr->oob);
    req->received_us = received_us;
    req->below = G_MAXUINT;
    return req;
}

CoreRequest *core_request_new_for_layer(CoreLayer *layer, QmpValue *cmd, CoreSendFlags flags,
                                        CoreOrigin *for_client, CoreDone done, gpointer data)
{
    g_autoptr(QmpValue) owned = cmd;
    CoreRequest *req = request_alloc(layer->core);
    g_autofree char *problem = NULL;
    QmpRequest qr;

    req->text = g_string_new(NULL);
    qmp_json_write_minimal(req->text, cmd);
    /* parsed back from its text: what the layers below and the router see
     * is what QEMU will read */
    req->msg = qmp_json_parse(req->text->str, req->text->len);
    g_assert(req->msg && qmp_request_check(req->msg, FALSE, &qr, &problem));
    req->command = g_strdup(qr.command);
    req->sender = layer;
    if (for_client) {
        for_client->ops->ref(for_client);
        req->client = for_client;
    }
    req->traced = (flags & CORE_SEND_TRACED) != 0;
    req->by_proxy = TRUE;
    req->done = done;
    req->done_data = data;
    req->received_us = g_get_monotonic_time();
    req->below = layer->index;
    return req;
}

/* Its origin may let the next one in: the request is past the stack. */
static void leave_stack(CoreRequest *req);

/* Meets the layers under @req->below in turn, then the router. */
static void descend(CoreRequest *req)
{
    Core *core = req->core;

    req->below = MIN(req->below, core->layers->len);
    while (req->below > 0) {
        CoreLayer *layer = g_ptr_array_index(core->layers, --req->below);
        CoreCommandFunc func = g_hash_table_lookup(layer->commands, req->command);

        if (func) {
            req->state = REQ_TAKEN;
            leave_stack(req);
            drop_hooks(req); /* QEMU will not answer it: the layer does */
            if (req->oob) {
                /* as QEMU says of a command without allow-oob */
                g_autofree char *desc =
                    g_strdup_printf("The command %s does not support OOB", req->command);

                core_request_error(req, QMP_CLASS_GENERIC, desc);
                return;
            }
            func(layer->data, req);
            return;
        }
        if (!layer->ops->request) {
            continue;
        }
        req->state = REQ_IN_STACK;
        switch (layer->ops->request(layer->data, req)) {
        case CORE_PASS:
            continue;
        case CORE_HOLD:
            g_assert(!req->oob);
            req->state = REQ_HELD;
            if (req->origin) {
                req->origin->held = req;
            }
            return;
        case CORE_TAKEN:
            req->state = REQ_TAKEN;
            leave_stack(req);
            drop_hooks(req);
            return;
        }
    }
    req->state = REQ_WAITING;
    core->submit(core, req);
    leave_stack(req);
}

static void drain(CoreOrigin *origin)
{
    CoreRequest *next;

    /* in a loop, not recursively: many may wait behind one */
    while (!origin->held && (next = g_queue_pop_head(&origin->entering))) {
        origin->held = next; /* marks it on its way, against re-entry */
        descend(next);
        core_request_unref(next);
    }
}

static void leave_stack(CoreRequest *req)
{
    CoreOrigin *origin = req->origin;

    if (!req->oob && origin && origin->held == req) {
        origin->held = NULL;
    }
}

void core_request_submit(CoreRequest *req, CoreOrigin *origin)
{
    req->origin = origin;
    if (req->oob) {
        /* out of band: no order to keep, nothing waits for it */
        descend(req);
        core_request_unref(req);
        return;
    }
    g_queue_push_tail(&origin->entering, req);
    drain(origin);
}

void core_request_resume(CoreRequest *req)
{
    CoreOrigin *origin = req->origin;

    g_return_if_fail(req->state == REQ_HELD);
    if (!origin) {
        /* its client left: what never reached QEMU never will */
        req->state = REQ_DONE;
        settle_unanswered(req);
        return;
    }
    req->state = REQ_IN_STACK;
    descend(req);
    if (origin->held == req) {
        origin->held = NULL;
    }
    drain(origin);
}

/* ---- what a layer sees of a request ---- */

const char *core_request_command(const CoreRequest *req)
{
    return req->command;
}

QmpValue *core_request_arguments(const CoreRequest *req)
{
    QmpValue *args = qmp_value_dict_get(req->msg, "arguments");

    return args && qmp_value_type(args) == QMP_VALUE_DICT ? args : NULL;
}

gboolean core_request_is_oob(const CoreRequest *req)
{
    return req->oob;
}

CoreOrigin *core_request_client_origin(const CoreRequest *req)
{
    return req->client && !req->client->gone ? req->client : NULL;
}

CoreClient *core_request_client(const CoreRequest *req)
{
    CoreOrigin *origin = core_request_client_origin(req);

    return origin ? origin->client : NULL;
}

gboolean core_request_add_arguments(CoreRequest *req, QmpValue *members)
{
    g_autoptr(QmpValue) owned = members;
    QmpValue *args = core_request_arguments(req);

    for (guint i = 0; args && i < qmp_value_dict_size(members); i++) {
        if (qmp_value_dict_get(args, qmp_value_dict_nth(members, i, NULL))) {
            return FALSE;
        }
    }
    return core_request_set_arguments(req, g_steal_pointer(&owned));
}

typedef struct {
    gsize start, end; /* the bytes replaced, in the request's text */
    GString *with;
} Edit;

static gint edit_later_first(gconstpointer a, gconstpointer b)
{
    const Edit *x = a, *y = b;

    return x->start < y->start ? 1 : x->start > y->start ? -1 : 0;
}

gboolean core_request_set_arguments(CoreRequest *req, QmpValue *members)
{
    g_autoptr(QmpValue) owned = members;
    QmpValue *args = core_request_arguments(req);
    QmpSpan span, member;

    /* (a deferred one is the layer's again until it resends it) */
    if (req->state == REQ_UPSTREAM || req->state == REQ_DONE || !args ||
        !qmp_value_dict_get_span(req->msg, "arguments", &span)) {
        return FALSE;
    }
    /* the arguments parsed on their own: spans of their members */
    g_autoptr(QmpValue) inner =
        qmp_json_parse(req->text->str + span.value_start, span.value_end - span.value_start);
    g_autoptr(GArray) edits = g_array_new(FALSE, FALSE, sizeof(Edit));
    Edit added = { span.value_start + 1, span.value_start + 1, g_string_new(NULL) };
    guint n_added = 0;

    g_assert(inner);
    for (guint i = 0; i < qmp_value_dict_size(members); i++) {
        QmpValue *value;
        const char *key = qmp_value_dict_nth(members, i, &value);

        if (qmp_value_dict_get_span(inner, key, &member)) {
            Edit e = { span.value_start + member.value_start, span.value_start + member.value_end,
                       g_string_new(NULL) };

            qmp_json_write_minimal(e.with, value);
            g_array_append_val(edits, e);
            continue;
        }
        /* right after the arguments' '{', in as few bytes as the client's
         * own tokens */
        g_string_append(added.with, n_added++ ? "," : "");
        qmp_json_write_string(added.with, key);
        g_string_append_c(added.with, ':');
        qmp_json_write_minimal(added.with, value);
    }
    if (n_added) {
        if (qmp_value_dict_size(args)) {
            g_string_append_c(added.with, ',');
        }
        g_array_append_val(edits, added);
    } else {
        g_string_free(added.with, TRUE);
    }
    g_array_sort(edits, edit_later_first);
    for (guint i = 0; i < edits->len; i++) {
        Edit *e = &g_array_index(edits, Edit, i);

        g_string_erase(req->text, (gssize)e->start, (gssize)(e->end - e->start));
        g_string_insert_len(req->text, (gssize)e->start, e->with->str, (gssize)e->with->len);
        g_string_free(e->with, TRUE);
    }
    QmpValue *msg = qmp_json_parse(req->text->str, req->text->len);
    g_assert(msg); /* values written whole into an object that parsed */
    qmp_value_unref(req->msg);
    req->msg = msg;
    return TRUE;
}

void core_request_on_reply(CoreRequest *req, CoreReplyFunc func, gpointer data)
{
    CoreReplyHook hook = { func, data };

    g_array_append_val(req->on_reply, hook);
}

/* ---- answers ---- */

/* The answer of a layer: to the layer that sent the request, or to the
 * client, in the client's order. */
static void deliver_local(CoreRequest *req, QmpValue *ret, const char *klass, const char *desc)
{
    gboolean pretty = core_pretty(req->core);

    if (req->state == REQ_DONE) {
        return;
    }
    req->state = REQ_DONE;
    if (req->sender) {
        g_autoptr(QmpValue) reply = qmp_value_new_dict();
        QmpValue *error = NULL;

        if (ret) {
            qmp_value_dict_add(reply, "return", qmp_value_ref(ret));
        } else {
            error = qmp_value_new_dict();
            qmp_value_dict_add(error, "class", qmp_value_new_string(klass));
            qmp_value_dict_add(error, "desc", qmp_value_new_string(desc));
            qmp_value_dict_add(reply, "error", error);
        }
        if (req->done) {
            CoreDone done = g_steal_pointer(&req->done);

            done(req->done_data, reply);
        }
        return;
    }
    if (!core_request_client_origin(req) || !req->slot) {
        return; /* the client left */
    }
    GString *text = ret ? qmp_reply_return(ret, req->client_id, pretty)
                        : qmp_reply_error(klass, desc, req->client_id, pretty);
    req->client->ops->answer(req->client, g_steal_pointer(&req->slot), text, NULL);
}

void core_request_return(CoreRequest *req, QmpValue *ret)
{
    g_autoptr(QmpValue) owned = ret;

    deliver_local(req, ret, NULL, NULL);
}

void core_request_error(CoreRequest *req, const char *klass, const char *desc)
{
    deliver_local(req, NULL, klass, desc);
}

/* The reply goes to the client in its slot, with its own id back. */
static void deliver_reply(CoreRequest *req, CoreReply *reply)
{
    g_autofree char *client_id = NULL;

    if (req->client_id) {
        g_autofree char *json = qmp_json_member_to_string(req->client_id, reply->pretty);
        client_id = reply->pretty ? qmp_monitor_text(json) : g_steal_pointer(&json);
    }
    GString *text = qmp_reply_with_id(reply->text->str, reply->text->len, reply->value, client_id,
                                      reply->pretty);
    g_string_append(text, "\r\n");
    if (req->caps_check) {
        req->client->ops->caps_checked(req->client, g_steal_pointer(&req->slot), reply->value,
                                       text);
    } else {
        req->client->ops->answer(req->client, g_steal_pointer(&req->slot), text, reply->value);
    }
}

/* The hooks still waiting, nearest QEMU first (they were added last),
 * then the sender or the client; unless a hook defers the reply. */
static void finish_reply(CoreRequest *req, CoreReply *reply)
{
    while (req->on_reply->len > 0) {
        guint last = req->on_reply->len - 1;
        CoreReplyHook h = g_array_index(req->on_reply, CoreReplyHook, last);

        g_array_remove_index(req->on_reply, last);
        h.func(h.data, reply);
        if (reply->deferred) {
            req->state = REQ_DEFERRED;
            req->deferred_value = g_steal_pointer(&reply->value);
            req->deferred_text = g_steal_pointer(&reply->text);
            return;
        }
    }
    if (req->sender) {
        if (req->done) {
            CoreDone done = g_steal_pointer(&req->done);

            done(req->done_data, reply->value);
        }
    } else if (reply->value && core_request_client_origin(req) && req->slot) {
        deliver_reply(req, reply);
    }
}

static void reply_clear(CoreReply *reply)
{
    qmp_value_unref(reply->value);
    if (reply->text) {
        g_string_free(reply->text, TRUE);
    }
}

void core_request_replied(CoreRequest *req, QmpValue *msg, const char *raw, gsize len)
{
    CoreReply reply = { msg ? qmp_value_ref(msg) : NULL,
                        msg ? g_string_new_len(raw, (gssize)len) : NULL, core_pretty(req->core),
                        FALSE };

    if (req->state != REQ_DONE && req->state != REQ_DEFERRED) {
        req->state = REQ_DONE;
        finish_reply(req, &reply);
    }
    reply_clear(&reply);
}

gboolean core_reply_defer(CoreReply *reply)
{
    if (!reply->value) {
        return FALSE;
    }
    reply->deferred = TRUE;
    return TRUE;
}

void core_request_complete(CoreRequest *req)
{
    g_return_if_fail(req->state == REQ_DEFERRED);
    CoreReply reply = { g_steal_pointer(&req->deferred_value), g_steal_pointer(&req->deferred_text),
                        core_pretty(req->core), FALSE };

    req->state = REQ_DONE;
    finish_reply(req, &reply);
    reply_clear(&reply);
}

void core_request_resend(CoreRequest *req)
{
    g_return_if_fail(req->state == REQ_DEFERRED);
    drop_deferred(req);
    if (!req->origin) {
        /* where it came from is gone: no one to answer */
        req->state = REQ_DONE;
        settle_unanswered(req);
        return;
    }
    req->state = REQ_WAITING;
    req->core->submit(req->core, req);
}

gboolean core_request_is_sent(const CoreRequest *req)
{
    return req->state == REQ_UPSTREAM || req->state == REQ_DEFERRED || req->state == REQ_DONE;
}

QmpValue *core_reply_value(const CoreReply *reply)
{
    return reply->value;
}

void core_reply_extend_return(CoreReply *reply, const QmpValue *items)
{
    if (!reply->value) {
        return;
    }
    g_autoptr(GString) extended = qmp_message_extend_return(reply->text->str, reply->text->len,
                                                            reply->value, items, reply->pretty);
    g_autoptr(QmpValue) msg = extended ? qmp_json_parse(extended->str, extended->len) : NULL;

    if (!msg) {
        return; /* not a list: nothing to extend */
    }
    g_string_assign(reply->text, extended->str);
    qmp_value_unref(reply->value);
    reply->value = g_steal_pointer(&msg);
}

void core_reply_set_return(CoreReply *reply, QmpValue *ret)
{
    g_autoptr(QmpValue) owned = ret;

    if (!reply->value || !qmp_value_dict_get(reply->value, "return")) {
        return;
    }
    g_autoptr(QmpValue) msg = qmp_value_dict_copy_replacing(reply->value, "return", owned);
    g_autofree char *json = qmp_json_to_string(msg, reply->pretty);
    g_autofree char *text = reply->pretty ? qmp_monitor_text(json) : g_steal_pointer(&json);
    /* parsed again: the id is put back by its place in the text */
    g_autoptr(QmpValue) parsed = qmp_json_parse(text, strlen(text));

    if (parsed) {
        g_string_assign(reply->text, text);
        qmp_value_unref(reply->value);
        reply->value = g_steal_pointer(&parsed);
    }
}
