/* bench-proxy.c - what qmproxy costs compared with talking to QEMU
 * directly: round-trip latency and throughput against a real QEMU, the
 * proxy's own CPU per forwarded message against a fake upstream that
 * answers at once, and its memory when idle and per client.
 *
 * Run on demand, not as a meson test: ./build/bench/bench-proxy [--quick].
 * Every figure is measured on this machine in this run; those with a
 * target end in PASS or MISS, and nothing is tuned to make them pass. */
#include "harness.h"
#include "fake-qemu.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define QEMU_BIN "qemu-system-x86_64"

#define QUERY_STATUS "{\"execute\":\"query-status\"}"
#define CAPS_PLAIN "{\"execute\": \"qmp_capabilities\"}"
/* What qmproxy asks of QEMU when QEMU offers OOB: the direct client does
 * the same, so that QEMU runs both monitors in the same mode and only the
 * proxy differs between the two paths. */
#define CAPS_OOB "{\"execute\": \"qmp_capabilities\", \"arguments\": {\"enable\": [\"oob\"]}}"

#define FAKE_GREETING                                                                              \
    "{\"QMP\": {\"version\": {\"qemu\": {\"micro\": 0, \"minor\": 2, \"major\": 7}, \"package\": " \
    "\"\"}, \"capabilities\": [\"oob\"]}}\r\n"
/* QEMU's answer to a second qmp_capabilities, which the proxy relies on
 * to learn that QEMU accepted a client's arguments (see proxy/client.c). */
#define CAPS_ALREADY_DONE                                                                          \
    "\"error\": {\"class\": \"CommandNotFound\", \"desc\": \"Capabilities negotiation is already " \
    "complete, command ignored\"}"

#define REPLY_TIMEOUT_MS 10000
/* No reply at all for this long while commands are outstanding is a
 * stall worth reporting rather than waiting out. */
#define STALL_TIMEOUT_MS 10000
#define READ_SIZE 65536
#define MAX_CHILDREN 8

/* GIO's error domain would drag in GIO for one quark */
#define BENCH_ERROR bench_error_quark()
static GQuark bench_error_quark(void)
{
    return g_quark_from_static_string("bench-proxy-error");
}

/* ---- signals: never leave QEMU or a proxy behind ------------------------ */

static volatile sig_atomic_t stop_requested;
static volatile pid_t children[MAX_CHILDREN];

static void child_register(pid_t pid)
{
    for (guint i = 0; i < MAX_CHILDREN; i++) {
        if (children[i] == 0) {
            children[i] = pid;
            return;
        }
    }
}

static void child_unregister(pid_t pid)
{
    for (guint i = 0; i < MAX_CHILDREN; i++) {
        if (children[i] == pid) {
            children[i] = 0;
        }
    }
}

/* A failed assertion (here or in the harness) must not orphan a paused
 * QEMU that would then run forever. */
static void on_fatal_signal(int sig)
{
    for (guint i = 0; i < MAX_CHILDREN; i++) {
        if (children[i] > 0) {
            kill(children[i], SIGKILL);
        }
    }
    signal(sig, SIG_DFL);
    raise(sig);
}

/* The first ^C stops the run between steps so that cleanup still runs;
 * a second one gives up at once. */
static void on_interrupt(int sig)
{
    if (stop_requested) {
        on_fatal_signal(sig);
    }
    stop_requested = 1;
}

static void install_signal_handlers(void)
{
    static const int fatal[] = { SIGABRT, SIGSEGV, SIGBUS, SIGFPE, SIGTRAP, SIGILL };
    struct sigaction sa = { 0 };

    sa.sa_handler = on_interrupt;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sa.sa_handler = on_fatal_signal;
    for (guint i = 0; i < G_N_ELEMENTS(fatal); i++) {
        sigaction(fatal[i], &sa, NULL);
    }
    signal(SIGPIPE, SIG_IGN);
}

static gboolean sleep_ms(guint ms)
{
    for (guint slept = 0; slept < ms && !stop_requested; slept += 10) {
        g_usleep(10000);
    }
    return !stop_requested;
}

static void set_interrupted(GError **error)
{
    g_set_error(error, BENCH_ERROR, 0, "interrupted");
}

/* ---- configuration and results ------------------------------------------ */

typedef struct {
    gint iterations;
    gint warmup;
    gint depth;
    double duration;
    gint cpu_commands;
    gint cpu_clients;
    gint mem_clients;
    gboolean quick;
    gboolean latency, throughput, cpu, memory, trace;
} Config;

typedef struct {
    char *figure;
    char *value;
    char *target; /* empty when the figure has none */
    const char *verdict;
} SummaryRow;

typedef struct {
    char *label;
    guint64 hwm_kb;
} PeakRow;

typedef struct {
    Config cfg;
    char *dir;
    gboolean have_qemu;
    gboolean failed;
    guint anomalies; /* odd proxy behaviour seen, reported at the end */
    GArray *summary; /* of SummaryRow */
    GArray *peaks;   /* of PeakRow */
} Bench;

static void summary_row_clear(gpointer data)
{
    SummaryRow *row = data;

    g_free(row->figure);
    g_free(row->value);
    g_free(row->target);
}

static void peak_row_clear(gpointer data)
{
    g_free(((PeakRow *)data)->label);
}

/* @target < 0: the figure is reported for information only. */
static void summary_add(Bench *b, const char *figure, double value, int decimals, const char *unit,
                        double target)
{
    SummaryRow row = { 0 };

    row.figure = g_strdup(figure);
    row.value = g_strdup_printf("%.*f %s", decimals, value, unit);
    if (target < 0) {
        row.target = g_strdup("");
        row.verdict = "info";
    } else {
        row.target = g_strdup_printf("<= %.*f %s", decimals, target, unit);
        row.verdict = value <= target ? "PASS" : "MISS";
    }
    g_array_append_val(b->summary, row);
}

/* A figure whose target is a floor rather than a ceiling. */
static void summary_add_min(Bench *b, const char *figure, double value, int decimals,
                            const char *unit, double minimum)
{
    SummaryRow row = { 0 };

    row.figure = g_strdup(figure);
    row.value = g_strdup_printf("%.*f %s", decimals, value, unit);
    row.target = g_strdup_printf(">= %.*f %s", decimals, minimum, unit);
    row.verdict = value >= minimum ? "PASS" : "MISS";
    g_array_append_val(b->summary, row);
}

static void summary_error(Bench *b, const char *figure, const char *why)
{
    SummaryRow row = { g_strdup(figure), g_strdup("not measured"), g_strdup(why), "ERROR" };

    g_array_append_val(b->summary, row);
    b->failed = TRUE;
}

/* ---- /proc readings ------------------------------------------------------ */

typedef struct {
    guint64 rss_kb, hwm_kb, anon_kb, file_kb;
} ProcMem;

static gboolean proc_mem(GPid pid, ProcMem *m)
{
    g_autofree char *path = g_strdup_printf("/proc/%d/status", (int)pid);
    g_autofree char *text = NULL;
    static const struct {
        const char *key;
        gsize offset;
    } keys[] = {
        { "VmRSS:", G_STRUCT_OFFSET(ProcMem, rss_kb) },
        { "VmHWM:", G_STRUCT_OFFSET(ProcMem, hwm_kb) },
        { "RssAnon:", G_STRUCT_OFFSET(ProcMem, anon_kb) },
        { "RssFile:", G_STRUCT_OFFSET(ProcMem, file_kb) },
    };

    memset(m, 0, sizeof(*m));
    if (!g_file_get_contents(path, &text, NULL, NULL)) {
        return FALSE;
    }
    for (guint i = 0; i < G_N_ELEMENTS(keys); i++) {
        const char *at = strstr(text, keys[i].key);

        if (!at) {
            return FALSE;
        }
        G_STRUCT_MEMBER(guint64, m, keys[i].offset) =
            g_ascii_strtoull(at + strlen(keys[i].key), NULL, 10);
    }
    return TRUE;
}

/* utime and stime of the whole process, in clock ticks. */
static gboolean proc_cpu_split(GPid pid, guint64 *utime, guint64 *stime)
{
    g_autofree char *path = g_strdup_printf("/proc/%d/stat", (int)pid);
    g_autofree char *text = NULL;

    if (!g_file_get_contents(path, &text, NULL, NULL)) {
        return FALSE;
    }
    /* the command name may hold spaces and parentheses: skip past it */
    const char *p = strrchr(text, ')');
    if (!p) {
        return FALSE;
    }
    g_auto(GStrv) fields = g_strsplit(p + 2, " ", 16);
    /* fields[0] is the state (field 3), so utime (14) and stime (15) */
    if (g_strv_length(fields) < 13) {
        return FALSE;
    }
    *utime = g_ascii_strtoull(fields[11], NULL, 10);
    *stime = g_ascii_strtoull(fields[12], NULL, 10);
    return TRUE;
}

static gboolean proc_cpu_ticks(GPid pid, guint64 *ticks)
{
    guint64 utime, stime;

    if (!proc_cpu_split(pid, &utime, &stime)) {
        return FALSE;
    }
    *ticks = utime + stime;
    return TRUE;
}

/* ---- a QMP client on a non-blocking socket ------------------------------- */

typedef struct {
    int fd;
    GString *in; /* bytes read; those before in_off are consumed */
    gsize in_off;
    GString *out; /* bytes to send; those before out_off are sent */
    gsize out_off;
    guint outstanding;
} BenchConn;

typedef enum {
    LINE_OK,
    LINE_ERROR,
    LINE_EVENT,
} LineKind;

static void conn_free(BenchConn *c)
{
    if (c) {
        close(c->fd);
        g_string_free(c->in, TRUE);
        g_string_free(c->out, TRUE);
        g_free(c);
    }
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC(BenchConn, conn_free)

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
        if (err != EAGAIN || g_get_monotonic_time() > deadline || stop_requested) {
            g_set_error(error, BENCH_ERROR, 0, "connect to %s: %s", path, g_strerror(err));
            return NULL;
        }
        g_usleep(1000);
    }
}

/* 1: read something or nothing was there; 0: end of input; -1: failed. */
static int conn_read(BenchConn *c)
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

/* The next CRLF-terminated line (without it), valid until the next read. */
static gboolean conn_take_line(BenchConn *c, const char **line, gsize *len)
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

static LineKind classify(const char *line, gsize len)
{
    if (len >= 9 && memcmp(line, "{\"return\"", 9) == 0) {
        return LINE_OK;
    }
    if (g_strstr_len(line, (gssize)len, "\"event\": ")) {
        return LINE_EVENT;
    }
    return LINE_ERROR;
}

/* FALSE when the socket failed; what it would not take yet stays queued. */
static gboolean conn_flush(BenchConn *c)
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

        if (!conn_flush(c)) {
            g_set_error(error, BENCH_ERROR, 0, "send: %s", g_strerror(errno));
            return FALSE;
        }
        if (c->out->len && poll(&pfd, 1, REPLY_TIMEOUT_MS) == 0) {
            g_set_error(error, BENCH_ERROR, 0, "peer does not read");
            return FALSE;
        }
        if (stop_requested) {
            set_interrupted(error);
            return FALSE;
        }
    }
    return TRUE;
}

static gboolean conn_next_line(BenchConn *c, const char **line, gsize *len, GError **error)
{
    gint64 deadline = g_get_monotonic_time() + REPLY_TIMEOUT_MS * 1000;

    while (!conn_take_line(c, line, len)) {
        gint64 left_ms = (deadline - g_get_monotonic_time()) / 1000;
        struct pollfd pfd = { c->fd, POLLIN, 0 };

        if (stop_requested) {
            set_interrupted(error);
            return FALSE;
        }
        if (left_ms <= 0) {
            g_set_error(error, BENCH_ERROR, 0, "no answer within %d ms", REPLY_TIMEOUT_MS);
            return FALSE;
        }
        if (poll(&pfd, 1, (int)left_ms) <= 0) {
            continue;
        }
        int rc = conn_read(c);
        if (rc <= 0) {
            g_set_error(error, BENCH_ERROR, 0, "%s",
                        rc == 0 ? "peer closed the connection" : g_strerror(errno));
            return FALSE;
        }
    }
    return TRUE;
}

/* The next line that is not an event. */
static gboolean conn_next_reply(BenchConn *c, const char **line, gsize *len, LineKind *kind,
                                GError **error)
{
    do {
        if (!conn_next_line(c, line, len, error)) {
            return FALSE;
        }
        *kind = classify(*line, *len);
    } while (*kind == LINE_EVENT);
    return TRUE;
}

static gboolean conn_handshake(BenchConn *c, const char *caps, GError **error)
{
    const char *line;
    gsize len;
    LineKind kind;

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
    if (kind != LINE_OK) {
        g_set_error(error, BENCH_ERROR, 0, "qmp_capabilities refused: %.*s", (int)MIN(len, 200),
                    line);
        return FALSE;
    }
    return TRUE;
}

static BenchConn *conn_open(const char *path, const char *caps, GError **error)
{
    g_autoptr(BenchConn) c = conn_connect(path, error);

    if (!c || !conn_handshake(c, caps, error)) {
        return NULL;
    }
    return g_steal_pointer(&c);
}

static GPtrArray *conns_open(const char *path, guint n, GError **error)
{
    g_autoptr(GPtrArray) conns = g_ptr_array_new_with_free_func((GDestroyNotify)conn_free);

    for (guint i = 0; i < n; i++) {
        BenchConn *c = conn_open(path, CAPS_PLAIN, error);

        if (!c) {
            g_prefix_error(error, "client %u of %u: ", i + 1, n);
            return NULL;
        }
        g_ptr_array_add(conns, c);
    }
    return g_steal_pointer(&conns);
}

/* One timed query-status, in nanoseconds. */
static gboolean round_trip(BenchConn *c, gint64 *ns, GError **error)
{
    struct timespec t0, t1;
    const char *line;
    gsize len;
    LineKind kind;

    clock_gettime(CLOCK_MONOTONIC, &t0);
    if (!conn_send_all(c, QUERY_STATUS, error) || !conn_next_reply(c, &line, &len, &kind, error)) {
        return FALSE;
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    if (kind != LINE_OK) {
        g_set_error(error, BENCH_ERROR, 0, "query-status failed: %.*s", (int)MIN(len, 200), line);
        return FALSE;
    }
    *ns = (t1.tv_sec - t0.tv_sec) * G_GINT64_CONSTANT(1000000000) + (t1.tv_nsec - t0.tv_nsec);
    return TRUE;
}

/* ---- pipelined load from many clients, one thread, poll() ---------------- */

typedef struct {
    guint64 completed;
    guint64 errors;
    guint64 events;
    gint64 elapsed_us;
    char *first_error;
} PumpResult;

static void pump_result_clear(PumpResult *r)
{
    g_clear_pointer(&r->first_error, g_free);
}

/* Keeps @depth query-status outstanding on every connection until
 * @duration_us has passed (when > 0) or @total commands were sent (when
 * > 0), then waits for every answer. elapsed_us runs to the last answer,
 * so the rate counts only work that was finished. */
static gboolean pump(GPtrArray *conns, guint depth, gint64 duration_us, guint64 total,
                     PumpResult *res, GError **error)
{
    guint n = conns->len;
    g_autofree struct pollfd *pfds = g_new0(struct pollfd, n);
    guint64 sent = 0;
    gboolean issuing = TRUE;
    gint64 start = g_get_monotonic_time();
    gint64 end = start + duration_us;
    gint64 last_progress = start;

    memset(res, 0, sizeof(*res));
#define MAY_ISSUE() (issuing && (total == 0 || sent < total))
    for (guint i = 0; i < n; i++) {
        BenchConn *c = g_ptr_array_index(conns, i);

        for (guint d = 0; d < depth && MAY_ISSUE(); d++) {
            g_string_append(c->out, QUERY_STATUS);
            c->outstanding++;
            sent++;
        }
        if (!conn_flush(c)) {
            g_set_error(error, BENCH_ERROR, 0, "send: %s", g_strerror(errno));
            return FALSE;
        }
    }
    for (;;) {
        gint64 now = g_get_monotonic_time();
        guint busy = 0;

        if (stop_requested) {
            set_interrupted(error);
            return FALSE;
        }
        if (duration_us > 0 && now >= end) {
            issuing = FALSE;
        }
        for (guint i = 0; i < n; i++) {
            BenchConn *c = g_ptr_array_index(conns, i);

            pfds[i].fd = c->fd;
            pfds[i].events = POLLIN | (c->out->len ? POLLOUT : 0);
            pfds[i].revents = 0;
            busy += c->outstanding || c->out->len;
        }
        if (!busy) {
            break;
        }
        int ready = poll(pfds, n, 100);
        if (ready < 0 && errno != EINTR) {
            g_set_error(error, BENCH_ERROR, 0, "poll: %s", g_strerror(errno));
            return FALSE;
        }
        if (ready <= 0) {
            if (now - last_progress > STALL_TIMEOUT_MS * 1000) {
                g_autoptr(GString) who = g_string_new(NULL);

                for (guint i = 0; i < n; i++) {
                    BenchConn *c = g_ptr_array_index(conns, i);

                    if (c->outstanding && who->len < 200) {
                        g_string_append_printf(who, " client %u: %u;", i + 1, c->outstanding);
                    }
                }
                g_set_error(error, BENCH_ERROR, 0,
                            "stalled: no answer for %d ms with %" G_GUINT64_FORMAT
                            " of %" G_GUINT64_FORMAT " answered; outstanding:%s",
                            STALL_TIMEOUT_MS, res->completed, sent, who->str);
                return FALSE;
            }
            continue;
        }
        for (guint i = 0; i < n; i++) {
            BenchConn *c = g_ptr_array_index(conns, i);
            const char *line;
            gsize len;

            if (pfds[i].revents & (POLLIN | POLLHUP | POLLERR)) {
                int rc = conn_read(c);

                if (rc <= 0) {
                    g_set_error(error, BENCH_ERROR, 0,
                                "client %u: connection %s with %u command(s) outstanding", i + 1,
                                rc == 0 ? "closed by the peer" : "failed", c->outstanding);
                    return FALSE;
                }
                while (conn_take_line(c, &line, &len)) {
                    LineKind kind = classify(line, len);

                    if (kind == LINE_EVENT) {
                        res->events++;
                        continue;
                    }
                    if (kind == LINE_ERROR || c->outstanding == 0) {
                        res->errors++;
                        if (!res->first_error) {
                            res->first_error = g_strndup(line, MIN(len, 200));
                        }
                    }
                    if (c->outstanding) {
                        c->outstanding--;
                    }
                    res->completed++;
                    last_progress = now;
                    if (MAY_ISSUE()) {
                        g_string_append(c->out, QUERY_STATUS);
                        c->outstanding++;
                        sent++;
                    }
                }
            }
            if (c->out->len && !conn_flush(c)) {
                g_set_error(error, BENCH_ERROR, 0, "client %u: send: %s", i + 1, g_strerror(errno));
                return FALSE;
            }
        }
    }
#undef MAY_ISSUE
    res->elapsed_us = g_get_monotonic_time() - start;
    return TRUE;
}

/* A QEMU that answers every command at once: the tests' scripted server
 * with this responder, so that only the proxy's own work shows. */
typedef struct {
    TestFakeQmp *fake;
    gint negotiated; /* the proxy's own qmp_capabilities came */
} FakeUpstream;

static gboolean fake_answer(TestFakeQmp *fake, const TestFakeRequest *req, GString *out,
                            gpointer data)
{
    FakeUpstream *f = data;

    if (!g_atomic_int_get(&f->negotiated)) {
        g_atomic_int_set(&f->negotiated, TRUE);
        test_fake_reply(out, req, "\"return\": {}");
    } else if (g_strcmp0(req->command, "qmp_capabilities") == 0) {
        test_fake_reply(out, req, CAPS_ALREADY_DONE);
    } else {
        test_fake_reply(out, req, "\"return\": {}");
    }
    return TRUE;
}

static FakeUpstream *fake_start(const char *path)
{
    FakeUpstream *f = g_new0(FakeUpstream, 1);

    f->fake = test_fake_qmp_serve(path, fake_answer, f);
    return f;
}

static void fake_stop(FakeUpstream *f)
{
    if (f) {
        test_fake_qmp_free(f->fake);
        g_free(f);
    }
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC(FakeUpstream, fake_stop)

/* ---- the proxy under test ------------------------------------------------ */

static gboolean log_is_routine(const char *line)
{
    static const char *const routine[] = {
        "connected to QEMU at",
        "placement: in front of a QEMU which has",
        "serving clients on ",
        " connected: pid ",
        " disconnected: peer closed the connection",
        "signal received; shutting down",
    };

    for (guint i = 0; i < G_N_ELEMENTS(routine); i++) {
        if (strstr(line, routine[i])) {
            return TRUE;
        }
    }
    return FALSE;
}

static guint count_in_log(TestProxy *p, const char *what)
{
    g_autofree char *log = test_proxy_log(p);
    guint n = 0;

    for (const char *at = log; (at = strstr(at, what)); at += strlen(what)) {
        n++;
    }
    return n;
}

/* Starts qmproxy in @b->dir/@label and waits until it serves clients, so
 * that nothing measured includes its start-up. */
static TestProxy *proxy_start_with(Bench *b, const char *label, const char *upstream,
                                   const char *const *opts, GError **error)
{
    g_autofree char *dir = g_build_filename(b->dir, label, NULL);

    if (g_mkdir(dir, 0700) < 0) {
        g_set_error(error, BENCH_ERROR, 0, "mkdir %s: %s", dir, g_strerror(errno));
        return NULL;
    }
    TestProxy *p = test_proxy_start(upstream, dir, opts);
    child_register(p->pid);
    for (guint waited = 0; count_in_log(p, "serving clients on") == 0; waited += 10) {
        if (test_proxy_wait(p, 0) || waited > 15000 || stop_requested) {
            g_autofree char *log = test_proxy_log(p);

            g_set_error(error, BENCH_ERROR, 0, "qmproxy (%s) is not serving: %s", label,
                        stop_requested ? "interrupted" : log);
            child_unregister(p->pid);
            test_proxy_free(p);
            return NULL;
        }
        g_usleep(10000);
    }
    return p;
}

static TestProxy *proxy_start(Bench *b, const char *label, const char *upstream, GError **error)
{
    return proxy_start_with(b, label, upstream, NULL, error);
}

static guint count_sockets(GPid pid)
{
    g_autofree char *path = g_strdup_printf("/proc/%d/fd", (int)pid);
    g_autoptr(GDir) dir = g_dir_open(path, 0, NULL);
    const char *name;
    guint n = 0;

    while (dir && (name = g_dir_read_name(dir))) {
        g_autofree char *fd_path = g_build_filename(path, name, NULL);
        g_autofree char *target = g_file_read_link(fd_path, NULL);

        n += target && g_str_has_prefix(target, "socket:");
    }
    return n;
}

/* Every client is gone by now: a proxy that still burns CPU or holds
 * their sockets has lost track of one, and would skew later figures. */
static void proxy_check_idle(Bench *b, const char *label, TestProxy *p)
{
    guint64 ticks0, ticks1;
    long hz = sysconf(_SC_CLK_TCK);

    if (!sleep_ms(200) || !proc_cpu_ticks(p->pid, &ticks0) || !sleep_ms(500) ||
        !proc_cpu_ticks(p->pid, &ticks1)) {
        return;
    }
    guint sockets = count_sockets(p->pid);
    double busy = 100.0 * (double)(ticks1 - ticks0) / (double)hz / 0.5;
    g_print("  proxy (%s) once its clients left: %.0f%% CPU over 500 ms, %u socket(s) open "
            "(2 expected: listener and upstream)\n",
            label, busy, sockets);
    if (busy > 10 || sockets > 2) {
        g_print("  WARNING: proxy (%s) %s\n", label,
                busy > 10 ? "keeps spinning with no client connected"
                          : "still holds sockets of clients that left");
        b->anomalies++;
    }
}

/* Records the proxy's peak RSS, stops it the way an admin would and shows
 * whatever its log says beyond routine connects and disconnects. */
static void proxy_stop(Bench *b, const char *label, TestProxy *p)
{
    ProcMem mem;

    if (!p) {
        return;
    }
    if (!p->exited && !stop_requested) {
        proxy_check_idle(b, label, p);
    }
    if (!p->exited && proc_mem(p->pid, &mem)) {
        PeakRow row = { g_strdup(label), mem.hwm_kb };

        g_array_append_val(b->peaks, row);
    }
    if (!p->exited) {
        kill(p->pid, SIGTERM);
    }
    gboolean exited = test_proxy_wait(p, 3000);
    g_autofree char *log = test_proxy_log(p);
    g_auto(GStrv) lines = g_strsplit(log, "\n", -1);
    g_autoptr(GPtrArray) notable = g_ptr_array_new();
    guint total = 0;

    for (guint i = 0; lines[i]; i++) {
        if (!*lines[i]) {
            continue;
        }
        total++;
        if (!log_is_routine(lines[i])) {
            g_ptr_array_add(notable, lines[i]);
        }
    }
    g_print("  proxy log (%s): %u line(s), %u beyond routine connects/disconnects\n", label, total,
            notable->len);
    for (guint i = 0; i < notable->len && i < 10; i++) {
        g_print("    | %s\n", (const char *)g_ptr_array_index(notable, i));
    }
    if (notable->len > 10) {
        g_print("    | ... %u more\n", notable->len - 10);
    }
    b->anomalies += notable->len > 0;
    if (!exited) {
        g_print("  WARNING: proxy (%s) did not exit within 3 s of SIGTERM; killed\n", label);
        b->anomalies++;
    } else if (!WIFEXITED(p->status) || WEXITSTATUS(p->status) != 0) {
        g_print("  WARNING: proxy (%s) ended badly on SIGTERM: %s %d\n", label,
                WIFSIGNALED(p->status) ? "signal" : "exit status",
                WIFSIGNALED(p->status) ? WTERMSIG(p->status) : WEXITSTATUS(p->status));
        b->anomalies++;
    }
    child_unregister(p->pid);
    test_proxy_free(p);
}

/* ---- the four measurements ----------------------------------------------- */

static int cmp_gint64(const void *a, const void *b)
{
    gint64 x = *(const gint64 *)a, y = *(const gint64 *)b;

    return x < y ? -1 : x > y;
}

/* Nearest-rank percentile of sorted @v, in microseconds. */
static double percentile_us(const gint64 *v, guint n, double pct)
{
    guint rank = (guint)(pct / 100.0 * n + 0.999999);

    return v[CLAMP(rank, 1u, n) - 1] / 1000.0;
}

static void print_latency_row(const char *path, gint64 *v, guint n)
{
    qsort(v, n, sizeof(*v), cmp_gint64);
    g_print("  %-8s %6u %9.1f %9.1f %9.1f %9.1f %9.1f\n", path, n, v[0] / 1000.0,
            percentile_us(v, n, 50), percentile_us(v, n, 90), percentile_us(v, n, 99),
            v[n - 1] / 1000.0);
}

static void bench_latency(Bench *b, BenchConn *direct, BenchConn *proxied)
{
    guint n = (guint)b->cfg.iterations;
    g_autofree gint64 *d = g_new(gint64, n);
    g_autofree gint64 *p = g_new(gint64, n);
    g_autoptr(GError) error = NULL;
    gint64 scratch;

    g_print("\n== latency: query-status round trip, same QEMU, direct and via proxy ==\n");
    g_print("  %u warm-up pairs, then %u timed pairs; the order within a pair alternates\n",
            b->cfg.warmup, n);
    for (guint i = 0; i < (guint)b->cfg.warmup; i++) {
        if (!round_trip(direct, &scratch, &error) || !round_trip(proxied, &scratch, &error)) {
            goto fail;
        }
    }
    for (guint i = 0; i < n; i++) {
        /* alternate who goes first so neither path always follows the other */
        BenchConn *first = i % 2 ? proxied : direct;
        BenchConn *second = i % 2 ? direct : proxied;
        gint64 *first_v = i % 2 ? p : d;
        gint64 *second_v = i % 2 ? d : p;

        if (!round_trip(first, &first_v[i], &error) || !round_trip(second, &second_v[i], &error)) {
            goto fail;
        }
    }
    g_print("  %-8s %6s %9s %9s %9s %9s %9s   (microseconds)\n", "path", "n", "min", "p50", "p90",
            "p99", "max");
    print_latency_row("direct", d, n);
    print_latency_row("proxy", p, n);
    double d50 = percentile_us(d, n, 50), p50 = percentile_us(p, n, 50);
    g_print("  p50 ratio proxy/direct: %.3f (the proxy adds %.1f us at the median)\n", p50 / d50,
            p50 - d50);
    summary_add(b, "latency p50 direct", d50, 1, "us", -1);
    summary_add(b, "latency p50 via proxy", p50, 1, "us", -1);
    summary_add(b, "latency p99 direct", percentile_us(d, n, 99), 1, "us", -1);
    summary_add(b, "latency p99 via proxy", percentile_us(p, n, 99), 1, "us", -1);
    summary_add(b, "latency p50 ratio proxy/direct", p50 / d50, 2, "x", 1.02);
    return;

fail:
    g_print("  FAILED: %s\n", error->message);
    summary_error(b, "latency p50 ratio proxy/direct", error->message);
}

typedef struct {
    const char *path;
    guint clients;
    char *figure;
    guint64 completed, errors;
    gint64 elapsed_us;
    char *first_error;
    char *failure;
} ThroughputRow;

/* One slice of one configuration; proxy clients connect and negotiate
 * outside the timed window. */
static gboolean throughput_slice(Bench *b, ThroughputRow *row, BenchConn *direct,
                                 const char *proxy_path, gint64 slice_us)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(GPtrArray) conns = NULL;
    PumpResult res;

    if (direct) {
        conns = g_ptr_array_new();
        g_ptr_array_add(conns, direct);
    } else if (!(conns = conns_open(proxy_path, row->clients, &error))) {
        row->failure = g_strdup(error->message);
        return FALSE;
    }
    if (!pump(conns, (guint)b->cfg.depth, slice_us, 0, &res, &error)) {
        row->failure = g_strdup(error->message);
        return FALSE;
    }
    row->completed += res.completed;
    row->errors += res.errors;
    row->elapsed_us += res.elapsed_us;
    if (res.first_error && !row->first_error) {
        row->first_error = g_steal_pointer(&res.first_error);
    }
    pump_result_clear(&res);
    return TRUE;
}

static void bench_throughput(Bench *b, BenchConn *direct, const char *proxy_path)
{
    ThroughputRow rows[] = {
        { "direct", 1, g_strdup("throughput direct, 1 client") },
        { "proxy", 1, g_strdup("throughput via proxy, 1 client") },
        { "proxy", 16, g_strdup("throughput via proxy, 16 clients") },
        { "proxy", 64, g_strdup("throughput via proxy, 64 clients") },
    };
    /* Slices taken in turn, so that a burst of load from elsewhere on
     * the machine spreads over every configuration rather than one. */
    guint rounds = b->cfg.quick ? 1 : 3;
    gint64 slice_us = (gint64)(b->cfg.duration * G_USEC_PER_SEC / rounds);

    g_print("\n== throughput: query-status on QEMU, %d outstanding per client, %.1f s per "
            "configuration ==\n",
            b->cfg.depth, b->cfg.duration);
    g_print("  taken in %u round(s) of %.2f s slices, configurations in turn\n", rounds,
            slice_us / 1e6);
    for (guint r = 0; r < rounds && !stop_requested; r++) {
        for (guint i = 0; i < G_N_ELEMENTS(rows) && !stop_requested; i++) {
            if (!rows[i].failure) {
                throughput_slice(b, &rows[i], i == 0 ? direct : NULL, proxy_path, slice_us);
            }
        }
    }
    g_print("  %-7s %7s %10s %8s %10s %7s\n", "path", "clients", "commands", "seconds", "cmd/s",
            "errors");
    for (guint i = 0; i < G_N_ELEMENTS(rows); i++) {
        ThroughputRow *row = &rows[i];

        if (row->failure || row->elapsed_us == 0) {
            const char *why = row->failure ? row->failure : "interrupted";

            g_print("  %-7s %7u   FAILED: %s\n", row->path, row->clients, why);
            summary_error(b, row->figure, why);
        } else {
            double rate = row->completed / (row->elapsed_us / 1e6);

            g_print("  %-7s %7u %10" G_GUINT64_FORMAT " %8.2f %10.0f %7" G_GUINT64_FORMAT "\n",
                    row->path, row->clients, row->completed, row->elapsed_us / 1e6, rate,
                    row->errors);
            if (row->first_error) {
                g_print("          first error: %s\n", row->first_error);
                b->failed = TRUE;
            }
            summary_add(b, row->figure, rate, 0, "cmd/s", -1);
        }
        g_free(row->figure);
        g_free(row->first_error);
        g_free(row->failure);
    }
}

static double tv_seconds(const struct timeval *tv)
{
    return tv->tv_sec + tv->tv_usec / 1e6;
}

static void bench_cpu(Bench *b)
{
    g_autofree char *fake_path = g_build_filename(b->dir, "fake-cpu.sock", NULL);
    g_autoptr(GError) error = NULL;
    g_autoptr(FakeUpstream) fake = NULL;
    g_autoptr(GPtrArray) conns = NULL;
    TestProxy *p = NULL;
    guint64 total = (guint64)b->cfg.cpu_commands;
    guint64 user0, sys0, user1, sys1;
    PumpResult warm = { 0 }, res = { 0 };
    long hz = sysconf(_SC_CLK_TCK);
    struct rusage self0, self1;

    g_print("\n== proxy CPU per forwarded message (fake upstream answering at once) ==\n");
    fake = fake_start(fake_path);
    if (!fake || !(p = proxy_start(b, "cpu", fake_path, &error)) ||
        !(conns = conns_open(p->listen, (guint)b->cfg.cpu_clients, &error))) {
        goto fail;
    }
    /* warm up the proxy's allocator and buffers outside the window */
    if (!pump(conns, (guint)b->cfg.depth, 0, MAX(total / 20, 100), &warm, &error) ||
        !proc_cpu_split(p->pid, &user0, &sys0) || getrusage(RUSAGE_SELF, &self0) < 0 ||
        !pump(conns, (guint)b->cfg.depth, 0, total, &res, &error) ||
        !proc_cpu_split(p->pid, &user1, &sys1) || getrusage(RUSAGE_SELF, &self1) < 0) {
        if (!error) {
            g_set_error(&error, BENCH_ERROR, 0, "cannot read /proc/%d/stat", (int)p->pid);
        }
        goto fail;
    }
    guint64 ticks = user1 + sys1 - user0 - sys0;
    double cpu_s = (double)ticks / (double)hz;
    double per_msg_us = cpu_s * 1e6 / (double)res.completed;
    g_print("  %d clients x %d outstanding; %" G_GUINT64_FORMAT
            " warm-up commands, then %" G_GUINT64_FORMAT " measured\n",
            b->cfg.cpu_clients, b->cfg.depth, warm.completed, res.completed);
    g_print("  wall %.2f s, %.0f cmd/s through the proxy, %" G_GUINT64_FORMAT " error(s)\n",
            res.elapsed_us / 1e6, res.completed / (res.elapsed_us / 1e6), res.errors);
    if (res.first_error) {
        g_print("  first error: %s\n", res.first_error);
        b->failed = TRUE;
    }
    g_print("  proxy CPU: %" G_GUINT64_FORMAT " ticks of 1/%ld s (user %" G_GUINT64_FORMAT
            ", system %" G_GUINT64_FORMAT ") = %.2f s, %.0f%% of one core\n",
            ticks, hz, user1 - user0, sys1 - sys0, cpu_s, 100.0 * cpu_s / (res.elapsed_us / 1e6));
    g_print("  = %.2f us of proxy CPU per forwarded message, dividing by %" G_GUINT64_FORMAT
            " commands\n"
            "    (a message = one command forwarded up plus its reply forwarded back)\n",
            per_msg_us, res.completed);
    /* when the driver saturates a core, the rate is the driver's, not the proxy's */
    g_print("  this process (clients and fake upstream) used %.2f s of CPU meanwhile\n",
            tv_seconds(&self1.ru_utime) + tv_seconds(&self1.ru_stime) -
                tv_seconds(&self0.ru_utime) - tv_seconds(&self0.ru_stime));
    if (ticks < 50) {
        g_print("  note: only %" G_GUINT64_FORMAT " ticks measured; use more --cpu-commands for "
                "a precise figure\n",
                ticks);
    }
    summary_add(b, "throughput via proxy, fake upstream", res.completed / (res.elapsed_us / 1e6), 0,
                "cmd/s", -1);
    summary_add(b, "proxy CPU per forwarded message", per_msg_us, 2, "us", 2.0);
    pump_result_clear(&warm);
    pump_result_clear(&res);
    g_clear_pointer(&conns, g_ptr_array_unref);
    proxy_stop(b, "cpu", p);
    return;

fail:
    g_print("  FAILED: %s\n", error->message);
    summary_error(b, "proxy CPU per forwarded message", error->message);
    pump_result_clear(&warm);
    pump_result_clear(&res);
    g_clear_pointer(&conns, g_ptr_array_unref);
    proxy_stop(b, "cpu", p);
}

static void bench_memory(Bench *b, const char *qemu_monitor)
{
    g_autofree char *fake_path = g_build_filename(b->dir, "fake-mem.sock", NULL);
    g_autoptr(GError) error = NULL;
    g_autoptr(FakeUpstream) fake = NULL;
    g_autoptr(GPtrArray) conns = NULL;
    guint n = (guint)b->cfg.mem_clients;
    guint idle_ms = b->cfg.quick ? 300 : 1000;
    TestProxy *p = NULL;
    ProcMem idle, busy, left;
    guint64 ticks0, ticks1;

    g_print("\n== memory of a fresh proxy (%s) ==\n",
            qemu_monitor ? "upstream: QEMU" : "upstream: fake QEMU, no QEMU installed");
    if (!qemu_monitor) {
        if (!(fake = fake_start(fake_path))) {
            goto fail;
        }
    }
    if (!(p = proxy_start(b, "memory", qemu_monitor ? qemu_monitor : fake_path, &error))) {
        goto fail;
    }
    /* let start-up allocations settle before reading */
    if (!sleep_ms(200) || !proc_mem(p->pid, &idle)) {
        goto gone;
    }
    if (!(conns = conns_open(p->listen, n, &error))) {
        goto fail;
    }
    if (!sleep_ms(200) || !proc_mem(p->pid, &busy) || !proc_cpu_ticks(p->pid, &ticks0) ||
        !sleep_ms(idle_ms) || !proc_cpu_ticks(p->pid, &ticks1)) {
        goto gone;
    }
    g_clear_pointer(&conns, g_ptr_array_unref);
    /* wait for the proxy to notice every client left before reading again */
    for (guint waited = 0; count_in_log(p, " disconnected: ") < n && waited < 3000; waited += 10) {
        g_usleep(10000);
    }
    guint gone_count = count_in_log(p, " disconnected: ");
    if (!proc_mem(p->pid, &left)) {
        goto gone;
    }
    double per_client = ((double)busy.rss_kb - (double)idle.rss_kb) / n;
    g_print("  %-30s %8s %8s %8s   (KiB)\n", "", "VmRSS", "RssAnon", "RssFile");
    g_print("  %-30s %8" G_GUINT64_FORMAT " %8" G_GUINT64_FORMAT " %8" G_GUINT64_FORMAT "\n",
            "idle, no clients", idle.rss_kb, idle.anon_kb, idle.file_kb);
    g_print("  %-30s %8" G_GUINT64_FORMAT " %8" G_GUINT64_FORMAT " %8" G_GUINT64_FORMAT "\n",
            "with idle negotiated clients", busy.rss_kb, busy.anon_kb, busy.file_kb);
    g_print("  %-30s %8" G_GUINT64_FORMAT " %8" G_GUINT64_FORMAT " %8" G_GUINT64_FORMAT "\n",
            "after they disconnected", left.rss_kb, left.anon_kb, left.file_kb);
    g_print("  %u clients: %.1f KiB of RSS per client; the proxy logged %u disconnect(s)\n", n,
            per_client, gone_count);
    g_print("  proxy CPU while %u clients sat idle for %u ms: %" G_GUINT64_FORMAT " tick(s)\n", n,
            idle_ms, ticks1 - ticks0);
    summary_add(b, "idle RSS, no clients", (double)idle.rss_kb, 0, "KiB", 4096);
    summary_add(b, "RSS per idle client", per_client, 1, "KiB", 32);
    proxy_stop(b, "memory", p);
    return;

gone:
    if (!error) {
        g_set_error(&error, BENCH_ERROR, 0, "%s",
                    stop_requested ? "interrupted" : "the proxy's /proc entries vanished");
    }
fail:
    g_print("  FAILED: %s\n", error->message);
    summary_error(b, "idle RSS, no clients", error->message);
    g_clear_pointer(&conns, g_ptr_array_unref);
    proxy_stop(b, "memory", p);
}

/* Latency and throughput share one QEMU, one proxy and one direct client. */
static void bench_qemu_paths(Bench *b, TestQemu *q, const char *monitor)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(BenchConn) direct = NULL;
    g_autoptr(BenchConn) proxied = NULL;
    TestProxy *p = NULL;

    if (!(direct = conn_open(q->qmp, CAPS_OOB, &error))) {
        g_prefix_error(&error, "direct client: ");
    } else if ((p = proxy_start(b, "qemu", monitor, &error)) &&
               !(proxied = conn_open(p->listen, CAPS_PLAIN, &error))) {
        g_prefix_error(&error, "proxy client: ");
    }
    if (error) {
        g_print("\nFAILED to set up the QEMU measurements: %s\n", error->message);
        summary_error(b, "latency and throughput", error->message);
        proxy_stop(b, "qemu", p);
        return;
    }
    if (b->cfg.latency && !stop_requested) {
        bench_latency(b, direct, proxied);
    }
    if (b->cfg.throughput && !stop_requested) {
        bench_throughput(b, direct, p->listen);
    }
    g_clear_pointer(&proxied, conn_free);
    g_print("\n");
    proxy_stop(b, "qemu", p);
}

/* ---- driver -------------------------------------------------------------- */

/* Commands per second through a proxy (with @opts) in front of @upstream,
 * or of a fake upstream answering at once (NULL), so that the proxy's own
 * work shows. */
static gboolean rate_through(Bench *b, const char *label, const char *upstream,
                             const char *const *opts, guint64 total, double *rate, GError **error)
{
    g_autofree char *fake_path = g_strdup_printf("%s/fake-%s.sock", b->dir, label);
    g_autoptr(FakeUpstream) fake = upstream ? NULL : fake_start(fake_path);
    g_autoptr(GPtrArray) conns = NULL;
    PumpResult warm = { 0 }, res = { 0 };
    TestProxy *p = NULL;
    gboolean ok = (upstream || fake) &&
                  (p = proxy_start_with(b, label, upstream ? upstream : fake_path, opts, error)) &&
                  (conns = conns_open(p->listen, (guint)b->cfg.cpu_clients, error)) &&
                  pump(conns, (guint)b->cfg.depth, 0, MAX(total / 20, 100), &warm, error) &&
                  pump(conns, (guint)b->cfg.depth, 0, total, &res, error);

    if (ok) {
        *rate = res.completed / (res.elapsed_us / 1e6);
    }
    pump_result_clear(&warm);
    pump_result_clear(&res);
    g_clear_pointer(&conns, g_ptr_array_unref);
    if (p) {
        proxy_stop(b, label, p);
    }
    return ok;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}

/* Throughput with --trace (everything recorded) against without, in
 * alternating rounds so that background load falls on both alike; through
 * a real QEMU (what a user sees) when there is one, and against the fake
 * upstream (the proxy's own cost, tracing included, laid bare). */
static void bench_trace_one(Bench *b, const char *what, const char *upstream, guint64 total)
{
    enum { ROUNDS = 3 };
    double on[ROUNDS], off[ROUNDS];
    g_autoptr(GError) error = NULL;
    g_autofree char *file = g_strdup_printf("%s/trace-%s.jsonl", b->dir, what);
    const char *const opts[] = { "--trace", file, NULL };
    g_autofree char *figure = g_strdup_printf("throughput ratio traced/untraced, %s", what);

    for (int i = 0; i < ROUNDS && !stop_requested; i++) {
        g_autofree char *l_off = g_strdup_printf("untraced-%s-%d", what, i);
        g_autofree char *l_on = g_strdup_printf("traced-%s-%d", what, i);

        if (!rate_through(b, l_off, upstream, NULL, total, &off[i], &error) ||
            !rate_through(b, l_on, upstream, opts, total, &on[i], &error)) {
            g_print("  FAILED: %s\n", error->message);
            summary_error(b, figure, error->message);
            return;
        }
        g_print("  %s, round %d: %.0f cmd/s untraced, %.0f cmd/s traced\n", what, i + 1, off[i],
                on[i]);
    }
    struct stat st;
    if (g_stat(file, &st) == 0) {
        g_print("  %s: trace written, %.1f MB\n", what, st.st_size / 1048576.0);
    }
    qsort(on, ROUNDS, sizeof(double), cmp_double);
    qsort(off, ROUNDS, sizeof(double), cmp_double);
    summary_add_min(b, figure, on[ROUNDS / 2] / off[ROUNDS / 2], 2, "x", 0.9);
}

static void bench_trace(Bench *b, const char *qemu_monitor)
{
    g_print("\n== tracing: commands/s with --trace vs without ==\n");
    if (qemu_monitor) {
        bench_trace_one(b, "real QEMU", qemu_monitor, (guint64)b->cfg.cpu_commands / 10);
    }
    bench_trace_one(b, "fake upstream", NULL, (guint64)b->cfg.cpu_commands / 2);
}

static gboolean wait_for_file(const char *path, guint timeout_ms)
{
    for (guint waited = 0; waited < timeout_ms && !stop_requested; waited += 10) {
        if (g_file_test(path, G_FILE_TEST_EXISTS)) {
            return TRUE;
        }
        g_usleep(10000);
    }
    return FALSE;
}

static double load_average(void)
{
    g_autofree char *text = NULL;

    if (!g_file_get_contents("/proc/loadavg", &text, NULL, NULL)) {
        return 0;
    }
    return g_ascii_strtod(text, NULL);
}

static gboolean parse_options(Config *cfg, int *argc, char ***argv, GError **error)
{
    g_autofree char *only = NULL;
    GOptionEntry entries[] = {
        { "iterations", 'n', 0, G_OPTION_ARG_INT, &cfg->iterations,
          "Timed round-trip pairs for the latency figure (default 2000)", "N" },
        { "warmup", 0, 0, G_OPTION_ARG_INT, &cfg->warmup,
          "Untimed round-trip pairs before them (default 200)", "N" },
        { "duration", 'd', 0, G_OPTION_ARG_DOUBLE, &cfg->duration,
          "Seconds per throughput run (default 3)", "SECONDS" },
        { "depth", 0, 0, G_OPTION_ARG_INT, &cfg->depth,
          "Commands each client keeps outstanding (default 8)", "N" },
        { "cpu-commands", 0, 0, G_OPTION_ARG_INT, &cfg->cpu_commands,
          "Commands driven through the proxy for the CPU figure (default 200000)", "N" },
        { "cpu-clients", 0, 0, G_OPTION_ARG_INT, &cfg->cpu_clients,
          "Clients driving them (default 8)", "N" },
        { "clients", 0, 0, G_OPTION_ARG_INT, &cfg->mem_clients,
          "Idle clients for the memory figure (default 100)", "N" },
        { "quick", 'q', 0, G_OPTION_ARG_NONE, &cfg->quick,
          "Small counts: a smoke run of a few seconds", NULL },
        { "only", 0, 0, G_OPTION_ARG_STRING, &only,
          "Run only these parts (comma-separated): latency, throughput, cpu, memory, trace",
          "LIST" },
        { NULL },
    };
    g_autoptr(GOptionContext) ctx = g_option_context_new("- measure what qmproxy costs");

    g_option_context_add_main_entries(ctx, entries, NULL);
    g_option_context_set_description(
        ctx, "Starts its own QEMU (" QEMU_BIN ", TCG) and qmproxy processes in a temporary\n"
             "directory; the proxy binary is $QMPROXY_BIN or the one built with this program.\n"
             "Exits 77 when QEMU is not installed (the fake-upstream parts still run).\n");
    if (!g_option_context_parse(ctx, argc, argv, error)) {
        return FALSE;
    }
    if (*argc > 1) {
        g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_FAILED, "unexpected argument '%s'",
                    (*argv)[1]);
        return FALSE;
    }
    /* -1: not given; --quick changes only the defaults */
    if (cfg->iterations < 0) {
        cfg->iterations = cfg->quick ? 200 : 2000;
    }
    if (cfg->warmup < 0) {
        cfg->warmup = cfg->quick ? 20 : 200;
    }
    if (cfg->duration < 0) {
        cfg->duration = cfg->quick ? 0.3 : 3.0;
    }
    if (cfg->cpu_commands < 0) {
        cfg->cpu_commands = cfg->quick ? 20000 : 200000;
    }
    if (cfg->iterations < 1 || cfg->warmup < 0 || cfg->duration <= 0 || cfg->duration > 60 ||
        cfg->depth < 1 || cfg->depth > 64 || cfg->cpu_commands < 1 || cfg->cpu_clients < 1 ||
        cfg->cpu_clients > 200 || cfg->mem_clients < 1 || cfg->mem_clients > 200) {
        g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                    "a count is out of range (depth 1-64, clients 1-200, duration up to 60 s)");
        return FALSE;
    }
    if (!only) {
        cfg->latency = cfg->throughput = cfg->cpu = cfg->memory = cfg->trace = TRUE;
        return TRUE;
    }
    g_auto(GStrv) parts = g_strsplit(only, ",", -1);
    for (guint i = 0; parts[i]; i++) {
        const char *part = g_strstrip(parts[i]);

        if (strcmp(part, "latency") == 0) {
            cfg->latency = TRUE;
        } else if (strcmp(part, "throughput") == 0) {
            cfg->throughput = TRUE;
        } else if (strcmp(part, "cpu") == 0) {
            cfg->cpu = TRUE;
        } else if (strcmp(part, "memory") == 0) {
            cfg->memory = TRUE;
        } else if (strcmp(part, "trace") == 0) {
            cfg->trace = TRUE;
        } else {
            g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                        "--only: unknown part '%s' (latency, throughput, cpu, memory, trace)",
                        part);
            return FALSE;
        }
    }
    return TRUE;
}

static void print_summary(Bench *b)
{
    guint64 peak = 0;
    const char *peak_label = NULL;

    if (b->peaks->len) {
        g_print("\n== peak RSS (VmHWM) of each proxy over its whole run ==\n");
        for (guint i = 0; i < b->peaks->len; i++) {
            PeakRow *row = &g_array_index(b->peaks, PeakRow, i);

            g_print("  %-8s %8" G_GUINT64_FORMAT " KiB\n", row->label, row->hwm_kb);
            if (row->hwm_kb > peak) {
                peak = row->hwm_kb;
                peak_label = row->label;
            }
        }
        g_autofree char *figure = g_strdup_printf("peak RSS, any proxy (%s)", peak_label);
        summary_add(b, figure, (double)peak, 0, "KiB", -1);
    }
    g_print("\n== summary ==\n");
    for (guint i = 0; i < b->summary->len; i++) {
        SummaryRow *row = &g_array_index(b->summary, SummaryRow, i);

        g_print("%-40s %16s  %-16s %s\n", row->figure, row->value, row->target, row->verdict);
    }
}

int main(int argc, char **argv)
{
    Bench bench = { 0 };
    Bench *b = &bench;
    g_autoptr(GError) error = NULL;
    g_autoptr(TestQemu) q = NULL;
    g_autofree char *qemu = NULL;
    g_autofree char *mon_b = NULL;
    g_autofree char *mon_c = NULL;
    gint64 started = g_get_monotonic_time();

    b->cfg = (Config){ .iterations = -1,
                       .warmup = -1,
                       .depth = 8,
                       .duration = -1,
                       .cpu_commands = -1,
                       .cpu_clients = 8,
                       .mem_clients = 100 };
    if (!parse_options(&b->cfg, &argc, &argv, &error)) {
        g_printerr("bench-proxy: %s (see --help)\n", error->message);
        return 2;
    }
    /* the harness starts $QMPROXY_BIN: default to the one built with us */
    g_setenv("QMPROXY_BIN", QMPROXY_BIN, FALSE);
    if (!g_file_test(test_qmproxy_bin(), G_FILE_TEST_IS_EXECUTABLE)) {
        g_printerr("bench-proxy: %s is not an executable; build qmproxy first\n",
                   test_qmproxy_bin());
        return 1;
    }
    install_signal_handlers();
    b->summary = g_array_new(FALSE, TRUE, sizeof(SummaryRow));
    g_array_set_clear_func(b->summary, summary_row_clear);
    b->peaks = g_array_new(FALSE, TRUE, sizeof(PeakRow));
    g_array_set_clear_func(b->peaks, peak_row_clear);
    b->dir = g_dir_make_tmp("qmproxy-bench-XXXXXX", &error);
    g_assert_no_error(error);

    qemu = g_find_program_in_path(QEMU_BIN);
    b->have_qemu = qemu != NULL;
    g_print("qmproxy benchmark (%s run)\n", b->cfg.quick ? "quick" : "full");
    g_print("  proxy: %s\n  qemu:  %s\n", test_qmproxy_bin(),
            qemu ? qemu : "not installed: latency and throughput are skipped");
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    double load = load_average();
    g_print("  %ld CPU(s) online, load average %.2f; QEMU runs TCG, paused (-S)\n", cpus, load);
    if (load > cpus * 0.5) {
        g_print("  WARNING: other processes keep the CPUs busy; every figure below will be "
                "noisy\n");
    }

    gboolean need_qemu = b->cfg.latency || b->cfg.throughput || b->cfg.memory || b->cfg.trace;
    if (b->have_qemu && need_qemu) {
        /* three monitors: A for the direct client, B behind the proxy under
         * load, C behind a fresh proxy for memory */
        mon_b = g_build_filename(b->dir, "qmp-b.sock", NULL);
        mon_c = g_build_filename(b->dir, "qmp-c.sock", NULL);
        g_autofree char *arg_b = g_strdup_printf("unix:%s,server=on,wait=off", mon_b);
        g_autofree char *arg_c = g_strdup_printf("unix:%s,server=on,wait=off", mon_c);
        const char *const extra[] = { "-qmp", arg_b, "-qmp", arg_c, NULL };

        q = test_qemu_start(extra);
        child_register(q->pid);
        if (!wait_for_file(mon_b, 20000) || !wait_for_file(mon_c, 20000)) {
            g_printerr("bench-proxy: QEMU did not create its second and third QMP sockets\n");
            b->failed = TRUE;
            g_clear_pointer(&q, test_qemu_free);
        }
    }

    if (b->cfg.memory && !stop_requested && (q || !b->have_qemu)) {
        bench_memory(b, q ? mon_c : NULL);
    }
    if ((b->cfg.latency || b->cfg.throughput) && !stop_requested && q) {
        bench_qemu_paths(b, q, mon_b);
    }
    if (b->cfg.cpu && !stop_requested) {
        bench_cpu(b);
    }
    if (b->cfg.trace && !stop_requested) {
        bench_trace(b, q ? mon_c : NULL);
    }

    if (q) {
        child_unregister(q->pid);
        g_clear_pointer(&q, test_qemu_free);
    }
    print_summary(b);
    if (!b->have_qemu && (b->cfg.latency || b->cfg.throughput)) {
        g_print("SKIP latency and throughput: " QEMU_BIN " is not in PATH "
                "(apt-get install qemu-system-x86)\n");
    }
    if (b->anomalies) {
        g_print("%u odd thing(s) seen in the proxy's behaviour or log; see WARNING and | lines "
                "above\n",
                b->anomalies);
    }
    if (stop_requested) {
        g_print("interrupted\n");
    }
    g_print("finished in %.1f s\n", (g_get_monotonic_time() - started) / 1e6);

    test_rm_rf(b->dir);
    g_free(b->dir);
    g_array_unref(b->summary);
    g_array_unref(b->peaks);
    if (stop_requested || b->failed) {
        return 1;
    }
    return !bench.have_qemu && (bench.cfg.latency || bench.cfg.throughput) ? 77 : 0;
}
