/* trace.c - the trace file, kept off the main loop.
 *
 * The main loop only captures a record: it takes references to the
 * parsed messages (values are immutable and refcounted atomically), copies
 * a few strings and stamps the clocks. A writer thread, the only one that
 * touches the file, formats the records as JSON lines and writes them:
 * neither formatting nor a slow or full disk can delay the proxy.
 * Records cross in batches (one wake-up per batch), what is queued is
 * bounded (past the bound records are dropped and counted), and a write
 * error is logged once and stops tracing while the proxy goes on. The
 * thread also rotates the file (FILE -> FILE.1) and reopens it on SIGHUP;
 * every file starts with a header line.
 *
 * The trace may also be a FIFO (or another file that is not a regular
 * one) with a reader: it is opened without blocking, refused when nobody
 * reads it, and written without blocking, so that a reader that stops
 * reading cannot hold the proxy's exit up for longer than STOP_WAIT_MS. */
#include "trace.h"

#include "config.h"

#include "framer.h"
#include "writer.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <poll.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Captured and not yet written, roughly in bytes: beyond, records drop. */
#define MAX_QUEUED (64u << 20)
/* A batch goes to the writer at this many records, or FLUSH_MS after its
 * first one. */
#define BATCH_RECORDS 256
#define FLUSH_MS 10
/* How long the proxy's exit waits for the writer to write what is queued;
 * and, past that, for it to notice it should give up. */
#define STOP_WAIT_MS 2000
#define GIVE_UP_WAIT_MS 1000
/* A writer blocked on a full FIFO looks up this often. */
#define POLL_MS 100

/* One crossing, as captured on the main loop. */
typedef struct {
    gint64 real_us;
    gint64 mono_us;
    CoreDir dir;
    const char *kind; /* static; NULL: a reply, classified once parsed */
    guint client;     /* 0: none */
    int pid;
    guint uid;
    char *exe;
    char *name;
    QmpValue *id;
    guint upstream_id;
    gint64 latency_us;
    QmpValue *msg; /* or the text to parse it from: */
    char *text;
    gsize text_len;
    gboolean msg_with_client_id;
    gboolean by_proxy;
    char *error;
    char *error_class;
    const char *refused_by; /* a policy's name: lives as long as the proxy */
    gsize cost;             /* what it counts against MAX_QUEUED */
} Entry;

typedef enum {
    OP_RECORDS,
    OP_REOPEN,
    OP_STOP,
} Op;

typedef struct {
    Op op;
    GPtrArray *entries; /* of Entry */
    gsize cost;
} Batch;

struct Trace {
    char *path;
    TraceFilter filter;
    guint64 max_size;
    char *upstream;
    GThread *thread;
    GAsyncQueue *queue; /* of Batch */
    gint queued;        /* atomic: cost of what the writer has not written */
    gint failed;        /* atomic: the writer gave up */
    gint abandon;       /* atomic: the proxy is leaving; write nothing more */
    GMutex lock;
    GCond finished_cond;
    gboolean finished; /* the writer thread is done (under @lock) */

    /* main loop only */
    Batch *batch;
    guint flush_id;
    guint dropped;

    /* writer thread only */
    int fd;
    gboolean regular; /* a regular file: writes never wait for a reader */
    guint unwritten;  /* records given up on */
    guint64 size;
    GString *out;
    gint64 time_sec;
    char time_text[24];
    /* an event goes to every client: serialise its message once */
    QmpValue *last_msg;
    GString *last_json;
};

static const char *const hotplug_commands[] = {
    "device_add",  "device_del",     "blockdev-add", "blockdev-del", "blockdev-reopen",
    "chardev-add", "chardev-remove", "netdev_add",   "netdev_del",   "object-add",
    "object-del",  "getfd",          "closefd",      "add-fd",       "remove-fd",
};
static const char *const hotplug_events[] = {
    "DEVICE_DELETED",
    "DEVICE_TRAY_MOVED",
    "NIC_RX_FILTER_CHANGED",
    "ACPI_DEVICE_OST",
};
static const char *const dir_names[] = { "client>proxy", "proxy>qemu", "qemu>proxy",
                                         "proxy>client" };

static gboolean is_hotplug(const char *name)
{
    if (!name) {
        return FALSE;
    }
    if (g_str_has_prefix(name, "__org.qmproxy_") || g_str_has_prefix(name, "BLOCK_")) {
        return TRUE;
    }
    for (guint i = 0; i < G_N_ELEMENTS(hotplug_commands); i++) {
        if (strcmp(name, hotplug_commands[i]) == 0) {
            return TRUE;
        }
    }
    for (guint i = 0; i < G_N_ELEMENTS(hotplug_events); i++) {
        if (strcmp(name, hotplug_events[i]) == 0) {
            return TRUE;
        }
    }
    return FALSE;
}

static void entry_free(Entry *e)
{
    g_free(e->exe);
    g_free(e->name);
    qmp_value_unref(e->id);
    qmp_value_unref(e->msg);
    g_free(e->text);
    g_free(e->error);
    g_free(e->error_class);
    g_free(e);
}

static Batch *batch_new(Op op)
{
    Batch *b = g_new0(Batch, 1);

    b->op = op;
    if (op == OP_RECORDS) {
        b->entries = g_ptr_array_new_full(BATCH_RECORDS, (GDestroyNotify)entry_free);
    }
    return b;
}

static void batch_free(Batch *b)
{
    if (b->entries) {
        g_ptr_array_unref(b->entries);
    }
    g_free(b);
}

/* ---- the writer thread -------------------------------------------------- */

/* RFC 3339 in UTC with microseconds; the date is formatted once a second. */
static void append_time(Trace *t, gint64 real_us)
{
    if (real_us / G_USEC_PER_SEC != t->time_sec) {
        time_t secs = (time_t)(real_us / G_USEC_PER_SEC);
        struct tm tm;

        t->time_sec = real_us / G_USEC_PER_SEC;
        gmtime_r(&secs, &tm);
        strftime(t->time_text, sizeof(t->time_text), "%Y-%m-%dT%H:%M:%S", &tm);
    }
    g_string_append_printf(t->out, "\"%s.%06dZ\"", t->time_text, (int)(real_us % G_USEC_PER_SEC));
}

static void format_header(Trace *t)
{
    g_string_append(t->out, "{\"v\": 1, \"kind\": \"header\", \"time\": ");
    append_time(t, g_get_real_time());
    g_string_append_printf(
        t->out, ", \"mono_us\": %" G_GINT64_FORMAT ", \"qmproxy\": ", g_get_monotonic_time());
    qmp_json_write_string(t->out, QMPROXY_VERSION);
    g_string_append(t->out, ", \"upstream\": ");
    qmp_json_write_string(t->out, t->upstream);
    g_string_append_printf(t->out, ", \"filter\": \"%s\"}\n",
                           t->filter == TRACE_FILTER_HOTPLUG ? "hotplug" : "all");
}

static void format_entry(Trace *t, Entry *e)
{
    GString *out = t->out;
    g_autoptr(QmpValue) parsed = e->text ? qmp_json_parse(e->text, e->text_len) : NULL;
    QmpValue *msg = e->msg ? e->msg : parsed;
    const char *kind = e->kind;
    const char *error = e->error, *error_class = e->error_class;

    if (!kind) {
        QmpValue *err = msg ? qmp_value_dict_get(msg, "error") : NULL;

        kind = err ? "error" : "reply";
        if (err && qmp_value_type(err) == QMP_VALUE_DICT) {
            error = qmp_value_dict_get_string(err, "desc");
            error_class = qmp_value_dict_get_string(err, "class");
        }
    }
    g_string_append(out, "{\"v\": 1, \"time\": ");
    append_time(t, e->real_us);
    g_string_append_printf(out, ", \"mono_us\": %" G_GINT64_FORMAT ", \"dir\": \"%s\"", e->mono_us,
                           dir_names[e->dir]);
    if (e->client) {
        g_string_append_printf(out,
                               ", \"client\": %u, \"pid\": %d, \"uid\": %u, \"exe\": ", e->client,
                               e->pid, e->uid);
        qmp_json_write_string(out, e->exe);
    }
    g_string_append_printf(out, ", \"kind\": \"%s\"", kind);
    if (e->name) {
        g_string_append(out, ", \"name\": ");
        qmp_json_write_string(out, e->name);
    }
    if (e->id) {
        g_string_append(out, ", \"id\": ");
        qmp_json_write(out, e->id, FALSE);
    }
    if (e->upstream_id) {
        g_string_append_printf(out, ", \"upstream_id\": %u", e->upstream_id);
    }
    if (e->by_proxy) {
        g_string_append(out, ", \"by_proxy\": true");
    }
    if (e->latency_us >= 0) {
        g_string_append_printf(out, ", \"latency_us\": %" G_GINT64_FORMAT, e->latency_us);
    }
    if (error) {
        g_string_append(out, ", \"error\": ");
        qmp_json_write_string(out, error);
    }
    if (error_class) {
        g_string_append(out, ", \"class\": ");
        qmp_json_write_string(out, error_class);
    }
    if (e->refused_by) {
        g_string_append(out, ", \"refused_by\": ");
        qmp_json_write_string(out, e->refused_by);
    }
    if (msg && e->msg_with_client_id && qmp_value_type(msg) == QMP_VALUE_DICT) {
        g_string_append(out, ", \"msg\": ");
        if (e->id && !qmp_value_dict_get(msg, "id")) {
            /* an in-band reply: QEMU's has no id, the client's gets one */
            g_autoptr(QmpValue) with_id = qmp_value_dict_copy_replacing(msg, "id", e->id);

            qmp_json_write(out, with_id, FALSE);
        } else {
            qmp_json_write_replacing(out, msg, "id", e->id);
        }
    } else if (msg) {
        if (msg != t->last_msg) {
            g_string_truncate(t->last_json, 0);
            qmp_json_write(t->last_json, msg, FALSE);
            g_clear_pointer(&t->last_msg, qmp_value_unref);
            t->last_msg = qmp_value_ref(msg);
        }
        g_string_append(out, ", \"msg\": ");
        g_string_append_len(out, t->last_json->str, (gssize)t->last_json->len);
    }
    g_string_append(out, "}\n");
}

static gboolean open_file(Trace *t, GError **error)
{
    struct stat st;

    /* a FIFO nobody reads would block open() for good */
    t->fd = open(t->path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NONBLOCK, 0600);
    if (t->fd < 0 && errno == ENXIO) {
        g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_NXIO,
                    "cannot open trace file %s: it is a FIFO no process is reading", t->path);
        return FALSE;
    }
    if (t->fd < 0 || fstat(t->fd, &st) < 0) {
        int err = errno;

        g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(err),
                    "cannot open trace file %s: %s", t->path, g_strerror(err));
        if (t->fd >= 0) {
            close(t->fd);
            t->fd = -1;
        }
        return FALSE;
    }
    t->regular = S_ISREG(st.st_mode);
    if (!t->regular && t->max_size) {
        g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
                    "trace file %s is not a regular file: it cannot be rotated (--trace-max-size)",
                    t->path);
        close(t->fd);
        t->fd = -1;
        return FALSE;
    }
    t->size = t->regular ? (guint64)st.st_size : 0;
    return TRUE;
}

/* Writes what is formatted; FALSE (logged) once writing failed, or when
 * the proxy is leaving and the reader takes nothing. */
static gboolean write_out(Trace *t)
{
    gsize off = 0;

    while (off < t->out->len) {
        ssize_t n = write(t->fd, t->out->str + off, t->out->len - off);

        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0 && errno == EAGAIN) {
            struct pollfd pfd = { t->fd, POLLOUT, 0 };

            if (g_atomic_int_get(&t->abandon)) {
                return FALSE;
            }
            poll(&pfd, 1, POLL_MS);
            continue;
        }
        if (n < 0) {
            g_warning("cannot write trace file %s (%s); tracing stops", t->path, g_strerror(errno));
            return FALSE;
        }
        off += (gsize)n;
    }
    t->size += t->out->len;
    g_string_truncate(t->out, 0);
    return TRUE;
}

/* A fresh file, after rotation or on SIGHUP, starts with a header. */
static gboolean restart_file(Trace *t, gboolean rotate)
{
    g_autoptr(GError) error = NULL;

    close(t->fd);
    t->fd = -1;
    if (rotate) {
        g_autofree char *old = g_strconcat(t->path, ".1", NULL);

        if (g_rename(t->path, old) < 0) {
            g_warning("cannot rotate trace file %s (%s); tracing stops", t->path,
                      g_strerror(errno));
            return FALSE;
        }
    }
    if (!open_file(t, &error)) {
        g_warning("%s; tracing stops", error->message);
        return FALSE;
    }
    format_header(t);
    return write_out(t);
}

static gboolean write_batch(Trace *t, Batch *b)
{
    for (guint i = 0; i < b->entries->len; i++) {
        format_entry(t, g_ptr_array_index(b->entries, i));
        /* rotation cuts at the first record past the limit */
        if (t->max_size && t->size + t->out->len >= t->max_size) {
            if (!write_out(t) || !restart_file(t, TRUE)) {
                return FALSE;
            }
        }
    }
    return write_out(t);
}

static gpointer writer_thread(gpointer data)
{
    Trace *t = data;
    gboolean ok;

    format_header(t);
    ok = write_out(t);
    for (;;) {
        Batch *b = g_async_queue_pop(t->queue);
        Op op = b->op;

        if (ok && op == OP_RECORDS) {
            ok = write_batch(t, b);
            if (!ok) {
                t->unwritten += b->entries->len; /* roughly: some may be out */
            }
        } else if (ok && op == OP_REOPEN) {
            ok = restart_file(t, FALSE);
        } else if (op == OP_RECORDS) {
            t->unwritten += b->entries->len;
        }
        g_atomic_int_add(&t->queued, -(gint)b->cost);
        batch_free(b);
        if (!ok) {
            g_atomic_int_set(&t->failed, TRUE);
        }
        if (op == OP_STOP) {
            g_mutex_lock(&t->lock);
            t->finished = TRUE;
            g_cond_signal(&t->finished_cond);
            g_mutex_unlock(&t->lock);
            return NULL;
        }
    }
}

/* ---- the main loop ------------------------------------------------------ */

static void hand_over(Trace *t)
{
    g_clear_handle_id(&t->flush_id, g_source_remove);
    if (t->batch) {
        g_atomic_int_add(&t->queued, (gint)t->batch->cost);
        g_async_queue_push(t->queue, g_steal_pointer(&t->batch));
    }
}

static gboolean on_flush_timer(gpointer data)
{
    Trace *t = data;

    t->flush_id = 0;
    hand_over(t);
    return G_SOURCE_REMOVE;
}

Trace *trace_open(const char *path, TraceFilter filter, guint64 max_size, const char *upstream,
                  GError **error)
{
    Trace *t = g_new0(Trace, 1);

    t->path = g_strdup(path);
    t->filter = filter;
    t->max_size = max_size;
    t->upstream = g_strdup(upstream);
    t->out = g_string_sized_new(1 << 16);
    t->last_json = g_string_new(NULL);
    if (!open_file(t, error)) {
        g_free(t->path);
        g_free(t->upstream);
        g_string_free(t->out, TRUE);
        g_string_free(t->last_json, TRUE);
        g_free(t);
        return NULL;
    }
    g_mutex_init(&t->lock);
    g_cond_init(&t->finished_cond);
    t->queue = g_async_queue_new();
    t->thread = g_thread_new("trace-writer", writer_thread, t);
    return t;
}

/* Whether the writer finished within @ms. */
static gboolean wait_finished(Trace *t, guint ms)
{
    gint64 deadline = g_get_monotonic_time() + (gint64)ms * 1000;
    gboolean finished;

    g_mutex_lock(&t->lock);
    while (!t->finished && g_cond_wait_until(&t->finished_cond, &t->lock, deadline)) {
    }
    finished = t->finished;
    g_mutex_unlock(&t->lock);
    return finished;
}

/* A writer stuck in the kernel, on storage that does not answer: the
 * proxy leaves without it (the process is ending). */
static Trace *abandoned;

void trace_free(Trace *t)
{
    if (!t) {
        return;
    }
    hand_over(t);
    g_async_queue_push(t->queue, batch_new(OP_STOP));
    if (!wait_finished(t, STOP_WAIT_MS)) {
        g_atomic_int_set(&t->abandon, TRUE);
        if (!wait_finished(t, GIVE_UP_WAIT_MS)) {
            g_warning("trace: the writer of %s is stuck; leaving without it", t->path);
            abandoned = t;
            return;
        }
    }
    g_thread_join(t->thread);
    if (t->unwritten) {
        g_message("trace: %u record(s) were not written: %s did not take them within %d ms",
                  t->unwritten, t->path, STOP_WAIT_MS);
    }
    g_mutex_clear(&t->lock);
    g_cond_clear(&t->finished_cond);
    g_async_queue_unref(t->queue);
    if (t->fd >= 0) {
        close(t->fd);
    }
    if (t->dropped) {
        g_message("trace: %u record(s) were dropped because the file did not keep up", t->dropped);
    }
    g_string_free(t->out, TRUE);
    g_string_free(t->last_json, TRUE);
    qmp_value_unref(t->last_msg);
    g_free(t->path);
    g_free(t->upstream);
    g_free(t);
}

void trace_reopen(Trace *t)
{
    if (t) {
        hand_over(t);
        g_async_queue_push(t->queue, batch_new(OP_REOPEN));
    }
}

static gboolean trace_wants(gpointer data, const char *name)
{
    Trace *t = data;

    if (!t || g_atomic_int_get(&t->failed)) {
        return FALSE;
    }
    return t->filter == TRACE_FILTER_ALL || is_hotplug(name);
}

static void trace_record(gpointer data, const CoreCrossing *r)
{
    Trace *t = data;
    Entry *e = g_new0(Entry, 1);

    e->real_us = g_get_real_time();
    e->mono_us = g_get_monotonic_time();
    if (r->mono_us) {
        /* the wall clock moves with the monotonic one */
        e->real_us -= e->mono_us - r->mono_us;
        e->mono_us = r->mono_us;
    }
    e->msg_with_client_id = r->msg_with_client_id;
    e->by_proxy = r->by_proxy;
    e->dir = r->dir;
    e->kind = r->kind;
    if (r->client) {
        const CorePeer *peer = core_client_peer(r->client);

        e->client = core_client_number(r->client);
        e->pid = (int)peer->pid;
        e->uid = (guint)peer->uid;
        e->exe = g_strdup(peer->exe);
    }
    e->name = g_strdup(r->name);
    e->id = r->id ? qmp_value_ref((QmpValue *)r->id) : NULL;
    e->upstream_id = r->upstream_id;
    e->latency_us = r->latency_us;
    e->refused_by = r->refused_by;
    if (r->msg) {
        e->msg = qmp_value_ref((QmpValue *)r->msg);
    } else if (r->text) {
        e->text = g_memdup2(r->text, r->text_len);
        e->text_len = r->text_len;
    }
    e->error = g_strdup(r->error);
    e->error_class = g_strdup(r->error_class);
    /* a referenced message weighs what its text did */
    e->cost = sizeof(Entry) + 256 + r->text_len + r->msg_size;

    if ((guint)g_atomic_int_get(&t->queued) + e->cost > MAX_QUEUED) {
        if (t->dropped++ == 0) {
            g_warning("trace file %s is not keeping up; dropping records", t->path);
        }
        entry_free(e);
        return;
    }
    if (!t->batch) {
        t->batch = batch_new(OP_RECORDS);
    }
    g_ptr_array_add(t->batch->entries, e);
    t->batch->cost += e->cost;
    if (t->batch->entries->len >= BATCH_RECORDS) {
        hand_over(t);
    } else if (!t->flush_id) {
        t->flush_id = g_timeout_add(FLUSH_MS, on_flush_timer, t);
    }
}

static const CoreTapOps trace_tap = {
    .wants = trace_wants,
    .crossing = trace_record,
};

void trace_attach(Trace *t, Core *core)
{
    core_add_tap(core, &trace_tap, t);
}
