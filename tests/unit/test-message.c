/* test-message.c - request checks, reply layout and id splicing: the
 * pieces that make routed replies indistinguishable from QEMU's. */
#include "framer.h"
#include "message.h"
#include "writer.h"

#include <string.h>

typedef struct {
    QmpValue *value;
    char *raw;
    gsize raw_len;
} Parsed;

/* Test inputs start with their first token, so spans and text agree. */
static Parsed parse(const char *text)
{
    Parsed p = { qmp_json_parse(text, strlen(text)), g_strdup(text), strlen(text) };

    g_assert_nonnull(p.value);
    return p;
}

static void parsed_clear(Parsed *p)
{
    qmp_value_unref(p->value);
    g_free(p->raw);
}

static void check_splice(const char *in, const char *id, const char *expected)
{
    Parsed p = parse(in);
    g_autoptr(GString) out = qmp_message_with_id(p.raw, p.raw_len, p.value, id);

    g_assert_cmpstr(out->str, ==, expected);
    parsed_clear(&p);
}

static void test_splice_replace(void)
{
    check_splice("{\"return\": {}, \"id\": 17}", "\"mine\"", "{\"return\": {}, \"id\": \"mine\"}");
    check_splice(
        "{\"id\": 17, \"error\": {\"class\": \"GenericError\", \"desc\": \"x\"}}",
        "[1, {\"a\": 2}]",
        "{\"id\": [1, {\"a\": 2}], \"error\": {\"class\": \"GenericError\", \"desc\": \"x\"}}");
    /* client text keeps everything but the id: quotes, spacing, numbers */
    check_splice("{ 'execute' :'x', 'id':'a', 'arguments':{'v':1.0} }", "5",
                 "{ 'execute' :'x', 'id':5, 'arguments':{'v':1.0} }");
}

static void test_splice_insert(void)
{
    check_splice("{'execute':'query-status'}", "9", "{\"id\":9,'execute':'query-status'}");
}

static void test_splice_remove(void)
{
    check_splice("{\"return\": {}, \"id\": 17}", NULL, "{\"return\": {}}");
    check_splice("{\"id\": 17, \"error\": {\"class\": \"C\", \"desc\": \"d\"}}", NULL,
                 "{\"error\": {\"class\": \"C\", \"desc\": \"d\"}}");
    check_splice("{\"a\": 1, \"id\": 2, \"b\": 3}", NULL, "{\"a\": 1, \"b\": 3}");
    /* QEMU's pretty=on layout, CRLF line ends */
    check_splice("{\r\n    \"return\": {\r\n    },\r\n    \"id\": 3\r\n}", NULL,
                 "{\r\n    \"return\": {\r\n    }\r\n}");
    check_splice("{\r\n    \"id\": 3,\r\n    \"error\": {\r\n    }\r\n}", NULL,
                 "{\r\n    \"error\": {\r\n    }\r\n}");
}

static char *check_error(const char *text, gboolean allow_oob)
{
    Parsed p = parse(text);
    QmpRequest req;
    char *problem = NULL;

    g_assert_false(qmp_request_check(p.value, allow_oob, &req, &problem));
    parsed_clear(&p);
    return problem;
}

static void test_request_check(void)
{
    struct {
        const char *in;
        gboolean oob;
        const char *error;
    } cases[] = {
        { "[]", FALSE, "QMP input must be a JSON object" },
        { "{}", FALSE, "QMP input lacks member 'execute'" },
        { "{\"execute\": 1}", FALSE, "QMP input member 'execute' must be a string" },
        { "{\"execute\": \"x\", \"arguments\": []}", FALSE,
          "QMP input member 'arguments' must be an object" },
        { "{\"execute\": \"x\", \"foo\": 1}", FALSE, "QMP input member 'foo' is unexpected" },
        { "{\"exec-oob\": \"x\"}", FALSE, "QMP input member 'exec-oob' is unexpected" },
        { "{\"exec-oob\": 2}", TRUE, "QMP input member 'exec-oob' must be a string" },
        /* QDict order puts 'exec-oob' first, whatever the text's order
         * (checked against QEMU 7.2) */
        { "{\"execute\": \"y\", \"exec-oob\": \"x\"}", TRUE,
          "QMP input member 'execute' clashes with 'exec-oob'" },
    };

    for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autofree char *problem = check_error(cases[i].in, cases[i].oob);
        g_assert_cmpstr(problem, ==, cases[i].error);
    }

    Parsed p = parse("{\"exec-oob\": \"migrate-pause\", \"id\": 3}");
    QmpRequest req;
    char *problem = NULL;
    g_assert_true(qmp_request_is_oob(p.value));
    g_assert_true(qmp_request_check(p.value, TRUE, &req, &problem));
    g_assert_cmpstr(req.command, ==, "migrate-pause");
    g_assert_true(req.oob);
    g_assert_cmpint(qmp_value_get_int(req.id), ==, 3);
    parsed_clear(&p);
}

static void test_reply_layout(void)
{
    g_autoptr(QmpValue) id = qmp_value_new_string("x");
    g_autoptr(QmpValue) empty = qmp_value_new_dict();
    g_autoptr(GString) err = qmp_reply_error(QMP_CLASS_GENERIC, "bad \"thing\"", id, FALSE);
    g_autoptr(GString) ret = qmp_reply_return(empty, id, FALSE);
    g_autoptr(GString) pretty = qmp_reply_return(empty, NULL, TRUE);
    g_autoptr(GString) noid = qmp_reply_error(QMP_CLASS_COMMAND_NOT_FOUND, "n", NULL, FALSE);

    /* QEMU's own bytes for these, QDict bucket order included */
    g_assert_cmpstr(err->str, ==,
                    "{\"id\": \"x\", \"error\": {\"class\": \"GenericError\", \"desc\": "
                    "\"bad \\\"thing\\\"\"}}\r\n");
    g_assert_cmpstr(ret->str, ==, "{\"return\": {}, \"id\": \"x\"}\r\n");
    g_assert_cmpstr(pretty->str, ==, "{\r\n    \"return\": {\r\n    }\r\n}\r\n");
    g_assert_cmpstr(noid->str, ==,
                    "{\"error\": {\"class\": \"CommandNotFound\", \"desc\": \"n\"}}\r\n");
}

static void test_member_in_pretty_reply(void)
{
    Parsed p = parse("{\"b\": [1], \"a\": {}}");
    g_autofree char *compact = qmp_json_member_to_string(p.value, FALSE);
    g_autofree char *pretty = qmp_json_member_to_string(p.value, TRUE);
    g_autofree char *crlf = qmp_monitor_text(pretty);

    /* as QEMU writes an id inside a pretty reply: one level deeper */
    g_assert_cmpstr(compact, ==, "{\"a\": {}, \"b\": [1]}");
    g_assert_cmpstr(crlf, ==,
                    "{\r\n        \"a\": {\r\n        },\r\n        \"b\": [\r\n            1\r\n"
                    "        ]\r\n    }");
    parsed_clear(&p);
}

static void check_extend(const char *in, gboolean pretty, const char *expected)
{
    Parsed p = parse(in);
    Parsed items = parse("[{\"name\": \"x\"}, 7]");
    g_autoptr(GString) out =
        qmp_message_extend_return(p.raw, p.raw_len, p.value, items.value, pretty);

    g_assert_nonnull(out);
    g_assert_cmpstr(out->str, ==, expected);
    parsed_clear(&p);
    parsed_clear(&items);
}

static void test_extend_return(void)
{
    check_extend("{\"return\": [{\"name\": \"a\"}], \"id\": 1}", FALSE,
                 "{\"return\": [{\"name\": \"a\"}, {\"name\": \"x\"}, 7], \"id\": 1}");
    check_extend("{\"return\": []}", FALSE, "{\"return\": [{\"name\": \"x\"}, 7]}");
    /* QEMU's pretty=on layout */
    check_extend(
        "{\r\n    \"return\": [\r\n        {\r\n            \"name\": \"a\"\r\n        }\r\n    "
        "]\r\n}",
        TRUE,
        "{\r\n    \"return\": [\r\n        {\r\n            \"name\": \"a\"\r\n        },\r\n"
        "        {\r\n            \"name\": \"x\"\r\n        },\r\n        7\r\n    ]\r\n}");
    check_extend(
        "{\r\n    \"return\": [\r\n    ]\r\n}", TRUE,
        "{\r\n    \"return\": [\r\n        {\r\n            \"name\": \"x\"\r\n        },\r\n"
        "        7\r\n    ]\r\n}");
}

static void test_writer(void)
{
    Parsed p = parse("{\"b\": [1, 2.5, \"\\u00e9\\ud83d\\ude00\\u0001\"], \"a\": {}, \"c\": []}");
    g_autofree char *compact = qmp_json_to_string(p.value, FALSE);
    g_autofree char *pretty = qmp_json_to_string(p.value, TRUE);

    g_assert_cmpstr(compact, ==,
                    "{\"a\": {}, \"b\": [1, 2.5, \"\\u00E9\\uD83D\\uDE00\\u0001\"], \"c\": []}");
    g_assert_cmpstr(pretty, ==,
                    "{\n    \"a\": {\n    },\n    \"b\": [\n        1,\n        2.5,\n        "
                    "\"\\u00E9\\uD83D\\uDE00\\u0001\"\n    ],\n    \"c\": [\n    ]\n}");
    parsed_clear(&p);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/message/splice/replace", test_splice_replace);
    g_test_add_func("/message/splice/insert", test_splice_insert);
    g_test_add_func("/message/splice/remove", test_splice_remove);
    g_test_add_func("/message/request-check", test_request_check);
    g_test_add_func("/message/reply-layout", test_reply_layout);
    g_test_add_func("/message/writer", test_writer);
    g_test_add_func("/message/extend-return", test_extend_return);
    g_test_add_func("/message/member-in-pretty-reply", test_member_in_pretty_reply);
    return g_test_run();
}
