/* trace.h - the trace file (--trace): one JSON line per message that
 * crosses the proxy, in the format of docs/trace-format.md. */
#pragma once

#include "value.h"

typedef struct Trace Trace;
typedef struct ProxyClient ProxyClient;

typedef enum {
    TRACE_FILTER_ALL,
    TRACE_FILTER_HOTPLUG,
} TraceFilter;

typedef enum {
    TRACE_CLIENT_TO_PROXY,
    TRACE_PROXY_TO_QEMU,
    TRACE_QEMU_TO_PROXY,
    TRACE_PROXY_TO_CLIENT,
} TraceDir;

typedef struct {
    TraceDir dir;
    const char *kind;          /* greeting, command, reply, error, event, invalid */
    const ProxyClient *client; /* NULL for what belongs to no client */
    const char *name;          /* command or event name, or NULL */
    const QmpValue *id;        /* the client's id, or NULL */
    guint upstream_id;         /* 0: none */
    gint64 latency_us;         /* < 0: none */
    const QmpValue *msg;       /* the message, or NULL (invalid input) */
    const char *error;         /* error desc or why the input was refused */
    const char *error_class;
    /* instead of @msg: its text, parsed by the writer thread; a NULL @kind
     * then means a reply or error, told apart once parsed */
    const char *text;
    gsize text_len;
    /* @msg is QEMU's reply: show it with the client's @id instead of the
     * proxy's (removed when @id is NULL) */
    gboolean msg_with_client_id;
    gboolean by_proxy; /* a command the proxy made (device manager) */
    gint64 mono_us;    /* when it happened, if not now */
    gsize msg_size;    /* bytes of @msg's text, to bound what is queued */
} TraceRecord;

/* Opens (appends to) @path and starts the writer thread. */
Trace *trace_open(const char *path, TraceFilter filter, guint64 max_size, const char *upstream,
                  GError **error);
/* Flushes what is queued and stops the writer. */
void trace_free(Trace *trace);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(Trace, trace_free)
/* Closes and reopens the file (SIGHUP, for logrotate). */
void trace_reopen(Trace *trace);
/* Whether a message named @name (NULL: unnamed) is to be recorded; FALSE
 * when @trace is NULL or has stopped after a write error. */
gboolean trace_wants(Trace *trace, const char *name);
/* Records one crossing; call only when trace_wants() said so. Cheap: the
 * record is formatted and written by the trace's own thread. */
void trace_record(Trace *trace, const TraceRecord *record);
/* Fills kind, error and error_class of @record from a reply @msg. */
void trace_classify_reply(TraceRecord *record, const QmpValue *msg);
