/* plug.c - an attach: the back end, then the device, and rollback.
 *
 * An attach is two things at once: the QMP sequence (back end, then
 * device; TRACK_PLUG) and the "plugging" record on disk (TRACK_RECORD),
 * which holds the drive name the device gets. After a crash QEMU, not the
 * record, says whether the device got there, and a back end QEMU holds
 * for a device it lacks is removed then. Only a disk with a vdX name
 * waits for its record before device_add: QEMU cannot tell which name the
 * guest was given, so placement chooses it first and it is written down.
 * The answer waits for both; a record that cannot be saved undoes the
 * plug, so that memory, disk and QEMU agree. The device_add goes down
 * through placement like a client's, which fills in its address. */
#include "manager-internal.h"

#include <string.h>

/* One command sent to QEMU for a device's plug. */
typedef struct {
    ManagerDevice *d;
    char *error; /* a failed step's, while its back end is removed */
    char *what;  /* the command, for its error */
} Step;

static Step *step_new(ManagerDevice *d, char *error, QmpValue *cmd)
{
    Step *s = g_new0(Step, 1);

    s->d = d;
    s->error = error;
    s->what = g_strdup(cmd ? qmp_value_dict_get_string(cmd, "execute") : NULL);
    return s;
}

static void step_free(Step *s)
{
    g_free(s->error);
    g_free(s->what);
    g_free(s);
}

static void plug_step_done(ManagerDevice *d);

/* The QMP sequence is over, with @error (taken) or without. */
static void chain_over(ManagerDevice *d, char *error)
{
    g_free(d->chain_error);
    d->chain_error = error;
    manager_device_step(d, TRACK_PLUG, PLUG_DONE);
    plug_step_done(d);
}

static void on_rolled_back(gpointer data, QmpValue *reply)
{
    Step *s = data;
    ManagerDevice *d = s->d;
    char *error;

    if (reply && !manager_qemu_ok(reply)) {
        g_warning("device %s: its back end is left in QEMU: %s", d->id, manager_qemu_error(reply));
        error =
            g_strdup_printf("%s (and undoing it failed: %s)", s->error, manager_qemu_error(reply));
    } else {
        error = g_steal_pointer(&s->error);
    }
    step_free(s);
    chain_over(d, error);
}

/* A step failed: what was made of the back end goes too. */
static void undo_backend(ManagerDevice *d, char *error)
{
    QmpValue *removal = manager_qemu_backend_removal(d, d->backends_made);

    if (!removal) {
        chain_over(d, error);
        return;
    }
    manager_device_step(d, TRACK_PLUG, PLUG_UNDOING);
    if (!manager_op_send(d, removal, on_rolled_back, step_new(d, error, NULL))) {
        g_free(error);
        chain_over(d, g_strdup("QEMU went away"));
    }
}

static void on_device_added(gpointer data, QmpValue *reply)
{
    Step *s = data;
    ManagerDevice *d = s->d;

    step_free(s);
    if (manager_qemu_ok(reply)) {
        chain_over(d, NULL);
        return;
    }
    char *error = g_strdup_printf("device_add failed: %s", manager_qemu_error(reply));
    if (reply) {
        undo_backend(d, error);
        return;
    }
    chain_over(d, error);
}

static void add_device(ManagerDevice *d)
{
    manager_device_step(d, TRACK_PLUG, PLUG_DEVICE);
    if (!manager_op_send(d, manager_qemu_device_add(d), on_device_added, step_new(d, NULL, NULL))) {
        placement_release_drive_name(d->m->pl, d->id);
        chain_over(d, g_strdup("QEMU went away"));
    }
}

/* The back end is there: the device follows, unless the record it had to
 * wait for could not be written (then the back end goes again). */
static void continue_plug(ManagerDevice *d)
{
    if (manager_device_needs_record_first(d) && d->step[TRACK_RECORD] == RECORD_FAILED) {
        placement_release_drive_name(d->m->pl, d->id);
        undo_backend(
            d, g_strdup_printf("cannot save the device table: %s", d->plug_save_error->message));
        return;
    }
    add_device(d);
}

static void send_backend_step(ManagerDevice *d);

static void on_backend_added(gpointer data, QmpValue *reply)
{
    Step *s = data;
    ManagerDevice *d = s->d;
    g_autofree char *what = g_strdup(s->what);

    step_free(s);
    if (!manager_qemu_ok(reply)) {
        char *error = g_strdup_printf("%s failed: %s", what, manager_qemu_error(reply));

        /* the drive name chosen for the device is given back */
        placement_release_drive_name(d->m->pl, d->id);
        if (reply) {
            undo_backend(d, error); /* what the steps before made */
        } else {
            chain_over(d, error);
        }
        return;
    }
    if (++d->backends_made < manager_qemu_backend_steps(d)) {
        send_backend_step(d);
        return;
    }
    if (manager_device_needs_record_first(d) && d->step[TRACK_RECORD] == RECORD_SAVING) {
        manager_device_step(d, TRACK_PLUG, PLUG_PARKED); /* plug_saved() goes on */
        return;
    }
    continue_plug(d);
}

/* The next command of the back end (chardev-add, then netdev_add). */
static void send_backend_step(ManagerDevice *d)
{
    QmpValue *cmd = manager_qemu_backend_step(d, d->backends_made);
    Step *s = step_new(d, NULL, cmd);

    if (!manager_op_send(d, cmd, on_backend_added, s)) {
        step_free(s);
        placement_release_drive_name(d->m->pl, d->id);
    }
}

static void plug_saved(ManagerDevice *d, const GError *error)
{
    manager_device_step(d, TRACK_RECORD, error ? RECORD_FAILED : RECORD_SAVED);
    if (error) {
        d->plug_save_error = g_error_copy(error);
    }
    if (d->step[TRACK_PLUG] == PLUG_PARKED) {
        continue_plug(d);
        return;
    }
    plug_step_done(d);
}

/* When the QMP sequence and the record are both done. */
static void plug_step_done(ManagerDevice *d)
{
    if (d->step[TRACK_PLUG] != PLUG_DONE || d->step[TRACK_RECORD] == RECORD_SAVING) {
        return;
    }
    g_autofree char *chain_error = g_steal_pointer(&d->chain_error);
    g_autoptr(GError) save_error = g_steal_pointer(&d->plug_save_error);

    manager_device_step(d, TRACK_PLUG, PLUG_NONE);
    manager_device_step(d, TRACK_RECORD, RECORD_NONE);
    if (chain_error) {
        /* QEMU has nothing of it (or says what it kept): the record says
         * plugging, which reconciliation makes detached */
        manager_device_state(d, QMPROXY_DEVICE_STATE_DETACHED);
        manager_op_conclude(d, g_strdup_printf("%s %s: %s", manager_op_name(d), d->id, chain_error),
                            NULL);
        return;
    }
    if (save_error) {
        /* QEMU has the device, which the disk does not know of: it goes */
        d->rollback_error = g_strdup_printf("%s %s: cannot save the device table: %s",
                                            manager_op_name(d), d->id, save_error->message);
        manager_unplug(d, FALSE);
        return;
    }
    if (d->lost) {
        /* QEMU has it no more: what it held goes, and the attach failed */
        d->lost = FALSE;
        d->rollback_error = g_strdup_printf("%s %s: a client's device_del unplugged it meanwhile",
                                            manager_op_name(d), d->id);
        manager_device_state(d, QMPROXY_DEVICE_STATE_UNPLUGGING);
        manager_device_step(d, TRACK_OP, OP_WAITING);
        manager_unplug_remove_backend(d);
        return;
    }
    manager_device_state(d, QMPROXY_DEVICE_STATE_ATTACHED);
    d->attach_count = 1;
    g_message("device %s attached", d->id);
    manager_op_conclude(d, NULL, QMPROXY_EVENT_DEVICE_ATTACHED);
}

void manager_plug(ManagerDevice *d)
{
    manager_device_state(d, QMPROXY_DEVICE_STATE_PLUGGING);
    manager_device_step(d, TRACK_OP, OP_BUSY);
    d->lost = FALSE;
    d->backends_made = 0;
    if (manager_device_needs_record_first(d)) {
        /* its name goes into the record before QEMU can have the device */
        placement_reserve_drive_name(d->m->pl, d->id);
    }
    manager_device_step(d, TRACK_RECORD, RECORD_SAVING);
    if (manager_qemu_backend_steps(d)) {
        manager_device_step(d, TRACK_PLUG, PLUG_BACKEND);
        send_backend_step(d);
    } else {
        add_device(d);
    }
    manager_table_persist(d, plug_saved);
}
