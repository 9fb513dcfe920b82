/* test-addresses.c - the addresses the proxy hands out follow what QEMU
 * really has (issue 14), against a real QEMU:
 * - devices plugged through QEMU's second monitor, behind the proxy's
 *   back: a device_add whose chosen address QEMU finds taken is retried,
 *   after learning again, and the client sees one answer;
 * - a long mixed run: four clients naming addresses, the device-manager
 *   API and plain device_adds without addresses, pipelined; at the end
 *   the proxy's view (query-devices) is QEMU's (qom-get of every device),
 *   and every plug that failed failed as QEMU itself would have. */
#include "fixture.h"

#include <glib/gstdio.h>
#include <unistd.h>
#include <string.h>

/* QEMU with scsi0, two root ports, and a second QMP monitor at @second. */
static void start_with_second_monitor(TestFixture *fx, const char *second)
{
    g_autofree char *qmp = g_strdup_printf("unix:%s,server=on,wait=off", second);
    const char *const args[] = { "-device", "virtio-scsi-pci,id=scsi0",
                                 "-device", "pcie-root-port,id=rp1,bus=pcie.0,chassis=1",
                                 "-device", "pcie-root-port,id=rp2,bus=pcie.0,chassis=2",
                                 "-qmp",    qmp,
                                 NULL };

    test_fixture_start_full(fx, args, test_fixture_ports_opts);
}

static JsonNode *entry(TestClient *c, const char *id)
{
    JsonNode *n = test_dm_entry(c, id);

    g_assert_nonnull(n);
    return n;
}

static void test_foreign_plugs(void)
{
    TestFixture fx;
    g_autofree char *dir = g_dir_make_tmp("qmproxy-addr-XXXXXX", NULL);
    g_autofree char *second = g_build_filename(dir, "second.sock", NULL);

    start_with_second_monitor(&fx, second);
    /* another manager plugs through QEMU's other monitor */
    TestClient *other = test_fixture_client_at(second, NULL);
    g_autoptr(JsonNode) n1 = test_qmp_ok(
        other, "{\"execute\": \"blockdev-add\", \"arguments\": {\"driver\": \"null-co\", "
               "\"node-name\": \"f0\"}}");
    g_autoptr(JsonNode) n2 = test_qmp_ok(
        other, "{\"execute\": \"blockdev-add\", \"arguments\": {\"driver\": \"null-co\", "
               "\"node-name\": \"f1\"}}");
    g_autoptr(JsonNode) f1 = test_qmp_ok(
        other,
        "{\"execute\": \"device_add\", \"arguments\": {\"driver\": \"scsi-hd\", \"drive\": "
        "\"f0\", \"bus\": \"scsi0.0\", \"scsi-id\": 0, \"lun\": 0, \"id\": \"foreign-scsi\"}}");
    g_autoptr(JsonNode) f2 = test_qmp_ok(
        other, "{\"execute\": \"device_add\", \"arguments\": {\"driver\": \"virtio-blk-pci\", "
               "\"drive\": \"f1\", \"bus\": \"rp1\", \"addr\": \"0\", \"id\": \"foreign-pci\"}}");

    /* through the proxy, with the address left out: one answer, success */
    g_autoptr(JsonNode) n3 = test_qmp_ok(
        fx.c, "{\"execute\": \"blockdev-add\", \"arguments\": {\"driver\": \"null-co\", "
              "\"node-name\": \"m0\"}}");
    g_autofree char *r1 = test_client_cmd(
        fx.c, "{\"execute\": \"device_add\", \"arguments\": {\"driver\": \"scsi-hd\", \"drive\": "
              "\"m0\", \"bus\": \"scsi0.0\", \"id\": \"mine-scsi\"}, \"id\": 1}");
    g_assert_cmpstr(r1, ==, "{\"return\": {}, \"id\": 1}");
    g_assert_cmpint(test_qom_int(fx.c, "mine-scsi", "scsi-id"), ==, 0);
    g_assert_cmpint(test_qom_int(fx.c, "mine-scsi", "lun"), ==, 1);
    g_autoptr(JsonNode) n4 = test_qmp_ok(
        fx.c, "{\"execute\": \"blockdev-add\", \"arguments\": {\"driver\": \"null-co\", "
              "\"node-name\": \"m1\"}}");
    g_autofree char *r2 = test_client_cmd(
        fx.c, "{\"execute\": \"device_add\", \"arguments\": {\"driver\": \"virtio-blk-pci\", "
              "\"drive\": \"m1\", \"id\": \"mine-pci\"}, \"id\": 2}");
    g_assert_cmpstr(r2, ==, "{\"return\": {}, \"id\": 2}");
    g_autofree char *bus = test_fixture_qom_bus(fx.c, "mine-pci");
    g_assert_cmpstr(bus, ==, "rp2");

    /* the API's pick takes what is now known into account */
    g_autofree char *img = test_make_image(fx.dir, "api.img");
    g_autoptr(JsonNode) made = test_fixture_scsi_new(fx.c, img, "api");
    g_autoptr(JsonNode) att = test_dm(fx.c, "device-attach", "api");
    g_assert_cmpint(test_json_int(att, "lun"), ==, 2);
    test_fixture_assert_scsi_address(fx.c, att);

    /* the proxy's view is QEMU's: the foreign devices with their places,
     * and no two drive names alike */
    g_autoptr(JsonNode) fs = entry(fx.c, "foreign-scsi");
    g_assert_cmpint(test_json_int(fs, "scsi-id"), ==, 0);
    g_assert_cmpint(test_json_int(fs, "lun"), ==, 0);
    g_autoptr(JsonNode) fp = entry(fx.c, "foreign-pci");
    g_assert_cmpstr(test_json_str(fp, "bus"), ==, "rp1");
    g_autoptr(JsonNode) mp = entry(fx.c, "mine-pci");
    g_assert_cmpstr(test_json_str(mp, "drive-name"), !=, test_json_str(fp, "drive-name"));
    g_autofree char *log = test_proxy_log(fx.proxy);
    g_assert_nonnull(strstr(log, "device_add mine-scsi: QEMU says \"lun already used by "
                                 "'foreign-scsi'\"; learning what it has"));
    test_client_free(other);
    test_fixture_stop(&fx);
    test_rm_rf(dir);
}

/* ---- the long mixed run ---- */

#define CLIENTS 4
#define OPERATIONS 500
#define NAMED_RANGE 3 /* named addresses: scsi-id and lun 0..2 */

typedef enum {
    OP_NAMED,  /* device_add with the client's own scsi-id and lun */
    OP_PLAIN,  /* device_add without an address */
    OP_API,    /* device-new + device-attach */
    OP_UNPLUG, /* device_del of a plain device, until DEVICE_DELETED */
    OP_DETACH, /* device-detach + device-remove of an API device */
} Op;

typedef struct {
    TestClient *c;
    GPtrArray *plain;  /* ids of the devices it plugged with device_add */
    GPtrArray *api;    /* ids it attached through the API */
    GPtrArray *events; /* events read meanwhile */
} Client;

typedef struct {
    Op op;
    char *id;
    gboolean want_deleted;
} Sent;

static void sent_clear(Sent *s)
{
    g_free(s->id);
}

/* What one client does this round; sent without waiting. */
static Sent next_op(Client *cl, GRand *rand, guint n, const char *dir)
{
    Sent s = { 0 };
    guint r = g_rand_int_range(rand, 0, 100);

    if (r < 20 && cl->plain->len) {
        s.op = OP_UNPLUG;
    } else if (r < 30 && cl->api->len) {
        s.op = OP_DETACH;
    } else {
        s.op = r < 55 ? OP_NAMED : r < 80 ? OP_PLAIN : OP_API;
    }
    switch (s.op) {
    case OP_NAMED:
    case OP_PLAIN: {
        s.id = g_strdup_printf("d%u", n);
        g_autofree char *node = g_strdup_printf(
            "{\"execute\": \"blockdev-add\", \"arguments\": {\"driver\": \"null-co\", "
            "\"node-name\": \"n%u\"}}",
            n);
        g_autofree char *addr = s.op == OP_NAMED
                                    ? g_strdup_printf(", \"scsi-id\": %d, \"lun\": %d",
                                                      g_rand_int_range(rand, 0, NAMED_RANGE),
                                                      g_rand_int_range(rand, 0, NAMED_RANGE))
                                    : g_strdup("");
        g_autofree char *add = g_strdup_printf(
            "{\"execute\": \"device_add\", \"arguments\": {\"driver\": \"scsi-hd\", \"drive\": "
            "\"n%u\", \"bus\": \"scsi0.0\", \"id\": \"%s\"%s}}",
            n, s.id, addr);
        test_client_send(cl->c, node);
        test_client_send(cl->c, add);
        break;
    }
    case OP_API: {
        s.id = g_strdup_printf("a%u", n);
        g_autofree char *img = g_strdup_printf("%s/a%u.img", dir, n);
        g_assert_true(g_file_set_contents(img, "", 0, NULL));
        g_assert_cmpint(truncate(img, 1 << 20), ==, 0);
        g_autofree char *cmd = g_strdup_printf(
            "{\"execute\": \"" DM "device-new\", \"arguments\": {\"driver\": \"virtio-scsi\", "
            "\"path\": \"%s\", \"id\": \"%s\"}}",
            img, s.id);
        test_client_send(cl->c, cmd);
        test_fixture_dev_send(cl->c, "device-attach", s.id);
        break;
    }
    case OP_UNPLUG: {
        guint i = g_rand_int_range(rand, 0, (gint)cl->plain->len);
        s.id = g_ptr_array_steal_index_fast(cl->plain, i);
        g_autofree char *cmd =
            g_strdup_printf("{\"execute\": \"device_del\", \"arguments\": {\"id\": \"%s\"}}", s.id);
        test_client_send(cl->c, cmd);
        s.want_deleted = TRUE;
        break;
    }
    case OP_DETACH: {
        guint i = g_rand_int_range(rand, 0, (gint)cl->api->len);
        s.id = g_ptr_array_steal_index_fast(cl->api, i);
        test_fixture_dev_send(cl->c, "device-detach", s.id);
        test_fixture_dev_send(cl->c, "device-remove", s.id);
        break;
    }
    }
    return s;
}

static char *reply_of(Client *cl)
{
    return test_client_recv_reply(cl->c, cl->events);
}

/* The answers to what next_op() sent; FALSE for a named plug QEMU
 * refused, for the reason it would give. */
static void settle(Client *cl, Sent *s, guint *refused)
{
    switch (s->op) {
    case OP_NAMED:
    case OP_PLAIN: {
        g_autofree char *node = reply_of(cl);
        g_autofree char *add = reply_of(cl);

        g_assert_cmpstr(node, ==, "{\"return\": {}}");
        if (s->op == OP_NAMED && strstr(add, "\"lun already used by '")) {
            (*refused)++;
            break;
        }
        if (g_strcmp0(add, "{\"return\": {}}") != 0) {
            g_error("device_add %s (%s): %s", s->id, s->op == OP_NAMED ? "named" : "plain", add);
        }
        g_ptr_array_add(cl->plain, g_strdup(s->id));
        break;
    }
    case OP_API: {
        g_autofree char *made = reply_of(cl);
        g_autofree char *att = reply_of(cl);

        if (!g_str_has_prefix(made, "{\"return\": {") || !g_str_has_prefix(att, "{\"return\": {")) {
            g_error("API %s: %s / %s", s->id, made, att);
        }
        g_ptr_array_add(cl->api, g_strdup(s->id));
        break;
    }
    case OP_UNPLUG: {
        g_autofree char *del = reply_of(cl);
        g_autofree char *needle = g_strdup_printf("\"device\": \"%s\"", s->id);

        g_assert_cmpstr(del, ==, "{\"return\": {}}");
        for (;;) {
            gboolean seen = FALSE;

            for (guint i = 0; i < cl->events->len && !seen; i++) {
                if (strstr(g_ptr_array_index(cl->events, i), needle)) {
                    g_ptr_array_remove_index(cl->events, i);
                    seen = TRUE;
                }
            }
            if (seen) {
                break;
            }
            g_autofree char *line = test_client_recv_line(cl->c, 20000);
            g_assert_nonnull(line);
            g_ptr_array_add(cl->events, g_steal_pointer(&line));
        }
        break;
    }
    case OP_DETACH: {
        g_autofree char *det = reply_of(cl);
        g_autofree char *rem = reply_of(cl);

        if (!g_str_has_prefix(det, "{\"return\": {") || !g_str_has_prefix(rem, "{\"return\": {")) {
            g_error("detach %s: %s / %s", s->id, det, rem);
        }
        break;
    }
    }
}

static void test_mixed_run(void)
{
    TestFixture fx;
    g_autoptr(GRand) rand = g_rand_new_with_seed(14);
    Client cl[CLIENTS];
    guint n = 0, refused = 0;

    test_fixture_start_full(&fx, test_fixture_scsi_args, NULL);
    for (guint k = 0; k < CLIENTS; k++) {
        cl[k].c = test_fixture_client(&fx, NULL);
        cl[k].plain = g_ptr_array_new_with_free_func(g_free);
        cl[k].api = g_ptr_array_new_with_free_func(g_free);
        cl[k].events = g_ptr_array_new_with_free_func(g_free);
    }
    while (n < OPERATIONS) {
        Sent s[CLIENTS];

        /* all four on their way at once, then their answers */
        for (guint k = 0; k < CLIENTS; k++) {
            s[k] = next_op(&cl[k], rand, n++, fx.dir);
        }
        for (guint k = 0; k < CLIENTS; k++) {
            settle(&cl[k], &s[k], &refused);
            sent_clear(&s[k]);
        }
    }
    g_test_message("%u operations, %u named plugs refused by QEMU (address taken)", n, refused);

    /* the proxy's view of every SCSI disk is QEMU's */
    g_autoptr(JsonNode) all = test_qmp_ok(fx.c, "{\"execute\": \"" DM "query-devices\"}");
    JsonArray *list = json_node_get_array(all);
    g_autoptr(GHashTable) qemu = test_qemu_devices(fx.c);
    guint scsi = 0;
    for (guint i = 0; i < json_array_get_length(list); i++) {
        JsonNode *d = json_array_get_element(list, i);
        const char *id = test_json_str(d, "id");

        if (g_strcmp0(test_json_str(d, "driver"), "scsi-hd") != 0) {
            continue;
        }
        scsi++;
        g_assert_true(g_hash_table_contains(qemu, id));
        g_assert_true(test_json_has(d, "scsi-id"));
        g_assert_cmpint(test_json_int(d, "scsi-id"), ==, test_qom_int(fx.c, id, "scsi-id"));
        g_assert_cmpint(test_json_int(d, "lun"), ==, test_qom_int(fx.c, id, "lun"));
    }
    /* ... and QEMU has no SCSI disk the proxy does not know */
    GHashTableIter iter;
    const char *id;
    guint qemu_scsi = 0;
    g_hash_table_iter_init(&iter, qemu);
    while (g_hash_table_iter_next(&iter, (gpointer *)&id, NULL)) {
        g_autofree char *type = test_qom_str(fx.c, id, "type");

        qemu_scsi += g_strcmp0(type, "scsi-hd") == 0;
    }
    g_assert_cmpuint(scsi, ==, qemu_scsi);
    g_assert_cmpuint(scsi, >, 0);
    for (guint k = 0; k < CLIENTS; k++) {
        test_client_free(cl[k].c);
        g_ptr_array_unref(cl[k].plain);
        g_ptr_array_unref(cl[k].api);
        g_ptr_array_unref(cl[k].events);
    }
    test_fixture_stop(&fx);
}

int main(int argc, char **argv)
{
    test_fixture_init_isolated(&argc, &argv);
    test_fixture_add_isolated("/addresses/foreign-plugs", test_foreign_plugs);
    test_fixture_add_isolated("/addresses/mixed-run", test_mixed_run);
    return g_test_run();
}
