/* conn.c - non-blocking QMP socket I/O on the GLib main loop.
 *
 * Writes are attempted at once and queued only when the socket is full,
 * so a reply costs one sendmsg() on the fast path. The read side hands
 * every byte to a framer, so messages may arrive split or batched.
 *
 * Reading stops the moment the owner says so, even in the middle of what
 * one recvmsg() brought (QEMU reads its monitor a byte at a time and stops
 * between two messages); the bytes not framed yet wait here, and are
 * framed first when reading resumes. */
#include "conn.h"

#include "framer.h"

#include <errno.h>
#include <glib-unix.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define READ_CHUNK 65536
#define READS_PER_WAKEUP 4
/* QEMU's socket chardev receives at most 16 descriptors per message
 * (SOCKET_MAX_FDS); the kernel closes any beyond what fits */
#define MAX_RECV_FDS 16
/* Chunks gathered into one sendmsg() */
#define MAX_IOV 64

typedef struct {
    char *data;
    gsize len;
    gsize off;
    int *fds;
    guint n_fds;
} Chunk;

typedef struct {
    GSource source;
    QmpConn *conn;
} ConnSource;

struct QmpConn {
    int fd;
    QmpConnCallbacks cb;
    gpointer user_data;
    QmpFramer *framer;
    GSource *source;
    gpointer fd_tag;
    GIOCondition events; /* what the source polls for now */

    GQueue out; /* of Chunk */
    gsize queued;

    gboolean reading;
    gboolean closing;  /* qmp_conn_close(): flush, then report */
    gboolean dead;     /* closed reported, or freed; nothing more */
    guint in_dispatch; /* callbacks running: defer the free */
    gboolean free_pending;
    char *close_reason;
    char *deferred_close; /* reported from the next dispatch */
    char *read_buf;
    GByteArray *unframed; /* read, not framed yet: reading stopped */
    gboolean batched;     /* in the batch's list: its output waits for the batch's end */
};

/* While a connection's input is dispatched, what it causes to be sent
 * (commands to QEMU, replies to a client) is only queued, and each
 * connection's queue leaves in one sendmsg() once the dispatch is over:
 * one system call for several messages, and QEMU, which reads a byte per
 * call, never waits between them. Per thread: each runs its own loop. */
static _Thread_local guint batch_depth;
static _Thread_local GPtrArray *batch;

static void chunk_free(Chunk *c)
{
    for (guint i = 0; i < c->n_fds; i++) {
        close(c->fds[i]);
    }
    g_free(c->fds);
    g_free(c->data);
    g_free(c);
}

static void update_events(QmpConn *conn)
{
    GIOCondition ev = 0;

    if (conn->dead) {
        return;
    }
    if (conn->reading && !conn->closing) {
        ev |= G_IO_IN;
    }
    if (conn->queued) {
        ev |= G_IO_OUT;
    }
    /* each modification wakes the main context up: only when it changes */
    if (ev != conn->events) {
        conn->events = ev;
        g_source_modify_unix_fd(conn->source, conn->fd_tag, ev);
    }
}

static void report_closed(QmpConn *conn, const char *reason)
{
    if (conn->dead) {
        return;
    }
    conn->dead = TRUE;
    /* poll() reports POLLHUP whatever we ask for: stop polling altogether */
    g_source_remove_unix_fd(conn->source, conn->fd_tag);
    conn->fd_tag = NULL;
    conn->in_dispatch++;
    conn->cb.closed(conn, reason, conn->user_data);
    conn->in_dispatch--;
}

/* Outside dispatch (a send or close requested by the owner) the owner must
 * not be called back re-entrantly: report on the next main-loop turn. */
static void defer_closed(QmpConn *conn, const char *reason)
{
    if (conn->dead || conn->deferred_close) {
        return;
    }
    conn->deferred_close = g_strdup(reason);
    g_source_set_ready_time(conn->source, 0);
}

static gboolean conn_taking(QmpConn *conn)
{
    return conn->reading && !conn->dead && !conn->closing && !conn->free_pending;
}

static gboolean on_frame(QmpValue *value, const char *raw, gsize raw_len, const char *error,
                         gpointer user_data)
{
    QmpConn *conn = user_data;

    /* the rest of a read after the owner gave up on the peer is dropped */
    if (!conn_taking(conn)) {
        return FALSE;
    }
    conn->cb.message(conn, value, raw, raw_len, error, conn->user_data);
    return conn_taking(conn);
}

/* Frames @n bytes; what the owner did not take yet waits in @unframed. */
static void frame(QmpConn *conn, const char *data, gsize n)
{
    gsize used = qmp_framer_feed(conn->framer, data, n);

    if (used < n && !conn->dead && !conn->closing && !conn->free_pending) {
        g_byte_array_append(conn->unframed, (const guint8 *)data + used, (guint)(n - used));
    }
}

/* Frames what waited since reading stopped; TRUE once none is left. */
static gboolean frame_unframed(QmpConn *conn)
{
    if (conn->unframed->len == 0) {
        return TRUE;
    }
    g_autoptr(GByteArray) waiting = g_steal_pointer(&conn->unframed);

    conn->unframed = g_byte_array_new();
    frame(conn, (const char *)waiting->data, waiting->len);
    return conn->unframed->len == 0;
}

static void take_fds(QmpConn *conn, struct msghdr *msg)
{
    for (struct cmsghdr *c = CMSG_FIRSTHDR(msg); c; c = CMSG_NXTHDR(msg, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) {
            continue;
        }
        guint n = (guint)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
        int *fds = g_new(int, n ? n : 1);

        memcpy(fds, CMSG_DATA(c), n * sizeof(int));
        if (conn->cb.fds && !conn->dead && !conn->closing) {
            conn->cb.fds(conn, fds, n, conn->user_data);
        } else {
            for (guint i = 0; i < n; i++) {
                close(fds[i]);
            }
            g_free(fds);
        }
    }
}

static void do_read(QmpConn *conn)
{
    for (int round = 0; round < READS_PER_WAKEUP; round++) {
        union {
            char buf[CMSG_SPACE(sizeof(int) * MAX_RECV_FDS)];
            struct cmsghdr align;
        } control;
        struct iovec iov = { conn->read_buf, READ_CHUNK };
        struct msghdr msg = {
            .msg_iov = &iov,
            .msg_iovlen = 1,
            .msg_control = control.buf,
            .msg_controllen = sizeof(control.buf),
        };
        ssize_t n = recvmsg(conn->fd, &msg, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);

        if (n < 0) {
            if (errno == EAGAIN || errno == EINTR) {
                return;
            }
            g_autofree char *reason = g_strdup_printf("read failed: %s", g_strerror(errno));
            report_closed(conn, reason);
            return;
        }
        if (msg.msg_controllen) {
            take_fds(conn, &msg);
        }
        if (n == 0) {
            if (!conn->cb.eof) {
                report_closed(conn, "peer closed the connection");
                return;
            }
            conn->reading = FALSE;
            update_events(conn);
            conn->cb.eof(conn, conn->user_data);
            return;
        }
        frame(conn, conn->read_buf, (gsize)n);
        if (!conn_taking(conn)) {
            return;
        }
        if (n < READ_CHUNK) {
            return;
        }
    }
}

/* Writes as much of the queue as the socket takes, in one sendmsg():
 * the head chunk with its descriptors, and the chunks after it that have
 * none (descriptors travel with a message's first byte). */
static gboolean send_queued(QmpConn *conn)
{
    union {
        char buf[CMSG_SPACE(sizeof(int) * MAX_RECV_FDS)];
        struct cmsghdr align;
    } control;
    struct iovec iov[MAX_IOV];
    struct msghdr msg = { .msg_iov = iov };
    Chunk *head = g_queue_peek_head(&conn->out);

    for (GList *l = conn->out.head; l && msg.msg_iovlen < MAX_IOV; l = l->next) {
        Chunk *c = l->data;

        if (c != head && c->n_fds) {
            break;
        }
        iov[msg.msg_iovlen].iov_base = c->data + c->off;
        iov[msg.msg_iovlen].iov_len = c->len - c->off;
        msg.msg_iovlen++;
    }
    if (head->n_fds && head->off == 0) {
        gsize size = sizeof(int) * MIN(head->n_fds, (guint)MAX_RECV_FDS);

        memset(&control, 0, sizeof(control));
        msg.msg_control = control.buf;
        msg.msg_controllen = CMSG_SPACE(size);
        struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);
        cm->cmsg_level = SOL_SOCKET;
        cm->cmsg_type = SCM_RIGHTS;
        cm->cmsg_len = CMSG_LEN(size);
        memcpy(CMSG_DATA(cm), head->fds, size);
    }

    ssize_t n = sendmsg(conn->fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0) {
        if (errno == EAGAIN || errno == EINTR) {
            return TRUE;
        }
        g_autofree char *reason = g_strdup_printf("write failed: %s", g_strerror(errno));
        defer_closed(conn, reason);
        return FALSE;
    }
    if (head->n_fds) {
        /* the peer holds its own copies now */
        for (guint i = 0; i < head->n_fds; i++) {
            close(head->fds[i]);
        }
        head->n_fds = 0;
    }
    conn->queued -= (gsize)n;
    for (Chunk *c; n > 0 && (c = g_queue_peek_head(&conn->out));) {
        gsize take = MIN((gsize)n, c->len - c->off);

        c->off += take;
        n -= (ssize_t)take;
        if (c->off == c->len) {
            chunk_free(g_queue_pop_head(&conn->out));
        }
    }
    return TRUE;
}

static void flush(QmpConn *conn)
{
    while (!conn->dead && !conn->deferred_close && !g_queue_is_empty(&conn->out)) {
        gsize before = conn->queued;

        if (!send_queued(conn)) {
            return;
        }
        if (conn->queued == before) {
            break; /* the socket is full: the rest on G_IO_OUT */
        }
    }
    if (conn->dead || conn->deferred_close) {
        return;
    }
    if (conn->closing && g_queue_is_empty(&conn->out)) {
        shutdown(conn->fd, SHUT_WR);
        defer_closed(conn, conn->close_reason);
        return;
    }
    update_events(conn);
}

/* The batch is over: each connection's output leaves. */
static void flush_batch(void)
{
    for (guint i = 0; batch && i < batch->len; i++) {
        QmpConn *conn = g_ptr_array_index(batch, i);

        conn->batched = FALSE;
        flush(conn);
    }
    if (batch) {
        g_ptr_array_set_size(batch, 0);
    }
}

static void conn_unref_dispatch(QmpConn *conn);

static gboolean conn_dispatch(GSource *source, GSourceFunc callback, gpointer user_data)
{
    QmpConn *conn = ((ConnSource *)source)->conn;
    GIOCondition rev = conn->fd_tag ? g_source_query_unix_fd(source, conn->fd_tag) : 0;

    conn->in_dispatch++;
    batch_depth++;
    /* woken for a deferred close or bytes left unframed: both seen to below */
    g_source_set_ready_time(source, -1);
    if (conn->deferred_close) {
        g_autofree char *reason = g_steal_pointer(&conn->deferred_close);

        report_closed(conn, reason);
    }
    if ((rev & G_IO_OUT) && !conn->dead) {
        flush(conn);
    }
    gboolean drained = TRUE;
    if (conn->unframed->len && conn_taking(conn)) {
        drained = frame_unframed(conn);
    }
    if ((rev & (G_IO_IN | G_IO_HUP | G_IO_ERR)) && !conn->dead && !conn->free_pending) {
        if (conn->reading && !conn->closing) {
            /* never past bytes not framed yet: they come first */
            if (drained && conn_taking(conn)) {
                do_read(conn);
            }
        } else if (rev & (G_IO_HUP | G_IO_ERR)) {
            /* not reading, yet the peer is gone: nothing left to wait for */
            report_closed(conn, "peer closed the connection");
        }
    }
    if (--batch_depth == 0) {
        flush_batch();
    }
    conn_unref_dispatch(conn);
    return G_SOURCE_CONTINUE;
}

static GSourceFuncs conn_source_funcs = {
    .dispatch = conn_dispatch,
};

QmpConn *qmp_conn_new(int fd, QmpConnFlags flags, const QmpConnCallbacks *callbacks,
                      gpointer user_data)
{
    QmpConn *conn = g_new0(QmpConn, 1);
    g_autoptr(GError) error = NULL;

    g_unix_set_fd_nonblocking(fd, TRUE, &error);
    conn->fd = fd;
    conn->cb = *callbacks;
    conn->user_data = user_data;
    conn->framer =
        qmp_framer_new((flags & QMP_CONN_KEEP_TEXT) ? QMP_FRAMER_KEEP_TEXT : 0, on_frame, conn);
    conn->reading = TRUE;
    conn->read_buf = g_malloc(READ_CHUNK);
    conn->unframed = g_byte_array_new();
    g_queue_init(&conn->out);

    conn->source = g_source_new(&conn_source_funcs, sizeof(ConnSource));
    ((ConnSource *)conn->source)->conn = conn;
    g_source_set_static_name(conn->source, "qmp-conn");
    /* GLib blocks a non-recursive source while dispatching it, taking its
     * fd out of the poll set and back, and each change wakes the context
     * up: four eventfd writes per message. Nothing here runs a nested
     * main loop, so there is no recursion to guard against. */
    g_source_set_can_recurse(conn->source, TRUE);
    conn->events = G_IO_IN;
    conn->fd_tag = g_source_add_unix_fd(conn->source, fd, conn->events);
    g_source_attach(conn->source, NULL);
    return conn;
}

static void conn_destroy(QmpConn *conn)
{
    if (conn->batched) {
        g_ptr_array_remove_fast(batch, conn);
    }
    g_source_destroy(conn->source);
    g_source_unref(conn->source);
    g_queue_clear_full(&conn->out, (GDestroyNotify)chunk_free);
    qmp_framer_free(conn->framer);
    close(conn->fd);
    g_free(conn->close_reason);
    g_free(conn->deferred_close);
    g_free(conn->read_buf);
    g_byte_array_unref(conn->unframed);
    g_free(conn);
}

static void conn_unref_dispatch(QmpConn *conn)
{
    conn->in_dispatch--;
    if (conn->in_dispatch == 0 && conn->free_pending) {
        conn_destroy(conn);
    }
}

void qmp_conn_free(QmpConn *conn)
{
    if (!conn) {
        return;
    }
    if (conn->in_dispatch) {
        conn->free_pending = TRUE;
        conn->dead = TRUE;
        return;
    }
    conn_destroy(conn);
}

static void close_fds(int *fds, guint n_fds)
{
    for (guint i = 0; i < n_fds; i++) {
        close(fds[i]);
    }
    g_free(fds);
}

void qmp_conn_send_with_fds(QmpConn *conn, const char *data, gsize len, int *fds, guint n_fds)
{
    if (conn->dead || conn->free_pending || conn->closing) {
        close_fds(fds, n_fds);
        return;
    }
    Chunk *c = g_new0(Chunk, 1);

    c->len = len;
    c->data = g_memdup2(data, len);
    c->fds = fds;
    c->n_fds = n_fds;
    g_queue_push_tail(&conn->out, c);
    conn->queued += len;
    if (batch_depth > 0) {
        /* sent with whatever else the batch brings, at its end */
        if (!conn->batched) {
            conn->batched = TRUE;
            if (!batch) {
                batch = g_ptr_array_new();
            }
            g_ptr_array_add(batch, conn);
        }
        return;
    }
    if (conn->out.length == 1) {
        flush(conn);
    }
}

void qmp_conn_send(QmpConn *conn, const char *data, gsize len)
{
    qmp_conn_send_with_fds(conn, data, len, NULL, 0);
}

gsize qmp_conn_queued(const QmpConn *conn)
{
    return conn->queued;
}

void qmp_conn_set_reading(QmpConn *conn, gboolean reading)
{
    if (conn->reading == reading) {
        return;
    }
    conn->reading = reading;
    update_events(conn);
    /* bytes already read are framed on the next turn, not re-entrantly */
    if (reading && conn->unframed->len && !conn->dead) {
        g_source_set_ready_time(conn->source, 0);
    }
}

void qmp_conn_close(QmpConn *conn, const char *reason)
{
    if (conn->dead || conn->closing) {
        return;
    }
    conn->closing = TRUE;
    conn->close_reason = g_strdup(reason);
    flush(conn);
}
