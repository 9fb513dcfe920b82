/* test-state-files.c - the persisted device table (issue #6) as a file:
 * --state FILE when the file is unusable (and --state-reset), on a disk
 * that fills up, behind a symbolic link or unreadable, and the socket
 * the proxy serves on handed over by systemd (socket activation), the
 * table surviving it. Against a real QEMU without a guest (so SCSI
 * unplugs complete by themselves); every claim is read back from QEMU
 * (qom-list, qom-get, query-named-block-nodes) or from the file. */
#include "fixture.h"

#include <json-glib/json-glib.h>

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <signal.h>
#include <string.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

/* ---- the file ---- */

static void write_file(const char *path, const char *text, gssize len)
{
    g_autoptr(GError) error = NULL;

    g_file_set_contents(path, text, len, &error);
    g_assert_no_error(error);
}

/* The names of the files in @dir that are the state file's or were made
 * for it (temporary files, files moved aside), one a line. */
static char *state_names(const char *dir)
{
    g_autoptr(GPtrArray) names = test_fixture_names_in(dir, "state.json");
    g_autoptr(GPtrArray) temps = test_fixture_names_in(dir, ".state.json");

    g_ptr_array_extend_and_steal(names, g_steal_pointer(&temps));
    g_ptr_array_add(names, NULL);
    return g_strjoinv("\n", (char **)names->pdata);
}

/* ---- 1. unusable files ---- */

typedef struct {
    const char *name;
    char *text;
    gssize len;
} BadFile;

static void test_bad_files(void)
{
    TestFixture st;

    /* a valid table with an attached device, to cut in half */
    test_fixture_start_state(&st, NULL);
    g_autofree char *img = test_make_image(st.dir, "keep.img");
    g_autoptr(JsonNode) n = test_fixture_scsi_new(st.c, img, "keep");
    g_autoptr(JsonNode) a = test_dm(st.c, "device-attach", "keep");
    g_assert_cmpint(test_json_int(a, "index"), ==, 0);
    test_fixture_proxy_stop(&st);
    g_autofree char *valid = test_fixture_read_file(st.state);
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
    test_fixture_proxy_start(&st);
    g_autoptr(JsonNode) x = test_dm(st.c, "query-device", "x");
    test_dm_assert_counts(x, "detached", 0, 1);
    g_assert_cmpstr(test_json_str(x, "path"), ==, "/p");
    /* the device QEMU has, unknown to this table, keeps its address */
    g_assert_true(test_qemu_has_device(st.c, "keep"));
    test_fixture_proxy_stop(&st);

    /* --state-reset: the truncated file goes aside, the table is rebuilt
     * from QEMU, and the next change writes a new file */
    const BadFile *cut = &bad[1];
    write_file(st.state, cut->text, -1);
    g_ptr_array_remove_index(st.opts, st.opts->len - 1);
    g_ptr_array_add(st.opts, "--state-reset");
    g_ptr_array_add(st.opts, NULL);
    test_fixture_proxy_start(&st);
    g_autoptr(GPtrArray) aside = test_fixture_names_in(st.dir, "state.json.bad-");
    g_assert_cmpuint(aside->len, ==, 1);
    g_autofree char *aside_path = g_build_filename(st.dir, g_ptr_array_index(aside, 0), NULL);
    g_autofree char *aside_text = test_fixture_read_file(aside_path);
    g_assert_cmpstr(aside_text, ==, cut->text);
    g_autofree char *log = test_proxy_log(st.proxy);
    g_assert_nonnull(strstr(log, aside_path));
    g_autoptr(GHashTable) managed = test_fixture_managed_devices(st.c);
    g_assert_cmpuint(g_hash_table_size(managed), ==, 0);
    /* "keep" is QEMU's, as learnt: listed without a kind, at its address */
    g_autoptr(JsonNode) k = test_dm_entry(st.c, "keep");
    g_assert_nonnull(k);
    g_assert_false(test_json_has(k, "kind"));
    g_assert_cmpint(test_json_int(k, "index"), ==, 0);
    if (g_file_test(st.state, G_FILE_TEST_EXISTS)) {
        g_autoptr(JsonNode) early = test_fixture_load_state(st.state);
    }
    g_autofree char *img2 = test_make_image(st.dir, "fresh.img");
    g_autoptr(JsonNode) n2 = test_fixture_scsi_new(st.c, img2, "fresh");
    g_autoptr(JsonNode) root = test_fixture_load_state(st.state);
    test_fixture_assert_file_matches(st.c, st.state);
    g_autoptr(JsonNode) a2 = test_dm(st.c, "device-attach", "fresh");
    g_assert_cmpint(test_json_int(a2, "index"), ==, 1);
    test_fixture_assert_scsi_node(st.c, a2);
    test_fixture_assert_file_matches(st.c, st.state);
    /* a good file is not moved aside */
    test_fixture_proxy_stop(&st);
    test_fixture_proxy_start(&st);
    g_autoptr(GPtrArray) aside2 = test_fixture_names_in(st.dir, "state.json.bad-");
    g_assert_cmpuint(aside2->len, ==, 1);
    g_autoptr(JsonNode) q2 = test_dm(st.c, "query-device", "fresh");
    test_dm_assert_counts(q2, "attached", 1, 1);
    for (guint i = 0; i < G_N_ELEMENTS(bad); i++) {
        g_free(bad[i].text);
    }
    test_fixture_stop(&st);
#undef REC
}

/* Unusable files reset one after the other (a proxy restarting in a loop
 * on a disk that corrupts what it writes): each is kept aside, none
 * replaces another. */
static void test_reset_keeps_every_bad_file(void)
{
    TestFixture st;

    test_fixture_start_state(&st, NULL);
    test_fixture_proxy_stop(&st);
    g_ptr_array_remove_index(st.opts, st.opts->len - 1);
    g_ptr_array_add(st.opts, "--state-reset");
    g_ptr_array_add(st.opts, NULL);
    for (int n = 0; n < 3; n++) {
        g_autofree char *text = g_strdup_printf("bad file %d\n", n);

        write_file(st.state, text, -1);
        test_fixture_proxy_start(&st);
        test_fixture_proxy_stop(&st);
    }
    g_autoptr(GPtrArray) aside = test_fixture_names_in(st.dir, "state.json.bad-");
    g_autoptr(GString) kept = g_string_new(NULL);
    for (guint i = 0; i < aside->len; i++) {
        g_autofree char *path = g_build_filename(st.dir, g_ptr_array_index(aside, i), NULL);
        g_autofree char *text = test_fixture_read_file(path);

        g_string_append(kept, text);
    }
    if (aside->len != 3) {
        g_error("3 files reset, %u kept aside, holding:\n%s", aside->len, kept->str);
    }
    test_fixture_proxy_start(&st);
    test_fixture_stop(&st);
}

/* ---- 2. a full disk ---- */

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
    g_autofree char *now = test_fixture_read_file(path);
    g_autoptr(GPtrArray) names = test_fixture_names_in(dir, "");

    g_assert_cmpstr(now, ==, text);
    /* a temporary file that could not be written is not left behind */
    g_assert_cmpuint(names->len, ==, 2);
}

/* The fixture with its state file on a tmpfs of 256 KiB, mounted in a
 * mount namespace of this process's own (the proxy inherits it), so that
 * the tmpfs goes with it even if the test fails half-way. FALSE where
 * none can be mounted: the test is skipped. */
static gboolean start_on_small_disk(TestFixture *st, const char *const *qemu_args,
                                    const char *const *opts)
{
    g_autofree char *tmp = g_dir_make_tmp("qmproxy-state-XXXXXX", NULL);
    g_autofree char *small = g_build_filename(tmp, "small", NULL);
    g_autofree char *state = g_build_filename(small, "state.json", NULL);

    g_assert_cmpint(g_mkdir(small, 0700), ==, 0);
    if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
        mount("tmpfs", small, "tmpfs", 0, "size=256k,mode=0700") < 0) {
        g_autofree char *why = g_strdup_printf("cannot mount a tmpfs: %s", g_strerror(errno));

        g_rmdir(small);
        g_rmdir(tmp);
        test_fixture_skip(why);
        return FALSE;
    }
    test_fixture_start_state_full(st, qemu_args, state, opts);
    return TRUE;
}

/* The tmpfs of start_on_small_disk() goes, once the fixture is stopped. */
static void unmount_small(const char *small)
{
    g_autofree char *tmp = g_path_get_dirname(small);

    g_assert_cmpint(umount2(small, MNT_DETACH), ==, 0);
    g_rmdir(small);
    g_rmdir(tmp);
}

static void test_full_disk(void)
{
    TestFixture st;

    if (!start_on_small_disk(&st, test_fixture_scsi_args, NULL)) {
        return;
    }
    g_autofree char *small = g_path_get_dirname(st.state);
    g_autofree char *img = test_make_image(st.dir, "keep.img");
    g_autofree char *img2 = test_make_image(st.dir, "extra.img");
    g_autofree char *img3 = test_make_image(st.dir, "extra2.img");
    g_autoptr(JsonNode) n = test_fixture_scsi_new(st.c, img, "keep");
    test_fixture_assert_file_matches(st.c, st.state);
    g_autofree char *saved = test_fixture_read_file(st.state);

    g_autofree char *filler = fill_up(small);
    /* a new device that cannot be saved does not exist */
    g_autofree char *e1 = test_fixture_scsi_new_fails(st.c, img2, "extra");
    if (!g_str_has_prefix(e1, "GenericError: ") || !strstr(e1, "cannot save the device table")) {
        g_error("device-new on a full disk: %s", e1);
    }
    g_autoptr(GHashTable) managed = test_fixture_managed_devices(st.c);
    g_assert_cmpuint(g_hash_table_size(managed), ==, 1);
    g_assert_true(g_hash_table_contains(managed, "keep"));
    g_autofree char *e1q = test_dm_fails(st.c, "query-device", "extra");
    g_assert_cmpstr(e1q, ==, "DeviceNotFound: Device 'extra' not found");
    assert_unchanged(st.state, saved, small);

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
    assert_unchanged(st.state, saved, small);

    /* room again: the same operations go through, and the file says so */
    g_assert_cmpint(g_unlink(filler), ==, 0);
    g_autoptr(JsonNode) n2 = test_fixture_scsi_new(st.c, img2, "extra");
    test_dm_assert_counts(n2, "detached", 0, 1);
    g_autoptr(JsonNode) a = test_dm(st.c, "device-attach", "keep");
    test_dm_assert_counts(a, "attached", 1, 1);
    g_assert_cmpint(test_json_int(a, "index"), ==, 0);
    test_fixture_assert_scsi_node(st.c, a);
    test_fixture_assert_file_matches(st.c, st.state);
    g_autofree char *saved2 = test_fixture_read_file(st.state);

    /* a detach that cannot be saved leaves the device plugged */
    g_autofree char *filler2 = fill_up(small);
    g_autofree char *e5 = test_dm_fails(st.c, "device-detach", "keep");
    g_assert_nonnull(strstr(e5, "cannot save the device table"));
    g_autoptr(JsonNode) q3 = test_dm(st.c, "query-device", "keep");
    test_dm_assert_counts(q3, "attached", 1, 1);
    test_fixture_assert_scsi_node(st.c, q3);
    assert_unchanged(st.state, saved2, small);
    g_assert_cmpint(g_unlink(filler2), ==, 0);
    g_autoptr(JsonNode) d = test_dm(st.c, "device-detach", "keep");
    test_dm_assert_counts(d, "detached", 0, 1);
    test_qemu_assert_gone(st.c, "keep");
    test_fixture_assert_file_matches(st.c, st.state);

    /* what the file says is what a new proxy finds */
    test_fixture_proxy_stop(&st);
    test_fixture_proxy_start(&st);
    test_fixture_assert_file_matches(st.c, st.state);
    g_autoptr(GHashTable) last = test_fixture_managed_devices(st.c);
    g_assert_cmpuint(g_hash_table_size(last), ==, 2);
    test_fixture_stop(&st);

    unmount_small(small);
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
    static const char *const opts[] = { "--hotplug-bus", "rp1", "--unplug-timeout", "30", NULL };
    TestFixture st;

    if (!start_on_small_disk(&st, args, opts)) {
        return;
    }
    g_autofree char *small = g_path_get_dirname(st.state);
    g_autofree char *img = test_make_image(st.dir, "vb.img");
    g_autoptr(JsonNode) n = test_qmp_ok(st.c,
                                        "{\"execute\": \"" DM "device-new\", \"arguments\": "
                                        "{\"driver\": \"virtio-blk\", \"path\": \"%s\", "
                                        "\"id\": \"vb\"}}",
                                        img);
    g_autofree char *saved = test_fixture_read_file(st.state);

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
    test_fixture_assert_file_matches(st.c, st.state);
    test_fixture_stop(&st);
    unmount_small(small);
}

/* ---- 3. systemd socket activation ---- */

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
    g_autoptr(TestQemu) qemu = test_qemu_start(test_fixture_scsi_args);
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
    g_autoptr(JsonNode) n = test_fixture_scsi_new(c, img, "act");
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
        test_fixture_assert_scsi_node(c, after);
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
    g_autoptr(TestQemu) qemu = test_qemu_start(test_fixture_scsi_args);
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

/* ---- 4. a link, a directory ---- */

/* A state file that is a symbolic link (to where the table really
 * lives) is written through: the link stays a link, its target gets the
 * table. */
static void test_symlink_written_through(void)
{
    TestFixture st;
    g_autofree char *dir = g_dir_make_tmp("qmproxy-state-XXXXXX", NULL);
    g_autofree char *real = g_build_filename(dir, "real.json", NULL);
    g_autofree char *link = g_build_filename(dir, "link.json", NULL);

    g_assert_cmpint(symlink("real.json", link), ==, 0); /* dangling, relative */
    test_fixture_start_state(&st, link);
    g_autofree char *img = test_make_image(st.dir, "a.img");
    g_autoptr(JsonNode) n = test_fixture_scsi_new(st.c, img, "a");
    g_autoptr(JsonNode) a = test_dm(st.c, "device-attach", "a");
    GStatBuf lst;
    g_assert_cmpint(g_lstat(link, &lst), ==, 0);
    g_assert_true(S_ISLNK(lst.st_mode));
    test_fixture_assert_file_matches(st.c, real);
    g_autofree char *log = test_proxy_log(st.proxy);
    g_assert_nonnull(strstr(log, real));
    /* a restart reads it back through the link */
    test_fixture_proxy_stop(&st);
    test_fixture_proxy_start(&st);
    g_autoptr(JsonNode) q = test_dm(st.c, "query-device", "a");
    test_dm_assert_counts(q, "attached", 1, 1);
    g_assert_cmpint(g_lstat(link, &lst), ==, 0);
    g_assert_true(S_ISLNK(lst.st_mode));
    test_fixture_stop(&st);
    test_rm_rf(dir);
}

/* A state file that cannot be read is named plainly, also in the C
 * locale (GLib's own message quotes with characters it shows as '?'). */
static void test_unreadable_file_message(void)
{
    g_autoptr(TestQemu) q = test_qemu_start(test_fixture_scsi_args);
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

int main(int argc, char **argv)
{
    test_fixture_init_isolated(&argc, &argv);
    test_fixture_add_isolated("/state/bad-files", test_bad_files);
    test_fixture_add_isolated("/state/reset-keeps-every-bad-file", test_reset_keeps_every_bad_file);
    test_fixture_add_isolated("/state/symlink-written-through", test_symlink_written_through);
    test_fixture_add_isolated("/state/unreadable-file-message", test_unreadable_file_message);
    test_fixture_add_isolated("/state/full-disk", test_full_disk);
    test_fixture_add_isolated("/state/full-disk-virtio-blk", test_full_disk_virtio_blk);
    test_fixture_add_isolated("/state/socket-activation", test_socket_activation);
    test_fixture_add_isolated("/state/socket-activation-refusals", test_socket_activation_refusals);
    return g_test_run();
}
