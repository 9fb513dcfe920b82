/* unplug.c - a detach: device_del, DEVICE_DELETED, the back end's
 * removal (TRACK_UNPLUG).
 *
 * A detach is "unplugging" on disk before its device_del, so that a
 * restarted proxy knows to finish it. QEMU answers device_del at once and
 * reports DEVICE_DELETED when the guest lets go: a detach waits for that
 * up to --unplug-timeout, and if the guest never lets go the device stays
 * unplugging, and a later detach waits again. A device_del QEMU refuses
 * leaves the device attached, which is saved before anyone hears of it.
 * An attach undone (its record could not be saved, or a client unplugged
 * it meanwhile) goes the same way, and is answered with why. */
#include "manager-internal.h"

#include <string.h>

static gboolean on_unplug_timeout(gpointer data)
{
    ManagerDevice *d = data;
    g_autofree char *desc = NULL;

    d->unplug_timer = 0;
    g_clear_pointer(&d->rollback_error, g_free);
    desc = g_strdup_printf("%s %s: the guest did not release the device within %u s; it stays "
                           "unplugging, and a later device-detach waits again",
                           manager_op_name(d), d->id, d->m->unplug_timeout);
    g_message("%s", desc);
    manager_op_answer(d, NULL, QMP_CLASS_GENERIC, desc);
    manager_op_run(d);
    return G_SOURCE_REMOVE;
}

void manager_unplug_wait(ManagerDevice *d)
{
    manager_device_step(d, TRACK_OP, OP_WAITING);
    if (d->step[TRACK_UNPLUG] != UNPLUG_DELETED && !d->unplug_timer) {
        d->unplug_timer = g_timeout_add_seconds(d->m->unplug_timeout, on_unplug_timeout, d);
    }
}

/* The unplug is over (with @error when the back end could not be
 * removed): a detach that waited is answered, anything else that waited
 * runs again. */
static void unplugged(ManagerDevice *d, const char *error)
{
    ManagerOp *op = g_queue_peek_head(&d->ops);
    gboolean waited = d->step[TRACK_OP] == OP_WAITING;

    manager_device_state(d, QMPROXY_DEVICE_STATE_DETACHED);
    manager_device_step(d, TRACK_UNPLUG, UNPLUG_NONE);
    d->attach_count = 0;
    g_message("device %s detached", d->id);
    g_clear_handle_id(&d->unplug_timer, g_source_remove);
    if (d->rollback_error) {
        /* an attach undone: its record could not be saved, or a client's
         * device_del took the device meanwhile */
        manager_op_conclude(d, g_steal_pointer(&d->rollback_error), NULL);
        return;
    }
    if (op && waited && op->kind == OP_DETACH) {
        char *desc = NULL;

        if (error) {
            g_autoptr(QmpValue) removal =
                manager_qemu_backend_removal(d, manager_qemu_backend_steps(d));

            desc = g_strdup_printf("%s %s: %s failed: %s", manager_op_name(d), d->id,
                                   qmp_value_dict_get_string(removal, "execute"), error);
        }
        manager_op_conclude(d, desc, QMPROXY_EVENT_DEVICE_DETACHED);
        return;
    }
    if (waited) {
        /* an attach or remove that waited runs now */
        manager_device_step(d, TRACK_OP, OP_IDLE);
    }
    manager_device_emit(d, QMPROXY_EVENT_DEVICE_DETACHED);
    manager_table_save(d->m);
    manager_op_run(d);
}

static void on_backend_removed(gpointer data, QmpValue *reply)
{
    ManagerDevice *d = data;

    if (reply && !manager_qemu_ok(reply)) {
        g_warning("device %s: its back end could not be removed: %s", d->id,
                  manager_qemu_error(reply));
    }
    unplugged(d, manager_qemu_ok(reply) ? NULL : manager_qemu_error(reply));
}

void manager_unplug_remove_backend(ManagerDevice *d)
{
    manager_device_step(d, TRACK_UNPLUG, UNPLUG_DELETED);
    g_clear_handle_id(&d->unplug_timer, g_source_remove);
    QmpValue *removal = manager_qemu_backend_removal(d, manager_qemu_backend_steps(d));
    if (removal && manager_op_send(d, removal, on_backend_removed, d)) {
        return;
    }
    unplugged(d, NULL);
}

static void refusal_saved(ManagerDevice *d, const GError *error)
{
    g_autofree char *why = g_steal_pointer(&d->refusal);
    ManagerOp *op = g_queue_peek_head(&d->ops);
    gboolean waited = d->step[TRACK_OP] == OP_WAITING;

    manager_device_step(d, TRACK_UNPLUG, UNPLUG_NONE);
    if (error) {
        g_warning("device %s: its refused unplug could not be saved: %s", d->id, error->message);
    }
    if (d->rollback_error) {
        /* an attach whose record could not be saved, and QEMU keeps it */
        g_autofree char *rollback = g_steal_pointer(&d->rollback_error);

        manager_op_conclude(d, g_strdup_printf("%s (and its device_del failed: %s)", rollback, why),
                            NULL);
        return;
    }
    if (waited && op && op->kind == OP_DETACH) {
        manager_op_fail(d, "device_del", why);
        return;
    }
    if (waited) {
        /* an attach or remove that waited for the unplug runs now */
        manager_device_step(d, TRACK_OP, OP_IDLE);
    }
    manager_op_run(d);
}

static void on_device_del(gpointer data, QmpValue *reply)
{
    ManagerDevice *d = data;

    d->del_pending--;
    if (d->step[TRACK_LIFE] == LIFE_GONE) {
        manager_op_run(d); /* removed meanwhile: freed now that nothing refers to it */
        return;
    }
    if (manager_qemu_ok(reply) || d->step[TRACK_UNPLUG] == UNPLUG_DELETED || !reply ||
        strstr(manager_qemu_error(reply), "already in the process of unplug")) {
        return; /* now DEVICE_DELETED, or the time-out */
    }
    if (manager_qemu_not_found(reply)) {
        /* someone else unplugged it: what it held is ours to remove */
        manager_unplug_remove_backend(d);
        return;
    }
    /* refused: the device stays, and the record must say so before anyone
     * hears it, or a restart would send the device_del again */
    manager_device_state(d, QMPROXY_DEVICE_STATE_ATTACHED);
    d->attach_count = 1;
    g_clear_handle_id(&d->unplug_timer, g_source_remove);
    g_free(d->refusal);
    d->refusal = g_strdup(manager_qemu_error(reply));
    manager_device_step(d, TRACK_UNPLUG, UNPLUG_REFUSING);
    manager_table_persist(d, refusal_saved);
}

void manager_unplug_send(ManagerDevice *d)
{
    manager_device_step(d, TRACK_UNPLUG, UNPLUG_WAITING);
    if (manager_op_send(d, manager_qemu_device_del(d), on_device_del, d)) {
        d->del_pending++;
    }
}

/* The unplug is on record (state unplugging): QEMU may get it. */
static void unplug_saved(ManagerDevice *d, const GError *error)
{
    if (d->state == QMPROXY_DEVICE_STATE_DETACHED) {
        /* a client's device_del was faster: the detach is done */
        manager_device_step(d, TRACK_UNPLUG, UNPLUG_NONE);
        manager_op_conclude(d, NULL, NULL);
        return;
    }
    if (error) {
        manager_device_step(d, TRACK_UNPLUG, UNPLUG_NONE);
        manager_op_refuse_unsaved(d, error);
        return;
    }
    manager_unplug_wait(d);
    manager_unplug_send(d);
}

void manager_unplug(ManagerDevice *d, gboolean record)
{
    manager_device_state(d, QMPROXY_DEVICE_STATE_UNPLUGGING);
    d->attach_count = 0;
    manager_device_step(d, TRACK_UNPLUG, UNPLUG_SAVING);
    manager_device_step(d, TRACK_OP, OP_BUSY);
    if (record) {
        manager_table_persist(d, unplug_saved);
    } else {
        unplug_saved(d, NULL);
    }
}

void manager_unplug_deleted(ManagerDevice *d)
{
    if (d->step[TRACK_UNPLUG] == UNPLUG_DELETED) {
        return;
    }
    d->events++;
    if (d->state == QMPROXY_DEVICE_STATE_PLUGGING) {
        /* a client's device_del after our device_add, before the attach
         * is answered (its record still being written): settled there */
        d->lost = TRUE;
        return;
    }
    if (d->state == QMPROXY_DEVICE_STATE_ATTACHED) {
        /* a plain device_del of a managed device: detached all the same */
        g_message("device %s was unplugged by a client's device_del", d->id);
        manager_device_state(d, QMPROXY_DEVICE_STATE_UNPLUGGING);
    }
    if (d->state == QMPROXY_DEVICE_STATE_UNPLUGGING) {
        manager_unplug_remove_backend(d);
    }
}
