/* message.c - the QMP layer over JSON: what QEMU's qmp_dispatch() checks,
 * and replies laid out exactly as QEMU lays them out. */
#include "message.h"

#include "writer.h"

#include <string.h>

QmpValue *qmp_command_new(const char *command, const char *first_key, ...)
{
    QmpValue *cmd = qmp_value_new_dict();
    va_list ap;

    qmp_value_dict_add(cmd, "execute", qmp_value_new_string(command));
    if (first_key) {
        va_start(ap, first_key);
        qmp_value_dict_add(cmd, "arguments", qmp_value_new_dict_va(first_key, ap));
        va_end(ap);
    }
    return cmd;
}

gboolean qmp_request_is_oob(const QmpValue *msg)
{
    return qmp_value_type(msg) == QMP_VALUE_DICT && qmp_value_dict_get(msg, "exec-oob") &&
           !qmp_value_dict_get(msg, "execute");
}

gboolean qmp_request_check(const QmpValue *msg, gboolean allow_oob, QmpRequest *req,
                           char **error_message)
{
    const char *exec_key = NULL;

    memset(req, 0, sizeof(*req));
    if (qmp_value_type(msg) != QMP_VALUE_DICT) {
        *error_message = g_strdup("QMP input must be a JSON object");
        return FALSE;
    }
    req->id = qmp_value_dict_get(msg, "id");

    /* The first offending member in QDict order is the one reported. */
    g_autoptr(GArray) order = qmp_value_dict_qemu_order(msg);
    for (guint i = 0; i < order->len; i++) {
        QmpValue *item;
        const char *key = qmp_value_dict_nth(msg, g_array_index(order, guint, i), &item);

        if (strcmp(key, "execute") == 0 || (allow_oob && strcmp(key, "exec-oob") == 0)) {
            if (qmp_value_type(item) != QMP_VALUE_STRING) {
                *error_message = g_strdup_printf("QMP input member '%s' must be a string", key);
                return FALSE;
            }
            if (exec_key) {
                *error_message =
                    g_strdup_printf("QMP input member '%s' clashes with '%s'", key, exec_key);
                return FALSE;
            }
            exec_key = key;
        } else if (strcmp(key, "arguments") == 0) {
            if (qmp_value_type(item) != QMP_VALUE_DICT) {
                *error_message = g_strdup("QMP input member 'arguments' must be an object");
                return FALSE;
            }
            req->arguments = item;
        } else if (strcmp(key, "id") != 0) {
            *error_message = g_strdup_printf("QMP input member '%s' is unexpected", key);
            return FALSE;
        }
    }
    if (!exec_key) {
        *error_message = g_strdup("QMP input lacks member 'execute'");
        return FALSE;
    }
    req->oob = strcmp(exec_key, "exec-oob") == 0;
    req->command = qmp_value_dict_get_string(msg, exec_key);
    return TRUE;
}

char *qmp_monitor_text(const char *text)
{
    GString *out = g_string_sized_new(strlen(text) + 8);

    for (const char *p = text; *p; p++) {
        if (*p == '\n') {
            g_string_append_c(out, '\r');
        }
        g_string_append_c(out, *p);
    }
    return g_string_free(out, FALSE);
}

static GString *reply_text(QmpValue *reply, gboolean pretty)
{
    g_autoptr(GString) json = g_string_new(NULL);

    qmp_json_write(json, reply, pretty);
    g_string_append_c(json, '\n');
    g_autofree char *text = qmp_monitor_text(json->str);

    return g_string_new(text);
}

GString *qmp_reply_error(const char *klass, const char *desc, const QmpValue *id, gboolean pretty)
{
    g_autoptr(QmpValue) reply = qmp_value_new_dict();
    QmpValue *error = qmp_value_new_dict();

    /* insertion order matters within a QDict bucket: QEMU's order */
    qmp_value_dict_add(error, "class", qmp_value_new_string(klass));
    qmp_value_dict_add(error, "desc", qmp_value_new_string(desc));
    qmp_value_dict_add(reply, "error", error);
    if (id) {
        qmp_value_dict_add(reply, "id", qmp_value_ref((QmpValue *)id));
    }
    return reply_text(reply, pretty);
}

GString *qmp_reply_return(const QmpValue *ret, const QmpValue *id, gboolean pretty)
{
    g_autoptr(QmpValue) reply = qmp_value_new_dict();

    qmp_value_dict_add(reply, "return", qmp_value_ref((QmpValue *)ret));
    if (id) {
        qmp_value_dict_add(reply, "id", qmp_value_ref((QmpValue *)id));
    }
    return reply_text(reply, pretty);
}

GString *qmp_message_with_id(const char *raw, gsize raw_len, const QmpValue *msg,
                             const char *id_json)
{
    GString *out = g_string_sized_new(raw_len + 32);
    QmpSpan id, other;

    if (!qmp_value_dict_get_span(msg, "id", &id)) {
        /* a valid request has a member besides the id; put ours first,
         * in as few bytes as JSON allows */
        g_string_append_c(out, '{');
        if (id_json) {
            g_string_append_printf(out, "\"id\":%s,", id_json);
        }
        g_string_append_len(out, raw + 1, (gssize)raw_len - 1);
        return out;
    }
    if (id_json) {
        g_string_append_len(out, raw, (gssize)id.value_start);
        g_string_append(out, id_json);
        g_string_append_len(out, raw + id.value_end, (gssize)(raw_len - id.value_end));
        return out;
    }

    /* Remove the member with the separator that joined it to a neighbour,
     * so that the rest reads as QEMU would have written it without one. */
    gsize cut_start = id.key_start, cut_end = id.value_end;
    gsize prev_end = 0, next_start = raw_len;
    for (guint i = 0; i < qmp_value_dict_size(msg); i++) {
        const char *key = qmp_value_dict_nth(msg, i, NULL);

        if (strcmp(key, "id") == 0 || !qmp_value_dict_get_span(msg, key, &other)) {
            continue;
        }
        if (other.value_end <= id.key_start && other.value_end > prev_end) {
            prev_end = other.value_end;
        }
        if (other.key_start >= id.value_end && other.key_start < next_start) {
            next_start = other.key_start;
        }
    }
    if (prev_end) {
        cut_start = prev_end;
    } else if (next_start < raw_len) {
        cut_end = next_start;
    }
    g_string_append_len(out, raw, (gssize)cut_start);
    g_string_append_len(out, raw + cut_end, (gssize)(raw_len - cut_end));
    return out;
}

GString *qmp_reply_with_id(const char *raw, gsize raw_len, const QmpValue *msg, const char *id_json,
                           gboolean pretty)
{
    QmpSpan span;

    if (!id_json || qmp_value_dict_get(msg, "id")) {
        return qmp_message_with_id(raw, raw_len, msg, id_json);
    }
    /* QEMU adds the id to its reply last; its place in the text is where
     * QEMU's dictionary order puts a member added last */
    g_autoptr(QmpValue) with_id = qmp_value_new_dict();
    guint n = qmp_value_dict_size(msg);
    for (guint i = 0; i < n; i++) {
        QmpValue *item;
        const char *key = qmp_value_dict_nth(msg, i, &item);

        qmp_value_dict_add(with_id, key, qmp_value_ref(item));
    }
    qmp_value_dict_add(with_id, "id", qmp_value_new_null());
    g_autoptr(GArray) order = qmp_value_dict_qemu_order(with_id);
    guint at = 0;
    while (g_array_index(order, guint, at) != n) {
        at++;
    }
    const char *sep = pretty ? ",\r\n    " : ", ";
    GString *out = g_string_sized_new(raw_len + strlen(id_json) + 16);
    gsize cut;

    if (at > 0) {
        /* after the member before it */
        qmp_value_dict_get_span(
            msg, qmp_value_dict_nth(msg, g_array_index(order, guint, at - 1), NULL), &span);
        cut = span.value_end;
        g_string_append_len(out, raw, (gssize)cut);
        g_string_append_printf(out, "%s\"id\": %s", sep, id_json);
    } else {
        /* before the member after it */
        qmp_value_dict_get_span(msg, qmp_value_dict_nth(msg, g_array_index(order, guint, 1), NULL),
                                &span);
        cut = span.key_start;
        g_string_append_len(out, raw, (gssize)cut);
        g_string_append_printf(out, "\"id\": %s%s", id_json, sep);
    }
    g_string_append_len(out, raw + cut, (gssize)(raw_len - cut));
    return out;
}

GString *qmp_message_extend_return(const char *raw, gsize raw_len, const QmpValue *msg,
                                   const QmpValue *items, gboolean pretty)
{
    QmpValue *ret = qmp_value_dict_get(msg, "return");
    QmpSpan span;
    /* a list in a pretty reply: items one per line, two levels deep */
    const char *sep = pretty ? ",\r\n        " : ", ";
    const char *first = pretty ? "\r\n        " : "";

    if (!ret || qmp_value_type(ret) != QMP_VALUE_LIST ||
        !qmp_value_dict_get_span(msg, "return", &span)) {
        return NULL;
    }
    gboolean empty = qmp_value_list_length(ret) == 0;
    /* before "]", or, pretty, before the newline and indent that precede it */
    gsize at = empty ? span.value_start + 1 : span.value_end - 1 - (pretty ? 6 : 0);
    GString *out = g_string_sized_new(raw_len + 4096);

    g_string_append_len(out, raw, (gssize)at);
    for (guint i = 0; i < qmp_value_list_length(items); i++) {
        g_autofree char *json = qmp_json_nested_to_string(qmp_value_list_get(items, i), pretty, 2);
        g_autofree char *text = pretty ? qmp_monitor_text(json) : g_steal_pointer(&json);

        g_string_append(out, empty && i == 0 ? first : sep);
        g_string_append(out, text);
    }
    g_string_append_len(out, raw + at, (gssize)(raw_len - at));
    return out;
}
