/* framer.c - QEMU-exact JSON framing: a lexer state machine feeding a
 * streamer that counts brackets and enforces QEMU's limits.
 *
 * The behaviour follows QEMU's qobject/json-lexer.c and json-streamer.c
 * (7.2): no newlines needed, whitespace and CR skipped, single-quoted
 * strings, lexer errors reported as "stray" and followed by recovery that
 * skips to the next structural or control character.
 *
 * What is kept of a message in progress is its tokens: QEMU's streamer
 * holds a list of tokens, so white space inside a message costs QEMU no
 * memory, and a client that sends gigabytes of it must cost the proxy
 * none either. Only with QMP_FRAMER_KEEP_TEXT (QEMU's own output, passed on
 * byte for byte) is every byte of the message kept. Offsets below count
 * kept bytes: in that mode, every byte of the stream. */
#include "framer.h"

#include "json-internal.h"

#include <string.h>

typedef enum {
    S_START,
    S_RECOVERY,
    S_DQ,
    S_DQ_ESC,
    S_SQ,
    S_SQ_ESC,
    S_ZERO,
    S_SIGN,
    S_DIGITS,
    S_MANTISSA,
    S_MANTISSA_DIGITS,
    S_EXP_E,
    S_EXP_SIGN,
    S_EXP_DIGITS,
    S_KEYWORD,
} LexState;

/* A step's outcome: a state to go to, a finished token, or an error. */
#define R_ERROR (-1)
#define R_TOKEN(t) (100 + (int)(t))

struct QmpFramer {
    QmpFramerFunc func;
    gpointer user_data;
    gboolean keep_text;
    gboolean stop; /* the callback asked to stop feeding */

    LexState state;
    guint64 kpos;      /* kept-byte offset of the next byte kept */
    guint64 tok_start; /* kept-byte offset where the current token began */

    GByteArray *buf; /* kept bytes from offset @base on */
    guint64 base;

    GArray *tokens; /* of QmpToken, start as kept-byte offsets */
    guint64 msg_start;
    gint brace_count;
    gint bracket_count;
    gsize token_size;
};

QmpFramer *qmp_framer_new(QmpFramerFlags flags, QmpFramerFunc func, gpointer user_data)
{
    QmpFramer *f = g_new0(QmpFramer, 1);

    f->func = func;
    f->user_data = user_data;
    f->keep_text = (flags & QMP_FRAMER_KEEP_TEXT) != 0;
    f->state = S_START;
    f->buf = g_byte_array_new();
    f->tokens = g_array_new(FALSE, FALSE, sizeof(QmpToken));
    return f;
}

void qmp_framer_free(QmpFramer *f)
{
    if (!f) {
        return;
    }
    g_byte_array_unref(f->buf);
    g_array_unref(f->tokens);
    g_free(f);
}

gsize qmp_framer_pending(const QmpFramer *f)
{
    return f->buf->len;
}

static gboolean is_digit(guchar c)
{
    return c >= '0' && c <= '9';
}

/* One transition of QEMU's lexer table; *lookahead means the byte is not
 * consumed and must be looked at again from the start state. */
static int lex_step(LexState s, guchar c, gboolean *lookahead)
{
    *lookahead = FALSE;
    switch (s) {
    case S_START:
        switch (c) {
        case '"':
            return S_DQ;
        case '\'':
            return S_SQ;
        case '0':
            return S_ZERO;
        case '-':
            return S_SIGN;
        case '{':
            return R_TOKEN(QMP_TOKEN_LCURLY);
        case '}':
            return R_TOKEN(QMP_TOKEN_RCURLY);
        case '[':
            return R_TOKEN(QMP_TOKEN_LSQUARE);
        case ']':
            return R_TOKEN(QMP_TOKEN_RSQUARE);
        case ',':
            return R_TOKEN(QMP_TOKEN_COMMA);
        case ':':
            return R_TOKEN(QMP_TOKEN_COLON);
        case ' ':
        case '\t':
        case '\r':
        case '\n':
            return S_START;
        default:
            if (c >= '1' && c <= '9') {
                return S_DIGITS;
            }
            if (c >= 'a' && c <= 'z') {
                return S_KEYWORD;
            }
            return R_ERROR;
        }
    case S_RECOVERY:
        /* Resynchronise on structural characters, control characters
         * other than tab, and the impossible UTF-8 bytes 0xFE/0xFF
         * (qmp-spec: clients may send 0xFF to reset the parser). */
        if ((c < 0x20 && c != '\t') || c >= 0xFE || (c && strchr("[]{}:,", c))) {
            *lookahead = TRUE;
            return S_START;
        }
        return S_RECOVERY;
    case S_DQ:
    case S_SQ:
        if (c == (s == S_DQ ? '"' : '\'')) {
            return R_TOKEN(QMP_TOKEN_STRING);
        }
        if (c == '\\') {
            return s == S_DQ ? S_DQ_ESC : S_SQ_ESC;
        }
        return c >= 0x20 && c <= 0xFD ? (int)s : R_ERROR;
    case S_DQ_ESC:
        return c >= 0x20 && c <= 0xFD ? S_DQ : R_ERROR;
    case S_SQ_ESC:
        return c >= 0x20 && c <= 0xFD ? S_SQ : R_ERROR;
    case S_ZERO:
        if (is_digit(c)) {
            return R_ERROR;
        }
        if (c == '.') {
            return S_MANTISSA;
        }
        *lookahead = TRUE;
        return R_TOKEN(QMP_TOKEN_INTEGER);
    case S_SIGN:
        if (c == '0') {
            return S_ZERO;
        }
        return c >= '1' && c <= '9' ? S_DIGITS : R_ERROR;
    case S_DIGITS:
        if (is_digit(c)) {
            return S_DIGITS;
        }
        if (c == 'e' || c == 'E') {
            return S_EXP_E;
        }
        if (c == '.') {
            return S_MANTISSA;
        }
        *lookahead = TRUE;
        return R_TOKEN(QMP_TOKEN_INTEGER);
    case S_MANTISSA:
        return is_digit(c) ? S_MANTISSA_DIGITS : R_ERROR;
    case S_MANTISSA_DIGITS:
        if (is_digit(c)) {
            return S_MANTISSA_DIGITS;
        }
        if (c == 'e' || c == 'E') {
            return S_EXP_E;
        }
        *lookahead = TRUE;
        return R_TOKEN(QMP_TOKEN_FLOAT);
    case S_EXP_E:
        if (c == '+' || c == '-') {
            return S_EXP_SIGN;
        }
        return is_digit(c) ? S_EXP_DIGITS : R_ERROR;
    case S_EXP_SIGN:
        return is_digit(c) ? S_EXP_DIGITS : R_ERROR;
    case S_EXP_DIGITS:
        if (is_digit(c)) {
            return S_EXP_DIGITS;
        }
        *lookahead = TRUE;
        return R_TOKEN(QMP_TOKEN_FLOAT);
    case S_KEYWORD:
        if (c >= 'a' && c <= 'z') {
            return S_KEYWORD;
        }
        *lookahead = TRUE;
        return R_TOKEN(QMP_TOKEN_KEYWORD);
    }
    g_assert_not_reached();
}

static const char *buf_at(QmpFramer *f, guint64 offset)
{
    return (const char *)f->buf->data + (offset - f->base);
}

static void reset_message(QmpFramer *f)
{
    g_array_set_size(f->tokens, 0);
    f->brace_count = 0;
    f->bracket_count = 0;
    f->token_size = 0;
}

static void emit_error(QmpFramer *f, const char *message)
{
    reset_message(f);
    if (!f->func(NULL, NULL, 0, message, f->user_data)) {
        f->stop = TRUE;
    }
}

static void emit_message(QmpFramer *f)
{
    QmpToken *toks = (QmpToken *)(void *)f->tokens->data;
    guint n = f->tokens->len;
    QmpToken *last = &toks[n - 1];
    gsize raw_len = (gsize)(last->start + last->len - f->msg_start);
    const char *raw = buf_at(f, f->msg_start);
    g_autofree char *error = NULL;

    /* the parser wants offsets within the message text */
    for (guint i = 0; i < n; i++) {
        toks[i].start -= (gsize)f->msg_start;
    }
    g_autoptr(QmpValue) value = qmp_json_parse_tokens(toks, n, raw, &error);
    reset_message(f);
    if (!f->func(value, value ? raw : NULL, value ? raw_len : 0, error, f->user_data)) {
        f->stop = TRUE;
    }
}

static void process_token(QmpFramer *f, QmpTokenType type, guint64 start, gsize len)
{
    switch (type) {
    case QMP_TOKEN_LCURLY:
        f->brace_count++;
        break;
    case QMP_TOKEN_RCURLY:
        f->brace_count--;
        break;
    case QMP_TOKEN_LSQUARE:
        f->bracket_count++;
        break;
    case QMP_TOKEN_RSQUARE:
        f->bracket_count--;
        break;
    default:
        break;
    }

    /* QEMU bounds the memory and the recursion one message can force. */
    if (f->token_size + len + 1 > QMP_FRAMER_MAX_TOKEN_SIZE) {
        emit_error(f, "JSON token size limit exceeded");
        return;
    }
    if (f->tokens->len + 1 > QMP_FRAMER_MAX_TOKEN_COUNT) {
        emit_error(f, "JSON token count limit exceeded");
        return;
    }
    if (f->bracket_count + f->brace_count > (gint)QMP_FRAMER_MAX_NESTING) {
        emit_error(f, "JSON nesting depth limit exceeded");
        return;
    }

    if (f->tokens->len == 0) {
        f->msg_start = start;
    }
    QmpToken tok = { type, (gsize)start, len };
    g_array_append_val(f->tokens, tok);
    f->token_size += len;

    if ((f->brace_count > 0 || f->bracket_count > 0) && f->brace_count >= 0 &&
        f->bracket_count >= 0) {
        return;
    }
    emit_message(f);
}

static void process_stray(QmpFramer *f, guint64 start, guint64 end)
{
    /* QEMU formats the token with %s: it stops at a NUL byte */
    gsize len = (gsize)(end - start);
    const char *text = buf_at(f, start);
    gsize shown = strnlen(text, len);
    g_autofree char *message = g_strdup_printf("JSON parse error, stray '%.*s'", (int)shown, text);

    emit_error(f, message);
}

/* Takes @n bytes at @data into the current token (or, keeping the text,
 * past white space or bytes recovery skips, already in @buf). */
static void consume(QmpFramer *f, const guchar *data, gsize n, gboolean in_token)
{
    if (!f->keep_text && in_token) {
        g_byte_array_append(f->buf, data, (guint)n);
    }
    if (f->keep_text || in_token) {
        f->kpos += n;
    }
}

static void feed_byte(QmpFramer *f, guchar c)
{
    gboolean lookahead;

    do {
        if (f->state == S_START) {
            f->tok_start = f->kpos;
        }
        int r = lex_step(f->state, c, &lookahead);

        /* a byte looked ahead at is taken on the next round, from S_START */
        if (!lookahead) {
            consume(f, &c, 1, r != S_START && r != S_RECOVERY);
        }
        if (r >= R_TOKEN(0)) {
            f->state = S_START;
            process_token(f, (QmpTokenType)(r - R_TOKEN(0)), f->tok_start,
                          (gsize)(f->kpos - f->tok_start));
        } else if (r == R_ERROR) {
            f->state = S_RECOVERY;
            process_stray(f, f->tok_start, f->kpos);
        } else {
            f->state = (LexState)r;
        }
    } while (lookahead);

    /* QEMU's lexer cuts a single token that outgrows the limit and starts
     * afresh with the bytes after it. */
    if (f->state != S_START && f->state != S_RECOVERY &&
        f->kpos - f->tok_start > QMP_FRAMER_MAX_TOKEN_SIZE) {
        emit_error(f, "JSON token size limit exceeded");
        f->state = S_START;
    }
}

/* Inside a string most bytes only extend the token: skip them in bulk. */
static gsize string_run(const QmpFramer *f, const guchar *data, gsize len)
{
    guchar quote = f->state == S_DQ ? '"' : '\'';
    gsize limit = QMP_FRAMER_MAX_TOKEN_SIZE - (gsize)(f->kpos - f->tok_start);
    gsize i = 0;

    if (limit > len) {
        limit = len;
    }
    while (i < limit) {
        guchar c = data[i];

        if (c == quote || c == '\\' || c < 0x20 || c > 0xFD) {
            break;
        }
        i++;
    }
    return i;
}

/* Between tokens, white space changes nothing: skip it in bulk too. */
static gsize blank_run(const guchar *data, gsize len)
{
    gsize i = 0;

    while (i < len && (data[i] == ' ' || data[i] == '\t' || data[i] == '\r' || data[i] == '\n')) {
        i++;
    }
    return i;
}

gsize qmp_framer_feed(QmpFramer *f, const char *data, gsize len)
{
    const guchar *p = (const guchar *)data;
    gsize i = 0;

    if (f->keep_text) {
        g_byte_array_append(f->buf, p, (guint)len);
    }
    f->stop = FALSE;
    while (i < len && !f->stop) {
        gsize run = 0;

        if (f->state == S_DQ || f->state == S_SQ) {
            run = string_run(f, p + i, len - i);
            consume(f, p + i, run, TRUE);
        } else if (f->state == S_START) {
            run = blank_run(p + i, len - i);
            consume(f, p + i, run, FALSE);
        }
        if (run) {
            i += run;
            continue;
        }
        feed_byte(f, p[i++]);
    }
    if (f->keep_text && i < len) {
        /* what was not taken is fed again later */
        g_byte_array_set_size(f->buf, f->buf->len - (guint)(len - i));
    }

    /* Keep only what a message still in progress needs. */
    guint64 keep = f->kpos;
    if (f->tokens->len) {
        keep = f->msg_start;
    } else if (f->state != S_START && f->state != S_RECOVERY) {
        keep = f->tok_start;
    }
    if (keep > f->base) {
        g_byte_array_remove_range(f->buf, 0, (guint)(keep - f->base));
        f->base = keep;
    }
    return i;
}

typedef struct {
    QmpValue *value;
    guint count;
} One;

static gboolean take_one(QmpValue *value, const char *raw, gsize raw_len, const char *error,
                         gpointer user_data)
{
    One *one = user_data;

    if (one->count++ == 0 && value) {
        one->value = qmp_value_ref(value);
    }
    return TRUE;
}

QmpValue *qmp_json_parse(const char *text, gsize len)
{
    One one = { NULL, 0 };
    /* callers locate members in @text by the spans: keep its layout */
    g_autoptr(QmpFramer) f = qmp_framer_new(QMP_FRAMER_KEEP_TEXT, take_one, &one);

    qmp_framer_feed(f, text, len);
    /* a number at the very end completes only at the next byte */
    qmp_framer_feed(f, " ", 1);
    if (one.count != 1 || f->tokens->len || (f->state != S_START && f->state != S_RECOVERY)) {
        g_clear_pointer(&one.value, qmp_value_unref);
    }
    return one.value;
}
