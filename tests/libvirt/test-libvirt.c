/* test-libvirt.c - a real libvirtd running QEMU through "qmproxy wrap",
 * installed as qemu-system-x86_64-qmproxy in a domain's <emulator>.
 *
 * The same steps run twice, with the real QEMU as emulator and with the
 * drop-in: libvirt probes the emulator (domcapabilities: -daemonize, one
 * connect), defines and starts a TCG domain (its monitor a listening
 * descriptor it passes), passes a QMP command through, attaches and
 * detaches a raw SCSI disk three times, and destroys the domain (SIGTERM
 * to the pid it started). With the drop-in, a second client on the
 * --listen-also socket (%n: the domain's name) sends query-status all
 * along and sees every DEVICE_DELETED; with QEMU itself that socket does
 * not exist. That is what the proxy adds.
 *
 * libvirtd is Debian 12's (libvirt 9.0), run by the test as a session
 * daemon: as nobody when the test runs as root, with HOME and the XDG
 * directories in the test's directory, so nothing outside it is touched
 * (no libvirt-qemu user, no /etc/libvirt/qemu.conf). It runs under a
 * small reaper: this machine's init reaps orphans every ~2 s, and libvirt
 * waits for the processes it kills to be gone. Skipped, with the reason,
 * when libvirt is not installed. */
#include "harness.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <grp.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#define LIBVIRTD "/usr/sbin/libvirtd"
#define NOBODY 65534
#define DOMAIN "qmtest"
#define ROUNDS 3

typedef struct {
    char *dir;
    char **env;
    uid_t uid; /* what libvirtd and virsh run as */
    pid_t reaper;
    pid_t libvirtd;
    GHashTable *times; /* virsh command -> seconds, summed */
} Libvirt;

static void drop_privileges(gpointer data)
{
    const Libvirt *lv = data;

    if (geteuid() == 0 && lv->uid != 0) {
        if (setgroups(0, NULL) < 0 || setgid(lv->uid) < 0 || setuid(lv->uid) < 0) {
            _exit(126);
        }
    }
}

static char *path_in(Libvirt *lv, const char *name)
{
    return g_build_filename(lv->dir, name, NULL);
}

/* A directory of libvirt's, owned by the uid it runs as. */
static void make_dir(Libvirt *lv, const char *name, int mode)
{
    g_autofree char *path = path_in(lv, name);

    g_assert_cmpint(g_mkdir_with_parents(path, mode), ==, 0);
    g_assert_cmpint(chmod(path, mode), ==, 0);
    g_assert_cmpint(chown(path, lv->uid, lv->uid), ==, 0);
}

static void write_file(Libvirt *lv, const char *name, const char *text)
{
    g_autofree char *path = path_in(lv, name);

    g_assert_true(g_file_set_contents(path, text, -1, NULL));
    g_assert_cmpint(chown(path, lv->uid, lv->uid), ==, 0);
}

/* libvirtd under a subreaper that reaps at once what comes back to it
 * (QEMU, whose parents libvirt lets go; the proxy after QEMU), and stops
 * when libvirtd does. The reaper tells us libvirtd's pid on a pipe. */
static void start_libvirtd(Libvirt *lv)
{
    int report[2];

    g_assert_cmpint(pipe(report), ==, 0);
    lv->reaper = fork();
    g_assert_cmpint(lv->reaper, >=, 0);
    if (lv->reaper == 0) {
        close(report[0]);
        prctl(PR_SET_CHILD_SUBREAPER, 1);
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        pid_t daemon = fork();
        if (daemon == 0) {
            int null = open("/dev/null", O_RDWR | O_CLOEXEC);

            /* its stdout is the test's TAP output */
            dup2(null, STDIN_FILENO);
            dup2(null, STDOUT_FILENO);
            dup2(null, STDERR_FILENO);
            drop_privileges(lv);
            /* after the uid changes, which clears it */
            prctl(PR_SET_PDEATHSIG, SIGTERM);
            execle(LIBVIRTD, "libvirtd", (char *)NULL, lv->env);
            _exit(127);
        }
        if (write(report[1], &daemon, sizeof(daemon)) != sizeof(daemon)) {
            _exit(1);
        }
        close(report[1]);
        int status = 0, daemon_status = 0;
        for (;;) {
            pid_t pid = waitpid(-1, &status, 0);

            if (pid == daemon) {
                daemon_status = status;
            } else if (pid < 0 && errno == ECHILD) {
                _exit(WIFEXITED(daemon_status) ? WEXITSTATUS(daemon_status) : 1);
            }
        }
    }
    close(report[1]);
    g_assert_cmpint(read(report[0], &lv->libvirtd, sizeof(lv->libvirtd)), ==, sizeof(lv->libvirtd));
    close(report[0]);
}

typedef struct {
    int status;
    char *out;
    char *err;
} Ran;

static void ran_clear(Ran *r)
{
    g_free(r->out);
    g_free(r->err);
}

/* virsh -c qemu:///session @args, as libvirtd's uid; at most 120 s. */
static void virsh_run(Libvirt *lv, const char *const *args, Ran *r)
{
    g_autoptr(GPtrArray) argv = g_ptr_array_new();
    g_autoptr(GError) error = NULL;
    const char *const head[] = { "timeout", "120", "virsh", "-q", "-c", "qemu:///session", NULL };

    for (guint i = 0; head[i]; i++) {
        g_ptr_array_add(argv, (char *)head[i]);
    }
    for (guint i = 0; args[i]; i++) {
        g_ptr_array_add(argv, (char *)args[i]);
    }
    g_ptr_array_add(argv, NULL);
    memset(r, 0, sizeof(*r));
    g_assert_true(g_spawn_sync(lv->dir, (char **)argv->pdata, lv->env, G_SPAWN_SEARCH_PATH,
                               drop_privileges, lv, &r->out, &r->err, &r->status, &error));
    g_assert_no_error(error);
}

/* virsh @args, which must succeed: its output. The time each kind of
 * step took, summed, goes to the test's log. */
static char *virsh(Libvirt *lv, const char *const *args)
{
    Ran r;
    gint64 start = g_get_monotonic_time();

    virsh_run(lv, args, &r);
    double *sum = g_hash_table_lookup(lv->times, args[0]);
    if (!sum) {
        sum = g_new0(double, 1);
        g_hash_table_insert(lv->times, g_strdup(args[0]), sum);
    }
    *sum += (double)(g_get_monotonic_time() - start) / G_USEC_PER_SEC;
    if (!g_spawn_check_wait_status(r.status, NULL)) {
        g_error("virsh %s failed (%d):\n%s%s", args[0], r.status, r.out, r.err);
    }
    g_free(r.err);
    return r.out;
}

#define VIRSH(lv, ...) virsh((lv), (const char *const[]){ __VA_ARGS__, NULL })

static Libvirt *libvirt_start(void)
{
    Libvirt *lv = g_new0(Libvirt, 1);
    g_autoptr(GError) error = NULL;

    lv->uid = geteuid() == 0 ? NOBODY : geteuid();
    lv->times = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    lv->dir = g_dir_make_tmp("qmproxy-libvirt-XXXXXX", &error);
    g_assert_no_error(error);
    g_assert_cmpint(chmod(lv->dir, 0755), ==, 0);
    g_assert_cmpint(chown(lv->dir, lv->uid, lv->uid), ==, 0);
    make_dir(lv, "home", 0700);
    make_dir(lv, "config", 0700);
    make_dir(lv, "config/libvirt", 0700);
    make_dir(lv, "run", 0700);
    make_dir(lv, "cache", 0700);
    make_dir(lv, "bin", 0755);
    /* QEMU's stdio to a file: there is no virtlogd here */
    write_file(lv, "config/libvirt/qemu.conf", "stdio_handler = \"file\"\n");
    g_autofree char *log = path_in(lv, "libvirtd.log");
    g_autofree char *conf = g_strdup_printf("log_outputs = \"3:file:%s\"\n", log);
    write_file(lv, "config/libvirt/libvirtd.conf", conf);

    g_autofree char *home = path_in(lv, "home");
    g_autofree char *config = path_in(lv, "config");
    g_autofree char *run = path_in(lv, "run");
    g_autofree char *cache = path_in(lv, "cache");
    const char *env[] = { "PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LIBVIRT_AUTOSTART=0", "LC_ALL=C",
                          NULL };
    lv->env = g_strdupv((char **)env);
    lv->env = g_environ_setenv(lv->env, "HOME", home, TRUE);
    lv->env = g_environ_setenv(lv->env, "XDG_CONFIG_HOME", config, TRUE);
    lv->env = g_environ_setenv(lv->env, "XDG_RUNTIME_DIR", run, TRUE);
    lv->env = g_environ_setenv(lv->env, "XDG_CACHE_HOME", cache, TRUE);

    start_libvirtd(lv);
    for (guint i = 0;; i++) {
        Ran r;

        virsh_run(lv, (const char *const[]){ "uri", NULL }, &r);
        gboolean up = g_spawn_check_wait_status(r.status, NULL);
        ran_clear(&r);
        if (up) {
            break;
        }
        if (i == 200) {
            g_error("libvirtd did not answer in 10 s");
        }
        g_usleep(50000);
    }
    return lv;
}

static void libvirt_stop(Libvirt *lv)
{
    int status;
    static const char *const shown[] = { "domcapabilities", "define",        "start",
                                         "attach-device",   "detach-device", "destroy" };
    g_autoptr(GString) times = g_string_new("seconds:");

    for (guint i = 0; i < G_N_ELEMENTS(shown); i++) {
        double *sum = g_hash_table_lookup(lv->times, shown[i]);

        g_string_append_printf(times, " %s %.2f", shown[i], sum ? *sum : 0.0);
    }
    g_test_message("%s", times->str);
    g_hash_table_unref(lv->times);
    kill(lv->libvirtd, SIGTERM);
    g_assert_cmpint(waitpid(lv->reaper, &status, 0), ==, lv->reaper);
    test_rm_rf(lv->dir);
    g_strfreev(lv->env);
    g_free(lv->dir);
    g_free(lv);
}

/* ---- the second client ---- */

typedef struct {
    TestClient *c;
    gint stop;
    guint replies;
    guint deleted; /* DEVICE_DELETED of the disk */
    guint errors;
} Watcher;

static gpointer watch(gpointer data)
{
    Watcher *w = data;

    for (guint n = 1; !g_atomic_int_get(&w->stop); n++) {
        g_autofree char *cmd = g_strdup_printf("{\"execute\": \"query-status\", \"id\": %u}", n);
        g_autoptr(GPtrArray) events = g_ptr_array_new_with_free_func(g_free);

        test_client_send(w->c, cmd);
        g_autofree char *reply = test_client_recv_reply(w->c, events);
        if (g_str_has_prefix(reply, "{\"return\": {\"status\": \"running\"")) {
            w->replies++;
        } else {
            w->errors++;
        }
        for (guint i = 0; i < events->len; i++) {
            const char *e = g_ptr_array_index(events, i);

            if (strstr(e, "\"DEVICE_DELETED\"") && strstr(e, "\"scsi0-0-0-0\"")) {
                w->deleted++;
            }
        }
        g_usleep(5000);
    }
    /* events that came after the last reply */
    g_autofree char *rest = test_client_recv_all(w->c, 200);
    for (const char *p = rest; (p = strstr(p, "\"DEVICE_DELETED\"")); p++) {
        w->deleted++;
    }
    return NULL;
}

/* ---- the steps ---- */

static gboolean wait_gone(const char *path, guint timeout_ms)
{
    for (guint waited = 0; g_file_test(path, G_FILE_TEST_EXISTS); waited += 20) {
        if (waited >= timeout_ms) {
            return FALSE;
        }
        g_usleep(20000);
    }
    return TRUE;
}

static void steps(Libvirt *lv, const char *emulator, gboolean proxied)
{
    g_autofree char *disk = path_in(lv, "disk.raw");
    g_autofree char *shared = path_in(lv, DOMAIN ".sock");
    g_autofree char *also = path_in(lv, "%n.sock");
    g_autofree char *proxy_log = path_in(lv, "proxy.log");
    g_autofree char *dom = g_strdup_printf(
        "<domain type='qemu' xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'>\n"
        "  <name>" DOMAIN "</name><memory unit='MiB'>128</memory><vcpu>1</vcpu>\n"
        "  <os><type arch='x86_64' machine='q35'>hvm</type></os>\n"
        "  <devices><emulator>%s</emulator>\n"
        "    <controller type='scsi' index='0' model='virtio-scsi'/>\n"
        "    <video><model type='none'/></video><memballoon model='none'/>\n"
        "  </devices>\n"
        "  <qemu:commandline>\n"
        "    <qemu:env name='QMPROXY_OPTIONS' value='--listen-also %s --log %s'/>\n"
        "  </qemu:commandline>\n"
        "</domain>\n",
        emulator, also, proxy_log);
    g_autofree char *disk_xml =
        g_strdup_printf("<disk type='file' device='disk'><driver name='qemu' type='raw'/>"
                        "<source file='%s'/><target dev='sda' bus='scsi'/></disk>\n",
                        disk);
    g_autofree char *dom_path = path_in(lv, "dom.xml");
    g_autofree char *disk_path = path_in(lv, "disk.xml");

    write_file(lv, "dom.xml", dom);
    write_file(lv, "disk.xml", disk_xml);
    g_assert_true(g_file_set_contents(disk, "", 0, NULL));
    g_assert_cmpint(truncate(disk, 16 << 20), ==, 0);
    g_assert_cmpint(chown(disk, lv->uid, lv->uid), ==, 0);

    /* the probe: -daemonize, -pidfile, one connect to the -qmp socket */
    g_autofree char *caps =
        VIRSH(lv, "domcapabilities", "--emulatorbin", emulator, "--virttype", "qemu");
    g_autofree char *caps_path = g_strdup_printf("<path>%s</path>", emulator);
    g_assert_nonnull(strstr(caps, caps_path));
    g_assert_nonnull(strstr(caps, "<arch>x86_64</arch>"));

    g_free(VIRSH(lv, "define", dom_path));
    g_free(VIRSH(lv, "start", DOMAIN));
    g_autofree char *status =
        VIRSH(lv, "qemu-monitor-command", DOMAIN, "{\"execute\":\"query-status\"}");
    g_assert_nonnull(strstr(status, "\"status\":\"running\""));

    Watcher w = { 0 };
    GThread *thread = NULL;
    if (proxied) {
        w.c = test_client_connect(shared);
        g_assert_nonnull(w.c);
        g_free(test_client_handshake(w.c, NULL));
        g_autofree char *own =
            test_client_cmd(w.c, "{\"execute\": \"__org.qmproxy_query-devices\"}");
        g_assert_true(g_str_has_prefix(own, "{\"return\": ["));
        thread = g_thread_new("watcher", watch, &w);
    } else {
        /* QEMU serves one client, libvirt's */
        g_assert_false(g_file_test(shared, G_FILE_TEST_EXISTS));
    }
    for (guint i = 0; i < ROUNDS; i++) {
        g_free(VIRSH(lv, "attach-device", DOMAIN, disk_path));
        g_autofree char *blk = VIRSH(lv, "domblklist", DOMAIN);
        g_assert_nonnull(strstr(blk, disk));
        g_free(VIRSH(lv, "detach-device", DOMAIN, disk_path));
        g_free(blk);
        blk = VIRSH(lv, "domblklist", DOMAIN);
        g_assert_null(strstr(blk, disk));
    }
    if (proxied) {
        g_atomic_int_set(&w.stop, 1);
        g_thread_join(thread);
        g_assert_cmpuint(w.errors, ==, 0);
        g_assert_cmpuint(w.replies, >, 0);
        g_assert_cmpuint(w.deleted, ==, ROUNDS);
    }
    /* destroy: SIGTERM to the pid libvirt started, which is QEMU's */
    g_free(VIRSH(lv, "destroy", DOMAIN));
    g_free(VIRSH(lv, "undefine", DOMAIN));
    if (proxied) {
        g_assert_true(test_client_wait_eof(w.c, 10000));
        test_client_free(w.c);
        g_assert_true(wait_gone(shared, 10000));
        g_autofree char *log = NULL;
        g_assert_true(g_file_get_contents(proxy_log, &log, NULL, NULL));
        g_assert_nonnull(strstr(log, "serving clients on"));
        g_assert_null(strstr(log, "Sanitizer"));
        g_assert_null(strstr(log, "runtime error"));
        g_assert_null(strstr(log, "WARNING"));
    }
}

static void test_qemu_itself(void)
{
    Libvirt *lv = libvirt_start();
    g_autofree char *qemu = g_find_program_in_path("qemu-system-x86_64");

    steps(lv, qemu, FALSE);
    libvirt_stop(lv);
}

static void test_drop_in(void)
{
    Libvirt *lv = libvirt_start();
    g_autofree char *link = path_in(lv, "bin/qemu-system-x86_64-qmproxy");
    g_autofree char *bin = g_canonicalize_filename(test_qmproxy_bin(), NULL);

    g_assert_cmpint(symlink(bin, link), ==, 0);
    steps(lv, link, TRUE);
    libvirt_stop(lv);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    test_require_qemu();
    g_autofree char *virsh_bin = g_find_program_in_path("virsh");

    if (!g_file_test(LIBVIRTD, G_FILE_TEST_IS_EXECUTABLE) || !virsh_bin) {
        g_print("1..0 # SKIP libvirt is not installed (libvirt-daemon-driver-qemu "
                "libvirt-clients libvirt-daemon)\n");
        return 77;
    }
    g_test_add_func("/libvirt/qemu-itself", test_qemu_itself);
    g_test_add_func("/libvirt/drop-in", test_drop_in);
    return g_test_run();
}
