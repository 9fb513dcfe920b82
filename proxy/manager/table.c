/* table.c - the device table that survives the proxy: the whole table
 * as the state file holds it, written after every change (--state), and
 * read back at start; reconcile.c then brings it in line with what QEMU
 * really has before any client is served. What the file cannot be
 * trusted with is refused, and the file left untouched. */
#include "manager-internal.h"

#include "writer.h"

#include <string.h>

static void add_string(QmpValue *dict, const char *key, const char *value)
{
    if (value) {
        qmp_value_dict_add(dict, key, qmp_value_new_string(value));
    }
}

GString *manager_table_snapshot(gpointer manager)
{
    Manager *m = manager;
    g_autoptr(QmpValue) root = qmp_value_new_dict();
    QmpValue *devices = qmp_value_new_list();
    GHashTableIter iter;
    ManagerDevice *d;

    qmp_value_dict_add(root, "version", qmp_value_new_int(STATE_FORMAT_VERSION));
    g_hash_table_iter_init(&iter, m->devices);
    while (g_hash_table_iter_next(&iter, NULL, (gpointer *)&d)) {
        if (d->step[TRACK_LIFE] == LIFE_REMOVED) {
            continue;
        }
        QmpValue *rec = qmp_value_new_dict();

        add_string(rec, "id", d->id);
        add_string(rec, "kind", qmproxy_device_driver_names[d->kind]);
        add_string(rec, "path", d->path);
        add_string(rec, "key", d->key);
        qmp_value_dict_add(rec, "read-only", qmp_value_new_bool(d->read_only));
        add_string(rec, "bus", d->bus);
        add_string(rec, "tag", d->tag);
        add_string(rec, "mac", d->mac);
        if (d->queue_size) {
            qmp_value_dict_add(rec, "queue-size", qmp_value_new_int(d->queue_size));
        }
        if (d->queues) {
            qmp_value_dict_add(rec, "queues", qmp_value_new_int(d->queues));
        }
        if (d->has_rdev) {
            qmp_value_dict_add(rec, "major", qmp_value_new_int(d->major));
            qmp_value_dict_add(rec, "minor", qmp_value_new_int(d->minor));
        }
        qmp_value_dict_add(rec, "attach-count", qmp_value_new_int(d->attach_count));
        qmp_value_dict_add(rec, "reference-count", qmp_value_new_int(d->ref_count));
        add_string(rec, "state", qmproxy_device_state_names[d->state]);
        qmp_value_list_append(devices, rec);
    }
    qmp_value_dict_add(root, "devices", devices);
    qmp_value_dict_add(root, "drive-indexes", placement_drive_indexes(m->pl));

    GString *text = g_string_new(NULL);
    qmp_json_write(text, root, TRUE);
    g_string_append_c(text, '\n');
    return text;
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
    gint kind = id ? qmproxy_enum_value(qmproxy_device_driver_names, QMPROXY_DEVICE_DRIVER__MAX,
                                        qmp_value_dict_get_string(rec, "kind"))
                   : -1;
    gint state = id ? qmproxy_enum_value(qmproxy_device_state_names, QMPROXY_DEVICE_STATE__MAX,
                                         qmp_value_dict_get_string(rec, "state"))
                    : -1;
    gint64 attach = id ? count_of(rec, "attach-count") : -1;
    gint64 refs = id ? count_of(rec, "reference-count") : -1;

    if (!id || !manager_device_valid_id(id) || !path || kind < 0 || state < 0 || attach < 0 ||
        refs < 0 || g_hash_table_contains(m->devices, id) ||
        (kind == QMPROXY_DEVICE_DRIVER_VHOST_USER_FS && !qmp_value_dict_get_string(rec, "tag"))) {
        g_set_error(error, CORE_ERROR, CORE_ERROR_INVALID, "device %u of the table is malformed",
                    n + 1);
        return FALSE;
    }
    ManagerDevice *d = manager_device_new(m, id, (ManagerKind)kind, path);
    QmpValue *ro = qmp_value_dict_get(rec, "read-only");
    const char *key = qmp_value_dict_get_string(rec, "key");
    struct stat st;

    d->key = key ? g_strdup(key) : manager_device_key(kind, path, &st);
    d->read_only = ro && qmp_value_type(ro) == QMP_VALUE_BOOL && qmp_value_get_bool(ro);
    d->bus = g_strdup(qmp_value_dict_get_string(rec, "bus"));
    d->tag = g_strdup(qmp_value_dict_get_string(rec, "tag"));
    d->mac = g_strdup(qmp_value_dict_get_string(rec, "mac"));
    d->queue_size = MAX(count_of(rec, "queue-size"), 0);
    d->queues = MAX(count_of(rec, "queues"), 0);
    d->has_rdev = count_of(rec, "major") >= 0 && count_of(rec, "minor") >= 0;
    d->major = d->has_rdev ? (guint)count_of(rec, "major") : 0;
    d->minor = d->has_rdev ? (guint)count_of(rec, "minor") : 0;
    d->attach_count = (guint)attach;
    d->ref_count = (guint)refs;
    d->state = (ManagerState)state;
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
        ManagerDevice *d = g_hash_table_lookup(m->devices, qmp_value_dict_get_string(rec, "id"));
        ManagerDevice *other = g_hash_table_lookup(by_key, d->key);
        if (other) {
            g_set_error(error, CORE_ERROR, CORE_ERROR_INVALID,
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

static void drive_names_changed(gpointer manager, gpointer unused)
{
    manager_table_save(manager);
}

gboolean manager_table_open(Manager *m, const char *given, gboolean reset, GError **error)
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
        g_set_error(error, CORE_ERROR, CORE_ERROR_INVALID,
                    "--state %s: directory %s does not exist", path, dir);
        return FALSE;
    }
    if (state && !load(m, state, &bad)) {
        g_prefix_error(&bad, "state file %s: ", path);
        g_hash_table_remove_all(m->devices);
        g_clear_pointer(&m->drive_names, g_hash_table_unref);
    }
    if (bad && !reset) {
        g_set_error(error, CORE_ERROR, CORE_ERROR_INVALID,
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
    m->state = state_file_new(path, manager_table_snapshot, m);
    placement_set_changed_func(m->pl, drive_names_changed, m);
    return TRUE;
}

/* A save a device waits for. */
typedef struct {
    Manager *m;
    ManagerDevice *d;
    ManagerThen then;
} Saving;

static void on_saved(gpointer data, const GError *error)
{
    Saving *s = data;
    Manager *m = s->m;

    s->then(s->d, error);
    g_ptr_array_remove_fast(m->savings, s);
}

void manager_table_persist(ManagerDevice *d, ManagerThen then)
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

void manager_table_save(Manager *m)
{
    if (m->state && !m->closing) {
        state_file_save(m->state, NULL, NULL);
    }
}
