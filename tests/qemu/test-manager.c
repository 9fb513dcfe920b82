/* test-manager.c - the device manager's QMP API (issue #5) on SCSI disks:
 * device-new, device-attach, device-detach, device-remove and the
 * reference counts, as Kata's device manager uses them, and the API's
 * rules (ids, errors, introspection, events, many clients at once).
 * Against a real QEMU without a guest (so SCSI unplugs complete); every
 * claim of a reply is read back from QEMU (qom-get, qom-list,
 * query-named-block-nodes). The other kinds of device are in
 * test-manager-kinds.c. */
#include "fixture.h"

#include <json-glib/json-glib.h>

#include <glib/gstdio.h>
#include <string.h>
#include <unistd.h>

/* ---- what QEMU has ---- */

/* The SCSI address in the reply is the one QEMU has, on the bus it says. */
static void assert_scsi_in_qemu(TestClient *c, JsonNode *info)
{
    const char *id = test_json_str(info, "id");

    test_fixture_assert_scsi_address(c, info);
    g_autofree char *bus = test_fixture_qom_bus(c, id);
    g_assert_cmpstr(bus, ==, test_json_str(info, "bus"));
}

/* ---- tests ---- */

static void test_scsi_attach_detach(void)
{
    TestFixture fx;

    test_fixture_start(&fx);
    /* a file name JSON must escape, to the file QEMU opens */
    g_autofree char *img0 = test_make_image(fx.dir, "disk \"0\"\\ \u00e9.img");
    g_autofree char *img1 = test_make_image(fx.dir, "disk1.img");

    g_autoptr(JsonNode) n = test_fixture_dev_new(fx.c, "virtio-scsi", img0, ", \"id\": \"disk0\"");
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
    g_autoptr(JsonNode) node = test_fixture_qemu_node(fx.c, "drive-disk0");
    g_assert_nonnull(node);
    g_assert_cmpstr(test_json_str(node, "drv"), ==, "file");
    g_assert_cmpstr(test_json_str(node, "file"), ==, img0);
    g_assert_false(test_json_bool(node, "ro"));
    g_autoptr(JsonNode) q = test_dm(fx.c, "query-device", "disk0");
    test_dm_assert_counts(q, "attached", 1, 1);
    g_assert_cmpint(test_json_int(q, "lun"), ==, 0);

    /* a read-only disk next to it: the next index, a read-only node */
    g_autoptr(JsonNode) n1 =
        test_fixture_dev_new(fx.c, "virtio-scsi", img1, ", \"id\": \"disk1\", \"read-only\": true");
    g_assert_true(test_json_bool(n1, "read-only"));
    g_autoptr(JsonNode) a1 = test_dm(fx.c, "device-attach", "disk1");
    g_assert_cmpint(test_json_int(a1, "index"), ==, 1);
    assert_scsi_in_qemu(fx.c, a1);
    g_autoptr(JsonNode) node1 = test_fixture_qemu_node(fx.c, "drive-disk1");
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
    test_fixture_stop(&fx);
}

static void test_shared_disk(void)
{
    TestFixture fx;

    test_fixture_start(&fx);
    g_autofree char *img = test_make_image(fx.dir, "shared.img");
    /* two containers ask for the same disk: one device, two references */
    g_autoptr(JsonNode) n1 = test_fixture_dev_new(fx.c, "virtio-scsi", img, NULL);
    g_autoptr(JsonNode) n2 = test_fixture_dev_new(fx.c, "virtio-scsi", img, NULL);
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
    test_fixture_stop(&fx);
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
    TestFixture fx;

    test_fixture_start(&fx);
    for (int k = 0; k < CYCLE_CLIENTS; k++) {
        cl[k] = test_fixture_client(&fx, NULL);
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
            test_fixture_dev_send(cl[k], "device-attach", ids[k]);
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
            test_fixture_dev_send(cl[k], "device-detach", ids[k]);
            test_fixture_dev_send(cl[k], "device-remove", ids[k]);
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
    test_fixture_stop(&fx);
}

static void test_attach_failures(void)
{
    TestFixture fx;

    test_fixture_start(&fx);
    /* a missing file is only found at attach, by QEMU's blockdev-add */
    g_autofree char *missing = g_build_filename(fx.dir, "missing.img", NULL);
    g_autoptr(JsonNode) nm = test_fixture_dev_new(fx.c, "virtio-scsi", missing, ", \"id\": \"m\"");
    g_autofree char *e1 = test_dm_fails(fx.c, "device-attach", "m");
    g_autofree char *want1 = g_strdup_printf(
        "GenericError: device-attach m: blockdev-add failed: Could not open '%s': No such file "
        "or directory",
        missing);
    g_assert_cmpstr(e1, ==, want1);
    test_fixture_assert_detached_clean(fx.c, "m");

    /* device_add refused after blockdev-add: the node goes again */
    g_autofree char *img_b = test_make_image(fx.dir, "b.img");
    g_autoptr(JsonNode) nb =
        test_fixture_dev_new(fx.c, "virtio-scsi", img_b, ", \"id\": \"b\", \"bus\": \"nosuch.0\"");
    g_autofree char *e2 = test_dm_fails(fx.c, "device-attach", "b");
    g_assert_cmpstr(e2, ==,
                    "GenericError: device-attach b: device_add failed: Bus 'nosuch.0' not found");
    test_fixture_assert_detached_clean(fx.c, "b");

    /* refused on the real bus: the index it had is free again */
    int lock_fd = test_fixture_attach_locked(&fx, "virtio-scsi", "locked");
    g_autofree char *img_g = test_make_image(fx.dir, "good.img");
    g_autoptr(JsonNode) ng = test_fixture_dev_new(fx.c, "virtio-scsi", img_g, ", \"id\": \"good\"");
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
    test_fixture_stop(&fx);
}

#define N_CLIENTS 4

static void test_concurrent_clients(void)
{
    TestFixture fx;
    TestClient *cl[N_CLIENTS];
    g_autofree char *shared_img = NULL;
    const char *const own[] = { "a", "b", "c" };

    test_fixture_start(&fx);
    shared_img = test_make_image(fx.dir, "shared.img");
    for (int i = 0; i < N_CLIENTS; i++) {
        cl[i] = test_fixture_client(&fx, NULL);
        for (guint k = 0; k < G_N_ELEMENTS(own); k++) {
            g_autofree char *name = g_strdup_printf("m%d%s.img", i, own[k]);
            g_autofree char *img = test_make_image(fx.dir, name);
            g_autofree char *more = g_strdup_printf(", \"id\": \"m%d%s\"", i, own[k]);
            g_autoptr(JsonNode) n = test_fixture_dev_new(cl[i], "virtio-scsi", img, more);
        }
        /* every container references the one shared disk */
        g_autoptr(JsonNode) s = test_fixture_dev_new(cl[i], "virtio-scsi", shared_img, NULL);
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
    test_fixture_stop(&fx);
}

static void test_counts_and_ids(void)
{
    TestFixture fx;

    test_fixture_start(&fx);
    g_autofree char *img = test_make_image(fx.dir, "a.img");
    g_autoptr(JsonNode) n = test_fixture_dev_new(fx.c, "virtio-scsi", img, ", \"id\": \"x\"");

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
    g_autoptr(JsonNode) g0 = test_fixture_dev_new(fx.c, "virtio-scsi", paths[0], NULL);
    g_autoptr(JsonNode) g1 = test_fixture_dev_new(fx.c, "virtio-blk", paths[1], NULL);
    g_autoptr(JsonNode) chosen =
        test_fixture_dev_new(fx.c, "virtio-scsi", paths[2], ", \"id\": \"dev2\"");
    g_assert_cmpstr(test_json_str(g0, "id"), ==, "dev0");
    g_assert_cmpstr(test_json_str(g1, "id"), ==, "dev1");
    g_assert_cmpstr(test_json_str(chosen, "id"), ==, "dev2");
    g_autoptr(JsonNode) rm0 = test_dm(fx.c, "device-remove", "dev0");
    g_autoptr(JsonNode) g3 = test_fixture_dev_new(fx.c, "virtio-scsi", paths[3], NULL);
    g_autoptr(JsonNode) g4 = test_fixture_dev_new(fx.c, "virtio-scsi", paths[4], NULL);
    g_assert_cmpstr(test_json_str(g3, "id"), ==, "dev0");
    g_assert_cmpstr(test_json_str(g4, "id"), ==, "dev3");
    g_assert_cmpstr(test_json_str(g1, "driver"), ==, "virtio-blk-pci");
    g_assert_cmpstr(test_json_str(g1, "kind"), ==, "virtio-blk");

    /* an id another host device has */
    g_autofree char *other = test_make_image(fx.dir, "other.img");
    g_autofree char *e4 = test_fixture_scsi_new_fails(fx.c, other, "dev2");
    g_assert_cmpstr(e4, ==, "GenericError: Device id 'dev2' is already in use");
    /* or QEMU has for a device of its own */
    g_autofree char *e5 = test_fixture_scsi_new_fails(fx.c, other, "scsi0");
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
        g_autoptr(JsonNode) gn = test_fixture_dev_new(fx.c, "virtio-scsi", p, more);
        g_assert_cmpstr(test_json_str(gn, "id"), ==, good[i]);
    }
    const char *const bad[] = { "",    "1a",  "-a",  "_a",
                                "a b", "a/b", "a:b", "a234567890123456789012345" };
    for (guint i = 0; i < G_N_ELEMENTS(bad); i++) {
        g_autofree char *bad_err = test_fixture_scsi_new_fails(fx.c, other, bad[i]);
        if (!g_str_has_prefix(bad_err, "GenericError: ") || !strstr(bad_err, "'id'")) {
            g_error("id \"%s\": %s", bad[i], bad_err);
        }
    }
    test_fixture_stop(&fx);
}

static void test_errors(void)
{
    const char *const ops[] = { "device-attach",    "device-detach",      "device-remove",
                                "device-reference", "device-dereference", "query-device" };
    TestFixture fx;

    test_fixture_start(&fx);
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
    test_fixture_stop(&fx);
}

static void test_introspection(void)
{
    const char *const commands[] = { "device-new",    "device-attach",    "device-detach",
                                     "device-remove", "device-reference", "device-dereference",
                                     "query-device",  "query-devices" };
    const char *const events[] = { DM "DEVICE_ATTACHED", DM "DEVICE_DETACHED" };
    TestFixture fx;

    test_fixture_start(&fx);
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
    g_assert_cmpstr(values, ==,
                    "[\"virtio-blk\",\"virtio-scsi\",\"vhost-user-blk\",\"vfio-pci\","
                    "\"vhost-user-fs\",\"vhost-user-net\",\"vhost-user-scsi\"]");
    test_fixture_stop(&fx);
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
    TestFixture fx;

    test_fixture_start(&fx);
    /* the greeting offers QEMU's capabilities only; the proxy's is
     * enabled by name, and introspection declares it */
    TestClient *raw = test_client_connect(fx.proxy->listen);
    g_autofree char *greeting = test_client_recv_line(raw, 20000);
    g_assert_nonnull(strstr(greeting, "\"capabilities\": [\"oob\"]"));
    test_client_free(raw);
    g_autofree char *schema = test_client_cmd(fx.c, "{\"execute\": \"query-qmp-schema\"}");
    g_assert_nonnull(strstr(schema, "{\"name\": \"__org.qmproxy_QMPCapability\", \"members\": "
                                    "[{\"name\": \"__org.qmproxy_device-manager\"}], "
                                    "\"meta-type\": \"enum\", \"values\": "
                                    "[\"__org.qmproxy_device-manager\"]}"));

    TestClient *with = test_fixture_client(&fx, "{\"enable\": [\"__org.qmproxy_device-manager\"]}");
    TestClient *with_oob =
        test_fixture_client(&fx, "{\"enable\": [\"oob\", \"__org.qmproxy_device-manager\"]}");
    TestClient *without = test_fixture_client(&fx, "{\"enable\": [\"oob\"]}");
    g_autoptr(GPtrArray) ev_with = g_ptr_array_new_with_free_func(g_free);
    g_autoptr(GPtrArray) ev_oob = g_ptr_array_new_with_free_func(g_free);
    g_autoptr(GPtrArray) ev_without = g_ptr_array_new_with_free_func(g_free);
    g_autoptr(GPtrArray) ev_plain = g_ptr_array_new_with_free_func(g_free);
    g_autofree char *img = test_make_image(fx.dir, "e.img");

    g_autoptr(JsonNode) n = test_fixture_dev_new(with, "virtio-scsi", img, ", \"id\": \"ev\"");
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
    test_fixture_stop(&fx);
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
    return g_test_run();
}
