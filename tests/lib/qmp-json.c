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
/* @op (device-attach, query-device, ...) on device @id. */
JsonNode *test_dm(TestClient *c, const char *op, const char *id)
{
    return test_qmp_ok(c, "{\"execute\": \"__org.qmproxy_%s\", \"arguments\": {\"id\": \"%s\"}}",
                       op, id);
}

char *test_dm_fails(TestClient *c, const char *op, const char *id)
{
    return test_qmp_fails(c, "{\"execute\": \"__org.qmproxy_%s\", \"arguments\": {\"id\": \"%s\"}}",
                          op, id);
}

void test_dm_assert_counts(JsonNode *info, const char *state, gint64 attach_count,
                           gint64 reference_count)
{
    g_assert_cmpstr(test_json_str(info, "state"), ==, state);
    g_assert_cmpint(test_json_int(info, "attach-count"), ==, attach_count);
    g_assert_cmpint(test_json_int(info, "reference-count"), ==, reference_count);
}

/* Address fields exist only while QEMU has the device. */
void test_dm_assert_no_address(JsonNode *info)
{
    const char *const fields[] = {
        "index", "scsi-id", "lun", "pci-slot", "pci-path", "drive-name"
    };

    for (guint i = 0; i < G_N_ELEMENTS(fields); i++) {
        if (test_json_has(info, fields[i])) {
            g_error("%s of a detached device: %s", fields[i], json_to_string(info, FALSE));
        }
    }
}

/* The devices under /machine/peripheral, as a set of ids. */
GHashTable *test_qemu_devices(TestClient *c)
{
    g_autoptr(JsonNode) list =
        test_qmp_ok(c, "{\"execute\": \"qom-list\", \"arguments\": {\"path\": "
                       "\"/machine/peripheral\"}}");
    GHashTable *set = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    JsonArray *a = json_node_get_array(list);

    for (guint i = 0; i < json_array_get_length(a); i++) {
        JsonObject *o = json_array_get_object_element(a, i);

        if (g_str_has_prefix(json_object_get_string_member(o, "type"), "child<")) {
            g_hash_table_add(set, g_strdup(json_object_get_string_member(o, "name")));
        }
    }
    return set;
}

gboolean test_qemu_has_device(TestClient *c, const char *id)
{
    g_autoptr(GHashTable) set = test_qemu_devices(c);

    return g_hash_table_contains(set, id);
}

GHashTable *test_qemu_nodes(TestClient *c)
{
    g_autoptr(JsonNode) list = test_qmp_ok(c, "{\"execute\": \"query-named-block-nodes\"}");
    GHashTable *set = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    JsonArray *a = json_node_get_array(list);

    for (guint i = 0; i < json_array_get_length(a); i++) {
        g_hash_table_add(set, g_strdup(test_json_str(json_array_get_element(a, i), "node-name")));
    }
    return set;
}

gboolean test_qemu_has_node(TestClient *c, const char *name)
{
    g_autoptr(GHashTable) set = test_qemu_nodes(c);

    return g_hash_table_contains(set, name);
}

JsonNode *test_qom_get(TestClient *c, const char *id, const char *property)
{
    return test_qmp_ok(
        c,
        "{\"execute\": \"qom-get\", \"arguments\": {\"path\": \"/machine/peripheral/%s\", "
        "\"property\": \"%s\"}}",
        id, property);
}

gint64 test_qom_int(TestClient *c, const char *id, const char *property)
{
    g_autoptr(JsonNode) n = test_qom_get(c, id, property);

    return json_node_get_int(n);
}

char *test_qom_str(TestClient *c, const char *id, const char *property)
{
    g_autoptr(JsonNode) n = test_qom_get(c, id, property);

    return g_strdup(json_node_get_string(n));
}

/* Neither the device nor its node is left in QEMU. */
void test_qemu_assert_gone(TestClient *c, const char *id)
{
    g_autofree char *node = g_strconcat("drive-", id, NULL);

    g_assert_false(test_qemu_has_device(c, id));
    g_assert_false(test_qemu_has_node(c, node));
}

JsonNode *test_dm_entry(TestClient *c, const char *id)
{
    g_autoptr(JsonNode) all = test_qmp_ok(c, "{\"execute\": \"__org.qmproxy_query-devices\"}");
    JsonArray *list = json_node_get_array(all);

    for (guint i = 0; i < json_array_get_length(list); i++) {
        JsonNode *n = json_array_get_element(list, i);

        if (g_strcmp0(test_json_str(n, "id"), id) == 0) {
            return json_node_copy(n);
        }
    }
    return NULL;
}
