/* test-conn.c - the non-blocking connection: the write queue that holds
 * what a slow peer has not taken, descriptors riding with data, end of
 * input, and close-after-flush. */
#include "conn.h"

#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct {
    guint messages;
    guint fds;
    gboolean eof;
    char *closed;
    int last_fd;
} Seen;

static void on_message(QmpConn *conn, QmpValue *value, const char *raw, gsize len,
                       const char *error, gpointer user_data)
{
    ((Seen *)user_data)->messages++;
}

static void on_fds(QmpConn *conn, int *fds, guint n, gpointer user_data)
{
    Seen *seen = user_data;

    seen->fds += n;
    for (guint i = 0; i < n; i++) {
        if (seen->last_fd >= 0) {
            close(seen->last_fd);
        }
        seen->last_fd = fds[i];
    }
    g_free(fds);
}

static void on_eof(QmpConn *conn, gpointer user_data)
{
    ((Seen *)user_data)->eof = TRUE;
}

static void on_closed(QmpConn *conn, const char *reason, gpointer user_data)
{
    ((Seen *)user_data)->closed = g_strdup(reason);
}

static const QmpConnCallbacks callbacks = { on_message, on_fds, on_eof, on_closed };

static void iterate_until(gboolean *flag, guint max_ms)
{
    gint64 end = g_get_monotonic_time() + max_ms * 1000;

    while (!*flag && g_get_monotonic_time() < end) {
        g_main_context_iteration(NULL, FALSE);
    }
}

static void test_queue_holds_unread(void)
{
    int sv[2];
    Seen seen = { .last_fd = -1 };
    g_autofree char *block = g_malloc(65536);

    g_assert_cmpint(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), ==, 0);
    g_autoptr(QmpConn) conn = qmp_conn_new(sv[0], QMP_CONN_KEEP_TEXT, &callbacks, &seen);
    memset(block, 'x', 65536);
    /* the peer reads nothing: the socket fills, the rest waits in the queue */
    for (int i = 0; i < 64; i++) {
        qmp_conn_send(conn, block, 65536);
    }
    gsize queued = qmp_conn_queued(conn);
    g_assert_cmpuint(queued, >, 0);
    g_assert_cmpuint(queued, <=, 64u * 65536);

    /* as the peer reads, the main loop drains the queue */
    g_autofree char *sink = g_malloc(1 << 20);
    gsize total = 64u * 65536 - queued;
    while (total < 64u * 65536) {
        ssize_t n = read(sv[1], sink, 1 << 20);
        g_assert_cmpint(n, >, 0);
        total += (gsize)n;
        g_main_context_iteration(NULL, FALSE);
        total = MAX(total, 64u * 65536 - qmp_conn_queued(conn));
    }
    g_assert_cmpuint(qmp_conn_queued(conn), ==, 0);
    close(sv[1]);
}

static void test_fds_with_data(void)
{
    int sv[2], p[2];
    Seen seen = { .last_fd = -1 };
    struct stat a, b;

    g_assert_cmpint(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), ==, 0);
    g_assert_cmpint(pipe(p), ==, 0);
    g_autoptr(QmpConn) sender = qmp_conn_new(sv[0], QMP_CONN_KEEP_TEXT, &callbacks, &seen);
    Seen rseen = { .last_fd = -1 };
    g_autoptr(QmpConn) receiver = qmp_conn_new(sv[1], QMP_CONN_KEEP_TEXT, &callbacks, &rseen);
    int *fds = g_new(int, 1);

    fds[0] = dup(p[1]);
    qmp_conn_send_with_fds(sender, "{\"execute\": \"getfd\"}", 20, fds, 1);
    gboolean got = FALSE;
    while (!got) {
        g_main_context_iteration(NULL, TRUE);
        got = rseen.messages == 1;
    }
    g_assert_cmpuint(rseen.fds, ==, 1);
    /* the descriptor received is the same pipe */
    g_assert_cmpint(fstat(rseen.last_fd, &a), ==, 0);
    g_assert_cmpint(fstat(p[1], &b), ==, 0);
    g_assert_cmpuint(a.st_ino, ==, b.st_ino);
    close(rseen.last_fd);
    close(p[0]);
    close(p[1]);
}

static void test_eof_then_close_after_flush(void)
{
    int sv[2];
    Seen seen = { .last_fd = -1 };
    char buf[64];

    g_assert_cmpint(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), ==, 0);
    QmpConn *conn = qmp_conn_new(sv[0], QMP_CONN_KEEP_TEXT, &callbacks, &seen);
    g_assert_cmpint(write(sv[1], "{}[]", 4), ==, 4);
    shutdown(sv[1], SHUT_WR);
    iterate_until(&seen.eof, 5000);
    g_assert_true(seen.eof);
    g_assert_cmpuint(seen.messages, ==, 2);
    g_assert_null(seen.closed);

    /* the peer may still read: what is queued goes out before the close */
    qmp_conn_send(conn, "bye\r\n", 5);
    qmp_conn_close(conn, "done");
    gboolean closed = FALSE;
    while (!closed) {
        g_main_context_iteration(NULL, TRUE);
        closed = seen.closed != NULL;
    }
    g_assert_cmpstr(seen.closed, ==, "done");
    g_assert_cmpint(read(sv[1], buf, sizeof(buf)), ==, 5);
    g_assert_cmpint(read(sv[1], buf, sizeof(buf)), ==, 0);
    qmp_conn_free(conn);
    close(sv[1]);
    g_free(seen.closed);
}

static void test_hangup_reported_once(void)
{
    int sv[2];
    Seen seen = { .last_fd = -1 };
    static const QmpConnCallbacks no_eof = { on_message, NULL, NULL, on_closed };

    g_assert_cmpint(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), ==, 0);
    g_autoptr(QmpConn) conn = qmp_conn_new(sv[0], QMP_CONN_KEEP_TEXT, &no_eof, &seen);
    close(sv[1]);
    gboolean closed = FALSE;
    while (!closed) {
        g_main_context_iteration(NULL, TRUE);
        closed = seen.closed != NULL;
    }
    /* nothing more is dispatched for a dead connection */
    g_assert_false(g_main_context_iteration(NULL, FALSE));
    g_free(seen.closed);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/conn/queue-holds-unread", test_queue_holds_unread);
    g_test_add_func("/conn/fds-with-data", test_fds_with_data);
    g_test_add_func("/conn/eof-then-close-after-flush", test_eof_then_close_after_flush);
    g_test_add_func("/conn/hangup-reported-once", test_hangup_reported_once);
    return g_test_run();
}
