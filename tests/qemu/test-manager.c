/* test-manager.c - the device manager's QMP API (issue #5): device-new,
 * device-attach, device-detach, device-remove and the reference counts,
 * as Kata's device manager uses them. Against a real QEMU without a guest
 * (so only SCSI unplugs complete), every claim of a reply is read back
 * from QEMU (qom-get, qom-list, query-named-block-nodes, query-chardev);
 * vfio-pci goes against a scripted upstream, since no test host has a
 * device to give away. */
#include "qmp-json.h"

#include <json-glib/json-glib.h>

#include <fcntl.h>
#include <glib/gstdio.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#define DM "__org.qmproxy_"

static const char *const base_args[] = {
    "-device", "virtio-scsi-pci,id=scsi0",
    "-device", "pcie-root-port,id=rp1,bus=pcie.0,chassis=1",
    "-device", "pcie-root-port,id=rp2,bus=pcie.0,chassis=2",
    NULL,
};
static const char *const base_opts[] = { "--hotplug-bus", "rp1", "--hotplug-bus", "rp2", NULL };

typedef struct {
    TestQemu *qemu;
    TestProxy *proxy;
    TestClient *c;
    const char *dir; /* the test's temporary directory (QEMU's) */
} Fx;

/* A negotiated client of the proxy at @listen; @caps is
 * qmp_capabilities' arguments, or NULL. */
static TestClient *client_at(const char *listen, const char *caps)
{
    TestClient *c = test_client_connect(listen);

    g_assert_nonnull(c);
    g_free(test_client_handshake(c, caps));
    return c;
}

static TestClient *client_new(Fx *fx, const char *caps)
{
    return client_at(fx->proxy->listen, caps);
}

static void fx_start_full(Fx *fx, const char *const *qemu_args, const char *const *opts)
{
    fx->qemu = test_qemu_start(qemu_args);
    fx->dir = fx->qemu->dir;
    fx->proxy = test_proxy_start(fx->qemu->qmp, fx->qemu->dir, opts);
    fx->c = client_new(fx, NULL);
}

static void fx_start(Fx *fx)
{
    fx_start_full(fx, base_args, base_opts);
}

static void fx_stop(Fx *fx)
{
    test_client_free(fx->c);
    test_proxy_free(fx->proxy);
    test_qemu_free(fx->qemu);
}

/* ---- the device manager's commands ---- */

/* @s as a JSON string. */
static char *json_quote(const char *s)
{
    g_autoptr(JsonNode) n = json_node_init_string(json_node_alloc(), s);

    return json_to_string(n, FALSE);
}

static JsonNode *dev_new(TestClient *c, const char *driver, const char *path, const char *more)
{
    g_autofree char *quoted = json_quote(path);

    return test_qmp_ok(c,
                       "{\"execute\": \"" DM
                       "device-new\", \"arguments\": {\"driver\": \"%s\", \"path\": "
                       "%s%s}}",
                       driver, quoted, more ? more : "");
}

/* ---- what QEMU has ---- */

/* QEMU's query-named-block-nodes entry for node @name, or NULL. */
static JsonNode *qemu_node(TestClient *c, const char *name)
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

static gboolean has_chardev(TestClient *c, const char *label)
{
    g_autoptr(JsonNode) list = test_qmp_ok(c, "{\"execute\": \"query-chardev\"}");
    JsonArray *a = json_node_get_array(list);

    for (guint i = 0; i < json_array_get_length(a); i++) {
        if (g_strcmp0(test_json_str(json_array_get_element(a, i), "label"), label) == 0) {
            return TRUE;
        }
    }
    return FALSE;
}

/* The bus QEMU put device @id on: the last part of its parent_bus. */
static char *qom_bus(TestClient *c, const char *id)
{
    g_autofree char *path = test_qom_str(c, id, "parent_bus");

    return g_strdup(strrchr(path, '/') + 1);
}

/* Kata's PCI path of slot 0 behind root port @port: "port's slot/00". */
static char *pci_path_behind(TestClient *c, const char *port)
{
    return g_strdup_printf("%02x/00", (unsigned)(test_qom_int(c, port, "addr") >> 3));
}

/* The SCSI address in the reply is the one QEMU has; the node is there. */
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
    g_autofree char *bus = qom_bus(c, id);
    g_assert_cmpstr(bus, ==, test_json_str(info, "bus"));
}

/* ---- tests ---- */

static void test_scsi_attach_detach(void)
{
    Fx fx;

    fx_start(&fx);
    /* a file name JSON must escape, to the file QEMU opens */
    g_autofree char *img0 = test_make_image(fx.dir, "disk \"0\"\\ \u00e9.img");
    g_autofree char *img1 = test_make_image(fx.dir, "disk1.img");

    g_autoptr(JsonNode) n = dev_new(fx.c, "virtio-scsi", img0, ", \"id\": \"disk0\"");
    g_assert_cmpstr(test_json_str(n, "id"), ==, "disk0");
    g_assert_cmpstr(test_json_str(n, "driver"), ==, "scsi-hd");
    g_assert_cmpstr(test_json_str(n, "kind"), ==, "virtio-scsi");
    g_assert_cmpstr(test_json_str(n, "path"), ==, img0);
    g_assert_false(test_json_bool(n, "read-only"));
    test_dm_assert_counts(n, "detached", 0, 1);
    test_dm_assert_no_address(n);
    /* a regular file has no major:minor */
    g_assert_false(test_json_has(n, "major"));
    g_assert_false(test_json_has(n, "minor"));
    /* device-new sends nothing to QEMU */
    test_qemu_assert_gone(fx.c, "disk0");

    g_autoptr(JsonNode) a = test_dm(fx.c, "device-attach", "disk0");
    test_dm_assert_counts(a, "attached", 1, 1);
    g_assert_cmpstr(test_json_str(a, "bus"), ==, "scsi0.0");
    g_assert_cmpint(test_json_int(a, "index"), ==, 0);
    assert_scsi_in_qemu(fx.c, a);
    g_autoptr(JsonNode) node = qemu_node(fx.c, "drive-disk0");
    g_assert_nonnull(node);
    g_assert_cmpstr(test_json_str(node, "drv"), ==, "file");
    g_assert_cmpstr(test_json_str(node, "file"), ==, img0);
    g_assert_false(test_json_bool(node, "ro"));
    g_autoptr(JsonNode) q = test_dm(fx.c, "query-device", "disk0");
    test_dm_assert_counts(q, "attached", 1, 1);
    g_assert_cmpint(test_json_int(q, "lun"), ==, 0);

    /* a read-only disk next to it: the next index, a read-only node */
    g_autoptr(JsonNode) n1 =
        dev_new(fx.c, "virtio-scsi", img1, ", \"id\": \"disk1\", \"read-only\": true");
    g_assert_true(test_json_bool(n1, "read-only"));
    g_autoptr(JsonNode) a1 = test_dm(fx.c, "device-attach", "disk1");
    g_assert_cmpint(test_json_int(a1, "index"), ==, 1);
    assert_scsi_in_qemu(fx.c, a1);
    g_autoptr(JsonNode) node1 = qemu_node(fx.c, "drive-disk1");
    g_assert_nonnull(node1);
    g_assert_true(test_json_bool(node1, "ro"));

    /* without a guest QEMU completes a SCSI unplug by itself */
    g_autoptr(JsonNode) d = test_dm(fx.c, "device-detach", "disk0");
    test_dm_assert_counts(d, "detached", 0, 1);
    test_dm_assert_no_address(d);
    test_qemu_assert_gone(fx.c, "disk0");
    g_assert_true(test_qemu_has_device(fx.c, "disk1"));
    g_autoptr(JsonNode) d1 = test_dm(fx.c, "device-detach", "disk1");
    test_dm_assert_counts(d1, "detached", 0, 1);
    test_qemu_assert_gone(fx.c, "disk1");
    fx_stop(&fx);
}

static void test_shared_disk(void)
{
    Fx fx;

    fx_start(&fx);
    g_autofree char *img = test_make_image(fx.dir, "shared.img");
    /* two containers ask for the same disk: one device, two references */
    g_autoptr(JsonNode) n1 = dev_new(fx.c, "virtio-scsi", img, NULL);
    g_autoptr(JsonNode) n2 = dev_new(fx.c, "virtio-scsi", img, NULL);
    g_assert_cmpstr(test_json_str(n1, "id"), ==, "dev0");
    g_assert_cmpstr(test_json_str(n2, "id"), ==, "dev0");
    test_dm_assert_counts(n2, "detached", 0, 2);

    g_autoptr(JsonNode) a1 = test_dm(fx.c, "device-attach", "dev0");
    g_autoptr(JsonNode) a2 = test_dm(fx.c, "device-attach", "dev0");
    test_dm_assert_counts(a1, "attached", 1, 2);
    test_dm_assert_counts(a2, "attached", 2, 2);
    /* the second attach plugged nothing more */
    g_assert_cmpint(test_json_int(a2, "index"), ==, test_json_int(a1, "index"));
    assert_scsi_in_qemu(fx.c, a2);

    /* the first container goes: the disk stays for the second */
    g_autoptr(JsonNode) d1 = test_dm(fx.c, "device-detach", "dev0");
    test_dm_assert_counts(d1, "attached", 1, 2);
    assert_scsi_in_qemu(fx.c, d1);
    g_autoptr(JsonNode) d2 = test_dm(fx.c, "device-detach", "dev0");
    test_dm_assert_counts(d2, "detached", 0, 2);
    test_qemu_assert_gone(fx.c, "dev0");

    g_autoptr(JsonNode) r1 = test_dm(fx.c, "device-remove", "dev0");
    test_dm_assert_counts(r1, "detached", 0, 1);
    g_autoptr(JsonNode) still = test_dm(fx.c, "query-device", "dev0");
    g_assert_cmpint(test_json_int(still, "reference-count"), ==, 1);
    g_autoptr(JsonNode) r2 = test_dm(fx.c, "device-remove", "dev0");
    g_assert_cmpint(test_json_int(r2, "reference-count"), ==, 0);
    g_autofree char *e = test_dm_fails(fx.c, "query-device", "dev0");
    g_assert_cmpstr(e, ==, "DeviceNotFound: Device 'dev0' not found");
    fx_stop(&fx);
}

/* Sends @op on device @id, without waiting for the reply. */
static void dev_send(TestClient *c, const char *op, const char *id)
{
    g_autofree char *cmd =
        g_strdup_printf("{\"execute\": \"" DM "%s\", \"arguments\": {\"id\": \"%s\"}}", op, id);

    test_client_send(c, cmd);
}

/* The next reply on @c, which must be a success (@what names it). */
static JsonNode *next_ok(TestClient *c, const char *what)
{
    g_autofree char *text = test_client_recv_reply(c, NULL);

    return test_qmp_reply(what, text, TRUE);
}

#define CYCLE_CLIENTS 4

static void test_cycles_stay_low(void)
{
    TestClient *cl[CYCLE_CLIENTS];
    Fx fx;

    fx_start(&fx);
    for (int k = 0; k < CYCLE_CLIENTS; k++) {
        cl[k] = client_new(&fx, NULL);
    }
    /* containers restarting forever, each with a new device on a new file.
     * Four at a time, from four clients, since QEMU takes ~50 ms to report
     * a SCSI unplug: each round must take the first four indexes again */
    for (int round = 0; round < 500 / CYCLE_CLIENTS; round++) {
        char *ids[CYCLE_CLIENTS], *imgs[CYCLE_CLIENTS];
        guint taken = 0; /* a bit per index */

        for (int k = 0; k < CYCLE_CLIENTS; k++) {
            g_autofree char *name = g_strdup_printf("c%d-%d.img", round, k);
            ids[k] = g_strdup_printf("c%d-%d", round, k);
            imgs[k] = test_make_image(fx.dir, name);
            g_autofree char *cmd =
                g_strdup_printf("{\"execute\": \"" DM "device-new\", \"arguments\": {\"driver\": "
                                "\"virtio-scsi\", \"path\": \"%s\", \"id\": \"%s\"}}",
                                imgs[k], ids[k]);
            test_client_send(cl[k], cmd);
            dev_send(cl[k], "device-attach", ids[k]);
        }
        for (int k = 0; k < CYCLE_CLIENTS; k++) {
            g_autoptr(JsonNode) n = next_ok(cl[k], "device-new");
            g_autoptr(JsonNode) a = next_ok(cl[k], "device-attach");
            gint64 index = test_json_int(a, "index");

            g_assert_cmpstr(test_json_str(a, "id"), ==, ids[k]);
            g_assert_cmpint(index, >=, 0);
            g_assert_cmpint(index, <, CYCLE_CLIENTS);
            g_assert_cmpint(test_json_int(a, "scsi-id"), ==, 0);
            g_assert_cmpint(test_json_int(a, "lun"), ==, index);
            taken |= 1u << index;
            if (round % 25 == 0 || round == 500 / CYCLE_CLIENTS - 1) {
                assert_scsi_in_qemu(fx.c, a);
            }
        }
        g_assert_cmpuint(taken, ==, (1u << CYCLE_CLIENTS) - 1);
        for (int k = 0; k < CYCLE_CLIENTS; k++) {
            dev_send(cl[k], "device-detach", ids[k]);
            dev_send(cl[k], "device-remove", ids[k]);
        }
        for (int k = 0; k < CYCLE_CLIENTS; k++) {
            g_autoptr(JsonNode) d = next_ok(cl[k], "device-detach");
            g_autoptr(JsonNode) r = next_ok(cl[k], "device-remove");

            test_dm_assert_counts(d, "detached", 0, 1);
            g_assert_cmpint(test_json_int(r, "reference-count"), ==, 0);
            g_unlink(imgs[k]);
            g_free(imgs[k]);
            g_free(ids[k]);
        }
    }
    /* nothing piled up, in the proxy or in QEMU */
    g_autoptr(JsonNode) all = test_qmp_ok(fx.c, "{\"execute\": \"" DM "query-devices\"}");
    JsonArray *list = json_node_get_array(all);
    for (guint i = 0; i < json_array_get_length(list); i++) {
        g_assert_false(test_json_has(json_array_get_element(list, i), "kind"));
    }
    g_autoptr(GHashTable) nodes = test_qemu_nodes(fx.c);
    g_assert_cmpuint(g_hash_table_size(nodes), ==, 0);
    g_autoptr(GHashTable) devices = test_qemu_devices(fx.c);
    g_assert_cmpuint(g_hash_table_size(devices), ==, 3);
    for (int k = 0; k < CYCLE_CLIENTS; k++) {
        test_client_free(cl[k]);
    }
    fx_stop(&fx);
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

static void assert_detached_clean(TestClient *c, const char *id)
{
    g_autoptr(JsonNode) q = test_dm(c, "query-device", id);

    test_dm_assert_counts(q, "detached", 0, 1);
    test_dm_assert_no_address(q);
    test_qemu_assert_gone(c, id);
}

static void test_attach_failures(void)
{
    Fx fx;

    fx_start(&fx);
    /* a missing file is only found at attach, by QEMU's blockdev-add */
    g_autofree char *missing = g_build_filename(fx.dir, "missing.img", NULL);
    g_autoptr(JsonNode) nm = dev_new(fx.c, "virtio-scsi", missing, ", \"id\": \"m\"");
    g_autofree char *e1 = test_dm_fails(fx.c, "device-attach", "m");
    g_autofree char *want1 = g_strdup_printf(
        "GenericError: device-attach m: blockdev-add failed: Could not open '%s': No such file "
        "or directory",
        missing);
    g_assert_cmpstr(e1, ==, want1);
    assert_detached_clean(fx.c, "m");

    /* device_add refused after blockdev-add: the node goes again */
    g_autofree char *img_b = test_make_image(fx.dir, "b.img");
    g_autoptr(JsonNode) nb =
        dev_new(fx.c, "virtio-scsi", img_b, ", \"id\": \"b\", \"bus\": \"nosuch.0\"");
    g_autofree char *e2 = test_dm_fails(fx.c, "device-attach", "b");
    g_assert_cmpstr(e2, ==,
                    "GenericError: device-attach b: device_add failed: Bus 'nosuch.0' not found");
    assert_detached_clean(fx.c, "b");

    /* refused on the real bus: the index it had is free again */
    g_autofree char *img_l = test_make_image(fx.dir, "locked.img");
    int lock_fd = hold_write_lock(img_l);
    g_autoptr(JsonNode) nl = dev_new(fx.c, "virtio-scsi", img_l, ", \"id\": \"locked\"");
    g_autofree char *e3 = test_dm_fails(fx.c, "device-attach", "locked");
    g_assert_cmpstr(e3, ==,
                    "GenericError: device-attach locked: device_add failed: Failed to get shared "
                    "\"write\" lock");
    assert_detached_clean(fx.c, "locked");
    g_autofree char *img_g = test_make_image(fx.dir, "good.img");
    g_autoptr(JsonNode) ng = dev_new(fx.c, "virtio-scsi", img_g, ", \"id\": \"good\"");
    g_autoptr(JsonNode) ag = test_dm(fx.c, "device-attach", "good");
    g_assert_cmpint(test_json_int(ag, "index"), ==, 0);
    assert_scsi_in_qemu(fx.c, ag);

    /* the failed devices are still usable once their files are */
    close(lock_fd);
    g_autoptr(JsonNode) al = test_dm(fx.c, "device-attach", "locked");
    g_assert_cmpint(test_json_int(al, "index"), ==, 1);
    assert_scsi_in_qemu(fx.c, al);
    g_autofree char *created = test_make_image(fx.dir, "missing.img");
    g_autoptr(JsonNode) am = test_dm(fx.c, "device-attach", "m");
    g_assert_cmpint(test_json_int(am, "index"), ==, 2);
    assert_scsi_in_qemu(fx.c, am);
    fx_stop(&fx);
}

#define N_CLIENTS 4

static void test_concurrent_clients(void)
{
    Fx fx;
    TestClient *cl[N_CLIENTS];
    g_autofree char *shared_img = NULL;
    const char *const own[] = { "a", "b", "c" };

    fx_start(&fx);
    shared_img = test_make_image(fx.dir, "shared.img");
    for (int i = 0; i < N_CLIENTS; i++) {
        cl[i] = client_new(&fx, NULL);
        for (guint k = 0; k < G_N_ELEMENTS(own); k++) {
            g_autofree char *name = g_strdup_printf("m%d%s.img", i, own[k]);
            g_autofree char *img = test_make_image(fx.dir, name);
            g_autofree char *more = g_strdup_printf(", \"id\": \"m%d%s\"", i, own[k]);
            g_autoptr(JsonNode) n = dev_new(cl[i], "virtio-scsi", img, more);
        }
        /* every container references the one shared disk */
        g_autoptr(JsonNode) s = dev_new(cl[i], "virtio-scsi", shared_img, NULL);
        g_assert_cmpstr(test_json_str(s, "id"), ==, "dev0");
        g_assert_cmpint(test_json_int(s, "reference-count"), ==, i + 1);
    }

    /* each client pipelines its whole script; the proxy interleaves them.
     * A client detaches the shared disk only after attaching it, so every
     * command must succeed whatever the interleaving, while the shared
     * disk is plugged and unplugged under the others' feet */
    GPtrArray *scripts[N_CLIENTS];
    for (int i = 0; i < N_CLIENTS; i++) {
        GPtrArray *s = scripts[i] = g_ptr_array_new_with_free_func(g_free);
        g_autofree char *a = g_strdup_printf("m%da", i);
        g_autofree char *b = g_strdup_printf("m%db", i);
        g_autofree char *c = g_strdup_printf("m%dc", i);

        for (int r = 0; r < 5; r++) {
            g_ptr_array_add(s, g_strdup("device-attach dev0"));
            g_ptr_array_add(s, g_strdup_printf("device-attach %s", a));
            g_ptr_array_add(s, g_strdup_printf("device-detach %s", a));
            g_ptr_array_add(s, g_strdup("device-detach dev0"));
        }
        g_ptr_array_add(s, g_strdup_printf("device-attach %s", a));
        g_ptr_array_add(s, g_strdup_printf("device-attach %s", b));
        g_ptr_array_add(s, g_strdup_printf("device-attach %s", c));
        g_ptr_array_add(s, g_strdup_printf("device-attach %s", c));
        g_ptr_array_add(s, g_strdup_printf("device-detach %s", b));
        g_ptr_array_add(s, g_strdup("device-attach dev0"));
    }
    for (guint n = 0; n < scripts[0]->len; n++) {
        for (int i = 0; i < N_CLIENTS; i++) {
            g_auto(GStrv) step = g_strsplit(g_ptr_array_index(scripts[i], n), " ", 2);
            g_autofree char *cmd = g_strdup_printf(
                "{\"execute\": \"" DM "%s\", \"arguments\": {\"id\": \"%s\"}, \"id\": \"c%d-%u\"}",
                step[0], step[1], i, n);

            test_client_send(cl[i], cmd);
        }
    }
    for (int i = 0; i < N_CLIENTS; i++) {
        for (guint n = 0; n < scripts[i]->len; n++) {
            g_autofree char *line = test_client_recv_reply(cl[i], NULL);
            g_autoptr(JsonNode) reply = test_json_parse(line);
            g_autofree char *want_id = g_strdup_printf("c%d-%u", i, n);

            if (!test_json_has(reply, "return") ||
                g_strcmp0(test_json_str(reply, "id"), want_id) != 0) {
                g_error("client %d, %s (%s) -> %s", i, (char *)g_ptr_array_index(scripts[i], n),
                        want_id, line);
            }
        }
    }

    /* what the proxy says, what QEMU has, and what was asked agree */
    g_autoptr(GHashTable) want = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    g_hash_table_insert(want, g_strdup("dev0"), GINT_TO_POINTER(N_CLIENTS));
    for (int i = 0; i < N_CLIENTS; i++) {
        g_hash_table_insert(want, g_strdup_printf("m%da", i), GINT_TO_POINTER(1));
        g_hash_table_insert(want, g_strdup_printf("m%db", i), GINT_TO_POINTER(0));
        g_hash_table_insert(want, g_strdup_printf("m%dc", i), GINT_TO_POINTER(2));
    }
    g_autoptr(JsonNode) all = test_qmp_ok(fx.c, "{\"execute\": \"" DM "query-devices\"}");
    g_autoptr(GHashTable) qemu_has = test_qemu_devices(fx.c);
    g_autoptr(GHashTable) nodes = test_qemu_nodes(fx.c);
    g_autoptr(GHashTable) addresses = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    JsonArray *list = json_node_get_array(all);
    guint managed = 0, attached = 0;
    for (guint k = 0; k < json_array_get_length(list); k++) {
        JsonNode *info = json_array_get_element(list, k);
        const char *id = test_json_str(info, "id");
        g_autofree char *node = g_strconcat("drive-", id, NULL);

        if (!test_json_has(info, "kind")) {
            /* what QEMU was started with */
            g_assert_true(g_hash_table_contains(qemu_has, id));
            continue;
        }
        managed++;
        g_assert_true(g_hash_table_contains(want, id));
        gint64 count = GPOINTER_TO_INT(g_hash_table_lookup(want, id));
        g_assert_cmpint(test_json_int(info, "attach-count"), ==, count);
        g_assert_cmpstr(test_json_str(info, "state"), ==, count ? "attached" : "detached");
        g_assert_cmpint(g_hash_table_contains(qemu_has, id), ==, count > 0);
        g_assert_cmpint(g_hash_table_contains(nodes, node), ==, count > 0);
        if (count) {
            attached++;
            assert_scsi_in_qemu(fx.c, info);
            /* no two devices on one address */
            g_assert_true(g_hash_table_add(
                addresses, g_strdup_printf("%" G_GINT64_FORMAT, test_json_int(info, "index"))));
        }
    }
    g_assert_cmpuint(managed, ==, g_hash_table_size(want));
    /* QEMU has nothing more: the three it was started with, and ours */
    g_assert_cmpuint(g_hash_table_size(qemu_has), ==, 3 + attached);
    g_assert_cmpuint(g_hash_table_size(nodes), ==, attached);
    for (int i = 0; i < N_CLIENTS; i++) {
        g_ptr_array_unref(scripts[i]);
        test_client_free(cl[i]);
    }
    fx_stop(&fx);
}

static void test_counts_and_ids(void)
{
    Fx fx;

    fx_start(&fx);
    g_autofree char *img = test_make_image(fx.dir, "a.img");
    g_autoptr(JsonNode) n = dev_new(fx.c, "virtio-scsi", img, ", \"id\": \"x\"");

    /* a device the guest has cannot be removed */
    g_autoptr(JsonNode) a = test_dm(fx.c, "device-attach", "x");
    g_autofree char *e = test_dm_fails(fx.c, "device-remove", "x");
    g_assert_true(g_str_has_prefix(e, "GenericError: "));
    g_assert_nonnull(strstr(e, "is attached"));
    g_assert_true(test_qemu_has_device(fx.c, "x"));
    g_autoptr(JsonNode) d = test_dm(fx.c, "device-detach", "x");
    g_autofree char *e2 = test_dm_fails(fx.c, "device-detach", "x");
    g_assert_cmpstr(e2, ==, "GenericError: Device 'x' is not attached");

    /* reference and dereference; never below zero, and still known */
    g_autoptr(JsonNode) r1 = test_dm(fx.c, "device-reference", "x");
    test_dm_assert_counts(r1, "detached", 0, 2);
    g_autoptr(JsonNode) r2 = test_dm(fx.c, "device-dereference", "x");
    g_autoptr(JsonNode) r3 = test_dm(fx.c, "device-dereference", "x");
    g_autoptr(JsonNode) r4 = test_dm(fx.c, "device-dereference", "x");
    g_assert_cmpint(test_json_int(r2, "reference-count"), ==, 1);
    g_assert_cmpint(test_json_int(r3, "reference-count"), ==, 0);
    g_assert_cmpint(test_json_int(r4, "reference-count"), ==, 0);
    g_autoptr(JsonNode) q = test_dm(fx.c, "query-device", "x");
    test_dm_assert_counts(q, "detached", 0, 0);
    g_autoptr(JsonNode) r5 = test_dm(fx.c, "device-reference", "x");
    g_assert_cmpint(test_json_int(r5, "reference-count"), ==, 1);
    g_autoptr(JsonNode) rm = test_dm(fx.c, "device-remove", "x");
    g_assert_cmpint(test_json_int(rm, "reference-count"), ==, 0);
    g_autofree char *e3 = test_dm_fails(fx.c, "query-device", "x");
    g_assert_cmpstr(e3, ==, "DeviceNotFound: Device 'x' not found");

    /* generated ids: the lowest unused, skipping one a client chose */
    const char *const files[] = { "g0", "g1", "g2", "g3", "g4" };
    g_auto(GStrv) paths = g_new0(char *, G_N_ELEMENTS(files) + 1);
    for (guint i = 0; i < G_N_ELEMENTS(files); i++) {
        paths[i] = test_make_image(fx.dir, files[i]);
    }
    g_autoptr(JsonNode) g0 = dev_new(fx.c, "virtio-scsi", paths[0], NULL);
    g_autoptr(JsonNode) g1 = dev_new(fx.c, "virtio-blk", paths[1], NULL);
    g_autoptr(JsonNode) chosen = dev_new(fx.c, "virtio-scsi", paths[2], ", \"id\": \"dev2\"");
    g_assert_cmpstr(test_json_str(g0, "id"), ==, "dev0");
    g_assert_cmpstr(test_json_str(g1, "id"), ==, "dev1");
    g_assert_cmpstr(test_json_str(chosen, "id"), ==, "dev2");
    g_autoptr(JsonNode) rm0 = test_dm(fx.c, "device-remove", "dev0");
    g_autoptr(JsonNode) g3 = dev_new(fx.c, "virtio-scsi", paths[3], NULL);
    g_autoptr(JsonNode) g4 = dev_new(fx.c, "virtio-scsi", paths[4], NULL);
    g_assert_cmpstr(test_json_str(g3, "id"), ==, "dev0");
    g_assert_cmpstr(test_json_str(g4, "id"), ==, "dev3");
    g_assert_cmpstr(test_json_str(g1, "driver"), ==, "virtio-blk-pci");
    g_assert_cmpstr(test_json_str(g1, "kind"), ==, "virtio-blk");

    /* an id another host device has */
    g_autofree char *other = test_make_image(fx.dir, "other.img");
    g_autofree char *e4 =
        test_qmp_fails(fx.c,
                       "{\"execute\": \"" DM "device-new\", \"arguments\": {\"driver\": "
                       "\"virtio-scsi\", \"path\": \"%s\", \"id\": \"dev2\"}}",
                       other);
    g_assert_cmpstr(e4, ==, "GenericError: Device id 'dev2' is already in use");
    /* or QEMU has for a device of its own */
    g_autofree char *e5 =
        test_qmp_fails(fx.c,
                       "{\"execute\": \"" DM "device-new\", \"arguments\": {\"driver\": "
                       "\"virtio-scsi\", \"path\": \"%s\", \"id\": \"scsi0\"}}",
                       other);
    g_assert_cmpstr(e5, ==, "GenericError: Device id 'scsi0' is already in use");
    /* one host device is one device: not another kind, nor read-only too */
    g_autofree char *e6 =
        test_qmp_fails(fx.c,
                       "{\"execute\": \"" DM "device-new\", \"arguments\": {\"driver\": "
                       "\"vfio-pci\", \"path\": \"%s\"}}",
                       paths[1]);
    g_autofree char *want6 = g_strdup_printf(
        "GenericError: Device 'dev1' already exists for %s as virtio-blk", paths[1]);
    g_assert_cmpstr(e6, ==, want6);
    g_autofree char *e7 =
        test_qmp_fails(fx.c,
                       "{\"execute\": \"" DM "device-new\", \"arguments\": {\"driver\": "
                       "\"virtio-blk\", \"path\": \"%s\", \"read-only\": true}}",
                       paths[1]);
    g_assert_nonnull(strstr(e7, "already exists for"));
    g_autoptr(JsonNode) same = test_dm(fx.c, "query-device", "dev1");
    test_dm_assert_counts(same, "detached", 0, 1);

    /* a client plugs a device of its own under a manager device's id: the
     * attach fails in device_add (found crashing the proxy in review) */
    g_autoptr(JsonNode) node =
        test_qmp_ok(fx.c, "{\"execute\": \"blockdev-add\", \"arguments\": "
                          "{\"driver\": \"null-co\", \"node-name\": \"own\"}}");
    g_autoptr(JsonNode) own = test_qmp_ok(fx.c, "{\"execute\": \"device_add\", \"arguments\": "
                                                "{\"driver\": \"scsi-hd\", \"drive\": \"own\", "
                                                "\"bus\": \"scsi0.0\", \"id\": \"dev2\"}}");
    g_autofree char *e8 = test_dm_fails(fx.c, "device-attach", "dev2");
    g_assert_true(g_str_has_prefix(e8, "GenericError: device-attach dev2: device_add failed: "));
    g_autoptr(JsonNode) still = test_dm(fx.c, "query-device", "dev2");
    test_dm_assert_counts(still, "detached", 0, 1);

    /* ids QEMU would take, and ones it would not */
    const char *const good[] = { "a", "A-b.c_9", "a23456789012345678901234" };
    for (guint i = 0; i < G_N_ELEMENTS(good); i++) {
        g_autofree char *name = g_strdup_printf("good%u.img", i);
        g_autofree char *p = test_make_image(fx.dir, name);
        g_autofree char *more = g_strdup_printf(", \"id\": \"%s\"", good[i]);
        g_autoptr(JsonNode) gn = dev_new(fx.c, "virtio-scsi", p, more);
        g_assert_cmpstr(test_json_str(gn, "id"), ==, good[i]);
    }
    const char *const bad[] = { "",    "1a",  "-a",  "_a",
                                "a b", "a/b", "a:b", "a234567890123456789012345" };
    for (guint i = 0; i < G_N_ELEMENTS(bad); i++) {
        g_autofree char *bad_err =
            test_qmp_fails(fx.c,
                           "{\"execute\": \"" DM "device-new\", \"arguments\": "
                           "{\"driver\": \"virtio-scsi\", \"path\": \"%s\", \"id\": "
                           "\"%s\"}}",
                           other, bad[i]);
        if (!g_str_has_prefix(bad_err, "GenericError: ") || !strstr(bad_err, "'id'")) {
            g_error("id \"%s\": %s", bad[i], bad_err);
        }
    }
    fx_stop(&fx);
}

static void test_errors(void)
{
    const char *const ops[] = { "device-attach",    "device-detach",      "device-remove",
                                "device-reference", "device-dereference", "query-device" };
    Fx fx;

    fx_start(&fx);
    for (guint i = 0; i < G_N_ELEMENTS(ops); i++) {
        /* the whole reply, as QEMU words a missing device */
        g_autofree char *cmd = g_strdup_printf(
            "{\"execute\": \"" DM "%s\", \"arguments\": {\"id\": \"nosuch\"}, \"id\": 7}", ops[i]);
        g_autofree char *r = test_client_cmd(fx.c, cmd);
        g_assert_cmpstr(r, ==,
                        "{\"id\": 7, \"error\": {\"class\": \"DeviceNotFound\", \"desc\": "
                        "\"Device 'nosuch' not found\"}}");

        /* arguments checked against the schema, with QEMU's messages */
        g_autofree char *missing =
            test_qmp_fails(fx.c, "{\"execute\": \"" DM "%s\", \"arguments\": {}}", ops[i]);
        g_assert_cmpstr(missing, ==, "GenericError: Parameter 'id' is missing");
        g_autofree char *none = test_qmp_fails(fx.c, "{\"execute\": \"" DM "%s\"}", ops[i]);
        g_assert_cmpstr(none, ==, "GenericError: Parameter 'id' is missing");
        g_autofree char *type =
            test_qmp_fails(fx.c, "{\"execute\": \"" DM "%s\", \"arguments\": {\"id\": 5}}", ops[i]);
        g_assert_cmpstr(type, ==,
                        "GenericError: Invalid parameter type for 'id', expected: string");
        g_autofree char *extra = test_qmp_fails(
            fx.c, "{\"execute\": \"" DM "%s\", \"arguments\": {\"id\": \"a\", \"x\": 1}}", ops[i]);
        g_assert_cmpstr(extra, ==, "GenericError: Parameter 'x' is unexpected");
    }
    g_autofree char *e1 = test_qmp_fails(fx.c, "{\"execute\": \"" DM "device-new\", \"arguments\": "
                                               "{\"driver\": \"foo\", \"path\": \"/p\"}}");
    g_assert_cmpstr(e1, ==, "GenericError: Parameter 'driver' does not accept value 'foo'");
    g_autofree char *e2 = test_qmp_fails(
        fx.c, "{\"execute\": \"" DM "device-new\", \"arguments\": {\"driver\": \"virtio-scsi\"}}");
    g_assert_cmpstr(e2, ==, "GenericError: Parameter 'path' is missing");
    g_autofree char *e3 = test_qmp_fails(fx.c, "{\"execute\": \"" DM "device-new\", \"arguments\": "
                                               "{\"driver\": \"virtio-scsi\", \"path\": \"/p\", "
                                               "\"read-only\": \"yes\"}}");
    g_assert_cmpstr(e3, ==,
                    "GenericError: Invalid parameter type for 'read-only', expected: boolean");
    g_autofree char *e4 =
        test_qmp_fails(fx.c, "{\"execute\": \"" DM "device-new\", \"arguments\": "
                             "{\"driver\": \"virtio-scsi\", \"path\": \"/p\", \"x\": 1}}");
    g_assert_cmpstr(e4, ==, "GenericError: Parameter 'x' is unexpected");
    /* QEMU would open a relative path from its own working directory */
    const char *const relative[] = { "disk.img", "", "./disk.img" };
    for (guint i = 0; i < G_N_ELEMENTS(relative); i++) {
        g_autofree char *e5 = test_qmp_fails(fx.c,
                                             "{\"execute\": \"" DM "device-new\", \"arguments\": "
                                             "{\"driver\": \"virtio-blk\", \"path\": \"%s\"}}",
                                             relative[i]);
        g_assert_cmpstr(e5, ==, "GenericError: Parameter 'path' expects an absolute path");
    }
    /* none of that left a device behind */
    g_autoptr(JsonNode) all = test_qmp_ok(fx.c, "{\"execute\": \"" DM "query-devices\"}");
    JsonArray *list = json_node_get_array(all);
    for (guint i = 0; i < json_array_get_length(list); i++) {
        g_assert_false(test_json_has(json_array_get_element(list, i), "kind"));
    }
    fx_stop(&fx);
}

static void test_introspection(void)
{
    const char *const commands[] = { "device-new",    "device-attach",    "device-detach",
                                     "device-remove", "device-reference", "device-dereference",
                                     "query-device",  "query-devices" };
    const char *const events[] = { DM "DEVICE_ATTACHED", DM "DEVICE_DETACHED" };
    Fx fx;

    fx_start(&fx);
    g_autoptr(JsonNode) cmds = test_qmp_ok(fx.c, "{\"execute\": \"query-commands\"}");
    g_autoptr(GHashTable) names = g_hash_table_new(g_str_hash, g_str_equal);
    JsonArray *ca = json_node_get_array(cmds);
    for (guint i = 0; i < json_array_get_length(ca); i++) {
        g_hash_table_add(names, (gpointer)test_json_str(json_array_get_element(ca, i), "name"));
    }
    g_assert_true(g_hash_table_contains(names, "query-status"));
    for (guint i = 0; i < G_N_ELEMENTS(commands); i++) {
        g_autofree char *name = g_strconcat(DM, commands[i], NULL);
        g_assert_true(g_hash_table_contains(names, name));
    }

    g_autoptr(JsonNode) schema = test_qmp_ok(fx.c, "{\"execute\": \"query-qmp-schema\"}");
    g_autoptr(GHashTable) by_name = g_hash_table_new(g_str_hash, g_str_equal);
    JsonArray *sa = json_node_get_array(schema);
    for (guint i = 0; i < json_array_get_length(sa); i++) {
        JsonNode *e = json_array_get_element(sa, i);
        g_hash_table_insert(by_name, (gpointer)test_json_str(e, "name"), e);
    }
    g_assert_nonnull(g_hash_table_lookup(by_name, "query-status"));
    for (guint i = 0; i < G_N_ELEMENTS(commands); i++) {
        g_autofree char *name = g_strconcat(DM, commands[i], NULL);
        JsonNode *e = g_hash_table_lookup(by_name, name);
        if (!e) {
            g_error("%s is not in query-qmp-schema", name);
        }
        g_assert_cmpstr(test_json_str(e, "meta-type"), ==, "command");
        g_assert_nonnull(g_hash_table_lookup(by_name, test_json_str(e, "arg-type")));
        g_assert_nonnull(g_hash_table_lookup(by_name, test_json_str(e, "ret-type")));
    }
    for (guint i = 0; i < G_N_ELEMENTS(events); i++) {
        JsonNode *e = g_hash_table_lookup(by_name, events[i]);
        if (!e) {
            g_error("%s is not in query-qmp-schema", events[i]);
        }
        g_assert_cmpstr(test_json_str(e, "meta-type"), ==, "event");
        /* its data is the DeviceInfo object */
        JsonNode *data = g_hash_table_lookup(by_name, test_json_str(e, "arg-type"));
        g_assert_nonnull(data);
        g_assert_cmpstr(test_json_str(data, "meta-type"), ==, "object");
        g_autofree char *text = json_to_string(data, FALSE);
        g_assert_nonnull(strstr(text, "\"attach-count\""));
    }
    /* device-new's driver is the enum of the four kinds */
    JsonNode *new_cmd = g_hash_table_lookup(by_name, DM "device-new");
    JsonNode *args = g_hash_table_lookup(by_name, test_json_str(new_cmd, "arg-type"));
    JsonArray *members = json_object_get_array_member(json_node_get_object(args), "members");
    const char *driver_type = NULL;
    for (guint i = 0; i < json_array_get_length(members); i++) {
        JsonNode *m = json_array_get_element(members, i);
        if (g_strcmp0(test_json_str(m, "name"), "driver") == 0) {
            driver_type = test_json_str(m, "type");
        }
    }
    JsonNode *en = g_hash_table_lookup(by_name, driver_type);
    g_assert_nonnull(en);
    g_assert_cmpstr(test_json_str(en, "meta-type"), ==, "enum");
    g_autofree char *values =
        json_to_string(json_object_get_member(json_node_get_object(en), "values"), FALSE);
    g_assert_cmpstr(values, ==, "[\"virtio-blk\",\"virtio-scsi\",\"vhost-user-blk\",\"vfio-pci\"]");
    fx_stop(&fx);
}

/* Reads until an event named @name about device @id is among @events
 * (those read so far, kept); returns its data. */
static JsonNode *wait_event(TestClient *c, GPtrArray *events, const char *name, const char *id)
{
    for (guint i = 0;; i++) {
        if (i == events->len) {
            char *line = test_client_recv_line(c, 20000);

            if (!line) {
                g_error("no %s for %s", name, id);
            }
            g_ptr_array_add(events, line);
        }
        g_autoptr(JsonNode) ev = test_json_parse(g_ptr_array_index(events, i));
        JsonObject *o = json_node_get_object(ev);
        JsonObject *data =
            json_object_has_member(o, "data") ? json_object_get_object_member(o, "data") : NULL;

        if (g_strcmp0(test_json_str(ev, "event"), name) == 0 && data &&
            (g_strcmp0(json_object_get_string_member_with_default(data, "id", NULL), id) == 0 ||
             g_strcmp0(json_object_get_string_member_with_default(data, "device", NULL), id) ==
                 0)) {
            return json_node_copy(json_object_get_member(o, "data"));
        }
    }
}

/* How many of @events contain @text. */
static guint count_events(GPtrArray *events, const char *prefix)
{
    guint n = 0;

    for (guint i = 0; i < events->len; i++) {
        if (strstr(g_ptr_array_index(events, i), prefix)) {
            n++;
        }
    }
    return n;
}

/* Runs @cmd (must succeed), keeping the events before its reply. */
static JsonNode *ok_events(TestClient *c, GPtrArray *events, const char *cmd)
{
    test_client_send(c, cmd);
    g_autofree char *r = test_client_recv_reply(c, events);
    return test_qmp_reply(cmd, r, TRUE);
}

/* @op on device @id, keeping the events before its reply. */
static JsonNode *dev_events(TestClient *c, GPtrArray *events, const char *op, const char *id)
{
    g_autofree char *cmd =
        g_strdup_printf("{\"execute\": \"" DM "%s\", \"arguments\": {\"id\": \"%s\"}}", op, id);

    return ok_events(c, events, cmd);
}

static void test_capability_events(void)
{
    Fx fx;

    fx_start(&fx);
    /* the greeting offers the capability after QEMU's own */
    TestClient *raw = test_client_connect(fx.proxy->listen);
    g_autofree char *greeting = test_client_recv_line(raw, 20000);
    g_assert_nonnull(
        strstr(greeting, "\"capabilities\": [\"oob\", \"__org.qmproxy_device-manager\"]"));
    test_client_free(raw);

    TestClient *with = client_new(&fx, "{\"enable\": [\"__org.qmproxy_device-manager\"]}");
    TestClient *with_oob =
        client_new(&fx, "{\"enable\": [\"oob\", \"__org.qmproxy_device-manager\"]}");
    TestClient *without = client_new(&fx, "{\"enable\": [\"oob\"]}");
    g_autoptr(GPtrArray) ev_with = g_ptr_array_new_with_free_func(g_free);
    g_autoptr(GPtrArray) ev_oob = g_ptr_array_new_with_free_func(g_free);
    g_autoptr(GPtrArray) ev_without = g_ptr_array_new_with_free_func(g_free);
    g_autoptr(GPtrArray) ev_plain = g_ptr_array_new_with_free_func(g_free);
    g_autofree char *img = test_make_image(fx.dir, "e.img");

    g_autoptr(JsonNode) n = dev_new(with, "virtio-scsi", img, ", \"id\": \"ev\"");
    g_autoptr(JsonNode) a1 = dev_events(with, ev_with, "device-attach", "ev");
    g_autoptr(JsonNode) att = wait_event(with, ev_with, DM "DEVICE_ATTACHED", "ev");
    g_assert_cmpstr(test_json_str(att, "id"), ==, "ev");
    g_assert_cmpstr(test_json_str(att, "state"), ==, "attached");
    g_assert_cmpstr(test_json_str(att, "kind"), ==, "virtio-scsi");
    g_assert_cmpint(test_json_int(att, "attach-count"), ==, 1);
    g_assert_cmpint(test_json_int(att, "lun"), ==, 0);
    /* every client that enabled it is told, not only the one that asked */
    g_autoptr(JsonNode) att2 = wait_event(with_oob, ev_oob, DM "DEVICE_ATTACHED", "ev");
    g_assert_cmpstr(test_json_str(att2, "state"), ==, "attached");

    /* attaches and detaches that plug nothing send nothing */
    g_autoptr(JsonNode) a2 = dev_events(with, ev_with, "device-attach", "ev");
    g_autoptr(JsonNode) d1 = dev_events(with, ev_with, "device-detach", "ev");
    g_autoptr(JsonNode) d2 = dev_events(with, ev_with, "device-detach", "ev");
    g_autoptr(JsonNode) det = wait_event(with, ev_with, DM "DEVICE_DETACHED", "ev");
    g_assert_cmpstr(test_json_str(det, "state"), ==, "detached");
    g_assert_cmpint(test_json_int(det, "attach-count"), ==, 0);
    g_assert_false(test_json_has(det, "lun"));
    g_autoptr(JsonNode) det2 = wait_event(with_oob, ev_oob, DM "DEVICE_DETACHED", "ev");
    /* QEMU's own event still reaches everyone */
    g_autoptr(JsonNode) del = wait_event(with, ev_with, "DEVICE_DELETED", "ev");
    g_autoptr(JsonNode) del2 = wait_event(without, ev_without, "DEVICE_DELETED", "ev");

    /* a plain device_add is the client's business: no device-manager event */
    g_autoptr(JsonNode) bd = ok_events(with, ev_with,
                                       "{\"execute\": \"blockdev-add\", \"arguments\": "
                                       "{\"driver\": \"null-co\", \"node-name\": \"plain\"}}");
    g_autoptr(JsonNode) pa = ok_events(with, ev_with,
                                       "{\"execute\": \"device_add\", \"arguments\": "
                                       "{\"driver\": \"scsi-hd\", \"drive\": \"plain\", "
                                       "\"bus\": \"scsi0.0\", \"id\": \"plain0\"}}");
    /* query-devices still lists it, as the core knows it */
    g_autoptr(JsonNode) listed = test_dm_entry(with, "plain0");
    g_assert_nonnull(listed);
    g_assert_cmpstr(test_json_str(listed, "driver"), ==, "scsi-hd");
    g_assert_cmpstr(test_json_str(listed, "node-name"), ==, "plain");
    g_assert_false(test_json_has(listed, "kind"));
    g_autoptr(JsonNode) pd = ok_events(with, ev_with,
                                       "{\"execute\": \"device_del\", \"arguments\": "
                                       "{\"id\": \"plain0\"}}");
    g_autoptr(JsonNode) pdel = wait_event(with, ev_with, "DEVICE_DELETED", "plain0");

    /* a command after all that: anything sent to them came before its reply */
    g_autoptr(JsonNode) s1 = ok_events(with, ev_with, "{\"execute\": \"query-status\"}");
    g_autoptr(JsonNode) s2 = ok_events(with_oob, ev_oob, "{\"execute\": \"query-status\"}");
    g_autoptr(JsonNode) s3 = ok_events(without, ev_without, "{\"execute\": \"query-status\"}");
    g_autoptr(JsonNode) s4 = ok_events(fx.c, ev_plain, "{\"execute\": \"query-status\"}");
    g_assert_cmpuint(count_events(ev_with, DM "DEVICE_ATTACHED"), ==, 1);
    g_assert_cmpuint(count_events(ev_with, DM "DEVICE_DETACHED"), ==, 1);
    g_assert_cmpuint(count_events(ev_oob, DM "DEVICE_ATTACHED"), ==, 1);
    g_assert_cmpuint(count_events(ev_oob, DM "DEVICE_DETACHED"), ==, 1);
    g_assert_cmpuint(count_events(ev_oob, "\"DEVICE_DELETED\""), ==, 2);
    g_assert_cmpuint(count_events(ev_without, "__org.qmproxy_"), ==, 0);
    g_assert_cmpuint(count_events(ev_without, "\"DEVICE_DELETED\""), ==, 2);
    g_assert_cmpuint(count_events(ev_plain, "__org.qmproxy_"), ==, 0);
    g_assert_cmpuint(count_events(ev_plain, "\"DEVICE_DELETED\""), ==, 2);
    test_client_free(with);
    test_client_free(with_oob);
    test_client_free(without);
    fx_stop(&fx);
}

/* A loop device node to use read-only, or NULL: harmless to open, and
 * present on most Linux hosts. */
static char *find_block_device(struct stat *st)
{
    for (int i = 0; i < 8; i++) {
        g_autofree char *path = g_strdup_printf("/dev/loop%d", i);

        if (stat(path, st) == 0 && S_ISBLK(st->st_mode) && access(path, R_OK) == 0) {
            return g_steal_pointer(&path);
        }
    }
    return NULL;
}

static void test_block_device(void)
{
    struct stat st;
    g_autofree char *bdev = find_block_device(&st);
    Fx fx;

    if (!bdev) {
        g_test_skip("no readable /dev/loopN");
        return;
    }
    fx_start(&fx);
    g_autoptr(JsonNode) n = dev_new(fx.c, "virtio-scsi", bdev, ", \"read-only\": true");
    g_assert_cmpint(test_json_int(n, "major"), ==, major(st.st_rdev));
    g_assert_cmpint(test_json_int(n, "minor"), ==, minor(st.st_rdev));
    const char *id = test_json_str(n, "id");

    /* another path to the same block device is the same device */
    g_autofree char *link = g_build_filename(fx.dir, "link", NULL);
    g_assert_cmpint(symlink(bdev, link), ==, 0);
    g_autoptr(JsonNode) n2 = dev_new(fx.c, "virtio-scsi", link, ", \"read-only\": true");
    g_assert_cmpstr(test_json_str(n2, "id"), ==, id);
    g_assert_cmpint(test_json_int(n2, "reference-count"), ==, 2);
    g_autofree char *node_copy = g_build_filename(fx.dir, "node", NULL);
    if (mknod(node_copy, S_IFBLK | 0600, st.st_rdev) == 0) {
        g_autoptr(JsonNode) n3 = dev_new(fx.c, "virtio-scsi", node_copy, ", \"read-only\": true");
        g_assert_cmpstr(test_json_str(n3, "id"), ==, id);
        g_assert_cmpint(test_json_int(n3, "reference-count"), ==, 3);
    }

    /* a block device is opened with host_device */
    g_autoptr(JsonNode) a = test_dm(fx.c, "device-attach", id);
    g_autofree char *node_name = g_strconcat("drive-", id, NULL);
    g_autoptr(JsonNode) node = qemu_node(fx.c, node_name);
    g_assert_nonnull(node);
    g_assert_cmpstr(test_json_str(node, "drv"), ==, "host_device");
    g_assert_cmpstr(test_json_str(node, "file"), ==, bdev);
    g_assert_true(test_json_bool(node, "ro"));
    g_autoptr(JsonNode) d = test_dm(fx.c, "device-detach", id);
    test_qemu_assert_gone(fx.c, id);
    fx_stop(&fx);
}

static void test_pci_virtio_blk(void)
{
    const char *const opts[] = {
        "--hotplug-bus", "rp1", "--hotplug-bus", "rp2", "--unplug-timeout", "1", NULL
    };
    Fx fx;

    fx_start_full(&fx, base_args, opts);
    g_autofree char *img = test_make_image(fx.dir, "v.img");
    g_autofree char *img2 = test_make_image(fx.dir, "w.img");
    g_autoptr(JsonNode) n = dev_new(fx.c, "virtio-blk", img, ", \"id\": \"vd0\"");
    g_autoptr(JsonNode) n2 = dev_new(fx.c, "virtio-blk", img2, ", \"id\": \"vd1\"");
    g_assert_cmpstr(test_json_str(n, "driver"), ==, "virtio-blk-pci");

    /* a virtio-blk device QEMU refuses gives back its slot and its name */
    g_autofree char *img_l = test_make_image(fx.dir, "locked.img");
    int lock_fd = hold_write_lock(img_l);
    g_autoptr(JsonNode) nl = dev_new(fx.c, "virtio-blk", img_l, ", \"id\": \"vlocked\"");
    g_autofree char *e0 = test_dm_fails(fx.c, "device-attach", "vlocked");
    g_assert_cmpstr(e0, ==,
                    "GenericError: device-attach vlocked: device_add failed: Failed to get shared "
                    "\"write\" lock");
    assert_detached_clean(fx.c, "vlocked");
    close(lock_fd);

    /* the first root port's slot, then the second's; vda, vdb */
    g_autoptr(JsonNode) a = test_dm(fx.c, "device-attach", "vd0");
    g_autoptr(JsonNode) a2 = test_dm(fx.c, "device-attach", "vd1");
    g_assert_cmpstr(test_json_str(a, "bus"), ==, "rp1");
    g_assert_cmpint(test_json_int(a, "pci-slot"), ==, 0);
    g_assert_cmpstr(test_json_str(a, "drive-name"), ==, "vda");
    g_assert_cmpstr(test_json_str(a, "node-name"), ==, "drive-vd0");
    g_assert_cmpstr(test_json_str(a2, "bus"), ==, "rp2");
    g_assert_cmpint(test_json_int(a2, "pci-slot"), ==, 0);
    g_assert_cmpstr(test_json_str(a2, "drive-name"), ==, "vdb");
    g_autofree char *path1 = pci_path_behind(fx.c, "rp1");
    g_autofree char *path2 = pci_path_behind(fx.c, "rp2");
    g_assert_cmpstr(test_json_str(a, "pci-path"), ==, path1);
    g_assert_cmpstr(test_json_str(a2, "pci-path"), ==, path2);
    g_autofree char *bus = qom_bus(fx.c, "vd0");
    g_assert_cmpstr(bus, ==, "rp1");
    g_assert_cmpint(test_qom_int(fx.c, "vd0", "addr"), ==, 0);
    g_autofree char *drive = test_qom_str(fx.c, "vd0", "drive");
    g_assert_cmpstr(drive, ==, "drive-vd0");

    /* no guest acknowledges the unplug: the detach gives up, the device
     * stays unplugging, its back end stays */
    g_autofree char *e = test_dm_fails(fx.c, "device-detach", "vd0");
    g_assert_true(g_str_has_prefix(e, "GenericError: "));
    g_assert_nonnull(strstr(e, "did not release"));
    g_autoptr(JsonNode) q = test_dm(fx.c, "query-device", "vd0");
    g_assert_cmpstr(test_json_str(q, "state"), ==, "unplugging");
    g_assert_true(test_qemu_has_device(fx.c, "vd0"));
    g_assert_true(test_qemu_has_node(fx.c, "drive-vd0"));
    /* a later detach waits again, and again in vain */
    g_autofree char *e2 = test_dm_fails(fx.c, "device-detach", "vd0");
    g_assert_nonnull(strstr(e2, "did not release"));
    g_autoptr(JsonNode) q2 = test_dm(fx.c, "query-device", "vd0");
    g_assert_cmpstr(test_json_str(q2, "state"), ==, "unplugging");
    /* the other device was not held up */
    g_autoptr(JsonNode) q3 = test_dm(fx.c, "query-device", "vd1");
    test_dm_assert_counts(q3, "attached", 1, 1);
    fx_stop(&fx);
}

/* ---- vhost-user-blk against qemu-storage-daemon ---- */

static GPid storage_daemon_start(const char *image, const char *sock)
{
    g_autofree char *blockdev = g_strdup_printf("driver=file,node-name=f,filename=%s", image);
    g_autofree char *export = g_strdup_printf(
        "type=vhost-user-blk,id=e,node-name=f,addr.type=unix,addr.path=%s,writable=on", sock);
    const char *argv[] = {
        "qemu-storage-daemon", "--blockdev", blockdev, "--export", export, NULL
    };
    g_autoptr(GError) error = NULL;
    GPid pid;

    g_spawn_async(NULL, (char **)argv, NULL,
                  G_SPAWN_SEARCH_PATH | G_SPAWN_DO_NOT_REAP_CHILD | G_SPAWN_STDOUT_TO_DEV_NULL,
                  NULL, NULL, &pid, &error);
    g_assert_no_error(error);
    /* listening once a connection is taken (it serves the next one after) */
    test_client_free(test_client_connect(sock));
    return pid;
}

static void storage_daemon_stop(GPid pid)
{
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    g_spawn_close_pid(pid);
}

static void test_vhost_user_blk(void)
{
    const char *const args[] = {
        "-device",
        "virtio-scsi-pci,id=scsi0",
        "-device",
        "pcie-root-port,id=rp1,bus=pcie.0,chassis=1",
        "-device",
        "pcie-root-port,id=rp2,bus=pcie.0,chassis=2",
        /* vhost-user needs guest memory the back end can map */
        "-m",
        "256M",
        "-object",
        "memory-backend-memfd,id=mem,size=256M,share=on",
        "-numa",
        "node,memdev=mem",
        NULL,
    };
    g_autofree char *qsd = g_find_program_in_path("qemu-storage-daemon");
    Fx fx;

    if (!qsd) {
        g_test_skip("qemu-storage-daemon is not installed");
        return;
    }
    fx_start_full(&fx, args, base_opts);
    g_autofree char *img = test_make_image(fx.dir, "vu.img");
    g_autofree char *sock = g_build_filename(fx.dir, "vu.sock", NULL);
    GPid daemon = storage_daemon_start(img, sock);

    /* no back end there: chardev-add fails, the slot it had is free */
    g_autofree char *nosock = g_build_filename(fx.dir, "nosuch.sock", NULL);
    g_autoptr(JsonNode) nm = dev_new(fx.c, "vhost-user-blk", nosock, ", \"id\": \"vmiss\"");
    g_autofree char *e1 = test_dm_fails(fx.c, "device-attach", "vmiss");
    g_autofree char *want1 =
        g_strdup_printf("GenericError: device-attach vmiss: chardev-add failed: Failed to add "
                        "chardev 'char-vmiss': Failed to connect to '%s': No such file or "
                        "directory",
                        nosock);
    g_assert_cmpstr(e1, ==, want1);
    g_assert_false(has_chardev(fx.c, "char-vmiss"));
    assert_detached_clean(fx.c, "vmiss");

    /* device_add refused after chardev-add: the chardev goes again */
    g_autoptr(JsonNode) nb =
        dev_new(fx.c, "vhost-user-blk", sock, ", \"id\": \"vbad\", \"bus\": \"nosuch\"");
    g_autofree char *e2 = test_dm_fails(fx.c, "device-attach", "vbad");
    g_assert_cmpstr(e2, ==,
                    "GenericError: device-attach vbad: device_add failed: Bus 'nosuch' not found");
    g_assert_false(has_chardev(fx.c, "char-vbad"));
    assert_detached_clean(fx.c, "vbad");
    g_autoptr(JsonNode) rb = test_dm(fx.c, "device-remove", "vbad");
    g_assert_cmpint(test_json_int(rb, "reference-count"), ==, 0);

    /* the real thing: a chardev to the daemon, the device on rp1 */
    g_autoptr(JsonNode) n = dev_new(fx.c, "vhost-user-blk", sock, ", \"id\": \"vu0\"");
    g_assert_cmpstr(test_json_str(n, "driver"), ==, "vhost-user-blk-pci");
    g_assert_cmpstr(test_json_str(n, "kind"), ==, "vhost-user-blk");
    g_autoptr(JsonNode) a = test_dm(fx.c, "device-attach", "vu0");
    test_dm_assert_counts(a, "attached", 1, 1);
    g_assert_cmpstr(test_json_str(a, "chardev"), ==, "char-vu0");
    g_assert_cmpstr(test_json_str(a, "bus"), ==, "rp1");
    g_assert_cmpint(test_json_int(a, "pci-slot"), ==, 0);
    g_autofree char *path1 = pci_path_behind(fx.c, "rp1");
    g_assert_cmpstr(test_json_str(a, "pci-path"), ==, path1);
    g_assert_true(has_chardev(fx.c, "char-vu0"));
    g_autofree char *chardev = test_qom_str(fx.c, "vu0", "chardev");
    g_assert_cmpstr(chardev, ==, "char-vu0");
    g_autofree char *bus = qom_bus(fx.c, "vu0");
    g_assert_cmpstr(bus, ==, "rp1");
    fx_stop(&fx);
    storage_daemon_stop(daemon);
}

/* ---- vfio-pci against a scripted upstream ---- */

/* Answers as a QEMU 7.2 with one root port, rp1 (slot 2 of pcie.0),
 * would, and keeps what it was sent. */
typedef struct {
    int listen_fd;
    int conn_fd;
    char *path;
    GThread *thread;
    GMutex lock;
    GCond cond;
    GPtrArray *received;    /* the commands, as text */
    char *device_add_error; /* the desc device_add fails with, or NULL */
    gboolean hold;          /* device_add is not answered while set */
    gboolean deaf;          /* no DEVICE_DELETED after device_del (no guest) */
    gboolean negotiated;
} FakeQemu;

static void fake_send(int fd, const char *text)
{
    g_autofree char *line = g_strconcat(text, "\r\n", NULL);

    if (send(fd, line, strlen(line), MSG_NOSIGNAL) < 0) {
        return; /* the proxy is gone: nothing to do */
    }
}

static void fake_answer(FakeQemu *f, int fd, const char *text)
{
    g_autoptr(JsonNode) req = test_json_parse(text);
    JsonObject *o = json_node_get_object(req);
    const char *cmd = json_object_get_string_member(o, "execute");
    JsonObject *args = json_object_has_member(o, "arguments")
                           ? json_object_get_object_member(o, "arguments")
                           : NULL;
    g_autofree char *id = json_object_has_member(o, "id")
                              ? json_to_string(json_object_get_member(o, "id"), FALSE)
                              : g_strdup("null");
    g_autofree char *ret = NULL;
    g_autofree char *error = NULL;
    g_autofree char *event = NULL;

    g_mutex_lock(&f->lock);
    g_ptr_array_add(f->received, g_strdup(text));
    if (strcmp(cmd, "qmp_capabilities") == 0) {
        if (f->negotiated) {
            error = g_strdup("\"class\": \"CommandNotFound\", \"desc\": \"Capabilities "
                             "negotiation is already complete, command ignored\"");
        } else {
            ret = g_strdup("{}");
        }
        f->negotiated = TRUE;
    } else if (strcmp(cmd, "qom-list") == 0) {
        ret = g_strdup("[{\"name\": \"type\", \"type\": \"string\"}, {\"name\": \"rp1\", "
                       "\"type\": \"child<pcie-root-port>\"}]");
    } else if (strcmp(cmd, "qom-get") == 0) {
        const char *prop = json_object_get_string_member(args, "property");

        if (strcmp(prop, "parent_bus") == 0) {
            ret = g_strdup("\"/machine/q35/pcie.0\"");
        } else if (strcmp(prop, "addr") == 0) {
            ret = g_strdup("16");
        } else {
            error = g_strdup_printf("\"class\": \"GenericError\", \"desc\": \"Property "
                                    "'pcie-root-port.%s' not found\"",
                                    prop);
        }
    } else if (strcmp(cmd, "device_add") == 0 && (f->hold || f->device_add_error)) {
        while (f->hold) {
            g_cond_wait(&f->cond, &f->lock);
        }
        error = !f->device_add_error
                    ? NULL
                    : g_strdup_printf("\"class\": \"GenericError\", \"desc\": \"%s\"",
                                      f->device_add_error);
    } else {
        ret = g_strdup("{}");
        if (strcmp(cmd, "device_del") == 0 && !f->deaf) {
            /* as if the guest let go at once */
            const char *dev_id = json_object_get_string_member(args, "id");
            event =
                g_strdup_printf("{\"timestamp\": {\"seconds\": 1, \"microseconds\": 2}, \"event\": "
                                "\"DEVICE_DELETED\", \"data\": {\"device\": \"%s\", \"path\": "
                                "\"/machine/peripheral/%s\"}}",
                                dev_id, dev_id);
        }
    }
    g_mutex_unlock(&f->lock);
    g_autofree char *reply =
        !error ? g_strdup_printf("{\"return\": %s, \"id\": %s}", ret ? ret : "{}", id)
               : g_strdup_printf("{\"id\": %s, \"error\": {%s}}", id, error);
    fake_send(fd, reply);
    if (event) {
        fake_send(fd, event);
    }
}

static gpointer fake_run(gpointer data)
{
    FakeQemu *f = data;
    g_autoptr(GString) in = g_string_new(NULL);
    int fd = accept(f->listen_fd, NULL, NULL);

    if (fd < 0) {
        return NULL;
    }
    g_mutex_lock(&f->lock);
    f->conn_fd = fd;
    g_mutex_unlock(&f->lock);
    fake_send(fd, TEST_FAKE_GREETING);
    for (;;) {
        gsize end;
        char buf[4096];

        while ((end = test_json_object_end(in->str, in->len))) {
            g_autofree char *text = g_strndup(in->str, end);

            g_string_erase(in, 0, (gssize)end);
            fake_answer(f, fd, g_strstrip(text));
        }
        ssize_t n = recv(fd, buf, sizeof(buf), 0);
        if (n <= 0) {
            break;
        }
        g_string_append_len(in, buf, n);
    }
    return NULL;
}

static FakeQemu *fake_start(const char *path)
{
    FakeQemu *f = g_new0(FakeQemu, 1);
    struct sockaddr_un addr = { .sun_family = AF_UNIX };

    g_mutex_init(&f->lock);
    g_cond_init(&f->cond);
    f->received = g_ptr_array_new_with_free_func(g_free);
    f->path = g_strdup(path);
    f->conn_fd = -1;
    g_strlcpy(addr.sun_path, path, sizeof(addr.sun_path));
    f->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    g_assert_cmpint(bind(f->listen_fd, (struct sockaddr *)&addr, sizeof(addr)), ==, 0);
    g_assert_cmpint(listen(f->listen_fd, 4), ==, 0);
    f->thread = g_thread_new("fake-qemu", fake_run, f);
    return f;
}

/* Sets one of @f's flags, waking a held device_add. */
static void fake_set(FakeQemu *f, gboolean *flag, gboolean value)
{
    g_mutex_lock(&f->lock);
    *flag = value;
    g_cond_broadcast(&f->cond);
    g_mutex_unlock(&f->lock);
}

static void fake_free(FakeQemu *f)
{
    fake_set(f, &f->hold, FALSE);
    shutdown(f->listen_fd, SHUT_RDWR);
    g_mutex_lock(&f->lock);
    if (f->conn_fd >= 0) {
        shutdown(f->conn_fd, SHUT_RDWR);
    }
    g_mutex_unlock(&f->lock);
    g_thread_join(f->thread);
    if (f->conn_fd >= 0) {
        close(f->conn_fd);
    }
    close(f->listen_fd);
    g_unlink(f->path);
    g_ptr_array_unref(f->received);
    g_mutex_clear(&f->lock);
    g_cond_clear(&f->cond);
    g_free(f->device_add_error);
    g_free(f->path);
    g_free(f);
}

/* The commands named @cmd the fake got, parsed. */
static GPtrArray *fake_got(FakeQemu *f, const char *cmd)
{
    GPtrArray *found = g_ptr_array_new_with_free_func((GDestroyNotify)json_node_unref);
    g_autofree char *needle = g_strdup_printf("\"execute\": \"%s\"", cmd);

    g_mutex_lock(&f->lock);
    for (guint i = 0; i < f->received->len; i++) {
        if (strstr(g_ptr_array_index(f->received, i), needle)) {
            g_ptr_array_add(found, test_json_parse(g_ptr_array_index(f->received, i)));
        }
    }
    g_mutex_unlock(&f->lock);
    return found;
}

static void test_vfio_pci(void)
{
    g_autofree char *dir = g_dir_make_tmp("qmproxy-test-XXXXXX", NULL);
    g_autofree char *up = g_build_filename(dir, "fake.sock", NULL);
    FakeQemu *fake = fake_start(up);
    TestProxy *p = test_proxy_start(up, dir, (const char *const[]){ "--hotplug-bus", "rp1", NULL });
    TestClient *c = client_at(p->listen, NULL);
    g_autoptr(JsonNode) n =
        dev_new(c, "vfio-pci", "/sys/bus/pci/devices/0000:01:00.0", ", \"id\": \"gpu\"");
    g_assert_cmpstr(test_json_str(n, "driver"), ==, "vfio-pci");
    g_assert_cmpstr(test_json_str(n, "kind"), ==, "vfio-pci");

    g_autoptr(JsonNode) a = test_dm(c, "device-attach", "gpu");
    test_dm_assert_counts(a, "attached", 1, 1);
    g_assert_cmpstr(test_json_str(a, "bus"), ==, "rp1");
    g_assert_cmpint(test_json_int(a, "pci-slot"), ==, 0);
    g_assert_cmpstr(test_json_str(a, "pci-path"), ==, "02/00");
    /* the device_add the proxy sent: the host address from the path */
    g_autoptr(GPtrArray) adds = fake_got(fake, "device_add");
    g_assert_cmpuint(adds->len, ==, 1);
    JsonObject *args = json_object_get_object_member(
        json_node_get_object(g_ptr_array_index(adds, 0)), "arguments");
    g_assert_cmpstr(json_object_get_string_member(args, "driver"), ==, "vfio-pci");
    g_assert_cmpstr(json_object_get_string_member(args, "host"), ==, "0000:01:00.0");
    g_assert_cmpstr(json_object_get_string_member(args, "id"), ==, "gpu");
    g_assert_cmpstr(json_object_get_string_member(args, "bus"), ==, "rp1");
    g_assert_false(json_object_has_member(args, "drive"));
    g_assert_false(json_object_has_member(args, "chardev"));

    /* the fake answers device_del with DEVICE_DELETED, as a guest would */
    g_autoptr(JsonNode) d = test_dm(c, "device-detach", "gpu");
    test_dm_assert_counts(d, "detached", 0, 1);
    g_autoptr(GPtrArray) dels = fake_got(fake, "device_del");
    g_assert_cmpuint(dels->len, ==, 1);

    /* QEMU's refusal comes back in the proxy's words around QEMU's */
    g_mutex_lock(&fake->lock);
    fake->device_add_error = g_strdup("vfio 0000:01:00.0: group 1 is not viable");
    g_mutex_unlock(&fake->lock);
    g_autofree char *e = test_dm_fails(c, "device-attach", "gpu");
    g_assert_cmpstr(e, ==,
                    "GenericError: device-attach gpu: device_add failed: vfio 0000:01:00.0: group "
                    "1 is not viable");
    g_autoptr(JsonNode) q = test_dm(c, "query-device", "gpu");
    test_dm_assert_counts(q, "detached", 0, 1);
    test_dm_assert_no_address(q);
    /* no back end for vfio: nothing to add or to take back */
    g_autoptr(GPtrArray) bds = fake_got(fake, "blockdev-add");
    g_autoptr(GPtrArray) chs = fake_got(fake, "chardev-add");
    g_autoptr(GPtrArray) adds2 = fake_got(fake, "device_add");
    g_assert_cmpuint(bds->len, ==, 0);
    g_assert_cmpuint(chs->len, ==, 0);
    g_assert_cmpuint(adds2->len, ==, 2);

    test_client_free(c);
    test_proxy_free(p);
    fake_free(fake);
    g_rmdir(dir);
}

/* Waits until the fake has got @n commands named @cmd. */
static void fake_wait_for(FakeQemu *f, const char *cmd, guint n)
{
    for (int tries = 0; tries < 2000; tries++) {
        g_autoptr(GPtrArray) got = fake_got(f, cmd);

        if (got->len >= n) {
            return;
        }
        g_usleep(5000);
    }
    g_error("the fake never got %u %s", n, cmd);
}

static void test_client_gone(void)
{
    g_autofree char *dir = g_dir_make_tmp("qmproxy-test-XXXXXX", NULL);
    g_autofree char *up = g_build_filename(dir, "fake.sock", NULL);
    FakeQemu *fake = fake_start(up);
    TestProxy *p = test_proxy_start(
        up, dir, (const char *const[]){ "--hotplug-bus", "rp1", "--unplug-timeout", "1", NULL });
    TestClient *c = client_at(p->listen, NULL);
    g_autoptr(JsonNode) n =
        dev_new(c, "vfio-pci", "/sys/bus/pci/devices/0000:02:00.0", ", \"id\": \"gpu\"");

    /* a client that is gone by the time its attach completes */
    TestClient *x = client_at(p->listen, NULL);
    fake_set(fake, &fake->hold, TRUE);
    dev_send(x, "device-attach", "gpu");
    fake_wait_for(fake, "device_add", 1);
    test_client_free(x);
    fake_set(fake, &fake->hold, FALSE);
    /* the attach went on without it; a query waits behind it */
    g_autoptr(JsonNode) q = test_dm(c, "query-device", "gpu");
    test_dm_assert_counts(q, "attached", 1, 1);

    /* one gone while its detach waits for an unplug that never ends */
    fake_set(fake, &fake->deaf, TRUE);
    TestClient *y = client_at(p->listen, NULL);
    dev_send(y, "device-detach", "gpu");
    fake_wait_for(fake, "device_del", 1);
    test_client_free(y);
    /* after its time-out, the next detach waits again, in vain */
    g_autofree char *e = test_dm_fails(c, "device-detach", "gpu");
    g_assert_nonnull(strstr(e, "did not release"));
    g_autoptr(JsonNode) q2 = test_dm(c, "query-device", "gpu");
    g_assert_cmpstr(test_json_str(q2, "state"), ==, "unplugging");
    g_autoptr(GPtrArray) dels = fake_got(fake, "device_del");
    g_assert_cmpuint(dels->len, ==, 1);

    /* stopped with a detach waiting: a clean exit all the same */
    dev_send(c, "device-detach", "gpu");
    test_proxy_free(p);
    test_client_free(c);
    fake_free(fake);
    g_rmdir(dir);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    test_require_qemu();
    g_test_add_func("/manager/scsi/attach-detach", test_scsi_attach_detach);
    g_test_add_func("/manager/scsi/shared-disk", test_shared_disk);
    g_test_add_func("/manager/scsi/cycles-stay-low", test_cycles_stay_low);
    g_test_add_func("/manager/attach-failures", test_attach_failures);
    g_test_add_func("/manager/concurrent-clients", test_concurrent_clients);
    g_test_add_func("/manager/counts-and-ids", test_counts_and_ids);
    g_test_add_func("/manager/errors", test_errors);
    g_test_add_func("/manager/introspection", test_introspection);
    g_test_add_func("/manager/capability-events", test_capability_events);
    g_test_add_func("/manager/block-device", test_block_device);
    g_test_add_func("/manager/pci/virtio-blk-unplug-timeout", test_pci_virtio_blk);
    g_test_add_func("/manager/vhost-user-blk", test_vhost_user_blk);
    g_test_add_func("/manager/vfio-pci", test_vfio_pci);
    g_test_add_func("/manager/client-gone", test_client_gone);
    return g_test_run();
}
