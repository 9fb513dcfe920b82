/* reconcile.c - at start, the table loaded from the state file is brought
 * in line with what QEMU really has, before any client is served.
 *
 * Whatever instant the proxy died at, the file says which operation may
 * have been cut short, and QEMU says how far it got:
 *   plugging, QEMU has the device     -> attached (the attach completed)
 *   plugging, QEMU lacks it           -> detached; a node made for it goes
 *   unplugging, QEMU has the device   -> device_del sent again; its
 *                                        DEVICE_DELETED completes the detach
 *   unplugging, QEMU lacks it         -> detached; its back end goes
 *   attached, QEMU lacks it           -> detached (logged)
 *   detached, QEMU has it             -> attached (logged)
 * Addresses are not taken from the file: placement learns them from QEMU,
 * so an index is in use exactly when QEMU uses it. The one thing QEMU
 * cannot tell, which vdX name a virtio-blk disk got, comes from the file. */
#include "manager-internal.h"

#include "writer.h"

#include <string.h>

/* A back end to remove. QEMU drops a device from its tree before it lets
 * go of the device's node, and the DEVICE_DELETED that says it did went to
 * the proxy that died: "in use" is worth a few more tries. */
typedef struct {
    Manager *m;
    QmpValue *cmd;
    guint tries;
    guint timer;
    gboolean may_be_gone; /* what it removes may not be there */
} Cleanup;

#define CLEANUP_TRIES 50
#define CLEANUP_RETRY_MS 20

static void cleanup_free(Cleanup *c)
{
    g_clear_handle_id(&c->timer, g_source_remove);
    qmp_value_unref(c->cmd);
    g_free(c);
}

static void reconciled(Manager *m)
{
    g_autoptr(QmpValue) others = placement_query_devices(m->pl, m->devices);
    guint unknown = qmp_value_list_length(others);

    if (unknown) {
        g_debug("%u other device(s) in QEMU (controllers, ports, devices plugged with "
                "device_add) stay placement's",
                unknown);
    }
    g_clear_pointer(&m->nodes, qmp_value_unref);
    g_clear_pointer(&m->chardevs, qmp_value_unref);
    manager_table_save(m);
    core_layer_started(g_steal_pointer(&m->starting));
}

static void one_done(Manager *m)
{
    if (--m->reconciling == 0 && !m->closing) {
        reconciled(m);
    }
}

static void cleanup_send(Cleanup *c);

static gboolean cleanup_retry(gpointer data)
{
    Cleanup *c = data;

    c->timer = 0;
    cleanup_send(c);
    return G_SOURCE_REMOVE;
}

static void on_cleanup_reply(gpointer data, QmpValue *reply)
{
    Cleanup *c = data;
    Manager *m = c->m;
    QmpValue *err = reply ? qmp_value_dict_get(reply, "error") : NULL;
    const char *desc = err ? qmp_value_dict_get_string(err, "desc") : NULL;

    if (m->closing) {
        return; /* freed with the manager */
    }
    if (desc && strstr(desc, "is in use") && ++c->tries < CLEANUP_TRIES) {
        c->timer = g_timeout_add(CLEANUP_RETRY_MS, cleanup_retry, c);
        return;
    }
    /* (a netdev_del took the chardev with it: not there is done) */
    if (err && !(c->may_be_gone && manager_qemu_not_found(reply))) {
        g_autofree char *text = qmp_json_to_string(reply, FALSE);

        g_warning("reconciling: QEMU refused a clean-up: %s", text);
    }
    g_ptr_array_remove_fast(m->cleanups, c);
    cleanup_free(c);
    one_done(m);
}

static void cleanup_send(Cleanup *c)
{
    core_layer_send(c->m->layer, qmp_value_ref(c->cmd), CORE_SEND_TRACED, NULL, on_cleanup_reply,
                    c);
}

static void clean_up(Manager *m, QmpValue *cmd, gboolean may_be_gone)
{
    Cleanup *c = g_new0(Cleanup, 1);

    c->m = m;
    c->cmd = cmd;
    c->may_be_gone = may_be_gone;
    g_ptr_array_add(m->cleanups, c);
    m->reconciling++;
    cleanup_send(c);
}

/* Whether QEMU has the back end made for @d (for vhost-user-net, its
 * chardev: its netdev, if any, holds it). */
static gboolean backend_present(Manager *m, ManagerDevice *d)
{
    gboolean chardev = manager_kind_is_vhost_user(d->kind);
    QmpValue *list = chardev ? m->chardevs : m->nodes;
    const char *key = chardev ? "label" : "node-name";
    g_autofree char *name = manager_device_backend_name(d);

    for (guint i = 0;
         list && qmp_value_type(list) == QMP_VALUE_LIST && i < qmp_value_list_length(list); i++) {
        QmpValue *item = qmp_value_list_get(list, i);

        if (qmp_value_type(item) == QMP_VALUE_DICT &&
            g_strcmp0(qmp_value_dict_get_string(item, key), name) == 0) {
            return TRUE;
        }
    }
    return FALSE;
}

static void reconcile_device(Manager *m, ManagerDevice *d)
{
    g_autoptr(QmpValue) in_qemu = placement_describe(m->pl, d->id, NULL);
    ManagerState was = d->state;

    if (in_qemu) {
        if (was == QMPROXY_DEVICE_STATE_UNPLUGGING) {
            g_message("device %s: resuming its unplug", d->id);
            manager_unplug_send(d);
            return;
        }
        if (was != QMPROXY_DEVICE_STATE_ATTACHED) {
            g_message("device %s: QEMU has it (it was %s): attached", d->id,
                      qmproxy_device_state_names[was]);
            manager_device_state(d, QMPROXY_DEVICE_STATE_ATTACHED);
            d->attach_count = MAX(d->attach_count, 1);
        }
        return;
    }
    if (was != QMPROXY_DEVICE_STATE_DETACHED) {
        g_message("device %s: QEMU does not have it (it was %s): detached", d->id,
                  qmproxy_device_state_names[was]);
    }
    manager_device_state(d, QMPROXY_DEVICE_STATE_DETACHED);
    d->attach_count = 0;
    if (manager_qemu_backend_steps(d) && backend_present(m, d)) {
        /* made for a plug that never completed, or left by an unplug */
        g_message("device %s: removing what QEMU still holds for it", d->id);
        if (d->kind == QMPROXY_DEVICE_DRIVER_VHOST_USER_NET) {
            /* QEMU 7.2 cannot list netdevs: the netdev (and its chardev)
             * if there is one, then the chardev if it is left */
            clean_up(m, manager_qemu_backend_removal(d, 2), TRUE);
            clean_up(m, manager_qemu_backend_removal(d, 1), TRUE);
        } else {
            clean_up(m, manager_qemu_backend_removal(d, 1), FALSE);
        }
    }
}

static void got_backends(Manager *m)
{
    GHashTableIter iter;
    ManagerDevice *d;

    g_hash_table_iter_init(&iter, m->devices);
    while (g_hash_table_iter_next(&iter, NULL, (gpointer *)&d)) {
        reconcile_device(m, d);
    }
}

static QmpValue *return_of(QmpValue *reply)
{
    QmpValue *ret = reply ? qmp_value_dict_get(reply, "return") : NULL;

    return ret ? qmp_value_ref(ret) : NULL;
}

static void on_nodes(gpointer data, QmpValue *reply)
{
    Manager *m = data;

    m->nodes = return_of(reply);
}

static void on_chardevs(gpointer data, QmpValue *reply)
{
    Manager *m = data;

    m->chardevs = return_of(reply);
    if (!m->closing) {
        got_backends(m);
        /* the answers reconciliation waits for are counted from here */
        one_done(m);
    }
}

void manager_reconcile_start(Manager *m, CoreLayer *layer)
{
    GHashTableIter iter;
    gpointer id, index;

    m->starting = layer;
    if (m->drive_names) {
        g_hash_table_iter_init(&iter, m->drive_names);
        while (g_hash_table_iter_next(&iter, &id, &index)) {
            placement_restore_drive_index(m->pl, id, GPOINTER_TO_UINT(index) - 1);
        }
        g_clear_pointer(&m->drive_names, g_hash_table_unref);
    }
    if (g_hash_table_size(m->devices) == 0) {
        core_layer_started(g_steal_pointer(&m->starting));
        return;
    }
    /* replies come in order: the chardevs' answer comes after the nodes' */
    core_layer_send(layer, qmp_command_new("query-named-block-nodes", NULL), 0, NULL, on_nodes, m);
    m->reconciling++;
    core_layer_send(layer, qmp_command_new("query-chardev", NULL), 0, NULL, on_chardevs, m);
}

void manager_reconcile_free(Manager *m)
{
    for (guint i = 0; i < m->cleanups->len; i++) {
        cleanup_free(g_ptr_array_index(m->cleanups, i));
    }
    g_ptr_array_set_size(m->cleanups, 0);
    g_clear_pointer(&m->nodes, qmp_value_unref);
    g_clear_pointer(&m->chardevs, qmp_value_unref);
}
