/* conn.h - one QMP peer on a non-blocking unix socket, driven by the GLib
 * main loop: reads are framed into messages, writes are queued, and file
 * descriptors travel as SCM_RIGHTS both ways. */
#pragma once

#include "value.h"

typedef struct QmpConn QmpConn;

typedef enum {
    /* messages come with their text exactly as sent (QEMU's output, passed
     * on byte for byte); otherwise with their tokens only, so that white
     * space costs nothing (QMP_FRAMER_KEEP_TEXT) */
    QMP_CONN_KEEP_TEXT = 1 << 0,
} QmpConnFlags;

typedef struct {
    /* A complete value (@error NULL) or a framing error (@value NULL). */
    void (*message)(QmpConn *conn, QmpValue *value, const char *raw, gsize raw_len,
                    const char *error, gpointer user_data);
    /* Descriptors that arrived with the bytes that follow; ownership
     * passes to the callee. May be NULL: the descriptors are closed. */
    void (*fds)(QmpConn *conn, int *fds, guint n_fds, gpointer user_data);
    /* The peer will send nothing more but may still read; reading stops.
     * May be NULL: end of input then counts as closed. */
    void (*eof)(QmpConn *conn, gpointer user_data);
    /* The peer hung up or the socket failed (@reason says how), or a
     * close requested with qmp_conn_close() has flushed. Nothing more is
     * read or written; the owner frees the connection. */
    void (*closed)(QmpConn *conn, const char *reason, gpointer user_data);
} QmpConnCallbacks;

/* Wraps the connected socket @fd (taking ownership) and starts reading. */
QmpConn *qmp_conn_new(int fd, QmpConnFlags flags, const QmpConnCallbacks *callbacks,
                      gpointer user_data);
/* Closes the socket and drops whatever is queued; safe from callbacks. */
void qmp_conn_free(QmpConn *conn);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(QmpConn, qmp_conn_free)

/* Queues @len bytes, written as soon as the socket takes them. */
void qmp_conn_send(QmpConn *conn, const char *data, gsize len);
/* The same, passing @fds (ownership taken) with the first byte. */
void qmp_conn_send_with_fds(QmpConn *conn, const char *data, gsize len, int *fds, guint n_fds);
/* Bytes queued and not yet written. */
gsize qmp_conn_queued(const QmpConn *conn);
/* Stops or resumes reading (back-pressure). Stopped from the message
 * callback, no further message of what was read already is handed over
 * until reading resumes. */
void qmp_conn_set_reading(QmpConn *conn, gboolean reading);
/* Stops reading, flushes what is queued, then reports closed. */
void qmp_conn_close(QmpConn *conn, const char *reason);
