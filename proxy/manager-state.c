/* manager-state.c - the device table that survives the proxy: what is
 * written after every change (--state), read back at start, and brought
 * in line with what QEMU really has before any client is served.
 *
 * An attach writes its "plugging" record (with the address and drive name
 * chosen for the device) while QEMU adds the back end and, but for disks
 * with a vdX name, the device; it is answered once both are done.
 * Everything QEMU gets is named from the device's id, so a node or
 * chardev QEMU holds for a device it does not have is found and removed. A detach is "unplugging"
 * on disk before its device_del. Outcomes are saved after the answer: until they are, the record
 * already says what reconciliation makes of them. So whatever instant the proxy dies at, the file
 * says which operation may have been cut short, and QEMU says how far it got: plugging, QEMU has
 * the device     -> attached (the attach completed) plugging, QEMU lacks it           -> detached;
 * a node made for it goes unplugging, QEMU has the device   -> device_del sent again; its
 *                                        DEVICE_DELETED completes the detach
 *   unplugging, QEMU lacks it         -> detached; its back end goes
 *   attached, QEMU lacks it           -> detached (logged)
 *   detached, QEMU has it             -> attached (logged)
 * Addresses are not taken from the file: the core learns them from QEMU,
 * so an index is in use exactly when QEMU uses it. The one thing QEMU
 * cannot tell, which vdX name a virtio-blk disk got, comes from the file. */
#include "manager-internal.h"

#include "writer.h"

#include <string.h>

static void add_string(QmpValue *dict, const char *key, const char *value)
{
    if (value) {
        qmp_value_dict_add(dict, key, qmp_value_new_string(value));
    }
}

GString *manager_snapshot(gpointer manager)
{
    Manager *m = manager;
    g_autoptr(QmpValue) root = qmp_value_new_dict();
    QmpValue *devices = qmp_value_new_list();
    GHashTableIter iter;
    MDevice *d;

    qmp_value_dict_add(root, "version", qmp_value_new_int(STATE_FORMAT_VERSION));
    g_hash_table_iter_init(&iter, m->devices);
    while (g_hash_table_iter_next(&iter, NULL, (gpointer *)&d)) {
        if (d->removed) {
            continue;
        }
        QmpValue *rec = qmp_value_new_dict();

        add_string(rec, "id", d->id);
        add_string(rec, "kind", manager_kind_names[d->kind]);
        add_string(rec, "path", d->path);
        add_string(rec, "key", d->key);
        qmp_value_dict_add(rec, "read-only", qmp_value_new_bool(d->read_only));
        add_string(rec, "bus", d->bus);
        if (d->has_rdev) {
            qmp_value_dict_add(rec, "major", qmp_value_new_int(d->major));
            qmp_value_dict_add(rec, "minor", qmp_value_new_int(d->minor));
        }
        qmp_value_dict_add(rec, "attach-count", qmp_value_new_int(d->attach_count));
        qmp_value_dict_add(rec, "reference-count", qmp_value_new_int(d->ref_count));
        add_string(rec, "state", manager_state_names[d->state]);
        qmp_value_list_append(devices, rec);
    }
    qmp_value_dict_add(root, "devices", devices);
    qmp_value_dict_add(root, "drive-indexes", dm_drive_indexes(proxy_get_dm(m->proxy)));

    GString *text = g_string_new(NULL);
    qmp_json_write(text, root, TRUE);
    g_string_append_c(text, '\n');
    return text;
}

/* The index of @name in @names, or -1. */
static gint name_index(const char *const *names, guint n, const char *name)
{
    for (guint i = 0; name && i < n; i++) {
        if (strcmp(names[i], name) == 0) {
            return (gint)i;
        }
    }
    return -1;
}

static gint64 count_of(QmpValue *rec, const char *key)
{
    QmpValue *v = qmp_value_dict_get(rec, key);

    return v && qmp_value_type(v) == QMP_VALUE_INT && qmp_value_get_int(v) >= 0 &&
                   qmp_value_get_int(v) <= G_MAXINT
               ? qmp_value_get_int(v)
               : -1;
}

static gboolean load_device(Manager *m, QmpValue *rec, guint n, GError **error)
{
    const char *id =
        qmp_value_type(rec) == QMP_VALUE_DICT ? qmp_value_dict_get_string(rec, "id") : NULL;
    const char *path = id ? qmp_value_dict_get_string(rec, "path") : NULL;
    gint kind =
        id ? name_index(manager_kind_names, KIND_COUNT, qmp_value_dict_get_string(rec, "kind"))
           : -1;
    gint state =
        id ? name_index(manager_state_names, STATE_COUNT, qmp_value_dict_get_string(rec, "state"))
           : -1;
    gint64 attach = id ? count_of(rec, "attach-count") : -1;
    gint64 refs = id ? count_of(rec, "reference-count") : -1;

    if (!id || !manager_valid_id(id) || !path || kind < 0 || state < 0 || attach < 0 || refs < 0 ||
        g_hash_table_contains(m->devices, id)) {
        g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL, "device %u of the table is malformed",
                    n + 1);
        return FALSE;
    }
    MDevice *d = manager_device_new(m, id, kind, path);
    QmpValue *ro = qmp_value_dict_get(rec, "read-only");
    const char *key = qmp_value_dict_get_string(rec, "key");
    struct stat st;

    d->key = key ? g_strdup(key) : manager_device_key(kind, path, &st);
    d->read_only = ro && qmp_value_type(ro) == QMP_VALUE_BOOL && qmp_value_get_bool(ro);
    d->bus = g_strdup(qmp_value_dict_get_string(rec, "bus"));
    d->has_rdev = count_of(rec, "major") >= 0 && count_of(rec, "minor") >= 0;
    d->major = d->has_rdev ? (guint)count_of(rec, "major") : 0;
    d->minor = d->has_rdev ? (guint)count_of(rec, "minor") : 0;
    d->attach_count = (guint)attach;
    d->ref_count = (guint)refs;
    d->state = state;
    g_hash_table_insert(m->devices, d->id, d);
    return TRUE;
}

static gboolean load(Manager *m, QmpValue *state, GError **error)
{
    QmpValue *devices = qmp_value_dict_get(state, "devices");
    QmpValue *drives = qmp_value_dict_get(state, "drive-indexes");
    g_autoptr(GHashTable) by_key = g_hash_table_new(g_str_hash, g_str_equal);

    for (guint i = 0; i < qmp_value_list_length(devices); i++) {
        QmpValue *rec = qmp_value_list_get(devices, i);

        if (!load_device(m, rec, i, error)) {
            return FALSE;
        }
        /* one device per host device: two for one is not a table we wrote */
        MDevice *d = g_hash_table_lookup(m->devices, qmp_value_dict_get_string(rec, "id"));
        MDevice *other = g_hash_table_lookup(by_key, d->key);
        if (other) {
            g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
                        "devices %s and %s of the table are both for %s", other->id, d->id,
                        d->path);
            return FALSE;
        }
        g_hash_table_insert(by_key, d->key, d);
    }
    m->drive_names = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    for (guint i = 0;
         drives && qmp_value_type(drives) == QMP_VALUE_DICT && i < qmp_value_dict_size(drives);
         i++) {
        QmpValue *v;
        const char *id = qmp_value_dict_nth(drives, i, &v);

        if (qmp_value_type(v) == QMP_VALUE_INT && qmp_value_get_int(v) >= 0 &&
            qmp_value_get_int(v) < G_MAXINT) {
            g_hash_table_insert(m->drive_names, g_strdup(id),
                                GINT_TO_POINTER((gint)qmp_value_get_int(v) + 1));
        }
    }
    return TRUE;
}

static void core_changed(gpointer manager, gpointer unused)
{
    manager_save(manager);
}

gboolean manager_open_state(Manager *m, const char *given, gboolean reset, GError **error)
{
    g_autoptr(GError) bad = NULL;
    /* a symbolic link is written through, never replaced by a file */
    g_autofree char *path = state_file_resolve(given, error);
    if (!path) {
        return FALSE;
    }
    g_autoptr(QmpValue) state = state_file_load(path, &bad);
    g_autofree char *dir = g_path_get_dirname(path);

    if (!g_file_test(dir, G_FILE_TEST_IS_DIR)) {
        g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_NOENT,
                    "--state %s: directory %s does not exist", path, dir);
        return FALSE;
    }
    if (state && !load(m, state, &bad)) {
        g_prefix_error(&bad, "state file %s: ", path);
        g_hash_table_remove_all(m->devices);
        g_clear_pointer(&m->drive_names, g_hash_table_unref);
    }
    if (bad && !reset) {
        g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
                    "%s. It is left untouched: repair or remove it, or start with --state-reset "
                    "to move it aside and rebuild the table from what QEMU has",
                    bad->message);
        return FALSE;
    }
    if (bad) {
        g_autofree char *aside = state_file_move_aside(path, error);

        if (!aside) {
            return FALSE;
        }
        g_warning("%s; moved it to %s: the table is rebuilt from what QEMU has", bad->message,
                  aside);
    }
    g_message("device table %s: %u device(s)", path, g_hash_table_size(m->devices));
    m->state = state_file_new(path, manager_snapshot, m);
    dm_set_changed_func(proxy_get_dm(m->proxy), core_changed, m);
    return TRUE;
}

/* ---- reconciliation ---- */

static void reconciled(Manager *m)
{
    guint unknown;
    g_autoptr(QmpValue) others = dm_query_devices(proxy_get_dm(m->proxy), m->devices);

    unknown = qmp_value_list_length(others);
    if (unknown) {
        g_debug("%u other device(s) in QEMU (controllers, ports, devices plugged with "
                "device_add) stay the core's",
                unknown);
    }
    g_clear_pointer(&m->nodes, qmp_value_unref);
    g_clear_pointer(&m->chardevs, qmp_value_unref);
    manager_save(m);
    m->ready(m->proxy);
}

static void one_done(Manager *m)
{
    if (--m->reconciling == 0 && !m->closing) {
        reconciled(m);
    }
}

/* A back end to remove. QEMU drops a device from its tree before it lets
 * go of the device's node, and the DEVICE_DELETED that says it did went to
 * the proxy that died: "in use" is worth a few more tries. */
typedef struct {
    Manager *m;
    GString *json;
    guint tries;
    guint timer;
} Cleanup;

#define CLEANUP_TRIES 50
#define CLEANUP_RETRY_MS 20

void manager_cleanup_free(gpointer cleanup)
{
    Cleanup *c = cleanup;

    g_clear_handle_id(&c->timer, g_source_remove);
    g_string_free(c->json, TRUE);
    g_free(c);
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

    if (desc && strstr(desc, "is in use") && ++c->tries < CLEANUP_TRIES && !m->closing) {
        c->timer = g_timeout_add(CLEANUP_RETRY_MS, cleanup_retry, c);
        return;
    }
    if (err) {
        g_autofree char *text = qmp_json_to_string(reply, FALSE);

        g_warning("reconciling: QEMU refused a clean-up: %s", text);
    }
    g_ptr_array_remove_fast(m->cleanups, c);
    one_done(m);
}

static void cleanup_send(Cleanup *c)
{
    router_ask(proxy_get_router(c->m->proxy), c->json->str, c->json->len, TRUE, NULL,
               on_cleanup_reply, c);
}

static void ask(Manager *m, GString *json)
{
    Cleanup *c = g_new0(Cleanup, 1);

    c->m = m;
    c->json = g_string_new(json->str);
    g_ptr_array_add(m->cleanups, c);
    m->reconciling++;
    cleanup_send(c);
}

/* Whether QEMU has the back end made for @d. */
static gboolean backend_present(Manager *m, MDevice *d)
{
    QmpValue *list = d->kind == KIND_VHOST_USER_BLK ? m->chardevs : m->nodes;
    const char *key = d->kind == KIND_VHOST_USER_BLK ? "label" : "node-name";
    char name[64];

    manager_backend_name(d, name, sizeof(name));
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

static void reconcile_device(Manager *m, MDevice *d)
{
    g_autoptr(QmpValue) in_qemu = dm_describe(proxy_get_dm(m->proxy), d->id, NULL);
    State was = d->state;

    if (in_qemu) {
        if (was == STATE_UNPLUGGING) {
            g_message("device %s: resuming its unplug", d->id);
            manager_send_device_del(d);
            return;
        }
        if (was != STATE_ATTACHED) {
            g_message("device %s: QEMU has it (it was %s): attached", d->id,
                      manager_state_names[was]);
            d->state = STATE_ATTACHED;
            d->attach_count = MAX(d->attach_count, 1);
        }
        return;
    }
    if (was != STATE_DETACHED) {
        g_message("device %s: QEMU does not have it (it was %s): detached", d->id,
                  manager_state_names[was]);
    }
    d->state = STATE_DETACHED;
    d->attach_count = 0;
    if (manager_has_backend(d) && backend_present(m, d)) {
        /* made for a plug that never completed, or left by an unplug */
        g_autoptr(GString) removal = manager_backend_removal(d);

        g_message("device %s: removing what QEMU still holds for it", d->id);
        ask(m, removal);
    }
}

static void got_backends(Manager *m)
{
    GHashTableIter iter;
    MDevice *d;

    g_hash_table_iter_init(&iter, m->devices);
    while (g_hash_table_iter_next(&iter, NULL, (gpointer *)&d)) {
        reconcile_device(m, d);
    }
}

static void on_nodes(gpointer data, QmpValue *reply)
{
    Manager *m = data;

    QmpValue *ret = reply ? qmp_value_dict_get(reply, "return") : NULL;

    m->nodes = ret ? qmp_value_ref(ret) : NULL;
}

static void on_chardevs(gpointer data, QmpValue *reply)
{
    Manager *m = data;

    QmpValue *ret = reply ? qmp_value_dict_get(reply, "return") : NULL;

    m->chardevs = ret ? qmp_value_ref(ret) : NULL;
    if (!m->closing) {
        got_backends(m);
    }
    /* the answers reconciliation waits for are counted from here */
    one_done(m);
}

void manager_reconcile(Manager *m, ManagerReady ready)
{
    static const char nodes[] = "{\"execute\": \"query-named-block-nodes\"}";
    static const char chardevs[] = "{\"execute\": \"query-chardev\"}";
    GHashTableIter iter;
    gpointer id, index;

    m->ready = ready;
    if (m->drive_names) {
        g_hash_table_iter_init(&iter, m->drive_names);
        while (g_hash_table_iter_next(&iter, &id, &index)) {
            dm_restore_drive_index(proxy_get_dm(m->proxy), id, GPOINTER_TO_UINT(index) - 1);
        }
        g_clear_pointer(&m->drive_names, g_hash_table_unref);
    }
    if (g_hash_table_size(m->devices) == 0) {
        ready(m->proxy);
        return;
    }
    /* replies come in order: the chardevs' answer comes after the nodes' */
    router_ask(proxy_get_router(m->proxy), nodes, strlen(nodes), FALSE, NULL, on_nodes, m);
    m->reconciling++;
    router_ask(proxy_get_router(m->proxy), chardevs, strlen(chardevs), FALSE, NULL, on_chardevs, m);
}
