/* trace-tool.c - "qmproxy trace": reads the trace files that "qmproxy --trace"
 * writes (docs/trace-format.md, JSON Lines) and shows them as a timeline,
 * as summary tables or as a Chrome Trace Event file, or follows one as it
 * grows.
 *
 * Traces come from proxies that may have crashed mid-line or from newer
 * versions of qmproxy, so every line is judged on its own: a line that
 * cannot be used is reported as FILE:LINE and skipped, and members this
 * reader does not know are ignored. json-glib is fine here, unlike in the
 * protocol library: nothing is written back to QEMU, so exact numbers and
 * member order do not matter. */
#include "trace-tool.h"

#include <errno.h>
#include <fcntl.h>
#include <glib-unix.h>
#include <glib.h>
#include <json-glib/json-glib.h>
#include <locale.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define FOLLOW_POLL_MS 200

#define TRACE_ERROR (g_quark_from_static_string("qmproxy-trace-error"))

typedef enum {
    DIR_NONE,
    DIR_C2P,
    DIR_P2Q,
    DIR_Q2P,
    DIR_P2C,
} Dir;

static const struct {
    const char *name, *arrow, *ascii;
} dirs[] = {
    [DIR_NONE] = { "", "   ", "    " },
    [DIR_C2P] = { "client>proxy", "C→P", "C->P" },
    [DIR_P2Q] = { "proxy>qemu", "P→Q", "P->Q" },
    [DIR_Q2P] = { "qemu>proxy", "Q→P", "Q->P" },
    [DIR_P2C] = { "proxy>client", "P→C", "P->C" },
};

typedef enum {
    KIND_HEADER,
    KIND_GREETING,
    KIND_COMMAND,
    KIND_REPLY,
    KIND_ERROR,
    KIND_EVENT,
    KIND_INVALID,
    KIND_OTHER, /* a kind from a later version: shown, not analysed */
} Kind;

static const char *const kind_names[] = {
    [KIND_HEADER] = "header",   [KIND_GREETING] = "greeting", [KIND_COMMAND] = "command",
    [KIND_REPLY] = "reply",     [KIND_ERROR] = "error",       [KIND_EVENT] = "event",
    [KIND_INVALID] = "invalid",
};

/* One line of the trace. Strings and nodes point into @obj. */
typedef struct {
    JsonObject *obj;
    Kind kind;
    const char *kind_name;
    Dir dir;
    GDateTime *when;
    gint64 mono_us;
    gint64 client; /* 0: none */
    gint64 pid, uid;
    const char *exe;
    const char *name;
    JsonNode *id;
    gint64 latency_us;  /* -1: none */
    gint64 upstream_id; /* -1: none */
    gboolean by_proxy;  /* a command the proxy made itself, or its reply */
    const char *error, *klass;
    JsonObject *msg;
} Record;

static void record_free(Record *r)
{
    g_clear_pointer(&r->obj, json_object_unref);
    g_clear_pointer(&r->when, g_date_time_unref);
    g_free(r);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC(Record, record_free)

typedef struct {
    gboolean color; /* ANSI escapes */
    gboolean utf8;  /* arrows and µ; otherwise ASCII */
} Style;

/* ---- reading records ---- */

typedef enum {
    T_INT,
    T_STRING,
    T_OBJECT,
    T_BOOL,
} MemberType;

/* Finds member @name of @type; *@out stays NULL when an optional member is
 * absent. A member of the wrong type makes the line unusable, as the
 * writer never produces one. */
static gboolean get_member(JsonObject *o, const char *name, MemberType type, gboolean required,
                           JsonNode **out, GError **error)
{
    static const char *const what[] = { "an integer", "a string", "an object", "a boolean" };
    static const GType types[] = {
        [T_INT] = G_TYPE_INT64, [T_STRING] = G_TYPE_STRING, [T_BOOL] = G_TYPE_BOOLEAN
    };
    JsonNode *n = json_object_get_member(o, name);
    gboolean ok;

    *out = NULL;
    if (!n) {
        if (required) {
            g_set_error(error, TRACE_ERROR, 0, "no member '%s'", name);
        }
        return !required;
    }
    if (type == T_OBJECT) {
        ok = JSON_NODE_HOLDS_OBJECT(n);
    } else {
        ok = JSON_NODE_HOLDS_VALUE(n) && json_node_get_value_type(n) == types[type];
    }
    if (!ok) {
        g_set_error(error, TRACE_ERROR, 0, "member '%s' is not %s", name, what[type]);
        return FALSE;
    }
    *out = n;
    return TRUE;
}

static gboolean get_int(JsonObject *o, const char *name, gboolean required, gint64 *out,
                        GError **error)
{
    JsonNode *n;

    if (!get_member(o, name, T_INT, required, &n, error)) {
        return FALSE;
    }
    if (n) {
        *out = json_node_get_int(n);
    }
    return TRUE;
}

static gboolean get_str(JsonObject *o, const char *name, gboolean required, const char **out,
                        GError **error)
{
    JsonNode *n;

    if (!get_member(o, name, T_STRING, required, &n, error)) {
        return FALSE;
    }
    *out = n ? json_node_get_string(n) : NULL;
    return TRUE;
}

static Record *record_new(JsonObject *obj, GError **error)
{
    g_autoptr(Record) r = g_new0(Record, 1);
    const char *when = NULL, *dir = NULL;
    gint64 v = 0;
    JsonNode *msg, *by_proxy;

    r->obj = json_object_ref(obj);
    r->pid = r->uid = r->latency_us = r->upstream_id = -1;
    if (!get_int(obj, "v", TRUE, &v, error) || !get_str(obj, "kind", TRUE, &r->kind_name, error) ||
        !get_str(obj, "time", TRUE, &when, error) ||
        !get_int(obj, "mono_us", TRUE, &r->mono_us, error)) {
        return NULL;
    }
    /* Later versions only add members, so v > 1 is read as version 1. */
    if (v < 1) {
        g_set_error(error, TRACE_ERROR, 0, "unknown format version %" G_GINT64_FORMAT, v);
        return NULL;
    }
    r->when = g_date_time_new_from_iso8601(when, NULL);
    if (!r->when) {
        g_set_error(error, TRACE_ERROR, 0, "member 'time' is not an RFC 3339 time: '%s'", when);
        return NULL;
    }
    for (r->kind = 0; r->kind < KIND_OTHER; r->kind++) {
        if (strcmp(r->kind_name, kind_names[r->kind]) == 0) {
            break;
        }
    }
    if (r->kind == KIND_HEADER) {
        return g_steal_pointer(&r);
    }
    if (!get_str(obj, "dir", TRUE, &dir, error)) {
        return NULL;
    }
    for (r->dir = DIR_C2P; r->dir <= DIR_P2C; r->dir++) {
        if (strcmp(dir, dirs[r->dir].name) == 0) {
            break;
        }
    }
    if (r->dir > DIR_P2C) {
        g_set_error(error, TRACE_ERROR, 0, "unknown dir '%s'", dir);
        return NULL;
    }
    /* The error record answering invalid input may have no command name. */
    gboolean named = r->kind == KIND_COMMAND || r->kind == KIND_REPLY || r->kind == KIND_EVENT;
    if (!get_int(obj, "client", FALSE, &r->client, error) ||
        !get_int(obj, "pid", FALSE, &r->pid, error) ||
        !get_int(obj, "uid", FALSE, &r->uid, error) ||
        !get_str(obj, "exe", FALSE, &r->exe, error) ||
        !get_str(obj, "name", named, &r->name, error) ||
        !get_int(obj, "latency_us", FALSE, &r->latency_us, error) ||
        !get_int(obj, "upstream_id", FALSE, &r->upstream_id, error) ||
        !get_member(obj, "by_proxy", T_BOOL, FALSE, &by_proxy, error) ||
        !get_str(obj, "error", FALSE, &r->error, error) ||
        !get_str(obj, "class", FALSE, &r->klass, error) ||
        !get_member(obj, "msg", T_OBJECT, FALSE, &msg, error)) {
        return NULL;
    }
    r->msg = msg ? json_node_get_object(msg) : NULL;
    r->by_proxy = by_proxy && json_node_get_boolean(by_proxy);
    r->id = json_object_get_member(obj, "id");
    return g_steal_pointer(&r);
}

static Record *parse_line(JsonParser *parser, const char *text, gsize len, GError **error)
{
    g_autoptr(GError) parse_error = NULL;
    JsonNode *root;

    if (len > 0 && text[len - 1] == '\r') {
        len--;
    }
    if (!g_utf8_validate_len(text, len, NULL)) {
        g_set_error(error, TRACE_ERROR, 0, "not UTF-8 text");
        return NULL;
    }
    if (!json_parser_load_from_data(parser, text, (gssize)len, &parse_error)) {
        /* json-glib says "<data>:LINE:COL: Parse error: ..."; the line is ours. */
        const char *why = parse_error->message;
        if (g_str_has_prefix(why, "<data>:") && strstr(why, ": ")) {
            why = strstr(why, ": ") + 2;
        }
        g_set_error(error, TRACE_ERROR, 0, "not JSON: %s", why);
        return NULL;
    }
    root = json_parser_get_root(parser);
    if (!root) {
        g_set_error(error, TRACE_ERROR, 0, "empty line");
        return NULL;
    }
    if (!JSON_NODE_HOLDS_OBJECT(root)) {
        g_set_error(error, TRACE_ERROR, 0, "not a JSON object");
        return NULL;
    }
    return record_new(json_node_get_object(root), error);
}

/* Hands each usable line of a file to a callback, in order, as it is read;
 * the bytes after the last newline wait for more (--follow) or for
 * reader_finish(). */
typedef void (*RecordFunc)(Record *record, gpointer user_data);

typedef struct {
    const char *path;
    int fd;
    dev_t dev;
    ino_t ino;
    goffset offset;
    GString *pending;
    guint line;
    guint bad;
    JsonParser *parser;
    RecordFunc func;
    gpointer user_data;
} Reader;

static gboolean reader_open(Reader *r, GError **error)
{
    struct stat st;
    int fd = open(r->path, O_RDONLY | O_CLOEXEC);

    if (fd < 0 || fstat(fd, &st) < 0) {
        int saved = errno;
        g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(saved), "cannot open %s: %s",
                    r->path, g_strerror(saved));
        if (fd >= 0) {
            close(fd);
        }
        return FALSE;
    }
    if (S_ISDIR(st.st_mode)) {
        g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_ISDIR, "cannot read %s: it is a directory",
                    r->path);
        close(fd);
        return FALSE;
    }
    r->fd = fd;
    r->dev = st.st_dev;
    r->ino = st.st_ino;
    r->offset = 0;
    r->line = 0;
    g_string_truncate(r->pending, 0);
    return TRUE;
}

static void reader_init(Reader *r, const char *path, RecordFunc func, gpointer user_data)
{
    *r = (Reader){ .path = path, .fd = -1, .func = func, .user_data = user_data };
    r->pending = g_string_new(NULL);
    r->parser = json_parser_new();
}

static void reader_clear(Reader *r)
{
    if (r->fd >= 0) {
        close(r->fd);
        r->fd = -1;
    }
    g_string_free(r->pending, TRUE);
    g_object_unref(r->parser);
}

static void reader_line(Reader *r, const char *text, gsize len, gboolean unterminated)
{
    g_autoptr(GError) error = NULL;
    Record *rec;

    r->line++;
    rec = parse_line(r->parser, text, len, &error);
    if (!rec) {
        r->bad++;
        g_printerr("%s:%u: %s%s\n", r->path, r->line, error->message,
                   unterminated ? " (last line, no newline: the trace was cut short)" : "");
        return;
    }
    r->func(rec, r->user_data);
}

/* Reads to the end of what is there now. */
static gboolean reader_read(Reader *r, GError **error)
{
    char buf[65536];

    for (;;) {
        gssize n = read(r->fd, buf, sizeof buf);
        gsize start = 0;
        const char *nl;

        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            int saved = errno;
            g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(saved), "cannot read %s: %s",
                        r->path, g_strerror(saved));
            return FALSE;
        }
        if (n == 0) {
            return TRUE;
        }
        r->offset += n;
        g_string_append_len(r->pending, buf, n);
        while ((nl = memchr(r->pending->str + start, '\n', r->pending->len - start))) {
            gsize len = (gsize)(nl - (r->pending->str + start));
            reader_line(r, r->pending->str + start, len, FALSE);
            start += len + 1;
        }
        g_string_erase(r->pending, 0, (gssize)start);
    }
}

/* A last line without its newline is used if it is whole (a writer caught
 * between the object and the newline) and reported otherwise. */
static void reader_finish(Reader *r)
{
    if (r->pending->len > 0) {
        reader_line(r, r->pending->str, r->pending->len, TRUE);
        g_string_truncate(r->pending, 0);
    }
}

/* A rotated trace is a new file at the same path; a truncated one is
 * shorter than what was read. */
static gboolean reader_replaced(Reader *r)
{
    struct stat st;

    if (stat(r->path, &st) < 0) {
        return FALSE; /* between rename and re-creation: keep the old file */
    }
    return st.st_dev != r->dev || st.st_ino != r->ino || st.st_size < r->offset;
}

/* ---- output helpers ---- */

/* Pads by characters, not bytes: "µs" and "→" are wider in UTF-8. */
static void append_padded(GString *s, const char *text, guint width, gboolean right)
{
    int pad = (int)MAX((glong)width - g_utf8_strlen(text, -1), 0);

    g_string_append_printf(s, "%*s", right ? pad : 0, "");
    g_string_append(s, text);
    g_string_append_printf(s, "%*s", right ? 0 : pad, "");
}

static char *format_us(gint64 us, const Style *style)
{
    if (us < 0) {
        return g_strdup("-");
    }
    if (us < 1000) {
        return g_strdup_printf("%" G_GINT64_FORMAT " %s", us, style->utf8 ? "µs" : "us");
    }
    return g_strdup_printf("%" G_GINT64_FORMAT ".%03d ms", us / 1000, (int)(us % 1000));
}

static char *node_to_json(JsonNode *node)
{
    return node ? json_to_string(node, FALSE) : NULL;
}

/* msg.@outer.@inner when it is a string, else NULL. */
static const char *msg_string(const Record *r, const char *outer, const char *inner)
{
    JsonNode *n = r->msg ? json_object_get_member(r->msg, outer) : NULL;
    const char *value = NULL;

    if (n && JSON_NODE_HOLDS_OBJECT(n)) {
        get_str(json_node_get_object(n), inner, FALSE, &value, NULL);
    }
    return value;
}

/* ---- the timeline ---- */

typedef struct {
    const Style *style;
    gint64 prev_us;
    gboolean have_prev;
} Timeline;

/* Bold headers, red errors, cyan events, green replies, magenta greetings. */
static const char *const kind_colors[] = {
    [KIND_HEADER] = "\033[1m", [KIND_ERROR] = "\033[31m", [KIND_INVALID] = "\033[31m",
    [KIND_EVENT] = "\033[36m", [KIND_REPLY] = "\033[32m", [KIND_GREETING] = "\033[35m",
    [KIND_OTHER] = NULL,
};

static void timeline_header(GString *s, const Record *r, const Style *style)
{
    const char *rule = style->utf8 ? "────" : "----";
    const char *members[] = { "qmproxy", "upstream", "filter" };

    g_string_append_printf(s, " %s trace header (proxy started or reopened the file):", rule);
    for (guint i = 0; i < G_N_ELEMENTS(members); i++) {
        const char *value = NULL;
        if (get_str(r->obj, members[i], FALSE, &value, NULL) && value) {
            g_string_append_printf(s, " %s %s", members[i], value);
        }
    }
    g_string_append_printf(s, " %s", rule);
}

static void timeline_body(GString *s, const Record *r, Timeline *tl)
{
    const Style *style = tl->style;
    g_autofree char *who = NULL;
    g_autofree char *id = node_to_json(r->id);
    g_autofree char *delta = NULL;
    JsonNode *extra = NULL;

    if (tl->have_prev) {
        gint64 d = r->mono_us - tl->prev_us;
        delta = g_strdup_printf("%c%" G_GINT64_FORMAT ".%03d ms", d < 0 ? '-' : '+', ABS(d) / 1000,
                                (int)(ABS(d) % 1000));
    }
    append_padded(s, delta ? delta : "", 14, TRUE);
    g_string_append(s, "  ");
    if (r->client > 0) {
        who = g_strdup_printf("#%" G_GINT64_FORMAT " %s[%" G_GINT64_FORMAT "]", r->client,
                              r->exe ? r->exe : "?", r->pid);
    }
    append_padded(s, who ? who : "-", 20, FALSE);
    g_string_append_printf(s, " %s  ", style->utf8 ? dirs[r->dir].arrow : dirs[r->dir].ascii);
    append_padded(s, r->kind_name, 8, FALSE);
    g_string_append_c(s, ' ');
    append_padded(s, r->name ? r->name : "", 20, FALSE);
    if (id) {
        g_string_append_printf(s, " id=%s", id);
    }
    if (r->kind == KIND_REPLY || r->kind == KIND_ERROR) {
        g_autofree char *latency = format_us(r->latency_us, style);
        if (r->latency_us >= 0) {
            g_string_append_printf(s, " %s", latency);
        }
    }
    if (r->kind == KIND_ERROR || r->kind == KIND_INVALID) {
        g_string_append_printf(s, " %s%s%s", r->klass ? r->klass : "", r->klass ? ": " : "",
                               r->error ? r->error : "");
    }
    /* Arguments and event data are what one looks for in a hot-plug trace. */
    if (r->msg && r->kind == KIND_COMMAND) {
        extra = json_object_get_member(r->msg, "arguments");
    } else if (r->msg && r->kind == KIND_EVENT) {
        extra = json_object_get_member(r->msg, "data");
    }
    if (extra) {
        g_autofree char *text = node_to_json(extra);
        g_string_append_printf(s, " %s", text);
    }
    if (r->by_proxy) {
        g_string_append(s, " (by_proxy)");
    }
}

static void timeline_print(Record *record, gpointer user_data)
{
    g_autoptr(Record) r = record;
    Timeline *tl = user_data;
    g_autoptr(GString) s = g_string_new(NULL);
    g_autoptr(GDateTime) utc = g_date_time_to_utc(r->when);
    g_autofree char *clock = g_date_time_format(utc, "%H:%M:%S.%f");
    const char *color = tl->style->color ? kind_colors[r->kind] : NULL;

    if (color) {
        g_string_append(s, color);
    }
    g_string_append(s, clock);
    if (r->kind == KIND_HEADER) {
        timeline_header(s, r, tl->style);
    } else {
        timeline_body(s, r, tl);
    }
    while (s->len > 0 && s->str[s->len - 1] == ' ') {
        g_string_truncate(s, s->len - 1); /* the padding of an empty last column */
    }
    if (color) {
        g_string_append(s, "\033[0m");
    }
    g_string_append_c(s, '\n');
    fputs(s->str, stdout);
    tl->prev_us = r->mono_us;
    tl->have_prev = TRUE;
}

/* ---- analysis: commands matched with replies, devices, clients ---- */

typedef struct {
    const char *name;      /* NULL for invalid input */
    gint64 client;         /* 0: none; for by_proxy, the client that caused it */
    gboolean by_proxy;     /* made by the proxy itself (device manager) */
    const Record *request; /* the command (or invalid input); NULL if not in the trace */
    const Record *reply;   /* its reply or error; NULL if not in the trace */
} Command;

typedef struct {
    const char *id;
    const char *driver; /* NULL when its device_add is not in the trace */
    gint64 client;
    const Command *add, *del;
    const Record *deleted; /* the DEVICE_DELETED event */
} Device;

typedef struct {
    gint64 number;
    const char *exe;
    gint64 pid, uid;
    guint commands, errors, events;
} Client;

typedef struct {
    GPtrArray *records; /* Record, in file order */
    Dir request_dir, reply_dir;
    GPtrArray *commands; /* Command */
    GPtrArray *devices;  /* Device */
    GHashTable *clients; /* &Client.number -> Client */
    guint headers;
    const char *filter;
    gint64 start_us, end_us;
} Trace;

static void trace_init(Trace *t)
{
    *t = (Trace){ 0 };
    t->records = g_ptr_array_new_with_free_func((GDestroyNotify)record_free);
    t->commands = g_ptr_array_new_with_free_func(g_free);
    t->devices = g_ptr_array_new_with_free_func(g_free);
    t->clients = g_hash_table_new_full(g_int64_hash, g_int64_equal, NULL, g_free);
}

static void trace_clear(Trace *t)
{
    g_ptr_array_unref(t->devices);
    g_ptr_array_unref(t->commands);
    g_hash_table_unref(t->clients);
    g_ptr_array_unref(t->records);
}

static void trace_add_record(Record *record, gpointer user_data)
{
    g_ptr_array_add(((Trace *)user_data)->records, record);
}

static gint64 command_start(const Command *c)
{
    if (c->request) {
        return c->request->mono_us;
    }
    return c->reply->mono_us - MAX(c->reply->latency_us, 0);
}

static gint64 command_latency(const Command *c)
{
    if (!c->reply) {
        return -1;
    }
    if (c->reply->latency_us >= 0) {
        return c->reply->latency_us;
    }
    return c->request ? c->reply->mono_us - c->request->mono_us : -1;
}

static gboolean command_failed(const Command *c)
{
    return c->reply && c->reply->kind == KIND_ERROR;
}

static const char *command_name(const Command *c)
{
    return c->name ? c->name : "(invalid input)";
}

/* Whether the command that made the device's entry came from the proxy. */
static gboolean device_by_proxy(const Device *d)
{
    const Command *c = d->add ? d->add : d->del;

    return c && c->by_proxy;
}

static const char *device_state(const Device *d)
{
    if (d->deleted) {
        return "removed";
    }
    if (d->add && command_failed(d->add)) {
        return "add failed";
    }
    if (d->del && !command_failed(d->del)) {
        return "unplug requested";
    }
    if (d->add && !d->add->reply) {
        return "add pending";
    }
    return "plugged";
}

/* device_del to DEVICE_DELETED, -1 when either is missing. */
static gint64 device_unplug_us(const Device *d)
{
    return d->del && d->deleted ? d->deleted->mono_us - command_start(d->del) : -1;
}

static char *pending_key(gint64 client, const char *name, JsonNode *id)
{
    g_autofree char *id_json = node_to_json(id);

    return g_strdup_printf("%" G_GINT64_FORMAT "\n%s\n%s", client, name ? name : "",
                           id_json ? id_json : "");
}

static Device *device_new(Trace *t, GHashTable *by_id, const char *id, gint64 client)
{
    Device *d = g_new0(Device, 1);

    d->id = id;
    d->client = client;
    g_ptr_array_add(t->devices, d);
    g_hash_table_insert(by_id, (gpointer)id, d);
    return d;
}

/* The device an unplug refers to: the latest one with that id, or a new
 * entry for one plugged before the trace began. */
static Device *device_find(Trace *t, GHashTable *by_id, const char *id, gint64 client)
{
    Device *d = g_hash_table_lookup(by_id, id);

    return d && !d->deleted ? d : device_new(t, by_id, id, client);
}

static void analyse_hotplug(Trace *t, GHashTable *by_id, const Command *c)
{
    const char *id = msg_string(c->request, "arguments", "id");
    Device *d;

    if (!id) {
        return; /* a device without id cannot be unplugged by it */
    }
    if (strcmp(c->name, "device_add") == 0) {
        d = device_new(t, by_id, id, c->client);
        d->driver = msg_string(c->request, "arguments", "driver");
        d->add = c;
    } else {
        d = device_find(t, by_id, id, c->client);
        /* Repeated device_del requests while one is pending change nothing. */
        if (!d->del || command_failed(d->del)) {
            d->del = c;
        }
    }
}

static void analyse_reply(Trace *t, GHashTable *pending, const Record *r)
{
    g_autofree char *key = pending_key(r->client, r->name, r->id);
    GQueue *queue = g_hash_table_lookup(pending, key);
    Command *c = NULL;

    if ((!queue || g_queue_is_empty(queue)) && r->kind == KIND_ERROR) {
        /* The answer to invalid input is the client's next error. */
        g_free(key);
        key = pending_key(r->client, NULL, NULL);
        queue = g_hash_table_lookup(pending, key);
    }
    if (queue) {
        c = g_queue_pop_head(queue);
    }
    if (!c) {
        /* Its command came before the trace began. */
        c = g_new0(Command, 1);
        c->name = r->name;
        c->client = r->client;
        g_ptr_array_add(t->commands, c);
    }
    c->reply = r;
}

static gboolean is_hotplug(const Command *c)
{
    return c->name && (strcmp(c->name, "device_add") == 0 || strcmp(c->name, "device_del") == 0);
}

/* A command the proxy made (proxy>qemu) or its reply (qemu>proxy), matched
 * by upstream_id. The proxy reuses a free id at once, so only the latest
 * command with an id can still be waiting: an older one left unanswered
 * (the proxy restarted) must not take a newer command's reply. */
static void analyse_by_proxy(Trace *t, GHashTable *pending, GHashTable *by_id, const Record *r)
{
    g_autofree char *key =
        g_strdup_printf("%" G_GINT64_FORMAT "\n%s\n%" G_GINT64_FORMAT, r->upstream_id,
                        r->name ? r->name : "", r->upstream_id >= 0 ? 0 : r->client);
    GQueue *queue = g_hash_table_lookup(pending, key);
    Command *c = NULL;

    if (r->dir == DIR_P2Q && r->kind == KIND_COMMAND) {
        c = g_new0(Command, 1);
        c->name = r->name;
        c->client = r->client;
        c->by_proxy = TRUE;
        c->request = r;
        g_ptr_array_add(t->commands, c);
        if (!queue) {
            queue = g_queue_new();
            g_hash_table_insert(pending, g_steal_pointer(&key), queue);
        }
        g_queue_push_tail(queue, c);
        if (is_hotplug(c)) {
            analyse_hotplug(t, by_id, c);
        }
    } else if (r->dir == DIR_Q2P && (r->kind == KIND_REPLY || r->kind == KIND_ERROR)) {
        if (queue) {
            c = g_queue_pop_tail(queue);
        }
        if (!c) {
            /* Its command came before the trace began. */
            c = g_new0(Command, 1);
            c->name = r->name;
            c->client = r->client;
            c->by_proxy = TRUE;
            g_ptr_array_add(t->commands, c);
        }
        c->reply = r;
    }
}

static void analyse_request(Trace *t, GHashTable *pending, GHashTable *by_id, const Record *r)
{
    Command *c = g_new0(Command, 1);
    char *key;
    GQueue *queue;

    c->name = r->kind == KIND_COMMAND ? r->name : NULL;
    c->client = r->client;
    c->request = r;
    g_ptr_array_add(t->commands, c);
    key = c->name ? pending_key(r->client, r->name, r->id) : pending_key(r->client, NULL, NULL);
    queue = g_hash_table_lookup(pending, key);
    if (!queue) {
        queue = g_queue_new();
        g_hash_table_insert(pending, key, queue);
    } else {
        g_free(key);
    }
    g_queue_push_tail(queue, c);
    if (is_hotplug(c)) {
        analyse_hotplug(t, by_id, c);
    }
}

static void analyse_client(Trace *t, const Record *r)
{
    Client *c = g_hash_table_lookup(t->clients, &r->client);

    if (!c) {
        c = g_new0(Client, 1);
        c->number = r->client;
        c->pid = c->uid = -1;
        g_hash_table_insert(t->clients, &c->number, c);
    }
    c->exe = c->exe ? c->exe : r->exe;
    c->pid = c->pid >= 0 ? c->pid : r->pid;
    c->uid = c->uid >= 0 ? c->uid : r->uid;
    if (r->dir == DIR_P2C && r->kind == KIND_EVENT) {
        c->events++;
    }
}

/* Replies are taken from one direction only so that each command counts
 * once: proxy>client, which also holds the proxy's own answers, or
 * qemu>proxy when the trace has none; commands likewise. The commands the
 * proxy made itself (by_proxy) exist only between proxy and QEMU and are
 * taken from there, apart from the clients' commands. */
static void trace_analyse(Trace *t)
{
    g_autoptr(GHashTable) pending =
        g_hash_table_new_full(g_str_hash, g_str_equal, g_free, (GDestroyNotify)g_queue_free);
    g_autoptr(GHashTable) pending_by_proxy =
        g_hash_table_new_full(g_str_hash, g_str_equal, g_free, (GDestroyNotify)g_queue_free);
    g_autoptr(GHashTable) by_id = g_hash_table_new(g_str_hash, g_str_equal);
    gboolean have_c2p = FALSE, have_p2c = FALSE, first = TRUE;

    for (guint i = 0; i < t->records->len; i++) {
        const Record *r = t->records->pdata[i];
        have_c2p |= r->dir == DIR_C2P;
        have_p2c |= r->dir == DIR_P2C;
    }
    t->request_dir = have_c2p ? DIR_C2P : DIR_P2Q;
    t->reply_dir = have_p2c ? DIR_P2C : DIR_Q2P;

    for (guint i = 0; i < t->records->len; i++) {
        const Record *r = t->records->pdata[i];
        const char *device;

        t->start_us = first ? r->mono_us : MIN(t->start_us, r->mono_us);
        t->end_us = first ? r->mono_us : MAX(t->end_us, r->mono_us);
        first = FALSE;
        if (r->kind == KIND_HEADER) {
            t->headers++;
            get_str(r->obj, "filter", FALSE, &t->filter, NULL);
            continue;
        }
        if (r->client > 0) {
            analyse_client(t, r);
        }
        if (r->by_proxy) {
            analyse_by_proxy(t, pending_by_proxy, by_id, r);
        } else if (r->dir == t->request_dir &&
                   (r->kind == KIND_COMMAND ||
                    (r->kind == KIND_INVALID && t->reply_dir == DIR_P2C))) {
            analyse_request(t, pending, by_id, r);
        } else if (r->dir == t->reply_dir && (r->kind == KIND_REPLY || r->kind == KIND_ERROR)) {
            analyse_reply(t, pending, r);
        } else if (r->dir == DIR_Q2P && r->kind == KIND_EVENT &&
                   strcmp(r->name, "DEVICE_DELETED") == 0 &&
                   (device = msg_string(r, "data", "device"))) {
            /* DEVICE_DELETED without "device" is for a backend path: not ours. */
            Device *d = device_find(t, by_id, device, 0);
            d->deleted = r;
        }
    }
    for (guint i = 0; i < t->commands->len; i++) {
        const Command *c = t->commands->pdata[i];
        Client *client = g_hash_table_lookup(t->clients, &c->client);
        if (client && !c->by_proxy) {
            client->commands++;
            client->errors += command_failed(c);
        }
    }
}

static gint compare_clients(gconstpointer a, gconstpointer b)
{
    const Client *x = a, *y = b;

    return x->number < y->number ? -1 : x->number > y->number;
}

static GList *trace_clients_sorted(const Trace *t)
{
    return g_list_sort(g_hash_table_get_values(t->clients), compare_clients);
}

/* ---- --summary ---- */

typedef struct {
    const char *title;
    const char *align; /* 'l' or 'r' per column */
    GPtrArray *rows;   /* GPtrArray of char *; the first holds the headings */
} Table;

static GPtrArray *table_row(Table *t)
{
    GPtrArray *row = g_ptr_array_new_with_free_func(g_free);

    g_ptr_array_add(t->rows, row);
    return row;
}

G_GNUC_PRINTF(2, 3)
static void table_cell(GPtrArray *row, const char *format, ...)
{
    va_list ap;

    va_start(ap, format);
    g_ptr_array_add(row, g_strdup_vprintf(format, ap));
    va_end(ap);
}

static void table_init(Table *t, const char *title, const char *align, const char *const *headings)
{
    GPtrArray *row;

    t->title = title;
    t->align = align;
    t->rows = g_ptr_array_new_with_free_func((GDestroyNotify)g_ptr_array_unref);
    row = table_row(t);
    for (guint i = 0; headings[i]; i++) {
        table_cell(row, "%s", headings[i]);
    }
}

static void table_print(Table *t)
{
    g_autoptr(GArray) widths = g_array_new(FALSE, TRUE, sizeof(guint));
    g_autoptr(GString) s = g_string_new(NULL);

    g_array_set_size(widths, strlen(t->align));
    for (guint i = 0; i < t->rows->len; i++) {
        GPtrArray *row = t->rows->pdata[i];
        for (guint j = 0; j < row->len && j < widths->len; j++) {
            guint n = (guint)g_utf8_strlen(row->pdata[j], -1);
            g_array_index(widths, guint, j) = MAX(g_array_index(widths, guint, j), n);
        }
    }
    g_string_append_printf(s, "%s\n", t->title);
    for (guint i = 0; i < t->rows->len; i++) {
        GPtrArray *row = t->rows->pdata[i];
        for (guint j = 0; j < row->len && j < widths->len; j++) {
            g_string_append(s, "  ");
            /* No trailing blanks after a last column aligned left. */
            gboolean pad = j + 1 < row->len || t->align[j] == 'r';
            append_padded(s, row->pdata[j], pad ? g_array_index(widths, guint, j) : 0,
                          t->align[j] == 'r');
        }
        g_string_append_c(s, '\n');
    }
    if (t->rows->len == 1) {
        g_string_append(s, "  (none)\n");
    }
    g_string_append_c(s, '\n');
    fputs(s->str, stdout);
    g_ptr_array_unref(t->rows);
}

static gint compare_int64(gconstpointer a, gconstpointer b)
{
    gint64 x = *(const gint64 *)a, y = *(const gint64 *)b;

    return x < y ? -1 : x > y;
}

/* Nearest rank: the smallest value with at least @pct % of values at or
 * below it, so that every figure shown was actually measured. */
static gint64 percentile(GArray *sorted, guint pct)
{
    guint rank = (sorted->len * pct + 99) / 100;

    return sorted->len ? g_array_index(sorted, gint64, MAX(rank, 1) - 1) : -1;
}

typedef struct {
    guint count, errors, unanswered;
    GArray *latencies; /* gint64 */
} CommandStats;

static void command_stats_free(CommandStats *s)
{
    g_array_unref(s->latencies);
    g_free(s);
}

/* The clients' commands, or (@by_proxy) those the proxy made itself, which
 * get a table only when there are some. */
static void summary_commands(const Trace *t, const Style *style, gboolean by_proxy)
{
    static const char *const headings[] = { "command", "count", "errors", "no reply",
                                            "p50",     "p99",   "max",    NULL };
    g_autoptr(GHashTable) stats =
        g_hash_table_new_full(g_str_hash, g_str_equal, NULL, (GDestroyNotify)command_stats_free);
    g_autofree char *title =
        by_proxy ? g_strdup("Commands the proxy made itself (device manager; latency from "
                            "qemu>proxy replies, nearest rank)")
                 : g_strdup_printf("Commands (latency from %s replies, nearest rank)",
                                   dirs[t->reply_dir].name);
    Table table;
    GList *names;

    for (guint i = 0; i < t->commands->len; i++) {
        const Command *c = t->commands->pdata[i];
        CommandStats *s;
        gint64 latency = command_latency(c);
        if (c->by_proxy != by_proxy) {
            continue;
        }
        s = g_hash_table_lookup(stats, command_name(c));
        if (!s) {
            s = g_new0(CommandStats, 1);
            s->latencies = g_array_new(FALSE, FALSE, sizeof(gint64));
            g_hash_table_insert(stats, (gpointer)command_name(c), s);
        }
        s->count++;
        s->errors += command_failed(c);
        s->unanswered += !c->reply;
        if (latency >= 0) {
            g_array_append_val(s->latencies, latency);
        }
    }
    if (by_proxy && g_hash_table_size(stats) == 0) {
        return;
    }
    table_init(&table, title, "lrrrrrr", headings);
    names = g_list_sort(g_hash_table_get_keys(stats), (GCompareFunc)g_strcmp0);
    for (GList *l = names; l; l = l->next) {
        CommandStats *s = g_hash_table_lookup(stats, l->data);
        GPtrArray *row = table_row(&table);
        g_array_sort(s->latencies, compare_int64);
        table_cell(row, "%s", (const char *)l->data);
        table_cell(row, "%u", s->count);
        table_cell(row, "%u", s->errors);
        table_cell(row, "%u", s->unanswered);
        g_ptr_array_add(row, format_us(percentile(s->latencies, 50), style));
        g_ptr_array_add(row, format_us(percentile(s->latencies, 99), style));
        g_ptr_array_add(row, format_us(percentile(s->latencies, 100), style));
    }
    g_list_free(names);
    table_print(&table);
}

static void summary_devices(const Trace *t, const Style *style)
{
    static const char *const headings[] = { "device", "driver", "client", "plug",
                                            "unplug", "state",  NULL };
    Table table;

    table_init(&table,
               "Devices (plug: device_add to its reply; unplug: device_del to DEVICE_DELETED)",
               "llrrrl", headings);
    for (guint i = 0; i < t->devices->len; i++) {
        const Device *d = t->devices->pdata[i];
        GPtrArray *row = table_row(&table);
        table_cell(row, "%s", d->id);
        table_cell(row, "%s", d->driver ? d->driver : "?");
        if (d->client > 0) {
            table_cell(row, "%" G_GINT64_FORMAT "%s", d->client,
                       device_by_proxy(d) ? " via proxy" : "");
        } else {
            table_cell(row, "%s", device_by_proxy(d) ? "proxy" : "-");
        }
        g_ptr_array_add(row, format_us(d->add ? command_latency(d->add) : -1, style));
        g_ptr_array_add(row, format_us(device_unplug_us(d), style));
        table_cell(row, "%s", device_state(d));
    }
    table_print(&table);
}

static void summary_clients(const Trace *t)
{
    static const char *const headings[] = { "client",   "exe",    "pid",    "uid",
                                            "commands", "errors", "events", NULL };
    g_autofree char *title =
        g_strdup_printf("Clients (events: as received%s)",
                        t->reply_dir == DIR_P2C ? "" : "; none, the trace has no proxy>client");
    Table table;
    GList *clients = trace_clients_sorted(t);

    table_init(&table, title, "rlrrrrr", headings);
    for (GList *l = clients; l; l = l->next) {
        const Client *c = l->data;
        GPtrArray *row = table_row(&table);
        table_cell(row, "%" G_GINT64_FORMAT, c->number);
        table_cell(row, "%s", c->exe ? c->exe : "?");
        table_cell(row, "%" G_GINT64_FORMAT, c->pid);
        table_cell(row, "%" G_GINT64_FORMAT, c->uid);
        table_cell(row, "%u", c->commands);
        table_cell(row, "%u", c->errors);
        table_cell(row, "%u", c->events);
    }
    g_list_free(clients);
    table_print(&table);
}

static void summary_print(const Trace *t, const char *path, const Style *style)
{
    g_autofree char *span = format_us(t->end_us - t->start_us, style);

    g_print("%s: %u records, %u header%s, filter %s, %s from first to last\n\n", path,
            t->records->len - t->headers, t->headers, t->headers == 1 ? "" : "s",
            t->filter ? t->filter : "?", t->records->len ? span : "-");
    summary_commands(t, style, FALSE);
    summary_commands(t, style, TRUE);
    summary_devices(t, style);
    summary_clients(t);
}

/* ---- --chrome ---- */

enum {
    PID_CLIENTS = 1,
    PID_DEVICES = 2,
    PID_EVENTS = 3,
    PID_PROXY = 4, /* the commands the proxy made itself */
};

static void json_add_int(JsonBuilder *b, const char *name, gint64 value)
{
    json_builder_set_member_name(b, name);
    json_builder_add_int_value(b, value);
}

static void json_add_str(JsonBuilder *b, const char *name, const char *value)
{
    json_builder_set_member_name(b, name);
    json_builder_add_string_value(b, value);
}

/* Opens an event object; the caller adds what is particular to it. */
static void chrome_begin(JsonBuilder *b, const char *ph, const char *name, gint64 pid, gint64 tid)
{
    json_builder_begin_object(b);
    json_add_str(b, "ph", ph);
    json_add_str(b, "name", name);
    json_add_int(b, "pid", pid);
    json_add_int(b, "tid", tid);
}

static void chrome_meta(JsonBuilder *b, const char *what, gint64 pid, gint64 tid, const char *name)
{
    chrome_begin(b, "M", what, pid, tid);
    json_builder_set_member_name(b, "args");
    json_builder_begin_object(b);
    json_add_str(b, "name", name);
    json_builder_end_object(b);
    json_builder_end_object(b);
}

static void chrome_span(JsonBuilder *b, const char *name, gint64 pid, gint64 tid, gint64 ts,
                        gint64 dur)
{
    chrome_begin(b, "X", name, pid, tid);
    json_add_int(b, "ts", ts);
    json_add_int(b, "dur", MAX(dur, 0));
    json_builder_set_member_name(b, "args");
    json_builder_begin_object(b);
}

static void chrome_span_end(JsonBuilder *b)
{
    json_builder_end_object(b); /* args */
    json_builder_end_object(b);
}

static char *client_label(const Client *c)
{
    return g_strdup_printf("client %" G_GINT64_FORMAT " %s (pid %" G_GINT64_FORMAT ")", c->number,
                           c->exe ? c->exe : "?", c->pid);
}

/* The clients' commands on one track per client; with @by_proxy, the
 * commands the proxy made itself, in a process of their own with one
 * track per client that caused them (0: none). */
static void chrome_commands(JsonBuilder *b, const Trace *t, gboolean by_proxy)
{
    gint64 pid = by_proxy ? PID_PROXY : PID_CLIENTS;
    g_autoptr(GHashTable) tracks = g_hash_table_new(g_int64_hash, g_int64_equal);
    gboolean any_command = FALSE;

    for (guint i = 0; i < t->commands->len; i++) {
        const Command *c = t->commands->pdata[i];
        if (c->by_proxy == by_proxy) {
            any_command = TRUE;
            g_hash_table_add(tracks, (gpointer)&c->client);
        }
    }
    if (by_proxy && !any_command) {
        return;
    }
    if (!by_proxy) {
        GList *clients = trace_clients_sorted(t);
        chrome_meta(b, "process_name", pid, 0, "clients");
        for (GList *l = clients; l; l = l->next) {
            g_autofree char *name = client_label(l->data);
            chrome_meta(b, "thread_name", pid, ((const Client *)l->data)->number, name);
        }
        g_list_free(clients);
    } else {
        GList *numbers = g_list_sort(g_hash_table_get_keys(tracks), compare_int64);
        chrome_meta(b, "process_name", pid, 0, "made by the proxy (device manager)");
        for (GList *l = numbers; l; l = l->next) {
            gint64 number = *(const gint64 *)l->data;
            const Client *c = g_hash_table_lookup(t->clients, &number);
            g_autofree char *label = c ? client_label(c) : NULL;
            g_autofree char *name = g_strdup_printf("for %s", label ? label : "no client");
            chrome_meta(b, "thread_name", pid, number, name);
        }
        g_list_free(numbers);
    }
    for (guint i = 0; i < t->commands->len; i++) {
        const Command *c = t->commands->pdata[i];
        gint64 start;
        const Record *any = c->request ? c->request : c->reply;
        if (c->by_proxy != by_proxy) {
            continue;
        }
        start = command_start(c);
        chrome_span(b, command_name(c), pid, c->client, start,
                    c->reply ? MAX(command_latency(c), 0) : t->end_us - start);
        if (by_proxy) {
            json_builder_set_member_name(b, "by_proxy");
            json_builder_add_boolean_value(b, TRUE);
            if (any->upstream_id >= 0) {
                json_add_int(b, "upstream_id", any->upstream_id);
            }
            if (c->request && c->request->msg &&
                json_object_has_member(c->request->msg, "arguments")) {
                json_builder_set_member_name(b, "arguments");
                json_builder_add_value(
                    b, json_node_copy(json_object_get_member(c->request->msg, "arguments")));
            }
        }
        if (any->id) {
            json_builder_set_member_name(b, "id");
            json_builder_add_value(b, json_node_copy(any->id));
        }
        if (command_failed(c)) {
            json_add_str(b, "error_class", c->reply->klass ? c->reply->klass : "?");
            json_add_str(b, "error_desc", c->reply->error ? c->reply->error : "");
        }
        if (!c->reply) {
            json_builder_set_member_name(b, "no_reply");
            json_builder_add_boolean_value(b, TRUE);
        }
        chrome_span_end(b);
    }
}

static void chrome_devices(JsonBuilder *b, const Trace *t)
{
    chrome_meta(b, "process_name", PID_DEVICES, 0, "devices");
    for (guint i = 0; i < t->devices->len; i++) {
        const Device *d = t->devices->pdata[i];
        g_autofree char *name = g_strdup_printf("%s (%s)", d->id, d->driver ? d->driver : "?");
        gint64 start = d->add   ? command_start(d->add)
                       : d->del ? command_start(d->del)
                                : d->deleted->mono_us;
        gint64 end = d->deleted                         ? d->deleted->mono_us
                     : d->add && command_failed(d->add) ? start + command_latency(d->add)
                                                        : t->end_us;
        chrome_meta(b, "thread_name", PID_DEVICES, i + 1, name);
        chrome_span(b, d->id, PID_DEVICES, i + 1, start, end - start);
        json_add_str(b, "driver", d->driver ? d->driver : "?");
        json_add_str(b, "state", device_state(d));
        json_add_int(b, "plug_us", d->add ? command_latency(d->add) : -1);
        json_add_int(b, "unplug_us", device_unplug_us(d));
        json_builder_set_member_name(b, "by_proxy");
        json_builder_add_boolean_value(b, device_by_proxy(d));
        json_builder_set_member_name(b, "open_at_end_of_trace");
        json_builder_add_boolean_value(b, !d->deleted && !(d->add && command_failed(d->add)));
        chrome_span_end(b);
    }
}

static void chrome_events(JsonBuilder *b, const Trace *t)
{
    chrome_meta(b, "process_name", PID_EVENTS, 0, "QEMU events");
    for (guint i = 0; i < t->records->len; i++) {
        const Record *r = t->records->pdata[i];
        JsonNode *data;
        if (r->dir != DIR_Q2P || r->kind != KIND_EVENT) {
            continue;
        }
        chrome_begin(b, "i", r->name, PID_EVENTS, 1);
        json_add_int(b, "ts", r->mono_us);
        json_add_str(b, "s", "p");
        json_builder_set_member_name(b, "args");
        json_builder_begin_object(b);
        if (r->msg && (data = json_object_get_member(r->msg, "data"))) {
            json_builder_set_member_name(b, "data");
            json_builder_add_value(b, json_node_copy(data));
        }
        json_builder_end_object(b);
        json_builder_end_object(b);
    }
}

static gboolean chrome_write(const Trace *t, const char *out, guint *n_events, GError **error)
{
    g_autoptr(JsonBuilder) b = json_builder_new();
    g_autoptr(JsonGenerator) gen = json_generator_new();
    g_autoptr(JsonNode) root = NULL;

    json_builder_begin_object(b);
    json_add_str(b, "displayTimeUnit", "ms");
    json_builder_set_member_name(b, "traceEvents");
    json_builder_begin_array(b);
    chrome_commands(b, t, FALSE);
    chrome_devices(b, t);
    chrome_events(b, t);
    chrome_commands(b, t, TRUE);
    json_builder_end_array(b);
    json_builder_end_object(b);
    root = json_builder_get_root(b);
    *n_events = json_array_get_length(
        json_object_get_array_member(json_node_get_object(root), "traceEvents"));
    json_generator_set_root(gen, root);
    return json_generator_to_file(gen, out, error);
}

/* ---- --follow ---- */

typedef struct {
    Reader *reader;
    GMainLoop *loop;
    int status;
} Follow;

static gboolean follow_stop(gpointer user_data)
{
    g_main_loop_quit(((Follow *)user_data)->loop);
    return G_SOURCE_CONTINUE;
}

static gboolean follow_tick(gpointer user_data)
{
    Follow *f = user_data;
    Reader *r = f->reader;
    g_autoptr(GError) error = NULL;

    if (r->fd >= 0 && reader_read(r, &error) && reader_replaced(r)) {
        /* What was cut off in the old file will never be finished. */
        reader_finish(r);
        close(r->fd);
        r->fd = -1;
        g_printerr("%s: replaced or truncated; reading it from the start\n", r->path);
    }
    /* A failed reopen (the new file not there yet) is tried again next time. */
    if (!error && r->fd < 0 && reader_open(r, NULL)) {
        reader_read(r, &error);
    }
    fflush(stdout);
    if (error) {
        g_printerr("qmproxy trace: %s\n", error->message);
        f->status = 1;
        g_main_loop_quit(f->loop);
    }
    return G_SOURCE_CONTINUE;
}

static int follow(Reader *r)
{
    g_autoptr(GMainLoop) loop = g_main_loop_new(NULL, FALSE);
    Follow f = { .reader = r, .loop = loop };
    guint sources[] = {
        g_unix_signal_add(SIGINT, follow_stop, &f),
        g_unix_signal_add(SIGTERM, follow_stop, &f),
        g_timeout_add(FOLLOW_POLL_MS, follow_tick, &f),
    };

    follow_tick(&f);
    if (f.status == 0) {
        g_main_loop_run(loop);
    }
    for (guint i = 0; i < G_N_ELEMENTS(sources); i++) {
        g_source_remove(sources[i]);
    }
    return f.status;
}

/* ---- the command line ---- */

static const char description[] =
    "Reads a trace written by \"qmproxy --trace FILE\" (docs/trace-format.md).\n"
    "\n"
    "Without options, prints a timeline, one line per record:\n"
    "  time of day (UTC, HH:MM:SS.uuuuuu, from the record's \"time\"),\n"
    "  +delta from the previous record (ms, from \"mono_us\"),\n"
    "  client (#number exe[pid]; - for QEMU's own messages),\n"
    "  direction: C->P client to proxy, P->Q proxy to QEMU, Q->P QEMU to proxy,\n"
    "             P->C proxy to client (arrows when the locale is UTF-8),\n"
    "  kind, command or event name, id=the client's id (JSON), latency of\n"
    "  replies, error class and text, command arguments or event data, and\n"
    "  (by_proxy) on the QMP the proxy sent QEMU itself (device manager).\n"
    "A header line (a proxy started or reopened the file) is shown as a rule.\n"
    "Colours are used only when standard output is a terminal and NO_COLOR is unset.\n"
    "\n"
    "--summary prints these tables:\n"
    "  commands: count, errors, commands without a reply, p50/p99/max latency\n"
    "    (nearest rank) from the proxy>client replies' latency_us, or from the\n"
    "    qemu>proxy ones when the trace has no proxy>client records;\n"
    "  commands the proxy made itself (by_proxy: the device manager's\n"
    "    blockdev-add, device_add, ...), the same figures from the qemu>proxy\n"
    "    replies, when the trace has any;\n"
    "  devices (by device_add's \"id\"): driver, client (\"N via proxy\" when\n"
    "    the proxy sent device_add, or device_del, for client N's request), plug\n"
    "    time (device_add to its reply), unplug time (device_del to QEMU's\n"
    "    DEVICE_DELETED for that id),\n"
    "    state: plugged, add pending, add failed, unplug requested or removed;\n"
    "  clients: number, exe, pid, uid, commands, errors, events received.\n"
    "\n"
    "--chrome OUT.json writes the Chrome Trace Event format, for\n"
    "https://ui.perfetto.dev or chrome://tracing: one track per client with a\n"
    "span per command, one track per device from device_add to DEVICE_DELETED\n"
    "(or to the end of the trace), QEMU's events as instants, and the commands\n"
    "the proxy made itself on tracks of their own, one per client they served.\n"
    "It can be combined with --summary.\n"
    "\n"
    "--follow prints the timeline and keeps reading as the file grows (every\n"
    "200 ms); when the file is replaced (rotated) or truncated it is read again\n"
    "from the start. Stop it with Ctrl-C (SIGINT) or SIGTERM.\n"
    "\n"
    "A line that cannot be used (not JSON, not an object, a member missing or\n"
    "of the wrong type, a last line cut short) is reported on standard error as\n"
    "FILE:LINE: REASON and skipped; members this reader does not know are\n"
    "ignored, and records of a later format version are read as version 1.\n"
    "\n"
    "Exit status: 0 when FILE was read, even if some lines were skipped;\n"
    "1 when FILE cannot be opened or read, or OUT.json cannot be written;\n"
    "2 for bad usage.\n";

/* After the whole file is read: the summary and/or the Chrome file. */
static int report(Trace *t, const char *path, const Style *style, gboolean summary,
                  const char *chrome)
{
    g_autoptr(GError) error = NULL;
    guint n = 0;

    trace_analyse(t);
    if (summary) {
        summary_print(t, path, style);
    }
    if (chrome && !chrome_write(t, chrome, &n, &error)) {
        g_printerr("qmproxy trace: cannot write %s: %s\n", chrome, error->message);
        return 1;
    }
    if (chrome) {
        g_print("%s: %u trace events (open it in https://ui.perfetto.dev or chrome://tracing)\n",
                chrome, n);
    }
    return 0;
}

static int run(const char *path, const Style *style, gboolean summary, const char *chrome,
               gboolean follow_mode)
{
    gboolean timeline_only = !summary && !chrome;
    Timeline timeline = { .style = style };
    g_autoptr(GError) error = NULL;
    Trace trace;
    Reader reader;
    int status = 1;

    trace_init(&trace);
    reader_init(&reader, path, timeline_only ? timeline_print : trace_add_record,
                timeline_only ? (gpointer)&timeline : (gpointer)&trace);
    if (!reader_open(&reader, &error)) {
        g_printerr("qmproxy trace: %s\n", error->message);
    } else if (follow_mode) {
        status = follow(&reader);
    } else if (!reader_read(&reader, &error)) {
        g_printerr("qmproxy trace: %s\n", error->message);
    } else {
        reader_finish(&reader);
        if (reader.bad) {
            g_printerr("%s: %u of %u lines could not be read and were skipped\n", path, reader.bad,
                       reader.line);
        }
        status = timeline_only ? 0 : report(&trace, path, style, summary, chrome);
    }
    reader_clear(&reader);
    trace_clear(&trace);
    return status;
}

int trace_tool_main(int argc, char **argv)
{
    gboolean summary = FALSE, follow_mode = FALSE;
    g_autofree char *chrome = NULL;
    GOptionEntry entries[] = {
        { "summary", 's', 0, G_OPTION_ARG_NONE, &summary,
          "Per-command, per-device and per-client tables instead of the timeline", NULL },
        { "chrome", 'c', 0, G_OPTION_ARG_FILENAME, &chrome,
          "Write the Chrome Trace Event format (Perfetto UI, chrome://tracing) to OUT.json",
          "OUT.json" },
        { "follow", 'f', 0, G_OPTION_ARG_NONE, &follow_mode,
          "Print the timeline and keep reading as FILE grows", NULL },
        { NULL },
    };
    g_autoptr(GOptionContext) ctx = g_option_context_new("FILE - read a qmproxy trace");
    g_autoptr(GError) error = NULL;
    Style style;

    setlocale(LC_ALL, "");
    g_set_prgname("qmproxy trace");
    g_option_context_add_main_entries(ctx, entries, NULL);
    g_option_context_set_description(ctx, description);
    if (!g_option_context_parse(ctx, &argc, &argv, &error)) {
        g_printerr("qmproxy trace: %s (see qmproxy trace --help)\n", error->message);
        return 2;
    }
    if (argc != 2) {
        g_printerr("qmproxy trace: %s (see qmproxy trace --help)\n",
                   argc < 2 ? "no trace FILE given" : "only one trace FILE can be read");
        return 2;
    }
    if (follow_mode && (summary || chrome)) {
        g_printerr("qmproxy trace: --follow prints the timeline; it cannot be combined with "
                   "--summary or --chrome\n");
        return 2;
    }
    style.color = isatty(STDOUT_FILENO) && !g_getenv("NO_COLOR");
    style.utf8 = g_get_charset(NULL);
    return run(argv[1], &style, summary, chrome, follow_mode);
}
