/* test-state.c - the persisted device table (issue #6): --state FILE,
 * reconciliation with what QEMU has when a proxy starts on the file an
 * earlier one left (stopped, or killed with SIGKILL in the middle of
 * anything), unusable files and --state-reset, a disk that fills up, and
 * systemd socket activation. Against a real QEMU without a guest (so SCSI
 * unplugs complete by themselves); every claim is read back from QEMU
 * (qom-list, qom-get, query-named-block-nodes) or from the file. */
#include "qmp-json.h"

#include <json-glib/json-glib.h>

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#define DM "__org.qmproxy_"

static const char *const scsi_args[] = { "-device", "virtio-scsi-pci,id=scsi0", NULL };

#define SKIP_FILE "QMPROXY_TEST_SKIP_FILE"

/* Skips the test, also for the parent process (see isolated()). */
static void skip(const char *reason)
{
    const char *file = g_getenv(SKIP_FILE);

    if (file) {
        g_file_set_contents(file, reason, -1, NULL);
    }
    g_test_skip(reason);
}

/* ---- the device manager's commands ---- */

static JsonNode *dev_new(TestClient *c, const char *path, const char *id)
{
    return test_qmp_ok(c,
                       "{\"execute\": \"" DM
                       "device-new\", \"arguments\": {\"driver\": \"virtio-scsi\", "
                       "\"path\": \"%s\", \"id\": \"%s\"}}",
                       path, id);
}

static char *dev_new_fails(TestClient *c, const char *path, const char *id)
{
    return test_qmp_fails(c,
                          "{\"execute\": \"" DM
                          "device-new\", \"arguments\": {\"driver\": \"virtio-scsi\", "
                          "\"path\": \"%s\", \"id\": \"%s\"}}",
                          path, id);
}

/* The devices made with device-new (those with a "kind"), by id. */
static GHashTable *managed_devices(TestClient *c)
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

/* The SCSI address in @info is the one QEMU has; the node is there. */
static void assert_scsi_in_qemu(TestClient *c, JsonNode *info)
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
    g_assert_true(test_qemu_has_node(c, node));
}

/* ---- fixture: QEMU with a virtio-scsi controller, a proxy with --state ---- */

typedef struct {
    TestQemu *qemu;
    TestProxy *proxy;
    TestClient *c;
    const char *dir; /* the test's temporary directory (QEMU's) */
    char *state;     /* the state file */
    GPtrArray *opts; /* the proxy's options, NULL-terminated */
} St;

static TestClient *client_new(St *st)
{
    TestClient *c = test_client_connect(st->proxy->listen);

    g_assert_nonnull(c);
    g_free(test_client_handshake(c, NULL));
    return c;
}

static void st_proxy_start(St *st)
{
    st->proxy = test_proxy_start(st->qemu->qmp, st->dir, (const char *const *)st->opts->pdata);
    st->c = client_new(st);
}

/* QEMU, and the proxy with --state @state (NULL: STATE in the directory). */
static void st_start(St *st, const char *state)
{
    st->qemu = test_qemu_start(scsi_args);
    st->dir = st->qemu->dir;
    st->state = state ? g_strdup(state) : g_build_filename(st->dir, "state.json", NULL);
    st->opts = g_ptr_array_new();
    g_ptr_array_add(st->opts, "--state");
    g_ptr_array_add(st->opts, st->state);
    g_ptr_array_add(st->opts, NULL);
    st_proxy_start(st);
}

/* Stops the proxy with SIGTERM (it must exit 0, with no sanitizer report). */
static void st_proxy_stop(St *st)
{
    g_clear_pointer(&st->c, test_client_free);
    g_clear_pointer(&st->proxy, test_proxy_free);
}

/* Kills the proxy with SIGKILL; returns its log. */
static char *st_proxy_kill(St *st)
{
    kill(st->proxy->pid, SIGKILL);
    g_assert_true(test_proxy_wait(st->proxy, 10000));
    g_assert_true(WIFSIGNALED(st->proxy->status));
    char *log = test_proxy_log(st->proxy);
    g_clear_pointer(&st->c, test_client_free);
    g_clear_pointer(&st->proxy, test_proxy_free);
    return log;
}

/* Starts the proxy again after a kill; every third @round, once more
 * after killing it while it loads, learns or reconciles. */
static void st_restart_after_kill(St *st, int round)
{
    if (round % 3 == 1) {
        TestProxy *again =
            test_proxy_start(st->qemu->qmp, st->dir, (const char *const *)st->opts->pdata);

        g_usleep(1000 * (gulong)g_test_rand_int_range(0, 15));
        kill(again->pid, SIGKILL);
        g_assert_true(test_proxy_wait(again, 10000));
        test_proxy_free(again);
    }
    st_proxy_start(st);
}

static void st_stop(St *st)
{
    st_proxy_stop(st);
    test_qemu_free(st->qemu);
    g_ptr_array_unref(st->opts);
    g_free(st->state);
}

static char *read_file(const char *path)
{
    g_autoptr(GError) error = NULL;
    char *text = NULL;

    g_file_get_contents(path, &text, NULL, &error);
    g_assert_no_error(error);
    return text;
}

static void write_file(const char *path, const char *text, gssize len)
{
    g_autoptr(GError) error = NULL;

    g_file_set_contents(path, text, len, &error);
    g_assert_no_error(error);
}

/* The state file, parsed; checked to be a version 1 table. */
static JsonNode *load_state(const char *path)
{
    g_autofree char *text = read_file(path);
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
    g_autoptr(JsonNode) root = load_state(path);
    g_autoptr(GHashTable) managed = managed_devices(c);
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

/* The file comes to say what query-devices says. (An operation's outcome
 * is saved just after its answer, so it may take a moment.) */
static void assert_file_matches(TestClient *c, const char *path)
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

/* The names in @dir starting with @prefix, sorted. */
static GPtrArray *names_in(const char *dir, const char *prefix)
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

/* The names of the files in @dir that are the state file's or were made
 * for it (temporary files, files moved aside), one a line. */
static char *state_names(const char *dir)
{
    g_autoptr(GPtrArray) names = names_in(dir, "state.json");
    g_autoptr(GPtrArray) temps = names_in(dir, ".state.json");

    g_ptr_array_extend_and_steal(names, g_steal_pointer(&temps));
    g_ptr_array_add(names, NULL);
    return g_strjoinv("\n", (char **)names->pdata);
}

/* ---- 1. a stopped proxy's table comes back ---- */

static void test_restart_keeps_table(void)
{
    const char *const ids[] = { "r0", "r1", "r2", "r3", "r4" };
    St st;

    st_start(&st, NULL);
    for (guint i = 0; i < G_N_ELEMENTS(ids); i++) {
        g_autofree char *name = g_strdup_printf("%s.img", ids[i]);
        g_autofree char *img = test_make_image(st.dir, name);
        g_autoptr(JsonNode) n =
            i == 3 ? test_qmp_ok(st.c,
                                 "{\"execute\": \"" DM "device-new\", \"arguments\": "
                                 "{\"driver\": \"virtio-scsi\", \"path\": \"%s\", "
                                 "\"id\": \"%s\", \"read-only\": true}}",
                                 img, ids[i])
                   : dev_new(st.c, img, ids[i]);
        if (i < 4) {
            g_autoptr(JsonNode) a = test_dm(st.c, "device-attach", ids[i]);
            g_assert_cmpint(test_json_int(a, "index"), ==, i);
        }
    }
    /* counts that are not 0 or 1, a device never attached, a hole at 2 */
    g_autoptr(JsonNode) a1 = test_dm(st.c, "device-attach", "r1");
    test_dm_assert_counts(a1, "attached", 2, 1);
    g_autoptr(JsonNode) ref0 = test_dm(st.c, "device-reference", "r0");
    test_dm_assert_counts(ref0, "attached", 1, 2);
    g_autoptr(JsonNode) ref4 = test_dm(st.c, "device-reference", "r4");
    test_dm_assert_counts(ref4, "detached", 0, 2);
    g_autoptr(JsonNode) d2 = test_dm(st.c, "device-detach", "r2");
    test_dm_assert_counts(d2, "detached", 0, 1);
    test_qemu_assert_gone(st.c, "r2");
    g_autoptr(GHashTable) before = managed_devices(st.c);
    g_assert_cmpuint(g_hash_table_size(before), ==, G_N_ELEMENTS(ids));
    assert_file_matches(st.c, st.state);

    /* twice: a proxy started on a table that is already in line changes nothing */
    for (int restart = 0; restart < 2; restart++) {
        st_proxy_stop(&st);
        g_autoptr(JsonNode) root = load_state(st.state);
        st_proxy_start(&st);
        g_autoptr(GHashTable) after = managed_devices(st.c);
        GHashTableIter iter;
        gpointer id, info;

        g_assert_cmpuint(g_hash_table_size(after), ==, g_hash_table_size(before));
        g_hash_table_iter_init(&iter, before);
        while (g_hash_table_iter_next(&iter, &id, &info)) {
            JsonNode *now = g_hash_table_lookup(after, id);

            if (!now || !json_node_equal(info, now)) {
                g_error("%s was %s, is %s", (char *)id, json_to_string(info, FALSE),
                        now ? json_to_string(now, FALSE) : "gone");
            }
            if (g_strcmp0(test_json_str(now, "state"), "attached") == 0) {
                assert_scsi_in_qemu(st.c, now);
            } else {
                test_dm_assert_no_address(now);
                test_qemu_assert_gone(st.c, id);
            }
        }
    }

    /* the addresses QEMU has are taken: the next attach gets the hole */
    g_autofree char *img5 = test_make_image(st.dir, "r5.img");
    g_autofree char *img6 = test_make_image(st.dir, "r6.img");
    g_autoptr(JsonNode) n5 = dev_new(st.c, img5, "r5");
    g_autoptr(JsonNode) a5 = test_dm(st.c, "device-attach", "r5");
    g_assert_cmpint(test_json_int(a5, "index"), ==, 2);
    assert_scsi_in_qemu(st.c, a5);
    g_autoptr(JsonNode) n6 = dev_new(st.c, img6, "r6");
    g_autoptr(JsonNode) a6 = test_dm(st.c, "device-attach", "r6");
    g_assert_cmpint(test_json_int(a6, "index"), ==, 4);
    assert_scsi_in_qemu(st.c, a6);
    /* and the restored counts work as counts */
    g_autoptr(JsonNode) d1 = test_dm(st.c, "device-detach", "r1");
    test_dm_assert_counts(d1, "attached", 1, 1);
    g_autoptr(JsonNode) d1b = test_dm(st.c, "device-detach", "r1");
    test_dm_assert_counts(d1b, "detached", 0, 1);
    test_qemu_assert_gone(st.c, "r1");
    g_autoptr(JsonNode) rm4 = test_dm(st.c, "device-remove", "r4");
    g_assert_cmpint(test_json_int(rm4, "reference-count"), ==, 1);
    assert_file_matches(st.c, st.state);
    st_stop(&st);
}

/* Stopped (SIGTERM) right after answering an attach: a clean stop leaves
 * the file saying what the client was told, and no temporary file. */
static void test_stop_after_answer(void)
{
    St st;

    st_start(&st, NULL);
    for (int round = 0; round < 5; round++) {
        g_autofree char *id = g_strdup_printf("t%d", round);
        g_autofree char *name = g_strdup_printf("t%d.img", round);
        g_autofree char *img = test_make_image(st.dir, name);
        g_autoptr(JsonNode) n = dev_new(st.c, img, id);
        g_autoptr(JsonNode) a = test_dm(st.c, "device-attach", id);

        st_proxy_stop(&st);
        g_autoptr(GPtrArray) temps = names_in(st.dir, ".state.json");
        g_autoptr(JsonNode) root = load_state(st.state);
        g_autofree char *text = json_to_string(root, TRUE);
        JsonArray *recs = json_object_get_array_member(json_node_get_object(root), "devices");
        JsonNode *rec = NULL;

        for (guint i = 0; i < json_array_get_length(recs); i++) {
            if (g_strcmp0(test_json_str(json_array_get_element(recs, i), "id"), id) == 0) {
                rec = json_array_get_element(recs, i);
            }
        }
        if (temps->len || !rec || g_strcmp0(test_json_str(rec, "state"), "attached") != 0 ||
            test_json_int(rec, "attach-count") != 1) {
            g_error("round %d: after %s was attached and the proxy stopped: %u temporary "
                    "file(s) left (%s), the file says:\n%s",
                    round, id, temps->len,
                    temps->len ? (char *)g_ptr_array_index(temps, 0) : "none", text);
        }
        st_proxy_start(&st);
    }
    st_stop(&st);
}

/* ---- 2. kill -9 at random instants ---- */

#define STORM_CLIENTS 4
#define STORM_ROUNDS 40
#define STORM_DEVICES 3 /* per client */
#define STORM_OPS 12    /* per client and round */

typedef enum { OP_NEW, OP_ATTACH, OP_DETACH, OP_REFERENCE, OP_DEREFERENCE, OP_REMOVE } OpKind;

static const char *const op_names[] = { "device-new",       "device-attach",      "device-detach",
                                        "device-reference", "device-dereference", "device-remove" };

/* What a device is, as the client's script would leave it. */
typedef struct {
    gboolean exists;
    gint attach, refs;
} Model;

static Model model_apply(Model m, OpKind op)
{
    switch (op) {
    case OP_NEW:
        if (!m.exists) {
            m = (Model){ TRUE, 0, 0 };
        }
        m.refs++;
        break;
    case OP_ATTACH:
        m.attach++;
        break;
    case OP_DETACH:
        m.attach--;
        break;
    case OP_REFERENCE:
        m.refs++;
        break;
    case OP_DEREFERENCE:
        m.refs -= m.refs > 0;
        break;
    case OP_REMOVE:
        m.refs -= m.refs > 0;
        if (m.refs == 0) {
            m = (Model){ FALSE, 0, 0 };
        }
        break;
    }
    return m;
}

typedef struct {
    char *id;
    char *img;
    GArray *ops; /* of OpKind, this device's own */
    gint acked;  /* how many of them were answered (all with success) */
} StormDevice;

typedef struct {
    TestClient *c;
    StormDevice dev[STORM_DEVICES];
    GArray *script; /* of guint: the device each command is for */
    GArray *kinds;  /* of OpKind */
} StormClient;

/* A random script that succeeds step by step if nothing is cut short. */
static void storm_script(StormClient *sc)
{
    Model m[STORM_DEVICES] = { { 0 } };
    gboolean made[STORM_DEVICES] = { FALSE };

    while (sc->script->len < STORM_OPS) {
        guint k = (guint)g_test_rand_int_range(0, STORM_DEVICES);
        OpKind choices[6];
        guint n_choices = 0, usable = 0;

        for (int x = 0; x < STORM_DEVICES; x++) {
            usable += m[x].exists || !made[x];
        }
        if (!usable) {
            break;
        }
        if (!m[k].exists) {
            /* a device removed is not made again in the same round (a
             * device-new right behind a device-remove is tested on its own) */
            if (made[k]) {
                continue;
            }
            made[k] = TRUE;
            choices[n_choices++] = OP_NEW;
        } else {
            choices[n_choices++] = OP_ATTACH;
            choices[n_choices++] = OP_ATTACH;
            choices[n_choices++] = OP_REFERENCE;
            choices[n_choices++] = OP_DEREFERENCE;
            if (m[k].attach > 0) {
                choices[n_choices++] = OP_DETACH;
            } else {
                choices[n_choices++] = OP_REMOVE;
            }
        }
        OpKind op = choices[g_test_rand_int_range(0, (gint32)n_choices)];
        m[k] = model_apply(m[k], op);
        g_array_append_val(sc->script, k);
        g_array_append_val(sc->kinds, op);
        g_array_append_val(sc->dev[k].ops, op);
    }
}

static gboolean state_is(JsonNode *info, Model m)
{
    const char *want = m.attach > 0 ? "attached" : "detached";

    if (!info) {
        return !m.exists;
    }
    return m.exists && test_json_int(info, "attach-count") == m.attach &&
           test_json_int(info, "reference-count") == m.refs &&
           g_strcmp0(test_json_str(info, "state"), want) == 0;
}

/* Waits until no managed device is half-way (a resumed unplug completes on
 * QEMU's DEVICE_DELETED); returns the table. */
static GHashTable *settled_devices(TestClient *c)
{
    for (int tries = 0;; tries++) {
        GHashTable *managed = managed_devices(c);
        GHashTableIter iter;
        gpointer id, info;
        const char *busy = NULL;

        g_hash_table_iter_init(&iter, managed);
        while (g_hash_table_iter_next(&iter, &id, &info)) {
            const char *state = test_json_str(info, "state");

            if (g_strcmp0(state, "attached") != 0 && g_strcmp0(state, "detached") != 0) {
                busy = id;
            }
        }
        if (!busy) {
            return managed;
        }
        if (tries == 1000) {
            g_error("device %s stays %s", (char *)busy,
                    test_json_str(g_hash_table_lookup(managed, busy), "state"));
        }
        g_hash_table_unref(managed);
        g_usleep(20000);
    }
}

/* What QEMU and the table must agree on whenever no operation is under
 * way; @fail collects what is wrong. Returns the lowest free SCSI index. */
static gint64 check_consistent(TestClient *c, GHashTable *managed, GString *fail)
{
    g_autoptr(GHashTable) devices = test_qemu_devices(c);
    g_autoptr(GHashTable) nodes = test_qemu_nodes(c);
    g_autoptr(GHashTable) used = g_hash_table_new(g_int64_hash, g_int64_equal);
    g_autoptr(GPtrArray) indexes = g_ptr_array_new_with_free_func(g_free);
    GHashTableIter iter;
    gpointer id, info;
    guint attached = 0;

    g_hash_table_iter_init(&iter, managed);
    while (g_hash_table_iter_next(&iter, &id, &info)) {
        gboolean is_attached = g_strcmp0(test_json_str(info, "state"), "attached") == 0;
        gboolean in_qemu = g_hash_table_contains(devices, id);
        g_autofree char *node = g_strconcat("drive-", (char *)id, NULL);

        /* (a) attached exactly when QEMU has it, at the address QEMU has */
        if (is_attached != in_qemu) {
            g_string_append_printf(fail, "%s is %s but QEMU %s it\n", (char *)id,
                                   test_json_str(info, "state"), in_qemu ? "has" : "does not have");
            continue;
        }
        if (!is_attached) {
            if (test_json_has(info, "index") || test_json_has(info, "scsi-id")) {
                g_string_append_printf(fail, "%s is detached with an address\n", (char *)id);
            }
            if (test_json_int(info, "attach-count") != 0) {
                g_string_append_printf(fail,
                                       "%s is detached with attach-count %" G_GINT64_FORMAT "\n",
                                       (char *)id, test_json_int(info, "attach-count"));
            }
            continue;
        }
        attached++;
        gint64 sid = test_qom_int(c, id, "scsi-id"), lun = test_qom_int(c, id, "lun");
        if (sid != test_json_int(info, "scsi-id") || lun != test_json_int(info, "lun") ||
            test_json_int(info, "index") != sid * 256 + lun) {
            g_string_append_printf(fail,
                                   "%s: QEMU has scsi-id %" G_GINT64_FORMAT " lun %" G_GINT64_FORMAT
                                   ", the proxy says %s\n",
                                   (char *)id, sid, lun, json_to_string(info, FALSE));
        }
        if (test_json_int(info, "attach-count") < 1) {
            g_string_append_printf(fail, "%s is attached with attach-count 0\n", (char *)id);
        }
        if (!g_hash_table_contains(nodes, node)) {
            g_string_append_printf(fail, "%s is attached without its node\n", (char *)id);
        }
        /* (c) no address twice */
        gint64 *index = g_new(gint64, 1);
        *index = sid * 256 + lun;
        g_ptr_array_add(indexes, index);
        if (!g_hash_table_add(used, index)) {
            g_string_append_printf(fail, "%s has index %" G_GINT64_FORMAT ", as another device\n",
                                   (char *)id, *index);
        }
    }
    /* (b) no node but an attached device's; QEMU has no device the table
     * does not explain (the controller aside) */
    g_hash_table_iter_init(&iter, nodes);
    while (g_hash_table_iter_next(&iter, &id, NULL)) {
        JsonNode *owner = g_str_has_prefix(id, "drive-")
                              ? g_hash_table_lookup(managed, (char *)id + strlen("drive-"))
                              : NULL;

        if (!owner || g_strcmp0(test_json_str(owner, "state"), "attached") != 0) {
            g_string_append_printf(fail, "QEMU has node %s, and no attached device uses it\n",
                                   (char *)id);
        }
    }
    g_hash_table_iter_init(&iter, devices);
    while (g_hash_table_iter_next(&iter, &id, NULL)) {
        if (strcmp(id, "scsi0") != 0 && !g_hash_table_contains(managed, id)) {
            g_string_append_printf(fail, "QEMU has device %s, which the table lacks\n", (char *)id);
        }
    }
    g_assert_cmpuint(g_hash_table_size(devices), >=, attached);
    gint64 lowest = 0;
    while (g_hash_table_contains(used, &lowest)) {
        lowest++;
    }
    return lowest;
}

/* Detaches and removes every managed device; QEMU is left with the
 * controller alone. */
static void storm_clean(TestClient *c, GHashTable *managed)
{
    GHashTableIter iter;
    gpointer id, info;
    guint sent = 0;

    g_hash_table_iter_init(&iter, managed);
    while (g_hash_table_iter_next(&iter, &id, &info)) {
        for (gint64 n = 0; n < test_json_int(info, "attach-count"); n++) {
            g_autofree char *cmd = g_strdup_printf(
                "{\"execute\": \"" DM "device-detach\", \"arguments\": {\"id\": \"%s\"}}",
                (char *)id);
            test_client_send(c, cmd);
            sent++;
        }
        g_autofree char *rm = g_strdup_printf(
            "{\"execute\": \"" DM "device-remove\", \"arguments\": {\"id\": \"%s\"}}", (char *)id);
        /* at reference count 0 one remove is enough */
        for (gint64 n = 0; n < MAX(1, test_json_int(info, "reference-count")); n++) {
            test_client_send(c, rm);
            sent++;
        }
    }
    for (guint n = 0; n < sent; n++) {
        g_autofree char *r = test_client_recv_reply(c, NULL);
        g_autoptr(JsonNode) ret = test_qmp_reply("clean-up", r, TRUE);
    }
    g_autoptr(GHashTable) left = managed_devices(c);
    g_assert_cmpuint(g_hash_table_size(left), ==, 0);
    g_autoptr(GHashTable) devices = test_qemu_devices(c);
    g_autoptr(GHashTable) nodes = test_qemu_nodes(c);
    g_assert_cmpuint(g_hash_table_size(devices), ==, 1);
    g_assert_cmpuint(g_hash_table_size(nodes), ==, 0);
}

static void test_kill_storm(void)
{
    St st;
    guint total_acked = 0, total_sent = 0, cut_short = 0;

    st_start(&st, NULL);
    for (int round = 0; round < STORM_ROUNDS; round++) {
        StormClient sc[STORM_CLIENTS];

        /* each client pipelines its own script on its own devices */
        for (int k = 0; k < STORM_CLIENTS; k++) {
            sc[k].c = client_new(&st);
            sc[k].script = g_array_new(FALSE, FALSE, sizeof(guint));
            sc[k].kinds = g_array_new(FALSE, FALSE, sizeof(OpKind));
            for (int x = 0; x < STORM_DEVICES; x++) {
                g_autofree char *name = g_strdup_printf("s%dk%d%c.img", round, k, 'a' + x);

                sc[k].dev[x].id = g_strdup_printf("s%dk%d%c", round, k, 'a' + x);
                sc[k].dev[x].img = test_make_image(st.dir, name);
                sc[k].dev[x].ops = g_array_new(FALSE, FALSE, sizeof(OpKind));
                sc[k].dev[x].acked = 0;
            }
            storm_script(&sc[k]);
        }
        for (guint n = 0; n < STORM_OPS; n++) {
            for (int k = 0; k < STORM_CLIENTS; k++) {
                if (n >= sc[k].script->len) {
                    continue;
                }
                StormDevice *d = &sc[k].dev[g_array_index(sc[k].script, guint, n)];
                OpKind op = g_array_index(sc[k].kinds, OpKind, n);
                g_autofree char *cmd =
                    op == OP_NEW
                        ? g_strdup_printf("{\"execute\": \"" DM "device-new\", \"arguments\": "
                                          "{\"driver\": \"virtio-scsi\", \"path\": \"%s\", "
                                          "\"id\": \"%s\"}, \"id\": %u}",
                                          d->img, d->id, n)
                        : g_strdup_printf("{\"execute\": \"" DM "%s\", \"arguments\": {\"id\": "
                                          "\"%s\"}, \"id\": %u}",
                                          op_names[op], d->id, n);
                test_client_send(sc[k].c, cmd);
            }
        }
        g_usleep(1000 * (gulong)g_test_rand_int_range(0, 30));
        g_autofree char *old_log = st_proxy_kill(&st);

        /* what was answered before the kill: a prefix, all successes */
        for (int k = 0; k < STORM_CLIENTS; k++) {
            g_autofree char *all = test_client_recv_all(sc[k].c, 10000);
            g_auto(GStrv) lines = g_strsplit(all, "\r\n", -1);
            guint n = 0;

            for (guint i = 0; lines[i]; i++) {
                if (!*lines[i] || strstr(lines[i], "\"event\": ")) {
                    continue;
                }
                g_autoptr(JsonNode) reply = test_json_parse(lines[i]);
                if (!test_json_has(reply, "return") || test_json_int(reply, "id") != n) {
                    g_error("round %d client %d: command %u (%s) -> %s", round, k, n,
                            op_names[g_array_index(sc[k].kinds, OpKind, n)], lines[i]);
                }
                sc[k].dev[g_array_index(sc[k].script, guint, n)].acked++;
                n++;
            }
            total_acked += n;
            total_sent += sc[k].script->len;
            cut_short += n < sc[k].script->len;
            test_client_free(sc[k].c);
        }

        st_restart_after_kill(&st, round);
        g_autoptr(GHashTable) managed = settled_devices(st.c);
        g_autoptr(GString) fail = g_string_new(NULL);
        gint64 lowest = check_consistent(st.c, managed, fail);

        /* each device is as its script left it after everything answered
         * and perhaps some of what followed; never before an answer */
        for (int k = 0; k < STORM_CLIENTS; k++) {
            for (int x = 0; x < STORM_DEVICES; x++) {
                StormDevice *d = &sc[k].dev[x];
                JsonNode *info = g_hash_table_lookup(managed, d->id);
                Model m = { 0 };
                gboolean matched = FALSE;

                for (guint i = 0; i <= d->ops->len; i++) {
                    if (i >= (guint)d->acked && state_is(info, m)) {
                        matched = TRUE;
                    }
                    if (i < d->ops->len) {
                        m = model_apply(m, g_array_index(d->ops, OpKind, i));
                    }
                }
                if (!matched) {
                    GString *ops = g_string_new(NULL);
                    for (guint i = 0; i < d->ops->len; i++) {
                        g_string_append_printf(ops, " %s",
                                               op_names[g_array_index(d->ops, OpKind, i)]);
                    }
                    g_string_append_printf(fail, "%s (%u answered of:%s) is %s\n", d->id, d->acked,
                                           ops->str, info ? json_to_string(info, FALSE) : "gone");
                    g_string_free(ops, TRUE);
                }
            }
        }
        if (fail->len) {
            g_autofree char *log = test_proxy_log(st.proxy);
            g_autofree char *file = read_file(st.state);
            g_error("round %d:\n%s\nthe killed proxy's log:\n%s\nthe new one's:\n%s\nthe "
                    "file:\n%s",
                    round, fail->str, old_log, log, file);
        }

        /* (d) the next attach gets the lowest address QEMU leaves free */
        g_autofree char *probe_name = g_strdup_printf("probe%d.img", round);
        g_autofree char *probe_img = test_make_image(st.dir, probe_name);
        g_autofree char *probe = g_strdup_printf("probe%d", round);
        g_autoptr(JsonNode) pn = dev_new(st.c, probe_img, probe);
        g_autoptr(JsonNode) pa = test_dm(st.c, "device-attach", probe);
        g_assert_cmpint(test_json_int(pa, "index"), ==, lowest);
        assert_scsi_in_qemu(st.c, pa);

        /* a clean slate for the next round */
        g_autoptr(GHashTable) now = managed_devices(st.c);
        storm_clean(st.c, now);
        for (int k = 0; k < STORM_CLIENTS; k++) {
            for (int x = 0; x < STORM_DEVICES; x++) {
                g_unlink(sc[k].dev[x].img);
                g_free(sc[k].dev[x].img);
                g_free(sc[k].dev[x].id);
                g_array_unref(sc[k].dev[x].ops);
            }
            g_array_unref(sc[k].script);
            g_array_unref(sc[k].kinds);
        }
        g_unlink(probe_img);
    }
    g_autoptr(GPtrArray) temps = names_in(st.dir, ".state.json.");
    g_test_message("%u of %u commands answered before the kills; %u scripts cut short; %u "
                   "temporary files left by killed writes",
                   total_acked, total_sent, cut_short, temps->len);
    /* the kills did land in the middle of things */
    g_assert_cmpuint(cut_short, >, 0);
    st_stop(&st);
}

/* A proxy killed after QEMU took a device_del and took the device out of
 * its tree, but before QEMU reported DEVICE_DELETED (SCSI: tens of ms, a
 * guest: seconds): the file says unplugging, QEMU lacks the device but
 * still holds its node until the device is finalized. */
static void test_kill_mid_unplug(void)
{
    St st;
    guint hit = 0;

    st_start(&st, NULL);
    g_autofree char *img = test_make_image(st.dir, "u.img");
    g_autoptr(JsonNode) n = dev_new(st.c, img, "u");
    for (int round = 0; round < 5; round++) {
        g_autoptr(JsonNode) a = test_dm(st.c, "device-attach", "u");
        g_assert_cmpint(test_json_int(a, "index"), ==, 0);
        TestClient *watch = client_new(&st);
        test_client_send(st.c, "{\"execute\": \"" DM "device-detach\", \"arguments\": "
                               "{\"id\": \"u\"}}");
        for (int tries = 0; test_qemu_has_device(watch, "u"); tries++) {
            g_assert_cmpint(tries, <, 10000);
        }
        gboolean node_left = test_qemu_has_node(watch, "drive-u");
        test_client_free(watch);
        g_autofree char *old_log = st_proxy_kill(&st);
        hit += node_left;

        st_restart_after_kill(&st, round);
        g_autoptr(GHashTable) managed = settled_devices(st.c);
        g_autoptr(GString) fail = g_string_new(NULL);
        check_consistent(st.c, managed, fail);
        if (fail->len) {
            g_autofree char *log = test_proxy_log(st.proxy);
            g_error("round %d:\n%s\nthe killed proxy's log:\n%s\nthe new one's:\n%s", round,
                    fail->str, old_log, log);
        }
        g_autoptr(JsonNode) q = test_dm(st.c, "query-device", "u");
        test_dm_assert_counts(q, "detached", 0, 1);
        test_qemu_assert_gone(st.c, "u");
    }
    /* the kill did come while QEMU still held the node, at least once */
    g_test_message("%u of 5 kills while QEMU still held the node", hit);
    g_assert_cmpuint(hit, >, 0);
    st_stop(&st);
}

/* A device-new right behind the device-remove of the last reference (a
 * container restarting on the same disk), pipelined: it makes the device
 * again, as it does when the two are sent one after the other. */
static void test_new_behind_remove(void)
{
    St st;

    st_start(&st, NULL);
    g_autofree char *img = test_make_image(st.dir, "nb.img");
    g_autofree char *img2 = test_make_image(st.dir, "nb2.img");
    /* the same path again, then the same id for another path */
    const char *const second[] = { img, img2 };
    for (guint i = 0; i < G_N_ELEMENTS(second); i++) {
        g_autofree char *id = g_strdup_printf("nb%u", i);
        g_autofree char *cmds = g_strdup_printf(
            "{\"execute\": \"" DM "device-new\", \"arguments\": {\"driver\": \"virtio-scsi\", "
            "\"path\": \"%s\", \"id\": \"%s\"}, \"id\": 1}"
            "{\"execute\": \"" DM "device-remove\", \"arguments\": {\"id\": \"%s\"}, \"id\": 2}"
            "{\"execute\": \"" DM "device-new\", \"arguments\": {\"driver\": \"virtio-scsi\", "
            "\"path\": \"%s\", \"id\": \"%s\"}, \"id\": 3}",
            img, id, id, second[i], id);

        test_client_send(st.c, cmds);
        for (int k = 1; k <= 3; k++) {
            g_autofree char *r = test_client_recv_reply(st.c, NULL);
            g_autoptr(JsonNode) reply = test_json_parse(r);

            if (!test_json_has(reply, "return") || test_json_int(reply, "id") != k) {
                g_error("%s, command %d: %s", id, k, r);
            }
        }
        g_autoptr(JsonNode) q = test_dm(st.c, "query-device", id);
        test_dm_assert_counts(q, "detached", 0, 1);
        g_assert_cmpstr(test_json_str(q, "path"), ==, second[i]);
        g_autoptr(JsonNode) rm = test_dm(st.c, "device-remove", id);
    }
    st_stop(&st);
}

/* ---- 3. unusable files ---- */

typedef struct {
    const char *name;
    char *text;
    gssize len;
} BadFile;

static void test_bad_files(void)
{
    St st;

    /* a valid table with an attached device, to cut in half */
    st_start(&st, NULL);
    g_autofree char *img = test_make_image(st.dir, "keep.img");
    g_autoptr(JsonNode) n = dev_new(st.c, img, "keep");
    g_autoptr(JsonNode) a = test_dm(st.c, "device-attach", "keep");
    g_assert_cmpint(test_json_int(a, "index"), ==, 0);
    st_proxy_stop(&st);
    g_autofree char *valid = read_file(st.state);
    gsize valid_len = strlen(valid);
    g_assert_cmpuint(valid_len, >, 40);

#define REC(kind, more)                                                                            \
    "{\"version\": 1, \"devices\": [{\"id\": \"x\", \"kind\": " kind ", \"path\": \"/p\", "        \
    "\"read-only\": false, \"attach-count\": 0, \"reference-count\": 1, \"state\": "               \
    "\"detached\"" more "}]}"
    BadFile bad[] = {
        { "empty", g_strdup(""), 0 },
        { "truncated", g_strndup(valid, valid_len / 2), -1 },
        { "not JSON", g_strdup("this is not JSON\n"), -1 },
        { "binary", g_strdup("\x01\x02\xff\xfe"), -1 },
        { "version 2", g_strdup("{\"version\": 2, \"devices\": []}"), -1 },
        { "version 0", g_strdup("{\"version\": 0, \"devices\": []}"), -1 },
        { "version a string", g_strdup("{\"version\": \"1\", \"devices\": []}"), -1 },
        { "no devices", g_strdup("{\"version\": 1}"), -1 },
        { "devices not a list", g_strdup("{\"version\": 1, \"devices\": {}}"), -1 },
        { "a list", g_strdup("[]"), -1 },
        { "bad kind", g_strdup(REC("\"floppy\"", "")), -1 },
        { "kind not a string", g_strdup(REC("7", "")), -1 },
        { "bad state",
          g_strdup("{\"version\": 1, \"devices\": [{\"id\": \"x\", \"kind\": "
                   "\"virtio-scsi\", \"path\": \"/p\", \"attach-count\": 0, "
                   "\"reference-count\": 1, \"state\": \"dancing\"}]}"),
          -1 },
        { "no id",
          g_strdup("{\"version\": 1, \"devices\": [{\"kind\": \"virtio-scsi\", "
                   "\"path\": \"/p\", \"attach-count\": 0, \"reference-count\": 1, "
                   "\"state\": \"detached\"}]}"),
          -1 },
        { "bad id",
          g_strdup("{\"version\": 1, \"devices\": [{\"id\": \"a/b\", \"kind\": "
                   "\"virtio-scsi\", \"path\": \"/p\", \"attach-count\": 0, "
                   "\"reference-count\": 1, \"state\": \"detached\"}]}"),
          -1 },
        { "negative count",
          g_strdup("{\"version\": 1, \"devices\": [{\"id\": \"x\", \"kind\": "
                   "\"virtio-scsi\", \"path\": \"/p\", \"attach-count\": -1, "
                   "\"reference-count\": 1, \"state\": \"detached\"}]}"),
          -1 },
        { "record not an object", g_strdup("{\"version\": 1, \"devices\": [\"x\"]}"), -1 },
        { "the same id twice",
          g_strdup("{\"version\": 1, \"devices\": [{\"id\": \"x\", \"kind\": \"virtio-scsi\", "
                   "\"path\": \"/p\", \"attach-count\": 0, \"reference-count\": 1, \"state\": "
                   "\"detached\"}, {\"id\": \"x\", \"kind\": \"virtio-scsi\", \"path\": \"/q\", "
                   "\"attach-count\": 0, \"reference-count\": 1, \"state\": \"detached\"}]}"),
          -1 },
        /* one device per host device: a table never says two */
        { "two devices for one path",
          g_strdup("{\"version\": 1, \"devices\": [{\"id\": \"x\", \"kind\": \"virtio-scsi\", "
                   "\"path\": \"/p\", \"attach-count\": 0, \"reference-count\": 1, \"state\": "
                   "\"detached\"}, {\"id\": \"y\", \"kind\": \"virtio-scsi\", \"path\": \"/p\", "
                   "\"attach-count\": 0, \"reference-count\": 1, \"state\": \"detached\"}]}"),
          -1 },
        { "two devices for one path, spelt apart",
          g_strdup("{\"version\": 1, \"devices\": [{\"id\": \"x\", \"kind\": \"virtio-blk\", "
                   "\"path\": \"/d/p\", \"attach-count\": 0, \"reference-count\": 1, \"state\": "
                   "\"detached\"}, {\"id\": \"y\", \"kind\": \"virtio-blk\", \"path\": "
                   "\"/d/./e/../p\", \"attach-count\": 0, \"reference-count\": 1, \"state\": "
                   "\"detached\"}]}"),
          -1 },
    };
    for (guint i = 0; i < G_N_ELEMENTS(bad); i++) {
        gsize len = bad[i].len < 0 ? strlen(bad[i].text) : (gsize)bad[i].len;
        g_autofree char *listen = g_strdup_printf("%s/bad%u.sock", st.dir, i);
        struct stat before, after;

        write_file(st.state, bad[i].text, (gssize)len);
        g_assert_cmpint(g_stat(st.state, &before), ==, 0);
        g_autofree char *names_before = state_names(st.dir);
        TestProxy *p = test_proxy_spawn(st.qemu->qmp, listen, (const char *const *)st.opts->pdata);
        if (!test_proxy_wait(p, 20000)) {
            g_autofree char *log = test_proxy_log(p);
            g_error("%s: the proxy did not refuse the file: %s", bad[i].name, log);
        }
        g_autofree char *log = test_proxy_log(p);
        if (!WIFEXITED(p->status) || WEXITSTATUS(p->status) != 1 || !strstr(log, st.state) ||
            !strstr(log, "--state-reset")) {
            g_error("%s: exit status %d, log: %s", bad[i].name, p->status, log);
        }
        g_test_message("%s: %s", bad[i].name, log);
        test_proxy_free(p);
        /* byte for byte as it was, not replaced, nothing put beside it */
        gsize now_len = 0;
        g_autofree char *now = NULL;
        g_assert_true(g_file_get_contents(st.state, &now, &now_len, NULL));
        g_assert_cmpmem(now, now_len, bad[i].text, len);
        g_assert_cmpint(g_stat(st.state, &after), ==, 0);
        g_assert_cmpuint(after.st_ino, ==, before.st_ino);
        g_assert_cmpint(after.st_mtim.tv_sec, ==, before.st_mtim.tv_sec);
        g_assert_cmpint(after.st_mtim.tv_nsec, ==, before.st_mtim.tv_nsec);
        g_autofree char *names_after = state_names(st.dir);
        g_assert_cmpstr(names_after, ==, names_before);
    }
    /* the same record with a known kind is taken: the refusals were for
     * what was wrong, not for the shape of the test's records */
    write_file(st.state, REC("\"virtio-scsi\"", ""), -1);
    st_proxy_start(&st);
    g_autoptr(JsonNode) x = test_dm(st.c, "query-device", "x");
    test_dm_assert_counts(x, "detached", 0, 1);
    g_assert_cmpstr(test_json_str(x, "path"), ==, "/p");
    /* the device QEMU has, unknown to this table, keeps its address */
    g_assert_true(test_qemu_has_device(st.c, "keep"));
    st_proxy_stop(&st);

    /* --state-reset: the truncated file goes aside, the table is rebuilt
     * from QEMU, and the next change writes a new file */
    const BadFile *cut = &bad[1];
    write_file(st.state, cut->text, -1);
    g_ptr_array_remove_index(st.opts, st.opts->len - 1);
    g_ptr_array_add(st.opts, "--state-reset");
    g_ptr_array_add(st.opts, NULL);
    st_proxy_start(&st);
    g_autoptr(GPtrArray) aside = names_in(st.dir, "state.json.bad-");
    g_assert_cmpuint(aside->len, ==, 1);
    g_autofree char *aside_path = g_build_filename(st.dir, g_ptr_array_index(aside, 0), NULL);
    g_autofree char *aside_text = read_file(aside_path);
    g_assert_cmpstr(aside_text, ==, cut->text);
    g_autofree char *log = test_proxy_log(st.proxy);
    g_assert_nonnull(strstr(log, aside_path));
    g_autoptr(GHashTable) managed = managed_devices(st.c);
    g_assert_cmpuint(g_hash_table_size(managed), ==, 0);
    /* "keep" is QEMU's, as learnt: listed without a kind, at its address */
    g_autoptr(JsonNode) k = test_dm_entry(st.c, "keep");
    g_assert_nonnull(k);
    g_assert_false(test_json_has(k, "kind"));
    g_assert_cmpint(test_json_int(k, "index"), ==, 0);
    if (g_file_test(st.state, G_FILE_TEST_EXISTS)) {
        g_autoptr(JsonNode) early = load_state(st.state);
    }
    g_autofree char *img2 = test_make_image(st.dir, "fresh.img");
    g_autoptr(JsonNode) n2 = dev_new(st.c, img2, "fresh");
    g_autoptr(JsonNode) root = load_state(st.state);
    assert_file_matches(st.c, st.state);
    g_autoptr(JsonNode) a2 = test_dm(st.c, "device-attach", "fresh");
    g_assert_cmpint(test_json_int(a2, "index"), ==, 1);
    assert_scsi_in_qemu(st.c, a2);
    assert_file_matches(st.c, st.state);
    /* a good file is not moved aside */
    st_proxy_stop(&st);
    st_proxy_start(&st);
    g_autoptr(GPtrArray) aside2 = names_in(st.dir, "state.json.bad-");
    g_assert_cmpuint(aside2->len, ==, 1);
    g_autoptr(JsonNode) q2 = test_dm(st.c, "query-device", "fresh");
    test_dm_assert_counts(q2, "attached", 1, 1);
    for (guint i = 0; i < G_N_ELEMENTS(bad); i++) {
        g_free(bad[i].text);
    }
    st_stop(&st);
#undef REC
}

/* Unusable files reset one after the other (a proxy restarting in a loop
 * on a disk that corrupts what it writes): each is kept aside, none
 * replaces another. */
static void test_reset_keeps_every_bad_file(void)
{
    St st;

    st_start(&st, NULL);
    st_proxy_stop(&st);
    g_ptr_array_remove_index(st.opts, st.opts->len - 1);
    g_ptr_array_add(st.opts, "--state-reset");
    g_ptr_array_add(st.opts, NULL);
    for (int n = 0; n < 3; n++) {
        g_autofree char *text = g_strdup_printf("bad file %d\n", n);

        write_file(st.state, text, -1);
        st_proxy_start(&st);
        st_proxy_stop(&st);
    }
    g_autoptr(GPtrArray) aside = names_in(st.dir, "state.json.bad-");
    g_autoptr(GString) kept = g_string_new(NULL);
    for (guint i = 0; i < aside->len; i++) {
        g_autofree char *path = g_build_filename(st.dir, g_ptr_array_index(aside, i), NULL);
        g_autofree char *text = read_file(path);

        g_string_append(kept, text);
    }
    if (aside->len != 3) {
        g_error("3 files reset, %u kept aside, holding:\n%s", aside->len, kept->str);
    }
    st_proxy_start(&st);
    st_stop(&st);
}

/* ---- 4. a full disk ---- */

/* Fills the file system @dir is on; returns the filler's path. */
static char *fill_up(const char *dir)
{
    char *path = g_build_filename(dir, "filler", NULL);
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    char block[4096];
    struct statvfs vfs;

    memset(block, 'f', sizeof(block));
    g_assert_cmpint(fd, >=, 0);
    for (;;) {
        ssize_t n = write(fd, block, sizeof(block));

        if (n < 0) {
            g_assert_cmpint(errno, ==, ENOSPC);
            break;
        }
    }
    close(fd);
    g_assert_cmpint(statvfs(dir, &vfs), ==, 0);
    g_assert_cmpuint(vfs.f_bavail, ==, 0);
    return path;
}

static void assert_unchanged(const char *path, const char *text, const char *dir)
{
    g_autofree char *now = read_file(path);
    g_autoptr(GPtrArray) names = names_in(dir, "");

    g_assert_cmpstr(now, ==, text);
    /* a temporary file that could not be written is not left behind */
    g_assert_cmpuint(names->len, ==, 2);
}

static void test_full_disk(void)
{
    g_autofree char *tmp = g_dir_make_tmp("qmproxy-state-XXXXXX", NULL);
    g_autofree char *small = g_build_filename(tmp, "small", NULL);
    g_autofree char *state = g_build_filename(small, "state.json", NULL);
    St st;

    g_assert_cmpint(g_mkdir(small, 0700), ==, 0);
    /* in a mount namespace of this process's own (the proxy inherits it),
     * so that the tmpfs goes with it even if the test fails half-way */
    if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
        mount("tmpfs", small, "tmpfs", 0, "size=256k,mode=0700") < 0) {
        g_autofree char *why = g_strdup_printf("cannot mount a tmpfs: %s", g_strerror(errno));

        g_rmdir(small);
        g_rmdir(tmp);
        skip(why);
        return;
    }
    st_start(&st, state);
    g_autofree char *img = test_make_image(st.dir, "keep.img");
    g_autofree char *img2 = test_make_image(st.dir, "extra.img");
    g_autofree char *img3 = test_make_image(st.dir, "extra2.img");
    g_autoptr(JsonNode) n = dev_new(st.c, img, "keep");
    assert_file_matches(st.c, state);
    g_autofree char *saved = read_file(state);

    g_autofree char *filler = fill_up(small);
    /* a new device that cannot be saved does not exist */
    g_autofree char *e1 = dev_new_fails(st.c, img2, "extra");
    if (!g_str_has_prefix(e1, "GenericError: ") || !strstr(e1, "cannot save the device table")) {
        g_error("device-new on a full disk: %s", e1);
    }
    g_autoptr(GHashTable) managed = managed_devices(st.c);
    g_assert_cmpuint(g_hash_table_size(managed), ==, 1);
    g_assert_true(g_hash_table_contains(managed, "keep"));
    g_autofree char *e1q = test_dm_fails(st.c, "query-device", "extra");
    g_assert_cmpstr(e1q, ==, "DeviceNotFound: Device 'extra' not found");
    assert_unchanged(state, saved, small);

    /* nor does one with an attach queued behind its device-new */
    g_autofree char *pipelined = g_strdup_printf(
        "{\"execute\": \"" DM "device-new\", \"arguments\": {\"driver\": \"virtio-scsi\", "
        "\"path\": \"%s\", \"id\": \"extra2\"}, \"id\": 1}"
        "{\"execute\": \"" DM "device-attach\", \"arguments\": {\"id\": \"extra2\"}, \"id\": 2}",
        img3);
    test_client_send(st.c, pipelined);
    g_autofree char *r1 = test_client_recv_reply(st.c, NULL);
    g_autofree char *r2 = test_client_recv_reply(st.c, NULL);
    g_autoptr(JsonNode) e2a = test_qmp_reply("device-new extra2", r1, FALSE);
    g_autoptr(JsonNode) e2b = test_qmp_reply("device-attach extra2", r2, FALSE);
    g_assert_nonnull(strstr(json_node_get_string(e2a), "cannot save the device table"));
    g_assert_cmpstr(json_node_get_string(e2b), ==, "DeviceNotFound: Device 'extra2' not found");
    test_qemu_assert_gone(st.c, "extra2");

    /* an attach that cannot be saved sends nothing to QEMU */
    g_autofree char *e3 = test_dm_fails(st.c, "device-attach", "keep");
    if (!g_str_has_prefix(e3, "GenericError: ") || !strstr(e3, "cannot save the device table")) {
        g_error("device-attach on a full disk: %s", e3);
    }
    g_autoptr(JsonNode) q = test_dm(st.c, "query-device", "keep");
    test_dm_assert_counts(q, "detached", 0, 1);
    test_dm_assert_no_address(q);
    test_qemu_assert_gone(st.c, "keep");
    /* nor does a change of counts stick */
    g_autofree char *e4 = test_dm_fails(st.c, "device-reference", "keep");
    g_assert_nonnull(strstr(e4, "cannot save the device table"));
    g_autoptr(JsonNode) q2 = test_dm(st.c, "query-device", "keep");
    test_dm_assert_counts(q2, "detached", 0, 1);
    assert_unchanged(state, saved, small);

    /* room again: the same operations go through, and the file says so */
    g_assert_cmpint(g_unlink(filler), ==, 0);
    g_autoptr(JsonNode) n2 = dev_new(st.c, img2, "extra");
    test_dm_assert_counts(n2, "detached", 0, 1);
    g_autoptr(JsonNode) a = test_dm(st.c, "device-attach", "keep");
    test_dm_assert_counts(a, "attached", 1, 1);
    g_assert_cmpint(test_json_int(a, "index"), ==, 0);
    assert_scsi_in_qemu(st.c, a);
    assert_file_matches(st.c, state);
    g_autofree char *saved2 = read_file(state);

    /* a detach that cannot be saved leaves the device plugged */
    g_autofree char *filler2 = fill_up(small);
    g_autofree char *e5 = test_dm_fails(st.c, "device-detach", "keep");
    g_assert_nonnull(strstr(e5, "cannot save the device table"));
    g_autoptr(JsonNode) q3 = test_dm(st.c, "query-device", "keep");
    test_dm_assert_counts(q3, "attached", 1, 1);
    assert_scsi_in_qemu(st.c, q3);
    assert_unchanged(state, saved2, small);
    g_assert_cmpint(g_unlink(filler2), ==, 0);
    g_autoptr(JsonNode) d = test_dm(st.c, "device-detach", "keep");
    test_dm_assert_counts(d, "detached", 0, 1);
    test_qemu_assert_gone(st.c, "keep");
    assert_file_matches(st.c, state);

    /* what the file says is what a new proxy finds */
    st_proxy_stop(&st);
    st_proxy_start(&st);
    assert_file_matches(st.c, state);
    g_autoptr(GHashTable) last = managed_devices(st.c);
    g_assert_cmpuint(g_hash_table_size(last), ==, 2);
    st_stop(&st);

    g_assert_cmpint(umount2(small, MNT_DETACH), ==, 0);
    g_rmdir(small);
    g_rmdir(tmp);
}

/* A virtio-blk attach whose record (it holds the vdX name) cannot be
 * written never reaches device_add: undoing a PCI device would need the
 * guest, and a crash before the record would lose the name (found in
 * review: device_add went out beside the record). Without a guest, a
 * device_add sent here would leave the attach waiting --unplug-timeout
 * and the device in QEMU. */
static void test_full_disk_virtio_blk(void)
{
    static const char *const args[] = { "-device", "pcie-root-port,id=rp1,bus=pcie.0,chassis=1",
                                        NULL };
    g_autofree char *tmp = g_dir_make_tmp("qmproxy-state-XXXXXX", NULL);
    g_autofree char *small = g_build_filename(tmp, "small", NULL);
    St st = { 0 };

    g_assert_cmpint(g_mkdir(small, 0700), ==, 0);
    if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
        mount("tmpfs", small, "tmpfs", 0, "size=256k,mode=0700") < 0) {
        g_autofree char *why = g_strdup_printf("cannot mount a tmpfs: %s", g_strerror(errno));

        g_rmdir(small);
        g_rmdir(tmp);
        skip(why);
        return;
    }
    st.qemu = test_qemu_start(args);
    st.dir = st.qemu->dir;
    st.state = g_build_filename(small, "state.json", NULL);
    st.opts = g_ptr_array_new();
    const char *const opts[] = { "--state", st.state, "--hotplug-bus", "rp1", "--unplug-timeout",
                                 "30",      NULL };
    for (guint i = 0; i < G_N_ELEMENTS(opts); i++) {
        g_ptr_array_add(st.opts, (gpointer)opts[i]);
    }
    st_proxy_start(&st);
    g_autofree char *img = test_make_image(st.dir, "vb.img");
    g_autoptr(JsonNode) n = test_qmp_ok(st.c,
                                        "{\"execute\": \"" DM "device-new\", \"arguments\": "
                                        "{\"driver\": \"virtio-blk\", \"path\": \"%s\", "
                                        "\"id\": \"vb\"}}",
                                        img);
    g_autofree char *saved = read_file(st.state);

    g_autofree char *filler = fill_up(small);
    g_autofree char *e = test_dm_fails(st.c, "device-attach", "vb");
    if (!g_str_has_prefix(e, "GenericError: ") || !strstr(e, "cannot save the device table")) {
        g_error("virtio-blk attach on a full disk: %s", e);
    }
    g_autoptr(JsonNode) q = test_dm(st.c, "query-device", "vb");
    test_dm_assert_counts(q, "detached", 0, 1);
    test_qemu_assert_gone(st.c, "vb");
    assert_unchanged(st.state, saved, small);

    /* room again: it gets the first name */
    g_assert_cmpint(g_unlink(filler), ==, 0);
    g_autoptr(JsonNode) a = test_dm(st.c, "device-attach", "vb");
    g_assert_cmpstr(test_json_str(a, "drive-name"), ==, "vda");
    assert_file_matches(st.c, st.state);
    st_stop(&st);
    g_assert_cmpint(umount2(small, MNT_DETACH), ==, 0);
    g_rmdir(small);
    g_rmdir(tmp);
}

/* ---- 5. systemd socket activation ---- */

/* Starts the proxy as systemd would: @fd as descriptor 3, LISTEN_FDS=1,
 * LISTEN_PID its own pid (set by a shell that then execs it). */
static TestProxy *activated_spawn(const char *upstream, int fd, const char *sock, const char *log,
                                  const char *state, const char *listen_fds, gboolean own_pid)
{
    const char *const argv[] = { "sh",
                                 "-c",
                                 own_pid ? "LISTEN_PID=$$ exec \"$0\" \"$@\""
                                         : "LISTEN_PID=1 exec \"$0\" \"$@\"",
                                 test_qmproxy_bin(),
                                 "--upstream",
                                 upstream,
                                 "--state",
                                 state,
                                 NULL };
    g_auto(GStrv) envp = g_get_environ();
    const int source[] = { fd };
    const int target[] = { 3 };
    g_autoptr(GError) error = NULL;
    TestProxy *p = g_new0(TestProxy, 1);
    int log_fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);

    g_assert_cmpint(log_fd, >=, 0);
    envp = g_environ_setenv(envp, "LISTEN_FDS", listen_fds, TRUE);
    envp = g_environ_unsetenv(envp, "LISTEN_PID");
    g_spawn_async_with_pipes_and_fds(
        NULL, argv, (const char *const *)envp, G_SPAWN_DO_NOT_REAP_CHILD | G_SPAWN_SEARCH_PATH,
        NULL, NULL, -1, log_fd, log_fd, source, target, 1, &p->pid, NULL, NULL, NULL, &error);
    close(log_fd);
    g_assert_no_error(error);
    p->listen = g_strdup(sock);
    p->log = g_strdup(log);
    return p;
}

static TestProxy *activated_start(const char *upstream, int fd, const char *sock, const char *log,
                                  const char *state)
{
    return activated_spawn(upstream, fd, sock, log, state, "1", TRUE);
}

static void test_socket_activation(void)
{
    g_autoptr(TestQemu) qemu = test_qemu_start(scsi_args);
    g_autofree char *sock = g_build_filename(qemu->dir, "activated.sock", NULL);
    g_autofree char *log = g_build_filename(qemu->dir, "activated.log", NULL);
    g_autofree char *state = g_build_filename(qemu->dir, "state.json", NULL);
    g_autofree char *img = test_make_image(qemu->dir, "act.img");
    struct sockaddr_un addr = { .sun_family = AF_UNIX };
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

    g_strlcpy(addr.sun_path, sock, sizeof(addr.sun_path));
    g_assert_cmpint(bind(fd, (struct sockaddr *)&addr, sizeof(addr)), ==, 0);
    g_assert_cmpint(listen(fd, 16), ==, 0);

    TestProxy *p = activated_start(qemu->qmp, fd, sock, log, state);
    TestClient *c = test_client_connect(sock);
    g_free(test_client_handshake(c, NULL));
    g_autoptr(JsonNode) n = dev_new(c, img, "act");
    g_autoptr(JsonNode) a = test_dm(c, "device-attach", "act");
    test_dm_assert_counts(a, "attached", 1, 1);
    g_autoptr(JsonNode) before = test_dm(c, "query-device", "act");
    /* the proxy logs where it serves: the path of the socket it was given */
    g_autofree char *text = test_proxy_log(p);
    g_assert_nonnull(strstr(text, sock));

    /* stopped with SIGTERM, then killed with SIGKILL: the socket file and
     * the listening socket stay; a client that connects meanwhile waits in
     * the backlog and the next proxy serves it */
    for (int round = 0; round < 2; round++) {
        if (round == 0) {
            test_client_free(c);
            test_proxy_free(p); /* SIGTERM, exit 0, no sanitizer report */
        } else {
            kill(p->pid, SIGKILL);
            g_assert_true(test_proxy_wait(p, 10000));
            g_assert_true(test_client_wait_eof(c, 10000));
            test_client_free(c);
            test_proxy_free(p);
        }
        struct stat st;
        g_assert_cmpint(g_lstat(sock, &st), ==, 0);
        g_assert_true(S_ISSOCK(st.st_mode));
        c = test_client_connect(sock);
        g_assert_nonnull(c);
        p = activated_start(qemu->qmp, fd, sock, log, state);
        g_free(test_client_handshake(c, NULL));
        g_autoptr(JsonNode) after = test_dm(c, "query-device", "act");
        if (!json_node_equal(before, after)) {
            g_error("round %d: %s became %s", round, json_to_string(before, FALSE),
                    json_to_string(after, FALSE));
        }
        assert_scsi_in_qemu(c, after);
        /* and it works as before */
        g_autoptr(JsonNode) r = test_dm(c, "device-reference", "act");
        g_autoptr(JsonNode) dr = test_dm(c, "device-dereference", "act");
        test_dm_assert_counts(dr, "attached", 1, 1);
    }
    g_autoptr(JsonNode) d = test_dm(c, "device-detach", "act");
    test_dm_assert_counts(d, "detached", 0, 1);
    test_qemu_assert_gone(c, "act");
    test_client_free(c);
    test_proxy_free(p);
    g_assert_true(g_file_test(sock, G_FILE_TEST_EXISTS));
    close(fd);
    g_unlink(sock);
}

/* What is not systemd's socket for this process is refused with a
 * message, whatever is at descriptor 3. */
static void test_socket_activation_refusals(void)
{
    g_autoptr(TestQemu) qemu = test_qemu_start(scsi_args);
    g_autofree char *sock = g_build_filename(qemu->dir, "activated.sock", NULL);
    g_autofree char *state = g_build_filename(qemu->dir, "state.json", NULL);
    g_autofree char *plain = test_make_image(qemu->dir, "plain.file");
    struct sockaddr_un addr = { .sun_family = AF_UNIX };
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int file_fd = open(plain, O_RDONLY | O_CLOEXEC);
    const struct {
        const char *name;
        const char *listen_fds;
        gboolean own_pid;
        gboolean socket;
        const char *says;
    } cases[] = {
        /* LISTEN_* inherited from a parent systemd started: not ours */
        { "another process's", "1", FALSE, TRUE, "--listen" },
        { "two sockets", "2", TRUE, TRUE, "2 sockets" },
        { "not a socket", "1", TRUE, FALSE, "not a listening unix socket" },
    };

    g_strlcpy(addr.sun_path, sock, sizeof(addr.sun_path));
    g_assert_cmpint(bind(fd, (struct sockaddr *)&addr, sizeof(addr)), ==, 0);
    g_assert_cmpint(listen(fd, 16), ==, 0);
    for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autofree char *log = g_strdup_printf("%s/refused%u.log", qemu->dir, i);
        TestProxy *p = activated_spawn(qemu->qmp, cases[i].socket ? fd : file_fd, sock, log, state,
                                       cases[i].listen_fds, cases[i].own_pid);

        g_assert_true(test_proxy_wait(p, 20000));
        g_autofree char *text = test_proxy_log(p);
        if (!WIFEXITED(p->status) || WEXITSTATUS(p->status) == 0 || !strstr(text, cases[i].says)) {
            g_error("%s: wait status %d (%s), log:\n%s", cases[i].name, p->status,
                    WIFSIGNALED(p->status) ? g_strsignal(WTERMSIG(p->status)) : "exited", text);
        }
        test_proxy_free(p);
        g_assert_true(g_file_test(sock, G_FILE_TEST_EXISTS));
    }
    close(file_fd);
    close(fd);
    g_unlink(sock);
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

/* The vdX name a virtio-blk disk got is the one thing QEMU cannot tell a
 * restarted proxy: it must be on disk before the attach is answered
 * (found in review: a kill -9 right after the answer handed vda out
 * twice). */
static void test_drive_names_survive(void)
{
    static const char *const args[] = { "-device", "pcie-root-port,id=rp1,bus=pcie.0,chassis=1",
                                        "-device", "pcie-root-port,id=rp2,bus=pcie.0,chassis=2",
                                        NULL };
    St st = { 0 };

    st.qemu = test_qemu_start(args);
    st.dir = st.qemu->dir;
    st.state = g_build_filename(st.dir, "state.json", NULL);
    st.opts = g_ptr_array_new();
    const char *const opts[] = { "--state", st.state, "--hotplug-bus", "rp1", "--hotplug-bus",
                                 "rp2",     NULL };
    for (guint i = 0; i < G_N_ELEMENTS(opts); i++) {
        g_ptr_array_add(st.opts, (gpointer)opts[i]);
    }
    st_proxy_start(&st);
    for (int round = 0; round < 2; round++) {
        g_autofree char *name = g_strdup_printf("v%d.img", round);
        g_autofree char *img = test_make_image(st.dir, name);
        g_autofree char *id = g_strdup_printf("v%d", round);
        g_autofree char *new_cmd = g_strdup_printf(
            "{\"execute\": \"" DM "device-new\", \"arguments\": {\"driver\": \"virtio-blk\", "
            "\"path\": \"%s\", \"id\": \"%s\"}}",
            img, id);
        g_autofree char *made = test_client_cmd(st.c, new_cmd);
        g_autoptr(JsonNode) a = test_dm(st.c, "device-attach", id);
        g_autofree char *want = g_strdup_printf("vd%c", 'a' + round);

        g_assert_nonnull(strstr(made, "\"return\""));
        g_assert_cmpstr(test_json_str(a, "drive-name"), ==, want);
        /* at once: nothing else gets a chance to save the table */
        g_free(st_proxy_kill(&st));
        st_proxy_start(&st);
        for (int k = 0; k <= round; k++) {
            g_autofree char *kid = g_strdup_printf("v%d", k);
            g_autofree char *kwant = g_strdup_printf("vd%c", 'a' + k);
            g_autoptr(JsonNode) q = test_dm(st.c, "query-device", kid);

            g_assert_cmpstr(test_json_str(q, "state"), ==, "attached");
            g_assert_cmpstr(test_json_str(q, "drive-name"), ==, kwant);
        }
    }
    st_stop(&st);
}

/* A state file that is a symbolic link (to where the table really
 * lives) is written through: the link stays a link, its target gets the
 * table. */
static void test_symlink_written_through(void)
{
    St st;
    g_autofree char *dir = g_dir_make_tmp("qmproxy-state-XXXXXX", NULL);
    g_autofree char *real = g_build_filename(dir, "real.json", NULL);
    g_autofree char *link = g_build_filename(dir, "link.json", NULL);

    g_assert_cmpint(symlink("real.json", link), ==, 0); /* dangling, relative */
    st_start(&st, link);
    g_autofree char *img = test_make_image(st.dir, "a.img");
    g_autoptr(JsonNode) n = dev_new(st.c, img, "a");
    g_autoptr(JsonNode) a = test_dm(st.c, "device-attach", "a");
    GStatBuf lst;
    g_assert_cmpint(g_lstat(link, &lst), ==, 0);
    g_assert_true(S_ISLNK(lst.st_mode));
    assert_file_matches(st.c, real);
    g_autofree char *log = test_proxy_log(st.proxy);
    g_assert_nonnull(strstr(log, real));
    /* a restart reads it back through the link */
    st_proxy_stop(&st);
    st_proxy_start(&st);
    g_autoptr(JsonNode) q = test_dm(st.c, "query-device", "a");
    test_dm_assert_counts(q, "attached", 1, 1);
    g_assert_cmpint(g_lstat(link, &lst), ==, 0);
    g_assert_true(S_ISLNK(lst.st_mode));
    st_stop(&st);
    test_rm_rf(dir);
}

/* A state file that cannot be read is named plainly, also in the C
 * locale (GLib's own message quotes with characters it shows as '?'). */
static void test_unreadable_file_message(void)
{
    g_autoptr(TestQemu) q = test_qemu_start(scsi_args);
    g_autofree char *state = g_build_filename(q->dir, "a-directory", NULL);
    g_autofree char *listen = g_build_filename(q->dir, "proxy.sock", NULL);

    g_assert_cmpint(g_mkdir(state, 0700), ==, 0);
    g_autofree char *old = g_strdup(g_getenv("LC_ALL"));
    g_setenv("LC_ALL", "C", TRUE);
    TestProxy *p =
        test_proxy_spawn(q->qmp, listen, (const char *const[]){ "--state", state, NULL });
    if (old) {
        g_setenv("LC_ALL", old, TRUE);
    } else {
        g_unsetenv("LC_ALL");
    }
    g_assert_true(test_proxy_wait(p, 20000));
    g_autofree char *log = test_proxy_log(p);
    g_assert_true(WIFEXITED(p->status) && WEXITSTATUS(p->status) == 1);
    g_autofree char *want = g_strdup_printf("cannot read state file %s: Is a directory", state);
    g_assert_nonnull(strstr(log, want));
    g_assert_null(strchr(log, '?'));
    test_proxy_free(p);
}

static void add(const char *path, void (*test)(void))
{
    g_test_add_data_func(path, test, isolated);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    test_require_qemu();
    if (!g_test_subprocess()) {
        /* a failed test is reported, and the next one runs */
        g_test_set_nonfatal_assertions();
    }
    add("/state/restart-keeps-table", test_restart_keeps_table);
    add("/state/stop-after-answer", test_stop_after_answer);
    add("/state/kill-storm", test_kill_storm);
    add("/state/kill-mid-unplug", test_kill_mid_unplug);
    add("/state/drive-names-survive", test_drive_names_survive);
    add("/state/new-behind-remove", test_new_behind_remove);
    add("/state/bad-files", test_bad_files);
    add("/state/reset-keeps-every-bad-file", test_reset_keeps_every_bad_file);
    add("/state/symlink-written-through", test_symlink_written_through);
    add("/state/unreadable-file-message", test_unreadable_file_message);
    add("/state/full-disk", test_full_disk);
    add("/state/full-disk-virtio-blk", test_full_disk_virtio_blk);
    add("/state/socket-activation", test_socket_activation);
    add("/state/socket-activation-refusals", test_socket_activation_refusals);
    return g_test_run();
}
