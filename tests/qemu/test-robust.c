/* test-robust.c - one client cannot hurt the others (issue #11): a client
 * that floods the proxy with requests behind one that waits, a message
 * padded with gigabytes of white space, a proxy out of descriptors, a
 * client parking descriptors, a trace FIFO nobody reads or a reader that
 * stops, a reply larger than --client-queue-max, and device-new with a
 * path no kernel takes. Against a real QEMU throughout; every test also
 * asks the proxy something on another connection, and stops it with
 * SIGTERM (status 0, no sanitizer report). */
#include "qmp-json.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define DM "__org.qmproxy_"

/* ---- what the proxy process costs ---- */

/* A field of /proc/PID/status, in KiB. */
static guint64 status_kib(GPid pid, const char *field)
{
    g_autofree char *path = g_strdup_printf("/proc/%d/status", (int)pid);
    g_autofree char *text = NULL;

    g_assert_true(g_file_get_contents(path, &text, NULL, NULL));
    const char *at = strstr(text, field);
    g_assert_nonnull(at);
    return g_ascii_strtoull(at + strlen(field), NULL, 10);
}

/* User and system CPU time of @pid so far, in clock ticks. */
static guint64 cpu_ticks(GPid pid)
{
    g_autofree char *path = g_strdup_printf("/proc/%d/stat", (int)pid);
    g_autofree char *text = NULL;

    g_assert_true(g_file_get_contents(path, &text, NULL, NULL));
    /* past the command name, which may hold spaces: fields 14 and 15 */
    g_auto(GStrv) f = g_strsplit(strrchr(text, ')') + 2, " ", -1);
    return g_ascii_strtoull(f[11], NULL, 10) + g_ascii_strtoull(f[12], NULL, 10);
}

/* The CPU the proxy spends over @ms of doing nothing asked of it. */
static guint64 idle_ticks(GPid pid, guint ms)
{
    guint64 before = cpu_ticks(pid);

    g_usleep(ms * 1000);
    return cpu_ticks(pid) - before;
}

static guint open_fds(GPid pid)
{
    g_autofree char *path = g_strdup_printf("/proc/%d/fd", (int)pid);
    g_autoptr(GDir) dir = g_dir_open(path, 0, NULL);
    guint n = 0;

    g_assert_nonnull(dir);
    while (g_dir_read_name(dir)) {
        n++;
    }
    return n;
}

static guint count_in(const char *text, const char *needle)
{
    guint n = 0;

    for (const char *p = text; (p = strstr(p, needle)); p += strlen(needle)) {
        n++;
    }
    return n;
}

/* Waits up to @ms for @needle in the proxy's log; returns the log. */
static char *wait_log(TestProxy *p, const char *needle, guint ms)
{
    char *log = NULL;

    for (guint waited = 0;; waited += 20) {
        g_free(log);
        log = test_proxy_log(p);
        if (strstr(log, needle) || waited >= ms) {
            return log;
        }
        g_usleep(20 * 1000);
    }
}

/* Another client is served promptly: the proxy is not stuck. */
static void assert_serves(TestProxy *p, guint within_ms)
{
    g_autoptr(TestClient) c = test_client_connect(p->listen);
    gint64 start = g_get_monotonic_time();

    g_assert_nonnull(c);
    g_autofree char *greeting = test_client_recv_line(c, within_ms);
    g_assert_nonnull(greeting);
    test_client_send(c, "{\"execute\": \"qmp_capabilities\"}{\"execute\": \"query-version\"}");
    g_autofree char *caps = test_client_recv_line(c, within_ms);
    g_autofree char *version = test_client_recv_line(c, within_ms);
    g_assert_cmpstr(caps, ==, "{\"return\": {}}");
    g_assert_nonnull(version);
    g_assert_true(g_str_has_prefix(version, "{\"return\": {\"qemu\""));
    g_test_message("another client served in %" G_GINT64_FORMAT " us",
                   g_get_monotonic_time() - start);
}

/* SIGTERM ends the proxy within @ms, with status 0. */
static void assert_stops(TestProxy *p, guint ms)
{
    gint64 start = g_get_monotonic_time();

    kill(p->pid, SIGTERM);
    if (!test_proxy_wait(p, ms)) {
        g_autofree char *log = test_proxy_log(p);
        g_error("the proxy did not exit within %u ms of SIGTERM:\n%s", ms, log);
    }
    g_assert_true(WIFEXITED(p->status));
    g_assert_cmpint(WEXITSTATUS(p->status), ==, 0);
    g_test_message("stopped in %" G_GINT64_FORMAT " ms", (g_get_monotonic_time() - start) / 1000);
}

/* Sends as much of @data as the socket takes within @ms; how much it took. */
static gsize send_what_fits(TestClient *c, const char *data, gsize len, guint ms)
{
    gsize off = 0;
    gint64 deadline = g_get_monotonic_time() + (gint64)ms * 1000;

    while (off < len && g_get_monotonic_time() < deadline) {
        struct pollfd pfd = { c->fd, POLLOUT, 0 };

        if (poll(&pfd, 1, 50) <= 0) {
            continue;
        }
        ssize_t n = send(c->fd, data + off, len - off, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n > 0) {
            off += (gsize)n;
        } else if (n < 0 && errno != EAGAIN && errno != EINTR) {
            break; /* the peer is gone */
        }
    }
    return off;
}

static const char *const pci_args[] = { "-device", "pcie-root-port,id=rp1,bus=pcie.0,chassis=1",
                                        NULL };

/* 1. A client whose one command waits inside the proxy (a blockdev-del
 * held for the DEVICE_DELETED a paused guest never sends) then writes
 * 131,072 empty objects without reading. Every one takes a place in its
 * order (QEMU stops reading a monitor after 8 queued requests, parse
 * errors included), so the proxy stops reading it at 64, spends nothing,
 * holds little, serves everyone else and stops on SIGTERM. */
static void test_flood_behind_held_command(void)
{
    g_autoptr(TestQemu) q = test_qemu_start(pci_args);
    const char *const opts[] = { "--hotplug-bus", "rp1", "--unplug-timeout", "60", NULL };
    TestProxy *p = test_proxy_start(q->qmp, q->dir, opts);
    g_autoptr(TestClient) a = test_client_connect(p->listen);

    g_free(test_client_handshake(a, NULL));
    g_autoptr(JsonNode) n1 = test_qmp_ok(
        a,
        "{\"execute\": \"blockdev-add\", \"arguments\": {\"driver\": \"null-co\", \"node-name\": "
        "\"n1\"}}");
    g_autoptr(JsonNode) d1 = test_qmp_ok(
        a, "{\"execute\": \"device_add\", \"arguments\": {\"driver\": \"virtio-blk-pci\", "
           "\"drive\": \"n1\", \"id\": \"v1\"}}");
    g_autoptr(JsonNode) u1 =
        test_qmp_ok(a, "{\"execute\": \"device_del\", \"arguments\": {\"id\": \"v1\"}}");
    /* held: QEMU answered device_del, but the paused guest never lets go */
    test_client_send(a, "{\"execute\": \"blockdev-del\", \"arguments\": {\"node-name\": \"n1\"}}");

    gsize n = 131072;
    g_autofree char *flood = g_malloc(2 * n);
    for (gsize i = 0; i < n; i++) {
        memcpy(flood + 2 * i, "{}", 2);
    }
    gsize sent = send_what_fits(a, flood, 2 * n, 2000);
    g_test_message("the flooding client got %zu of %zu bytes in", sent, 2 * n);

    guint64 ticks = idle_ticks(p->pid, 1000);
    g_test_message("proxy CPU over 1 s after the flood: %" G_GUINT64_FORMAT " tick(s)", ticks);
    g_assert_cmpuint(ticks, <, 20);
    guint64 rss = status_kib(p->pid, "VmRSS:");
    g_test_message("proxy RSS: %" G_GUINT64_FORMAT " KiB", rss);
    g_assert_cmpuint(rss, <, 32 * 1024);
    assert_serves(p, 2000);
    /* the flood's answers wait behind the held command, in order: none yet */
    g_assert_cmpuint(test_client_lines_ready(a), ==, 0);
    assert_stops(p, 5000);
    test_proxy_free(p);
}

/* 2. White space inside a message costs no memory: 256 MiB of it between
 * two tokens, and the proxy's peak RSS stays far below. */
static void test_blanks_inside_a_message(void)
{
    g_autoptr(TestQemu) q = test_qemu_start(NULL);
    TestProxy *p = test_proxy_start(q->qmp, q->dir, NULL);
    g_autoptr(TestClient) c = test_client_connect(p->listen);
    gsize chunk = 1 << 20;
    g_autofree char *blanks = g_malloc(chunk);

    memset(blanks, ' ', chunk);
    for (gsize i = 0; i < chunk; i += 64) {
        blanks[i] = "\t\r\n "[i / 64 % 4];
    }
    g_free(test_client_handshake(c, NULL));
    test_client_send(c, "{\"execute\": \"query-status\", \"id\": 1");
    for (guint i = 0; i < 256; i++) {
        test_client_send_len(c, blanks, chunk);
    }
    test_client_send(c, "}");
    g_autofree char *reply = test_client_recv_line(c, 30000);
    g_assert_nonnull(reply);
    g_assert_true(g_str_has_prefix(reply, "{\"return\": {\"status\": \"prelaunch\""));
    g_assert_true(g_str_has_suffix(reply, "\"id\": 1}"));
    guint64 peak = status_kib(p->pid, "VmHWM:");
    g_test_message("proxy peak RSS after 256 MiB of blanks: %" G_GUINT64_FORMAT " KiB", peak);
    g_assert_cmpuint(peak, <, 32 * 1024);
    assert_serves(p, 2000);
    assert_stops(p, 5000);
    test_proxy_free(p);
}

/* A proxy whose descriptor limit is @limit (soft and hard). */
static TestProxy *proxy_with_fd_limit(TestQemu *q, guint limit)
{
    g_autofree char *listen = g_build_filename(q->dir, "proxy.sock", NULL);
    g_autofree char *log = g_strdup_printf("%s.log", listen);
    g_autofree char *nofile = g_strdup_printf("--nofile=%u:%u", limit, limit);
    g_autofree char *prlimit = g_find_program_in_path("prlimit");

    if (!prlimit) {
        return NULL;
    }
    const char *const argv[] = { prlimit,      nofile, test_qmproxy_bin(),
                                 "--upstream", q->qmp, "--listen",
                                 listen,       NULL };
    TestProxy *p = test_spawn_logged(argv, log);
    g_free(p->listen);
    p->listen = g_strdup(listen);
    for (guint i = 0; i < 1000 && !g_file_test(listen, G_FILE_TEST_EXISTS); i++) {
        g_usleep(10000);
    }
    g_assert_true(g_file_test(listen, G_FILE_TEST_EXISTS));
    return p;
}

/* 3. Out of descriptors, the listener is left alone (accept() would fail
 * at once, every time) and tried again on a timer; one line says so, the
 * waiting clients are served once descriptors are free. */
static void test_out_of_descriptors(void)
{
    g_autoptr(TestQemu) q = test_qemu_start(NULL);
    TestProxy *p = proxy_with_fd_limit(q, 64);
    g_autoptr(GPtrArray) clients = g_ptr_array_new_with_free_func((GDestroyNotify)test_client_free);

    if (!p) {
        g_test_skip("prlimit (util-linux) is not installed");
        return;
    }
    assert_serves(p, 5000);
    for (guint i = 0; i < 100; i++) {
        TestClient *c = test_client_connect(p->listen);

        g_assert_nonnull(c);
        g_ptr_array_add(clients, c);
    }
    g_usleep(500 * 1000);
    guint64 ticks = idle_ticks(p->pid, 1000);
    g_test_message("proxy CPU over 1 s out of descriptors: %" G_GUINT64_FORMAT " tick(s)", ticks);
    g_assert_cmpuint(ticks, <, 10);
    guint greeted = 0;
    for (guint i = 0; i < clients->len; i++) {
        TestClient *c = g_ptr_array_index(clients, i);
        g_autofree char *greeting = test_client_recv_line(c, 10);

        greeted += greeting != NULL;
    }
    g_test_message("%u of 100 clients greeted", greeted);
    g_assert_cmpuint(greeted, <, 64);
    g_autofree char *log = test_proxy_log(p);
    g_assert_cmpuint(count_in(log, "cannot accept clients"), ==, 1);
    g_assert_cmpuint(strlen(log), <, 64 * 1024);

    /* the first 60 leave: every one still waiting is greeted */
    g_ptr_array_remove_range(clients, 0, 60);
    for (guint i = 0; i < clients->len; i++) {
        TestClient *c = g_ptr_array_index(clients, i);
        g_autofree char *greeting = test_client_recv_line(c, 5000);

        g_assert_nonnull(greeting);
    }
    g_free(log);
    log = wait_log(p, "accepting clients on", 5000);
    g_assert_nonnull(strstr(log, "accepting clients on"));
    g_ptr_array_set_size(clients, 0);
    assert_stops(p, 5000);
    test_proxy_free(p);
}

/* Sends @data with @n open descriptors of /dev/null. */
static void send_nulls(TestClient *c, const char *data, guint n)
{
    int fds[64];
    char control[CMSG_SPACE(sizeof(fds))];
    struct iovec iov = { (void *)data, strlen(data) };
    struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };

    g_assert_cmpuint(n, <=, G_N_ELEMENTS(fds));
    for (guint i = 0; i < n; i++) {
        fds[i] = open("/dev/null", O_RDONLY | O_CLOEXEC);
    }
    memset(control, 0, sizeof(control));
    msg.msg_control = control;
    msg.msg_controllen = CMSG_SPACE(sizeof(int) * n);
    struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);
    cm->cmsg_level = SOL_SOCKET;
    cm->cmsg_type = SCM_RIGHTS;
    cm->cmsg_len = CMSG_LEN(sizeof(int) * n);
    memcpy(CMSG_DATA(cm), fds, sizeof(int) * n);
    g_assert_cmpint(sendmsg(c->fd, &msg, MSG_NOSIGNAL), ==, (ssize_t)strlen(data));
    for (guint i = 0; i < n; i++) {
        close(fds[i]);
    }
}

/* 4. What one client may park in the proxy is bounded: a batch of at most
 * 16 descriptors (QEMU's chardev takes 16), and while a getfd holding a
 * batch is out, nothing more is read from it: two batches at most, even
 * when QEMU is stopped and the client pipelines getfd after getfd. */
static void test_parked_descriptors_bounded(void)
{
    g_autoptr(TestQemu) q = test_qemu_start(NULL);
    TestProxy *p = test_proxy_start(q->qmp, q->dir, NULL);
    g_autoptr(TestClient) c = test_client_connect(p->listen);

    g_free(test_client_handshake(c, NULL));
    guint base = open_fds(p->pid);
    /* 31 at once: as into QEMU, 16 arrive */
    send_nulls(c, " ", 31);
    g_usleep(200 * 1000);
    g_test_message("parked after sending 31: %u", open_fds(p->pid) - base);
    g_assert_cmpuint(open_fds(p->pid), <=, base + 16);
    g_autofree char *r = test_client_cmd(c, "{\"execute\": \"getfd\", \"arguments\": "
                                            "{\"fdname\": \"first\"}}");
    g_assert_cmpstr(r, ==, "{\"return\": {}}");

    /* QEMU stopped: what the client sends next piles up in the proxy */
    kill(q->pid, SIGSTOP);
    for (guint i = 0; i < 10; i++) {
        g_autofree char *cmd =
            g_strdup_printf("{\"execute\": \"getfd\", \"arguments\": {\"fdname\": \"fd%u\"}}", i);

        send_nulls(c, cmd, 16);
    }
    g_usleep(300 * 1000);
    guint held = open_fds(p->pid) - MIN(open_fds(p->pid), base);
    g_test_message("held with QEMU stopped and 10 getfd pipelined: %u", held);
    g_assert_cmpuint(held, <=, 32);
    kill(q->pid, SIGCONT);
    for (guint i = 0; i < 10; i++) {
        g_autofree char *reply = test_client_recv_reply(c, NULL);

        g_assert_cmpstr(reply, ==, "{\"return\": {}}");
    }
    assert_serves(p, 2000);
    assert_stops(p, 5000);
    test_proxy_free(p);
}

/* 5. A trace FIFO nobody reads: refused at once, with its name, instead
 * of blocking in open() before the socket exists. */
static void test_trace_fifo_without_reader(void)
{
    g_autoptr(TestQemu) q = test_qemu_start(NULL);
    g_autofree char *fifo = g_build_filename(q->dir, "trace.fifo", NULL);
    g_autofree char *listen = g_build_filename(q->dir, "proxy.sock", NULL);

    g_assert_cmpint(mkfifo(fifo, 0600), ==, 0);
    TestProxy *p = test_proxy_spawn(q->qmp, listen, (const char *const[]){ "--trace", fifo, NULL });
    g_assert_true(test_proxy_wait(p, 3000));
    g_assert_true(WIFEXITED(p->status));
    g_assert_cmpint(WEXITSTATUS(p->status), ==, 1);
    g_autofree char *log = test_proxy_log(p);
    g_assert_nonnull(strstr(log, fifo));
    g_assert_nonnull(strstr(log, "FIFO no process is reading"));
    test_proxy_free(p);
}

/* 6. A trace FIFO whose reader stops reading: the proxy goes on serving,
 * and its exit waits for the writer a bounded time, saying what it did
 * not write. */
static void test_trace_fifo_reader_stops(void)
{
    g_autoptr(TestQemu) q = test_qemu_start(NULL);
    g_autofree char *fifo = g_build_filename(q->dir, "trace.fifo", NULL);

    g_assert_cmpint(mkfifo(fifo, 0600), ==, 0);
    int reader = open(fifo, O_RDONLY | O_NONBLOCK | O_CLOEXEC); /* and never reads */
    g_assert_cmpint(reader, >=, 0);
    TestProxy *p = test_proxy_start(q->qmp, q->dir, (const char *const[]){ "--trace", fifo, NULL });
    g_autoptr(TestClient) c = test_client_connect(p->listen);

    g_free(test_client_handshake(c, NULL));
    /* some 10 MB of trace, far more than a pipe holds */
    for (guint round = 0; round < 3; round++) {
        for (guint i = 0; i < 10; i++) {
            test_client_send(c, "{\"execute\": \"query-qmp-schema\", \"id\": 1}");
        }
        for (guint i = 0; i < 10; i++) {
            g_free(test_client_recv_reply(c, NULL));
        }
    }
    assert_serves(p, 2000);
    assert_stops(p, 5000);
    g_autofree char *log = test_proxy_log(p);
    g_assert_nonnull(strstr(log, "record(s) were not written"));
    test_proxy_free(p);
    close(reader);
}

/* 7. The bound on what a client leaves unread is not a bound on one
 * reply: a reading client gets a 24 MB answer; one that does not read
 * is dropped when the next output finds it still unread. */
static void test_big_reply(void)
{
    g_autoptr(TestQemu) q = test_qemu_start(NULL);
    TestProxy *p = test_proxy_start(q->qmp, q->dir, NULL);
    g_autoptr(TestClient) c = test_client_connect(p->listen);
    gsize id_len = 24 * 1000 * 1000; /* over --client-queue-max's 16 MiB */
    g_autoptr(GString) cmd = g_string_sized_new(id_len + 64);

    g_string_append(cmd, "{\"execute\": \"query-status\", \"id\": \"");
    for (gsize i = 0; i < id_len; i++) {
        g_string_append_c(cmd, (char)('a' + i % 26));
    }
    g_string_append(cmd, "\"}");
    g_free(test_client_handshake(c, NULL));
    test_client_send_len(c, cmd->str, cmd->len);
    g_autofree char *reply = test_client_recv_line(c, 60000);
    g_assert_nonnull(reply);
    g_assert_true(g_str_has_prefix(reply, "{\"return\": {\"status\": \"prelaunch\""));
    g_assert_cmpuint(strlen(reply), >, id_len);
    g_assert_nonnull(strstr(reply, "\"id\": \"abcdefghijklmnopqrstuvwxyzabc"));

    /* the same three times, not reading: gone once it leaves one unread */
    g_autoptr(TestClient) lazy = test_client_connect(p->listen);
    g_free(test_client_handshake(lazy, NULL));
    /* (sending fails once the proxy has dropped it) */
    for (guint i = 0; i < 3; i++) {
        send_what_fits(lazy, cmd->str, cmd->len, 20000);
    }
    g_autofree char *log = wait_log(p, "is not reading", 10000);
    g_assert_nonnull(strstr(log, "client 2 "));
    g_assert_nonnull(strstr(log, "is not reading"));
    g_assert_null(strstr(log, "client 1 (pid"));
    assert_serves(p, 2000);
    assert_stops(p, 10000);
    test_proxy_free(p);
}

/* 8. device-new keeps a path only as long as the kernel takes (a 10 MB
 * one would become a 10 MB blockdev-add, which QEMU reads at microseconds
 * a byte), and a bus only as long as QEMU names one. */
static void test_device_new_bounds(void)
{
    static const char *const scsi[] = { "-device", "virtio-scsi-pci,id=scsi0", NULL };
    g_autoptr(TestQemu) q = test_qemu_start(scsi);
    g_autofree char *state = g_build_filename(q->dir, "state.json", NULL);
    TestProxy *p =
        test_proxy_start(q->qmp, q->dir, (const char *const[]){ "--state", state, NULL });
    g_autoptr(TestClient) c = test_client_connect(p->listen);
    g_autoptr(GString) path = g_string_new("/");
    gint64 start;

    g_free(test_client_handshake(c, NULL));
    while (path->len < 10 * 1000 * 1000) {
        g_string_append(path, "aaaaaaaaaaaaaaa/");
    }
    start = g_get_monotonic_time();
    g_autofree char *err = test_qmp_fails(
        c,
        "{\"execute\": \"" DM "device-new\", \"arguments\": {\"driver\": \"virtio-scsi\", "
        "\"path\": \"%s\", \"id\": \"long\"}}",
        path->str);
    g_assert_cmpstr(err, ==, "GenericError: Parameter 'path' expects a path of at most 4095 bytes");
    g_assert_cmpint(g_get_monotonic_time() - start, <, 5 * G_USEC_PER_SEC);

    /* 4095 bytes is a path; 4096 is not */
    g_string_truncate(path, 4095);
    g_autoptr(JsonNode) ok = test_qmp_ok(
        c,
        "{\"execute\": \"" DM "device-new\", \"arguments\": {\"driver\": \"virtio-scsi\", "
        "\"path\": \"%s\", \"id\": \"edge\"}}",
        path->str);
    g_assert_cmpuint(strlen(test_json_str(ok, "path")), ==, 4095);
    g_string_append_c(path, 'a');
    g_autofree char *err2 = test_qmp_fails(
        c,
        "{\"execute\": \"" DM "device-new\", \"arguments\": {\"driver\": \"virtio-scsi\", "
        "\"path\": \"%s\", \"id\": \"over\"}}",
        path->str);
    g_assert_cmpstr(err2, ==,
                    "GenericError: Parameter 'path' expects a path of at most 4095 bytes");
    g_autoptr(GString) bus = g_string_new(NULL);
    while (bus->len < 129) {
        g_string_append_c(bus, 'b');
    }
    g_autofree char *err3 = test_qmp_fails(
        c,
        "{\"execute\": \"" DM "device-new\", \"arguments\": {\"driver\": \"virtio-scsi\", "
        "\"path\": \"/x\", \"id\": \"bus\", \"bus\": \"%s\"}}",
        bus->str);
    g_assert_cmpstr(err3, ==, "GenericError: Parameter 'bus' expects a bus id of 1 to 128 bytes");
    /* nothing of the refused ones is kept, nor written down */
    g_autofree char *text = NULL;
    g_assert_true(g_file_get_contents(state, &text, NULL, NULL));
    g_assert_cmpuint(strlen(text), <, 2 * 4096 + 1024); /* "edge": its path and key */
    g_assert_null(strstr(text, "\"long\""));
    g_assert_null(strstr(text, "\"over\""));
    g_assert_null(strstr(text, "\"bus\""));
    g_autofree char *fails = test_dm_fails(c, "query-device", "long");
    g_assert_cmpstr(fails, ==, "DeviceNotFound: Device 'long' not found");
    assert_stops(p, 5000);
    test_proxy_free(p);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    test_require_qemu();
    g_test_add_func("/robust/flood-behind-held-command", test_flood_behind_held_command);
    g_test_add_func("/robust/blanks-inside-a-message", test_blanks_inside_a_message);
    g_test_add_func("/robust/out-of-descriptors", test_out_of_descriptors);
    g_test_add_func("/robust/parked-descriptors-bounded", test_parked_descriptors_bounded);
    g_test_add_func("/robust/trace/fifo-without-reader", test_trace_fifo_without_reader);
    g_test_add_func("/robust/trace/fifo-reader-stops", test_trace_fifo_reader_stops);
    g_test_add_func("/robust/big-reply", test_big_reply);
    g_test_add_func("/robust/device-new-bounds", test_device_new_bounds);
    return g_test_run();
}
