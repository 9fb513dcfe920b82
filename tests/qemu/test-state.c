/* test-state.c - the persisted device table (issue #6) across restarts:
 * reconciliation with what QEMU has when a proxy starts on the file an
 * earlier one left, stopped or killed with SIGKILL in the middle of
 * anything. Against a real QEMU without a guest (so SCSI unplugs complete
 * by themselves); every claim is read back from QEMU (qom-list, qom-get,
 * query-named-block-nodes) or from the file. What the file may be, and
 * how the proxy gets it, is test-state-files.c. */
#include "fixture.h"

#include <json-glib/json-glib.h>

#include <glib/gstdio.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>

/* ---- the fixture's proxy, killed ---- */

/* Kills the proxy with SIGKILL; returns its log. */
static char *st_proxy_kill(TestFixture *st)
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
static void st_restart_after_kill(TestFixture *st, int round)
{
    if (round % 3 == 1) {
        TestProxy *again =
            test_proxy_start(st->qemu->qmp, st->dir, (const char *const *)st->opts->pdata);

        g_usleep(1000 * (gulong)g_test_rand_int_range(0, 15));
        kill(again->pid, SIGKILL);
        g_assert_true(test_proxy_wait(again, 10000));
        test_proxy_free(again);
    }
    test_fixture_proxy_start(st);
}

/* ---- 1. a stopped proxy's table comes back ---- */

static void test_restart_keeps_table(void)
{
    const char *const ids[] = { "r0", "r1", "r2", "r3", "r4" };
    TestFixture st;

    test_fixture_start_state(&st, NULL);
    for (guint i = 0; i < G_N_ELEMENTS(ids); i++) {
        g_autofree char *name = g_strdup_printf("%s.img", ids[i]);
        g_autofree char *img = test_make_image(st.dir, name);
        g_autoptr(JsonNode) n =
            i == 3 ? test_qmp_ok(st.c,
                                 "{\"execute\": \"" DM "device-new\", \"arguments\": "
                                 "{\"driver\": \"virtio-scsi\", \"path\": \"%s\", "
                                 "\"id\": \"%s\", \"read-only\": true}}",
                                 img, ids[i])
                   : test_fixture_scsi_new(st.c, img, ids[i]);
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
    g_autoptr(GHashTable) before = test_fixture_managed_devices(st.c);
    g_assert_cmpuint(g_hash_table_size(before), ==, G_N_ELEMENTS(ids));
    test_fixture_assert_file_matches(st.c, st.state);

    /* twice: a proxy started on a table that is already in line changes nothing */
    for (int restart = 0; restart < 2; restart++) {
        test_fixture_proxy_stop(&st);
        g_autoptr(JsonNode) root = test_fixture_load_state(st.state);
        test_fixture_proxy_start(&st);
        g_autoptr(GHashTable) after = test_fixture_managed_devices(st.c);
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
                test_fixture_assert_scsi_node(st.c, now);
            } else {
                test_dm_assert_no_address(now);
                test_qemu_assert_gone(st.c, id);
            }
        }
    }

    /* the addresses QEMU has are taken: the next attach gets the hole */
    g_autofree char *img5 = test_make_image(st.dir, "r5.img");
    g_autofree char *img6 = test_make_image(st.dir, "r6.img");
    g_autoptr(JsonNode) n5 = test_fixture_scsi_new(st.c, img5, "r5");
    g_autoptr(JsonNode) a5 = test_dm(st.c, "device-attach", "r5");
    g_assert_cmpint(test_json_int(a5, "index"), ==, 2);
    test_fixture_assert_scsi_node(st.c, a5);
    g_autoptr(JsonNode) n6 = test_fixture_scsi_new(st.c, img6, "r6");
    g_autoptr(JsonNode) a6 = test_dm(st.c, "device-attach", "r6");
    g_assert_cmpint(test_json_int(a6, "index"), ==, 4);
    test_fixture_assert_scsi_node(st.c, a6);
    /* and the restored counts work as counts */
    g_autoptr(JsonNode) d1 = test_dm(st.c, "device-detach", "r1");
    test_dm_assert_counts(d1, "attached", 1, 1);
    g_autoptr(JsonNode) d1b = test_dm(st.c, "device-detach", "r1");
    test_dm_assert_counts(d1b, "detached", 0, 1);
    test_qemu_assert_gone(st.c, "r1");
    g_autoptr(JsonNode) rm4 = test_dm(st.c, "device-remove", "r4");
    g_assert_cmpint(test_json_int(rm4, "reference-count"), ==, 1);
    test_fixture_assert_file_matches(st.c, st.state);
    test_fixture_stop(&st);
}

/* Stopped (SIGTERM) right after answering an attach: a clean stop leaves
 * the file saying what the client was told, and no temporary file. */
static void test_stop_after_answer(void)
{
    TestFixture st;

    test_fixture_start_state(&st, NULL);
    for (int round = 0; round < 5; round++) {
        g_autofree char *id = g_strdup_printf("t%d", round);
        g_autofree char *name = g_strdup_printf("t%d.img", round);
        g_autofree char *img = test_make_image(st.dir, name);
        g_autoptr(JsonNode) n = test_fixture_scsi_new(st.c, img, id);
        g_autoptr(JsonNode) a = test_dm(st.c, "device-attach", id);

        test_fixture_proxy_stop(&st);
        g_autoptr(GPtrArray) temps = test_fixture_names_in(st.dir, ".state.json");
        g_autoptr(JsonNode) root = test_fixture_load_state(st.state);
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
        test_fixture_proxy_start(&st);
    }
    test_fixture_stop(&st);
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
        GHashTable *managed = test_fixture_managed_devices(c);
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
    g_autoptr(GHashTable) left = test_fixture_managed_devices(c);
    g_assert_cmpuint(g_hash_table_size(left), ==, 0);
    g_autoptr(GHashTable) devices = test_qemu_devices(c);
    g_autoptr(GHashTable) nodes = test_qemu_nodes(c);
    g_assert_cmpuint(g_hash_table_size(devices), ==, 1);
    g_assert_cmpuint(g_hash_table_size(nodes), ==, 0);
}

static void test_kill_storm(void)
{
    TestFixture st;
    guint total_acked = 0, total_sent = 0, cut_short = 0;

    test_fixture_start_state(&st, NULL);
    for (int round = 0; round < STORM_ROUNDS; round++) {
        StormClient sc[STORM_CLIENTS];

        /* each client pipelines its own script on its own devices */
        for (int k = 0; k < STORM_CLIENTS; k++) {
            sc[k].c = test_fixture_client(&st, NULL);
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
            g_autofree char *file = test_fixture_read_file(st.state);
            g_error("round %d:\n%s\nthe killed proxy's log:\n%s\nthe new one's:\n%s\nthe "
                    "file:\n%s",
                    round, fail->str, old_log, log, file);
        }

        /* (d) the next attach gets the lowest address QEMU leaves free */
        g_autofree char *probe_name = g_strdup_printf("probe%d.img", round);
        g_autofree char *probe_img = test_make_image(st.dir, probe_name);
        g_autofree char *probe = g_strdup_printf("probe%d", round);
        g_autoptr(JsonNode) pn = test_fixture_scsi_new(st.c, probe_img, probe);
        g_autoptr(JsonNode) pa = test_dm(st.c, "device-attach", probe);
        g_assert_cmpint(test_json_int(pa, "index"), ==, lowest);
        test_fixture_assert_scsi_node(st.c, pa);

        /* a clean slate for the next round */
        g_autoptr(GHashTable) now = test_fixture_managed_devices(st.c);
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
    g_autoptr(GPtrArray) temps = test_fixture_names_in(st.dir, ".state.json.");
    g_test_message("%u of %u commands answered before the kills; %u scripts cut short; %u "
                   "temporary files left by killed writes",
                   total_acked, total_sent, cut_short, temps->len);
    /* the kills did land in the middle of things */
    g_assert_cmpuint(cut_short, >, 0);
    test_fixture_stop(&st);
}

/* A proxy killed after QEMU took a device_del and took the device out of
 * its tree, but before QEMU reported DEVICE_DELETED (SCSI: tens of ms, a
 * guest: seconds): the file says unplugging, QEMU lacks the device but
 * still holds its node until the device is finalized. */
static void test_kill_mid_unplug(void)
{
    TestFixture st;
    guint hit = 0;

    test_fixture_start_state(&st, NULL);
    g_autofree char *img = test_make_image(st.dir, "u.img");
    g_autoptr(JsonNode) n = test_fixture_scsi_new(st.c, img, "u");
    for (int round = 0; round < 5; round++) {
        g_autoptr(JsonNode) a = test_dm(st.c, "device-attach", "u");
        g_assert_cmpint(test_json_int(a, "index"), ==, 0);
        TestClient *watch = test_fixture_client(&st, NULL);
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
    test_fixture_stop(&st);
}

/* A device-new right behind the device-remove of the last reference (a
 * container restarting on the same disk), pipelined: it makes the device
 * again, as it does when the two are sent one after the other. */
static void test_new_behind_remove(void)
{
    TestFixture st;

    test_fixture_start_state(&st, NULL);
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
    test_fixture_stop(&st);
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
    TestFixture st;

    test_fixture_start_state_full(&st, args, NULL, test_fixture_ports_opts);
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
        test_fixture_proxy_start(&st);
        for (int k = 0; k <= round; k++) {
            g_autofree char *kid = g_strdup_printf("v%d", k);
            g_autofree char *kwant = g_strdup_printf("vd%c", 'a' + k);
            g_autoptr(JsonNode) q = test_dm(st.c, "query-device", kid);

            g_assert_cmpstr(test_json_str(q, "state"), ==, "attached");
            g_assert_cmpstr(test_json_str(q, "drive-name"), ==, kwant);
        }
    }
    test_fixture_stop(&st);
}

int main(int argc, char **argv)
{
    test_fixture_init_isolated(&argc, &argv);
    test_fixture_add_isolated("/state/restart-keeps-table", test_restart_keeps_table);
    test_fixture_add_isolated("/state/stop-after-answer", test_stop_after_answer);
    test_fixture_add_isolated("/state/kill-storm", test_kill_storm);
    test_fixture_add_isolated("/state/kill-mid-unplug", test_kill_mid_unplug);
    test_fixture_add_isolated("/state/drive-names-survive", test_drive_names_survive);
    test_fixture_add_isolated("/state/new-behind-remove", test_new_behind_remove);
    return g_test_run();
}
