/* test-framer.c - the framer and parser against QEMU's behaviour: split
 * and batched input, every class of malformed input, QEMU's limits. */
#include "framer.h"
#include "writer.h"

#include <string.h>

typedef struct {
    GPtrArray *out; /* "ok:<json>" or "err:<message>" per emitted item */
} Sink;

static gboolean on_item(QmpValue *value, const char *raw, gsize raw_len, const char *error,
                        gpointer user_data)
{
    Sink *sink = user_data;

    if (value) {
        g_autofree char *json = qmp_json_to_string(value, FALSE);
        g_assert_cmpuint(raw_len, >, 0);
        g_ptr_array_add(sink->out, g_strdup_printf("ok:%s", json));
    } else {
        g_assert_null(raw);
        g_ptr_array_add(sink->out, g_strdup_printf("err:%s", error));
    }
    return TRUE;
}

static GPtrArray *frame_with(QmpFramerFlags flags, const char *input, gsize len, gsize step)
{
    Sink sink = { g_ptr_array_new_with_free_func(g_free) };
    g_autoptr(QmpFramer) f = qmp_framer_new(flags, on_item, &sink);

    if (step == 0) {
        step = len ? len : 1;
    }
    for (gsize off = 0; off < len; off += step) {
        g_assert_cmpuint(qmp_framer_feed(f, input + off, MIN(step, len - off)), ==,
                         MIN(step, len - off));
    }
    return sink.out;
}

/* Feeds @input in pieces of @step bytes (0: all at once), keeping the
 * text and keeping tokens only: both must frame alike. */
static GPtrArray *frame(const char *input, gsize len, gsize step)
{
    GPtrArray *kept = frame_with(QMP_FRAMER_KEEP_TEXT, input, len, step);
    g_autoptr(GPtrArray) tokens = frame_with(0, input, len, step);

    g_assert_cmpuint(kept->len, ==, tokens->len);
    for (guint i = 0; i < kept->len; i++) {
        g_assert_cmpstr(g_ptr_array_index(kept, i), ==, g_ptr_array_index(tokens, i));
    }
    return kept;
}

static char *join(GPtrArray *items)
{
    g_ptr_array_add(items, NULL);
    char *s = g_strjoinv("|", (char **)items->pdata);
    g_ptr_array_remove_index(items, items->len - 1);
    return s;
}

/* Checks @input gives @expected however it is split. */
static void check_len(const char *input, gsize len, const char *expected)
{
    for (gsize step = 0; step <= 3; step++) {
        g_autoptr(GPtrArray) items = frame(input, len, step);
        g_autofree char *got = join(items);

        if (g_strcmp0(got, expected) != 0) {
            g_test_message("input %s (step %zu)", input, step);
        }
        g_assert_cmpstr(got, ==, expected);
    }
}

static void check(const char *input, const char *expected)
{
    check_len(input, strlen(input), expected);
}

static void test_basic(void)
{
    check("{\"execute\":\"query-status\"}", "ok:{\"execute\": \"query-status\"}");
    check("{'execute':'query-status'}", "ok:{\"execute\": \"query-status\"}");
    check("  \r\n\t{}  ", "ok:{}");
    check("{\"id\": 1, \"error\": {\"class\": \"X\", \"desc\": \"y\"}}",
          "ok:{\"id\": 1, \"error\": {\"class\": \"X\", \"desc\": \"y\"}}");
    check("[][]{}", "ok:[]|ok:[]|ok:{}");
    check("\"a\"'b'", "ok:\"a\"|ok:\"b\"");
}

static void test_split_reads(void)
{
    const char *msg = "{\"execute\": \"qmp_capabilities\", \"id\": [1, \"x\", {\"a\": null}]}";
    g_autoptr(GPtrArray) whole = frame(msg, strlen(msg), 0);

    /* one byte at a time and every other split gives the same answer */
    for (gsize step = 1; step < strlen(msg); step++) {
        g_autoptr(GPtrArray) items = frame(msg, strlen(msg), step);

        g_assert_cmpuint(items->len, ==, 1);
        g_assert_cmpstr(g_ptr_array_index(items, 0), ==, g_ptr_array_index(whole, 0));
    }
}

static void test_many_per_read(void)
{
    g_autoptr(GString) in = g_string_new(NULL);

    for (int i = 0; i < 1000; i++) {
        g_string_append_printf(in, "{\"execute\":\"x\",\"id\":%d}", i);
    }
    g_autoptr(GPtrArray) items = frame(in->str, in->len, 0);
    g_assert_cmpuint(items->len, ==, 1000);
    g_assert_cmpstr(g_ptr_array_index(items, 999), ==, "ok:{\"execute\": \"x\", \"id\": 999}");
}

static void test_numbers(void)
{
    /* top-level numbers end only at the next byte (the lexer looks ahead) */
    check("1", "");
    check("1 ", "ok:1");
    check("-0 1.0 1e2 1.5E-3 ", "ok:0|ok:1|ok:100|ok:0.0015");
    check("9223372036854775807 9223372036854775808 18446744073709551616 ",
          "ok:9223372036854775807|ok:9223372036854775808|ok:1.8446744073709552e+19");
    check("-9223372036854775809 ", "ok:-9.2233720368547758e+18");
    check("0e1 ", "ok:0|err:JSON parse error, invalid keyword 'e'|ok:1");
}

static void test_strings(void)
{
    check("\"\\u00e9\\ud83d\\ude00\\u0000\"", "ok:\"\\u00E9\\uD83D\\uDE00\\u0000\"");
    check("\"\\\"\\\\\\/\\b\\f\\n\\r\\t\\'\"", "ok:\"\\\"\\\\/\\b\\f\\n\\r\\t'\"");
    check("'\"'", "ok:\"\\\"\"");
    check("\"\\x\"", "err:JSON parse error, invalid escape sequence in string");
    check("\"\\ud800\"", "err:JSON parse error, \\ud800 is not a valid Unicode character");
    check("\"\\u12\"", "err:JSON parse error, \\u12\" is not a valid Unicode character");
    check("\"\xc3\x28\"", "err:JSON parse error, invalid UTF-8 sequence in string");
    check("\"\xc0\x80\"", "ok:\"\\u0000\"");
    check("\"\xef\xbf\xbf\"", "err:JSON parse error, invalid UTF-8 sequence in string");
}

static void test_malformed(void)
{
    check("{]", "err:JSON parse error, expecting value");
    check("}", "err:JSON parse error, expecting value");
    check("{\"a\" 1}", "err:JSON parse error, missing : in object pair");
    check("{\"a\":1 \"b\":2}", "err:JSON parse error, expected separator in dict");
    check("[1 2]", "err:JSON parse error, expected separator in list");
    check("{1:2}", "err:JSON parse error, key is not a string in object");
    check("{\"a\":1,\"a\":2}", "err:JSON parse error, duplicate key");
    check("[nul]", "err:JSON parse error, invalid keyword 'nul'");
    check("{\"a\":}", "err:JSON parse error, expecting value");
    check("[,]", "err:JSON parse error, expecting value");
}

static void test_stray(void)
{
    /* a lexer error drops what was pending; recovery skips to the next
     * structural or control character */
    check("{\"a\": @}", "err:JSON parse error, stray '@'|err:JSON parse error, expecting value");
    check("@@@{}", "err:JSON parse error, stray '@'|ok:{}");
    check("\xff{}", "err:JSON parse error, stray '\xff'|ok:{}");
    check("%{}", "err:JSON parse error, stray '%'|ok:{}");
    check("\"ab\x01\" {}", "err:JSON parse error, stray '\"ab\x01'|ok:{}");
    check("{\"a\":1, 01}",
          "err:JSON parse error, stray '01'|err:JSON parse error, expecting value");
    check_len("\0{}", 3, "err:JSON parse error, stray ''|ok:{}");
    check_len("\"a\0\"{}", 6, "err:JSON parse error, stray '\"a'|ok:{}");
}

static void test_nesting_limit(void)
{
    g_autoptr(GString) ok = g_string_new(NULL);
    g_autoptr(GString) deep = g_string_new(NULL);

    for (guint i = 0; i < QMP_FRAMER_MAX_NESTING; i++) {
        g_string_append_c(ok, '[');
    }
    for (guint i = 0; i < QMP_FRAMER_MAX_NESTING; i++) {
        g_string_append_c(ok, ']');
    }
    g_autoptr(GPtrArray) items = frame(ok->str, ok->len, 0);
    g_assert_cmpuint(items->len, ==, 1);
    g_assert_true(g_str_has_prefix(g_ptr_array_index(items, 0), "ok:[[[["));

    g_string_append(deep, ok->str + 0);
    g_string_prepend_c(deep, '[');
    g_autoptr(GPtrArray) bad = frame(deep->str, QMP_FRAMER_MAX_NESTING + 1, 0);
    g_assert_cmpuint(bad->len, ==, 1);
    g_assert_cmpstr(g_ptr_array_index(bad, 0), ==, "err:JSON nesting depth limit exceeded");
}

static void test_token_count_limit(void)
{
    g_autoptr(GString) in = g_string_new("[");

    /* 2^21 tokens: "[" then "1," pairs */
    while (in->len < QMP_FRAMER_MAX_TOKEN_COUNT + 2) {
        g_string_append(in, "1,");
    }
    g_autoptr(GPtrArray) items = frame(in->str, in->len, 0);
    g_assert_cmpuint(items->len, >=, 1);
    g_assert_cmpstr(g_ptr_array_index(items, 0), ==, "err:JSON token count limit exceeded");
}

static void test_token_size_limit(void)
{
    gsize n = QMP_FRAMER_MAX_TOKEN_SIZE + 16;
    g_autofree char *in = g_malloc(n);

    memset(in, 'x', n);
    in[0] = '"';
    g_autoptr(GPtrArray) items = frame(in, n, 1 << 20);
    g_assert_cmpuint(items->len, ==, 1);
    g_assert_cmpstr(g_ptr_array_index(items, 0), ==, "err:JSON token size limit exceeded");
}

static gboolean keep_raw(QmpValue *value, const char *raw, gsize raw_len, const char *error,
                         gpointer user_data)
{
    g_ptr_array_add(user_data, value ? g_strndup(raw, raw_len) : g_strdup_printf("err:%s", error));
    return TRUE;
}

static void test_raw_and_spans(void)
{
    const char *in = "  {'execute' : \"x\",\n \"id\": [1, 2] }  ";
    g_autoptr(GPtrArray) out = g_ptr_array_new_with_free_func(g_free);
    g_autoptr(QmpFramer) f = qmp_framer_new(QMP_FRAMER_KEEP_TEXT, keep_raw, out);

    qmp_framer_feed(f, in, strlen(in));
    g_assert_cmpuint(out->len, ==, 1);
    /* from the first token to the last, as sent */
    g_assert_cmpstr(g_ptr_array_index(out, 0), ==, "{'execute' : \"x\",\n \"id\": [1, 2] }");
    /* all of an emitted message is released once it is out */
    g_assert_cmpuint(qmp_framer_pending(f), ==, 0);
    qmp_framer_feed(f, "{\"a\":", 5);
    g_assert_cmpuint(qmp_framer_pending(f), ==, 5);
}

/* Without KEEP_TEXT a message's text is its tokens, strings and numbers
 * byte for byte, and nothing between them. */
static void test_tokens_only(void)
{
    const char *in = " {'execute' : \"x y\",\n \"id\": [1e2, -0.5,\ttrue ] }\r\n"
                     "{\"a\": \"\\u0041\"}";
    g_autoptr(GPtrArray) out = g_ptr_array_new_with_free_func(g_free);
    g_autoptr(QmpFramer) f = qmp_framer_new(0, keep_raw, out);

    for (gsize i = 0; in[i]; i++) {
        qmp_framer_feed(f, in + i, 1); /* tokens split across reads too */
    }
    g_assert_cmpuint(out->len, ==, 2);
    g_assert_cmpstr(g_ptr_array_index(out, 0), ==, "{'execute':\"x y\",\"id\":[1e2,-0.5,true]}");
    g_assert_cmpstr(g_ptr_array_index(out, 1), ==, "{\"a\":\"\\u0041\"}");
}

/* White space inside a message costs nothing: QEMU's streamer keeps tokens,
 * so 64 MiB of blanks between two tokens is not 64 MiB of memory. */
static void test_blanks_bounded(void)
{
    g_autoptr(GPtrArray) out = g_ptr_array_new_with_free_func(g_free);
    g_autoptr(QmpFramer) f = qmp_framer_new(0, keep_raw, out);
    g_autofree char *blanks = g_malloc(1 << 20);
    const char *head = "{\"execute\": \"query-status\" ";

    memset(blanks, ' ', 1 << 20);
    for (gsize i = 0; i < (1 << 20); i += 97) {
        blanks[i] = "\t\r\n"[i % 3];
    }
    qmp_framer_feed(f, head, strlen(head));
    gsize held = qmp_framer_pending(f);
    for (guint i = 0; i < 256; i++) {
        qmp_framer_feed(f, blanks, 1 << 20);
        g_assert_cmpuint(qmp_framer_pending(f), ==, held);
    }
    qmp_framer_feed(f, "}", 1);
    g_assert_cmpuint(out->len, ==, 1);
    g_assert_cmpstr(g_ptr_array_index(out, 0), ==, "{\"execute\":\"query-status\"}");
    g_assert_cmpuint(qmp_framer_pending(f), ==, 0);
}

typedef struct {
    GPtrArray *out;
    guint stop_after; /* stop after this many items in one feed */
    guint in_feed;
} Stopper;

static gboolean stop_each(QmpValue *value, const char *raw, gsize raw_len, const char *error,
                          gpointer user_data)
{
    Stopper *s = user_data;

    on_item(value, raw, raw_len, error, &(Sink){ s->out });
    return ++s->in_feed < s->stop_after;
}

/* A callback that asks to stop gets nothing more from that feed; the
 * bytes not taken, fed again, give exactly what one feed would. */
static void test_stop_and_resume(void)
{
    const char *in = "{\"a\": 1}{\"b\": 2} 3 [4]{]{\"c\": \"x\"} \xff {\"d\": null}";
    g_autoptr(GPtrArray) whole = frame(in, strlen(in), 0);
    g_autofree char *expected = join(whole);

    for (int keep = 0; keep <= 1; keep++) {
        for (guint every = 1; every <= 3; every++) {
            Stopper s = { g_ptr_array_new_with_free_func(g_free), every, 0 };
            g_autoptr(QmpFramer) f = qmp_framer_new(keep ? QMP_FRAMER_KEEP_TEXT : 0, stop_each, &s);
            gsize len = strlen(in), off = 0;
            guint feeds = 0;

            while (off < len) {
                s.in_feed = 0;
                gsize used = qmp_framer_feed(f, in + off, len - off);

                g_assert_cmpuint(used, >, 0);
                g_assert_cmpuint(s.in_feed, <=, every + 1); /* a byte may end two */
                off += used;
                feeds++;
            }
            qmp_framer_feed(f, " ", 1);
            g_autofree char *got = join(s.out);
            g_assert_cmpstr(got, ==, expected);
            g_assert_cmpuint(feeds, >, 1);
            g_ptr_array_unref(s.out);
        }
    }
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/framer/basic", test_basic);
    g_test_add_func("/framer/split-reads", test_split_reads);
    g_test_add_func("/framer/many-per-read", test_many_per_read);
    g_test_add_func("/framer/numbers", test_numbers);
    g_test_add_func("/framer/strings", test_strings);
    g_test_add_func("/framer/malformed", test_malformed);
    g_test_add_func("/framer/stray", test_stray);
    g_test_add_func("/framer/limit/nesting", test_nesting_limit);
    g_test_add_func("/framer/limit/token-count", test_token_count_limit);
    g_test_add_func("/framer/limit/token-size", test_token_size_limit);
    g_test_add_func("/framer/raw-released", test_raw_and_spans);
    g_test_add_func("/framer/tokens-only", test_tokens_only);
    g_test_add_func("/framer/limit/blanks-cost-nothing", test_blanks_bounded);
    g_test_add_func("/framer/stop-and-resume", test_stop_and_resume);
    return g_test_run();
}
