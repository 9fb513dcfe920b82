/* test-policy.c - who may do what (issue 17), against a real QEMU: a
 * read-only socket beside the full one answers every query QEMU has,
 * refuses what changes the VM (out of band too) with QEMU's words for a
 * disabled command, and shows only what it allows in introspection; a
 * rule for a second user (made with useradd, its client run with
 * runuser); named policies from the config file, deny over allow; bad
 * policies refused at start; the trace says which policy refused what. */
#include "qmp-json.h"

#include <glib/gstdio.h>
#include <pwd.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define TEST_USER "qmproxy-policy"

typedef struct {
    TestQemu *qemu;
    TestProxy *proxy;
    char *ro;    /* the read-only socket */
    char *trace; /* the trace file */
} Rig;

static void rig_start(Rig *r, const char *const *more)
{
    g_autoptr(GPtrArray) opts = g_ptr_array_new_with_free_func(g_free);

    r->qemu = test_qemu_start(NULL);
    r->ro = g_build_filename(r->qemu->dir, "ro.sock", NULL);
    r->trace = g_build_filename(r->qemu->dir, "trace.jsonl", NULL);
    g_ptr_array_add(opts, g_strdup("--listen-also"));
    g_ptr_array_add(opts, g_strconcat(r->ro, ":read-only", NULL));
    g_ptr_array_add(opts, g_strdup("--trace"));
    g_ptr_array_add(opts, g_strdup(r->trace));
    for (guint i = 0; more && more[i]; i++) {
        g_ptr_array_add(opts, g_strdup(more[i]));
    }
    g_ptr_array_add(opts, NULL);
    r->proxy = test_proxy_start(r->qemu->qmp, r->qemu->dir, (const char *const *)opts->pdata);
}

static void rig_stop(Rig *r)
{
    test_proxy_free(r->proxy);
    test_qemu_free(r->qemu);
    g_free(r->ro);
    g_free(r->trace);
}

static TestClient *client(const char *path, const char *caps)
{
    TestClient *c = test_client_connect(path);

    g_assert_nonnull(c);
    g_free(test_client_handshake(c, caps));
    return c;
}

static char *refusal(const char *command, const char *policy)
{
    return g_strdup_printf(
        "{\"error\": {\"class\": \"CommandNotFound\", \"desc\": \"Command %s has "
        "been disabled: the %s policy of this QMP socket does not allow it\"}}",
        command, policy);
}

/* QEMU's command names, as the full socket lists them. */
static GPtrArray *command_names(TestClient *c)
{
    g_autoptr(JsonNode) list = test_qmp_ok(c, "{\"execute\": \"query-commands\"}");
    JsonArray *a = json_node_get_array(list);
    GPtrArray *names = g_ptr_array_new_with_free_func(g_free);

    for (guint i = 0; i < json_array_get_length(a); i++) {
        g_ptr_array_add(names, g_strdup(json_object_get_string_member(
                                   json_array_get_object_element(a, i), "name")));
    }
    return names;
}

static gboolean has_name(GPtrArray *names, const char *name)
{
    for (guint i = 0; i < names->len; i++) {
        if (strcmp(g_ptr_array_index(names, i), name) == 0) {
            return TRUE;
        }
    }
    return FALSE;
}

static void test_read_only_socket(void)
{
    Rig r;

    rig_start(&r, NULL);
    g_autoptr(TestClient) full = client(r.proxy->listen, NULL);
    g_autoptr(TestClient) ro = client(r.ro, NULL);
    g_autoptr(GPtrArray) all = command_names(full);

    /* every query QEMU has is answered (by QEMU: some want arguments) */
    guint queries = 0;
    for (guint i = 0; i < all->len; i++) {
        const char *name = g_ptr_array_index(all, i);

        if (!g_str_has_prefix(name, "query-") || !strcmp(name, "query-rx-filter") ||
            !strcmp(name, "query-sev-attestation-report")) {
            continue;
        }
        g_autofree char *cmd = g_strdup_printf("{\"execute\": \"%s\"}", name);
        g_autofree char *reply = test_client_cmd(ro, cmd);
        g_assert_null(strstr(reply, "has been disabled"));
        queries++;
    }
    g_test_message("%u query commands answered on the read-only socket", queries);
    g_assert_cmpuint(queries, >, 50);

    /* what changes the VM never reaches QEMU */
    static const char *const refused[] = {
        "stop", "device_add", "quit", "human-monitor-command", "__org.qmproxy_device-attach",
        "getfd"
    };
    for (guint i = 0; i < G_N_ELEMENTS(refused); i++) {
        g_autofree char *cmd = g_strdup_printf(
            "{\"execute\": \"%s\", \"arguments\": {\"x\": 1}, \"id\": %u}", refused[i], i);
        g_autofree char *reply = test_client_cmd(ro, cmd);
        g_autofree char *want = refusal(refused[i], "read-only");
        g_autofree char *with_id = g_strdup_printf("{\"id\": %u, %s", i, want + 1);

        g_assert_cmpstr(reply, ==, with_id);
    }
    /* out of band too */
    g_autoptr(TestClient) ro_oob = client(r.ro, "{\"enable\": [\"oob\"]}");
    g_autofree char *oob = test_client_cmd(ro_oob, "{\"exec-oob\": \"migrate-pause\", \"id\": 1}");
    g_assert_nonnull(strstr(oob, "Command migrate-pause has been disabled"));
    g_autofree char *status = test_client_cmd(full, "{\"execute\": \"query-status\"}");
    g_assert_true(g_str_has_prefix(status, "{\"return\": {\"status\": \"prelaunch\""));

    /* introspection on it: only what it allows, events all there */
    g_autoptr(GPtrArray) listed = command_names(ro);
    g_assert_true(has_name(listed, "query-status"));
    g_assert_true(has_name(listed, "qom-get"));
    g_assert_true(has_name(listed, "__org.qmproxy_query-devices"));
    g_assert_false(has_name(listed, "quit"));
    g_assert_false(has_name(listed, "device_add"));
    g_assert_false(has_name(listed, "__org.qmproxy_device-attach"));
    for (guint i = 0; i < listed->len; i++) {
        const char *name = g_ptr_array_index(listed, i);

        g_assert_true(
            g_str_has_prefix(name, "query-") || g_str_has_prefix(name, "x-") ||
            g_str_has_prefix(name, "qom-") || g_str_has_prefix(name, "__org.qmproxy_query-") ||
            !strcmp(name, "qmp_capabilities") || !strcmp(name, "device-list-properties") ||
            !strcmp(name, "trace-event-get-state"));
    }
    g_autoptr(JsonNode) schema = test_qmp_ok(ro, "{\"execute\": \"query-qmp-schema\"}");
    JsonArray *entries = json_node_get_array(schema);
    guint commands = 0, events = 0;
    for (guint i = 0; i < json_array_get_length(entries); i++) {
        JsonObject *e = json_array_get_object_element(entries, i);
        const char *meta = json_object_get_string_member(e, "meta-type");

        if (!strcmp(meta, "command")) {
            g_assert_true(has_name(listed, json_object_get_string_member(e, "name")));
            commands++;
        }
        events += !strcmp(meta, "event");
    }
    g_assert_cmpuint(commands, ==, listed->len);
    g_assert_cmpuint(events, >, 40);

    /* the trace says who refused what */
    g_autofree char *trace = NULL;
    g_assert_true(g_file_get_contents(r.trace, &trace, NULL, NULL));
    g_assert_nonnull(strstr(trace, "\"name\": \"quit\""));
    g_assert_nonnull(strstr(trace, "\"refused_by\": \"read-only\""));
    /* and the full socket is what it was */
    g_autofree char *stop = test_client_cmd(full, "{\"execute\": \"stop\"}");
    g_assert_cmpstr(stop, ==, "{\"return\": {}}");
    rig_stop(&r);
}

static void test_named_policies(void)
{
    g_autoptr(TestQemu) q = test_qemu_start(NULL);
    g_autofree char *conf = g_build_filename(q->dir, "qmproxy.conf", NULL);
    g_autofree char *exp = g_build_filename(q->dir, "exporter.sock", NULL);
    g_autofree char *nostat = g_build_filename(q->dir, "nostat.sock", NULL);
    g_autofree char *exp_spec = g_strconcat(exp, ":exporter", NULL);
    g_autofree char *nostat_spec = g_strconcat(nostat, ":no-status", NULL);
    const char *text = "[policy exporter]\nallow = query-blockstats;query-cpus-*\n"
                       "[policy no-status]\nallow = query-*\ndeny = query-status\n";
    g_assert_true(g_file_set_contents(conf, text, -1, NULL));
    const char *const opts[] = { "--config",  conf, "--listen-also", exp_spec, "--listen-also",
                                 nostat_spec, NULL };
    g_autoptr(TestProxy) p = test_proxy_start(q->qmp, q->dir, opts);
    g_autoptr(TestClient) e = client(exp, NULL);
    g_autoptr(TestClient) n = client(nostat, NULL);

    g_autofree char *stats = test_client_cmd(e, "{\"execute\": \"query-blockstats\"}");
    g_assert_true(g_str_has_prefix(stats, "{\"return\": ["));
    g_autofree char *cpus = test_client_cmd(e, "{\"execute\": \"query-cpus-fast\"}");
    g_assert_true(g_str_has_prefix(cpus, "{\"return\": ["));
    g_autofree char *status = test_client_cmd(e, "{\"execute\": \"query-status\"}");
    g_autofree char *want = refusal("query-status", "exporter");
    g_assert_cmpstr(status, ==, want);
    /* a deny wins over an allow */
    g_autofree char *denied = test_client_cmd(n, "{\"execute\": \"query-status\"}");
    g_autofree char *want_n = refusal("query-status", "no-status");
    g_assert_cmpstr(denied, ==, want_n);
    g_autofree char *name = test_client_cmd(n, "{\"execute\": \"query-name\"}");
    g_assert_cmpstr(name, ==, "{\"return\": {}}");
}

static void test_bad_policies(void)
{
    g_autoptr(TestQemu) q = test_qemu_start(NULL);
    g_autofree char *conf = g_build_filename(q->dir, "bad.conf", NULL);
    g_autofree char *listen = g_build_filename(q->dir, "proxy.sock", NULL);
    g_autofree char *also = g_build_filename(q->dir, "x.sock:nosuch", NULL);
    static const struct {
        const char *conf;
        const char *opt, *value;
        const char *message;
    } cases[] = {
        { NULL, "--listen-also", NULL, "no policy named 'nosuch'" },
        { NULL, "--listen-policy", "nosuch", "--listen-policy: no policy named 'nosuch'" },
        { NULL, "--policy-uid", "x:read-only", "--policy-uid: 'x' is not a number" },
        { "[policy p]\nallow = query-$\n", NULL, NULL,
          "policy p: 'query-$' is not a command name" },
        { "[policy p]\nallow = a\nmaybe = b\n", NULL, NULL, "[policy p]: unknown key 'maybe'" },
        { "[policy read-only]\nallow = a\n", NULL, NULL, "there is a policy of that name already" },
    };

    for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autoptr(GPtrArray) opts = g_ptr_array_new();

        if (cases[i].conf) {
            g_assert_true(g_file_set_contents(conf, cases[i].conf, -1, NULL));
            g_ptr_array_add(opts, "--config");
            g_ptr_array_add(opts, conf);
        } else {
            g_ptr_array_add(opts, (char *)cases[i].opt);
            g_ptr_array_add(opts, (char *)(cases[i].value ? cases[i].value : also));
        }
        g_ptr_array_add(opts, NULL);
        g_autoptr(TestProxy) p = test_proxy_spawn(q->qmp, listen, (const char *const *)opts->pdata);

        g_assert_true(test_proxy_wait(p, 10000));
        g_assert_true(WIFEXITED(p->status) && WEXITSTATUS(p->status) == 2);
        g_autofree char *log = test_proxy_log(p);
        if (!strstr(log, cases[i].message)) {
            g_error("case %u: '%s' not in: %s", i, cases[i].message, log);
        }
        g_assert_false(g_file_test(listen, G_FILE_TEST_EXISTS));
    }
}

/* The body of test_uid_rule(), in a process of its own. */
static void uid_rule_body(void)
{
    g_autofree char *runuser = g_find_program_in_path("runuser");
    g_autofree char *socat = g_find_program_in_path("socat");
    struct passwd *pw = getpwnam(TEST_USER);

    g_assert_nonnull(pw);
    g_autofree char *rule = g_strdup_printf("%u:read-only", (unsigned)pw->pw_uid);
    g_autoptr(TestQemu) q = test_qemu_start(NULL);
    /* the test's directory must be reachable for the other user */
    g_assert_cmpint(chmod(q->dir, 0755), ==, 0);
    const char *const opts[] = { "--socket-mode", "0666", "--policy-uid", rule, NULL };
    g_autoptr(TestProxy) p = test_proxy_start(q->qmp, q->dir, opts);
    g_autofree char *addr = g_strdup_printf("UNIX-CONNECT:%s", p->listen);
    g_autofree char *in_path = g_build_filename(q->dir, "input", NULL);
    g_autofree char *out = NULL;
    gint status;

    g_assert_true(g_file_set_contents(in_path,
                                      "{\"execute\": \"qmp_capabilities\"}\n"
                                      "{\"execute\": \"query-status\"}\n{\"execute\": \"stop\"}\n",
                                      -1, NULL));
    g_autofree char *shell = g_strdup_printf("'%s' -u %s -- '%s' -t 2 - '%s' < '%s'", runuser,
                                             TEST_USER, socat, addr, in_path);
    g_assert_true(g_spawn_sync(NULL, (char *[]){ "sh", "-c", shell, NULL }, NULL,
                               G_SPAWN_SEARCH_PATH, NULL, NULL, &out, NULL, &status, NULL));
    g_assert_nonnull(strstr(out, "\"status\": \"prelaunch\""));
    g_assert_nonnull(strstr(out, "Command stop has been disabled: the read-only policy"));
    /* root on the same socket is not held to it */
    g_autoptr(TestClient) c = client(p->listen, NULL);
    g_autofree char *stop = test_client_cmd(c, "{\"execute\": \"stop\"}");
    g_assert_cmpstr(stop, ==, "{\"return\": {}}");
    g_autofree char *log = test_proxy_log(p);
    g_autofree char *line = g_strdup_printf("uid %u gid", (unsigned)pw->pw_uid);
    g_assert_nonnull(strstr(log, line));
    g_assert_nonnull(strstr(log, "; policy read-only"));
}

static gboolean run_tool(const char *const *argv)
{
    gint status;

    return g_spawn_sync(NULL, (char **)argv, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, NULL, NULL,
                        &status, NULL) &&
           g_spawn_check_wait_status(status, NULL);
}

/* A rule for a peer's uid, whatever socket it comes through: a second
 * user made for the test (the one change to the machine), removed after
 * whatever the body did. */
static void test_uid_rule(void)
{
    g_autofree char *runuser = g_find_program_in_path("runuser");
    g_autofree char *socat = g_find_program_in_path("socat");
    gboolean made = FALSE;

    if (g_test_subprocess()) {
        uid_rule_body();
        return;
    }
    if (geteuid() != 0 || !runuser || !socat) {
        g_test_skip("needs root, runuser and socat");
        return;
    }
    if (!getpwnam(TEST_USER)) {
        g_assert_true(
            run_tool((const char *const[]){ "useradd", "--system", "--no-create-home", "--shell",
                                            "/usr/sbin/nologin", TEST_USER, NULL }));
        made = TRUE;
    }
    g_test_trap_subprocess(NULL, 60 * G_USEC_PER_SEC,
                           G_TEST_SUBPROCESS_INHERIT_STDOUT | G_TEST_SUBPROCESS_INHERIT_STDERR);
    if (made) {
        g_assert_true(run_tool((const char *const[]){ "userdel", TEST_USER, NULL }));
    }
    g_test_trap_assert_passed();
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    test_require_qemu();
    g_test_add_func("/policy/read-only-socket", test_read_only_socket);
    g_test_add_func("/policy/named", test_named_policies);
    g_test_add_func("/policy/bad", test_bad_policies);
    g_test_add_func("/policy/uid-rule", test_uid_rule);
    return g_test_run();
}
