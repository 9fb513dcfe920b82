/* fixture.c - QEMU, a proxy and a client for the device manager's and
 * the state file's tests (see fixture.h). */
#include "fixture.h"

#include <fcntl.h>
#include <glib/gstdio.h>
#include <string.h>
#include <unistd.h>

const char *const test_fixture_scsi_args[] = { "-device", "virtio-scsi-pci,id=scsi0", NULL };

const char *const test_fixture_ports_args[] = {
    "-device", "virtio-scsi-pci,id=scsi0",
    "-device", "pcie-root-port,id=rp1,bus=pcie.0,chassis=1",
    "-device", "pcie-root-port,id=rp2,bus=pcie.0,chassis=2",
    NULL,
};

const char *const test_fixture_ports_opts[] = { "--hotplug-bus", "rp1", "--hotplug-bus", "rp2",
                                                NULL };

/* ---- the fixture ---- */

TestClient *test_fixture_client_at(const char *listen, const char *caps)
{
    TestClient *c = test_client_connect(listen);

    g_assert_nonnull(c);
    g_free(test_client_handshake(c, caps));
    return c;
}

TestClient *test_fixture_client(TestFixture *fx, const char *caps)
{
    return test_fixture_client_at(fx->proxy->listen, caps);
}

void test_fixture_proxy_start(TestFixture *fx)
{
    fx->proxy = test_proxy_start(fx->qemu->qmp, fx->dir, (const char *const *)fx->opts->pdata);
    fx->c = test_fixture_client(fx, NULL);
}

static void add_opts(TestFixture *fx, const char *const *opts)
{
    for (guint i = 0; opts && opts[i]; i++) {
        g_ptr_array_add(fx->opts, (gpointer)opts[i]);
    }
}

/* QEMU, and no proxy yet: the state file may be in QEMU's directory. */
static void qemu_start(TestFixture *fx, const char *const *qemu_args)
{
    *fx = (TestFixture){ 0 };
    fx->qemu = test_qemu_start(qemu_args);
    fx->dir = fx->qemu->dir;
    fx->opts = g_ptr_array_new();
}

void test_fixture_start_full(TestFixture *fx, const char *const *qemu_args, const char *const *opts)
{
    qemu_start(fx, qemu_args);
    add_opts(fx, opts);
    g_ptr_array_add(fx->opts, NULL);
    test_fixture_proxy_start(fx);
}

void test_fixture_start(TestFixture *fx)
{
    test_fixture_start_full(fx, test_fixture_ports_args, test_fixture_ports_opts);
}

void test_fixture_start_state_full(TestFixture *fx, const char *const *qemu_args, const char *state,
                                   const char *const *opts)
{
    qemu_start(fx, qemu_args);
    fx->state = state ? g_strdup(state) : g_build_filename(fx->dir, "state.json", NULL);
    g_ptr_array_add(fx->opts, "--state");
    g_ptr_array_add(fx->opts, fx->state);
    add_opts(fx, opts);
    g_ptr_array_add(fx->opts, NULL);
    test_fixture_proxy_start(fx);
}

void test_fixture_start_state(TestFixture *fx, const char *state)
{
    test_fixture_start_state_full(fx, test_fixture_scsi_args, state, NULL);
}

void test_fixture_proxy_stop(TestFixture *fx)
{
    g_clear_pointer(&fx->c, test_client_free);
    g_clear_pointer(&fx->proxy, test_proxy_free);
}

void test_fixture_stop(TestFixture *fx)
{
    test_fixture_proxy_stop(fx);
    test_qemu_free(fx->qemu);
    g_ptr_array_unref(fx->opts);
    g_free(fx->state);
}

/* ---- the device manager's commands ---- */

/* @s as a JSON string. */
static char *json_quote(const char *s)
{
    g_autoptr(JsonNode) n = json_node_init_string(json_node_alloc(), s);

    return json_to_string(n, FALSE);
}

/* device-new of @driver on @path, with @more arguments or none. */
static char *dev_new_cmd(const char *driver, const char *path, const char *more)
{
    g_autofree char *quoted = json_quote(path);

    return g_strdup_printf("{\"execute\": \"" DM
                           "device-new\", \"arguments\": {\"driver\": \"%s\", \"path\": "
                           "%s%s}}",
                           driver, quoted, more ? more : "");
}

/* The same, named @id. */
static char *dev_new_id_cmd(const char *driver, const char *path, const char *id)
{
    g_autofree char *more = g_strdup_printf(", \"id\": \"%s\"", id);

    return dev_new_cmd(driver, path, more);
}

JsonNode *test_fixture_dev_new(TestClient *c, const char *driver, const char *path,
                               const char *more)
{
    g_autofree char *cmd = dev_new_cmd(driver, path, more);

    return test_qmp_ok(c, "%s", cmd);
}

JsonNode *test_fixture_scsi_new(TestClient *c, const char *path, const char *id)
{
    g_autofree char *cmd = dev_new_id_cmd("virtio-scsi", path, id);

    return test_qmp_ok(c, "%s", cmd);
}

char *test_fixture_scsi_new_fails(TestClient *c, const char *path, const char *id)
{
    g_autofree char *cmd = dev_new_id_cmd("virtio-scsi", path, id);

    return test_qmp_fails(c, "%s", cmd);
}

void test_fixture_dev_send(TestClient *c, const char *op, const char *id)
{
    g_autofree char *cmd =
        g_strdup_printf("{\"execute\": \"" DM "%s\", \"arguments\": {\"id\": \"%s\"}}", op, id);

    test_client_send(c, cmd);
}

GHashTable *test_fixture_managed_devices(TestClient *c)
{
    g_autoptr(JsonNode) all = test_qmp_ok(c, "{\"execute\": \"" DM "query-devices\"}");
    GHashTable *by_id =
        g_hash_table_new_full(g_str_hash, g_str_equal, g_free, (GDestroyNotify)json_node_unref);
    JsonArray *list = json_node_get_array(all);

    for (guint i = 0; i < json_array_get_length(list); i++) {
        JsonNode *info = json_array_get_element(list, i);

        if (test_json_has(info, "kind")) {
            g_assert_true(g_hash_table_insert(by_id, g_strdup(test_json_str(info, "id")),
                                              json_node_copy(info)));
        }
    }
    return by_id;
}

/* ---- what QEMU has ---- */

JsonNode *test_fixture_qemu_node(TestClient *c, const char *name)
{
    g_autoptr(JsonNode) list = test_qmp_ok(c, "{\"execute\": \"query-named-block-nodes\"}");
    JsonArray *a = json_node_get_array(list);

    for (guint i = 0; i < json_array_get_length(a); i++) {
        JsonNode *n = json_array_get_element(a, i);

        if (g_strcmp0(test_json_str(n, "node-name"), name) == 0) {
            return json_node_copy(n);
        }
    }
    return NULL;
}

char *test_fixture_qom_bus(TestClient *c, const char *id)
{
    g_autofree char *path = test_qom_str(c, id, "parent_bus");

    return g_strdup(strrchr(path, '/') + 1);
}

void test_fixture_assert_scsi_address(TestClient *c, JsonNode *info)
{
    const char *id = test_json_str(info, "id");
    g_autofree char *node = g_strconcat("drive-", id, NULL);

    g_assert_cmpstr(test_json_str(info, "state"), ==, "attached");
    g_assert_cmpstr(test_json_str(info, "node-name"), ==, node);
    g_assert_cmpint(test_json_int(info, "scsi-id"), ==, test_json_int(info, "index") / 256);
    g_assert_cmpint(test_json_int(info, "lun"), ==, test_json_int(info, "index") % 256);
    g_assert_cmpint(test_qom_int(c, id, "scsi-id"), ==, test_json_int(info, "scsi-id"));
    g_assert_cmpint(test_qom_int(c, id, "lun"), ==, test_json_int(info, "lun"));
    g_autofree char *drive = test_qom_str(c, id, "drive");
    g_assert_cmpstr(drive, ==, node);
}

void test_fixture_assert_scsi_node(TestClient *c, JsonNode *info)
{
    g_autofree char *node = g_strconcat("drive-", test_json_str(info, "id"), NULL);

    test_fixture_assert_scsi_address(c, info);
    g_assert_true(test_qemu_has_node(c, node));
}

void test_fixture_assert_detached_clean(TestClient *c, const char *id)
{
    g_autoptr(JsonNode) q = test_dm(c, "query-device", id);

    test_dm_assert_counts(q, "detached", 0, 1);
    test_dm_assert_no_address(q);
    test_qemu_assert_gone(c, id);
}

/* Holds @path as a writer would (QEMU's lock byte 100 + BLK_PERM_WRITE's
 * bit): QEMU then refuses a device that writes it, in device_add, after
 * its blockdev-add went through. */
static int hold_write_lock(const char *path)
{
    int fd = open(path, O_RDWR | O_CLOEXEC);
    struct flock fl = { .l_type = F_RDLCK, .l_whence = SEEK_SET, .l_start = 101, .l_len = 1 };

    g_assert_cmpint(fd, >=, 0);
    g_assert_cmpint(fcntl(fd, F_OFD_SETLK, &fl), ==, 0);
    return fd;
}

int test_fixture_attach_locked(TestFixture *fx, const char *driver, const char *id)
{
    g_autofree char *img = test_make_image(fx->dir, "locked.img");
    int lock_fd = hold_write_lock(img);
    g_autofree char *cmd = dev_new_id_cmd(driver, img, id);
    g_autoptr(JsonNode) n = test_qmp_ok(fx->c, "%s", cmd);
    g_autofree char *e = test_dm_fails(fx->c, "device-attach", id);
    g_autofree char *want = g_strdup_printf("GenericError: device-attach %s: device_add failed: "
                                            "Failed to get shared \"write\" lock",
                                            id);

    g_assert_cmpstr(e, ==, want);
    test_fixture_assert_detached_clean(fx->c, id);
    return lock_fd;
}

/* ---- the state file ---- */

char *test_fixture_read_file(const char *path)
{
    g_autoptr(GError) error = NULL;
    char *text = NULL;

    g_file_get_contents(path, &text, NULL, &error);
    g_assert_no_error(error);
    return text;
}

GPtrArray *test_fixture_names_in(const char *dir, const char *prefix)
{
    g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
    GPtrArray *names = g_ptr_array_new_with_free_func(g_free);
    const char *name;

    while (d && (name = g_dir_read_name(d))) {
        if (g_str_has_prefix(name, prefix)) {
            g_ptr_array_add(names, g_strdup(name));
        }
    }
    g_ptr_array_sort(names, (GCompareFunc)g_strcmp0);
    return names;
}

JsonNode *test_fixture_load_state(const char *path)
{
    g_autofree char *text = test_fixture_read_file(path);
    JsonNode *root = test_json_parse(text);

    g_assert_cmpint(test_json_int(root, "version"), ==, 1);
    g_assert_true(
        JSON_NODE_HOLDS_ARRAY(json_object_get_member(json_node_get_object(root), "devices")));
    return root;
}

/* What differs between the file and query-devices, device by device
 * (NULL: nothing). */
static char *file_differs(TestClient *c, const char *path)
{
    g_autoptr(JsonNode) root = test_fixture_load_state(path);
    g_autoptr(GHashTable) managed = test_fixture_managed_devices(c);
    JsonArray *recs = json_object_get_array_member(json_node_get_object(root), "devices");
    const char *const strs[] = { "kind", "path", "state" };
    const char *const ints[] = { "attach-count", "reference-count" };

    if (json_array_get_length(recs) != g_hash_table_size(managed)) {
        return g_strdup_printf("the file has %u devices, the proxy %u", json_array_get_length(recs),
                               g_hash_table_size(managed));
    }
    for (guint i = 0; i < json_array_get_length(recs); i++) {
        JsonNode *rec = json_array_get_element(recs, i);
        JsonNode *info = g_hash_table_lookup(managed, test_json_str(rec, "id"));

        if (!info) {
            return g_strdup_printf("the file has %s, the proxy does not", test_json_str(rec, "id"));
        }
        for (guint k = 0; k < G_N_ELEMENTS(strs); k++) {
            if (g_strcmp0(test_json_str(rec, strs[k]), test_json_str(info, strs[k])) != 0) {
                return g_strdup_printf("%s: %s is %s in the file, %s in the proxy",
                                       test_json_str(rec, "id"), strs[k],
                                       test_json_str(rec, strs[k]), test_json_str(info, strs[k]));
            }
        }
        for (guint k = 0; k < G_N_ELEMENTS(ints); k++) {
            if (test_json_int(rec, ints[k]) != test_json_int(info, ints[k])) {
                return g_strdup_printf("%s: %s is %" G_GINT64_FORMAT
                                       " in the file, %" G_GINT64_FORMAT " in the proxy",
                                       test_json_str(rec, "id"), ints[k],
                                       test_json_int(rec, ints[k]), test_json_int(info, ints[k]));
            }
        }
    }
    return NULL;
}

/* An operation's outcome is saved just after its answer, so the file may
 * take a moment to come to say it. */
void test_fixture_assert_file_matches(TestClient *c, const char *path)
{
    for (int tries = 0;; tries++) {
        g_autofree char *diff = file_differs(c, path);

        if (!diff) {
            return;
        }
        if (tries == 500) {
            g_error("%s: %s", path, diff);
        }
        g_usleep(10000);
    }
}

/* ---- one process a test ---- */

#define SKIP_FILE "QMPROXY_TEST_SKIP_FILE"

/* A test skipped in its own process would otherwise pass in the parent:
 * the reason goes to the file SKIP_FILE names (see isolated()). */
void test_fixture_skip(const char *reason)
{
    const char *file = g_getenv(SKIP_FILE);

    if (file) {
        g_file_set_contents(file, reason, -1, NULL);
    }
    g_test_skip(reason);
}

/* Each test runs in a process of its own, so that one that fails (a
 * failed assertion ends the process) does not keep the others from
 * running; a test skipped there says why in the file SKIP_FILE names. */
static void isolated(gconstpointer data)
{
    void (*test)(void) = data;

    if (g_test_subprocess()) {
        test();
        return;
    }
    g_autofree char *dir = g_dir_make_tmp("qmproxy-skip-XXXXXX", NULL);
    g_autofree char *file = g_build_filename(dir, "reason", NULL);
    g_autofree char *reason = NULL;

    g_setenv(SKIP_FILE, file, TRUE);
    g_test_trap_subprocess(NULL, 0,
                           G_TEST_SUBPROCESS_INHERIT_STDOUT | G_TEST_SUBPROCESS_INHERIT_STDERR);
    if (g_file_get_contents(file, &reason, NULL, NULL)) {
        g_test_skip(reason); /* the child's status is then 77 */
    } else {
        g_test_trap_assert_passed();
    }
    g_unlink(file);
    g_rmdir(dir);
}

void test_fixture_init_isolated(int *argc, char ***argv)
{
    g_test_init(argc, argv, NULL);
    test_require_qemu();
    if (!g_test_subprocess()) {
        /* a failed test is reported, and the next one runs */
        g_test_set_nonfatal_assertions();
    }
}

void test_fixture_add_isolated(const char *path, void (*test)(void))
{
    g_test_add_data_func(path, test, isolated);
}
