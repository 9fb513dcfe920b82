/* test-guest.c - the device manager with a guest that answers hot-plug:
 * the SCSI addresses the proxy picks are the ones the guest sees, and PCI
 * devices are really unplugged (the guest acknowledges, QEMU reports
 * DEVICE_DELETED), so their slots are reused; and the device manager's
 * own commands (device-attach, device-detach) as the guest sees them,
 * vhost-user-fs mounted and used and vhost-user-net seen with its MAC.
 *
 * The guest (tests/guest/build-guest.sh: Debian's cloud kernel and a
 * busybox initramfs) reports changes of /sys/block on its console. It is
 * built once into the build directory; without Debian's mirror the tests
 * are skipped with the reason. */
#include "backends.h"
#include "harness.h"

#include <fcntl.h>
#include <glib/gstdio.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

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

/* Boots the guest behind a proxy with @proxy_opts; @qemu_extra (may be
 * NULL) adds to QEMU's arguments. */
static Guest *guest_start_full(const char *const *proxy_opts, const char *const *qemu_extra)
{
    Guest *g = g_new0(Guest, 1);
    g_autofree char *kernel = g_build_filename(guest_dir, "vmlinuz", NULL);
    g_autofree char *initrd = g_build_filename(guest_dir, "initrd.gz", NULL);

    g->dir = g_dir_make_tmp("qmproxy-guest-XXXXXX", NULL);
    g->console = g_build_filename(g->dir, "console.log", NULL);
    g_autofree char *serial = g_strconcat("file:", g->console, NULL);
    const char *const fixed[] = {
        "-m",      "256",
        "-kernel", kernel,
        "-initrd", initrd,
        "-append", "console=ttyS0 panic=-1 quiet",
        "-serial", serial,
        "-device", "virtio-scsi-pci,id=scsi0",
        "-device", "pcie-root-port,id=rp1,bus=pcie.0,chassis=1",
        "-device", "pcie-root-port,id=rp2,bus=pcie.0,chassis=2",
    };
    g_autoptr(GPtrArray) args = g_ptr_array_new();
    for (guint i = 0; i < G_N_ELEMENTS(fixed); i++) {
        g_ptr_array_add(args, (gpointer)fixed[i]);
    }
    for (guint i = 0; qemu_extra && qemu_extra[i]; i++) {
        g_ptr_array_add(args, (gpointer)qemu_extra[i]);
    }
    g_ptr_array_add(args, NULL);
    g->qemu = test_qemu_start((const char *const *)args->pdata);
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

static Guest *guest_start(const char *const *proxy_opts)
{
    return guest_start_full(proxy_opts, NULL);
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

/* ---- the device manager's commands (issue #5) with a guest ---- */

#define DM "__org.qmproxy_"

/* A 1 MiB raw image (sparse) in QEMU's temporary directory. */
static char *guest_image(Guest *g, const char *name)
{
    char *path = g_build_filename(g->qemu->dir, name, NULL);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

    g_assert_cmpint(fd, >=, 0);
    g_assert_cmpint(ftruncate(fd, 1 << 20), ==, 0);
    close(fd);
    return path;
}

/* Member @name of a flat reply (a string's text, or a number or boolean
 * as written), NULL when absent. */
static char *member(const char *reply, const char *name)
{
    g_autofree char *pattern = g_strdup_printf("\"%s\": (\"([^\"]*)\"|([-0-9a-z]+))", name);
    g_autoptr(GRegex) re = g_regex_new(pattern, 0, 0, NULL);
    g_autoptr(GMatchInfo) match = NULL;

    if (!g_regex_match(re, reply, 0, &match)) {
        return NULL;
    }
    char *value = g_match_info_fetch(match, 2);
    if (!*value) {
        g_free(value);
        value = g_match_info_fetch(match, 3);
    }
    return value;
}

static void assert_member(const char *reply, const char *name, const char *want)
{
    g_autofree char *got = member(reply, name);

    if (g_strcmp0(got, want) != 0) {
        g_error("%s is %s, not %s: %s", name, got ? got : "absent", want, reply);
    }
}

/* Sends a command made from @fmt; returns the reply, events before it go
 * to @events (may be NULL). */
static char *send_cmd(Guest *g, GPtrArray *events, const char *fmt, ...) G_GNUC_PRINTF(3, 4);
static char *send_cmd(Guest *g, GPtrArray *events, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    g_autofree char *cmd = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    test_client_send(g->c, cmd);
    return test_client_recv_reply(g->c, events);
}

/* @op on device @id, which must succeed; returns the reply. */
static char *dev_ok(Guest *g, GPtrArray *events, const char *op, const char *id)
{
    char *r =
        send_cmd(g, events, "{\"execute\": \"" DM "%s\", \"arguments\": {\"id\": \"%s\"}}", op, id);

    if (!g_str_has_prefix(r, "{\"return\": ")) {
        g_error("%s %s -> %s", op, id, r);
    }
    return r;
}

/* device-new with @more members (", \"tag\": ..." or ""). */
static void dev_new_with(Guest *g, const char *driver, const char *path, const char *id,
                         const char *more)
{
    g_autofree char *r = send_cmd(g, NULL,
                                  "{\"execute\": \"" DM "device-new\", \"arguments\": {\"driver\": "
                                  "\"%s\", \"path\": \"%s\", \"id\": \"%s\"%s}}",
                                  driver, path, id, more);

    if (!g_str_has_prefix(r, "{\"return\": ")) {
        g_error("device-new %s -> %s", id, r);
    }
    assert_member(r, "state", "detached");
}

static void dev_new(Guest *g, const char *driver, const char *path, const char *id)
{
    dev_new_with(g, driver, path, id, "");
}

/* Whether QEMU has block node or chardev @name (@query: the query command,
 * @key: the member naming them). */
static gboolean qemu_lists(Guest *g, const char *query, const char *key, const char *name)
{
    g_autofree char *r = send_cmd(g, NULL, "{\"execute\": \"%s\"}", query);
    g_autofree char *needle = g_strdup_printf("\"%s\": \"%s\"", key, name);

    g_assert_true(g_str_has_prefix(r, "{\"return\": "));
    return strstr(r, needle) != NULL;
}

/* Reads until QEMU's DEVICE_DELETED for @id is among @events. */
static void wait_deleted(Guest *g, GPtrArray *events, const char *id)
{
    g_autofree char *needle = g_strdup_printf("\"device\": \"%s\"", id);

    for (guint i = 0;; i++) {
        if (i == events->len) {
            char *line = test_client_recv_line(g->c, 20000);

            if (!line) {
                g_error("no DEVICE_DELETED for %s", id);
            }
            g_ptr_array_add(events, line);
        }
        const char *ev = g_ptr_array_index(events, i);
        if (strstr(ev, "\"event\": \"DEVICE_DELETED\"") && strstr(ev, needle)) {
            return;
        }
    }
}

/* Attaches @id; the guest sees a disk named as the reply says. Returns
 * the reply. */
static char *attach_seen(Guest *g, const char *id)
{
    char *a = dev_ok(g, NULL, "device-attach", id);
    g_autofree char *line = console_wait(g, "BLOCK+ vd");
    g_autofree char *name = member(a, "drive-name");
    g_autofree char *want = g_strdup_printf("BLOCK+ %s ", name);

    assert_member(a, "state", "attached");
    if (!g_str_has_prefix(line, want)) {
        g_error("the guest saw \"%s\" for %s", line, a);
    }
    return a;
}

/* Detaches @id: QEMU reports DEVICE_DELETED, the guest loses @name, the
 * back end is gone. */
static void detach_gone(Guest *g, const char *id, const char *name)
{
    g_autoptr(GPtrArray) events = g_ptr_array_new_with_free_func(g_free);
    g_autofree char *d = dev_ok(g, events, "device-detach", id);
    g_autofree char *want = g_strdup_printf("BLOCK- %s", name);
    g_autofree char *node = g_strconcat("drive-", id, NULL);

    assert_member(d, "state", "detached");
    assert_member(d, "attach-count", "0");
    wait_deleted(g, events, id);
    g_autofree char *line = console_wait(g, "BLOCK- ");
    g_assert_cmpstr(line, ==, want);
    g_assert_false(qemu_lists(g, "query-named-block-nodes", "node-name", node));
}

static void test_manager_virtio_blk(void)
{
    const char *const opts[] = { "--hotplug-bus", "rp1", "--hotplug-bus", "rp2", NULL };
    Guest *g = guest_start(opts);
    g_autofree char *img = guest_image(g, "vb.img");
    g_autofree char *img2 = guest_image(g, "vb2.img");

    /* a container restarting: a new device each time, always the first
     * root port and the first name, since the guest really let go */
    for (int cycle = 0; cycle < 5; cycle++) {
        g_autofree char *id = g_strdup_printf("vb%d", cycle);

        dev_new(g, "virtio-blk", img, id);
        g_autofree char *a = attach_seen(g, id);
        assert_member(a, "bus", "rp1");
        assert_member(a, "pci-slot", "0");
        assert_member(a, "drive-name", "vda");
        g_autofree char *node = g_strconcat("drive-", id, NULL);
        g_assert_true(qemu_lists(g, "query-named-block-nodes", "node-name", node));
        g_autofree char *bus = place(g, id);
        g_assert_cmpstr(bus, ==, "rp1");
        if (cycle == 0) {
            /* a second disk meanwhile: the second port, the next name */
            dev_new(g, "virtio-blk", img2, "other");
            g_autofree char *a2 = attach_seen(g, "other");
            assert_member(a2, "bus", "rp2");
            assert_member(a2, "drive-name", "vdb");
            detach_gone(g, "other", "vdb");
        }
        detach_gone(g, id, "vda");
        g_autofree char *r = dev_ok(g, NULL, "device-remove", id);
        assert_member(r, "reference-count", "0");
    }
    guest_stop(g);
}

static void test_manager_unplug_timeout_then_release(void)
{
    const char *const opts[] = { "--hotplug-bus", "rp1", "--unplug-timeout", "5", NULL };
    Guest *g = guest_start(opts);
    g_autofree char *img = guest_image(g, "vt.img");
    g_autoptr(GPtrArray) events = g_ptr_array_new_with_free_func(g_free);

    dev_new(g, "virtio-blk", img, "vt");
    g_autofree char *a = attach_seen(g, "vt");
    /* a stopped guest cannot release the disk: the detach gives up */
    g_free(send_cmd(g, NULL, "{\"execute\": \"stop\"}"));
    g_autofree char *e = send_cmd(
        g, NULL, "{\"execute\": \"" DM "device-detach\", \"arguments\": {\"id\": \"vt\"}}");
    g_assert_true(g_str_has_prefix(e, "{\"error\": {\"class\": \"GenericError\""));
    g_assert_nonnull(strstr(e, "did not release"));
    g_autofree char *q = dev_ok(g, NULL, "query-device", "vt");
    assert_member(q, "state", "unplugging");
    g_assert_true(qemu_lists(g, "query-named-block-nodes", "node-name", "drive-vt"));

    /* a second detach waits again; another client lets the guest run, it
     * releases the disk, and the waiting detach completes */
    test_client_send(g->c,
                     "{\"execute\": \"" DM "device-detach\", \"arguments\": {\"id\": \"vt\"}}");
    TestClient *other = test_client_connect(g->proxy->listen);
    g_free(test_client_handshake(other, NULL));
    g_autofree char *cont = test_client_cmd(other, "{\"execute\": \"cont\"}");
    g_assert_cmpstr(cont, ==, "{\"return\": {}}");
    test_client_free(other);
    g_autofree char *d = test_client_recv_reply(g->c, events);
    if (!g_str_has_prefix(d, "{\"return\": ")) {
        g_error("the second detach: %s", d);
    }
    assert_member(d, "state", "detached");
    wait_deleted(g, events, "vt");
    g_autofree char *line = console_wait(g, "BLOCK- ");
    g_assert_cmpstr(line, ==, "BLOCK- vda");
    g_assert_false(qemu_lists(g, "query-named-block-nodes", "node-name", "drive-vt"));
    guest_stop(g);
}

static void test_manager_vhost_user_blk(void)
{
    const char *const opts[] = { "--hotplug-bus", "rp1", NULL };
    /* vhost-user needs guest memory the back end can map */
    const char *const extra[] = { "-object", "memory-backend-memfd,id=mem,size=256M,share=on",
                                  "-numa", "node,memdev=mem", NULL };
    g_autofree char *qsd = g_find_program_in_path("qemu-storage-daemon");

    if (!qsd) {
        g_test_skip("qemu-storage-daemon is not installed");
        return;
    }
    Guest *g = guest_start_full(opts, extra);
    g_autofree char *img = guest_image(g, "vu.img");
    g_autofree char *sock = g_build_filename(g->qemu->dir, "vu.sock", NULL);
    g_autofree char *blockdev = g_strdup_printf("driver=file,node-name=f,filename=%s", img);
    g_autofree char *export = g_strdup_printf(
        "type=vhost-user-blk,id=e,node-name=f,addr.type=unix,addr.path=%s,writable=on", sock);
    const char *argv[] = { qsd, "--blockdev", blockdev, "--export", export, NULL };
    g_autoptr(GError) error = NULL;
    GPid daemon;

    g_spawn_async(NULL, (char **)argv, NULL, G_SPAWN_DO_NOT_REAP_CHILD, NULL, NULL, &daemon,
                  &error);
    g_assert_no_error(error);
    /* listening once a connection is taken (it serves the next one after) */
    test_client_free(test_client_connect(sock));

    /* twice: the back end serves the device again after a detach */
    for (int cycle = 0; cycle < 2; cycle++) {
        g_autofree char *id = g_strdup_printf("vu%d", cycle);
        g_autofree char *chardev = g_strconcat("char-", id, NULL);

        dev_new(g, "vhost-user-blk", sock, id);
        g_autofree char *a = dev_ok(g, NULL, "device-attach", id);
        assert_member(a, "chardev", chardev);
        assert_member(a, "bus", "rp1");
        g_assert_true(qemu_lists(g, "query-chardev", "label", chardev));
        g_autofree char *line = console_wait(g, "BLOCK+ vd");
        g_auto(GStrv) parts = g_strsplit(line, " ", 3);

        g_autoptr(GPtrArray) events = g_ptr_array_new_with_free_func(g_free);
        g_autofree char *d = dev_ok(g, events, "device-detach", id);
        assert_member(d, "state", "detached");
        wait_deleted(g, events, id);
        g_autofree char *gone = console_wait(g, "BLOCK- ");
        g_assert_cmpstr(gone + strlen("BLOCK- "), ==, parts[1]);
        g_assert_false(qemu_lists(g, "query-chardev", "label", chardev));
        g_autofree char *r = dev_ok(g, NULL, "device-remove", id);
        assert_member(r, "reference-count", "0");
    }
    guest_stop(g);
    kill(daemon, SIGKILL);
    waitpid(daemon, NULL, 0);
    g_spawn_close_pid(daemon);
}

/* Guest memory a vhost-user back end can map; virtio-net without MSI-X,
 * with which QEMU 7.2 under TCG crashes once the guest's driver starts. */
static const char *const vhost_extra[] = {
    "-object", "memory-backend-memfd,id=mem,size=256M,share=on",
    "-numa",   "node,memdev=mem",
    "-global", "virtio-net-pci.vectors=0",
    NULL
};

/* Detaches @id: QEMU reports DEVICE_DELETED, the guest prints @gone,
 * and QEMU holds nothing more for it; then removes it. */
static void detach_vhost(Guest *g, const char *id, const char *gone)
{
    g_autoptr(GPtrArray) events = g_ptr_array_new_with_free_func(g_free);
    g_autofree char *d = dev_ok(g, events, "device-detach", id);
    g_autofree char *chardev = g_strconcat("char-", id, NULL);

    assert_member(d, "state", "detached");
    wait_deleted(g, events, id);
    g_free(console_wait(g, gone));
    g_assert_false(qemu_lists(g, "query-chardev", "label", chardev));
    g_autofree char *r = dev_ok(g, NULL, "device-remove", id);
    assert_member(r, "reference-count", "0");
}

/* QEMU 7.2 has no query-netdev: HMP's "info network" lists them. */
static gboolean qemu_has_netdev(Guest *g, const char *id)
{
    g_autofree char *info = send_cmd(g, NULL,
                                     "{\"execute\": \"human-monitor-command\", \"arguments\": "
                                     "{\"command-line\": \"info network\"}}");
    g_autofree char *needle = g_strdup_printf(" %s: ", id);

    return strstr(info, needle) != NULL;
}

/* A shared directory as Kata gives a container: the guest mounts the
 * tag, reads what the host wrote and writes what the host reads; after
 * a detach, a new device with a new virtiofsd (each serves one QEMU
 * connection) takes the same port and tag. */
static void test_manager_vhost_user_fs(void)
{
    const char *const opts[] = { "--hotplug-bus", "rp1", NULL };

    if (!g_file_test(TEST_VIRTIOFSD, G_FILE_TEST_IS_EXECUTABLE)) {
        g_test_skip(TEST_VIRTIOFSD " is not installed (qemu-system-common)");
        return;
    }
    Guest *g = guest_start_full(opts, vhost_extra);
    g_autofree char *share = g_build_filename(g->qemu->dir, "share", NULL);
    g_autofree char *from_host = g_build_filename(share, "from-host", NULL);
    g_autofree char *from_guest = g_build_filename(share, "from-guest", NULL);

    for (int cycle = 0; cycle < 2; cycle++) {
        g_autofree char *id = g_strdup_printf("fs%d", cycle);
        g_autofree char *sock = g_strdup_printf("%s/vfs%d.sock", g->qemu->dir, cycle);
        g_autoptr(TestBackend) fsd = test_backend_virtiofsd(sock, share);
        g_autofree char *text = g_strdup_printf("written by the host, cycle %d\n", cycle);
        g_autofree char *want = g_strdup_printf("FS+ shared written by the host, cycle %d", cycle);

        g_assert_true(g_file_set_contents(from_host, text, -1, NULL));
        g_unlink(from_guest);
        dev_new_with(g, "vhost-user-fs", sock, id, ", \"tag\": \"shared\"");
        g_autofree char *a = dev_ok(g, NULL, "device-attach", id);
        assert_member(a, "bus", "rp1");
        assert_member(a, "tag", "shared");
        g_autofree char *line = console_wait(g, "FS");
        g_assert_cmpstr(line, ==, want);
        g_autofree char *back = NULL;
        g_assert_true(g_file_get_contents(from_guest, &back, NULL, NULL));
        g_assert_cmpstr(back, ==, "written by the guest\n");
        detach_vhost(g, id, "FS- ");
    }
    guest_stop(g);
}

/* testpmd's port in @dir, or NULL, @dir removed and the test skipped,
 * when DPDK is not installed. */
static TestBackend *testpmd_or_skip(const char *dir)
{
    g_autofree char *sock = g_build_filename(dir, "net.sock", NULL);
    TestBackend *pmd = test_backend_testpmd(sock);

    if (!pmd) {
        g_rmdir(dir);
        g_test_skip("dpdk-testpmd is not installed (dpdk-dev)");
    }
    return pmd;
}

/* A NIC on DPDK's vhost-user port, as with OVS-DPDK: the guest sees it
 * with the MAC asked for; a detach takes the NIC, its netdev and its
 * chardev in that order; the port serves the next NIC. */
static void test_manager_vhost_user_net(void)
{
    const char *const opts[] = { "--hotplug-bus", "rp1", NULL };
    g_autofree char *dir = g_dir_make_tmp("qmproxy-pmd-XXXXXX", NULL);
    g_autoptr(TestBackend) pmd = testpmd_or_skip(dir);

    if (!pmd) {
        return;
    }
    const char *sock = pmd->socket;
    Guest *g = guest_start_full(opts, vhost_extra);
    for (int cycle = 0; cycle < 2; cycle++) {
        g_autofree char *id = g_strdup_printf("nic%d", cycle);
        g_autofree char *mac = g_strdup_printf("52:54:00:12:34:%02x", 0x56 + cycle);
        g_autofree char *more = g_strdup_printf(", \"mac\": \"%s\"", mac);
        g_autofree char *want = g_strdup_printf("NET+ eth0 %s", mac);
        g_autofree char *netdev = g_strconcat("net-", id, NULL);

        dev_new_with(g, "vhost-user-net", sock, id, more);
        g_autofree char *a = dev_ok(g, NULL, "device-attach", id);
        assert_member(a, "netdev", netdev);
        assert_member(a, "mac", mac);
        g_autofree char *line = console_wait(g, "NET+ ");
        g_assert_cmpstr(line, ==, want);
        detach_vhost(g, id, "NET- eth0");
        g_assert_false(qemu_has_netdev(g, netdev));
    }
    guest_stop(g);
    test_backend_free(g_steal_pointer(&pmd));
    g_rmdir(dir);
}

/* kill -9 at moments of a NIC's detach (before it is recorded, with
 * device_del sent, after DEVICE_DELETED): the restarted proxy finishes
 * the detach from its state file and QEMU's truth, leaves no netdev or
 * chardev, and the next attach works. */
static void test_manager_vhost_user_net_killed(void)
{
    g_autofree char *dir = g_dir_make_tmp("qmproxy-pmd-XXXXXX", NULL);
    g_autofree char *state = g_build_filename(dir, "state.json", NULL);
    const char *const opts[] = { "--hotplug-bus", "rp1", "--state", state, NULL };
    g_autoptr(TestBackend) pmd = testpmd_or_skip(dir);

    if (!pmd) {
        return;
    }
    const char *sock = pmd->socket;
    Guest *g = guest_start_full(opts, vhost_extra);
    for (int round = 0; round < 3; round++) {
        g_autofree char *id = g_strdup_printf("nk%d", round);
        g_autofree char *netdev = g_strconcat("net-", id, NULL);
        g_autofree char *chardev = g_strconcat("char-", id, NULL);

        dev_new(g, "vhost-user-net", sock, id);
        g_free(dev_ok(g, NULL, "device-attach", id));
        g_free(console_wait(g, "NET+ "));
        g_autofree char *detach = g_strdup_printf(
            "{\"execute\": \"" DM "device-detach\", \"arguments\": {\"id\": \"%s\"}}", id);
        test_client_send(g->c, detach);
        g_usleep((gulong)round * 30000);
        kill(g->proxy->pid, SIGKILL);
        g_assert_true(test_proxy_wait(g->proxy, 10000));
        g_clear_pointer(&g->c, test_client_free);
        g_clear_pointer(&g->proxy, test_proxy_free);
        g->proxy = test_proxy_start(g->qemu->qmp, g->qemu->dir, opts);
        g->c = test_client_connect(g->proxy->listen);
        g_free(test_client_handshake(g->c, NULL));

        /* a detach the dead proxy had recorded completes without anyone
         * asking again; one it had not is the runtime's to send again,
         * since it got no answer */
        for (int waited = 0;; waited += 50) {
            g_autofree char *q = dev_ok(g, NULL, "query-device", id);
            g_autofree char *st = member(q, "state");

            if (waited == 0) {
                g_test_message("round %d: %s after the restart", round, st);
            }
            if (!g_strcmp0(st, "detached")) {
                break;
            }
            if (!g_strcmp0(st, "attached")) {
                g_autoptr(GPtrArray) events = g_ptr_array_new_with_free_func(g_free);
                g_autofree char *d = dev_ok(g, events, "device-detach", id);

                assert_member(d, "state", "detached");
                break;
            }
            g_assert_cmpstr(st, ==, "unplugging");
            g_assert_cmpint(waited, <, 15000);
            g_usleep(50000);
        }
        g_free(console_wait(g, "NET- "));
        g_assert_false(qemu_lists(g, "query-chardev", "label", chardev));
        g_assert_false(qemu_has_netdev(g, netdev));
        g_free(dev_ok(g, NULL, "device-remove", id));
    }
    /* and the port serves the next NIC */
    dev_new(g, "vhost-user-net", sock, "after");
    g_free(dev_ok(g, NULL, "device-attach", "after"));
    g_free(console_wait(g, "NET+ "));
    guest_stop(g);
    test_backend_free(g_steal_pointer(&pmd));
    g_unlink(state);
    g_rmdir(dir);
}

/* Debian ships no vhost-user-scsi back end: the stub's empty SCSI target
 * is enough for the guest to take the HBA, and to let it go at a detach. */
static void test_manager_vhost_user_scsi(void)
{
    const char *const opts[] = { "--hotplug-bus", "rp1", NULL };
    Guest *g = guest_start_full(opts, vhost_extra);
    g_autofree char *sock = g_build_filename(g->qemu->dir, "scsi.sock", NULL);
    g_autoptr(TestBackend) stub = test_backend_stub(sock, "scsi");

    for (int cycle = 0; cycle < 2; cycle++) {
        g_autofree char *id = g_strdup_printf("vs%d", cycle);
        g_autofree char *chardev = g_strconcat("char-", id, NULL);

        dev_new(g, "vhost-user-scsi", sock, id);
        g_autofree char *a = dev_ok(g, NULL, "device-attach", id);
        assert_member(a, "bus", "rp1");
        assert_member(a, "chardev", chardev);
        g_assert_true(qemu_lists(g, "query-chardev", "label", chardev));
        g_autoptr(GPtrArray) events = g_ptr_array_new_with_free_func(g_free);
        g_autofree char *d = dev_ok(g, events, "device-detach", id);
        assert_member(d, "state", "detached");
        wait_deleted(g, events, id);
        g_assert_false(qemu_lists(g, "query-chardev", "label", chardev));
        g_free(dev_ok(g, NULL, "device-remove", id));
    }
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
    g_test_add_func("/guest/manager/virtio-blk", test_manager_virtio_blk);
    g_test_add_func("/guest/manager/unplug-timeout-then-release",
                    test_manager_unplug_timeout_then_release);
    g_test_add_func("/guest/manager/vhost-user-blk", test_manager_vhost_user_blk);
    g_test_add_func("/guest/manager/vhost-user-fs", test_manager_vhost_user_fs);
    g_test_add_func("/guest/manager/vhost-user-net", test_manager_vhost_user_net);
    g_test_add_func("/guest/manager/vhost-user-scsi", test_manager_vhost_user_scsi);
    g_test_add_func("/guest/manager/vhost-user-net-killed", test_manager_vhost_user_net_killed);
    return g_test_run();
}
