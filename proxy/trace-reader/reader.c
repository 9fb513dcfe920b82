/* reader.c - reading a trace (docs/trace-format.md, JSON Lines), line by
 * line as it grows. Traces come from proxies that may have crashed
 * mid-line or from newer versions of qmproxy, so every line is judged on
 * its own: a line that cannot be used is reported as FILE:LINE and
 * skipped, and members this reader does not know are ignored. json-glib
 * is fine here, unlike in the protocol library: nothing is written back to
 * QEMU, so exact numbers and member order do not matter. */
#include "trace-reader.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

const ReaderDir reader_dirs[] = {
    [DIR_NONE] = { "", "   ", "    " },
    [DIR_C2P] = { "client>proxy", "C→P", "C->P" },
    [DIR_P2Q] = { "proxy>qemu", "P→Q", "P->Q" },
    [DIR_Q2P] = { "qemu>proxy", "Q→P", "Q->P" },
    [DIR_P2C] = { "proxy>client", "P→C", "P->C" },
};

const char *const reader_kind_names[] = {
    [KIND_HEADER] = "header",   [KIND_GREETING] = "greeting", [KIND_COMMAND] = "command",
    [KIND_REPLY] = "reply",     [KIND_ERROR] = "error",       [KIND_EVENT] = "event",
    [KIND_INVALID] = "invalid",
};

void reader_record_free(Record *r)
{
    g_clear_pointer(&r->obj, json_object_unref);
    g_clear_pointer(&r->when, g_date_time_unref);
    g_free(r);
}

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

gboolean reader_get_str(JsonObject *o, const char *name, gboolean required, const char **out,
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
    if (!get_int(obj, "v", TRUE, &v, error) ||
        !reader_get_str(obj, "kind", TRUE, &r->kind_name, error) ||
        !reader_get_str(obj, "time", TRUE, &when, error) ||
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
        if (strcmp(r->kind_name, reader_kind_names[r->kind]) == 0) {
            break;
        }
    }
    if (r->kind == KIND_HEADER) {
        return g_steal_pointer(&r);
    }
    if (!reader_get_str(obj, "dir", TRUE, &dir, error)) {
        return NULL;
    }
    for (r->dir = DIR_C2P; r->dir <= DIR_P2C; r->dir++) {
        if (strcmp(dir, reader_dirs[r->dir].name) == 0) {
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
        !reader_get_str(obj, "exe", FALSE, &r->exe, error) ||
        !reader_get_str(obj, "name", named, &r->name, error) ||
        !get_int(obj, "latency_us", FALSE, &r->latency_us, error) ||
        !get_int(obj, "upstream_id", FALSE, &r->upstream_id, error) ||
        !get_member(obj, "by_proxy", T_BOOL, FALSE, &by_proxy, error) ||
        !reader_get_str(obj, "error", FALSE, &r->error, error) ||
        !reader_get_str(obj, "class", FALSE, &r->klass, error) ||
        !reader_get_str(obj, "refused_by", FALSE, &r->refused_by, error) ||
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

gboolean reader_open(Reader *r, GError **error)
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

void reader_init(Reader *r, const char *path, RecordFunc func, gpointer user_data)
{
    *r = (Reader){ .path = path, .fd = -1, .func = func, .user_data = user_data };
    r->pending = g_string_new(NULL);
    r->parser = json_parser_new();
}

void reader_clear(Reader *r)
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
gboolean reader_read(Reader *r, GError **error)
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
void reader_finish(Reader *r)
{
    if (r->pending->len > 0) {
        reader_line(r, r->pending->str, r->pending->len, TRUE);
        g_string_truncate(r->pending, 0);
    }
}

/* A rotated trace is a new file at the same path; a truncated one is
 * shorter than what was read. */
gboolean reader_replaced(Reader *r)
{
    struct stat st;

    if (stat(r->path, &st) < 0) {
        return FALSE; /* between rename and re-creation: keep the old file */
    }
    return st.st_dev != r->dev || st.st_ino != r->ino || st.st_size < r->offset;
}
