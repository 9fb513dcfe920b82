/* lookup.c - device-new finds out which host device a path is (a block
 * device is known by major:minor) with stat(), which on a hung network
 * mount would stop every client: it runs on a thread of a pool, and gives
 * up after LOOKUP_TIMEOUT_MS (the path then tells the device apart).
 * Manager commands that arrive meanwhile wait behind it, in order, as if
 * it had been answered at once. */
#include "manager-internal.h"

#include <stdio.h>
#include <string.h>

/* How long a device-new waits for stat() of its host path. */
#define LOOKUP_TIMEOUT_MS 1000
/* Threads stuck in stat() on a dead mount are not given back; a few more
 * may start, each lookup still ends at its time-out. */
#define LOOKUP_THREADS 4

typedef struct {
    Manager *m; /* NULL once the manager is gone */
    CoreRequest *req;
    ManagerKind kind;
    char *path;
    char *key;   /* the result */
    gint refs;   /* the thread's and the time-out's, atomically */
    guint timer; /* main loop only */
    gboolean settled;
} Lookup;

static void lookup_unref(Lookup *l)
{
    if (g_atomic_int_dec_and_test(&l->refs)) {
        core_request_unref(l->req);
        g_free(l->path);
        g_free(l->key);
        g_free(l);
    }
}

/* The device-new goes on with @key; what waited behind it runs, until a
 * device-new has to look again. */
static void settle(Lookup *l, const char *key)
{
    Manager *m = l->m;
    CoreRequest *next;

    l->settled = TRUE;
    if (l->timer) {
        g_clear_handle_id(&l->timer, g_source_remove);
        lookup_unref(l);
    }
    if (!m) {
        return;
    }
    m->lookup = NULL;
    manager_lookup_device_new_keyed(m, l->req, key);
    while (!m->lookup && (next = g_queue_pop_head(&m->gated))) {
        m->dispatch(m, next);
        core_request_unref(next);
    }
}

static gboolean on_timeout(gpointer data)
{
    Lookup *l = data;
    g_autofree char *key = g_canonicalize_filename(l->path, "/");

    l->timer = 0;
    g_warning("device-new: stat() of %s did not answer within %d ms; it is told apart by its "
              "path",
              l->path, LOOKUP_TIMEOUT_MS);
    settle(l, key);
    lookup_unref(l);
    return G_SOURCE_REMOVE;
}

static gboolean on_done(gpointer data)
{
    Lookup *l = data;

    if (!l->settled) {
        settle(l, l->key);
    }
    lookup_unref(l);
    return G_SOURCE_REMOVE;
}

static void look(gpointer data, gpointer unused)
{
    Lookup *l = data;
    struct stat st;

    l->key = manager_device_key(l->kind, l->path, &st);
    g_idle_add(on_done, l);
}

/* What a client may make the proxy keep (and send QEMU) is bounded: a
 * path as long as the kernel takes, a bus named as QEMU names one. */
#define MAX_PATH_LEN (PATH_MAX - 1)
#define MAX_BUS_LEN 128

/* QEMU's limit on a virtiofs tag (hw/virtio/vhost-user-fs.c). */
#define MAX_TAG_LEN 36

static gboolean is_mac(const char *mac)
{
    for (guint i = 0; i < 17; i++) {
        if (i % 3 == 2 ? mac[i] != ':' : !g_ascii_isxdigit(mac[i])) {
            return FALSE;
        }
    }
    return mac[17] == 0;
}

/* What is wrong with the members only some kinds take, or NULL. */
static char *kind_arguments_problem(ManagerKind kind, QmpValue *args)
{
    static const struct {
        const char *member;
        ManagerKind kind;
    } only[] = {
        { "tag", QMPROXY_DEVICE_DRIVER_VHOST_USER_FS },
        { "queue-size", QMPROXY_DEVICE_DRIVER_VHOST_USER_FS },
        { "mac", QMPROXY_DEVICE_DRIVER_VHOST_USER_NET },
        { "queues", QMPROXY_DEVICE_DRIVER_VHOST_USER_NET },
    };
    const char *tag = qmp_value_dict_get_string(args, "tag");
    const char *mac = qmp_value_dict_get_string(args, "mac");

    for (guint i = 0; i < G_N_ELEMENTS(only); i++) {
        if (qmp_value_dict_get(args, only[i].member) && kind != only[i].kind) {
            return g_strdup_printf("Parameter '%s' is only for %s", only[i].member,
                                   qmproxy_device_driver_names[only[i].kind]);
        }
    }
    if (kind == QMPROXY_DEVICE_DRIVER_VHOST_USER_FS &&
        (!tag || !*tag || strlen(tag) > MAX_TAG_LEN)) {
        return g_strdup_printf("Parameter 'tag' expects the tag the guest mounts it by, 1 to %d "
                               "bytes",
                               MAX_TAG_LEN);
    }
    /* 0 stands for QEMU's default in the table; QEMU's own limits are
     * lower than this one, and its to say */
    static const char *const counts[] = { "queue-size", "queues" };
    for (guint i = 0; i < G_N_ELEMENTS(counts); i++) {
        QmpValue *v = qmp_value_dict_get(args, counts[i]);

        if (v && (qmp_value_type(v) != QMP_VALUE_INT || qmp_value_get_int(v) < 1 ||
                  qmp_value_get_int(v) > G_MAXUINT16)) {
            return g_strdup_printf("Parameter '%s' expects a number from 1 to %u", counts[i],
                                   G_MAXUINT16);
        }
    }
    if (mac && !is_mac(mac)) {
        return g_strdup("Parameter 'mac' expects a MAC address, six hex pairs with ':'");
    }
    return NULL;
}

void manager_lookup_device_new(Manager *m, CoreRequest *req)
{
    QmpValue *args = core_request_arguments(req);
    const char *path = qmp_value_dict_get_string(args, "path");
    const char *bus = qmp_value_dict_get_string(args, "bus");
    ManagerKind kind = qmproxy_enum_value(qmproxy_device_driver_names, QMPROXY_DEVICE_DRIVER__MAX,
                                          qmp_value_dict_get_string(args, "driver"));
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
    if (!problem) {
        problem = kind_arguments_problem(kind, args);
    }
    if (problem) {
        core_request_error(req, QMP_CLASS_GENERIC, problem);
        return;
    }
    /* a vhost-user back end may start after device-new: its socket is
     * QEMU's to find at attach, and chardev-add says if it is not there */
    if (kind == QMPROXY_DEVICE_DRIVER_VFIO_PCI || manager_kind_is_vhost_user(kind)) {
        struct stat unused;
        g_autofree char *key = manager_device_key(kind, path, &unused); /* no stat() */

        manager_lookup_device_new_keyed(m, req, key);
        return;
    }
    if (!m->lookups) {
        m->lookups = g_thread_pool_new(look, NULL, LOOKUP_THREADS, FALSE, NULL);
    }
    Lookup *l = g_new0(Lookup, 1);
    l->m = m;
    l->req = core_request_ref(req);
    l->kind = kind;
    l->path = g_strdup(path);
    l->refs = 2;
    l->timer = g_timeout_add(LOOKUP_TIMEOUT_MS, on_timeout, l);
    m->lookup = l;
    g_thread_pool_push(m->lookups, l, NULL);
}

gboolean manager_lookup_gate(Manager *m, CoreRequest *req)
{
    if (!m->lookup) {
        return FALSE;
    }
    g_queue_push_tail(&m->gated, core_request_ref(req));
    return TRUE;
}

void manager_lookup_stop(Manager *m)
{
    Lookup *l = m->lookup;

    g_queue_clear_full(&m->gated, (GDestroyNotify)core_request_unref);
    if (l) {
        m->lookup = NULL;
        l->m = NULL; /* freed when its thread reports */
        if (l->timer) {
            g_clear_handle_id(&l->timer, g_source_remove);
            lookup_unref(l);
        }
    }
    if (m->lookups) {
        /* a thread stuck in stat() is not waited for */
        g_thread_pool_free(g_steal_pointer(&m->lookups), TRUE, FALSE);
    }
}

static const char *arg_string(CoreRequest *req, const char *name)
{
    QmpValue *args = core_request_arguments(req);

    return args ? qmp_value_dict_get_string(args, name) : NULL;
}

static gint64 int_arg(CoreRequest *req, const char *name)
{
    QmpValue *args = core_request_arguments(req);
    QmpValue *v = args ? qmp_value_dict_get(args, name) : NULL;

    return v && qmp_value_type(v) == QMP_VALUE_INT ? qmp_value_get_int(v) : 0;
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

/* Two devices with one tag leave the guest one of them to mount (QEMU
 * takes both); two with one MAC confuse every switch. */
static char *duplicate_of(Manager *m, const char *tag, const char *mac)
{
    GHashTableIter iter;
    ManagerDevice *d;

    g_hash_table_iter_init(&iter, m->devices);
    while (g_hash_table_iter_next(&iter, NULL, (gpointer *)&d)) {
        if (d->step[TRACK_LIFE] == LIFE_REMOVED || d->step[TRACK_LIFE] == LIFE_GONE) {
            continue;
        }
        if (tag && g_strcmp0(d->tag, tag) == 0) {
            return g_strdup_printf("Parameter 'tag': device '%s' has tag '%s' already", d->id, tag);
        }
        if (mac && d->mac && g_ascii_strcasecmp(d->mac, mac) == 0) {
            return g_strdup_printf("Parameter 'mac': device '%s' has MAC %s already", d->id, mac);
        }
    }
    return NULL;
}

void manager_lookup_device_new_keyed(Manager *m, CoreRequest *req, const char *key)
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
        manager_op_queue(d, OP_NEW, req, key);
        return;
    }
    if (id && !manager_device_valid_id(id)) {
        desc = g_strdup_printf("Parameter 'id' expects an identifier of at most %d letters, "
                               "digits, '-', '.' and '_', starting with a letter",
                               MANAGER_ID_MAX);
    } else if (id && id_taken(m, id)) {
        ManagerDevice *holder = g_hash_table_lookup(m->devices, id);

        if (holder && !g_queue_is_empty(&holder->ops)) {
            /* decided in turn: the device may be gone by then, as it
             * would be had the client waited for each answer */
            manager_op_queue(holder, OP_NEW, req, key);
            return;
        }
        desc = g_strdup_printf("Device id '%s' is already in use", id);
    }
    if (!desc) {
        desc = duplicate_of(m, arg_string(req, "tag"), arg_string(req, "mac"));
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
    d->tag = g_strdup(arg_string(req, "tag"));
    d->mac = g_strdup(arg_string(req, "mac"));
    d->queue_size = int_arg(req, "queue-size");
    d->queues = int_arg(req, "queues");
    d->has_rdev = sscanf(key, "block %u:%u", &major_number, &minor_number) == 2;
    d->major = major_number;
    d->minor = minor_number;
    manager_device_step(d, TRACK_LIFE, LIFE_UNSAVED);
    g_hash_table_insert(m->devices, d->id, d);
    g_message("device %s made for %s (%s)", d->id, d->path, driver);
    manager_op_queue(d, OP_NEW, req, d->key);
}
