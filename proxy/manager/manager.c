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

#define OWN_PREFIX "__org.qmproxy_"

static const char *const op_commands[] = {
    [OP_NEW] = QMPROXY_CMD_DEVICE_NEW,
    [OP_QUERY] = QMPROXY_CMD_QUERY_DEVICE,
    [OP_ATTACH] = QMPROXY_CMD_DEVICE_ATTACH,
    [OP_DETACH] = QMPROXY_CMD_DEVICE_DETACH,
    [OP_REMOVE] = QMPROXY_CMD_DEVICE_REMOVE,
    [OP_REFERENCE] = QMPROXY_CMD_DEVICE_REFERENCE,
    [OP_DEREFERENCE] = QMPROXY_CMD_DEVICE_DEREFERENCE,
};

/* A save a device waits for. */
typedef struct {
    Manager *m;
    ManagerDevice *d;
    ManagerThen then;
} Saving;

/* ---- answers ---- */

void manager_answer(ManagerDevice *d, QmpValue *ret, const char *klass, const char *desc)
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

void manager_answer_info(ManagerDevice *d)
{
    g_autoptr(QmpValue) info = manager_device_describe(d);

    manager_answer(d, info, NULL, NULL);
}

const char *manager_op_name(ManagerDevice *d)
{
    ManagerOp *op = g_queue_peek_head(&d->ops);

    return op ? op_commands[op->kind] + strlen(OWN_PREFIX) : "device";
}

const char *manager_error_of(QmpValue *reply)
{
    QmpValue *err = reply ? qmp_value_dict_get(reply, "error") : NULL;
    const char *desc = err ? qmp_value_dict_get_string(err, "desc") : NULL;

    if (!reply) {
        return "QEMU went away";
    }
    return desc ? desc : "QEMU answered with an error";
}

gboolean manager_succeeded(QmpValue *reply)
{
    return reply && qmp_value_dict_get(reply, "return");
}

void manager_emit(ManagerDevice *d, const char *event)
{
    if (!d->m->closing) {
        core_layer_emit(d->m->layer, event, manager_device_describe(d), MANAGER_CAPABILITY);
    }
}

gboolean manager_send(ManagerDevice *d, QmpValue *cmd, CoreDone done, gpointer data)
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

/* ---- saving ---- */

static void on_saved(gpointer data, const GError *error)
{
    Saving *s = data;
    Manager *m = s->m;

    s->then(s->d, error);
    g_ptr_array_remove_fast(m->savings, s);
}

void manager_persist(ManagerDevice *d, ManagerThen then)
{
    Manager *m = d->m;

    if (!m->state) {
        then(d, NULL);
        return;
    }
    Saving *s = g_new(Saving, 1);
    s->m = m;
    s->d = d;
    s->then = then;
    /* owned here: a save cut short by shutdown never calls back */
    g_ptr_array_add(m->savings, s);
    state_file_save(m->state, on_saved, s);
}

void manager_save(Manager *m)
{
    if (m->state && !m->closing) {
        state_file_save(m->state, NULL, NULL);
    }
}

/* The outcome is saved after the answer: until it is, the record on disk
 * ("plugging", "unplugging") already says what reconciliation would make
 * of it. */
void manager_conclude(ManagerDevice *d, char *error, const char *event)
{
    g_autofree char *desc = error;

    if (event) {
        manager_emit(d, event);
    }
    if (desc) {
        g_message("%s", desc);
        manager_answer(d, NULL, QMP_CLASS_GENERIC, desc);
    } else {
        manager_answer_info(d);
    }
    manager_save(d->m);
    manager_run(d);
}

void manager_fail(ManagerDevice *d, const char *step, const char *why)
{
    manager_conclude(
        d, g_strdup_printf("%s %s: %s failed: %s", manager_op_name(d), d->id, step, why), NULL);
}

/* Memory goes back to what the disk still says. */
void manager_refuse_unsaved(ManagerDevice *d, const GError *error)
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
    manager_answer(d, NULL, QMP_CLASS_GENERIC, desc);
    manager_run(d);
}

/* ---- operations ---- */

/* A change of counts is saved: answered, or undone. */
static void counted(ManagerDevice *d, const GError *error)
{
    if (error) {
        manager_refuse_unsaved(d, error);
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
    manager_answer_info(d);
    manager_run(d);
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

        manager_device_new_keyed(d->m, taken->req, taken->key);
        core_request_unref(taken->req);
        g_free(taken->key);
        g_free(taken);
        return;
    }
    if (gone) {
        desc = g_strdup_printf("Device '%s' not found", d->id);
        manager_answer(d, NULL, "DeviceNotFound", desc);
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
        manager_answer_info(d);
        return;
    case OP_NEW:
        if (!is_for(d, op, &desc)) {
            manager_answer(d, NULL, QMP_CLASS_GENERIC, desc);
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
            manager_answer(d, NULL, QMP_CLASS_GENERIC, desc);
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
            manager_answer(d, NULL, QMP_CLASS_GENERIC, desc);
            return;
        }
        d->ref_count -= d->ref_count > 0;
        if (d->ref_count == 0) {
            manager_device_step(d, TRACK_LIFE, LIFE_REMOVED);
        }
        break;
    }
    manager_device_step(d, TRACK_OP, OP_BUSY);
    manager_persist(d, counted);
}

void manager_run(ManagerDevice *d)
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
        start(d, op);
    }
    d->running = FALSE;
    if (d->step[TRACK_LIFE] == LIFE_GONE && d->step[TRACK_OP] == OP_IDLE &&
        d->step[TRACK_UNPLUG] != UNPLUG_REFUSING && !d->del_pending && g_queue_is_empty(&d->ops)) {
        manager_device_free(d);
    }
}

static void queue_op(ManagerDevice *d, ManagerOpKind kind, CoreRequest *req, const char *key)
{
    ManagerOp *op = g_new0(ManagerOp, 1);

    op->key = g_strdup(key);
    op->kind = kind;
    op->req = core_request_ref(req);
    g_queue_push_tail(&d->ops, op);
    manager_run(d);
}

static const char *arg_string(CoreRequest *req, const char *name)
{
    QmpValue *args = core_request_arguments(req);

    return args ? qmp_value_dict_get_string(args, name) : NULL;
}

static gboolean id_taken(Manager *m, const char *id)
{
    g_autoptr(QmpValue) in_qemu = placement_describe(m->pl, id, NULL);

    return in_qemu || g_hash_table_contains(m->devices, id);
}

static ManagerDevice *find_by_key(Manager *m, const char *key)
{
    GHashTableIter iter;
    ManagerDevice *d;

    g_hash_table_iter_init(&iter, m->devices);
    while (g_hash_table_iter_next(&iter, NULL, (gpointer *)&d)) {
        /* one whose last reference is being dropped is as good as gone */
        if (strcmp(d->key, key) == 0 && d->step[TRACK_LIFE] != LIFE_REMOVED &&
            d->step[TRACK_LIFE] != LIFE_GONE) {
            return d;
        }
    }
    return NULL;
}

void manager_device_new_keyed(Manager *m, CoreRequest *req, const char *key)
{
    const char *driver = arg_string(req, "driver");
    const char *path = arg_string(req, "path");
    const char *id = arg_string(req, "id");
    QmpValue *ro = qmp_value_dict_get(core_request_arguments(req), "read-only");
    g_autofree char *desc = NULL;
    g_autofree char *generated = NULL;
    guint major_number = 0, minor_number = 0;
    ManagerKind kind =
        qmproxy_enum_value(qmproxy_device_driver_names, QMPROXY_DEVICE_DRIVER__MAX, driver);
    ManagerDevice *d = find_by_key(m, key);

    if (d) {
        /* checked in turn (is_for()) */
        queue_op(d, OP_NEW, req, key);
        return;
    }
    if (id && !manager_device_valid_id(id)) {
        desc = g_strdup("Parameter 'id' expects an identifier of at most 24 letters, digits, '-', "
                        "'.' and '_', starting with a letter");
    } else if (id && id_taken(m, id)) {
        ManagerDevice *holder = g_hash_table_lookup(m->devices, id);

        if (holder && !g_queue_is_empty(&holder->ops)) {
            /* decided in turn: the device may be gone by then, as it
             * would be had the client waited for each answer */
            queue_op(holder, OP_NEW, req, key);
            return;
        }
        desc = g_strdup_printf("Device id '%s' is already in use", id);
    }
    if (desc) {
        core_request_error(req, QMP_CLASS_GENERIC, desc);
        return;
    }
    for (guint n = 0; !id; n++) {
        g_free(generated);
        generated = g_strdup_printf("dev%u", n);
        id = id_taken(m, generated) ? NULL : generated;
    }
    d = manager_device_new(m, id, kind, path);
    d->key = g_strdup(key);
    d->read_only = ro && qmp_value_get_bool(ro);
    d->bus = g_strdup(arg_string(req, "bus"));
    d->has_rdev = sscanf(key, "block %u:%u", &major_number, &minor_number) == 2;
    d->major = major_number;
    d->minor = minor_number;
    manager_device_step(d, TRACK_LIFE, LIFE_UNSAVED);
    g_hash_table_insert(m->devices, d->id, d);
    g_message("device %s made for %s (%s)", d->id, d->path, driver);
    queue_op(d, OP_NEW, req, d->key);
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

void manager_dispatch(Manager *m, CoreRequest *req)
{
    const char *command = core_request_command(req);
    const char *id = arg_string(req, "id");
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
    while (strcmp(op_commands[kind], command) != 0) {
        kind++; /* the schema let only known commands through */
    }
    queue_op(d, kind, req, NULL);
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
    manager_dispatch(m, req);
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
