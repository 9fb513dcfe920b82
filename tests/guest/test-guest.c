/* test-guest.c - the device manager with a guest that answers hot-plug:
 * the SCSI addresses the proxy picks are the ones the guest sees, and PCI
 * devices are really unplugged (the guest acknowledges, QEMU reports
 * DEVICE_DELETED), so their slots are reused.
 *
 * The guest (tests/guest/build-guest.sh: Debian's cloud kernel and a
 * busybox initramfs) reports changes of /sys/block on its console. It is
 * built once into the build directory; without Debian's mirror the tests
 * are skipped with the reason. */
#include "harness.h"

#include <glib/gstdio.h>
#include <stdio.h>
#include <string.h>

typedef struct {
    char *dir;
    char *console;
    gsize console_off;
    TestQemu *qemu;
    TestProxy *proxy;
    TestClient *c;
} Guest;

static char *guest_dir;

static void build_guest_or_skip(void)
{
    const char *script = g_getenv("QMPROXY_GUEST_BUILD");
    const char *argv[] = { "bash", script, guest_dir, NULL };
    g_autofree char *err = NULL;
    int status = -1;

    if (!script ||
        !g_spawn_sync(NULL, (char **)argv, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, NULL, &err,
                      &status, NULL) ||
        !g_spawn_check_wait_status(status, NULL)) {
        g_print("1..0 # SKIP the test guest could not be built: %s\n", err ? g_strstrip(err) : "");
        exit(77);
    }
}

/* The next console line starting with @prefix after what was read. */
static char *console_wait(Guest *g, const char *prefix)
{
    for (int waited = 0; waited < 30000; waited += 20) {
        g_autofree char *text = NULL;
        gsize len = 0;

        if (g_file_get_contents(g->console, &text, &len, NULL) && len > g->console_off) {
            char *p = text + g->console_off;
            char *nl;

            while ((nl = strchr(p, '\n'))) {
                *nl = 0;
                g->console_off = (gsize)(nl + 1 - text);
                g_strchomp(p);
                if (g_str_has_prefix(p, prefix)) {
                    return g_strdup(p);
                }
                p = nl + 1;
            }
        }
        g_usleep(20000);
    }
    g_error("the guest never printed '%s'", prefix);
}

static Guest *guest_start(const char *const *proxy_opts)
{
    Guest *g = g_new0(Guest, 1);
    g_autofree char *kernel = g_build_filename(guest_dir, "vmlinuz", NULL);
    g_autofree char *initrd = g_build_filename(guest_dir, "initrd.gz", NULL);

    g->dir = g_dir_make_tmp("qmproxy-guest-XXXXXX", NULL);
    g->console = g_build_filename(g->dir, "console.log", NULL);
    g_autofree char *serial = g_strconcat("file:", g->console, NULL);
    const char *const args[] = {
        "-m",      "256",
        "-kernel", kernel,
        "-initrd", initrd,
        "-append", "console=ttyS0 panic=-1 quiet",
        "-serial", serial,
        "-device", "virtio-scsi-pci,id=scsi0",
        "-device", "pcie-root-port,id=rp1,bus=pcie.0,chassis=1",
        "-device", "pcie-root-port,id=rp2,bus=pcie.0,chassis=2",
        NULL,
    };
    g->qemu = test_qemu_start(args);
    g->proxy = test_proxy_start(g->qemu->qmp, g->qemu->dir, proxy_opts);
    g->c = test_client_connect(g->proxy->listen);
    g_free(test_client_handshake(g->c, NULL));
    g_free(test_client_cmd(g->c, "{\"execute\": \"cont\"}"));
    g_free(console_wait(g, "GUEST-READY"));
    for (int i = 0; i < 4; i++) {
        g_autofree char *cmd = g_strdup_printf(
            "{\"execute\": \"blockdev-add\", \"arguments\": {\"driver\": \"null-co\", "
            "\"node-name\": \"d%d\"}}",
            i);
        g_free(test_client_cmd(g->c, cmd));
    }
    return g;
}

static void guest_stop(Guest *g)
{
    test_client_free(g->c);
    test_proxy_free(g->proxy);
    test_qemu_free(g->qemu);
    g_unlink(g->console);
    g_rmdir(g->dir);
    g_free(g->console);
    g_free(g->dir);
    g_free(g);
}

static void plug(Guest *g, const char *json)
{
    g_autofree char *r = test_client_cmd(g->c, json);

    g_assert_cmpstr(r, ==, "{\"return\": {}}");
}

static void unplug(Guest *g, const char *id)
{
    test_client_unplug(g->c, id);
}

static char *place(Guest *g, const char *id)
{
    g_autofree char *cmd = g_strdup_printf(
        "{\"execute\": \"qom-get\", \"arguments\": {\"path\": \"/machine/peripheral/%s\", "
        "\"property\": \"parent_bus\"}}",
        id);
    g_autofree char *bus = test_client_cmd(g->c, cmd);
    char *end = strrchr(bus, '/');

    *strrchr(end, '"') = 0;
    return g_strdup(end + 1);
}

static void test_scsi_addresses_seen(void)
{
    Guest *g = guest_start(NULL);
    g_autoptr(GHashTable) seen = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);

    for (int i = 0; i < 3; i++) {
        g_autofree char *cmd = g_strdup_printf(
            "{\"execute\": \"device_add\", \"arguments\": {\"driver\": \"scsi-hd\", \"drive\": "
            "\"d%d\", \"bus\": \"scsi0.0\", \"id\": \"sd%d\"}}",
            i, i);
        plug(g, cmd);
        g_autofree char *line = console_wait(g, "BLOCK+ sd");
        g_auto(GStrv) parts = g_strsplit(line, " ", 3);

        /* host 0, channel 0, then the scsi-id and lun the proxy chose */
        g_hash_table_insert(seen, g_strdup(parts[2]), g_strdup(parts[1]));
    }
    g_assert_true(g_hash_table_contains(seen, "0:0:0:0"));
    g_assert_true(g_hash_table_contains(seen, "0:0:0:1"));
    g_assert_true(g_hash_table_contains(seen, "0:0:0:2"));

    /* the middle disk goes; the guest loses it; the next takes its place */
    unplug(g, "sd1");
    g_autofree char *gone = console_wait(g, "BLOCK- ");
    g_assert_cmpstr(gone + strlen("BLOCK- "), ==, g_hash_table_lookup(seen, "0:0:0:1"));
    plug(g, "{\"execute\": \"device_add\", \"arguments\": {\"driver\": \"scsi-hd\", \"drive\": "
            "\"d3\", \"bus\": \"scsi0.0\", \"id\": \"sd3\"}}");
    g_autofree char *again = console_wait(g, "BLOCK+ sd");
    g_assert_true(g_str_has_suffix(again, " 0:0:0:1"));
    guest_stop(g);
}

static void test_pci_unplug_reuses_slot(void)
{
    const char *const opts[] = { "--hotplug-bus", "rp1", "--hotplug-bus", "rp2", NULL };
    Guest *g = guest_start(opts);

    for (int cycle = 0; cycle < 20; cycle++) {
        plug(g, "{\"execute\": \"device_add\", \"arguments\": {\"driver\": \"virtio-blk-pci\", "
                "\"drive\": \"d0\", \"id\": \"vd\"}}");
        g_free(console_wait(g, "BLOCK+ vd"));
        g_autofree char *bus = place(g, "vd");
        /* the guest acknowledged every unplug: never past the first port */
        g_assert_cmpstr(bus, ==, "rp1");
        unplug(g, "vd");
        g_free(console_wait(g, "BLOCK- vd"));
    }
    guest_stop(g);
}

static void test_pci_unplug_then_blockdev_del(void)
{
    const char *const opts[] = { "--hotplug-bus", "rp1", NULL };
    Guest *g = guest_start(opts);
    g_autoptr(GPtrArray) events = g_ptr_array_new_with_free_func(g_free);

    plug(g, "{\"execute\": \"device_add\", \"arguments\": {\"driver\": \"virtio-blk-pci\", "
            "\"drive\": \"d1\", \"id\": \"vd\"}}");
    g_free(console_wait(g, "BLOCK+ vd"));
    /* the removal waits for the guest to let go of the disk */
    test_client_send(g->c, "{\"execute\": \"device_del\", \"arguments\": {\"id\": \"vd\"}}"
                           "{\"execute\": \"blockdev-del\", \"arguments\": {\"node-name\": "
                           "\"d1\"}}");
    g_autofree char *r1 = test_client_recv_reply(g->c, events);
    g_autofree char *r2 = test_client_recv_reply(g->c, events);
    g_assert_cmpstr(r1, ==, "{\"return\": {}}");
    g_assert_cmpstr(r2, ==, "{\"return\": {}}");
    guest_stop(g);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    test_require_qemu();
    guest_dir = g_strdup(g_getenv("QMPROXY_GUEST_DIR"));
    if (!guest_dir) {
        g_print("1..0 # SKIP QMPROXY_GUEST_DIR is not set (run under meson test)\n");
        return 77;
    }
    build_guest_or_skip();
    g_test_add_func("/guest/scsi-addresses-seen", test_scsi_addresses_seen);
    g_test_add_func("/guest/pci-unplug-reuses-slot", test_pci_unplug_reuses_slot);
    g_test_add_func("/guest/pci-unplug-then-blockdev-del", test_pci_unplug_then_blockdev_del);
    return g_test_run();
}
