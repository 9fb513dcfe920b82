/* test-devices.c - the device manager filling in plain device_add, against
 * a real QEMU with a virtio-scsi controller: the lowest free SCSI address,
 * reuse after DEVICE_DELETED, addresses clients name, failed plugs. Every
 * address is read back from QEMU with qom-get. */
#include "harness.h"

#include <json-glib/json-glib.h>

#include <stdio.h>
#include <string.h>

static const char *const scsi_args[] = { "-device", "virtio-scsi-pci,id=scsi0", "-device",
                                         "pcie-root-port,id=rp1,bus=pcie.0,chassis=1", NULL };

typedef struct {
    TestQemu *qemu;
    TestProxy *proxy;
    TestClient *c;
} Fx;

static void fx_start_full(Fx *fx, const char *const *qemu_args, const char *const *opts)
{
    fx->qemu = test_qemu_start(qemu_args);
    fx->proxy = test_proxy_start(fx->qemu->qmp, fx->qemu->dir, opts);
    fx->c = test_client_connect(fx->proxy->listen);
    g_free(test_client_handshake(fx->c, NULL));
    for (int i = 0; i < 4; i++) {
        g_autofree char *cmd = g_strdup_printf(
            "{\"execute\": \"blockdev-add\", \"arguments\": {\"driver\": \"null-co\", "
            "\"node-name\": \"d%d\"}}",
            i);
        g_autofree char *r = test_client_cmd(fx->c, cmd);
        g_assert_cmpstr(r, ==, "{\"return\": {}}");
    }
}

static void fx_start_with(Fx *fx, const char *const *opts)
{
    fx_start_full(fx, scsi_args, opts);
}

static void fx_start(Fx *fx)
{
    fx_start_with(fx, NULL);
}

static void fx_stop(Fx *fx)
{
    test_client_free(fx->c);
    test_proxy_free(fx->proxy);
    test_qemu_free(fx->qemu);
}

static char *plug(Fx *fx, const char *id, const char *drive, const char *extra)
{
    g_autofree char *cmd = g_strdup_printf(
        "{\"execute\": \"device_add\", \"arguments\": {\"driver\": \"scsi-hd\", \"drive\": "
        "\"%s\", \"bus\": \"scsi0.0\", \"id\": \"%s\"%s}, \"id\": \"plug-%s\"}",
        drive, id, extra ? extra : "", id);

    return test_client_cmd(fx->c, cmd);
}

static void plug_ok(Fx *fx, const char *id, const char *drive)
{
    g_autofree char *r = plug(fx, id, drive, NULL);
    g_autofree char *want = g_strdup_printf("{\"return\": {}, \"id\": \"plug-%s\"}", id);

    /* the reply is QEMU's, with the client's id: nothing shows the rewrite */
    g_assert_cmpstr(r, ==, want);
}

/* QEMU's answer to qom-get of a property of device @id. */
static char *qom_get(Fx *fx, const char *id, const char *property)
{
    g_autofree char *cmd = g_strdup_printf(
        "{\"execute\": \"qom-get\", \"arguments\": {\"path\": \"/machine/peripheral/%s\", "
        "\"property\": \"%s\"}}",
        id, property);

    return test_client_cmd(fx->c, cmd);
}

static int qom_get_int(Fx *fx, const char *id, const char *property)
{
    g_autofree char *r = qom_get(fx, id, property);
    int value = -1;

    g_assert_cmpint(sscanf(r, "{\"return\": %d}", &value), ==, 1);
    return value;
}

/* scsi-id and lun as QEMU has them, "id:lun". */
static char *address(Fx *fx, const char *id)
{
    return g_strdup_printf("%d:%d", qom_get_int(fx, id, "scsi-id"), qom_get_int(fx, id, "lun"));
}

static void unplug(Fx *fx, const char *id)
{
    test_client_unplug(fx->c, id);
}

static void check_address(Fx *fx, const char *id, const char *want)
{
    g_autofree char *got = address(fx, id);

    g_assert_cmpstr(got, ==, want);
}

static void test_lowest_free_and_reuse(void)
{
    Fx fx;

    fx_start(&fx);
    plug_ok(&fx, "sd0", "d0");
    plug_ok(&fx, "sd1", "d1");
    plug_ok(&fx, "sd2", "d2");
    check_address(&fx, "sd0", "0:0");
    check_address(&fx, "sd1", "0:1");
    check_address(&fx, "sd2", "0:2");
    /* the middle one goes; its address goes to the next disk */
    unplug(&fx, "sd1");
    plug_ok(&fx, "sd3", "d1");
    check_address(&fx, "sd3", "0:1");
    plug_ok(&fx, "sd4", "d3");
    check_address(&fx, "sd4", "0:3");
    fx_stop(&fx);
}

static void test_cycles_stay_low(void)
{
    Fx fx;

    fx_start(&fx);
    plug_ok(&fx, "keep", "d0");
    for (int i = 0; i < 300; i++) {
        g_autofree char *id = g_strdup_printf("c%d", i);

        plug_ok(&fx, id, "d1");
        if (i % 50 == 0 || i == 299) {
            check_address(&fx, id, "0:1");
        }
        unplug(&fx, id);
    }
    fx_stop(&fx);
}

static void test_named_address_reserved(void)
{
    Fx fx;

    fx_start(&fx);
    g_autofree char *r = plug(&fx, "mine", "d0", ", \"scsi-id\": 0, \"lun\": 0");
    g_assert_cmpstr(r, ==, "{\"return\": {}, \"id\": \"plug-mine\"}");
    /* the proxy never hands out an address a client took */
    plug_ok(&fx, "auto", "d1");
    check_address(&fx, "auto", "0:1");
    /* one already taken gets QEMU's own answer */
    g_autofree char *dup = plug(&fx, "dup", "d2", ", \"scsi-id\": 0, \"lun\": 1");
    g_assert_true(g_str_has_prefix(dup, "{\"id\": \"plug-dup\", \"error\": "));
    plug_ok(&fx, "next", "d2");
    check_address(&fx, "next", "0:2");
    fx_stop(&fx);
}

static void test_failed_add_frees(void)
{
    Fx fx;

    fx_start(&fx);
    g_autofree char *r = plug(&fx, "bad", "no-such-node", NULL);
    g_assert_true(g_str_has_prefix(r, "{\"id\": \"plug-bad\", \"error\": "));
    plug_ok(&fx, "good", "d0");
    check_address(&fx, "good", "0:0");
    fx_stop(&fx);
}

static void test_unplug_then_blockdev_del(void)
{
    Fx fx;
    g_autoptr(GPtrArray) events = g_ptr_array_new_with_free_func(g_free);

    fx_start(&fx);
    plug_ok(&fx, "sd0", "d0");
    /* the naive sequence, pipelined: straight to QEMU the blockdev-del
     * fails with "Node d0 is in use", because QEMU answers device_del
     * before the device is gone; the same node name is then reused */
    test_client_send(fx.c, "{\"execute\": \"device_del\", \"arguments\": {\"id\": \"sd0\"}, "
                           "\"id\": 1}"
                           "{\"execute\": \"blockdev-del\", \"arguments\": {\"node-name\": "
                           "\"d0\"}, \"id\": 2}"
                           "{\"execute\": \"blockdev-add\", \"arguments\": {\"driver\": "
                           "\"null-co\", \"node-name\": \"d0\"}, \"id\": 3}");
    g_autofree char *r1 = test_client_recv_reply(fx.c, events);
    g_autofree char *r2 = test_client_recv_reply(fx.c, events);
    g_autofree char *r3 = test_client_recv_reply(fx.c, events);
    g_assert_cmpstr(r1, ==, "{\"return\": {}, \"id\": 1}");
    g_assert_cmpstr(r2, ==, "{\"return\": {}, \"id\": 2}");
    g_assert_cmpstr(r3, ==, "{\"return\": {}, \"id\": 3}");
    /* the removal went through once the device was gone */
    g_assert_cmpuint(events->len, ==, 1);
    g_assert_nonnull(strstr(g_ptr_array_index(events, 0), "\"device\": \"sd0\""));
    fx_stop(&fx);
}

static void test_unplug_timeout(void)
{
    const char *const opts[] = { "--unplug-timeout", "1", NULL };
    Fx fx;

    fx_start_with(&fx, opts);
    /* PCI unplug needs a guest to acknowledge it; with none, QEMU never
     * sends DEVICE_DELETED: after the timeout the removal goes as is */
    g_autofree char *r = test_client_cmd(
        fx.c, "{\"execute\": \"device_add\", \"arguments\": {\"driver\": \"virtio-blk-pci\", "
              "\"drive\": \"d0\", \"bus\": \"rp1\", \"id\": \"vd0\"}}");
    g_assert_cmpstr(r, ==, "{\"return\": {}}");
    g_autofree char *del =
        test_client_cmd(fx.c, "{\"execute\": \"device_del\", \"arguments\": {\"id\": \"vd0\"}}");
    g_assert_cmpstr(del, ==, "{\"return\": {}}");
    /* a second device_del is refused while the first goes on: the wait
     * for DEVICE_DELETED must still hold */
    g_free(test_client_cmd(fx.c, "{\"execute\": \"device_del\", \"arguments\": {\"id\": "
                                 "\"vd0\"}}"));
    g_autofree char *bd = test_client_cmd(
        fx.c, "{\"execute\": \"blockdev-del\", \"arguments\": {\"node-name\": \"d0\"}}");
    g_assert_cmpstr(bd, ==,
                    "{\"error\": {\"class\": \"GenericError\", \"desc\": \"Node d0 is in use\"}}");
    g_autofree char *log = test_proxy_log(fx.proxy);
    g_assert_nonnull(strstr(log, "blockdev-del waited 1 s for DEVICE_DELETED of vd0"));
    /* other back ends are not held */
    g_autofree char *other = test_client_cmd(
        fx.c, "{\"execute\": \"blockdev-del\", \"arguments\": {\"node-name\": \"d1\"}}");
    g_assert_cmpstr(other, ==, "{\"return\": {}}");
    fx_stop(&fx);
}

static void test_learns_existing_disks(void)
{
    /* a QEMU that has disks before the proxy comes */
    const char *const args[] = {
        "-device",   "virtio-scsi-pci,id=scsi0",
        "-blockdev", "null-co,node-name=pre-a",
        "-device",   "scsi-hd,drive=pre-a,bus=scsi0.0,scsi-id=0,lun=0,id=old-a",
        "-blockdev", "null-co,node-name=pre-b",
        "-device",   "scsi-hd,drive=pre-b,bus=scsi0.0,scsi-id=0,lun=2,id=old-b",
        NULL,
    };
    g_autoptr(GPtrArray) events = g_ptr_array_new_with_free_func(g_free);
    Fx fx;

    fx_start_full(&fx, args, NULL);
    g_autofree char *log = test_proxy_log(fx.proxy);
    g_assert_nonnull(strstr(log, "which has 3 device(s)"));
    /* the free addresses are the ones between and after */
    plug_ok(&fx, "new1", "d0");
    check_address(&fx, "new1", "0:1");
    plug_ok(&fx, "new2", "d1");
    check_address(&fx, "new2", "0:3");
    /* and what it learnt orders the unplug of a disk it did not plug */
    test_client_send(fx.c, "{\"execute\": \"device_del\", \"arguments\": {\"id\": \"old-a\"}}"
                           "{\"execute\": \"blockdev-del\", \"arguments\": {\"node-name\": "
                           "\"pre-a\"}}");
    g_autofree char *r1 = test_client_recv_reply(fx.c, events);
    g_autofree char *r2 = test_client_recv_reply(fx.c, events);
    g_assert_cmpstr(r1, ==, "{\"return\": {}}");
    g_assert_cmpstr(r2, ==, "{\"return\": {}}");
    /* old-a's address is free again once QEMU said it is gone */
    plug_ok(&fx, "new3", "d2");
    check_address(&fx, "new3", "0:0");
    fx_stop(&fx);
}

static const char *const pci_args[] = {
    "-device",   "pcie-pci-bridge,id=pb0,bus=pcie.0",
    "-device",   "pci-bridge,id=br0,bus=pb0,chassis_nr=1",
    "-device",   "pcie-root-port,id=rp1,bus=pcie.0,chassis=2",
    "-device",   "pcie-root-port,id=rp2,bus=pcie.0,chassis=3",
    "-blockdev", "null-co,node-name=pre",
    "-device",   "virtio-blk-pci,drive=pre,bus=br0,addr=0x2,id=old",
    NULL,
};

/* Where QEMU put a PCI device: "bus:slot". */
static char *pci_place(Fx *fx, const char *id)
{
    g_autofree char *bus = qom_get(fx, id, "parent_bus");
    char *end = strrchr(bus, '/');

    g_assert_nonnull(end);
    *strrchr(end, '"') = 0;
    return g_strdup_printf("%s:%d", end + 1, qom_get_int(fx, id, "addr") >> 3);
}

static char *pci_plug(Fx *fx, const char *id, const char *drive, const char *extra)
{
    g_autofree char *cmd = g_strdup_printf(
        "{\"execute\": \"device_add\", \"arguments\": {\"driver\": \"virtio-blk-pci\", "
        "\"drive\": \"%s\", \"id\": \"%s\"%s}}",
        drive, id, extra ? extra : "");

    return test_client_cmd(fx->c, cmd);
}

static void check_place(Fx *fx, const char *id, const char *want)
{
    g_autofree char *got = pci_place(fx, id);

    g_assert_cmpstr(got, ==, want);
}

static void test_pci_hotplug_buses(void)
{
    const char *const opts[] = { "--hotplug-bus", "rp1", "--hotplug-bus", "rp2", "--hotplug-bus",
                                 "br0",           NULL };
    Fx fx;

    fx_start_full(&fx, pci_args, opts);
    /* the root ports' one slot each, then the bridge's lowest free slots
     * (slot 2 is taken by a device QEMU had before) */
    for (int i = 0; i < 4; i++) {
        g_autofree char *id = g_strdup_printf("v%d", i);
        g_autofree char *drive = g_strdup_printf("d%d", i);
        g_autofree char *r = pci_plug(&fx, id, drive, NULL);

        g_assert_cmpstr(r, ==, "{\"return\": {}}");
    }
    check_place(&fx, "v0", "rp1:0");
    check_place(&fx, "v1", "rp2:0");
    check_place(&fx, "v2", "br0:1");
    check_place(&fx, "v3", "br0:3");
    fx_stop(&fx);
}

static void test_pci_bus_given_and_failure(void)
{
    const char *const opts[] = { "--hotplug-bus", "br0", NULL };
    Fx fx;

    fx_start_full(&fx, pci_args, opts);
    /* a plug that fails gives its slot back at once */
    g_autofree char *bad = pci_plug(&fx, "bad", "no-such-node", NULL);
    g_assert_true(g_str_has_prefix(bad, "{\"error\": "));
    /* the client names the bus: only the slot is filled in */
    g_autofree char *r1 = pci_plug(&fx, "a", "d0", ", \"bus\": \"br0\"");
    g_assert_cmpstr(r1, ==, "{\"return\": {}}");
    check_place(&fx, "a", "br0:1");
    /* a slot the client names is never handed out */
    g_autofree char *r2 = pci_plug(&fx, "b", "d1", ", \"bus\": \"br0\", \"addr\": \"3\"");
    g_assert_cmpstr(r2, ==, "{\"return\": {}}");
    g_autofree char *r3 = pci_plug(&fx, "c", "d2", NULL);
    g_assert_cmpstr(r3, ==, "{\"return\": {}}");
    check_place(&fx, "c", "br0:4");
    fx_stop(&fx);
}

static JsonNode *parse_json(const char *text)
{
    g_autoptr(JsonParser) parser = json_parser_new();
    g_autoptr(GError) error = NULL;

    json_parser_load_from_data(parser, text, -1, &error);
    g_assert_no_error(error);
    return json_node_copy(json_parser_get_root(parser));
}

/* The query-devices entry for @id, or NULL. */
static JsonObject *device_entry(JsonNode *reply, const char *id)
{
    JsonArray *list = json_object_get_array_member(json_node_get_object(reply), "return");

    for (guint i = 0; i < json_array_get_length(list); i++) {
        JsonObject *o = json_array_get_object_element(list, i);

        if (g_strcmp0(json_object_get_string_member(o, "id"), id) == 0) {
            return o;
        }
    }
    return NULL;
}

static void test_pci_odd_arguments(void)
{
    const char *const opts[] = { "--hotplug-bus", "rp1", NULL };
    Fx fx;

    fx_start_full(&fx, pci_args, opts);
    /* QEMU takes a numeric addr; the proxy must leave it alone, not add a
     * second addr (it once died on an assertion here) */
    g_autofree char *r1 = test_client_cmd(
        fx.c, "{\"execute\": \"device_add\", \"arguments\": {\"driver\": \"virtio-net-pci\", "
              "\"id\": \"n1\", \"bus\": \"rp1\", \"addr\": 0}}");
    g_assert_cmpstr(r1, ==, "{\"return\": {}}");
    g_autofree char *r2 = test_client_cmd(
        fx.c, "{\"execute\": \"device_add\", \"arguments\": {\"driver\": \"virtio-net-pci\", "
              "\"id\": \"n2\", \"addr\": 8}}");
    g_assert_true(g_str_has_prefix(r2, "{\"error\": "));
    g_autofree char *r3 = test_client_cmd(
        fx.c, "{\"execute\": \"device_add\", \"arguments\": {\"driver\": \"virtio-net-pci\", "
              "\"id\": \"n3\", \"bus\": 7}}");
    g_assert_true(g_str_has_prefix(r3, "{\"error\": "));
    /* still serving */
    g_autofree char *r4 = test_client_cmd(fx.c, "{\"execute\": \"query-name\"}");
    g_assert_cmpstr(r4, ==, "{\"return\": {}}");
    fx_stop(&fx);
}

static void test_pci_bus_without_hotplug_buses(void)
{
    Fx fx;

    /* no --hotplug-bus: a bus the client names still gets its lowest
     * free slot (br0's slot 2 is taken by a device QEMU had before) */
    fx_start_full(&fx, pci_args, NULL);
    g_autofree char *r1 = pci_plug(&fx, "a", "d0", ", \"bus\": \"br0\"");
    g_autofree char *r2 = pci_plug(&fx, "b", "d1", ", \"bus\": \"br0\"");
    g_assert_cmpstr(r1, ==, "{\"return\": {}}");
    g_assert_cmpstr(r2, ==, "{\"return\": {}}");
    check_place(&fx, "a", "br0:1");
    check_place(&fx, "b", "br0:3");
    fx_stop(&fx);
}

static void test_query_devices(void)
{
    const char *const opts[] = { "--hotplug-bus", "rp1", NULL };
    Fx fx;

    fx_start_with(&fx, opts);
    plug_ok(&fx, "sd0", "d0");
    g_autofree char *r = pci_plug(&fx, "v0", "d1", NULL);
    g_assert_cmpstr(r, ==, "{\"return\": {}}");
    g_autofree char *q = test_client_cmd(fx.c, "{\"execute\": \"__org.qmproxy_query-devices\"}");
    g_autoptr(JsonNode) reply = parse_json(q);

    JsonObject *sd0 = device_entry(reply, "sd0");
    g_assert_nonnull(sd0);
    g_assert_cmpstr(json_object_get_string_member(sd0, "driver"), ==, "scsi-hd");
    g_assert_cmpstr(json_object_get_string_member(sd0, "bus"), ==, "scsi0.0");
    g_assert_cmpint(json_object_get_int_member(sd0, "scsi-id"), ==, 0);
    g_assert_cmpint(json_object_get_int_member(sd0, "lun"), ==, 0);
    g_assert_cmpstr(json_object_get_string_member(sd0, "node-name"), ==, "d0");
    g_assert_cmpstr(json_object_get_string_member(sd0, "state"), ==, "attached");
    JsonObject *v0 = device_entry(reply, "v0");
    g_assert_nonnull(v0);
    g_assert_cmpstr(json_object_get_string_member(v0, "bus"), ==, "rp1");
    g_assert_cmpint(json_object_get_int_member(v0, "pci-slot"), ==, 0);
    g_assert_cmpstr(json_object_get_string_member(v0, "drive-name"), ==, "vda");
    /* the controller and root port QEMU was started with are known too */
    JsonObject *ctrl = device_entry(reply, "scsi0");
    g_assert_nonnull(ctrl);
    g_assert_cmpstr(json_object_get_string_member(ctrl, "driver"), ==, "virtio-scsi-pci");

    /* gone once QEMU says so */
    unplug(&fx, "sd0");
    g_autofree char *q2 = test_client_cmd(fx.c, "{\"execute\": \"__org.qmproxy_query-devices\"}");
    g_autoptr(JsonNode) reply2 = parse_json(q2);
    g_assert_null(device_entry(reply2, "sd0"));

    /* arguments are checked against schema/qmproxy.json, as QEMU would */
    g_autofree char *bad = test_client_cmd(
        fx.c,
        "{\"execute\": \"__org.qmproxy_query-devices\", \"arguments\": {\"x\": 1}, \"id\": 5}");
    g_assert_cmpstr(
        bad, ==,
        "{\"id\": 5, \"error\": {\"class\": \"GenericError\", \"desc\": \"Parameter 'x' is "
        "unexpected\"}}");
    fx_stop(&fx);
}

static void test_introspection(void)
{
    Fx fx;

    fx_start(&fx);
    g_autofree char *cmds = test_client_cmd(fx.c, "{\"execute\": \"query-commands\"}");
    g_assert_nonnull(strstr(cmds, "{\"name\": \"query-status\"}"));
    g_assert_nonnull(strstr(cmds, "{\"name\": \"__org.qmproxy_query-devices\"}"));
    g_autoptr(JsonNode) cmds_json = parse_json(cmds);

    g_autofree char *schema =
        test_client_cmd(fx.c, "{\"execute\": \"query-qmp-schema\", \"id\": 9}");
    g_autoptr(JsonNode) root = parse_json(schema);
    JsonObject *top = json_node_get_object(root);
    g_assert_cmpint(json_object_get_int_member(top, "id"), ==, 9);
    JsonArray *infos = json_object_get_array_member(top, "return");
    g_autoptr(GHashTable) by_name = g_hash_table_new(g_str_hash, g_str_equal);
    for (guint i = 0; i < json_array_get_length(infos); i++) {
        JsonObject *o = json_array_get_object_element(infos, i);

        g_hash_table_insert(by_name, (gpointer)json_object_get_string_member(o, "name"), o);
    }
    /* QEMU's own entries are all still there */
    g_assert_nonnull(g_hash_table_lookup(by_name, "query-status"));
    JsonObject *cmd = g_hash_table_lookup(by_name, "__org.qmproxy_query-devices");
    g_assert_nonnull(cmd);
    g_assert_cmpstr(json_object_get_string_member(cmd, "meta-type"), ==, "command");
    /* every type it names is declared, down to builtins QEMU declares */
    const char *ret = json_object_get_string_member(cmd, "ret-type");
    g_assert_cmpstr(ret, ==, "[__org.qmproxy_DeviceInfo]");
    JsonObject *array = g_hash_table_lookup(by_name, ret);
    g_assert_nonnull(array);
    JsonObject *obj =
        g_hash_table_lookup(by_name, json_object_get_string_member(array, "element-type"));
    g_assert_nonnull(obj);
    JsonArray *members = json_object_get_array_member(obj, "members");
    for (guint i = 0; i < json_array_get_length(members); i++) {
        const char *type =
            json_object_get_string_member(json_array_get_object_element(members, i), "type");
        g_assert_nonnull(g_hash_table_lookup(by_name, type));
    }
    g_assert_nonnull(g_hash_table_lookup(by_name, json_object_get_string_member(cmd, "arg-type")));
    fx_stop(&fx);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    test_require_qemu();
    g_test_add_func("/devices/scsi/lowest-free-and-reuse", test_lowest_free_and_reuse);
    g_test_add_func("/devices/scsi/cycles-stay-low", test_cycles_stay_low);
    g_test_add_func("/devices/scsi/named-address-reserved", test_named_address_reserved);
    g_test_add_func("/devices/scsi/failed-add-frees", test_failed_add_frees);
    g_test_add_func("/devices/unplug/then-blockdev-del", test_unplug_then_blockdev_del);
    g_test_add_func("/devices/unplug/timeout", test_unplug_timeout);
    g_test_add_func("/devices/learns-existing-disks", test_learns_existing_disks);
    g_test_add_func("/devices/pci/hotplug-buses", test_pci_hotplug_buses);
    g_test_add_func("/devices/pci/bus-given-and-failure", test_pci_bus_given_and_failure);
    g_test_add_func("/devices/query-devices", test_query_devices);
    g_test_add_func("/devices/pci/odd-arguments", test_pci_odd_arguments);
    g_test_add_func("/devices/pci/bus-without-hotplug-buses", test_pci_bus_without_hotplug_buses);
    g_test_add_func("/devices/introspection", test_introspection);
    return g_test_run();
}
