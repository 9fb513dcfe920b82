/* parser.c - builds a value from one message's tokens with QEMU's grammar
 * and QEMU's error messages (qobject/json-parser.c, 7.2): the first error
 * found wins, and numbers become int64, then uint64, then double. */
#include "json-internal.h"
#include "utf8.h"

#include <errno.h>
#include <string.h>

typedef struct {
    const QmpToken *tokens;
    guint n;
    guint next;
    const char *raw;
    char *error;
    guint depth;
} Parser;

static QmpValue *parse_value(Parser *p);

static void G_GNUC_PRINTF(2, 3) parse_error(Parser *p, const char *fmt, ...)
{
    va_list ap;

    if (p->error) {
        return;
    }
    va_start(ap, fmt);
    g_autofree char *msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    /* QEMU formats into a 1024-byte buffer: a long invalid keyword is cut */
    if (strlen(msg) > 1023) {
        msg[1023] = 0;
    }
    p->error = g_strconcat("JSON parse error, ", msg, NULL);
}

static const QmpToken *peek(Parser *p)
{
    return p->next < p->n ? &p->tokens[p->next] : NULL;
}

static const QmpToken *pop(Parser *p)
{
    return p->next < p->n ? &p->tokens[p->next++] : NULL;
}

static char *token_text(Parser *p, const QmpToken *t)
{
    return g_strndup(p->raw + t->start, t->len);
}

static int hex4(const char *s)
{
    int cp = 0;

    for (int i = 0; i < 4; i++) {
        if (!g_ascii_isxdigit(s[i])) {
            return -1;
        }
        cp = (cp << 4) | g_ascii_xdigit_value(s[i]);
    }
    return cp;
}

static QmpValue *parse_string(Parser *p, const QmpToken *t)
{
    g_autofree char *text = token_text(p, t);
    const char *ptr = text;
    char quote = *ptr++;
    g_autoptr(GString) str = g_string_sized_new(t->len);
    char utf8[5];

    while (*ptr != quote) {
        if (*ptr == '\\') {
            const char *beg = ptr++;
            int cp;

            switch (*ptr++) {
            case '"':
                g_string_append_c(str, '"');
                break;
            case '\'':
                g_string_append_c(str, '\'');
                break;
            case '\\':
                g_string_append_c(str, '\\');
                break;
            case '/':
                g_string_append_c(str, '/');
                break;
            case 'b':
                g_string_append_c(str, '\b');
                break;
            case 'f':
                g_string_append_c(str, '\f');
                break;
            case 'n':
                g_string_append_c(str, '\n');
                break;
            case 'r':
                g_string_append_c(str, '\r');
                break;
            case 't':
                g_string_append_c(str, '\t');
                break;
            case 'u':
                cp = hex4(ptr);
                /* QEMU skips four bytes even when they are not all hex;
                 * the message then shows the escape up to the string's end */
                ptr += 4;
                if (cp >= 0xD800 && cp <= 0xDBFF && ptr[0] == '\\' && ptr[1] == 'u') {
                    int trailing = hex4(ptr + 2);

                    cp = 0x10000 + ((cp & 0x3FF) << 10);
                    if (trailing >= 0xDC00 && trailing <= 0xDFFF) {
                        cp |= trailing & 0x3FF;
                        ptr += 6;
                    } else {
                        cp = -1;
                    }
                }
                if (qmp_utf8_encode(utf8, cp) < 0) {
                    gsize shown = strnlen(beg, (gsize)(ptr - beg));

                    parse_error(p, "%.*s is not a valid Unicode character", (int)shown, beg);
                    return NULL;
                }
                g_string_append(str, utf8);
                break;
            default:
                parse_error(p, "invalid escape sequence in string");
                return NULL;
            }
        } else {
            const char *end;
            int cp = qmp_utf8_decode(ptr, 6, &end);

            if (cp < 0) {
                parse_error(p, "invalid UTF-8 sequence in string");
                return NULL;
            }
            ptr = end;
            qmp_utf8_encode(utf8, cp);
            g_string_append(str, utf8);
        }
    }
    return qmp_value_new_string_take(g_string_free(g_steal_pointer(&str), FALSE));
}

static QmpValue *parse_number(Parser *p, const QmpToken *t)
{
    g_autofree char *text = token_text(p, t);

    if (t->type == QMP_TOKEN_INTEGER) {
        char *end;

        errno = 0;
        gint64 i = g_ascii_strtoll(text, &end, 10);
        if (errno == 0) {
            return qmp_value_new_int(i);
        }
        if (text[0] != '-') {
            errno = 0;
            guint64 u = g_ascii_strtoull(text, &end, 10);
            if (errno == 0) {
                return qmp_value_new_uint(u);
            }
        }
    }
    return qmp_value_new_double(g_ascii_strtod(text, NULL));
}

static QmpValue *parse_keyword(Parser *p)
{
    const QmpToken *t = pop(p);
    g_autofree char *text = token_text(p, t);

    if (strcmp(text, "true") == 0) {
        return qmp_value_new_bool(TRUE);
    }
    if (strcmp(text, "false") == 0) {
        return qmp_value_new_bool(FALSE);
    }
    if (strcmp(text, "null") == 0) {
        return qmp_value_new_null();
    }
    parse_error(p, "invalid keyword '%s'", text);
    return NULL;
}

static gsize last_end(Parser *p)
{
    const QmpToken *t = &p->tokens[p->next - 1];

    return t->start + t->len;
}

static gboolean parse_pair(Parser *p, QmpValue *dict)
{
    const QmpToken *first = peek(p);

    if (!first) {
        parse_error(p, "premature EOI");
        return FALSE;
    }
    g_autoptr(QmpValue) key = parse_value(p);
    if (!key || qmp_value_type(key) != QMP_VALUE_STRING) {
        parse_error(p, "key is not a string in object");
        return FALSE;
    }
    const QmpToken *colon = pop(p);
    if (!colon) {
        parse_error(p, "premature EOI");
        return FALSE;
    }
    if (colon->type != QMP_TOKEN_COLON) {
        parse_error(p, "missing : in object pair");
        return FALSE;
    }
    const QmpToken *vtok = peek(p);
    QmpValue *value = parse_value(p);
    if (!value) {
        parse_error(p, "Missing value in dict");
        return FALSE;
    }
    const char *k = qmp_value_get_string(key);
    if (!qmp_value_dict_add(dict, k, value)) {
        parse_error(p, "duplicate key");
        return FALSE;
    }
    if (p->depth == 1) {
        QmpSpan span = { first->start, vtok->start, last_end(p) };
        qmp_value_dict_set_span(dict, k, &span);
    }
    return TRUE;
}

static QmpValue *parse_object(Parser *p)
{
    g_autoptr(QmpValue) dict = qmp_value_new_dict();
    const QmpToken *t;

    pop(p); /* '{' */
    t = peek(p);
    if (!t) {
        parse_error(p, "premature EOI");
        return NULL;
    }
    if (t->type == QMP_TOKEN_RCURLY) {
        pop(p);
        return g_steal_pointer(&dict);
    }
    if (!parse_pair(p, dict)) {
        return NULL;
    }
    while ((t = pop(p)) && t->type != QMP_TOKEN_RCURLY) {
        if (t->type != QMP_TOKEN_COMMA) {
            parse_error(p, "expected separator in dict");
            return NULL;
        }
        if (!parse_pair(p, dict)) {
            return NULL;
        }
    }
    if (!t) {
        parse_error(p, "premature EOI");
        return NULL;
    }
    return g_steal_pointer(&dict);
}

static QmpValue *parse_array(Parser *p)
{
    g_autoptr(QmpValue) list = qmp_value_new_list();
    const QmpToken *t;
    QmpValue *item;

    pop(p); /* '[' */
    t = peek(p);
    if (!t) {
        parse_error(p, "premature EOI");
        return NULL;
    }
    if (t->type == QMP_TOKEN_RSQUARE) {
        pop(p);
        return g_steal_pointer(&list);
    }
    item = parse_value(p);
    if (!item) {
        parse_error(p, "expecting value");
        return NULL;
    }
    qmp_value_list_append(list, item);
    while ((t = pop(p)) && t->type != QMP_TOKEN_RSQUARE) {
        if (t->type != QMP_TOKEN_COMMA) {
            parse_error(p, "expected separator in list");
            return NULL;
        }
        item = parse_value(p);
        if (!item) {
            parse_error(p, "expecting value");
            return NULL;
        }
        qmp_value_list_append(list, item);
    }
    if (!t) {
        parse_error(p, "premature EOI");
        return NULL;
    }
    return g_steal_pointer(&list);
}

static QmpValue *parse_value(Parser *p)
{
    const QmpToken *t = peek(p);
    QmpValue *v;

    if (!t) {
        parse_error(p, "premature EOI");
        return NULL;
    }
    switch (t->type) {
    case QMP_TOKEN_LCURLY:
        p->depth++;
        v = parse_object(p);
        p->depth--;
        return v;
    case QMP_TOKEN_LSQUARE:
        p->depth++;
        v = parse_array(p);
        p->depth--;
        return v;
    case QMP_TOKEN_INTEGER:
    case QMP_TOKEN_FLOAT:
        return parse_number(p, pop(p));
    case QMP_TOKEN_STRING:
        return parse_string(p, pop(p));
    case QMP_TOKEN_KEYWORD:
        return parse_keyword(p);
    default:
        parse_error(p, "expecting value");
        return NULL;
    }
}

QmpValue *qmp_json_parse_tokens(const QmpToken *tokens, guint n, const char *raw,
                                char **error_message)
{
    Parser p = { tokens, n, 0, raw, NULL, 0 };
    QmpValue *v = parse_value(&p);

    if (!v) {
        *error_message = p.error;
        return NULL;
    }
    return v;
}
