/* test-wrap.c - "qmproxy wrap -- QEMU ARGS..." as the QEMU a manager runs:
 * the proxy on the socket a runtime gave QEMU, for each way of naming it
 * (a path, a listening or a connected descriptor, one of several
 * monitors); what has no monitor passed to QEMU untouched; -daemonize as
 * libvirt's probe uses it; QEMU's exit status, signals and error output;
 * --listen-also with %n; the symlink and the config file Kata relies on.
 *
 * The test is a child subreaper: the proxy, which the wrapper forks and
 * which outlives it by a moment (or, with -daemonize, for QEMU's life),
 * comes back to it, so every test checks the proxy's own exit too. Each
 * wrapper gets a TMPDIR of its own, which must be empty at the end. */
#include "fixture.h"
#include "harness.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

/* where a passed monitor descriptor lands in the wrapper */
#define PASSED_FD 5

typedef struct {
    char *dir;
    char *tmp; /* the wrapper's TMPDIR */
    char *sock;
    char *log;
    char *qmp; /* the -qmp argument for @sock */
} Place;

static Place *place_new(void)
{
    Place *p = g_new0(Place, 1);

    p->dir = g_dir_make_tmp("qmproxy-wrap-test-XXXXXX", NULL);
    p->tmp = g_build_filename(p->dir, "tmp", NULL);
    g_assert_cmpint(g_mkdir(p->tmp, 0700), ==, 0);
    p->sock = g_build_filename(p->dir, "qmp.sock", NULL);
    p->log = g_build_filename(p->dir, "wrap.log", NULL);
    p->qmp = g_strdup_printf("unix:%s,server=on,wait=off", p->sock);
    return p;
}

/* Nothing of the wrapper's is left in its TMPDIR. */
static void assert_tmp_empty(Place *p)
{
    g_autoptr(GDir) d = g_dir_open(p->tmp, 0, NULL);

    g_assert_nonnull(d);
    g_assert_null(g_dir_read_name(d));
}

static void place_free(Place *p)
{
    test_rm_rf(p->dir);
    g_free(p->dir);
    g_free(p->tmp);
    g_free(p->sock);
    g_free(p->log);
    g_free(p->qmp);
    g_free(p);
}

/* Waits until every child but the ones followed elsewhere (none here:
 * the wrapper is reaped first) has exited: the proxies and daemonized
 * QEMUs that came back to us. Their exit statuses must be 0 (@strict), or
 * may be anything (a daemonized QEMU that failed exits 1). */
static void reap_orphans_of(gboolean strict)
{
    for (guint waited = 0;; waited += 10) {
        int status;
        pid_t pid = waitpid(-1, &status, WNOHANG);

        if (pid < 0 && errno == ECHILD) {
            return;
        }
        if (pid > 0) {
            if (strict && (!WIFEXITED(status) || WEXITSTATUS(status) != 0)) {
                g_error("process %d (the proxy, or a daemonized QEMU) ended with status %d",
                        (int)pid, status);
            }
            continue;
        }
        if (waited > 20000) {
            g_error("a proxy or a daemonized QEMU is still running");
        }
        g_usleep(10000);
    }
}

static void reap_orphans(void)
{
    reap_orphans_of(TRUE);
}

typedef struct {
    int out, err;  /* the wrapper's stdout and stderr; -1: the log */
    int passed;    /* a descriptor to pass as PASSED_FD, or -1 */
    int passed_at; /* ... at this number instead */
} Spawn;

static TestProxy *spawn_argv(Place *p, GPtrArray *argv, const Spawn *how)
{
    g_autoptr(GError) error = NULL;
    g_auto(GStrv) env = g_environ_setenv(g_get_environ(), "TMPDIR", p->tmp, TRUE);
    int log_fd = open(p->log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    int source[] = { how ? how->passed : -1 };
    int target[] = { how && how->passed_at ? how->passed_at : PASSED_FD };
    TestProxy *w = g_new0(TestProxy, 1);

    g_assert_cmpint(log_fd, >=, 0);
    g_ptr_array_add(argv, NULL);
    gboolean ok = g_spawn_async_with_pipes_and_fds(
        NULL, (const char *const *)argv->pdata, (const char *const *)env,
        G_SPAWN_DO_NOT_REAP_CHILD | G_SPAWN_SEARCH_PATH, NULL, NULL, -1,
        how && how->out >= 0 ? how->out : log_fd, how && how->err >= 0 ? how->err : log_fd, source,
        target, how && how->passed >= 0 ? 1 : 0, &w->pid, NULL, NULL, NULL, &error);
    close(log_fd);
    g_assert_no_error(error);
    g_assert_true(ok);
    w->log = g_strdup(p->log);
    w->listen = g_strdup("");
    return w;
}

/* qmproxy wrap [@opts] -- qemu-system-x86_64 [TCG, -S] @qemu_args... */
static TestProxy *wrap_how(Place *p, const char *const *opts, gboolean vm,
                           const char *const *qemu_args, const Spawn *how)
{
    g_autoptr(GPtrArray) argv = g_ptr_array_new();

    g_ptr_array_add(argv, (char *)test_qmproxy_bin());
    g_ptr_array_add(argv, "wrap");
    for (guint i = 0; opts && opts[i]; i++) {
        g_ptr_array_add(argv, (char *)opts[i]);
    }
    g_ptr_array_add(argv, "--");
    g_ptr_array_add(argv, "qemu-system-x86_64");
    const char *const machine[] = { "-machine", "q35,accel=tcg", "-S", "-nodefaults",
                                    "-display", "none",          NULL };
    for (guint i = 0; vm && machine[i]; i++) {
        g_ptr_array_add(argv, (char *)machine[i]);
    }
    for (guint i = 0; qemu_args[i]; i++) {
        g_ptr_array_add(argv, (char *)qemu_args[i]);
    }
    return spawn_argv(p, argv, how);
}

static TestProxy *wrap(Place *p, const char *const *opts, const char *const *qemu_args)
{
    return wrap_how(p, opts, TRUE, qemu_args, NULL);
}

static gboolean exited_with(TestProxy *w, int code)
{
    return test_proxy_wait(w, 20000) && WIFEXITED(w->status) && WEXITSTATUS(w->status) == code;
}

/* The wrapper is done: the proxy follows it, leaving nothing behind. */
static void wrap_done(Place *p, TestProxy *w, int code)
{
    g_assert_true(exited_with(w, code));
    reap_orphans();
    assert_tmp_empty(p);
    test_proxy_free(w); /* the log has no sanitizer report */
}

/* Whether the proxy answers on @c (negotiated): QEMU has no command of
 * the proxy's. The greeting cannot tell: it is QEMU's, byte for byte. */
static gboolean proxied(TestClient *c)
{
    g_autofree char *r = test_client_cmd(c, "{\"execute\": \"__org.qmproxy_query-devices\"}");

    return g_str_has_prefix(r, "{\"return\": [");
}

/* Two clients at once on @path, then quit: the wrapper exits 0, the
 * socket goes with the proxy. */
static void two_clients_then_quit(Place *p, TestProxy *w, const char *path)
{
    g_autoptr(TestClient) a = test_client_connect(path);
    g_autoptr(TestClient) b = test_client_connect(path);

    g_assert_nonnull(a);
    g_assert_nonnull(b);
    g_free(test_client_handshake(a, NULL));
    g_assert_true(proxied(a));
    g_free(test_client_handshake(b, NULL));
    g_autofree char *r = test_client_cmd(b, "{\"execute\": \"query-status\", \"id\": 1}");
    g_assert_true(g_str_has_prefix(r, "{\"return\": {\"status\": \"prelaunch\""));
    g_free(test_client_cmd(a, "{\"execute\": \"quit\"}"));
    wrap_done(p, w, 0);
    g_assert_false(g_file_test(path, G_FILE_TEST_EXISTS));
}

/* The ways a QEMU command line names its QMP socket at PATH. */
static const char *const forms[][4] = {
    { "-qmp", "unix:PATH,server=on,wait=off" },
    { "-qmp", "unix:PATH,server,nowait" },
    { "-chardev", "socket,id=qmp0,path=PATH,server=on,wait=off", "-mon",
      "chardev=qmp0,mode=control" },
    { "-chardev", "socket,path=PATH,id=qmp0,server=on,wait=off", "-mon", "qmp0,mode=control" },
};

static void test_form(gconstpointer data)
{
    const char *const *form = data;
    Place *p = place_new();
    g_auto(GStrv) parts = g_strsplit(form[1], "PATH", 2);
    g_autofree char *named = g_strjoinv(p->sock, parts);
    const char *const args[] = { form[0], named, form[2], form[3], NULL };

    two_clients_then_quit(p, wrap(p, NULL, args), p->sock);
    place_free(p);
}

/* ---- nothing to stand in front of: QEMU itself ---- */

typedef struct {
    char *out, *err;
    int status;
} Ran;

static void ran_clear(Ran *r)
{
    g_free(r->out);
    g_free(r->err);
}

static void run(const char *const *argv, const char *tmp, Ran *r)
{
    g_autoptr(GError) error = NULL;
    g_auto(GStrv) env = g_environ_setenv(g_get_environ(), "TMPDIR", tmp, TRUE);

    g_assert_true(g_spawn_sync(NULL, (char **)argv, env, G_SPAWN_SEARCH_PATH, NULL, NULL, &r->out,
                               &r->err, &r->status, &error));
    g_assert_no_error(error);
}

static const char *const pass_through[][3] = {
    { "--version" },        { "-version" },       { "-h" },
    { "-machine", "help" }, { "-M", "help" },     { "-device", "help" },
    { "-cpu", "help" },     { "-accel", "help" }, { "-no-such-option" },
};

/* The same stdout, stderr and status as QEMU's, under the -qmproxy name
 * and under "qmproxy wrap --"; and no proxy (its TMPDIR stays empty). */
static void test_pass_through(gconstpointer data)
{
    const char *const *args = data;
    Place *p = place_new();
    g_autofree char *link = g_build_filename(p->dir, "qemu-system-x86_64-qmproxy", NULL);
    g_autofree char *bin = g_canonicalize_filename(test_qmproxy_bin(), NULL);
    const char *const direct[] = { "qemu-system-x86_64", args[0], args[1], NULL };
    const char *const linked[] = { link, args[0], args[1], NULL };
    const char *const wrapped[] = {
        bin, "wrap", "--", "qemu-system-x86_64", args[0], args[1], NULL
    };
    Ran want = { 0 }, via_link = { 0 }, via_wrap = { 0 };

    g_assert_cmpint(symlink(bin, link), ==, 0);
    run(direct, p->tmp, &want);
    run(linked, p->tmp, &via_link);
    run(wrapped, p->tmp, &via_wrap);
    g_assert_true(*want.out || *want.err);
    g_assert_cmpstr(via_link.out, ==, want.out);
    g_assert_cmpstr(via_link.err, ==, want.err);
    g_assert_cmpint(via_link.status, ==, want.status);
    g_assert_cmpstr(via_wrap.out, ==, want.out);
    g_assert_cmpstr(via_wrap.err, ==, want.err);
    g_assert_cmpint(via_wrap.status, ==, want.status);
    assert_tmp_empty(p);
    ran_clear(&want);
    ran_clear(&via_link);
    ran_clear(&via_wrap);
    place_free(p);
}

/* ---- a monitor passed as a descriptor (libvirt's way) ---- */

static int listening_socket(const char *path)
{
    struct sockaddr_un addr = { .sun_family = AF_UNIX };
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

    g_assert_cmpuint(strlen(path), <, sizeof(addr.sun_path));
    strcpy(addr.sun_path, path);
    g_assert_cmpint(bind(fd, (struct sockaddr *)&addr, sizeof(addr)), ==, 0);
    g_assert_cmpint(listen(fd, 1), ==, 0);
    return fd;
}

/* One connect(), no retry, as libvirt connects to a monitor. */
static TestClient *connect_once(const char *path)
{
    struct sockaddr_un addr = { .sun_family = AF_UNIX };
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

    strcpy(addr.sun_path, path);
    if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
        g_error("connect %s: %s", path, g_strerror(errno));
    }
    return test_client_new(fd);
}

static const char *const fd_monitor[] = {
    "-name",    "guest=dom-1,debug-threads=on",
    "-chardev", "socket,id=charmonitor,fd=5,server=on,wait=off",
    "-mon",     "chardev=charmonitor,id=monitor,mode=control",
    NULL,
};

static char *query_chardev(TestClient *c)
{
    return test_client_cmd(c, "{\"execute\": \"query-chardev\", \"id\": \"libvirt-2\"}");
}

static void test_fd_listening(void)
{
    Place *p = place_new();
    g_autofree char *monitor = g_build_filename(p->dir, "monitor.sock", NULL);
    g_autofree char *also = g_build_filename(p->dir, "%n.sock", NULL);
    g_autofree char *also_at = g_build_filename(p->dir, "dom-1.sock", NULL);
    int fd = listening_socket(monitor);
    Spawn how = { -1, -1, fd };
    const char *const opts[] = { "--listen-also", also, NULL };
    TestProxy *w = wrap_how(p, opts, TRUE, fd_monitor, &how);

    close(fd);
    /* libvirt connects at once, before QEMU runs, and waits for the
     * greeting */
    g_autoptr(TestClient) lv = connect_once(monitor);
    g_free(test_client_handshake(lv, NULL));
    g_assert_true(proxied(lv));
    /* QEMU would name the socket libvirt bound */
    g_autofree char *chardev = query_chardev(lv);
    g_autofree char *want = g_strdup_printf("{\"return\": [{\"frontend-open\": true, \"filename\": "
                                            "\"unix:%s,server=on\", \"label\": \"charmonitor\"}], "
                                            "\"id\": \"libvirt-2\"}",
                                            monitor);
    g_assert_cmpstr(chardev, ==, want);
    /* a second client on the same socket, as when libvirtd restarts */
    g_autoptr(TestClient) again = connect_once(monitor);
    g_free(test_client_handshake(again, NULL));
    g_autoptr(TestClient) other = test_fixture_client_at(also_at, NULL);
    g_free(test_client_cmd(lv, "{\"execute\": \"quit\"}"));
    wrap_done(p, w, 0);
    /* the socket is libvirt's: it removes it */
    g_assert_true(g_file_test(monitor, G_FILE_TEST_EXISTS));
    g_assert_false(g_file_test(also_at, G_FILE_TEST_EXISTS));
    place_free(p);
}

static void test_fd_connected(void)
{
    Place *p = place_new();
    int pair[2];
    const char *const args[] = { "-chardev", "socket,id=m,fd=5", "-mon", "chardev=m,mode=control",
                                 NULL };

    g_assert_cmpint(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair), ==, 0);
    Spawn how = { -1, -1, pair[1] };
    TestProxy *w = wrap_how(p, NULL, TRUE, args, &how);
    close(pair[1]);
    g_autoptr(TestClient) c = test_client_new(pair[0]);
    g_free(test_client_handshake(c, NULL));
    g_assert_true(proxied(c));
    g_autofree char *chardev = query_chardev(c);
    g_assert_cmpstr(chardev, ==,
                    "{\"return\": [{\"frontend-open\": true, \"filename\": \"unix:\", \"label\": "
                    "\"m\"}], \"id\": \"libvirt-2\"}");
    g_free(test_client_cmd(c, "{\"execute\": \"quit\"}"));
    wrap_done(p, w, 0);
    place_free(p);
}

/* A descriptor that is no socket, or not open: said, and QEMU never
 * started (the wrapper made nothing). */
static void test_fd_unusable(void)
{
    Place *p = place_new();
    int pipefd[2];

    g_assert_cmpint(pipe(pipefd), ==, 0);
    Spawn how = { -1, -1, pipefd[0] };
    TestProxy *w = wrap_how(p, NULL, TRUE, fd_monitor, &how);
    close(pipefd[0]);
    close(pipefd[1]);
    g_assert_true(exited_with(w, 1));
    g_autofree char *log = test_proxy_log(w);
    g_assert_nonnull(strstr(log, "QEMU's QMP monitor is descriptor 5, which is not a unix stream "
                                 "socket"));
    g_assert_null(strstr(log, "qemu-system-x86_64:"));
    test_proxy_free(w);

    w = wrap_how(p, NULL, TRUE, fd_monitor, NULL);
    g_assert_true(exited_with(w, 1));
    g_free(log);
    log = test_proxy_log(w);
    g_assert_nonnull(strstr(log, "descriptor 5, which is not open"));
    test_proxy_free(w);
    reap_orphans();
    assert_tmp_empty(p);
    place_free(p);
}

/* ---- -daemonize, as libvirt probes an emulator ---- */

/* Reads @fd to its end; FALSE if it stays open @timeout_ms. */
static gboolean read_to_eof(int fd, GString *into, guint timeout_ms)
{
    gint64 end = g_get_monotonic_time() + timeout_ms * 1000;
    char buf[4096];

    for (;;) {
        GPollFD pfd = { fd, G_IO_IN, 0 };
        gint64 left = (end - g_get_monotonic_time()) / 1000;

        if (left <= 0 || g_poll(&pfd, 1, (gint)left) <= 0) {
            return FALSE;
        }
        ssize_t n = read(fd, buf, sizeof(buf));
        if (n == 0) {
            return TRUE;
        }
        if (n > 0) {
            g_string_append_len(into, buf, n);
        }
    }
}

static void test_daemonize(void)
{
    Place *p = place_new();
    g_autofree char *pidfile = g_build_filename(p->dir, "qmp.pid", NULL);
    g_autofree char *plog = g_build_filename(p->dir, "proxy.log", NULL);
    const char *const opts[] = { "--log", p->log, NULL };
    const char *const args[] = { "-S",          "-no-user-config",
                                 "-nodefaults", "-nographic",
                                 "-machine",    "none,accel=kvm:tcg",
                                 "-qmp",        p->qmp,
                                 "-pidfile",    pidfile,
                                 "-daemonize",  NULL };
    int out[2], err[2];

    g_assert_cmpint(pipe(out), ==, 0);
    g_assert_cmpint(pipe(err), ==, 0);
    Spawn how = { out[1], err[1], -1 };
    TestProxy *w = wrap_how(p, opts, FALSE, args, &how);
    close(out[1]);
    close(err[1]);
    /* libvirt reads both to their end before it looks at the status: no
     * process may keep them */
    g_autoptr(GString) said = g_string_new(NULL);
    g_assert_true(read_to_eof(out[0], said, 10000));
    g_assert_true(read_to_eof(err[0], said, 10000));
    g_assert_null(strstr(said->str, "qmproxy"));
    close(out[0]);
    close(err[0]);
    g_assert_true(exited_with(w, 0));
    /* the pidfile names QEMU's daemon */
    g_autofree char *pid_text = NULL;
    g_assert_true(g_file_get_contents(pidfile, &pid_text, NULL, NULL));
    g_autofree char *exe_link = g_strdup_printf("/proc/%d/exe", atoi(pid_text));
    g_autofree char *exe = g_file_read_link(exe_link, NULL);
    g_assert_nonnull(exe);
    g_assert_true(g_str_has_prefix(strrchr(exe, '/') + 1, "qemu-system-x86_64"));
    /* one connect, at once, as the probe makes it; then another client */
    g_autoptr(TestClient) probe = connect_once(p->sock);
    g_autoptr(TestClient) other = connect_once(p->sock);
    g_free(test_client_handshake(probe, NULL));
    g_assert_true(proxied(probe));
    g_free(test_client_handshake(other, NULL));
    g_autofree char *r = test_client_cmd(other, "{\"execute\": \"query-status\", \"id\": 1}");
    g_assert_true(g_str_has_prefix(r, "{\"return\": {\"status\": \"prelaunch\""));
    g_free(test_client_cmd(probe, "{\"execute\": \"quit\"}"));
    reap_orphans();
    g_assert_false(g_file_test(p->sock, G_FILE_TEST_EXISTS));
    assert_tmp_empty(p);
    g_autofree char *log = test_proxy_log(w);
    g_assert_nonnull(strstr(log, "serving clients on"));
    test_proxy_free(w);
    place_free(p);
}

/* A daemonizing QEMU that fails: its words and status, nothing left. */
static void test_daemonize_fails(void)
{
    Place *p = place_new();
    const char *const args[] = {
        "-qmp", p->qmp, "-machine", "no-such-machine", "-daemonize", NULL
    };
    TestProxy *w = wrap(p, NULL, args);

    g_assert_true(exited_with(w, 1));
    g_autofree char *log = test_proxy_log(w);
    g_assert_nonnull(strstr(log, "qemu-system-x86_64: unsupported machine type"));
    reap_orphans_of(FALSE);
    g_assert_false(g_file_test(p->sock, G_FILE_TEST_EXISTS));
    assert_tmp_empty(p);
    test_proxy_free(w);
    place_free(p);
}

/* What the manager passes QEMU (Kata: tap descriptors for -netdev
 * ...,fds=) reaches it, in the foreground and daemonized alike. */
static void test_descriptors_reach_qemu(void)
{
    for (guint daemonize = 0; daemonize < 2; daemonize++) {
        Place *p = place_new();
        int pipefd[2];
        const char *const args[] = {
            "-qmp", p->qmp, "-add-fd", "fd=6,set=1,opaque=passed", daemonize ? "-daemonize" : NULL,
            NULL
        };

        g_assert_cmpint(pipe(pipefd), ==, 0);
        Spawn how = { -1, -1, pipefd[0], 6 };
        TestProxy *w = wrap_how(p, NULL, TRUE, args, &how);
        close(pipefd[0]);
        close(pipefd[1]);
        if (daemonize) {
            g_assert_true(exited_with(w, 0));
        }
        g_autoptr(TestClient) c = test_fixture_client_at(p->sock, NULL);
        g_autofree char *sets = test_client_cmd(c, "{\"execute\": \"query-fdsets\"}");
        g_assert_nonnull(strstr(sets, "\"opaque\": \"passed\""));
        g_assert_nonnull(strstr(sets, "\"fdset-id\": 1"));
        g_free(test_client_cmd(c, "{\"execute\": \"quit\"}"));
        wrap_done(p, w, 0);
        place_free(p);
    }
}

/* ---- several monitors, --listen-also ---- */

static void test_two_monitors(void)
{
    for (guint pick = 0; pick < 2; pick++) {
        Place *p = place_new();
        g_autofree char *other_sock = g_build_filename(p->dir, "other.sock", NULL);
        g_autofree char *other = g_strdup_printf("unix:%s,server=on,wait=off", other_sock);
        const char *const opts[] = { "--monitor", "compat_monitor1", NULL };
        const char *const args[] = { "-qmp", p->qmp, "-qmp", other, NULL };
        TestProxy *w = wrap(p, pick ? opts : NULL, args);
        const char *fronted = pick ? other_sock : p->sock;
        const char *left = pick ? p->sock : other_sock;

        g_autoptr(TestClient) qemus = test_client_connect(left);

        g_assert_nonnull(qemus);
        g_autofree char *plain = test_client_handshake(qemus, NULL);
        g_assert_false(proxied(qemus));
        g_autoptr(TestClient) a = test_client_connect(fronted);
        g_assert_nonnull(a);
        g_autoptr(TestClient) b = test_client_connect(fronted);
        g_autofree char *greeting = test_client_handshake(a, NULL);
        /* the same greeting as QEMU's own monitor gives */
        g_assert_cmpstr(greeting, ==, plain);
        g_assert_true(proxied(a));
        g_free(test_client_handshake(b, NULL));
        g_free(test_client_cmd(qemus, "{\"execute\": \"quit\"}"));
        wrap_done(p, w, 0);
        place_free(p);
    }
}

/* Options refused before anything starts. */
static void test_refused(void)
{
    static const char *const refused[][3] = {
        { "--monitor", "nosuch", "--monitor nosuch: QEMU's arguments have no QMP monitor" },
        { "--listen-also", "/tmp/%x.sock", "--listen-also /tmp/%x.sock: only %n" },
        { "--listen-also", "/tmp/%n.sock", "%n needs QEMU's -name NAME" },
    };

    for (guint i = 0; i < G_N_ELEMENTS(refused); i++) {
        Place *p = place_new();
        const char *const opts[] = { refused[i][0], refused[i][1], NULL };
        const char *const args[] = { "-qmp", p->qmp, NULL };
        TestProxy *w = wrap(p, opts, args);

        g_assert_true(exited_with(w, 2));
        g_autofree char *log = test_proxy_log(w);
        g_assert_nonnull(strstr(log, refused[i][2]));
        g_assert_null(strstr(log, "qemu-system-x86_64:"));
        g_assert_false(g_file_test(p->sock, G_FILE_TEST_EXISTS));
        test_proxy_free(w);
        reap_orphans();
        assert_tmp_empty(p);
        place_free(p);
    }
}

static void test_listen_also(void)
{
    Place *p = place_new();
    g_autofree char *tmpl = g_build_filename(p->dir, "%n-100%%.sock", NULL);
    g_autofree char *at = g_build_filename(p->dir, "vm-7-100%.sock", NULL);
    const char *const opts[] = { "--listen-also", tmpl, "--socket-mode", "0660", NULL };
    const char *const args[] = { "-name", "guest=vm-7,debug-threads=on", "-qmp", p->qmp, NULL };
    TestProxy *w = wrap(p, opts, args);
    g_autoptr(TestClient) c = test_client_connect(at);
    g_assert_nonnull(c);
    GStatBuf st;

    g_free(test_client_handshake(c, NULL));
    g_assert_cmpint(g_stat(at, &st), ==, 0);
    g_assert_cmpint(st.st_mode & 0777, ==, 0660);
    two_clients_then_quit(p, w, p->sock);
    g_assert_false(g_file_test(at, G_FILE_TEST_EXISTS));
    place_free(p);
}

/* ---- QEMU's life is the wrapper's ---- */

static void test_sigterm_reaches_qemu(void)
{
    Place *p = place_new();
    const char *const args[] = { "-qmp", p->qmp, NULL };
    TestProxy *w = wrap(p, NULL, args);
    g_autoptr(TestClient) c = test_fixture_client_at(p->sock, NULL);
    kill(w->pid, SIGTERM);
    /* QEMU itself got it: it says so, then goes, and so does the proxy */
    g_assert_true(test_client_wait_eof(c, 20000));
    g_assert_nonnull(strstr(c->in->str, "\"reason\": \"host-signal\""));
    wrap_done(p, w, 0);
    place_free(p);
}

/* The pid the manager started is QEMU's: it is what SIGKILL ends, and
 * the proxy follows. */
static void test_pid_is_qemus(void)
{
    Place *p = place_new();
    const char *const args[] = { "-qmp", p->qmp, NULL };
    TestProxy *w = wrap(p, NULL, args);
    g_autoptr(TestClient) c = test_fixture_client_at(p->sock, NULL);
    g_autofree char *exe_link = g_strdup_printf("/proc/%d/exe", (int)w->pid);
    g_autofree char *exe = g_file_read_link(exe_link, NULL);
    g_assert_true(g_str_has_prefix(strrchr(exe, '/') + 1, "qemu-system-x86_64"));
    kill(w->pid, SIGKILL);
    g_assert_true(test_proxy_wait(w, 20000));
    g_assert_true(WIFSIGNALED(w->status) && WTERMSIG(w->status) == SIGKILL);
    g_assert_true(test_client_wait_eof(c, 20000));
    reap_orphans();
    g_assert_false(g_file_test(p->sock, G_FILE_TEST_EXISTS));
    assert_tmp_empty(p);
    test_proxy_free(w);
    place_free(p);
}

static void test_qemu_fails_to_start(void)
{
    Place *p = place_new();
    const char *const args[] = { "-qmp", p->qmp, "-machine", "no-such-machine", NULL };
    TestProxy *w = wrap(p, NULL, args);

    g_assert_true(exited_with(w, 1));
    g_autofree char *log = test_proxy_log(w);
    /* QEMU's own words reach the caller */
    g_assert_nonnull(strstr(log, "qemu-system-x86_64: unsupported machine type"));
    reap_orphans();
    assert_tmp_empty(p);
    test_proxy_free(w);
    place_free(p);
}

static void test_connect_at_once(void)
{
    Place *p = place_new();
    const char *const args[] = { "-qmp", p->qmp, NULL };
    TestProxy *w = wrap(p, NULL, args);
    /* no waiting at all: the socket is the proxy's before QEMU starts */
    g_autoptr(TestClient) c = test_fixture_client_at(p->sock, NULL);
    g_free(test_client_cmd(c, "{\"execute\": \"quit\"}"));
    wrap_done(p, w, 0);
    place_free(p);
}

static void test_symlink_and_config(void)
{
    Place *p = place_new();
    g_autofree char *link = g_build_filename(p->dir, "qemu-system-x86_64-qmproxy", NULL);
    g_autofree char *qemu_link = g_build_filename(p->dir, "qemu-system-x86_64", NULL);
    g_autofree char *real_qemu = g_find_program_in_path("qemu-system-x86_64");
    g_autofree char *bin = g_canonicalize_filename(test_qmproxy_bin(), NULL);
    g_autofree char *conf = g_build_filename(p->dir, "qmproxy.conf", NULL);
    g_autofree char *trace = g_build_filename(p->dir, "trace.jsonl", NULL);
    g_autofree char *conf_text = g_strdup_printf("[qmproxy]\ntrace = %s\n", trace);
    g_autoptr(GPtrArray) argv = g_ptr_array_new();

    /* what a Kata configuration points path = at; the real QEMU beside it */
    g_assert_cmpint(symlink(bin, link), ==, 0);
    g_assert_cmpint(symlink(real_qemu, qemu_link), ==, 0);
    g_assert_true(g_file_set_contents(conf, conf_text, -1, NULL));
    g_setenv("QMPROXY_CONFIG", conf, TRUE);
    const char *const args[] = { link,       "-machine", "q35,accel=tcg", "-S",   "-nodefaults",
                                 "-display", "none",     "-qmp",          p->qmp, NULL };
    for (guint i = 0; args[i]; i++) {
        g_ptr_array_add(argv, (char *)args[i]);
    }
    TestProxy *w = spawn_argv(p, argv, NULL);
    g_unsetenv("QMPROXY_CONFIG");

    two_clients_then_quit(p, w, p->sock);
    g_autofree char *text = NULL;
    g_assert_true(g_file_get_contents(trace, &text, NULL, NULL));
    g_assert_nonnull(strstr(text, "\"name\": \"quit\""));
    place_free(p);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    test_require_qemu();
    /* the proxies the wrappers fork come back to us when QEMU goes */
    prctl(PR_SET_CHILD_SUBREAPER, 1);
    g_test_add_data_func("/wrap/qmp-new-form", forms[0], test_form);
    g_test_add_data_func("/wrap/qmp-old-form", forms[1], test_form);
    g_test_add_data_func("/wrap/chardev-mon", forms[2], test_form);
    g_test_add_data_func("/wrap/chardev-mon-implied", forms[3], test_form);
    for (guint i = 0; i < G_N_ELEMENTS(pass_through); i++) {
        g_autofree char *name = g_strdup_printf("/wrap/pass-through/%s%s%s", pass_through[i][0],
                                                pass_through[i][1] ? "-" : "",
                                                pass_through[i][1] ? pass_through[i][1] : "");
        g_test_add_data_func(name, pass_through[i], test_pass_through);
    }
    g_test_add_func("/wrap/fd/listening", test_fd_listening);
    g_test_add_func("/wrap/fd/connected", test_fd_connected);
    g_test_add_func("/wrap/fd/unusable", test_fd_unusable);
    g_test_add_func("/wrap/daemonize", test_daemonize);
    g_test_add_func("/wrap/daemonize-fails", test_daemonize_fails);
    g_test_add_func("/wrap/descriptors-reach-qemu", test_descriptors_reach_qemu);
    g_test_add_func("/wrap/two-monitors", test_two_monitors);
    g_test_add_func("/wrap/refused", test_refused);
    g_test_add_func("/wrap/listen-also", test_listen_also);
    g_test_add_func("/wrap/sigterm-reaches-qemu", test_sigterm_reaches_qemu);
    g_test_add_func("/wrap/pid-is-qemus", test_pid_is_qemus);
    g_test_add_func("/wrap/qemu-fails-to-start", test_qemu_fails_to_start);
    g_test_add_func("/wrap/connect-at-once", test_connect_at_once);
    g_test_add_func("/wrap/symlink-and-config", test_symlink_and_config);
    return g_test_run();
}
