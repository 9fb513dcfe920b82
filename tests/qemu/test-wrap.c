/* test-wrap.c - "qmproxy wrap -- QEMU ARGS...": the proxy on the socket
 * path a runtime gave QEMU, for each way of naming it; QEMU's exit
 * status, signals and error output passed through; the symlink and the
 * config file a Kata configuration relies on. */
#include "harness.h"

#include <glib/gstdio.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

typedef struct {
    char *dir;
    char *sock;
    char *log;
    char *qmp; /* the -qmp argument for @sock */
} Place;

static Place *place_new(void)
{
    Place *p = g_new0(Place, 1);

    p->dir = g_dir_make_tmp("qmproxy-wrap-test-XXXXXX", NULL);
    p->sock = g_build_filename(p->dir, "qmp.sock", NULL);
    p->log = g_build_filename(p->dir, "wrap.log", NULL);
    p->qmp = g_strdup_printf("unix:%s,server=on,wait=off", p->sock);
    return p;
}

static void place_free(Place *p)
{
    test_rm_rf(p->dir);
    g_free(p->dir);
    g_free(p->sock);
    g_free(p->log);
    g_free(p->qmp);
    g_free(p);
}

/* qmproxy wrap [@opts] -- qemu-system-x86_64 (TCG, -S) @qmp_args... */
static TestProxy *wrap(Place *p, const char *const *opts, const char *const *qmp_args)
{
    g_autoptr(GPtrArray) argv = g_ptr_array_new();

    g_ptr_array_add(argv, (char *)test_qmproxy_bin());
    g_ptr_array_add(argv, "wrap");
    for (guint i = 0; opts && opts[i]; i++) {
        g_ptr_array_add(argv, (char *)opts[i]);
    }
    g_ptr_array_add(argv, "--");
    const char *const qemu[] = { "qemu-system-x86_64", "-machine", "q35,accel=tcg", "-S",
                                 "-nodefaults",        "-display", "none",          NULL };
    for (guint i = 0; qemu[i]; i++) {
        g_ptr_array_add(argv, (char *)qemu[i]);
    }
    for (guint i = 0; qmp_args[i]; i++) {
        g_ptr_array_add(argv, (char *)qmp_args[i]);
    }
    g_ptr_array_add(argv, NULL);
    return test_spawn_logged((const char *const *)argv->pdata, p->log);
}

static gboolean exited_with(TestProxy *w, int code)
{
    return test_proxy_wait(w, 20000) && WIFEXITED(w->status) && WEXITSTATUS(w->status) == code;
}

/* Two clients at once on the runtime's path, then quit: exit status 0. */
static void two_clients_then_quit(Place *p, TestProxy *w)
{
    g_autoptr(TestClient) a = test_client_connect(p->sock);
    g_autoptr(TestClient) b = test_client_connect(p->sock);

    g_assert_nonnull(a);
    g_assert_nonnull(b);
    g_free(test_client_handshake(a, NULL));
    g_free(test_client_handshake(b, NULL));
    g_autofree char *r = test_client_cmd(b, "{\"execute\": \"query-status\", \"id\": 1}");
    g_assert_true(g_str_has_prefix(r, "{\"return\": {\"status\": \"prelaunch\""));
    g_free(test_client_cmd(a, "{\"execute\": \"quit\"}"));
    g_assert_true(exited_with(w, 0));
    g_assert_false(g_file_test(p->sock, G_FILE_TEST_EXISTS));
}

/* The ways a QEMU command line names its QMP socket at PATH. */
static const char *const forms[][4] = {
    { "-qmp", "unix:PATH,server=on,wait=off" },
    { "-qmp", "unix:PATH,server,nowait" },
    { "-chardev", "socket,id=qmp0,path=PATH,server=on,wait=off", "-mon",
      "chardev=qmp0,mode=control" },
};

static void test_form(gconstpointer data)
{
    const char *const *form = data;
    Place *p = place_new();
    g_auto(GStrv) parts = g_strsplit(form[1], "PATH", 2);
    g_autofree char *named = g_strjoinv(p->sock, parts);
    const char *const args[] = { form[0], named, form[2], form[3], NULL };
    TestProxy *w = wrap(p, NULL, args);

    two_clients_then_quit(p, w);
    test_proxy_free(w);
    place_free(p);
}

static void test_fd_refused(void)
{
    Place *p = place_new();
    const char *const args[] = { "-chardev", "socket,id=m,fd=3", "-mon", "chardev=m,mode=control",
                                 NULL };
    TestProxy *w = wrap(p, NULL, args);

    g_assert_true(exited_with(w, 2));
    g_autofree char *log = test_proxy_log(w);
    g_assert_nonnull(strstr(log, "passed as a file descriptor"));
    test_proxy_free(w);
    place_free(p);
}

static void test_sigterm_reaches_qemu(void)
{
    Place *p = place_new();
    const char *const args[] = { "-qmp", p->qmp, NULL };
    TestProxy *w = wrap(p, NULL, args);
    g_autoptr(TestClient) c = test_client_connect(p->sock);

    g_free(test_client_handshake(c, NULL));
    kill(w->pid, SIGTERM);
    /* QEMU itself got it: it says so, then goes, and so does the wrapper
     * with QEMU's status */
    g_assert_true(test_client_wait_eof(c, 20000));
    g_assert_nonnull(strstr(c->in->str, "\"reason\": \"host-signal\""));
    g_assert_true(exited_with(w, 0));
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
    test_proxy_free(w);
    place_free(p);
}

static void test_connect_at_once(void)
{
    Place *p = place_new();
    const char *const args[] = { "-qmp", p->qmp, NULL };
    TestProxy *w = wrap(p, NULL, args);
    /* no waiting at all: the socket is the proxy's before QEMU starts */
    g_autoptr(TestClient) c = test_client_connect(p->sock);

    g_free(test_client_handshake(c, NULL));
    g_free(test_client_cmd(c, "{\"execute\": \"quit\"}"));
    g_assert_true(exited_with(w, 0));
    test_proxy_free(w);
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

    /* what a Kata configuration points path = at; the real QEMU beside it */
    g_assert_cmpint(symlink(bin, link), ==, 0);
    g_assert_cmpint(symlink(real_qemu, qemu_link), ==, 0);
    g_assert_true(g_file_set_contents(conf, conf_text, -1, NULL));
    g_setenv("QMPROXY_CONFIG", conf, TRUE);
    const char *const argv[] = { link,       "-machine", "q35,accel=tcg", "-S",   "-nodefaults",
                                 "-display", "none",     "-qmp",          p->qmp, NULL };
    TestProxy *w = test_spawn_logged(argv, p->log);
    g_unsetenv("QMPROXY_CONFIG");

    two_clients_then_quit(p, w);
    g_autofree char *text = NULL;
    g_assert_true(g_file_get_contents(trace, &text, NULL, NULL));
    g_assert_nonnull(strstr(text, "\"name\": \"quit\""));
    test_proxy_free(w);
    place_free(p);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    test_require_qemu();
    g_test_add_data_func("/wrap/qmp-new-form", forms[0], test_form);
    g_test_add_data_func("/wrap/qmp-old-form", forms[1], test_form);
    g_test_add_data_func("/wrap/chardev-mon", forms[2], test_form);
    g_test_add_func("/wrap/fd-refused", test_fd_refused);
    g_test_add_func("/wrap/sigterm-reaches-qemu", test_sigterm_reaches_qemu);
    g_test_add_func("/wrap/qemu-fails-to-start", test_qemu_fails_to_start);
    g_test_add_func("/wrap/connect-at-once", test_connect_at_once);
    g_test_add_func("/wrap/symlink-and-config", test_symlink_and_config);
    return g_test_run();
}
