/* test-manager-kinds.c - the device manager's QMP API (issue #5) on the
 * devices other than SCSI disks on files: block devices, virtio-blk and
 * its PCI unplug that needs a guest, vhost-user-blk against
 * qemu-storage-daemon, and vfio-pci against a scripted upstream, since no
 * test host has a device to give away (with it, a client that goes away
 * in the middle of an attach or a detach). Every claim of a reply is read
 * back from QEMU (qom-get, qom-list, query-named-block-nodes,
 * query-chardev) or from what the scripted upstream was sent. */
#include "fixture.h"
#include "fake-qemu.h"

#include <json-glib/json-glib.h>

#include <glib/gstdio.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

/* ---- what QEMU has ---- */

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

/* Kata's PCI path of slot 0 behind root port @port: "port's slot/00". */
static char *pci_path_behind(TestClient *c, const char *port)
{
    return g_strdup_printf("%02x/00", (unsigned)(test_qom_int(c, port, "addr") >> 3));
}

/* ---- block devices, and virtio-blk on PCI ---- */

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
    TestFixture fx;

    if (!bdev) {
        g_test_skip("no readable /dev/loopN");
        return;
    }
    test_fixture_start(&fx);
    g_autoptr(JsonNode) n =
        test_fixture_dev_new(fx.c, "virtio-scsi", bdev, ", \"read-only\": true");
    g_assert_cmpint(test_json_int(n, "major"), ==, major(st.st_rdev));
    g_assert_cmpint(test_json_int(n, "minor"), ==, minor(st.st_rdev));
    const char *id = test_json_str(n, "id");

    /* another path to the same block device is the same device */
    g_autofree char *link = g_build_filename(fx.dir, "link", NULL);
    g_assert_cmpint(symlink(bdev, link), ==, 0);
    g_autoptr(JsonNode) n2 =
        test_fixture_dev_new(fx.c, "virtio-scsi", link, ", \"read-only\": true");
    g_assert_cmpstr(test_json_str(n2, "id"), ==, id);
    g_assert_cmpint(test_json_int(n2, "reference-count"), ==, 2);
    g_autofree char *node_copy = g_build_filename(fx.dir, "node", NULL);
    if (mknod(node_copy, S_IFBLK | 0600, st.st_rdev) == 0) {
        g_autoptr(JsonNode) n3 =
            test_fixture_dev_new(fx.c, "virtio-scsi", node_copy, ", \"read-only\": true");
        g_assert_cmpstr(test_json_str(n3, "id"), ==, id);
        g_assert_cmpint(test_json_int(n3, "reference-count"), ==, 3);
    }

    /* a block device is opened with host_device */
    g_autoptr(JsonNode) a = test_dm(fx.c, "device-attach", id);
    g_autofree char *node_name = g_strconcat("drive-", id, NULL);
    g_autoptr(JsonNode) node = test_fixture_qemu_node(fx.c, node_name);
    g_assert_nonnull(node);
    g_assert_cmpstr(test_json_str(node, "drv"), ==, "host_device");
    g_assert_cmpstr(test_json_str(node, "file"), ==, bdev);
    g_assert_true(test_json_bool(node, "ro"));
    g_autoptr(JsonNode) d = test_dm(fx.c, "device-detach", id);
    test_qemu_assert_gone(fx.c, id);
    test_fixture_stop(&fx);
}

static void test_pci_virtio_blk(void)
{
    const char *const opts[] = {
        "--hotplug-bus", "rp1", "--hotplug-bus", "rp2", "--unplug-timeout", "1", NULL
    };
    TestFixture fx;

    test_fixture_start_full(&fx, test_fixture_ports_args, opts);
    g_autofree char *img = test_make_image(fx.dir, "v.img");
    g_autofree char *img2 = test_make_image(fx.dir, "w.img");
    g_autoptr(JsonNode) n = test_fixture_dev_new(fx.c, "virtio-blk", img, ", \"id\": \"vd0\"");
    g_autoptr(JsonNode) n2 = test_fixture_dev_new(fx.c, "virtio-blk", img2, ", \"id\": \"vd1\"");
    g_assert_cmpstr(test_json_str(n, "driver"), ==, "virtio-blk-pci");

    /* a virtio-blk device QEMU refuses gives back its slot and its name */
    int lock_fd = test_fixture_attach_locked(&fx, "virtio-blk", "vlocked");
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
    g_autofree char *bus = test_fixture_qom_bus(fx.c, "vd0");
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
    test_fixture_stop(&fx);
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
    TestFixture fx;

    if (!qsd) {
        g_test_skip("qemu-storage-daemon is not installed");
        return;
    }
    test_fixture_start_full(&fx, args, test_fixture_ports_opts);
    g_autofree char *img = test_make_image(fx.dir, "vu.img");
    g_autofree char *sock = g_build_filename(fx.dir, "vu.sock", NULL);
    GPid daemon = storage_daemon_start(img, sock);

    /* no back end there: chardev-add fails, the slot it had is free */
    g_autofree char *nosock = g_build_filename(fx.dir, "nosuch.sock", NULL);
    g_autoptr(JsonNode) nm =
        test_fixture_dev_new(fx.c, "vhost-user-blk", nosock, ", \"id\": \"vmiss\"");
    g_autofree char *e1 = test_dm_fails(fx.c, "device-attach", "vmiss");
    g_autofree char *want1 =
        g_strdup_printf("GenericError: device-attach vmiss: chardev-add failed: Failed to add "
                        "chardev 'char-vmiss': Failed to connect to '%s': No such file or "
                        "directory",
                        nosock);
    g_assert_cmpstr(e1, ==, want1);
    g_assert_false(has_chardev(fx.c, "char-vmiss"));
    test_fixture_assert_detached_clean(fx.c, "vmiss");

    /* device_add refused after chardev-add: the chardev goes again */
    g_autoptr(JsonNode) nb = test_fixture_dev_new(fx.c, "vhost-user-blk", sock,
                                                  ", \"id\": \"vbad\", \"bus\": \"nosuch\"");
    g_autofree char *e2 = test_dm_fails(fx.c, "device-attach", "vbad");
    g_assert_cmpstr(e2, ==,
                    "GenericError: device-attach vbad: device_add failed: Bus 'nosuch' not found");
    g_assert_false(has_chardev(fx.c, "char-vbad"));
    test_fixture_assert_detached_clean(fx.c, "vbad");
    g_autoptr(JsonNode) rb = test_dm(fx.c, "device-remove", "vbad");
    g_assert_cmpint(test_json_int(rb, "reference-count"), ==, 0);

    /* the real thing: a chardev to the daemon, the device on rp1 */
    g_autoptr(JsonNode) n = test_fixture_dev_new(fx.c, "vhost-user-blk", sock, ", \"id\": \"vu0\"");
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
    g_autofree char *bus = test_fixture_qom_bus(fx.c, "vu0");
    g_assert_cmpstr(bus, ==, "rp1");
    test_fixture_stop(&fx);
    storage_daemon_stop(daemon);
}

/* ---- vfio-pci against a scripted upstream ---- */

/* Answers as a QEMU 7.2 with one root port, rp1 (slot 2 of pcie.0),
 * would: the tests' scripted server, with this responder. */
typedef struct {
    TestFakeQmp *fake;
    GMutex lock;
    GCond cond;
    char *device_add_error; /* the desc device_add fails with, or NULL */
    gboolean hold;          /* device_add is not answered while set */
    gboolean deaf;          /* no DEVICE_DELETED after device_del (no guest) */
    gboolean negotiated;
} FakeQemu;

static gboolean fake_answer(TestFakeQmp *fake, const TestFakeRequest *req, GString *out,
                            gpointer data)
{
    FakeQemu *f = data;
    g_autoptr(JsonNode) node = test_json_parse(req->text);
    JsonObject *o = json_node_get_object(node);
    const char *cmd = req->command;
    JsonObject *args = json_object_has_member(o, "arguments")
                           ? json_object_get_object_member(o, "arguments")
                           : NULL;
    g_autofree char *ret = NULL;
    g_autofree char *error = NULL;
    g_autofree char *event = NULL;

    g_mutex_lock(&f->lock);
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
                                "\"/machine/peripheral/%s\"}}\r\n",
                                dev_id, dev_id);
        }
    }
    g_mutex_unlock(&f->lock);
    g_autofree char *members = !error ? g_strdup_printf("\"return\": %s", ret ? ret : "{}")
                                      : g_strdup_printf("\"error\": {%s}", error);
    test_fake_reply(out, req, members);
    if (event) {
        g_string_append(out, event);
    }
    return TRUE;
}

static FakeQemu *fake_start(const char *path)
{
    FakeQemu *f = g_new0(FakeQemu, 1);

    g_mutex_init(&f->lock);
    g_cond_init(&f->cond);
    f->fake = test_fake_qmp_serve(path, fake_answer, f);
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
    test_fake_qmp_free(f->fake);
    g_mutex_clear(&f->lock);
    g_cond_clear(&f->cond);
    g_free(f->device_add_error);
    g_free(f);
}

/* The commands named @cmd the fake got, parsed. */
static GPtrArray *fake_got(FakeQemu *f, const char *cmd)
{
    GPtrArray *found = g_ptr_array_new_with_free_func((GDestroyNotify)json_node_unref);
    g_autoptr(GPtrArray) texts = test_fake_qmp_requests(f->fake, cmd);

    for (guint i = 0; i < texts->len; i++) {
        g_ptr_array_add(found, test_json_parse(g_ptr_array_index(texts, i)));
    }
    return found;
}

static void test_vfio_pci(void)
{
    g_autofree char *dir = g_dir_make_tmp("qmproxy-test-XXXXXX", NULL);
    g_autofree char *up = g_build_filename(dir, "fake.sock", NULL);
    FakeQemu *fake = fake_start(up);
    TestProxy *p = test_proxy_start(up, dir, (const char *const[]){ "--hotplug-bus", "rp1", NULL });
    TestClient *c = test_fixture_client_at(p->listen, NULL);
    g_autoptr(JsonNode) n = test_fixture_dev_new(c, "vfio-pci", "/sys/bus/pci/devices/0000:01:00.0",
                                                 ", \"id\": \"gpu\"");
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
    TestClient *c = test_fixture_client_at(p->listen, NULL);
    g_autoptr(JsonNode) n = test_fixture_dev_new(c, "vfio-pci", "/sys/bus/pci/devices/0000:02:00.0",
                                                 ", \"id\": \"gpu\"");

    /* a client that is gone by the time its attach completes */
    TestClient *x = test_fixture_client_at(p->listen, NULL);
    fake_set(fake, &fake->hold, TRUE);
    test_fixture_dev_send(x, "device-attach", "gpu");
    fake_wait_for(fake, "device_add", 1);
    test_client_free(x);
    fake_set(fake, &fake->hold, FALSE);
    /* the attach went on without it; a query waits behind it */
    g_autoptr(JsonNode) q = test_dm(c, "query-device", "gpu");
    test_dm_assert_counts(q, "attached", 1, 1);

    /* one gone while its detach waits for an unplug that never ends */
    fake_set(fake, &fake->deaf, TRUE);
    TestClient *y = test_fixture_client_at(p->listen, NULL);
    test_fixture_dev_send(y, "device-detach", "gpu");
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
    test_fixture_dev_send(c, "device-detach", "gpu");
    test_proxy_free(p);
    test_client_free(c);
    fake_free(fake);
    g_rmdir(dir);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    test_require_qemu();
    g_test_add_func("/manager/block-device", test_block_device);
    g_test_add_func("/manager/pci/virtio-blk-unplug-timeout", test_pci_virtio_blk);
    g_test_add_func("/manager/vhost-user-blk", test_vhost_user_blk);
    g_test_add_func("/manager/vfio-pci", test_vfio_pci);
    g_test_add_func("/manager/client-gone", test_client_gone);
    return g_test_run();
}
