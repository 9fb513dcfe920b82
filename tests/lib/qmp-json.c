/* qmp-json.c - QMP replies read with json-glib (see qmp-json.h). */
#include "qmp-json.h"

#include <fcntl.h>
#include <unistd.h>

JsonNode *test_json_parse(const char *text)
{
    g_autoptr(JsonParser) parser = json_parser_new();
    g_autoptr(GError) error = NULL;

    if (!json_parser_load_from_data(parser, text, -1, &error)) {
        g_error("not JSON (%s): %s", error->message, text);
    }
    return json_node_copy(json_parser_get_root(parser));
}

JsonNode *test_qmp_reply(const char *cmd, const char *text, gboolean want_ok)
{
    g_autoptr(JsonNode) reply = test_json_parse(text);
    JsonObject *o = json_node_get_object(reply);

    if (want_ok && json_object_has_member(o, "return")) {
        return json_node_copy(json_object_get_member(o, "return"));
    }
    if (!want_ok && json_object_has_member(o, "error")) {
        JsonObject *e = json_object_get_object_member(o, "error");
        g_autofree char *s = g_strdup_printf("%s: %s", json_object_get_string_member(e, "class"),
                                             json_object_get_string_member(e, "desc"));
        return json_node_init_string(json_node_alloc(), s);
    }
    g_error("%s\n  -> %s\n  (expected %s)", cmd, text, want_ok ? "success" : "an error");
}

JsonNode *test_qmp_ok(TestClient *c, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    g_autofree char *cmd = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    g_autofree char *text = test_client_cmd(c, cmd);
    return test_qmp_reply(cmd, text, TRUE);
}

char *test_qmp_fails(TestClient *c, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    g_autofree char *cmd = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    g_autofree char *text = test_client_cmd(c, cmd);
    g_autoptr(JsonNode) e = test_qmp_reply(cmd, text, FALSE);
    return g_strdup(json_node_get_string(e));
}

gboolean test_json_has(JsonNode *n, const char *member)
{
    return json_object_has_member(json_node_get_object(n), member);
}

const char *test_json_str(JsonNode *n, const char *member)
{
    return test_json_has(n, member) ? json_object_get_string_member(json_node_get_object(n), member)
                                    : NULL;
}

gint64 test_json_int(JsonNode *n, const char *member)
{
    return test_json_has(n, member) ? json_object_get_int_member(json_node_get_object(n), member)
                                    : -1;
}

gboolean test_json_bool(JsonNode *n, const char *member)
{
    g_assert_true(test_json_has(n, member));
    return json_object_get_boolean_member(json_node_get_object(n), member);
}

char *test_make_image(const char *dir, const char *name)
{
    char *path = g_build_filename(dir, name, NULL);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

    g_assert_cmpint(fd, >=, 0);
    g_assert_cmpint(ftruncate(fd, 1 << 20), ==, 0);
    close(fd);
    return path;
}
