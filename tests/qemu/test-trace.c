/* test-trace.c - the trace file written during real hot-plug traffic:
 * every line valid JSON with the documented members, latencies that agree
 * with the timestamps, the hot-plug filter, rotation, SIGHUP, and a write
 * error that stops tracing but not the proxy. Lines are read with
 * json-glib, independently of the proxy's own JSON code. */
#include "harness.h"

#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <signal.h>
#include <string.h>

static const char *const scsi_args[] = { "-device", "virtio-scsi-pci,id=scsi0", NULL };

/* Every line of @path as a JSON object; fails the test on anything else. */
static GPtrArray *read_trace(const char *path)
{
    g_autofree char *text = NULL;
    GPtrArray *records = g_ptr_array_new_with_free_func((GDestroyNotify)json_object_unref);

    g_assert_true(g_file_get_contents(path, &text, NULL, NULL));
    g_assert_true(g_str_has_suffix(text, "\n"));
    g_auto(GStrv) lines = g_strsplit(text, "\n", -1);
    for (guint i = 0; lines[i] && lines[i][0]; i++) {
        g_autoptr(JsonParser) parser = json_parser_new();
        g_autoptr(GError) error = NULL;

        json_parser_load_from_data(parser, lines[i], -1, &error);
        g_assert_no_error(error);
        JsonNode *root = json_parser_get_root(parser);
        g_assert_true(JSON_NODE_HOLDS_OBJECT(root));
        g_ptr_array_add(records, json_object_ref(json_node_get_object(root)));
    }
    return records;
}

static const char *str(JsonObject *o, const char *member)
{
    return json_object_has_member(o, member) ? json_object_get_string_member(o, member) : NULL;
}

/* The plausibility every record must show. */
static void check_record(JsonObject *o, gint64 start_us, gint64 end_us)
{
    static const char *const dirs[] = { "client>proxy", "proxy>qemu", "qemu>proxy", "proxy>client",
                                        NULL };
    static const char *const kinds[] = { "greeting", "command", "reply", "error",
                                         "event",    "invalid", NULL };

    g_assert_cmpint(json_object_get_int_member(o, "v"), ==, 1);
    g_assert_true(g_regex_match_simple("^\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.\\d{6}Z$",
                                       str(o, "time"), 0, 0));
    gint64 mono = json_object_get_int_member(o, "mono_us");
    g_assert_cmpint(mono, >=, start_us);
    g_assert_cmpint(mono, <=, end_us);
    g_assert_true(g_strv_contains(dirs, str(o, "dir")));
    g_assert_true(g_strv_contains(kinds, str(o, "kind")));
    if (json_object_has_member(o, "client")) {
        g_assert_cmpint(json_object_get_int_member(o, "client"), >=, 1);
        g_assert_cmpint(json_object_get_int_member(o, "pid"), ==, getpid());
        g_assert_cmpint(json_object_get_int_member(o, "uid"), ==, getuid());
        g_assert_cmpstr(str(o, "exe"), ==, "test-trace");
    }
    const char *kind = str(o, "kind");
    if (g_strv_contains((const char *const[]){ "command", "reply", "error", "event", NULL },
                        kind) &&
        strcmp(str(o, "dir"), "proxy>client") != 0) {
        g_assert_nonnull(str(o, "name"));
    }
    if (strcmp(kind, "invalid") != 0) {
        g_assert_true(json_object_has_member(o, "msg"));
    }
    if ((strcmp(kind, "reply") == 0 || strcmp(kind, "error") == 0) &&
        json_object_has_member(o, "name")) {
        g_assert_cmpint(json_object_get_int_member(o, "latency_us"), >=, 0);
    }
}

typedef struct {
    TestQemu *qemu;
    TestProxy *proxy;
    char *trace;
} Traced;

static Traced *traced_start(const char *const *opts_extra)
{
    Traced *t = g_new0(Traced, 1);
    g_autoptr(GPtrArray) opts = g_ptr_array_new();

    t->qemu = test_qemu_start(scsi_args);
    t->trace = g_build_filename(t->qemu->dir, "trace.jsonl", NULL);
    g_ptr_array_add(opts, "--trace");
    g_ptr_array_add(opts, t->trace);
    for (guint i = 0; opts_extra && opts_extra[i]; i++) {
        g_ptr_array_add(opts, (char *)opts_extra[i]);
    }
    g_ptr_array_add(opts, NULL);
    t->proxy = test_proxy_start(t->qemu->qmp, t->qemu->dir, (const char *const *)opts->pdata);
    return t;
}

static void traced_free(Traced *t)
{
    test_proxy_free(t->proxy);
    test_qemu_free(t->qemu);
    g_free(t->trace);
    g_free(t);
}

/* A SCSI disk plugged and unplugged by one client while another bursts
 * queries. */
static void hotplug_session(const char *listen)
{
    g_autoptr(TestClient) runtime = test_client_connect(listen);
    g_autoptr(TestClient) busy = test_client_connect(listen);
    g_autoptr(GPtrArray) events = g_ptr_array_new_with_free_func(g_free);

    g_free(test_client_handshake(runtime, NULL));
    g_free(test_client_handshake(busy, NULL));
    for (int i = 0; i < 20; i++) {
        g_autofree char *cmd = g_strdup_printf("{\"execute\": \"query-status\", \"id\": %d}", i);
        test_client_send(busy, cmd);
    }
    g_free(test_client_cmd(runtime, "{\"execute\": \"blockdev-add\", \"arguments\": {\"driver\": "
                                    "\"null-co\", \"node-name\": \"d0\"}, \"id\": \"b\"}"));
    g_free(test_client_cmd(runtime, "{\"execute\": \"device_add\", \"arguments\": {\"driver\": "
                                    "\"scsi-hd\", \"drive\": \"d0\", \"bus\": \"scsi0.0\", \"id\": "
                                    "\"sd0\"}, \"id\": \"plug\"}"));
    test_client_send(runtime, "{\"execute\": \"device_del\", \"arguments\": {\"id\": \"sd0\"}, "
                              "\"id\": \"unplug\"}");
    g_free(test_client_recv_reply(runtime, events));
    /* SCSI unplug needs no guest: DEVICE_DELETED follows at once */
    while (events->len == 0) {
        g_ptr_array_add(events, test_client_recv_line(runtime, 10000));
        g_assert_nonnull(g_ptr_array_index(events, events->len - 1));
    }
    g_free(test_client_cmd(runtime, "{'execute': 'no-such', 'id': 'bad'}"));
    test_client_send(runtime, "@");
    g_free(test_client_recv_reply(runtime, NULL));
    for (int i = 0; i < 20; i++) {
        g_free(test_client_recv_reply(busy, NULL));
    }
}

static JsonObject *find(GPtrArray *records, const char *dir, const char *kind, const char *name)
{
    for (guint i = 0; i < records->len; i++) {
        JsonObject *o = g_ptr_array_index(records, i);

        if (g_strcmp0(str(o, "dir"), dir) == 0 && g_strcmp0(str(o, "kind"), kind) == 0 &&
            (!name || g_strcmp0(str(o, "name"), name) == 0)) {
            return o;
        }
    }
    return NULL;
}

static guint count(GPtrArray *records, const char *name)
{
    guint n = 0;

    for (guint i = 0; i < records->len; i++) {
        n += g_strcmp0(str(g_ptr_array_index(records, i), "name"), name) == 0;
    }
    return n;
}

static void test_all_messages(void)
{
    gint64 start = g_get_monotonic_time();
    Traced *t = traced_start(NULL);

    hotplug_session(t->proxy->listen);
    kill(t->proxy->pid, SIGTERM); /* the writer flushes on exit */
    g_assert_true(test_proxy_wait(t->proxy, 10000));
    gint64 end = g_get_monotonic_time();
    g_autoptr(GPtrArray) records = read_trace(t->trace);

    JsonObject *header = g_ptr_array_index(records, 0);
    g_assert_cmpstr(str(header, "kind"), ==, "header");
    g_assert_cmpstr(str(header, "filter"), ==, "all");
    g_assert_cmpstr(str(header, "upstream"), ==, t->qemu->qmp);
    for (guint i = 1; i < records->len; i++) {
        check_record(g_ptr_array_index(records, i), start, end);
    }

    /* each of the four crossings of device_add, latencies agreeing with
     * the monotonic timestamps */
    JsonObject *cmd = find(records, "client>proxy", "command", "device_add");
    JsonObject *up = find(records, "proxy>qemu", "command", "device_add");
    JsonObject *back = find(records, "qemu>proxy", "reply", "device_add");
    JsonObject *out = find(records, "proxy>client", "reply", "device_add");
    g_assert_true(cmd && up && back && out);
    g_assert_cmpstr(str(cmd, "id"), ==, "plug");
    g_assert_cmpstr(str(out, "id"), ==, "plug");
    g_assert_cmpint(json_object_get_int_member(up, "upstream_id"), >=, 1);
    gint64 t0 = json_object_get_int_member(cmd, "mono_us");
    for (JsonObject *r = back;; r = out) {
        gint64 latency = json_object_get_int_member(r, "latency_us");
        gint64 elapsed = json_object_get_int_member(r, "mono_us") - t0;

        g_assert_cmpint(latency, >, 0);
        g_assert_cmpint(elapsed - latency, >=, 0);
        g_assert_cmpint(elapsed - latency, <, 20000);
        if (r == out) {
            break;
        }
    }
    g_assert_cmpint(json_object_get_int_member(out, "latency_us"), >=,
                    json_object_get_int_member(back, "latency_us"));
    JsonObject *msg = json_object_get_object_member(out, "msg");
    g_assert_cmpstr(json_object_get_string_member(msg, "id"), ==, "plug");

    /* the event once from QEMU, once to each of the two clients */
    g_assert_nonnull(find(records, "qemu>proxy", "event", "DEVICE_DELETED"));
    g_assert_cmpuint(count(records, "DEVICE_DELETED"), >=, 3);
    /* errors and invalid input are recorded with their reason */
    JsonObject *err = find(records, "proxy>client", "error", "no-such");
    g_assert_nonnull(err);
    g_assert_cmpstr(str(err, "class"), ==, "CommandNotFound");
    JsonObject *invalid = find(records, "client>proxy", "invalid", NULL);
    g_assert_cmpstr(str(invalid, "error"), ==, "JSON parse error, stray '@'");
    g_assert_cmpuint(count(records, "query-status"), ==, 80);
    traced_free(t);
}

static void test_filter_hotplug(void)
{
    const char *const opts[] = { "--trace-filter", "hotplug", NULL };
    Traced *t = traced_start(opts);

    hotplug_session(t->proxy->listen);
    kill(t->proxy->pid, SIGTERM);
    g_assert_true(test_proxy_wait(t->proxy, 10000));
    g_autoptr(GPtrArray) records = read_trace(t->trace);

    g_assert_cmpstr(str(g_ptr_array_index(records, 0), "filter"), ==, "hotplug");
    g_assert_cmpuint(count(records, "query-status"), ==, 0);
    g_assert_cmpuint(count(records, "no-such"), ==, 0);
    g_assert_cmpuint(count(records, "qmp_capabilities"), ==, 0);
    g_assert_null(find(records, "client>proxy", "invalid", NULL));
    g_assert_cmpuint(count(records, "device_add"), ==, 4);
    g_assert_cmpuint(count(records, "device_del"), ==, 4);
    g_assert_cmpuint(count(records, "blockdev-add"), ==, 4);
    g_assert_nonnull(find(records, "qemu>proxy", "event", "DEVICE_DELETED"));
    traced_free(t);
}

static void test_rotation(void)
{
    const char *const opts[] = { "--trace-max-size", "4K", NULL };
    Traced *t = traced_start(opts);
    g_autoptr(TestClient) c = test_client_connect(t->proxy->listen);

    g_free(test_client_handshake(c, NULL));
    for (int i = 0; i < 40; i++) {
        g_free(test_client_cmd(c, "{\"execute\": \"query-status\"}"));
    }
    kill(t->proxy->pid, SIGTERM);
    g_assert_true(test_proxy_wait(t->proxy, 10000));
    g_autofree char *old = g_strconcat(t->trace, ".1", NULL);
    struct stat st;
    g_assert_cmpint(g_stat(old, &st), ==, 0);
    /* a file is cut at the first record past the limit */
    g_assert_cmpint(st.st_size, >=, 4096);
    g_assert_cmpint(st.st_size, <, 4096 + 2048);
    g_autoptr(GPtrArray) a = read_trace(old);
    g_autoptr(GPtrArray) b = read_trace(t->trace);
    g_assert_cmpstr(str(g_ptr_array_index(a, 0), "kind"), ==, "header");
    g_assert_cmpstr(str(g_ptr_array_index(b, 0), "kind"), ==, "header");
    traced_free(t);
}

static void test_sighup_reopens(void)
{
    Traced *t = traced_start(NULL);
    g_autoptr(TestClient) c = test_client_connect(t->proxy->listen);
    g_autofree char *moved = g_strconcat(t->trace, ".moved", NULL);

    g_free(test_client_handshake(c, NULL));
    g_free(test_client_cmd(c, "{\"execute\": \"query-name\", \"id\": \"before\"}"));
    /* what logrotate does: move the file, then SIGHUP */
    g_assert_cmpint(g_rename(t->trace, moved), ==, 0);
    kill(t->proxy->pid, SIGHUP);
    for (int i = 0; i < 500 && !g_file_test(t->trace, G_FILE_TEST_EXISTS); i++) {
        g_usleep(10000);
    }
    g_free(test_client_cmd(c, "{\"execute\": \"query-name\", \"id\": \"after\"}"));
    kill(t->proxy->pid, SIGTERM);
    g_assert_true(test_proxy_wait(t->proxy, 10000));

    g_autoptr(GPtrArray) before = read_trace(moved);
    g_autoptr(GPtrArray) after = read_trace(t->trace);
    g_assert_cmpstr(str(g_ptr_array_index(after, 0), "kind"), ==, "header");
    gboolean found = FALSE;
    for (guint i = 0; i < after->len; i++) {
        found |= g_strcmp0(str(g_ptr_array_index(after, i), "id"), "after") == 0;
        g_assert_cmpstr(str(g_ptr_array_index(after, i), "id"), !=, "before");
    }
    g_assert_true(found);
    g_assert_nonnull(find(before, "client>proxy", "command", "query-name"));
    traced_free(t);
}

static void test_write_error(void)
{
    g_autoptr(TestQemu) q = test_qemu_start(NULL);
    const char *const opts[] = { "--trace", "/dev/full", NULL };
    g_autoptr(TestProxy) p = test_proxy_start(q->qmp, q->dir, opts);
    g_autoptr(TestClient) c = test_client_connect(p->listen);

    g_free(test_client_handshake(c, NULL));
    for (int i = 0; i < 5; i++) {
        g_autofree char *r = test_client_cmd(c, "{\"execute\": \"query-name\", \"id\": 1}");
        g_assert_cmpstr(r, ==, "{\"return\": {}, \"id\": 1}");
    }
    /* the writer thread writes in batches, some milliseconds later (under
     * ASan and load the log could be read before it tried: a flake seen
     * in CI) */
    g_autofree char *log = NULL;
    for (int waited = 0; waited < 10000; waited += 20) {
        g_free(log);
        log = test_proxy_log(p);
        if (strstr(log, "cannot write trace file /dev/full")) {
            break;
        }
        g_usleep(20000);
    }
    g_assert_nonnull(strstr(log, "cannot write trace file /dev/full"));
    /* logged once, not per record */
    g_assert_null(strstr(strstr(log, "cannot write trace file") + 1, "cannot write trace file"));
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    test_require_qemu();
    g_test_add_func("/trace/all-messages", test_all_messages);
    g_test_add_func("/trace/filter-hotplug", test_filter_hotplug);
    g_test_add_func("/trace/rotation", test_rotation);
    g_test_add_func("/trace/sighup-reopens", test_sighup_reopens);
    g_test_add_func("/trace/write-error", test_write_error);
    return g_test_run();
}
