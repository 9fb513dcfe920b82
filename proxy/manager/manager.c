/* manager.c - the device manager's layer: its commands, after Kata's
 * DeviceManager, run one at a time per device.
 *
 * A device is made once per host device (device-new finds the one that
 * exists by path, or by major:minor for a block device) and lives until
 * its last reference is dropped. Attaching it the first time hot-plugs it
 * (plug.c); detaching it the last time unplugs it (unplug.c).
 *
 * Each device runs one operation at a time, from a queue; the head of the
 * queue is busy while QEMU or the disk works on it. Operations on
 * different devices interleave freely. A sequence that fails part way
 * undoes what it did and the operation fails with one error naming the
 * step and QEMU's words. Every command is checked against the schema
 * first, with QEMU's messages. */
#include "manager-internal.h"

#include <stdio.h>
#include <string.h>

/* ---- answers ---- */

/* ---- saving ---- */

/* ---- operations ---- */

/* A change of counts is saved: answered, or undone. */
static void counted(ManagerDevice *d, const GError *error)
{
    if (error) {
        manager_op_refuse_unsaved(d, error);
        return;
    }
    if (d->step[TRACK_LIFE] == LIFE_UNSAVED) {
        manager_device_step(d, TRACK_LIFE, LIFE_KEPT);
    }
    if (d->step[TRACK_LIFE] == LIFE_REMOVED) {
        g_message("device %s removed", d->id);
        g_hash_table_steal(d->m->devices, d->id);
        manager_device_step(d, TRACK_LIFE, LIFE_GONE);
    }
    manager_op_answer_info(d);
    manager_op_run(d);
}

/* Whether device-new @op asks for @d: the same host device, as the same
 * kind; if not, why not in *@why. */
static gboolean is_for(ManagerDevice *d, ManagerOp *op, char **why)
{
    QmpValue *args = core_request_arguments(op->req);
    const char *path = qmp_value_dict_get_string(args, "path");
    QmpValue *ro = qmp_value_dict_get(args, "read-only");
    gboolean read_only = ro && qmp_value_get_bool(ro);
    ManagerKind kind = qmproxy_enum_value(qmproxy_device_driver_names, QMPROXY_DEVICE_DRIVER__MAX,
                                          qmp_value_dict_get_string(args, "driver"));

    if (strcmp(op->key, d->key) != 0) {
        *why = g_strdup_printf("Device id '%s' is already in use", d->id);
        return FALSE;
    }
    if (kind != d->kind || read_only != d->read_only) {
        /* the host device has one device, which cannot be two things */
        *why =
            g_strdup_printf("Device '%s' already exists for %s as %s%s", d->id, path,
                            d->read_only ? "read-only " : "", qmproxy_device_driver_names[d->kind]);
        return FALSE;
    }
    const char *tag = qmp_value_dict_get_string(args, "tag");
    const char *mac = qmp_value_dict_get_string(args, "mac");
    if ((tag && g_strcmp0(tag, d->tag) != 0) ||
        (mac && (!d->mac || g_ascii_strcasecmp(mac, d->mac)))) {
        *why = g_strdup_printf("Device '%s' already exists for %s, with %s %s", d->id, path,
                               tag ? "tag" : "MAC", tag ? d->tag : (d->mac ? d->mac : "(QEMU's)"));
        return FALSE;
    }
    return TRUE;
}

/* Starts the head operation: it completes now, or makes @d busy. */
static void start(ManagerDevice *d, ManagerOp *op)
{
    g_autofree char *desc = NULL;
    gboolean gone = d->step[TRACK_LIFE] == LIFE_GONE;

    if (gone && op->kind == OP_NEW) {
        /* queued behind the remove of the device it found: made anew */
        ManagerOp *taken = g_queue_pop_head(&d->ops);

        manager_lookup_device_new_keyed(d->m, taken->req, taken->key);
        core_request_unref(taken->req);
        g_free(taken->key);
        g_free(taken);
        return;
    }
    if (gone) {
        desc = g_strdup_printf("Device '%s' not found", d->id);
        manager_op_answer(d, NULL, "DeviceNotFound", desc);
        return;
    }
    if (d->state == QMPROXY_DEVICE_STATE_UNPLUGGING &&
        (op->kind == OP_ATTACH || op->kind == OP_DETACH || op->kind == OP_REMOVE)) {
        manager_unplug_wait(d);
        return;
    }
    d->undo_attach = d->attach_count;
    d->undo_ref = d->ref_count;
    d->undo_state = d->state;
    d->undo_events = d->events;
    switch (op->kind) {
    case OP_QUERY:
        manager_op_answer_info(d);
        return;
    case OP_NEW:
        if (!is_for(d, op, &desc)) {
            manager_op_answer(d, NULL, QMP_CLASS_GENERIC, desc);
            return;
        }
        d->ref_count++;
        break;
    case OP_REFERENCE:
        d->ref_count++;
        break;
    case OP_DEREFERENCE:
        d->ref_count -= d->ref_count > 0;
        break;
    case OP_ATTACH:
        if (d->state == QMPROXY_DEVICE_STATE_DETACHED) {
            manager_plug(d);
            return;
        }
        d->attach_count++;
        break;
    case OP_DETACH:
        if (d->attach_count == 0) {
            desc = g_strdup_printf("Device '%s' is not attached", d->id);
            manager_op_answer(d, NULL, QMP_CLASS_GENERIC, desc);
            return;
        }
        if (d->attach_count == 1) {
            manager_unplug(d, TRUE);
            return;
        }
        d->attach_count--;
        break;
    case OP_REMOVE:
        if (d->attach_count > 0 || d->state != QMPROXY_DEVICE_STATE_DETACHED) {
            desc = g_strdup_printf("Device '%s' is attached (attach count %u): detach it first",
                                   d->id, d->attach_count);
            manager_op_answer(d, NULL, QMP_CLASS_GENERIC, desc);
            return;
        }
        d->ref_count -= d->ref_count > 0;
        if (d->ref_count == 0) {
            manager_device_step(d, TRACK_LIFE, LIFE_REMOVED);
        }
        break;
    }
    manager_device_step(d, TRACK_OP, OP_BUSY);
    manager_table_persist(d, counted);
}

static void query_devices(Manager *m, CoreRequest *req)
{
    g_autoptr(QmpValue) list = placement_query_devices(m->pl, m->devices);
    GHashTableIter iter;
    ManagerDevice *d;

    g_hash_table_iter_init(&iter, m->devices);
    while (g_hash_table_iter_next(&iter, NULL, (gpointer *)&d)) {
        qmp_value_list_append(list, manager_device_describe(d));
    }
    core_request_return(req, g_steal_pointer(&list));
}

static void dispatch(Manager *m, CoreRequest *req)
{
    const char *command = core_request_command(req);
    QmpValue *args = core_request_arguments(req);
    const char *id = args ? qmp_value_dict_get_string(args, "id") : NULL;
    ManagerOpKind kind = OP_QUERY;

    if (strcmp(command, QMPROXY_CMD_QUERY_DEVICES) == 0) {
        query_devices(m, req);
        return;
    }
    if (strcmp(command, QMPROXY_CMD_DEVICE_NEW) == 0) {
        manager_lookup_device_new(m, req);
        return;
    }
    ManagerDevice *d = g_hash_table_lookup(m->devices, id);
    if (!d) {
        g_autofree char *desc = g_strdup_printf("Device '%s' not found", id);

        core_request_error(req, "DeviceNotFound", desc);
        return;
    }
    while (strcmp(manager_op_commands[kind], command) != 0) {
        kind++; /* the schema let only known commands through */
    }
    manager_op_queue(d, kind, req, NULL);
}

/* Every command of the schema comes here first: its arguments checked as
 * QEMU's visitor checks them. */
static void on_command(gpointer data, CoreRequest *req)
{
    Manager *m = data;
    g_autofree char *problem = NULL;

    if (!schema_check_arguments(m->schema, core_request_command(req), core_request_arguments(req),
                                &problem)) {
        core_request_error(req, QMP_CLASS_GENERIC, problem);
        return;
    }
    if (manager_lookup_gate(m, req)) {
        return; /* behind a device-new that looks its host device up */
    }
    dispatch(m, req);
}

/* Introspection shows the manager's commands beside QEMU's. */
static void extend_commands(gpointer data, CoreReply *reply)
{
    Manager *m = data;
    g_autoptr(QmpValue) items = schema_command_infos(m->schema);

    core_reply_extend_return(reply, items);
}

static void extend_schema(gpointer data, CoreReply *reply)
{
    Manager *m = data;
    g_autoptr(QmpValue) items = schema_infos(m->schema);

    core_reply_extend_return(reply, items);
}

static CoreVerdict on_request(gpointer data, CoreRequest *req)
{
    Manager *m = data;
    const char *command = core_request_command(req);

    if (strcmp(command, "query-commands") == 0) {
        core_request_on_reply(req, extend_commands, m);
    } else if (strcmp(command, "query-qmp-schema") == 0) {
        core_request_on_reply(req, extend_schema, m);
    }
    return CORE_PASS;
}

static void on_event(gpointer data, QmpValue *event)
{
    Manager *m = data;
    QmpValue *info = qmp_value_dict_get(event, "data");
    const char *id;
    ManagerDevice *d;

    if (g_strcmp0(qmp_value_dict_get_string(event, "event"), "DEVICE_DELETED") != 0 || !info ||
        qmp_value_type(info) != QMP_VALUE_DICT ||
        !(id = qmp_value_dict_get_string(info, "device")) ||
        !(d = g_hash_table_lookup(m->devices, id))) {
        return;
    }
    manager_unplug_deleted(d);
}

static void on_start(gpointer data, CoreLayer *layer)
{
    manager_reconcile_start(data, layer);
}

/* Answers nothing more and sends nothing more: what is still in flight
 * completes with no reply. */
static void on_stop(gpointer data)
{
    Manager *m = data;
    GHashTableIter iter;
    ManagerDevice *d;

    m->closing = TRUE;
    g_clear_pointer(&m->state, state_file_free);
    manager_lookup_stop(m);
    g_hash_table_iter_init(&iter, m->devices);
    while (g_hash_table_iter_next(&iter, NULL, (gpointer *)&d)) {
        g_clear_handle_id(&d->unplug_timer, g_source_remove);
    }
}

static const CoreLayerOps manager_ops = {
    .request = on_request,
    .event = on_event,
    .start = on_start,
    .stop = on_stop,
};

Manager *manager_new(Core *core, Placement *pl, const ManagerOptions *options, GError **error)
{
    g_autoptr(Manager) m = g_new0(Manager, 1);

    m->core = core;
    m->pl = pl;
    m->start_op = start;
    m->dispatch = dispatch;
    m->unplug_timeout = options->unplug_timeout;
    /* built in and checked by the tests: it always loads */
    m->schema = schema_load(NULL);
    g_assert(m->schema);
    m->devices =
        g_hash_table_new_full(g_str_hash, g_str_equal, NULL, (GDestroyNotify)manager_device_free);
    m->savings = g_ptr_array_new_with_free_func(g_free);
    m->cleanups = g_ptr_array_new();
    g_queue_init(&m->gated);
    if (options->state_path &&
        !manager_table_open(m, options->state_path, options->state_reset, error)) {
        return NULL;
    }
    m->layer = core_push_layer(core, &manager_ops, m);
    core_layer_add_capability(m->layer, MANAGER_CAPABILITY);
    /* the schema's commands are the manager's */
    g_autoptr(QmpValue) commands = schema_command_infos(m->schema);
    for (guint i = 0; i < qmp_value_list_length(commands); i++) {
        core_layer_add_command(m->layer,
                               qmp_value_dict_get_string(qmp_value_list_get(commands, i), "name"),
                               on_command);
    }
    return g_steal_pointer(&m);
}

void manager_free(Manager *m)
{
    if (!m) {
        return;
    }
    m->closing = TRUE;
    state_file_free(m->state);
    manager_lookup_stop(m);
    manager_reconcile_free(m);
    g_hash_table_unref(m->devices);
    g_ptr_array_unref(m->savings);
    g_ptr_array_unref(m->cleanups);
    g_clear_pointer(&m->drive_names, g_hash_table_unref);
    schema_free(m->schema);
    g_free(m);
}
