/* trace.h - the trace (--trace): a tap on the core that writes one JSON
 * line per message crossing the proxy, in the format of
 * docs/trace-format.md. */
#pragma once

#include "core.h"

typedef struct Trace Trace;

typedef enum {
    TRACE_FILTER_ALL,
    TRACE_FILTER_HOTPLUG,
} TraceFilter;

/* Opens (appends to) @path and starts the writer thread. */
Trace *trace_open(const char *path, TraceFilter filter, guint64 max_size, const char *upstream,
                  GError **error);
/* Flushes what is queued (waiting a bounded time) and stops the writer. */
void trace_free(Trace *trace);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(Trace, trace_free)
/* Taps @core: every crossing it is shown is recorded. */
void trace_attach(Trace *trace, Core *core);
/* Closes and reopens the file (SIGHUP, for logrotate). */
void trace_reopen(Trace *trace);
