/* test-differential.c - the same bytes sent straight to QEMU and through
 * the proxy get the same answers, byte for byte (event timestamps aside).
 *
 * Two identical QEMUs run side by side, one behind the proxy. Every
 * transcript goes on a fresh connection to each; it ends with a 0xFF
 * (QEMU's documented parser reset) and a sentinel command, and the
 * answers up to the sentinel's are compared, greeting included. */
#include "harness.h"

#include <string.h>

#define SENTINEL "\xff{\"execute\": \"query-name\", \"id\": \"__end__\"}"
#define NEGOTIATE "{\"execute\": \"qmp_capabilities\"}"
#define NEGOTIATE_OOB "{\"execute\": \"qmp_capabilities\", \"arguments\": {\"enable\": [\"oob\"]}}"

#define A64 "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define LONG_KEYWORD                                                                               \
    NEGOTIATE "[" A64 A64 A64 A64 A64 A64 A64 A64 A64 A64 A64 A64 A64 A64 A64 A64 A64 "]"
#define NUL_BYTES NEGOTIATE "{\"execute\"\0: 1}\0\0{\"execute\": \"query-name\"}"

typedef struct {
    const char *name;
    const char *bytes;
    gsize len; /* 0: strlen */
} Transcript;

static const Transcript transcripts[] = {
    { "negotiate", NEGOTIATE "{\"execute\": \"query-status\", \"id\": 1}" },
    { "before-negotiation",
      "{\"execute\": \"query-status\", \"id\": 1}{\"execute\": \"qmp_capabilities\", \"id\": 2}"
      "{\"execute\": \"query-status\", \"id\": 3}" },
    { "caps-twice", NEGOTIATE "{\"execute\": \"qmp_capabilities\", \"id\": \"again\"}" },
    { "caps-oob", NEGOTIATE_OOB "{\"execute\": \"query-version\"}" },
    { "caps-unknown", "{\"execute\": \"qmp_capabilities\", \"arguments\": {\"enable\": [\"foo\"]}, "
                      "\"id\": 1}" NEGOTIATE },
    { "caps-not-list",
      "{\"execute\": \"qmp_capabilities\", \"arguments\": {\"enable\": \"oob\"}}" },
    { "caps-bad-element", "{\"execute\": \"qmp_capabilities\", \"arguments\": {\"enable\": [1]}}" },
    { "caps-extra-arg",
      "{\"execute\": \"qmp_capabilities\", \"arguments\": {\"x\": 1}, \"id\": 9}" },
    { "caps-args-list", "{\"execute\": \"qmp_capabilities\", \"arguments\": []}" },
    { "caps-oob-twice", "{\"execute\": \"qmp_capabilities\", \"arguments\": {\"enable\": "
                        "[\"oob\", \"oob\"]}, \"id\": [1]}" },
    { "caps-then-pipeline", NEGOTIATE "{\"execute\": \"query-status\", \"id\": 1}"
                                      "{\"execute\": \"query-name\", \"id\": 2}"
                                      "{\"execute\": \"query-kvm\", \"id\": 3}" },
    { "exec-oob-not-negotiated", NEGOTIATE "{\"exec-oob\": \"migrate-pause\", \"id\": 4}" },
    { "exec-oob-negotiated", NEGOTIATE_OOB "{\"exec-oob\": \"query-status\", \"id\": 4}"
                                           "{\"exec-oob\": \"migrate-pause\", \"id\": 5}" },
    { "exec-oob-and-execute",
      NEGOTIATE_OOB "{\"execute\": \"query-status\", \"exec-oob\": \"query-status\"}" },
    { "exec-oob-not-string", NEGOTIATE_OOB "{\"exec-oob\": 1, \"id\": 2}" },
    /* QEMU's own tests/qtest/qmp-test.c malformed inputs */
    { "syntax-error", NEGOTIATE "{]\n" },
    { "impossible-byte", NEGOTIATE "{\xff" },
    { "control-char", NEGOTIATE "{\x01" },
    { "impossible-byte-in-string", NEGOTIATE "{'bad \xff" },
    { "control-char-in-string", NEGOTIATE "{'execute': 'nonexistent', 'id':'\n" },
    { "interpolation", NEGOTIATE "%p" },
    { "not-a-dict", NEGOTIATE "null [] 1 \"s\" " },
    { "no-execute", NEGOTIATE "{}{\"id\": 1}" },
    { "execute-not-string", NEGOTIATE "{ 'execute': true }" },
    { "arguments-not-dict", NEGOTIATE "{ 'execute': 'no-such-cmd', 'arguments': [] }" },
    { "extra-key", NEGOTIATE "{ 'execute': 'no-such-cmd', 'extra': true }" },
    /* which offending member QEMU names first follows its hash order */
    { "two-problems", NEGOTIATE "{\"execute\": 1, \"zzz\": 2, \"aaa\": 3, \"id\": 7}"
                                "{\"arguments\": 1, \"extra\": 2, \"execute\": \"x\"}" },
    { "unknown-command", NEGOTIATE "{\"execute\": \"no-such\", \"id\": {\"z\": 1, \"a\": 2}}" },
    { "bad-arguments", NEGOTIATE "{\"execute\": \"query-status\", \"arguments\": {\"x\": 1}}"
                                 "{\"execute\": \"stop\", \"arguments\": {}, \"id\": null}" },
    { "duplicate-key", NEGOTIATE "{\"execute\": \"query-status\", \"execute\": \"x\"}" },
    { "single-quotes", NEGOTIATE "{'execute':'query-status','id':'it\\'s'}" },
    { "no-newlines-many", NEGOTIATE "{\"execute\":\"query-name\"}{\"execute\":\"query-status\"}"
                                    " \r\n\t {\"execute\":\"query-kvm\"}" },
    { "number-ids", NEGOTIATE
      "{\"execute\": \"query-name\", \"id\": 1.0}{\"execute\": \"query-name\", \"id\": -0}"
      "{\"execute\": \"query-name\", \"id\": 1e2}"
      "{\"execute\": \"query-name\", \"id\": 18446744073709551615}"
      "{\"execute\": \"query-name\", \"id\": 18446744073709551616}"
      "{\"execute\": \"query-name\", \"id\": -9223372036854775809}"
      "{\"execute\": \"query-name\", \"id\": 0.1}"
      "{\"execute\": \"query-name\", \"id\": 1E400}" },
    { "string-ids",
      NEGOTIATE "{\"execute\": \"query-name\", \"id\": \"\\u00e9\\ud83d\\ude00\\t\\/\"}"
                "{\"execute\": \"query-name\", \"id\": \"caf\xc3\xa9\"}"
                "{\"execute\": \"query-name\", \"id\": \"\xc0\x80\"}"
                "{\"execute\": \"query-name\", \"id\": [true, false, null, {}, []]}" },
    { "bad-strings", NEGOTIATE "{\"execute\": \"query-name\", \"id\": \"\\ud800\"}"
                               "{\"execute\": \"query-name\", \"id\": \"\\u12\"}"
                               "{\"execute\": \"query-name\", \"id\": \"\xed\xa0\x80\"}"
                               "{\"execute\": \"query-name\", \"id\": \"\\q\"}" },
    { "nul-bytes", NUL_BYTES, sizeof(NUL_BYTES) - 1 },
    { "reset-mid-message", NEGOTIATE "{\"execute\": \"query-\xff{\"execute\": \"query-name\"}" },
    { "stray-then-recover", NEGOTIATE "@@@ x{\"execute\": \"query-name\"}abc]" },
    { "bad-keyword", NEGOTIATE "[tru] {\"execute\": \"query-name\", \"id\": nul}" },
    { "bad-numbers", NEGOTIATE "[01] [-] [1.] [1e] [1e+] [.5] [0x1] " },
    { "events", NEGOTIATE "{\"execute\": \"cont\", \"id\": \"c\"}{\"execute\": \"stop\", \"id\": "
                          "\"s\"}" },
    { "before-negotiation-malformed", "{]{\"execute\": 1}[]{\"exec-oob\": \"x\"}" },
    /* found by differential fuzzing: QEMU answers exec-oob in the order it
     * reads them, even when the second is refused before dispatch */
    { "exec-oob-in-order",
      NEGOTIATE_OOB "{\"exec-oob\": \"x\"}{\"exec-oob\": 1}{\"exec-oob\": \"y\", \"id\": 2}" },
    /* and QEMU cuts a parse error's message at 1023 bytes */
    { "long-keyword", LONG_KEYWORD " " },
};

typedef struct {
    TestQemu *direct_qemu;
    TestQemu *proxied_qemu;
    TestProxy *proxy;
} Fixture;

static Fixture fx, fx_pretty;

/* Whether @text holds only complete JSON objects (and white space). */
static gboolean complete(const char *text)
{
    gsize len = strlen(text), off = 0, end;

    while ((end = test_json_object_end(text + off, len - off))) {
        off += end;
    }
    return text[off + strspn(text + off, " \r\n")] == 0;
}

static char *run(const char *path, const Transcript *t)
{
    g_autoptr(TestClient) c = test_client_connect(path);
    gsize len = t->len ? t->len : strlen(t->bytes);
    g_autoptr(GString) out = g_string_new(NULL);

    g_assert_nonnull(c);
    test_client_send_len(c, t->bytes, len);
    test_client_send(c, SENTINEL);
    /* up to the end of the sentinel's answer, one line or (pretty=on) many */
    for (;;) {
        g_autofree char *line = test_client_recv_line(c, 20000);

        if (!line) {
            g_string_append(out, "<no more answers>");
            break;
        }
        g_string_append(out, line);
        g_string_append(out, "\n");
        if (strstr(out->str, "\"id\": \"__end__\"") && complete(out->str)) {
            break;
        }
    }
    return test_mask_timestamps(out->str);
}

static void test_transcript(gconstpointer data)
{
    const Transcript *t = data;
    gboolean pretty = g_str_has_prefix(g_test_get_path(), "/differential-pretty/");
    Fixture *f = pretty ? &fx_pretty : &fx;
    g_autofree char *direct = run(f->direct_qemu->qmp, t);
    /* the greeting included: the proxy offers nothing QEMU does not */
    g_autofree char *proxied = run(f->proxy->listen, t);

    if (g_strcmp0(direct, proxied) != 0) {
        g_autofree char *log = test_proxy_log(f->proxy);
        g_test_message("proxy log:\n%s", log);
    }
    g_assert_cmpstr(proxied, ==, direct);
}

static void fixture_start(Fixture *f, gboolean pretty)
{
    f->direct_qemu = test_qemu_start_with(NULL, pretty);
    f->proxied_qemu = test_qemu_start_with(NULL, pretty);
    f->proxy = test_proxy_start(f->proxied_qemu->qmp, f->proxied_qemu->dir, NULL);
}

static void fixture_stop(Fixture *f)
{
    test_proxy_free(f->proxy);
    test_qemu_free(f->direct_qemu);
    test_qemu_free(f->proxied_qemu);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    test_require_qemu();

    fixture_start(&fx, FALSE);
    /* -mon ...,pretty=on: QEMU writes one member per line */
    fixture_start(&fx_pretty, TRUE);
    for (guint i = 0; i < G_N_ELEMENTS(transcripts); i++) {
        g_autofree char *path = g_strdup_printf("/differential/%s", transcripts[i].name);
        g_autofree char *pretty = g_strdup_printf("/differential-pretty/%s", transcripts[i].name);

        g_test_add_data_func(path, &transcripts[i], test_transcript);
        g_test_add_data_func(pretty, &transcripts[i], test_transcript);
    }
    int rc = g_test_run();

    fixture_stop(&fx);
    fixture_stop(&fx_pretty);
    return rc;
}
