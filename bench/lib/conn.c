/* conn.c - a QMP client on a non-blocking socket (conn.h). */
#include "conn.h"

#include "error.h"
#include "qmp.h"
#include "signals.h"

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define REPLY_TIMEOUT_MS 10000
#define READ_SIZE 65536

void bench_conn_free(BenchConn *c)
{
    if (c) {
        close(c->fd);
        g_string_free(c->in, TRUE);
        g_string_free(c->out, TRUE);
        g_free(c);
    }
}

static BenchConn *conn_connect(const char *path, GError **error)
{
    struct sockaddr_un addr = { .sun_family = AF_UNIX };
    gint64 deadline = g_get_monotonic_time() + 5 * G_USEC_PER_SEC;

    if (strlen(path) >= sizeof(addr.sun_path)) {
        g_set_error(error, BENCH_ERROR, 0, "%s: path too long", path);
        return NULL;
    }
    strcpy(addr.sun_path, path);
    for (;;) {
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);

        if (fd < 0) {
            g_set_error(error, BENCH_ERROR, 0, "socket: %s", g_strerror(errno));
            return NULL;
        }
        if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) == 0) {
            BenchConn *c = g_new0(BenchConn, 1);

            c->fd = fd;
            c->in = g_string_sized_new(READ_SIZE);
            c->out = g_string_sized_new(1024);
            return c;
        }
        int err = errno;
        close(fd);
        /* a full backlog says EAGAIN on a non-blocking unix socket */
        if (err != EAGAIN || g_get_monotonic_time() > deadline || bench_signals_stop_requested()) {
            g_set_error(error, BENCH_ERROR, 0, "connect to %s: %s", path, g_strerror(err));
            return NULL;
        }
        g_usleep(1000);
    }
}

int bench_conn_read(BenchConn *c)
{
    if (c->in_off == c->in->len) {
        g_string_truncate(c->in, 0);
        c->in_off = 0;
    } else if (c->in_off > READ_SIZE) {
        g_string_erase(c->in, 0, (gssize)c->in_off);
        c->in_off = 0;
    }
    gsize old = c->in->len;
    g_string_set_size(c->in, old + READ_SIZE);
    ssize_t n = recv(c->fd, c->in->str + old, READ_SIZE, MSG_DONTWAIT);
    g_string_set_size(c->in, old + (n > 0 ? (gsize)n : 0));
    if (n < 0) {
        return errno == EAGAIN || errno == EINTR ? 1 : -1;
    }
    return n > 0 ? 1 : 0;
}

gboolean bench_conn_take_line(BenchConn *c, const char **line, gsize *len)
{
    const char *start = c->in->str + c->in_off;
    const char *nl = memchr(start, '\n', c->in->len - c->in_off);

    if (!nl) {
        return FALSE;
    }
    *line = start;
    *len = (gsize)(nl - start);
    if (*len && start[*len - 1] == '\r') {
        (*len)--;
    }
    c->in_off = (gsize)(nl + 1 - c->in->str);
    return TRUE;
}

BenchLine bench_conn_classify(const char *line, gsize len)
{
    if (len >= 9 && memcmp(line, "{\"return\"", 9) == 0) {
        return BENCH_LINE_OK;
    }
    if (g_strstr_len(line, (gssize)len, "\"event\": ")) {
        return BENCH_LINE_EVENT;
    }
    return BENCH_LINE_ERROR;
}

gboolean bench_conn_flush(BenchConn *c)
{
    while (c->out_off < c->out->len) {
        ssize_t n = send(c->fd, c->out->str + c->out_off, c->out->len - c->out_off,
                         MSG_NOSIGNAL | MSG_DONTWAIT);

        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return errno == EAGAIN;
        }
        c->out_off += (gsize)n;
    }
    g_string_truncate(c->out, 0);
    c->out_off = 0;
    return TRUE;
}

static gboolean conn_send_all(BenchConn *c, const char *data, GError **error)
{
    g_string_append(c->out, data);
    while (c->out->len) {
        struct pollfd pfd = { c->fd, POLLOUT, 0 };

        if (!bench_conn_flush(c)) {
            g_set_error(error, BENCH_ERROR, 0, "send: %s", g_strerror(errno));
            return FALSE;
        }
        if (c->out->len && poll(&pfd, 1, REPLY_TIMEOUT_MS) == 0) {
            g_set_error(error, BENCH_ERROR, 0, "peer does not read");
            return FALSE;
        }
        if (bench_signals_stop_requested()) {
            bench_error_interrupted(error);
            return FALSE;
        }
    }
    return TRUE;
}

static gboolean conn_next_line(BenchConn *c, const char **line, gsize *len, GError **error)
{
    gint64 deadline = g_get_monotonic_time() + REPLY_TIMEOUT_MS * 1000;

    while (!bench_conn_take_line(c, line, len)) {
        gint64 left_ms = (deadline - g_get_monotonic_time()) / 1000;
        struct pollfd pfd = { c->fd, POLLIN, 0 };

        if (bench_signals_stop_requested()) {
            bench_error_interrupted(error);
            return FALSE;
        }
        if (left_ms <= 0) {
            g_set_error(error, BENCH_ERROR, 0, "no answer within %d ms", REPLY_TIMEOUT_MS);
            return FALSE;
        }
        if (poll(&pfd, 1, (int)left_ms) <= 0) {
            continue;
        }
        int rc = bench_conn_read(c);
        if (rc <= 0) {
            g_set_error(error, BENCH_ERROR, 0, "%s",
                        rc == 0 ? "peer closed the connection" : g_strerror(errno));
            return FALSE;
        }
    }
    return TRUE;
}

/* The next line that is not an event. */
static gboolean conn_next_reply(BenchConn *c, const char **line, gsize *len, BenchLine *kind,
                                GError **error)
{
    do {
        if (!conn_next_line(c, line, len, error)) {
            return FALSE;
        }
        *kind = bench_conn_classify(*line, *len);
    } while (*kind == BENCH_LINE_EVENT);
    return TRUE;
}

static gboolean conn_handshake(BenchConn *c, const char *caps, GError **error)
{
    const char *line;
    gsize len;
    BenchLine kind;

    if (!conn_next_line(c, &line, &len, error)) {
        g_prefix_error(error, "waiting for the greeting: ");
        return FALSE;
    }
    if (!g_str_has_prefix(line, "{\"QMP\": ")) {
        g_set_error(error, BENCH_ERROR, 0, "not a greeting: %.*s", (int)MIN(len, 200), line);
        return FALSE;
    }
    if (!conn_send_all(c, caps, error) || !conn_next_reply(c, &line, &len, &kind, error)) {
        g_prefix_error(error, "negotiating: ");
        return FALSE;
    }
    if (kind != BENCH_LINE_OK) {
        g_set_error(error, BENCH_ERROR, 0, "qmp_capabilities refused: %.*s", (int)MIN(len, 200),
                    line);
        return FALSE;
    }
    return TRUE;
}

BenchConn *bench_conn_open(const char *path, const char *caps, GError **error)
{
    g_autoptr(BenchConn) c = conn_connect(path, error);

    if (!c || !conn_handshake(c, caps, error)) {
        return NULL;
    }
    return g_steal_pointer(&c);
}

GPtrArray *bench_conn_open_many(const char *path, guint n, GError **error)
{
    g_autoptr(GPtrArray) conns = g_ptr_array_new_with_free_func((GDestroyNotify)bench_conn_free);

    for (guint i = 0; i < n; i++) {
        BenchConn *c = bench_conn_open(path, BENCH_QMP_CAPS_PLAIN, error);

        if (!c) {
            g_prefix_error(error, "client %u of %u: ", i + 1, n);
            return NULL;
        }
        g_ptr_array_add(conns, c);
    }
    return g_steal_pointer(&conns);
}

gboolean bench_conn_exchange(BenchConn *c, const char *bytes, gsize len, gint64 *ns,
                             GPtrArray *events, GError **error)
{
    struct timespec t0, t1;
    const char *line;
    gsize line_len;

    clock_gettime(CLOCK_MONOTONIC, &t0);
    g_string_append_len(c->out, bytes, (gssize)len);
    if (!bench_conn_flush(c)) {
        g_set_error(error, BENCH_ERROR, 0, "send: %s", g_strerror(errno));
        return FALSE;
    }
    for (;;) {
        if (!conn_next_line(c, &line, &line_len, error)) {
            return FALSE;
        }
        BenchLine kind = bench_conn_classify(line, line_len);

        if (kind != BENCH_LINE_EVENT) {
            clock_gettime(CLOCK_MONOTONIC, &t1);
            if (kind != BENCH_LINE_OK) {
                g_set_error(error, BENCH_ERROR, 0, "%.*s refused: %.*s", (int)MIN(len, 60), bytes,
                            (int)MIN(line_len, 200), line);
                return FALSE;
            }
            break;
        }
        if (events) {
            g_ptr_array_add(events, g_strndup(line, line_len));
        }
    }
    *ns = (t1.tv_sec - t0.tv_sec) * G_GINT64_CONSTANT(1000000000) + (t1.tv_nsec - t0.tv_nsec);
    return TRUE;
}

gboolean bench_conn_wait_event(BenchConn *c, const char *needle, GPtrArray *events, GError **error)
{
    const char *line;
    gsize len;

    for (guint i = 0; events && i < events->len; i++) {
        if (strstr(g_ptr_array_index(events, i), needle)) {
            g_ptr_array_remove_index(events, i);
            return TRUE;
        }
    }
    for (;;) {
        if (!conn_next_line(c, &line, &len, error)) {
            g_prefix_error(error, "waiting for %s: ", needle);
            return FALSE;
        }
        if (g_strstr_len(line, (gssize)len, needle)) {
            return TRUE;
        }
    }
}

gboolean bench_conn_round_trip(BenchConn *c, gint64 *ns, GError **error)
{
    return bench_conn_exchange(c, BENCH_QMP_QUERY_STATUS, strlen(BENCH_QMP_QUERY_STATUS), ns, NULL,
                               error);
}
