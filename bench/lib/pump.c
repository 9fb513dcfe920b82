/* pump.c - pipelined load over many connections (pump.h). */
#include "pump.h"

#include "conn.h"
#include "error.h"
#include "qmp.h"
#include "signals.h"

#include <errno.h>
#include <poll.h>
#include <string.h>

/* No reply at all for this long while commands are outstanding is a
 * stall worth reporting rather than waiting out. */
#define STALL_TIMEOUT_MS 10000

void bench_pump_result_clear(BenchPumpResult *r)
{
    g_clear_pointer(&r->first_error, g_free);
}

/* elapsed_us runs to the last answer, so that a rate counts only work
 * that was finished. */
gboolean bench_pump_run(GPtrArray *conns, guint depth, gint64 duration_us, guint64 total,
                        BenchPumpResult *res, GError **error)
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
            g_string_append(c->out, BENCH_QMP_QUERY_STATUS);
            c->outstanding++;
            sent++;
        }
        if (!bench_conn_flush(c)) {
            g_set_error(error, BENCH_ERROR, 0, "send: %s", g_strerror(errno));
            return FALSE;
        }
    }
    for (;;) {
        gint64 now = g_get_monotonic_time();
        guint busy = 0;

        if (bench_signals_stop_requested()) {
            bench_error_interrupted(error);
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
                int rc = bench_conn_read(c);

                if (rc <= 0) {
                    g_set_error(error, BENCH_ERROR, 0,
                                "client %u: connection %s with %u command(s) outstanding", i + 1,
                                rc == 0 ? "closed by the peer" : "failed", c->outstanding);
                    return FALSE;
                }
                while (bench_conn_take_line(c, &line, &len)) {
                    BenchLine kind = bench_conn_classify(line, len);

                    if (kind == BENCH_LINE_EVENT) {
                        res->events++;
                        continue;
                    }
                    if (kind == BENCH_LINE_ERROR || c->outstanding == 0) {
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
                        g_string_append(c->out, BENCH_QMP_QUERY_STATUS);
                        c->outstanding++;
                        sent++;
                    }
                }
            }
            if (c->out->len && !bench_conn_flush(c)) {
                g_set_error(error, BENCH_ERROR, 0, "client %u: send: %s", i + 1, g_strerror(errno));
                return FALSE;
            }
        }
    }
#undef MAY_ISSUE
    res->elapsed_us = g_get_monotonic_time() - start;
    return TRUE;
}
