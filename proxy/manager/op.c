/* op.c - a device's operations, one at a time: queued in order, run
 * until one has to wait for QEMU or the disk, answered with the device as
 * it is or with one error naming the step and QEMU's words. What an
 * operation does is the layer's (manager.c gives the queue its start
 * function): this file is only the queue and the answers. */
#include "manager-internal.h"

#include <string.h>

#define OWN_PREFIX "__org.qmproxy_"

const char *const manager_op_commands[] = {
    [OP_NEW] = QMPROXY_CMD_DEVICE_NEW,
    [OP_QUERY] = QMPROXY_CMD_QUERY_DEVICE,
    [OP_ATTACH] = QMPROXY_CMD_DEVICE_ATTACH,
    [OP_DETACH] = QMPROXY_CMD_DEVICE_DETACH,
    [OP_REMOVE] = QMPROXY_CMD_DEVICE_REMOVE,
    [OP_REFERENCE] = QMPROXY_CMD_DEVICE_REFERENCE,
    [OP_DEREFERENCE] = QMPROXY_CMD_DEVICE_DEREFERENCE,
};

void manager_op_answer(ManagerDevice *d, QmpValue *ret, const char *klass, const char *desc)
{
    ManagerOp *op = g_queue_pop_head(&d->ops);

    manager_device_step(d, TRACK_OP, OP_IDLE);
    g_clear_handle_id(&d->unplug_timer, g_source_remove);
    if (!d->m->closing) {
        if (ret) {
            core_request_return(op->req, qmp_value_ref(ret));
        } else {
            core_request_error(op->req, klass, desc);
        }
    }
    core_request_unref(op->req);
    g_free(op->key);
    g_free(op);
}

void manager_op_answer_info(ManagerDevice *d)
{
    g_autoptr(QmpValue) info = manager_device_describe(d);

    manager_op_answer(d, info, NULL, NULL);
}

const char *manager_op_name(ManagerDevice *d)
{
    ManagerOp *op = g_queue_peek_head(&d->ops);

    return op ? manager_op_commands[op->kind] + strlen(OWN_PREFIX) : "device";
}

gboolean manager_op_send(ManagerDevice *d, QmpValue *cmd, CoreDone done, gpointer data)
{
    ManagerOp *op = g_queue_peek_head(&d->ops);

    if (d->m->closing) {
        qmp_value_unref(cmd);
        return FALSE;
    }
    /* in the trace, the commands an operation expands into are its client's */
    core_layer_send(d->m->layer, cmd, CORE_SEND_TRACED, op ? core_request_client(op->req) : NULL,
                    done, data);
    return TRUE;
}

/* The outcome is saved after the answer: until it is, the record on disk
 * ("plugging", "unplugging") already says what reconciliation would make
 * of it. */
void manager_op_conclude(ManagerDevice *d, char *error, const char *event)
{
    g_autofree char *desc = error;

    if (event) {
        manager_device_emit(d, event);
    }
    if (desc) {
        g_message("%s", desc);
        manager_op_answer(d, NULL, QMP_CLASS_GENERIC, desc);
    } else {
        manager_op_answer_info(d);
    }
    manager_table_save(d->m);
    manager_op_run(d);
}

void manager_op_fail(ManagerDevice *d, const char *step, const char *why)
{
    manager_op_conclude(
        d, g_strdup_printf("%s %s: %s failed: %s", manager_op_name(d), d->id, step, why), NULL);
}

/* Memory goes back to what the disk still says. */
void manager_op_refuse_unsaved(ManagerDevice *d, const GError *error)
{
    g_autofree char *desc = g_strdup_printf("%s %s: cannot save the device table: %s",
                                            manager_op_name(d), d->id, error->message);

    g_message("%s", desc);
    d->ref_count = d->undo_ref;
    if (d->step[TRACK_LIFE] == LIFE_REMOVED) {
        manager_device_step(d, TRACK_LIFE, LIFE_KEPT);
    }
    if (d->events == d->undo_events) {
        /* what QEMU did meanwhile (a client's device_del) stays */
        d->attach_count = d->undo_attach;
        manager_device_state(d, d->undo_state);
    }
    if (d->step[TRACK_LIFE] == LIFE_UNSAVED) {
        /* never on disk: it goes as if never made */
        g_hash_table_steal(d->m->devices, d->id);
        manager_device_step(d, TRACK_LIFE, LIFE_GONE);
    }
    manager_op_answer(d, NULL, QMP_CLASS_GENERIC, desc);
    manager_op_run(d);
}

void manager_op_run(ManagerDevice *d)
{
    ManagerOp *op;

    if (d->running) {
        return; /* the caller's loop goes on */
    }
    d->running = TRUE;
    /* once closing, only a removed device's queue is emptied (unanswered) */
    while (d->step[TRACK_OP] == OP_IDLE && d->step[TRACK_UNPLUG] != UNPLUG_REFUSING &&
           (!d->m->closing || d->step[TRACK_LIFE] == LIFE_GONE) &&
           (op = g_queue_peek_head(&d->ops))) {
        d->m->start_op(d, op);
    }
    d->running = FALSE;
    if (d->step[TRACK_LIFE] == LIFE_GONE && d->step[TRACK_OP] == OP_IDLE &&
        d->step[TRACK_UNPLUG] != UNPLUG_REFUSING && !d->del_pending && g_queue_is_empty(&d->ops)) {
        manager_device_free(d);
    }
}

void manager_op_queue(ManagerDevice *d, ManagerOpKind kind, CoreRequest *req, const char *key)
{
    ManagerOp *op = g_new0(ManagerOp, 1);

    op->key = g_strdup(key);
    op->kind = kind;
    op->req = core_request_ref(req);
    g_queue_push_tail(&d->ops, op);
    manager_op_run(d);
}
