/* conn.h - a QMP client on a non-blocking socket: blocking calls for
 * set-up and single round trips, and the buffers a poll() loop drives
 * (see pump.h). */
#pragma once

#include <glib.h>

typedef struct {
    int fd;
    GString *in; /* bytes read; those before in_off are consumed */
    gsize in_off;
    GString *out; /* bytes to send; those before out_off are sent */
    gsize out_off;
    guint outstanding; /* commands sent and not yet answered */
} BenchConn;

typedef enum {
    BENCH_LINE_OK,
    BENCH_LINE_ERROR,
    BENCH_LINE_EVENT,
} BenchLine;

/* Connects to @path, reads the greeting and negotiates with @caps. */
BenchConn *bench_conn_open(const char *path, const char *caps, GError **error);
/* @n clients of @path, each negotiated without capabilities. */
GPtrArray *bench_conn_open_many(const char *path, guint n, GError **error);
/* Closes @c and frees it (may be NULL). */
void bench_conn_free(BenchConn *c);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(BenchConn, bench_conn_free)

/* Reads what has arrived, without waiting. 1: read something or nothing
 * was there; 0: end of input; -1: failed (errno says why). */
int bench_conn_read(BenchConn *c);
/* The next CRLF-terminated line read (without it), valid until the next
 * read; FALSE when no whole line is there yet. */
gboolean bench_conn_take_line(BenchConn *c, const char **line, gsize *len);
/* Whether @line is a success, an error or an event. */
BenchLine bench_conn_classify(const char *line, gsize len);
/* Sends what is queued in @c->out without waiting; what the socket will
 * not take yet stays queued. FALSE when it failed (errno says why). */
gboolean bench_conn_flush(BenchConn *c);
/* Sends @bytes as they are and waits for the reply: the nanoseconds in
 * between; events that came first go to @events (may be NULL). A reply
 * that is an error fails. */
gboolean bench_conn_exchange(BenchConn *c, const char *bytes, gsize len, gint64 *ns,
                             GPtrArray *events, GError **error);
/* Waits for a line holding @needle, looking first among @events (taking
 * the one found out of it). */
gboolean bench_conn_wait_event(BenchConn *c, const char *needle, GPtrArray *events, GError **error);
/* One timed query-status, in nanoseconds. */
gboolean bench_conn_round_trip(BenchConn *c, gint64 *ns, GError **error);
