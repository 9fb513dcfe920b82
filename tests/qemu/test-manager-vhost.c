/* test-manager-vhost.c - the device manager's vhost-user kinds other than
 * blk (issue 16), against a real QEMU with shared guest memory:
 * - vhost-user-fs with Debian's virtiofsd (/usr/lib/qemu/virtiofsd);
 * - vhost-user-net with DPDK's dpdk-testpmd (Debian's dpdk-dev), when it
 *   is installed;
 * - vhost-user-scsi with tests/lib/vhost-user-stub.py: Debian 12 ships no
 *   vhost-user-scsi back end.
 * Attach, what QEMU and query-device say, one device per socket,
 * duplicates and bad input refused, a back end gone before the attach,
 * a failed step undone, and kill -9 in the middle of an attach with the
 * state file: reconciled at restart, nothing left in QEMU. Without a
 * guest QEMU cannot finish a PCI unplug: detach and re-attach are in
 * test-guest. */
#include "backends.h"
#include "fixture.h"

#include <signal.h>
#include <string.h>

/* QEMU with memory a vhost-user back end can map, five root ports (one
 * for each device of the kill test);
 * virtio-net without MSI-X: under TCG, QEMU 7.2 crashes when a
 * vhost-user NIC's guest driver starts with it. */
static const char *const vhost_args[] = {
    "-m",      "256",
    "-object", "memory-backend-memfd,id=mem,size=256M,share=on",
    "-numa",   "node,memdev=mem",
    "-device", "pcie-root-port,id=rp1,bus=pcie.0,chassis=1",
    "-device", "pcie-root-port,id=rp2,bus=pcie.0,chassis=2",
    "-device", "pcie-root-port,id=rp3,bus=pcie.0,chassis=3",
    "-device", "pcie-root-port,id=rp4,bus=pcie.0,chassis=4",
    "-device", "pcie-root-port,id=rp5,bus=pcie.0,chassis=5",
    "-global", "virtio-net-pci.vectors=0",
    NULL,
};
static const char *const vhost_opts[] = { "--hotplug-bus",
                                          "rp1",
                                          "--hotplug-bus",
                                          "rp2",
                                          "--hotplug-bus",
                                          "rp3",
                                          "--hotplug-bus",
                                          "rp4",
                                          "--hotplug-bus",
                                          "rp5",
                                          "--unplug-timeout",
                                          "1",
                                          NULL };

static TestBackend *virtiofsd(const char *dir, const char *name)
{
    g_autofree char *socket = g_build_filename(dir, name, NULL);
    g_autofree char *share = g_build_filename(dir, "share", NULL);

    return test_backend_virtiofsd(socket, share);
}

static TestBackend *stub(const char *dir, const char *name, const char *kind)
{
    g_autofree char *socket = g_build_filename(dir, name, NULL);

    return test_backend_stub(socket, kind);
}

static char *dev_new(TestClient *c, const char *driver, const char *path, const char *more)
{
    g_autofree char *quoted = g_strescape(path, NULL);

    return g_strdup_printf("{\"execute\": \"" DM
                           "device-new\", \"arguments\": {\"driver\": \"%s\", "
                           "\"path\": \"%s\"%s}}",
                           driver, quoted, more);
}

static JsonNode *new_ok(TestClient *c, const char *driver, const char *path, const char *more)
{
    g_autofree char *cmd = dev_new(c, driver, path, more);

    return test_qmp_ok(c, "%s", cmd);
}

static char *new_fails(TestClient *c, const char *driver, const char *path, const char *more)
{
    g_autofree char *cmd = dev_new(c, driver, path, more);

    return test_qmp_fails(c, "%s", cmd);
}

static gboolean qemu_has_chardev(TestClient *c, const char *label)
{
    g_autoptr(JsonNode) list = test_qmp_ok(c, "{\"execute\": \"query-chardev\"}");
    JsonArray *a = json_node_get_array(list);

    for (guint i = 0; i < json_array_get_length(a); i++) {
        if (!g_strcmp0(json_object_get_string_member(json_array_get_object_element(a, i), "label"),
                       label)) {
            return TRUE;
        }
    }
    return FALSE;
}

/* QEMU 7.2 has no query-netdev: HMP's "info network" lists them. */
static gboolean qemu_has_netdev(TestClient *c, const char *id)
{
    g_autoptr(JsonNode) text =
        test_qmp_ok(c, "{\"execute\": \"human-monitor-command\", \"arguments\": {\"command-line\": "
                       "\"info network\"}}");
    g_autofree char *needle = g_strdup_printf(" %s: ", id);

    return strstr(json_node_get_string(text), needle) != NULL;
}

static void assert_nothing_left(TestClient *c, const char *id)
{
    g_autofree char *chardev = g_strconcat("char-", id, NULL);
    g_autofree char *netdev = g_strconcat("net-", id, NULL);

    g_assert_false(test_qemu_has_device(c, id));
    g_assert_false(qemu_has_chardev(c, chardev));
    g_assert_false(qemu_has_netdev(c, netdev));
}

/* A share on @path, which nothing serves: device-new takes it, the attach
 * fails at chardev-add with QEMU's @words, and QEMU keeps nothing. */
static void attach_fails_at_chardev(TestClient *c, const char *path, const char *id,
                                    const char *words)
{
    g_autofree char *more = g_strdup_printf(", \"tag\": \"%s\", \"id\": \"%s\"", id, id);
    g_autoptr(JsonNode) made = new_ok(c, "vhost-user-fs", path, more);
    g_autofree char *err = test_dm_fails(c, "device-attach", id);
    g_autofree char *step = g_strdup_printf("device-attach %s: chardev-add failed: ", id);

    g_assert_nonnull(strstr(err, step));
    g_assert_nonnull(strstr(err, words));
    assert_nothing_left(c, id);
}

static void test_fs(void)
{
    TestFixture fx;

    if (!g_file_test(TEST_VIRTIOFSD, G_FILE_TEST_IS_EXECUTABLE)) {
        test_fixture_skip(TEST_VIRTIOFSD " is not installed (qemu-system-common)");
        return;
    }
    test_fixture_start_full(&fx, vhost_args, vhost_opts);
    TestBackend *fsd = virtiofsd(fx.dir, "vfs.sock");

    g_autoptr(JsonNode) made =
        new_ok(fx.c, "vhost-user-fs", fsd->socket,
               ", \"tag\": \"shared\", \"queue-size\": 256, \"id\": \"fs0\"");
    g_assert_cmpstr(test_json_str(made, "tag"), ==, "shared");
    /* one device per socket */
    g_autoptr(JsonNode) again = new_ok(fx.c, "vhost-user-fs", fsd->socket, ", \"tag\": \"shared\"");
    g_assert_cmpstr(test_json_str(again, "id"), ==, "fs0");
    g_assert_cmpint(test_json_int(again, "reference-count"), ==, 2);
    /* two devices may not share a tag */
    TestBackend *other = virtiofsd(fx.dir, "other.sock");
    g_autofree char *dup = new_fails(fx.c, "vhost-user-fs", other->socket, ", \"tag\": \"shared\"");
    g_assert_nonnull(strstr(dup, "Parameter 'tag': device 'fs0' has tag 'shared' already"));

    g_autoptr(JsonNode) att = test_dm(fx.c, "device-attach", "fs0");
    g_assert_cmpstr(test_json_str(att, "state"), ==, "attached");
    g_assert_cmpstr(test_json_str(att, "chardev"), ==, "char-fs0");
    g_assert_cmpstr(test_json_str(att, "bus"), ==, "rp1");
    g_assert_nonnull(test_json_str(att, "pci-path"));
    g_autofree char *tag = test_qom_str(fx.c, "fs0", "tag");
    g_assert_cmpstr(tag, ==, "shared");
    g_autofree char *chardev = test_qom_str(fx.c, "fs0", "chardev");
    g_assert_cmpstr(chardev, ==, "char-fs0");
    g_assert_cmpint(test_qom_int(fx.c, "fs0", "queue-size"), ==, 256);

    /* bad input: one clear error, nothing sent to QEMU */
    g_autofree char *e1 =
        new_fails(fx.c, "vhost-user-fs", other->socket, ", \"tag\": \"x\", \"queue-size\": 0");
    g_assert_nonnull(strstr(e1, "Parameter 'queue-size' expects a number from 1 to 65535"));
    g_autofree char *e2 = new_fails(fx.c, "vhost-user-fs", other->socket,
                                    ", \"tag\": \"0123456789012345678901234567890123456\"");
    g_assert_nonnull(strstr(e2, "Parameter 'tag' expects"));
    g_autofree char *e3 = new_fails(fx.c, "vhost-user-fs", other->socket, "");
    g_assert_nonnull(strstr(e3, "Parameter 'tag' expects"));
    g_autofree char *e4 = new_fails(fx.c, "vhost-user-blk", other->socket, ", \"tag\": \"x\"");
    g_assert_nonnull(strstr(e4, "Parameter 'tag' is only for vhost-user-fs"));

    /* the back end gone before the attach: chardev-add fails, nothing left */
    g_autoptr(JsonNode) gone =
        new_ok(fx.c, "vhost-user-fs", other->socket, ", \"tag\": \"gone\", \"id\": \"fs1\"");
    test_backend_kill(other);
    g_autofree char *err = test_dm_fails(fx.c, "device-attach", "fs1");
    g_assert_nonnull(strstr(err, "device-attach fs1: chardev-add failed: Failed to add chardev "
                                 "'char-fs1'"));
    assert_nothing_left(fx.c, "fs1");
    g_autoptr(JsonNode) fs1 = test_dm_entry(fx.c, "fs1");
    g_assert_cmpstr(test_json_str(fs1, "state"), ==, "detached");

    /* a path nobody serves, or a plain file: the back end may start after
     * device-new, so chardev-add says so at the attach */
    g_autofree char *missing = g_build_filename(fx.dir, "nosuch.sock", NULL);
    g_autofree char *img = test_make_image(fx.dir, "plain.img");
    attach_fails_at_chardev(fx.c, missing, "fs2", "No such file or directory");
    attach_fails_at_chardev(fx.c, img, "fs3", "Connection refused");

    test_fixture_stop(&fx);
    test_backend_free(fsd);
    test_backend_free(other);
}

static void test_net(void)
{
    TestFixture fx;

    test_fixture_start_full(&fx, vhost_args, vhost_opts);
    g_autofree char *pmd_socket = g_build_filename(fx.dir, "net0.sock", NULL);
    TestBackend *pmd = test_backend_testpmd(pmd_socket);
    if (!pmd) {
        test_fixture_stop(&fx);
        test_fixture_skip("dpdk-testpmd is not installed (dpdk-dev)");
        return;
    }
    g_autoptr(JsonNode) made = new_ok(fx.c, "vhost-user-net", pmd->socket,
                                      ", \"mac\": \"52:54:00:12:34:56\", \"id\": \"nic0\"");
    g_autoptr(JsonNode) att = test_dm(fx.c, "device-attach", "nic0");
    g_assert_cmpstr(test_json_str(att, "state"), ==, "attached");
    g_assert_cmpstr(test_json_str(att, "netdev"), ==, "net-nic0");
    g_assert_cmpstr(test_json_str(att, "chardev"), ==, "char-nic0");
    g_assert_cmpstr(test_json_str(att, "mac"), ==, "52:54:00:12:34:56");
    g_autofree char *mac = test_qom_str(fx.c, "nic0", "mac");
    g_assert_cmpstr(mac, ==, "52:54:00:12:34:56");
    g_autofree char *netdev = test_qom_str(fx.c, "nic0", "netdev");
    g_assert_cmpstr(netdev, ==, "net-nic0");
    g_assert_true(qemu_has_netdev(fx.c, "net-nic0"));

    /* a MAC is one device's; a malformed one never reaches QEMU */
    TestBackend *second = stub(fx.dir, "net1.sock", "null");
    g_autofree char *dup =
        new_fails(fx.c, "vhost-user-net", second->socket, ", \"mac\": \"52:54:00:12:34:56\"");
    g_assert_nonnull(strstr(dup, "Parameter 'mac': device 'nic0' has MAC 52:54:00:12:34:56"));
    g_autofree char *bad =
        new_fails(fx.c, "vhost-user-net", second->socket, ", \"mac\": \"52:54\"");
    g_assert_nonnull(strstr(bad, "Parameter 'mac' expects a MAC address"));
    g_autofree char *many =
        new_fails(fx.c, "vhost-user-net", second->socket, ", \"queues\": 18446744073709551615");
    g_assert_nonnull(strstr(many, "Parameter 'queues' expects a number from 1 to 65535"));

    /* a failed netdev_add takes the chardev made for it along (the
     * number of queues has an upper bound that is QEMU's to say) */
    g_autoptr(JsonNode) n1 =
        new_ok(fx.c, "vhost-user-net", second->socket, ", \"queues\": 4096, \"id\": \"nic1\"");
    g_autofree char *err = test_dm_fails(fx.c, "device-attach", "nic1");
    g_assert_nonnull(strstr(err, "device-attach nic1: netdev_add failed: "));
    assert_nothing_left(fx.c, "nic1");

    test_fixture_stop(&fx);
    test_backend_free(pmd);
    test_backend_free(second);
}

static void test_scsi(void)
{
    TestFixture fx;

    test_fixture_start_full(&fx, vhost_args, vhost_opts);
    TestBackend *vs = stub(fx.dir, "scsi.sock", "scsi");
    g_autoptr(JsonNode) made = new_ok(fx.c, "vhost-user-scsi", vs->socket, ", \"id\": \"vs0\"");
    g_autoptr(JsonNode) att = test_dm(fx.c, "device-attach", "vs0");

    g_assert_cmpstr(test_json_str(att, "state"), ==, "attached");
    g_assert_cmpstr(test_json_str(att, "driver"), ==, "vhost-user-scsi-pci");
    g_assert_cmpstr(test_json_str(att, "chardev"), ==, "char-vs0");
    g_autofree char *chardev = test_qom_str(fx.c, "vs0", "chardev");
    g_assert_cmpstr(chardev, ==, "char-vs0");
    /* one device per socket */
    g_autoptr(JsonNode) again = new_ok(fx.c, "vhost-user-scsi", vs->socket, "");
    g_assert_cmpstr(test_json_str(again, "id"), ==, "vs0");
    test_fixture_stop(&fx);
    test_backend_free(vs);
}

/* kill -9 at any moment of an attach (chardev-add, netdev_add,
 * device_add, the record): at restart the table and QEMU agree, and what
 * QEMU held for a device it lacks is gone, so that the attach works. */
static void test_killed_mid_attach(void)
{
    TestFixture fx;
    g_autoptr(GPtrArray) backends =
        g_ptr_array_new_with_free_func((GDestroyNotify)test_backend_free);

    test_fixture_start_state_full(&fx, vhost_args, NULL, vhost_opts);
    for (guint round = 0; round < 5; round++) {
        g_autofree char *name = g_strdup_printf("k%u.sock", round);
        g_autofree char *id = g_strdup_printf("k%u", round);
        g_autofree char *more = g_strdup_printf(", \"id\": \"%s\"", id);
        TestBackend *b = stub(fx.dir, name, "null");

        g_ptr_array_add(backends, b);
        g_autoptr(JsonNode) made = new_ok(fx.c, "vhost-user-net", b->socket, more);
        test_fixture_dev_send(fx.c, "device-attach", id);
        g_usleep(round * 1500);
        kill(fx.proxy->pid, SIGKILL);
        g_assert_true(test_proxy_wait(fx.proxy, 10000));
        fx.proxy->exited = TRUE;
        test_proxy_free(fx.proxy);
        fx.proxy = NULL;
        test_client_free(fx.c);
        fx.c = NULL;
        test_fixture_proxy_start(&fx);

        g_autoptr(JsonNode) info = test_dm_entry(fx.c, id);
        const char *state = test_json_str(info, "state");
        g_test_message("round %u: %s after the restart", round, state);
        if (!strcmp(state, "detached")) {
            assert_nothing_left(fx.c, id);
            g_autoptr(JsonNode) att = test_dm(fx.c, "device-attach", id);
            g_assert_cmpstr(test_json_str(att, "state"), ==, "attached");
        } else {
            g_assert_cmpstr(state, ==, "attached");
        }
        g_autofree char *netdev = g_strconcat("net-", id, NULL);
        g_assert_true(test_qemu_has_device(fx.c, id));
        g_assert_true(qemu_has_netdev(fx.c, netdev));
    }
    test_fixture_stop(&fx);
}

int main(int argc, char **argv)
{
    test_fixture_init_isolated(&argc, &argv);
    test_fixture_add_isolated("/vhost/fs", test_fs);
    test_fixture_add_isolated("/vhost/net", test_net);
    test_fixture_add_isolated("/vhost/scsi", test_scsi);
    test_fixture_add_isolated("/vhost/killed-mid-attach", test_killed_mid_attach);
    return g_test_run();
}
