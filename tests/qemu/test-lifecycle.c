/* test-lifecycle.c - starting, refusing to start, stopping, QEMU going
 * away, and who may connect. */
#include "fixture.h"
#include "harness.h"
#include "fake-qemu.h"

#include <glib/gstdio.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

static gboolean exited_with(TestProxy *p, int code)
{
    return test_proxy_wait(p, 10000) && WIFEXITED(p->status) && WEXITSTATUS(p->status) == code;
}

static void assert_log_has(TestProxy *p, const char *needle)
{
    g_autofree char *log = test_proxy_log(p);

    if (!strstr(log, needle)) {
        g_test_message("log:\n%s", log);
    }
    g_assert_nonnull(strstr(log, needle));
}

static void test_qemu_killed_under_load(void)
{
    g_autoptr(TestQemu) q = test_qemu_start(NULL);
    g_autoptr(TestProxy) p = test_proxy_start(q->qmp, q->dir, NULL);
    TestClient *c[3];

    for (int i = 0; i < 3; i++) {
        c[i] = test_client_connect(p->listen);
        g_free(test_client_handshake(c[i], NULL));
        for (int n = 0; n < 300; n++) {
            test_client_send(c[i], "{\"execute\": \"query-qmp-schema\", \"id\": 1}");
        }
    }
    test_qemu_kill(q, SIGKILL);
    for (int i = 0; i < 3; i++) {
        g_assert_true(test_client_wait_eof(c[i], 10000));
        test_client_free(c[i]);
    }
    g_assert_true(exited_with(p, 0));
    assert_log_has(p, "QEMU closed the QMP connection");
    assert_log_has(p, "in flight when QEMU went away: client ");
    g_assert_false(g_file_test(p->listen, G_FILE_TEST_EXISTS));
}

static void test_qemu_quits(void)
{
    g_autoptr(TestQemu) q = test_qemu_start(NULL);
    g_autoptr(TestProxy) p = test_proxy_start(q->qmp, q->dir, NULL);
    g_autoptr(TestClient) a = test_client_connect(p->listen);
    g_autoptr(TestClient) b = test_client_connect(p->listen);

    g_free(test_client_handshake(a, NULL));
    g_free(test_client_handshake(b, NULL));
    g_autofree char *reply = test_client_cmd(a, "{\"execute\": \"quit\", \"id\": \"q\"}");
    g_assert_cmpstr(reply, ==, "{\"return\": {}, \"id\": \"q\"}");
    /* as from QEMU itself: the SHUTDOWN event, then the end */
    g_assert_true(test_client_wait_eof(a, 10000));
    g_assert_true(test_client_wait_eof(b, 10000));
    g_assert_nonnull(strstr(b->in->str, "\"event\": \"SHUTDOWN\""));
    g_assert_true(exited_with(p, 0));
}

static void test_sigterm(void)
{
    g_autoptr(TestQemu) q = test_qemu_start(NULL);
    g_autoptr(TestProxy) p = test_proxy_start(q->qmp, q->dir, NULL);
    g_autoptr(TestClient) c = test_fixture_client_at(p->listen, NULL);

    kill(p->pid, SIGTERM);
    g_assert_true(exited_with(p, 0));
    g_assert_false(g_file_test(p->listen, G_FILE_TEST_EXISTS));
    g_assert_true(test_client_wait_eof(c, 5000));
    /* QEMU's monitor is free again */
    g_autoptr(TestClient) direct = test_client_connect(q->qmp);
    g_free(test_client_handshake(direct, NULL));
}

static void test_refuse_missing_upstream(void)
{
    g_autofree char *dir = g_dir_make_tmp("qmproxy-test-XXXXXX", NULL);
    g_autofree char *up = g_build_filename(dir, "nothing.sock", NULL);
    g_autofree char *listen = g_build_filename(dir, "proxy.sock", NULL);
    g_autoptr(TestProxy) p = test_proxy_spawn(up, listen, NULL);

    g_assert_true(exited_with(p, 1));
    assert_log_has(p, "cannot connect to QEMU's QMP socket");
    assert_log_has(p, up);
    g_assert_false(g_file_test(listen, G_FILE_TEST_EXISTS));
    g_rmdir(dir);
}

static void refuse_upstream(const char *script, const char *const *opts, const char *expect)
{
    g_autofree char *dir = g_dir_make_tmp("qmproxy-test-XXXXXX", NULL);
    g_autofree char *up = g_build_filename(dir, "fake.sock", NULL);
    g_autofree char *listen = g_build_filename(dir, "proxy.sock", NULL);
    g_autoptr(TestFakeQmp) fake = test_fake_qmp_start(up, script);
    g_autoptr(TestProxy) p = test_proxy_spawn(up, listen, opts);

    g_assert_true(exited_with(p, 1));
    assert_log_has(p, expect);
    g_assert_false(g_file_test(listen, G_FILE_TEST_EXISTS));
    test_fake_qmp_free(g_steal_pointer(&fake));
    g_rmdir(dir);
}

static void test_refuse_not_qmp(void)
{
    refuse_upstream("send SSH-2.0-OpenSSH_9.2\nhang", NULL, "is not a QMP server");
    refuse_upstream("send {\"hello\": 1}\nhang", NULL, "is not a QMP server");
}

static void test_refuse_silent_upstream(void)
{
    const char *const opts[] = { "--connect-timeout", "1", NULL };

    refuse_upstream("hang", opts, "sent no QMP greeting within 1 s");
}

static void test_refuse_caps_refused(void)
{
    refuse_upstream("send " TEST_FAKE_GREETING "\nrecv\nreply \"error\": {\"class\": "
                    "\"GenericError\", \"desc\": \"nope\"}\nhang",
                    NULL, "refused qmp_capabilities: nope");
}

/* Script steps for a fake once the proxy has negotiated: it learns what
 * devices "QEMU" has (none), then a client's qmp_capabilities is checked
 * by "QEMU". */
#define FAKE_LEARNS_NOTHING                                                                        \
    "recv\nsend {\"return\": [{\"name\": \"type\", \"type\": \"string\"}]}\n"
#define FAKE_CLIENT_CAPS                                                                           \
    "recv\nsend {\"error\": {\"class\": \"CommandNotFound\", \"desc\": \"Capabilities "            \
    "negotiation is already complete, command ignored\"}}\n"

static void test_upstream_crash_mid_command(void)
{
    g_autofree char *dir = g_dir_make_tmp("qmproxy-test-XXXXXX", NULL);
    g_autofree char *up = g_build_filename(dir, "fake.sock", NULL);
    g_autoptr(TestFakeQmp) fake = test_fake_qmp_start(
        up, "send " TEST_FAKE_GREETING
            "\nrecv\nreply \"return\": {}\n" FAKE_LEARNS_NOTHING FAKE_CLIENT_CAPS "recv\nclose");
    g_autoptr(TestProxy) p = test_proxy_start(up, dir, NULL);
    g_autoptr(TestClient) c = test_fixture_client_at(p->listen, NULL);

    test_client_send(c, "{\"execute\": \"device_del\", \"arguments\": {\"id\": \"d1\"}, \"id\": "
                        "\"del-1\"}");
    /* the fake reads the command and dies without answering */
    g_assert_true(test_client_wait_eof(c, 10000));
    g_assert_true(exited_with(p, 0));
    assert_log_has(p, "in flight when QEMU went away: client 1, device_del, id \"del-1\"");
    g_autofree char *seen = test_fake_qmp_received(fake);
    /* as its tokens, without the id: QEMU answers in order */
    g_assert_nonnull(strstr(seen, "{\"execute\":\"device_del\",\"arguments\":{\"id\":\"d1\"}}"));
    test_fake_qmp_free(g_steal_pointer(&fake));
    g_rmdir(dir);
}

/* QEMU gives the answer to a command its previous client left running
 * (a proxy killed mid-attach) to the next client, before that client's
 * own: the proxy takes it for no answer of its own, and serves. */
static void test_previous_clients_answer(void)
{
    g_autofree char *dir = g_dir_make_tmp("qmproxy-test-XXXXXX", NULL);
    g_autofree char *up = g_build_filename(dir, "fake.sock", NULL);
    g_autoptr(TestFakeQmp) fake = test_fake_qmp_start(
        up, "send " TEST_FAKE_GREETING "\nrecv\n"
            "send {\"error\": {\"class\": \"GenericError\", \"desc\": \"Bus 'pcie.0' does not "
            "support hotplugging\"}}\n"
            "send {\"return\": {}}\n"
            "reply \"return\": {}\n" FAKE_LEARNS_NOTHING FAKE_CLIENT_CAPS
            "recv\nreply \"return\": {\"running\": true, \"status\": \"running\"}\nhang");
    g_autoptr(TestProxy) p = test_proxy_start(up, dir, NULL);
    g_autoptr(TestClient) c = test_fixture_client_at(p->listen, NULL);

    g_autofree char *r = test_client_cmd(c, "{\"execute\": \"query-status\", \"id\": 7}");
    g_assert_cmpstr(r, ==, "{\"return\": {\"running\": true, \"status\": \"running\"}, \"id\": 7}");
    assert_log_has(p, "dropped an answer to the previous client of QEMU's monitor: {\"error\"");
    test_fake_qmp_free(g_steal_pointer(&fake));
    test_proxy_free(g_steal_pointer(&p));
    g_rmdir(dir);
}

static void test_refuse_live_listener(void)
{
    g_autoptr(TestQemu) q = test_qemu_start(NULL);
    g_autoptr(TestProxy) first = test_proxy_start(q->qmp, q->dir, NULL);
    g_autoptr(TestQemu) q2 = test_qemu_start(NULL);
    g_autoptr(TestProxy) second = test_proxy_spawn(q2->qmp, first->listen, NULL);

    g_assert_true(exited_with(second, 1));
    assert_log_has(second, "another process is listening on");
    /* and the first one is untouched */
    g_autoptr(TestClient) c = test_client_connect(first->listen);
    g_free(test_client_handshake(c, NULL));
}

static void test_stale_socket_replaced(void)
{
    g_autoptr(TestQemu) q = test_qemu_start(NULL);
    g_autofree char *listen = g_build_filename(q->dir, "proxy.sock", NULL);
    struct sockaddr_un addr = { .sun_family = AF_UNIX };
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);

    strcpy(addr.sun_path, listen);
    g_assert_cmpint(bind(fd, (struct sockaddr *)&addr, sizeof(addr)), ==, 0);
    close(fd); /* a socket file nobody listens on */
    g_autoptr(TestProxy) p = test_proxy_start(q->qmp, q->dir, NULL);
    g_autoptr(TestClient) c = test_client_connect(p->listen);
    g_free(test_client_handshake(c, NULL));
    assert_log_has(p, "replacing stale socket");
}

static void test_refuse_regular_file(void)
{
    g_autoptr(TestQemu) q = test_qemu_start(NULL);
    g_autofree char *listen = g_build_filename(q->dir, "proxy.sock", NULL);

    g_assert_true(g_file_set_contents(listen, "precious", -1, NULL));
    g_autoptr(TestProxy) p = test_proxy_spawn(q->qmp, listen, NULL);
    g_assert_true(exited_with(p, 1));
    assert_log_has(p, "exists and is not a socket");
    g_autofree char *text = NULL;
    g_assert_true(g_file_get_contents(listen, &text, NULL, NULL));
    g_assert_cmpstr(text, ==, "precious");
}

static guint socket_mode(const char *path)
{
    struct stat st;

    g_assert_cmpint(stat(path, &st), ==, 0);
    return st.st_mode & 0777;
}

static void test_socket_mode(void)
{
    g_autoptr(TestQemu) q = test_qemu_start(NULL);
    g_autoptr(TestProxy) p = test_proxy_start(q->qmp, q->dir, NULL);
    g_assert_cmpuint(socket_mode(p->listen), ==, 0600);

    g_autoptr(TestQemu) q2 = test_qemu_start(NULL);
    const char *const opts[] = { "--socket-mode", "0660", NULL };
    g_autoptr(TestProxy) p2 = test_proxy_start(q2->qmp, q2->dir, opts);
    g_assert_cmpuint(socket_mode(p2->listen), ==, 0660);
}

/* The proxy for @q under strace (-e @trace, output in @calls), serving
 * at @listen with the extra options @opts; NULL if strace is missing. */
static TestProxy *straced_proxy(TestQemu *q, const char *listen, const char *trace,
                                const char *calls, const char *const *opts)
{
    g_autofree char *strace = g_find_program_in_path("strace");
    g_autofree char *log = g_build_filename(q->dir, "strace.log", NULL);
    g_autoptr(GPtrArray) argv = g_ptr_array_new();

    if (!strace) {
        return NULL;
    }
    const char *const head[] = {
        strace,       "-f",   "-e",       trace,  "-s", "4096", "-o", calls, test_qmproxy_bin(),
        "--upstream", q->qmp, "--listen", listen, NULL
    };
    for (guint i = 0; head[i]; i++) {
        g_ptr_array_add(argv, (char *)head[i]);
    }
    for (guint i = 0; opts && opts[i]; i++) {
        g_ptr_array_add(argv, (char *)opts[i]);
    }
    g_ptr_array_add(argv, NULL);
    /* LeakSanitizer cannot run under ptrace: the sanitizer build's other
     * tests look for leaks */
    g_autofree char *asan = g_strdup(g_getenv("ASAN_OPTIONS"));
    g_autofree char *no_leaks =
        g_strconcat(asan ? asan : "", asan ? ":" : "", "detect_leaks=0", NULL);
    g_setenv("ASAN_OPTIONS", no_leaks, TRUE);
    TestProxy *p = test_spawn_logged((const char *const *)argv->pdata, log);
    if (asan) {
        g_setenv("ASAN_OPTIONS", asan, TRUE);
    } else {
        g_unsetenv("ASAN_OPTIONS");
    }
    for (guint i = 0; i < 1000 && !g_file_test(listen, G_FILE_TEST_EXISTS); i++) {
        g_usleep(10000);
    }
    return p;
}

/* Stops a straced_proxy(): the proxy is strace's child; it gets the
 * signal, strace follows it out. Returns what strace saw. */
static char *straced_stop(TestProxy *p, const char *calls)
{
    g_autofree char *children_path = g_strdup_printf("/proc/%d/task/%d/children", p->pid, p->pid);
    g_autofree char *children = NULL;
    char *seen = NULL;

    g_assert_true(g_file_get_contents(children_path, &children, NULL, NULL));
    kill((pid_t)g_ascii_strtoll(children, NULL, 10), SIGTERM);
    g_assert_true(test_proxy_wait(p, 10000));
    g_assert_true(g_file_get_contents(calls, &seen, NULL, NULL));
    return seen;
}

/* The socket gets its mode from bind() itself: a chmod() by path after
 * it would follow a symbolic link put in its place meanwhile. */
static void test_socket_mode_without_chmod(void)
{
    g_autoptr(TestQemu) q = test_qemu_start(NULL);
    g_autofree char *listen = g_build_filename(q->dir, "proxy.sock", NULL);
    g_autofree char *calls = g_build_filename(q->dir, "calls", NULL);
    const char *const opts[] = { "--socket-mode", "0660", NULL };
    g_autoptr(TestProxy) p =
        straced_proxy(q, listen, "trace=chmod,fchmodat,lchown,chown", calls, opts);

    if (!p) {
        g_test_skip("strace is not installed");
        return;
    }
    g_autoptr(TestClient) c = test_client_connect(listen);
    g_free(test_client_handshake(c, NULL));
    g_assert_cmpuint(socket_mode(listen), ==, 0660);
    g_autofree char *seen = straced_stop(p, calls);
    g_assert_null(strstr(seen, "chmod("));
    g_assert_null(strstr(seen, "fchmodat("));
}

/* Commands that are ready for QEMU together leave in one sendmsg(), each
 * without its id and white space: QEMU reads a byte per system call, and
 * answers in-band commands in order. */
static void test_commands_leave_together(void)
{
    g_autoptr(TestQemu) q = test_qemu_start(NULL);
    g_autofree char *listen = g_build_filename(q->dir, "proxy.sock", NULL);
    g_autofree char *calls = g_build_filename(q->dir, "calls", NULL);
    g_autoptr(TestProxy) p = straced_proxy(q, listen, "trace=sendmsg", calls, NULL);

    if (!p) {
        g_test_skip("strace is not installed");
        return;
    }
    g_autoptr(TestClient) c = test_client_connect(listen);
    g_free(test_client_handshake(c, NULL));
    test_client_send(c, "{ \"execute\": \"query-status\", \"id\": 1 }"
                        "{\"execute\": \"query-name\"}{\"execute\": \"query-uuid\", \"id\": "
                        "\"u\"}{\"execute\":\"query-kvm\"}");
    for (guint i = 0; i < 4; i++) {
        g_free(test_client_recv_reply(c, NULL));
    }
    g_autofree char *seen = straced_stop(p, calls);
    g_assert_nonnull(strstr(seen,
                            "[{iov_base=\"{\\\"execute\\\":\\\"query-status\\\"}\", "
                            "iov_len=26}, {iov_base=\"{\\\"execute\\\":\\\"query-name\\\"}\", "
                            "iov_len=24}, {iov_base=\"{\\\"execute\\\":\\\"query-uuid\\\"}\", "
                            "iov_len=24}, {iov_base=\"{\\\"execute\\\":\\\"query-kvm\\\"}\", "
                            "iov_len=23}], msg_iovlen=4"));
}

/* At exit the proxy removes its socket file, and only its own: what
 * another process put at the path since stays. */
static void test_leaves_what_is_not_its_socket(void)
{
    g_autoptr(TestQemu) q = test_qemu_start(NULL);
    TestProxy *p = test_proxy_start(q->qmp, q->dir, NULL);
    g_autofree char *listen = g_strdup(p->listen);
    g_autoptr(GError) error = NULL;

    g_assert_cmpint(g_unlink(listen), ==, 0);
    g_assert_true(g_file_set_contents(listen, "someone else's\n", -1, &error));
    test_proxy_free(p); /* SIGTERM, status 0 */
    g_autofree char *text = NULL;
    g_assert_true(g_file_get_contents(listen, &text, NULL, NULL));
    g_assert_cmpstr(text, ==, "someone else's\n");

    /* and its own it does remove */
    g_unlink(listen);
    TestProxy *p2 = test_proxy_start(q->qmp, q->dir, NULL);
    test_proxy_free(p2);
    g_assert_false(g_file_test(listen, G_FILE_TEST_EXISTS));
}

static void test_allow_uid(void)
{
    g_autoptr(TestQemu) q = test_qemu_start(NULL);
    const char *const opts[] = { "--allow-uid", "4242", "--allow-uid", "4243", NULL };
    g_autoptr(TestProxy) p = test_proxy_start(q->qmp, q->dir, opts);
    g_autoptr(TestClient) c = test_client_connect(p->listen);

    /* refused before the greeting: not a byte of QMP */
    g_assert_true(test_client_wait_eof(c, 10000));
    g_assert_cmpuint(c->in->len, ==, 0);
    g_autofree char *uid = g_strdup_printf("uid %u", (unsigned)getuid());
    assert_log_has(p, "refused");
    assert_log_has(p, uid);

    g_autoptr(TestQemu) q2 = test_qemu_start(NULL);
    g_autofree char *me = g_strdup_printf("%u", (unsigned)getuid());
    const char *const opts2[] = { "--allow-uid", "4242", "--allow-uid", me, NULL };
    g_autoptr(TestProxy) p2 = test_proxy_start(q2->qmp, q2->dir, opts2);
    g_autoptr(TestClient) ok = test_client_connect(p2->listen);
    g_free(test_client_handshake(ok, NULL));
    g_autofree char *pid = g_strdup_printf("client 1 connected: pid %d uid %s", (int)getpid(), me);
    assert_log_has(p2, pid);
}

static void test_max_clients(void)
{
    g_autoptr(TestQemu) q = test_qemu_start(NULL);
    const char *const opts[] = { "--max-clients", "2", NULL };
    g_autoptr(TestProxy) p = test_proxy_start(q->qmp, q->dir, opts);
    g_autoptr(TestClient) a = test_client_connect(p->listen);
    g_autoptr(TestClient) b = test_client_connect(p->listen);

    g_free(test_client_handshake(a, NULL));
    g_free(test_client_handshake(b, NULL));
    g_autoptr(TestClient) c = test_client_connect(p->listen);
    g_assert_true(test_client_wait_eof(c, 10000));
    assert_log_has(p, "--max-clients");
    /* a place frees when a client leaves */
    test_client_free(g_steal_pointer(&a));
    g_usleep(200000);
    g_autoptr(TestClient) d = test_client_connect(p->listen);
    g_free(test_client_handshake(d, NULL));
}

static void test_bad_options(void)
{
    const char *cases[][3] = {
        { "--listen", "/tmp/x.sock", "--upstream is required" },
        { "--upstream", "/tmp/x.sock", "--listen is required" },
    };

    for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
        const char *argv[] = { test_qmproxy_bin(), cases[i][0], cases[i][1], NULL };
        g_autofree char *err = NULL;
        int status;

        g_assert_true(g_spawn_sync(NULL, (char **)argv, NULL, G_SPAWN_STDOUT_TO_DEV_NULL, NULL,
                                   NULL, NULL, &err, &status, NULL));
        g_assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 2);
        g_assert_nonnull(strstr(err, cases[i][2]));
    }
    const char *mode[] = { test_qmproxy_bin(), "--upstream", "a", "--listen", "b",
                           "--socket-mode",    "999",        NULL };
    g_autofree char *err = NULL;
    int status;
    g_assert_true(g_spawn_sync(NULL, (char **)mode, NULL, G_SPAWN_STDOUT_TO_DEV_NULL, NULL, NULL,
                               NULL, &err, &status, NULL));
    g_assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 2);
    g_assert_nonnull(strstr(err, "--socket-mode: '999'"));

    /* numbers that are not what they say are refused, never wrapped or
     * quietly raised */
    const char *numbers[][3] = {
        { "--trace-max-size", "-5", "--trace-max-size: '-5' is not a size" },
        { "--trace-max-size", " 5", "--trace-max-size: ' 5' is not a size" },
        { "--trace-max-size", "0", "--trace-max-size: '0' is not a size" },
        { "--connect-timeout", "-1", "--connect-timeout must be at least 1" },
        { "--connect-timeout", "0", "--connect-timeout must be at least 1" },
        { "--unplug-timeout", "-3", "--unplug-timeout must be at least 1" },
    };
    for (guint i = 0; i < G_N_ELEMENTS(numbers); i++) {
        const char *argv[] = {
            test_qmproxy_bin(), "--upstream", "a",           "--listen",    "b",
            "--trace",          "/tmp/t",     numbers[i][0], numbers[i][1], NULL
        };
        g_autofree char *e = NULL;

        g_assert_true(g_spawn_sync(NULL, (char **)argv, NULL, G_SPAWN_STDOUT_TO_DEV_NULL, NULL,
                                   NULL, NULL, &e, &status, NULL));
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 2 || !strstr(e, numbers[i][2])) {
            g_error("%s %s: status %d, %s", numbers[i][0], numbers[i][1], status, e);
        }
    }
}

static void test_version_help(void)
{
    const char *version[] = { test_qmproxy_bin(), "--version", NULL };
    const char *help[] = { test_qmproxy_bin(), "--help", NULL };
    g_autofree char *out = NULL, *usage = NULL;
    int status;

    g_assert_true(g_spawn_sync(NULL, (char **)version, NULL, G_SPAWN_DEFAULT, NULL, NULL, &out,
                               NULL, &status, NULL));
    g_assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    g_assert_true(g_str_has_prefix(out, "qmproxy "));
    g_assert_true(g_spawn_sync(NULL, (char **)help, NULL, G_SPAWN_DEFAULT, NULL, NULL, &usage, NULL,
                               &status, NULL));
    g_assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    for (const char *opt = "--upstream\0--listen\0--socket-mode\0--allow-uid\0--max-clients\0";
         *opt; opt += strlen(opt) + 1) {
        g_assert_nonnull(strstr(usage, opt));
    }
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    test_require_qemu();

    g_test_add_func("/lifecycle/qemu-killed-under-load", test_qemu_killed_under_load);
    g_test_add_func("/lifecycle/qemu-quits", test_qemu_quits);
    g_test_add_func("/lifecycle/sigterm", test_sigterm);
    g_test_add_func("/lifecycle/upstream-crash-mid-command", test_upstream_crash_mid_command);
    g_test_add_func("/lifecycle/previous-clients-answer", test_previous_clients_answer);
    g_test_add_func("/lifecycle/refuse/missing-upstream", test_refuse_missing_upstream);
    g_test_add_func("/lifecycle/refuse/not-qmp", test_refuse_not_qmp);
    g_test_add_func("/lifecycle/refuse/silent-upstream", test_refuse_silent_upstream);
    g_test_add_func("/lifecycle/refuse/caps-refused", test_refuse_caps_refused);
    g_test_add_func("/lifecycle/refuse/live-listener", test_refuse_live_listener);
    g_test_add_func("/lifecycle/refuse/regular-file", test_refuse_regular_file);
    g_test_add_func("/lifecycle/stale-socket-replaced", test_stale_socket_replaced);
    g_test_add_func("/security/socket-mode", test_socket_mode);
    g_test_add_func("/security/socket-mode-without-chmod", test_socket_mode_without_chmod);
    g_test_add_func("/lifecycle/commands-leave-together", test_commands_leave_together);
    g_test_add_func("/security/leaves-what-is-not-its-socket", test_leaves_what_is_not_its_socket);
    g_test_add_func("/security/allow-uid", test_allow_uid);
    g_test_add_func("/security/max-clients", test_max_clients);
    g_test_add_func("/cli/bad-options", test_bad_options);
    g_test_add_func("/cli/version-help", test_version_help);
    return g_test_run();
}
