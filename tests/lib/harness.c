/* harness.c - starting QEMU and qmproxy for tests, and a blocking QMP
 * client with time-outs (tests may block; the daemon never does). */
#include "harness.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#define QEMU_BIN "qemu-system-x86_64"

const char *test_qmproxy_bin(void)
{
    const char *bin = g_getenv("QMPROXY_BIN");

    return bin ? bin : "qmproxy";
}

void test_require_qemu(void)
{
    g_autofree char *path = g_find_program_in_path(QEMU_BIN);

    if (!path) {
        g_print("1..0 # SKIP " QEMU_BIN " is not installed (apt-get install qemu-system-x86)\n");
        exit(77);
    }
}

void test_rm_rf(const char *path)
{
    g_autoptr(GDir) dir = g_dir_open(path, 0, NULL);
    const char *name;

    while (dir && (name = g_dir_read_name(dir))) {
        g_autofree char *child = g_build_filename(path, name, NULL);

        if (g_file_test(child, G_FILE_TEST_IS_DIR) && !g_file_test(child, G_FILE_TEST_IS_SYMLINK)) {
            test_rm_rf(child);
        } else {
            g_unlink(child);
        }
    }
    g_rmdir(path);
}

static gboolean wait_for_file(const char *path, guint timeout_ms)
{
    for (guint waited = 0; waited < timeout_ms; waited += 10) {
        if (g_file_test(path, G_FILE_TEST_EXISTS)) {
            return TRUE;
        }
        g_usleep(10000);
    }
    return FALSE;
}

/* A test that fails aborts at once: what it started must not outlive it
 * (a QEMU left running holds its sockets and a CPU's share). */
void test_die_with_parent(gpointer unused)
{
    prctl(PR_SET_PDEATHSIG, SIGKILL);
}

static GPid spawn(char **argv, const char *log_path)
{
    g_autoptr(GError) error = NULL;
    int log_fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    GPid pid;

    g_assert_cmpint(log_fd, >=, 0);
    gboolean ok =
        g_spawn_async_with_fds(NULL, argv, NULL, G_SPAWN_DO_NOT_REAP_CHILD | G_SPAWN_SEARCH_PATH,
                               test_die_with_parent, NULL, &pid, -1, log_fd, log_fd, &error);
    close(log_fd);
    g_assert_no_error(error);
    g_assert_true(ok);
    return pid;
}

TestQemu *test_qemu_start(const char *const *extra)
{
    return test_qemu_start_with(extra, FALSE);
}

TestQemu *test_qemu_start_with(const char *const *extra, gboolean pretty)
{
    TestQemu *q = g_new0(TestQemu, 1);
    g_autoptr(GPtrArray) argv = g_ptr_array_new_with_free_func(g_free);
    g_autoptr(GError) error = NULL;

    q->dir = g_dir_make_tmp("qmproxy-test-XXXXXX", &error);
    g_assert_no_error(error);
    q->qmp = g_build_filename(q->dir, "qmp.sock", NULL);

    g_ptr_array_add(argv, g_strdup(QEMU_BIN));
    g_ptr_array_add(argv, g_strdup("-machine"));
    g_ptr_array_add(argv, g_strdup("q35,accel=tcg"));
    g_ptr_array_add(argv, g_strdup("-S"));
    g_ptr_array_add(argv, g_strdup("-nodefaults"));
    g_ptr_array_add(argv, g_strdup("-display"));
    g_ptr_array_add(argv, g_strdup("none"));
    if (pretty) {
        g_ptr_array_add(argv, g_strdup("-chardev"));
        g_ptr_array_add(argv, g_strdup_printf("socket,id=qmp,path=%s,server=on,wait=off", q->qmp));
        g_ptr_array_add(argv, g_strdup("-mon"));
        g_ptr_array_add(argv, g_strdup("chardev=qmp,mode=control,pretty=on"));
    } else {
        g_ptr_array_add(argv, g_strdup("-qmp"));
        g_ptr_array_add(argv, g_strdup_printf("unix:%s,server=on,wait=off", q->qmp));
    }
    for (guint i = 0; extra && extra[i]; i++) {
        g_ptr_array_add(argv, g_strdup(extra[i]));
    }
    g_ptr_array_add(argv, NULL);

    g_autofree char *log = g_build_filename(q->dir, "qemu.log", NULL);
    q->pid = spawn((char **)argv->pdata, log);
    if (!wait_for_file(q->qmp, 20000)) {
        g_autofree char *text = NULL;

        g_file_get_contents(log, &text, NULL, NULL);
        g_error("QEMU did not create %s: %s", q->qmp, text ? text : "");
    }
    /* QEMU binds before it listens: make sure a connection is taken */
    test_client_free(test_client_connect(q->qmp));
    return q;
}

void test_qemu_kill(TestQemu *q, int sig)
{
    if (!q->exited) {
        kill(q->pid, sig);
        if (sig == SIGKILL || sig == SIGTERM) {
            waitpid(q->pid, NULL, 0);
            q->exited = TRUE;
        }
    }
}

void test_qemu_free(TestQemu *q)
{
    if (!q) {
        return;
    }
    test_qemu_kill(q, SIGKILL);
    g_spawn_close_pid(q->pid);
    test_rm_rf(q->dir);
    g_free(q->dir);
    g_free(q->qmp);
    g_free(q);
}

TestProxy *test_proxy_spawn(const char *upstream, const char *listen, const char *const *extra)
{
    TestProxy *p = g_new0(TestProxy, 1);
    g_autoptr(GPtrArray) argv = g_ptr_array_new();

    p->listen = g_strdup(listen);
    p->log = g_strdup_printf("%s.log", listen);
    g_ptr_array_add(argv, (char *)test_qmproxy_bin());
    g_ptr_array_add(argv, "--upstream");
    g_ptr_array_add(argv, (char *)upstream);
    g_ptr_array_add(argv, "--listen");
    g_ptr_array_add(argv, (char *)listen);
    for (guint i = 0; extra && extra[i]; i++) {
        g_ptr_array_add(argv, (char *)extra[i]);
    }
    g_ptr_array_add(argv, NULL);
    p->pid = spawn((char **)argv->pdata, p->log);
    return p;
}

TestProxy *test_spawn_logged(const char *const *argv, const char *log)
{
    TestProxy *p = g_new0(TestProxy, 1);

    p->log = g_strdup(log);
    p->listen = g_strdup("");
    p->pid = spawn((char **)argv, log);
    return p;
}

/* Waits for @text in @p's log; FALSE if it exits first or after
 * @timeout_ms. */
static gboolean wait_for_log(TestProxy *p, const char *text, guint timeout_ms)
{
    for (guint waited = 0; waited < timeout_ms; waited += 10) {
        g_autofree char *log = NULL;

        if (g_file_get_contents(p->log, &log, NULL, NULL) && strstr(log, text)) {
            return TRUE;
        }
        if (waitpid(p->pid, &p->status, WNOHANG) == p->pid) {
            p->exited = TRUE;
            return FALSE;
        }
        g_usleep(10000);
    }
    return FALSE;
}

TestProxy *test_proxy_start(const char *upstream, const char *dir, const char *const *extra)
{
    g_autofree char *listen = g_build_filename(dir, "proxy.sock", NULL);
    /* a socket a killed proxy left accepts nothing: wait until the new
     * one has taken it over (which may follow seconds of reconciling) */
    gboolean stale = g_file_test(listen, G_FILE_TEST_EXISTS);
    TestProxy *p = test_proxy_spawn(upstream, listen, extra);

    if (stale && !wait_for_log(p, "replacing stale socket", 30000)) {
        g_autofree char *log = test_proxy_log(p);
        g_error("qmproxy did not take over %s: %s", listen, log);
    }
    if (!wait_for_file(listen, 10000)) {
        g_autofree char *log = test_proxy_log(p);
        g_error("qmproxy did not create %s: %s", listen, log);
    }
    return p;
}

gboolean test_proxy_wait(TestProxy *p, guint timeout_ms)
{
    for (guint waited = 0; !p->exited; waited += 5) {
        if (waitpid(p->pid, &p->status, WNOHANG) == p->pid) {
            p->exited = TRUE;
            break;
        }
        if (waited >= timeout_ms) {
            return FALSE;
        }
        g_usleep(5000);
    }
    return TRUE;
}

char *test_proxy_log(TestProxy *p)
{
    char *text = NULL;

    if (!g_file_get_contents(p->log, &text, NULL, NULL)) {
        return g_strdup("");
    }
    return text;
}

/* Sanitizer reports go to the proxy's stderr, i.e. its log. */
static void assert_no_sanitizer_report(TestProxy *p)
{
    g_autofree char *log = test_proxy_log(p);

    if (strstr(log, "Sanitizer") || strstr(log, "runtime error:")) {
        g_error("qmproxy reported a sanitizer error:\n%s", log);
    }
}

void test_proxy_free(TestProxy *p)
{
    if (!p) {
        return;
    }
    if (!p->exited) {
        /* every proxy must stop cleanly on SIGTERM, with nothing leaked */
        kill(p->pid, SIGTERM);
        if (!test_proxy_wait(p, 10000)) {
            kill(p->pid, SIGKILL);
            waitpid(p->pid, &p->status, 0);
            g_error("qmproxy did not exit on SIGTERM");
        }
        if (!WIFEXITED(p->status) || WEXITSTATUS(p->status) != 0) {
            g_autofree char *log = test_proxy_log(p);
            g_error("qmproxy exited with status %d on SIGTERM:\n%s", p->status, log);
        }
    }
    assert_no_sanitizer_report(p);
    g_spawn_close_pid(p->pid);
    g_unlink(p->log);
    g_free(p->listen);
    g_free(p->log);
    g_free(p);
}

TestClient *test_client_connect(const char *path)
{
    struct sockaddr_un addr = { .sun_family = AF_UNIX };

    g_assert_cmpuint(strlen(path), <, sizeof(addr.sun_path));
    strcpy(addr.sun_path, path);
    for (int tries = 0; tries < 500; tries++) {
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

        g_assert_cmpint(fd, >=, 0);
        if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) == 0) {
            return test_client_new(fd);
        }
        close(fd);
        g_usleep(10000);
    }
    return NULL;
}

TestClient *test_client_new(int fd)
{
    TestClient *c = g_new0(TestClient, 1);

    c->fd = fd;
    c->in = g_string_new(NULL);
    return c;
}

void test_client_free(TestClient *c)
{
    if (c) {
        close(c->fd);
        g_string_free(c->in, TRUE);
        g_free(c);
    }
}

void test_client_send_len(TestClient *c, const char *data, gsize len)
{
    while (len) {
        ssize_t n = send(c->fd, data, len, MSG_NOSIGNAL);

        if (n < 0 && errno == EINTR) {
            continue;
        }
        g_assert_cmpint(n, >, 0);
        data += n;
        len -= (gsize)n;
    }
}

void test_client_send(TestClient *c, const char *data)
{
    test_client_send_len(c, data, strlen(data));
}

void test_client_send_fds(TestClient *c, const char *data, const int *fds, guint n_fds)
{
    char control[CMSG_SPACE(sizeof(int) * 16)];
    struct iovec iov = { (void *)data, strlen(data) };
    struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };

    g_assert_cmpuint(n_fds, <=, 16);
    memset(control, 0, sizeof(control));
    msg.msg_control = control;
    msg.msg_controllen = CMSG_SPACE(sizeof(int) * n_fds);
    struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);
    cm->cmsg_level = SOL_SOCKET;
    cm->cmsg_type = SCM_RIGHTS;
    cm->cmsg_len = CMSG_LEN(sizeof(int) * n_fds);
    memcpy(CMSG_DATA(cm), fds, sizeof(int) * n_fds);
    g_assert_cmpint(sendmsg(c->fd, &msg, MSG_NOSIGNAL), ==, (ssize_t)strlen(data));
}

void test_client_shutdown(TestClient *c)
{
    shutdown(c->fd, SHUT_WR);
}

/* Reads more input; FALSE on EOF, error or time-out. */
static gboolean fill(TestClient *c, guint timeout_ms)
{
    struct pollfd pfd = { c->fd, POLLIN, 0 };
    char buf[65536];

    if (poll(&pfd, 1, (int)timeout_ms) <= 0) {
        return FALSE;
    }
    ssize_t n = recv(c->fd, buf, sizeof(buf), 0);
    if (n <= 0) {
        return FALSE;
    }
    g_string_append_len(c->in, buf, n);
    return TRUE;
}

char *test_client_recv_line(TestClient *c, guint timeout_ms)
{
    gint64 deadline = g_get_monotonic_time() + (gint64)timeout_ms * 1000;

    for (;;) {
        /* a long reply comes in many reads: look at each byte once */
        char *eol = strstr(c->in->str + (c->no_eol ? c->no_eol - 1 : 0), "\r\n");

        if (eol) {
            gsize len = (gsize)(eol - c->in->str);
            char *line = g_strndup(c->in->str, len);

            g_string_erase(c->in, 0, (gssize)len + 2);
            c->no_eol = 0;
            return line;
        }
        c->no_eol = c->in->len;
        gint64 left = (deadline - g_get_monotonic_time()) / 1000;
        if (left <= 0 || !fill(c, (guint)left)) {
            return NULL;
        }
    }
}

char *test_client_recv_reply(TestClient *c, GPtrArray *events)
{
    for (;;) {
        char *line = test_client_recv_line(c, 20000);

        g_assert_nonnull(line);
        if (!strstr(line, "\"event\": ")) {
            return line;
        }
        if (events) {
            g_ptr_array_add(events, line);
        } else {
            g_free(line);
        }
    }
}

char *test_client_recv_all(TestClient *c, guint timeout_ms)
{
    gint64 deadline = g_get_monotonic_time() + (gint64)timeout_ms * 1000;

    for (;;) {
        gint64 left = (deadline - g_get_monotonic_time()) / 1000;

        if (left <= 0 || !fill(c, (guint)left)) {
            break;
        }
    }
    char *all = g_strdup(c->in->str);
    g_string_truncate(c->in, 0);
    c->no_eol = 0;
    return all;
}

guint test_client_lines_ready(TestClient *c)
{
    guint n = 0;

    while (fill(c, 0)) {
    }
    for (const char *p = c->in->str; (p = strstr(p, "\r\n")); p += 2) {
        n++;
    }
    return n;
}

void test_client_unplug(TestClient *c, const char *id)
{
    g_autofree char *cmd =
        g_strdup_printf("{\"execute\": \"device_del\", \"arguments\": {\"id\": \"%s\"}}", id);
    g_autofree char *want = g_strdup_printf("\"device\": \"%s\"", id);
    g_autoptr(GPtrArray) events = g_ptr_array_new_with_free_func(g_free);

    test_client_send(c, cmd);
    g_autofree char *r = test_client_recv_reply(c, events);
    g_assert_cmpstr(r, ==, "{\"return\": {}}");
    for (;;) {
        for (guint i = 0; i < events->len; i++) {
            if (strstr(g_ptr_array_index(events, i), want)) {
                return;
            }
        }
        char *line = test_client_recv_line(c, 20000);
        g_assert_nonnull(line);
        g_ptr_array_add(events, line);
    }
}

gboolean test_client_wait_eof(TestClient *c, guint timeout_ms)
{
    struct pollfd pfd = { c->fd, POLLIN, 0 };
    char buf[4096];
    gint64 deadline = g_get_monotonic_time() + (gint64)timeout_ms * 1000;

    for (;;) {
        gint64 left = (deadline - g_get_monotonic_time()) / 1000;

        if (left <= 0 || poll(&pfd, 1, (int)left) <= 0) {
            return FALSE;
        }
        ssize_t n = recv(c->fd, buf, sizeof(buf), 0);
        if (n == 0 || (n < 0 && errno == ECONNRESET)) {
            return TRUE;
        }
        if (n < 0) {
            return FALSE;
        }
        g_string_append_len(c->in, buf, n);
    }
}

char *test_client_handshake(TestClient *c, const char *caps_json)
{
    char *greeting = test_client_recv_line(c, 20000);

    g_assert_nonnull(greeting);
    g_assert_true(g_str_has_prefix(greeting, "{\"QMP\": "));
    g_autofree char *cmd =
        caps_json
            ? g_strdup_printf("{\"execute\": \"qmp_capabilities\", \"arguments\": %s}", caps_json)
            : g_strdup("{\"execute\": \"qmp_capabilities\"}");
    g_autofree char *reply = test_client_cmd(c, cmd);
    g_assert_cmpstr(reply, ==, "{\"return\": {}}");
    return greeting;
}

char *test_client_cmd(TestClient *c, const char *cmd)
{
    test_client_send(c, cmd);
    return test_client_recv_reply(c, NULL);
}

char *test_mask_timestamps(const char *text)
{
    /* compact or pretty, the timestamp's two members are these */
    g_autoptr(GRegex) re = g_regex_new("\"(seconds|microseconds)\": -?[0-9]+", 0, 0, NULL);

    return g_regex_replace(re, text, -1, 0, "\"\\1\": 0", 0, NULL);
}

TestJsonByte test_json_scan(TestJsonScan *scan, char c)
{
    if (scan->quote) {
        if (scan->escaped) {
            scan->escaped = FALSE;
        } else if (c == '\\') {
            scan->escaped = TRUE;
        } else if (c == scan->quote) {
            scan->quote = 0;
            return TEST_JSON_CLOSE;
        }
        return TEST_JSON_IN;
    }
    if (c == '"' || c == '\'') {
        scan->quote = c;
        return TEST_JSON_OPEN;
    }
    if (c == '{' || c == '[') {
        scan->depth++;
    } else if (c == '}' || c == ']') {
        scan->depth--;
    }
    return TEST_JSON_TEXT;
}

gsize test_json_object_end(const char *s, gsize len)
{
    TestJsonScan scan = { 0 };

    for (gsize i = 0; i < len; i++) {
        TestJsonByte kind = test_json_scan(&scan, s[i]);

        if (kind == TEST_JSON_TEXT && s[i] == '}' && scan.depth == 0) {
            return i + 1;
        }
        if (scan.depth <= 0) {
            scan = (TestJsonScan){ 0 }; /* outside objects nothing counts */
        }
    }
    return 0;
}
