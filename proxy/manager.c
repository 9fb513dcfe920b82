/* manager.c - the device manager's commands, after Kata's DeviceManager.
 *
 * A device is made once per host device (device-new finds the one that
 * exists by path, or by major:minor for a block device) and lives until
 * its last reference is dropped. Attaching it the first time hot-plugs it
 * with the QMP sequence its kind needs; detaching it the last time
 * unplugs it and, once QEMU reports DEVICE_DELETED, removes its back end.
 * Addresses come from the core (devices.c): the device_add goes through
 * the same filling-in as a client's, so both share the index maps.
 *
 * Each device runs one operation at a time, from a queue; the head of the
 * queue is "busy" while QEMU works on it. Operations on different devices
 * interleave freely. A sequence that fails part way undoes what it did
 * and the operation fails with one error naming the step and QEMU's
 * words. */
#include "manager-internal.h"

#include "framer.h"
#include "writer.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#define EVENT_ATTACHED "__org.qmproxy_DEVICE_ATTACHED"
#define EVENT_DETACHED "__org.qmproxy_DEVICE_DETACHED"
#define DEFAULT_SCSI_BUS "scsi0.0"
/* node names are at most 31 characters: "drive-" and the id */
#define MAX_ID_LEN 24
/* What a client may make the proxy keep (and send QEMU) is bounded: a
 * path as long as the kernel takes, a bus named as QEMU names one. */
#define MAX_PATH_LEN (PATH_MAX - 1)
#define MAX_BUS_LEN 128
#define OWN_PREFIX "__org.qmproxy_"

const char *const manager_kind_names[KIND_COUNT] = {
    [KIND_VIRTIO_BLK] = "virtio-blk",
    [KIND_VIRTIO_SCSI] = "virtio-scsi",
    [KIND_VHOST_USER_BLK] = "vhost-user-blk",
    [KIND_VFIO_PCI] = "vfio-pci",
};

/* the QEMU device each kind becomes */
static const char *const kind_drivers[KIND_COUNT] = {
    [KIND_VIRTIO_BLK] = "virtio-blk-pci",
    [KIND_VIRTIO_SCSI] = "scsi-hd",
    [KIND_VHOST_USER_BLK] = "vhost-user-blk-pci",
    [KIND_VFIO_PCI] = "vfio-pci",
};

const char *const manager_state_names[STATE_COUNT] = { "detached", "plugging", "attached",
                                                       "unplugging" };

typedef enum {
    OP_NEW,
    OP_QUERY,
    OP_ATTACH,
    OP_DETACH,
    OP_REMOVE,
    OP_REFERENCE,
    OP_DEREFERENCE,
} OpKind;

static const char *const op_commands[] = {
    [OP_NEW] = "__org.qmproxy_device-new",
    [OP_QUERY] = "__org.qmproxy_query-device",
    [OP_ATTACH] = "__org.qmproxy_device-attach",
    [OP_DETACH] = "__org.qmproxy_device-detach",
    [OP_REMOVE] = "__org.qmproxy_device-remove",
    [OP_REFERENCE] = "__org.qmproxy_device-reference",
    [OP_DEREFERENCE] = "__org.qmproxy_device-dereference",
};

typedef struct {
    OpKind kind;
    ProxyClient *client; /* NULL once it is gone */
    gpointer slot;
    QmpValue *req_id;
    QmpValue *args; /* a device-new's, to make the device again if it went meanwhile */
    char *key;      /* a device-new's host device (manager_device_key()) */
} Op;

/* A command that arrived while a device-new looked its host device up:
 * it runs after, in order, as if that had been answered at once. */
typedef struct {
    ProxyClient *client;
    gpointer slot;
    char *command;
    QmpValue *id;
    QmpValue *args;
} Gated;

/* A device-new's look at its host device, off the main loop: stat() of
 * a path on a hung network mount would stop every client. */
typedef struct {
    Manager *m; /* NULL once the manager is gone */
    Gated request;
    Kind kind;
    char *path;
    char *key;   /* the result */
    gint refs;   /* the thread's, the time-out's (main loop only) */
    guint timer; /* a path that does not answer is told apart by its name */
    gboolean settled;
} Lookup;

/* How long a device-new waits for stat() of its host path. */
#define LOOKUP_TIMEOUT_MS 1000

/* One command sent to QEMU for a device. */
typedef struct {
    MDevice *d;
    DmPlug *plug;
    char *text;  /* a planned device_add */
    char *error; /* a failed device_add, while its back end is removed */
} Step;

/* A save a device waits for. */
typedef void (*Then)(MDevice *d, const GError *error);
typedef struct {
    Manager *m;
    MDevice *d;
    Then then;
} Saving;

static void run(MDevice *d);
static void step_free(Step *s);
static void lookup_unref(Lookup *l);

static void op_free(Op *op)
{
    qmp_value_unref(op->req_id);
    qmp_value_unref(op->args);
    g_free(op->key);
    g_free(op);
}

static void gated_clear(Gated *g)
{
    g_free(g->command);
    qmp_value_unref(g->id);
    qmp_value_unref(g->args);
}

static void gated_free(Gated *g)
{
    gated_clear(g);
    g_free(g);
}

MDevice *manager_device_new(Manager *m, const char *id, Kind kind, const char *path)
{
    MDevice *d = g_new0(MDevice, 1);

    d->m = m;
    d->id = g_strdup(id);
    d->kind = kind;
    d->path = g_strdup(path);
    g_queue_init(&d->ops);
    return d;
}

void manager_device_free(MDevice *d)
{
    g_clear_handle_id(&d->unplug_timer, g_source_remove);
    g_queue_clear_full(&d->ops, (GDestroyNotify)op_free);
    g_free(d->id);
    g_free(d->path);
    g_free(d->key);
    g_free(d->bus);
    g_free(d->refusal);
    g_free(d->chain_error);
    g_free(d->rollback_error);
    if (d->planned) {
        step_free(d->planned);
    }
    g_clear_error(&d->plug_save_error);
    g_free(d);
}

Manager *manager_new(Proxy *proxy)
{
    Manager *m = g_new0(Manager, 1);

    m->proxy = proxy;
    m->devices =
        g_hash_table_new_full(g_str_hash, g_str_equal, NULL, (GDestroyNotify)manager_device_free);
    m->savings = g_ptr_array_new_with_free_func(g_free);
    m->cleanups = g_ptr_array_new_with_free_func((GDestroyNotify)manager_cleanup_free);
    g_queue_init(&m->gated);
    return m;
}

void manager_shutdown(Manager *m)
{
    GHashTableIter iter;
    MDevice *d;

    m->closing = TRUE;
    g_clear_pointer(&m->state, state_file_free);
    g_hash_table_iter_init(&iter, m->devices);
    while (g_hash_table_iter_next(&iter, NULL, (gpointer *)&d)) {
        g_clear_handle_id(&d->unplug_timer, g_source_remove);
        for (GList *l = d->ops.head; l; l = l->next) {
            ((Op *)l->data)->client = NULL;
        }
    }
}

void manager_free(Manager *m)
{
    if (m) {
        state_file_free(m->state);
        g_hash_table_unref(m->devices);
        g_ptr_array_unref(m->savings);
        g_ptr_array_unref(m->cleanups);
        g_queue_clear_full(&m->gated, (GDestroyNotify)gated_free);
        if (m->lookup) {
            Lookup *l = m->lookup;

            l->m = NULL; /* freed when its thread reports */
            if (l->timer) {
                g_clear_handle_id(&l->timer, g_source_remove);
                lookup_unref(l);
            }
        }
        g_clear_pointer(&m->drive_names, g_hash_table_unref);
        qmp_value_unref(m->nodes);
        qmp_value_unref(m->chardevs);
        g_free(m);
    }
}

static gboolean pretty(Manager *m)
{
    return upstream_is_pretty(proxy_get_upstream(m->proxy));
}

static Dm *dm(Manager *m)
{
    return proxy_get_dm(m->proxy);
}

const char *manager_backend_name(MDevice *d, char *buf, gsize size)
{
    g_snprintf(buf, size, "%s-%s", d->kind == KIND_VHOST_USER_BLK ? "char" : "drive", d->id);
    return buf;
}

gboolean manager_has_backend(MDevice *d)
{
    return d->kind != KIND_VFIO_PCI;
}

/* The device as __org.qmproxy_DeviceInfo. */
static QmpValue *describe(MDevice *d)
{
    const char *state = manager_state_names[d->state];
    QmpValue *info = d->state != STATE_DETACHED ? dm_describe(dm(d->m), d->id, state) : NULL;
    char backend[64];

    if (!info) {
        info = qmp_value_new_dict();
        qmp_value_dict_add(info, "id", qmp_value_new_string(d->id));
        qmp_value_dict_add(info, "driver", qmp_value_new_string(kind_drivers[d->kind]));
        qmp_value_dict_add(info, "state", qmp_value_new_string(state));
    }
    qmp_value_dict_add(info, "kind", qmp_value_new_string(manager_kind_names[d->kind]));
    qmp_value_dict_add(info, "path", qmp_value_new_string(d->path));
    qmp_value_dict_add(info, "read-only", qmp_value_new_bool(d->read_only));
    if (d->has_rdev) {
        qmp_value_dict_add(info, "major", qmp_value_new_int(d->major));
        qmp_value_dict_add(info, "minor", qmp_value_new_int(d->minor));
    }
    qmp_value_dict_add(info, "attach-count", qmp_value_new_int(d->attach_count));
    qmp_value_dict_add(info, "reference-count", qmp_value_new_int(d->ref_count));
    if (d->kind == KIND_VHOST_USER_BLK && d->state != STATE_DETACHED) {
        qmp_value_dict_add(info, "chardev",
                           qmp_value_new_string(manager_backend_name(d, backend, sizeof(backend))));
    }
    return info;
}

/* Sends event @name about @d to the clients that asked for such events. */
static void emit(MDevice *d, const char *name)
{
    Manager *m = d->m;
    g_autoptr(QmpValue) event = qmp_value_new_dict();
    gint64 now = g_get_real_time();

    if (m->closing) {
        return;
    }
    QmpValue *timestamp = qmp_value_new_dict();
    qmp_value_dict_add(timestamp, "seconds", qmp_value_new_int(now / G_USEC_PER_SEC));
    qmp_value_dict_add(timestamp, "microseconds", qmp_value_new_int(now % G_USEC_PER_SEC));
    qmp_value_dict_add(event, "timestamp", timestamp);
    qmp_value_dict_add(event, "event", qmp_value_new_string(name));
    qmp_value_dict_add(event, "data", describe(d));

    g_autofree char *json = qmp_json_to_string(event, pretty(m));
    g_autofree char *text = pretty(m) ? qmp_monitor_text(json) : g_steal_pointer(&json);
    g_autofree char *line = g_strconcat(text, "\r\n", NULL);
    ProxyEvent ev = { event, line, strlen(line) };

    proxy_foreach_client(m->proxy, proxy_event_to_client, &ev);
}

/* Answers the operation at the head of @d's queue and takes it off. */
static void answer(MDevice *d, QmpValue *ret, const char *klass, const char *desc)
{
    Op *op = g_queue_pop_head(&d->ops);

    d->busy = FALSE;
    d->waiting = FALSE;
    g_clear_handle_id(&d->unplug_timer, g_source_remove);
    if (op->client && !d->m->closing) {
        GString *text = ret ? qmp_reply_return(ret, op->req_id, pretty(d->m))
                            : qmp_reply_error(klass, desc, op->req_id, pretty(d->m));

        proxy_client_answer(op->client, op->slot, text);
    }
    op_free(op);
}

static void answer_info(MDevice *d)
{
    g_autoptr(QmpValue) info = describe(d);

    answer(d, info, NULL, NULL);
}

/* The short name of the head operation's command, for messages. */
static const char *op_name(MDevice *d)
{
    Op *op = g_queue_peek_head(&d->ops);

    return op ? op_commands[op->kind] + strlen(OWN_PREFIX) : "device";
}

/* QEMU's error message in @reply, or why there is none. */
static const char *error_of(QmpValue *reply)
{
    QmpValue *err = reply ? qmp_value_dict_get(reply, "error") : NULL;
    const char *desc = err ? qmp_value_dict_get_string(err, "desc") : NULL;

    if (!reply) {
        return "QEMU went away";
    }
    return desc ? desc : "QEMU answered with an error";
}

static gboolean succeeded(QmpValue *reply)
{
    return reply && qmp_value_dict_get(reply, "return");
}

/* ---- saving ---- */

static void on_saved(gpointer data, const GError *error)
{
    Saving *s = data;
    Manager *m = s->m;

    s->then(s->d, error);
    g_ptr_array_remove_fast(m->savings, s);
}

/* Makes the change just made to @d durable, then calls @then (at once
 * without --state). */
static void persist(MDevice *d, Then then)
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

/* The sequence under way is over: @event (may be NULL) is sent and the
 * head operation answered (@error, taken: NULL for success) at once. The
 * outcome is saved after: until it is, the record on disk ("plugging",
 * "unplugging") already says what reconciliation would make of it. */
static void conclude(MDevice *d, char *error, const char *event)
{
    g_autofree char *desc = error;

    if (event) {
        emit(d, event);
    }
    if (desc) {
        g_message("%s", desc);
        answer(d, NULL, QMP_CLASS_GENERIC, desc);
    } else {
        answer_info(d);
    }
    manager_save(d->m);
    run(d);
}

static void fail(MDevice *d, const char *step, const char *why)
{
    conclude(d, g_strdup_printf("%s %s: %s failed: %s", op_name(d), d->id, step, why), NULL);
}

/* A change to be saved before anything is sent to QEMU could not be:
 * memory goes back to what the disk still says. */
static void refuse_unsaved(MDevice *d, const GError *error)
{
    g_autofree char *desc = g_strdup_printf("%s %s: cannot save the device table: %s", op_name(d),
                                            d->id, error->message);

    g_message("%s", desc);
    d->ref_count = d->undo_ref;
    d->removed = FALSE;
    if (d->events == d->undo_events) {
        /* what QEMU did meanwhile (a client's device_del) stays */
        d->attach_count = d->undo_attach;
        d->state = d->undo_state;
    }
    if (d->unsaved) {
        /* never on disk: it goes as if never made */
        g_hash_table_steal(d->m->devices, d->id);
        d->gone = TRUE;
    }
    answer(d, NULL, QMP_CLASS_GENERIC, desc);
    run(d);
}

/* ---- steps ---- */

static Step *step_new(MDevice *d)
{
    Step *s = g_new0(Step, 1);

    s->d = d;
    return s;
}

static void step_free(Step *s)
{
    if (s->plug) {
        dm_plug_done(s->plug, NULL); /* never sent: what it took is given back */
    }
    g_free(s->text);
    g_free(s->error);
    g_free(s);
}

/* Sends @json for @d unless the proxy is closing; FALSE if not sent. */
static gboolean send(MDevice *d, GString *json, RouteDone done, Step *step)
{
    if (d->m->closing) {
        step_free(step);
        return FALSE;
    }
    Op *op = g_queue_peek_head(&d->ops);

    /* in the trace, the commands an operation expands into are its client's */
    router_ask(proxy_get_router(d->m->proxy), json->str, json->len, TRUE, op ? op->client : NULL,
               done, step);
    return TRUE;
}

static void append_member(GString *json, const char *key, const char *value)
{
    g_string_append_printf(json, ", \"%s\": ", key);
    qmp_json_write_string(json, value);
}

GString *manager_backend_removal(MDevice *d)
{
    GString *json = g_string_new(NULL);
    char name[64];

    manager_backend_name(d, name, sizeof(name));
    if (d->kind == KIND_VHOST_USER_BLK) {
        g_string_printf(json, "{\"execute\": \"chardev-remove\", \"arguments\": {\"id\": \"%s\"}}",
                        name);
    } else {
        g_string_printf(
            json, "{\"execute\": \"blockdev-del\", \"arguments\": {\"node-name\": \"%s\"}}", name);
    }
    return json;
}

/* ---- attach: back end, device_add, rollback ---- */

/* An attach is two things at once: the QMP sequence (back end, then
 * device) and the "plugging" record on disk, which holds the address and
 * drive name the device gets, both chosen before either starts. After a
 * crash QEMU, not the record, says whether the device got there, and a
 * back end QEMU holds for a device it lacks is removed then. Only a disk
 * with a vdX name waits for its record before device_add: QEMU cannot
 * tell which name the guest was given. The answer waits for both; a
 * record that cannot be saved undoes the plug, so that memory, disk and
 * QEMU agree. */

static void plug_step_done(MDevice *d);

static void on_rolled_back(gpointer data, QmpValue *reply)
{
    Step *s = data;
    MDevice *d = s->d;

    if (reply && !succeeded(reply)) {
        g_warning("device %s: its back end is left in QEMU: %s", d->id, error_of(reply));
        d->chain_error =
            g_strdup_printf("%s (and undoing it failed: %s)", s->error, error_of(reply));
    } else {
        d->chain_error = g_steal_pointer(&s->error);
    }
    step_free(s);
    plug_step_done(d);
}

static void on_device_added(gpointer data, QmpValue *reply)
{
    Step *s = data;
    MDevice *d = s->d;

    /* no plug: QEMU already had a device of that id and refuses this one */
    if (s->plug) {
        dm_plug_done(g_steal_pointer(&s->plug), reply);
    }
    if (succeeded(reply)) {
        step_free(s);
        d->device_added = TRUE;
        plug_step_done(d);
        return;
    }
    s->error = g_strdup_printf("device_add failed: %s", error_of(reply));
    if (reply && manager_has_backend(d)) {
        /* the node or chardev made for it goes too */
        g_autoptr(GString) removal = manager_backend_removal(d);

        if (send(d, removal, on_rolled_back, s)) {
            return;
        }
        s = NULL;
    }
    d->chain_error = g_strdup_printf("device_add failed: %s", error_of(reply));
    if (s) {
        step_free(s);
    }
    plug_step_done(d);
}

/* The device_add for @d, its address and drive name chosen by the core
 * as for a client's device_add. */
static Step *plan_device_add(MDevice *d)
{
    g_autoptr(GString) json = g_string_new(NULL);
    g_autoptr(GString) rewritten = NULL;
    char backend[64];
    Step *s = step_new(d);

    g_string_printf(json, "{\"execute\": \"device_add\", \"arguments\": {\"driver\": \"%s\"",
                    kind_drivers[d->kind]);
    append_member(json, "id", d->id);
    manager_backend_name(d, backend, sizeof(backend));
    switch (d->kind) {
    case KIND_VIRTIO_SCSI:
        append_member(json, "bus", d->bus ? d->bus : DEFAULT_SCSI_BUS);
        append_member(json, "drive", backend);
        break;
    case KIND_VIRTIO_BLK:
        append_member(json, "drive", backend);
        break;
    case KIND_VHOST_USER_BLK:
        append_member(json, "chardev", backend);
        break;
    case KIND_VFIO_PCI:
    case KIND_COUNT: {
        /* /sys/bus/pci/devices/0000:01:00.0 -> host=0000:01:00.0 */
        g_autofree char *host = g_path_get_basename(d->path);

        append_member(json, "host", host);
        break;
    }
    }
    if (d->bus && d->kind != KIND_VIRTIO_SCSI) {
        append_member(json, "bus", d->bus);
    }
    g_string_append(json, "}}");

    g_autoptr(QmpValue) msg = qmp_json_parse(json->str, json->len);
    s->plug = dm_device_add(dm(d->m), msg, json->str, json->len, &rewritten);
    s->text = g_strdup(rewritten ? rewritten->str : json->str);
    return s;
}

static void add_device(MDevice *d)
{
    Step *s = g_steal_pointer(&d->planned);
    g_autoptr(GString) json = g_string_new(s->text);

    send(d, json, on_device_added, s); /* if not sent, step_free() gives the plug back */
}

/* The back end is there: the device follows, unless the record it had to
 * wait for could not be written (then the back end goes again). */
static void continue_plug(MDevice *d)
{
    if (d->record_first && d->plug_save_error) {
        g_autoptr(GString) removal = manager_backend_removal(d);
        Step *s = step_new(d);

        g_clear_pointer(&d->planned, step_free);
        s->error = g_strdup_printf("cannot save the device table: %s", d->plug_save_error->message);
        if (!send(d, removal, on_rolled_back, s)) {
            d->chain_error = g_strdup("QEMU went away");
            plug_step_done(d);
        }
        return;
    }
    add_device(d);
}

static void on_backend_added(gpointer data, QmpValue *reply)
{
    Step *s = data;
    MDevice *d = s->d;

    step_free(s);
    if (succeeded(reply)) {
        if (d->record_first && !d->record_done) {
            d->parked = TRUE; /* plug_saved() goes on */
            return;
        }
        continue_plug(d);
        return;
    }
    /* what was planned for the device is given back */
    g_clear_pointer(&d->planned, step_free);
    d->chain_error = g_strdup_printf(
        "%s failed: %s", d->kind == KIND_VHOST_USER_BLK ? "chardev-add" : "blockdev-add",
        error_of(reply));
    plug_step_done(d);
}

static void plug_saved(MDevice *d, const GError *error)
{
    d->record_done = TRUE;
    if (error) {
        d->plug_save_error = g_error_copy(error);
    }
    if (d->parked) {
        d->parked = FALSE;
        continue_plug(d);
    }
    plug_step_done(d);
}

static void unplug(MDevice *d, gboolean record);
static void remove_backend(MDevice *d);

/* The QMP sequence and the record are both done. */
static void plug_step_done(MDevice *d)
{
    if (--d->plug_pending > 0) {
        return;
    }
    g_autofree char *chain_error = g_steal_pointer(&d->chain_error);
    g_autoptr(GError) save_error = g_steal_pointer(&d->plug_save_error);

    if (chain_error) {
        /* QEMU has nothing of it (or says what it kept): the record says
         * plugging, which reconciliation makes detached */
        d->state = STATE_DETACHED;
        conclude(d, g_strdup_printf("%s %s: %s", op_name(d), d->id, chain_error), NULL);
        return;
    }
    if (save_error) {
        /* QEMU must not keep what the disk does not know of */
        char *desc = g_strdup_printf("%s %s: cannot save the device table: %s", op_name(d), d->id,
                                     save_error->message);

        if (!d->device_added) {
            d->state = STATE_DETACHED;
            conclude(d, desc, NULL);
            return;
        }
        d->rollback_error = desc;
        unplug(d, FALSE);
        return;
    }
    if (d->lost) {
        /* QEMU has it no more: what it held goes, and the attach failed */
        d->lost = FALSE;
        d->rollback_error = g_strdup_printf("%s %s: a client's device_del unplugged it meanwhile",
                                            op_name(d), d->id);
        d->state = STATE_UNPLUGGING;
        d->waiting = TRUE;
        remove_backend(d);
        return;
    }
    d->state = STATE_ATTACHED;
    d->attach_count = 1;
    g_message("device %s attached", d->id);
    conclude(d, NULL, EVENT_ATTACHED);
}

static void plug(MDevice *d)
{
    g_autoptr(GString) json = g_string_new(NULL);
    char name[64];

    d->state = STATE_PLUGGING;
    d->busy = TRUE;
    d->device_added = FALSE;
    /* a vdX name must be on disk before QEMU can have the device: QEMU
     * cannot tell a restarted proxy which one the guest was given */
    d->record_first = d->kind == KIND_VIRTIO_BLK || d->kind == KIND_VHOST_USER_BLK;
    d->record_done = d->parked = d->lost = FALSE;
    d->plug_pending = 2; /* the QMP sequence, the record */
    d->planned = plan_device_add(d);
    manager_backend_name(d, name, sizeof(name));
    switch (d->kind) {
    case KIND_VIRTIO_BLK:
    case KIND_VIRTIO_SCSI:
        g_string_printf(json,
                        "{\"execute\": \"blockdev-add\", \"arguments\": {\"driver\": \"%s\", "
                        "\"node-name\": \"%s\", \"read-only\": %s",
                        d->has_rdev ? "host_device" : "file", name,
                        d->read_only ? "true" : "false");
        append_member(json, "filename", d->path);
        g_string_append(json, "}}");
        break;
    case KIND_VHOST_USER_BLK:
        g_string_printf(json,
                        "{\"execute\": \"chardev-add\", \"arguments\": {\"id\": \"%s\", "
                        "\"backend\": {\"type\": \"socket\", \"data\": {\"server\": false, "
                        "\"addr\": {\"type\": \"unix\", \"data\": {\"path\": ",
                        name);
        qmp_json_write_string(json, d->path);
        g_string_append(json, "}}}}}}");
        break;
    case KIND_VFIO_PCI:
    case KIND_COUNT:
        break;
    }
    if (json->len) {
        if (!send(d, json, on_backend_added, step_new(d))) {
            return; /* closing */
        }
    } else {
        add_device(d);
    }
    persist(d, plug_saved);
}

/* ---- detach: device_del, DEVICE_DELETED, back end removal ---- */

static gboolean on_unplug_timeout(gpointer data)
{
    MDevice *d = data;
    g_autofree char *desc = NULL;

    d->unplug_timer = 0;
    g_clear_pointer(&d->rollback_error, g_free);
    desc = g_strdup_printf("%s %s: the guest did not release the device within %u s; it stays "
                           "unplugging, and a later device-detach waits again",
                           op_name(d), d->id, proxy_get_options(d->m->proxy)->unplug_timeout);
    g_message("%s", desc);
    answer(d, NULL, QMP_CLASS_GENERIC, desc);
    run(d);
    return G_SOURCE_REMOVE;
}

/* The head operation waits until the unplug under way is over. */
static void wait_unplug(MDevice *d)
{
    d->busy = TRUE;
    d->waiting = TRUE;
    if (!d->deleted && !d->unplug_timer) {
        d->unplug_timer = g_timeout_add_seconds(proxy_get_options(d->m->proxy)->unplug_timeout,
                                                on_unplug_timeout, d);
    }
}

/* The unplug is over (with @error when the back end could not be
 * removed): a detach that waited is answered, anything else that waited
 * runs again. */
static void unplugged(MDevice *d, const char *error)
{
    Op *op = g_queue_peek_head(&d->ops);

    d->state = STATE_DETACHED;
    d->deleted = FALSE;
    d->attach_count = 0;
    g_message("device %s detached", d->id);
    g_clear_handle_id(&d->unplug_timer, g_source_remove);
    if (d->rollback_error) {
        /* an attach undone: its record could not be saved, or a client's
         * device_del took the device meanwhile */
        d->waiting = FALSE;
        conclude(d, g_steal_pointer(&d->rollback_error), NULL);
        return;
    }
    if (op && d->waiting && op->kind == OP_DETACH) {
        d->waiting = FALSE;
        if (error) {
            conclude(d,
                     g_strdup_printf(
                         "%s %s: %s failed: %s", op_name(d), d->id,
                         d->kind == KIND_VHOST_USER_BLK ? "chardev-remove" : "blockdev-del", error),
                     EVENT_DETACHED);
        } else {
            conclude(d, NULL, EVENT_DETACHED);
        }
        return;
    }
    if (d->waiting) {
        /* an attach or remove that waited runs now */
        d->busy = d->waiting = FALSE;
    }
    emit(d, EVENT_DETACHED);
    manager_save(d->m);
    run(d);
}

static void on_backend_removed(gpointer data, QmpValue *reply)
{
    Step *s = data;
    MDevice *d = s->d;

    step_free(s);
    if (reply && !succeeded(reply)) {
        g_warning("device %s: its back end could not be removed: %s", d->id, error_of(reply));
    }
    unplugged(d, succeeded(reply) ? NULL : error_of(reply));
}

/* QEMU has let go of the device: its back end can go. */
static void remove_backend(MDevice *d)
{
    d->deleted = TRUE;
    g_clear_handle_id(&d->unplug_timer, g_source_remove);
    if (manager_has_backend(d)) {
        g_autoptr(GString) removal = manager_backend_removal(d);

        if (send(d, removal, on_backend_removed, step_new(d))) {
            return;
        }
    }
    unplugged(d, NULL);
}

static gboolean is_not_found(QmpValue *reply)
{
    QmpValue *err = reply ? qmp_value_dict_get(reply, "error") : NULL;

    return err && g_strcmp0(qmp_value_dict_get_string(err, "class"), "DeviceNotFound") == 0;
}

static void refusal_saved(MDevice *d, const GError *error)
{
    g_autofree char *why = g_steal_pointer(&d->refusal);
    Op *op = g_queue_peek_head(&d->ops);

    d->refusal_pending = FALSE;
    if (error) {
        g_warning("device %s: its refused unplug could not be saved: %s", d->id, error->message);
    }
    if (d->rollback_error) {
        /* an attach whose record could not be saved, and QEMU keeps it */
        g_autofree char *rollback = g_steal_pointer(&d->rollback_error);

        d->waiting = FALSE;
        conclude(d, g_strdup_printf("%s (and its device_del failed: %s)", rollback, why), NULL);
        return;
    }
    if (d->waiting && op && op->kind == OP_DETACH) {
        d->waiting = FALSE;
        fail(d, "device_del", why);
        return;
    }
    if (d->waiting) {
        /* an attach or remove that waited for the unplug runs now */
        d->busy = d->waiting = FALSE;
    }
    run(d);
}

static void on_device_del(gpointer data, QmpValue *reply)
{
    Step *s = data;
    MDevice *d = s->d;

    step_free(s);
    d->del_pending--;
    if (d->gone) {
        run(d); /* removed meanwhile: freed now that nothing refers to it */
        return;
    }
    if (succeeded(reply) || d->deleted || !reply ||
        strstr(error_of(reply), "already in the process of unplug")) {
        return; /* now DEVICE_DELETED, or the time-out */
    }
    if (is_not_found(reply)) {
        /* someone else unplugged it: what it held is ours to remove */
        remove_backend(d);
        return;
    }
    /* refused: the device stays, and the record must say so before anyone
     * hears it, or a restart would send the device_del again */
    d->state = STATE_ATTACHED;
    d->attach_count = 1;
    g_clear_handle_id(&d->unplug_timer, g_source_remove);
    g_free(d->refusal);
    d->refusal = g_strdup(error_of(reply));
    d->refusal_pending = TRUE;
    persist(d, refusal_saved);
}

void manager_send_device_del(MDevice *d)
{
    g_autoptr(GString) json = g_string_new("{\"execute\": \"device_del\", \"arguments\": {");

    g_string_append(json, "\"id\": ");
    qmp_json_write_string(json, d->id);
    g_string_append(json, "}}");
    if (send(d, json, on_device_del, step_new(d))) {
        d->del_pending++;
    }
}

/* The unplug is on record (state unplugging): QEMU may get it. */
static void unplug_saved(MDevice *d, const GError *error)
{
    if (d->state == STATE_DETACHED) {
        /* a client's device_del was faster: the detach is done */
        conclude(d, NULL, NULL);
        return;
    }
    if (error) {
        refuse_unsaved(d, error);
        return;
    }
    wait_unplug(d);
    manager_send_device_del(d);
}

/* Unplugs @d: device_del once "unplugging" is on record, or at once when
 * undoing a plug whose record could not be written (@record FALSE). */
static void unplug(MDevice *d, gboolean record)
{
    d->state = STATE_UNPLUGGING;
    d->attach_count = 0;
    d->deleted = FALSE;
    d->busy = TRUE;
    if (record) {
        persist(d, unplug_saved);
    } else {
        unplug_saved(d, NULL);
    }
}

void manager_event(Manager *m, QmpValue *event)
{
    QmpValue *data = qmp_value_dict_get(event, "data");
    const char *id;
    MDevice *d;

    if (g_strcmp0(qmp_value_dict_get_string(event, "event"), "DEVICE_DELETED") != 0 || !data ||
        qmp_value_type(data) != QMP_VALUE_DICT ||
        !(id = qmp_value_dict_get_string(data, "device")) ||
        !(d = g_hash_table_lookup(m->devices, id)) || d->deleted) {
        return;
    }
    d->events++;
    if (d->state == STATE_PLUGGING) {
        /* a client's device_del after our device_add, before the attach
         * is answered (its record still being written): settled there */
        d->lost = TRUE;
        return;
    }
    if (d->state == STATE_ATTACHED) {
        /* a plain device_del of a managed device: detached all the same */
        g_message("device %s was unplugged by a client's device_del", d->id);
        d->state = STATE_UNPLUGGING;
    }
    if (d->state == STATE_UNPLUGGING) {
        remove_backend(d);
    }
}

/* ---- operations ---- */

/* A change of counts is saved: answered, or undone. */
static void counted(MDevice *d, const GError *error)
{
    if (error) {
        refuse_unsaved(d, error);
        return;
    }
    d->unsaved = FALSE;
    if (d->removed) {
        g_message("device %s removed", d->id);
        g_hash_table_steal(d->m->devices, d->id);
        d->gone = TRUE;
    }
    answer_info(d);
    run(d);
}

static void device_new_keyed(Manager *m, ProxyClient *client, gpointer slot, const QmpRequest *req,
                             const char *key);

/* The kind named @name (the schema lets only known names through). */
static Kind kind_of(const char *name)
{
    Kind kind = 0;

    while (strcmp(manager_kind_names[kind], name) != 0) {
        kind++;
    }
    return kind;
}

/* Whether device-new @op asks for @d: the same host device, as the same
 * kind; if not, why not in *@why. */
static gboolean is_for(MDevice *d, Op *op, char **why)
{
    const char *path = qmp_value_dict_get_string(op->args, "path");
    QmpValue *ro = qmp_value_dict_get(op->args, "read-only");
    gboolean read_only = ro && qmp_value_get_bool(ro);
    Kind kind = kind_of(qmp_value_dict_get_string(op->args, "driver"));
    if (strcmp(op->key, d->key) != 0) {
        *why = g_strdup_printf("Device id '%s' is already in use", d->id);
        return FALSE;
    }
    if (kind != d->kind || read_only != d->read_only) {
        /* the host device has one device, which cannot be two things */
        *why = g_strdup_printf("Device '%s' already exists for %s as %s%s", d->id, path,
                               d->read_only ? "read-only " : "", manager_kind_names[d->kind]);
        return FALSE;
    }
    return TRUE;
}

/* Starts the head operation: it completes now, or makes @d busy. */
static void start(MDevice *d, Op *op)
{
    g_autofree char *desc = NULL;

    if (d->gone && op->kind == OP_NEW) {
        /* queued behind the remove of the device it found: made anew */
        QmpRequest req = { op_commands[OP_NEW], FALSE, op->req_id, op->args };
        Op *taken = g_queue_pop_head(&d->ops);

        device_new_keyed(d->m, taken->client, taken->slot, &req, taken->key);
        op_free(taken);
        return;
    }
    if (d->gone) {
        desc = g_strdup_printf("Device '%s' not found", d->id);
        answer(d, NULL, "DeviceNotFound", desc);
        return;
    }
    if (d->state == STATE_UNPLUGGING &&
        (op->kind == OP_ATTACH || op->kind == OP_DETACH || op->kind == OP_REMOVE)) {
        wait_unplug(d);
        return;
    }
    d->undo_attach = d->attach_count;
    d->undo_ref = d->ref_count;
    d->undo_state = d->state;
    d->undo_events = d->events;
    switch (op->kind) {
    case OP_QUERY:
        answer_info(d);
        return;
    case OP_NEW:
        if (!is_for(d, op, &desc)) {
            answer(d, NULL, QMP_CLASS_GENERIC, desc);
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
        if (d->state == STATE_DETACHED) {
            plug(d);
            return;
        }
        d->attach_count++;
        break;
    case OP_DETACH:
        if (d->attach_count == 0) {
            desc = g_strdup_printf("Device '%s' is not attached", d->id);
            answer(d, NULL, QMP_CLASS_GENERIC, desc);
            return;
        }
        if (d->attach_count == 1) {
            unplug(d, TRUE);
            return;
        }
        d->attach_count--;
        break;
    case OP_REMOVE:
        if (d->attach_count > 0 || d->state != STATE_DETACHED) {
            desc = g_strdup_printf("Device '%s' is attached (attach count %u): detach it first",
                                   d->id, d->attach_count);
            answer(d, NULL, QMP_CLASS_GENERIC, desc);
            return;
        }
        d->ref_count -= d->ref_count > 0;
        d->removed = d->ref_count == 0;
        break;
    }
    d->busy = TRUE;
    persist(d, counted);
}

/* Runs queued operations until one has to wait for QEMU or the disk. */
static void run(MDevice *d)
{
    Op *op;

    if (d->running) {
        return; /* the caller's loop goes on */
    }
    d->running = TRUE;
    /* once closing, only a removed device's queue is emptied (unanswered) */
    while (!d->busy && !d->refusal_pending && (!d->m->closing || d->gone) &&
           (op = g_queue_peek_head(&d->ops))) {
        start(d, op);
    }
    d->running = FALSE;
    if (d->gone && !d->busy && !d->refusal_pending && !d->del_pending &&
        g_queue_is_empty(&d->ops)) {
        manager_device_free(d);
    }
}

static const char *arg_string(const QmpRequest *req, const char *name)
{
    return req->arguments ? qmp_value_dict_get_string(req->arguments, name) : NULL;
}

static void reply_now(Manager *m, ProxyClient *client, gpointer slot, const QmpRequest *req,
                      QmpValue *ret, const char *klass, const char *desc)
{
    if (!client) {
        return; /* it left while its device-new looked the host device up */
    }
    GString *text = ret ? qmp_reply_return(ret, req->id, pretty(m))
                        : qmp_reply_error(klass, desc, req->id, pretty(m));

    proxy_client_answer(client, slot, text);
}

static void queue_op(MDevice *d, OpKind kind, ProxyClient *client, gpointer slot,
                     const QmpRequest *req, const char *key)
{
    Op *op = g_new0(Op, 1);

    op->key = g_strdup(key);
    op->kind = kind;
    op->client = client;
    op->slot = slot;
    op->req_id = req->id ? qmp_value_ref(req->id) : NULL;
    op->args = kind == OP_NEW ? qmp_value_ref(req->arguments) : NULL;
    g_queue_push_tail(&d->ops, op);
    run(d);
}

gboolean manager_valid_id(const char *id)
{
    gsize len = strlen(id);

    if (len == 0 || len > MAX_ID_LEN || !g_ascii_isalpha(id[0])) {
        return FALSE;
    }
    return strspn(id, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._") == len;
}

static gboolean id_taken(Manager *m, const char *id)
{
    g_autoptr(QmpValue) in_qemu = dm_describe(dm(m), id, NULL);

    return in_qemu || g_hash_table_contains(m->devices, id);
}

static MDevice *find_by_key(Manager *m, const char *key)
{
    GHashTableIter iter;
    MDevice *d;

    g_hash_table_iter_init(&iter, m->devices);
    while (g_hash_table_iter_next(&iter, NULL, (gpointer *)&d)) {
        /* one whose last reference is being dropped is as good as gone */
        if (strcmp(d->key, key) == 0 && !d->removed && !d->gone) {
            return d;
        }
    }
    return NULL;
}

char *manager_device_key(Kind kind, const char *path, struct stat *st)
{
    if (kind != KIND_VFIO_PCI && kind != KIND_VHOST_USER_BLK && stat(path, st) == 0 &&
        S_ISBLK(st->st_mode)) {
        return g_strdup_printf("block %u:%u", major(st->st_rdev), minor(st->st_rdev));
    }
    return g_canonicalize_filename(path, "/");
}

/* The rest of a device-new, once @key, its host device, is known. */
static void device_new_keyed(Manager *m, ProxyClient *client, gpointer slot, const QmpRequest *req,
                             const char *key)
{
    const char *driver = arg_string(req, "driver");
    const char *path = arg_string(req, "path");
    const char *id = arg_string(req, "id");
    QmpValue *ro = qmp_value_dict_get(req->arguments, "read-only");
    g_autofree char *desc = NULL;
    g_autofree char *generated = NULL;
    guint major_number = 0, minor_number = 0;
    Kind kind = kind_of(driver);
    MDevice *d = find_by_key(m, key);
    gboolean read_only = ro && qmp_value_get_bool(ro);
    if (d) {
        /* checked in turn (is_for()) */
        queue_op(d, OP_NEW, client, slot, req, key);
        return;
    }
    if (id && !manager_valid_id(id)) {
        desc = g_strdup_printf("Parameter 'id' expects an identifier of at most %d letters, "
                               "digits, '-', '.' and '_', starting with a letter",
                               MAX_ID_LEN);
    } else if (id && id_taken(m, id)) {
        MDevice *holder = g_hash_table_lookup(m->devices, id);

        if (holder && !g_queue_is_empty(&holder->ops)) {
            /* decided in turn: the device may be gone by then, as it
             * would be had the client waited for each answer */
            queue_op(holder, OP_NEW, client, slot, req, key);
            return;
        }
        desc = g_strdup_printf("Device id '%s' is already in use", id);
    }
    if (desc) {
        reply_now(m, client, slot, req, NULL, QMP_CLASS_GENERIC, desc);
        return;
    }
    for (guint n = 0; !id; n++) {
        g_free(generated);
        generated = g_strdup_printf("dev%u", n);
        id = id_taken(m, generated) ? NULL : generated;
    }
    d = manager_device_new(m, id, kind, path);
    d->key = g_strdup(key);
    d->read_only = read_only;
    d->bus = g_strdup(arg_string(req, "bus"));
    d->has_rdev = sscanf(key, "block %u:%u", &major_number, &minor_number) == 2;
    d->major = major_number;
    d->minor = minor_number;
    d->unsaved = TRUE;
    g_hash_table_insert(m->devices, d->id, d);
    g_message("device %s made for %s (%s)", d->id, d->path, driver);
    queue_op(d, OP_NEW, client, slot, req, d->key);
}

static void dispatch(Manager *m, ProxyClient *client, gpointer slot, const QmpRequest *req);

static void lookup_unref(Lookup *l)
{
    if (--l->refs == 0) {
        gated_clear(&l->request);
        g_free(l->path);
        g_free(l->key);
        g_free(l);
    }
}

/* The device-new goes on with @key; what waited behind it runs, until a
 * device-new has to look again. */
static void lookup_settle(Lookup *l, const char *key)
{
    Manager *m = l->m;
    Gated *g;

    l->settled = TRUE;
    if (l->timer) {
        g_clear_handle_id(&l->timer, g_source_remove);
        lookup_unref(l);
    }
    if (!m) {
        return;
    }
    QmpRequest req = { l->request.command, FALSE, l->request.id, l->request.args };
    m->lookup = NULL;
    device_new_keyed(m, l->request.client, l->request.slot, &req, key);
    while (!m->lookup && (g = g_queue_pop_head(&m->gated))) {
        QmpRequest next = { g->command, FALSE, g->id, g->args };

        dispatch(m, g->client, g->slot, &next);
        gated_free(g);
    }
}

static gboolean lookup_timeout(gpointer data)
{
    Lookup *l = data;
    g_autofree char *key = g_canonicalize_filename(l->path, "/");

    l->timer = 0;
    g_warning("device-new: stat() of %s did not answer within %d ms; it is told apart by its "
              "path",
              l->path, LOOKUP_TIMEOUT_MS);
    lookup_settle(l, key);
    lookup_unref(l);
    return G_SOURCE_REMOVE;
}

static gboolean lookup_done(gpointer data)
{
    Lookup *l = data;

    if (!l->settled) {
        lookup_settle(l, l->key);
    }
    lookup_unref(l);
    return G_SOURCE_REMOVE;
}

static gpointer lookup_thread(gpointer data)
{
    Lookup *l = data;
    struct stat st;

    l->key = manager_device_key(l->kind, l->path, &st);
    g_idle_add(lookup_done, l);
    return NULL;
}

static void gate_fill(Gated *g, ProxyClient *client, gpointer slot, const QmpRequest *req)
{
    g->client = client;
    g->slot = slot;
    g->command = g_strdup(req->command);
    g->id = req->id ? qmp_value_ref(req->id) : NULL;
    g->args = req->arguments ? qmp_value_ref(req->arguments) : NULL;
}

/* Kata's NewDevice: the device for a host device, made if need be. */
static void device_new(Manager *m, ProxyClient *client, gpointer slot, const QmpRequest *req)
{
    const char *path = arg_string(req, "path");
    Kind kind = kind_of(arg_string(req, "driver"));

    const char *bus = arg_string(req, "bus");
    g_autofree char *problem = NULL;

    if (!g_path_is_absolute(path)) {
        /* QEMU would open it from its own working directory */
        problem = g_strdup("Parameter 'path' expects an absolute path");
    } else if (strlen(path) > MAX_PATH_LEN) {
        problem =
            g_strdup_printf("Parameter 'path' expects a path of at most %d bytes", MAX_PATH_LEN);
    } else if (bus && (!*bus || strlen(bus) > MAX_BUS_LEN)) {
        problem = g_strdup_printf("Parameter 'bus' expects a bus id of 1 to %d bytes", MAX_BUS_LEN);
    }
    if (problem) {
        reply_now(m, client, slot, req, NULL, QMP_CLASS_GENERIC, problem);
        return;
    }
    if (kind == KIND_VFIO_PCI || kind == KIND_VHOST_USER_BLK) {
        struct stat unused;
        g_autofree char *key = manager_device_key(kind, path, &unused); /* no stat() */

        device_new_keyed(m, client, slot, req, key);
        return;
    }
    Lookup *l = g_new0(Lookup, 1);
    l->m = m;
    gate_fill(&l->request, client, slot, req);
    l->kind = kind;
    l->path = g_strdup(path);
    l->refs = 2;
    l->timer = g_timeout_add(LOOKUP_TIMEOUT_MS, lookup_timeout, l);
    m->lookup = l;
    g_thread_unref(g_thread_new("qmproxy-stat", lookup_thread, l));
}

static void query_devices(Manager *m, ProxyClient *client, gpointer slot, const QmpRequest *req)
{
    g_autoptr(QmpValue) list = dm_query_devices(dm(m), m->devices);
    GHashTableIter iter;
    MDevice *d;

    g_hash_table_iter_init(&iter, m->devices);
    while (g_hash_table_iter_next(&iter, NULL, (gpointer *)&d)) {
        qmp_value_list_append(list, describe(d));
    }
    reply_now(m, client, slot, req, list, NULL, NULL);
}

static void dispatch(Manager *m, ProxyClient *client, gpointer slot, const QmpRequest *req)
{
    const char *id = arg_string(req, "id");
    g_autofree char *desc = NULL;
    OpKind kind = OP_QUERY;

    if (strcmp(req->command, "__org.qmproxy_query-devices") == 0) {
        query_devices(m, client, slot, req);
        return;
    }
    if (strcmp(req->command, op_commands[OP_NEW]) == 0) {
        device_new(m, client, slot, req);
        return;
    }
    MDevice *d = g_hash_table_lookup(m->devices, id);
    if (!d) {
        desc = g_strdup_printf("Device '%s' not found", id);
        reply_now(m, client, slot, req, NULL, "DeviceNotFound", desc);
        return;
    }
    while (strcmp(op_commands[kind], req->command) != 0) {
        kind++; /* the schema let only known commands through */
    }
    queue_op(d, kind, client, slot, req, NULL);
}

void manager_execute(Manager *m, ProxyClient *client, gpointer slot, const QmpRequest *req)
{
    if (m->lookup) {
        Gated *g = g_new0(Gated, 1);

        gate_fill(g, client, slot, req);
        g_queue_push_tail(&m->gated, g);
        return;
    }
    dispatch(m, client, slot, req);
}

void manager_forget_client(Manager *m, ProxyClient *client)
{
    GHashTableIter iter;
    MDevice *d;

    if (m->lookup && ((Lookup *)m->lookup)->request.client == client) {
        ((Lookup *)m->lookup)->request.client = NULL;
    }
    for (GList *l = m->gated.head; l; l = l->next) {
        Gated *g = l->data;

        if (g->client == client) {
            g->client = NULL;
        }
    }

    g_hash_table_iter_init(&iter, m->devices);
    while (g_hash_table_iter_next(&iter, NULL, (gpointer *)&d)) {
        for (GList *l = d->ops.head; l; l = l->next) {
            Op *op = l->data;

            if (op->client == client) {
                op->client = NULL;
            }
        }
    }
}
