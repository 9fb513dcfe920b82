/* test-multiclient.c - many clients on one QEMU: colliding ids, pipelines,
 * events to every negotiated client, clients that vanish or stop reading. */
#include "fixture.h"
#include "harness.h"

#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static TestQemu *qemu;
static TestProxy *proxy;

/* QEMU writes "id" last in successes and first in errors (QDict order). */
static gboolean has_id(const char *reply, int id)
{
    g_autofree char *last = g_strdup_printf(", \"id\": %d}", id);
    g_autofree char *first = g_strdup_printf("{\"id\": %d, ", id);

    return g_str_has_suffix(reply, last) || g_str_has_prefix(reply, first);
}

static TestClient *negotiated(void)
{
    TestClient *c = test_fixture_client_at(proxy->listen, NULL);
    return c;
}

static const char *const commands[] = { "query-status", "query-name", "no-such-command",
                                        "query-kvm" };

static void test_colliding_ids(void)
{
    enum { CLIENTS = 4, DEPTH = 50 };
    TestClient *c[CLIENTS];

    for (int i = 0; i < CLIENTS; i++) {
        c[i] = negotiated();
    }
    /* every client uses the same ids, all pipelined before any reply */
    for (int n = 0; n < DEPTH; n++) {
        for (int i = 0; i < CLIENTS; i++) {
            g_autofree char *cmd =
                g_strdup_printf("{\"execute\": \"%s\", \"id\": %d}", commands[(n + i) % 4], n);
            test_client_send(c[i], cmd);
        }
    }
    for (int i = 0; i < CLIENTS; i++) {
        for (int n = 0; n < DEPTH; n++) {
            g_autofree char *reply = test_client_recv_reply(c[i], NULL);
            const char *cmd = commands[(n + i) % 4];

            /* in order, with the client's own id, and the answer to its
             * own command (only no-such-command fails) */
            g_assert_true(has_id(reply, n));
            g_assert_true((strstr(reply, "CommandNotFound") != NULL) ==
                          (strcmp(cmd, "no-such-command") == 0));
        }
    }
    for (int i = 0; i < CLIENTS; i++) {
        test_client_free(c[i]);
    }
}

static void test_id_any_json(void)
{
    g_autoptr(TestClient) a = negotiated();
    g_autoptr(TestClient) b = negotiated();

    /* absent stays absent; any JSON value comes back as QEMU echoes it */
    test_client_send(a, "{\"execute\": \"query-name\"}");
    test_client_send(b, "{\"execute\": \"query-name\", \"id\": {\"b\": [1.50], \"a\": null}}");
    test_client_send(a, "{\"execute\": \"query-name\", \"id\": \"x\"}");
    g_autofree char *r1 = test_client_recv_reply(a, NULL);
    g_autofree char *r2 = test_client_recv_reply(b, NULL);
    g_autofree char *r3 = test_client_recv_reply(a, NULL);
    g_assert_cmpstr(r1, ==, "{\"return\": {}}");
    g_assert_cmpstr(r2, ==, "{\"return\": {}, \"id\": {\"a\": null, \"b\": [1.5]}}");
    g_assert_cmpstr(r3, ==, "{\"return\": {}, \"id\": \"x\"}");
}

static gboolean has_event(GPtrArray *events, const char *name)
{
    g_autofree char *needle = g_strdup_printf("\"event\": \"%s\"", name);

    for (guint i = 0; i < events->len; i++) {
        if (strstr(g_ptr_array_index(events, i), needle)) {
            return TRUE;
        }
    }
    return FALSE;
}

static void test_events_to_all(void)
{
    g_autoptr(TestClient) a = negotiated();
    g_autoptr(TestClient) b = negotiated();
    g_autoptr(TestClient) late = test_client_connect(proxy->listen);
    g_autoptr(GPtrArray) ev_b = g_ptr_array_new_with_free_func(g_free);
    g_autoptr(GPtrArray) ev_late = g_ptr_array_new_with_free_func(g_free);

    g_free(test_client_recv_line(late, 5000)); /* greeting only */
    g_free(test_client_cmd(a, "{\"execute\": \"cont\"}"));
    g_free(test_client_cmd(a, "{\"execute\": \"stop\"}"));
    /* the events reached b too, ahead of its next reply */
    test_client_send(b, "{\"execute\": \"query-status\"}");
    g_free(test_client_recv_reply(b, ev_b));
    g_assert_true(has_event(ev_b, "RESUME"));
    g_assert_true(has_event(ev_b, "STOP"));

    /* QEMU sends events only to negotiated monitors */
    test_client_send(late, "{\"execute\": \"qmp_capabilities\"}");
    g_autofree char *reply = test_client_recv_reply(late, ev_late);
    g_assert_cmpstr(reply, ==, "{\"return\": {}}");
    g_assert_cmpuint(ev_late->len, ==, 0);
}

static void test_client_killed_mid_pipeline(void)
{
    g_autoptr(TestClient) steady = negotiated();
    TestClient *victim = negotiated();
    struct linger lg = { 1, 0 };

    for (int n = 0; n < 200; n++) {
        test_client_send(victim, "{\"execute\": \"query-status\", \"id\": 1}");
        if (n % 10 == 0) {
            g_autofree char *cmd = g_strdup_printf("{\"execute\": \"query-name\", \"id\": %d}", n);
            test_client_send(steady, cmd);
        }
    }
    /* abortive close: RST, replies still in flight */
    setsockopt(victim->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
    test_client_free(victim);

    for (int n = 0; n < 200; n += 10) {
        g_autofree char *reply = test_client_recv_reply(steady, NULL);
        g_assert_true(has_id(reply, n));
    }
    /* the proxy is alive and serves newcomers */
    g_autoptr(TestClient) fresh = negotiated();
    g_autofree char *reply =
        test_client_cmd(fresh, "{\"execute\": \"query-name\", \"id\": \"ok\"}");
    g_assert_cmpstr(reply, ==, "{\"return\": {}, \"id\": \"ok\"}");
    g_assert_false(test_proxy_wait(proxy, 0));
}

static void test_oob(void)
{
    g_autoptr(TestClient) c = test_client_connect(proxy->listen);

    g_free(test_client_handshake(c, "{\"enable\": [\"oob\"]}"));
    g_autofree char *reply = test_client_cmd(c, "{\"exec-oob\": \"migrate-pause\", \"id\": 1}");
    g_assert_true(g_str_has_prefix(reply, "{\"id\": 1, \"error\": "));
    g_assert_nonnull(strstr(reply, "postcopy"));
}

static void test_fair_turns(void)
{
    g_autoptr(TestClient) hog = negotiated();
    g_autoptr(TestClient) other = negotiated();
    g_autoptr(GString) burst = g_string_new(NULL);
    g_autoptr(GPtrArray) events = g_ptr_array_new_with_free_func(g_free);

    /* 80 commands in one write; each emits an event to every client, in
     * the order QEMU runs them */
    for (int i = 0; i < 40; i++) {
        g_string_append(burst, "{\"execute\": \"cont\"}{\"execute\": \"stop\"}");
    }
    test_client_send(hog, burst->str);
    g_free(test_client_recv_reply(hog, NULL)); /* the proxy has read them */

    /* the other client's request takes its turn among them, as with
     * QEMU's own monitors, rather than waiting for all eighty: the events
     * it sees before its reply tell how many ran first */
    test_client_send(other, "{\"execute\": \"query-name\", \"id\": 1}");
    g_autofree char *reply = test_client_recv_reply(other, events);
    g_assert_cmpstr(reply, ==, "{\"return\": {}, \"id\": 1}");
    g_assert_cmpuint(events->len, <, 20);
    for (int i = 1; i < 80; i++) {
        g_free(test_client_recv_reply(hog, NULL));
    }
}

static void test_slow_client_dropped(void)
{
    g_autoptr(TestQemu) q = test_qemu_start(NULL);
    const char *const opts[] = { "--client-queue-max", "65536", NULL };
    g_autoptr(TestProxy) p = test_proxy_start(q->qmp, q->dir, opts);
    g_autoptr(TestClient) slow = test_client_connect(p->listen);
    g_autoptr(TestClient) fast = test_client_connect(p->listen);
    int small = 4096;

    g_free(test_client_handshake(slow, NULL));
    g_free(test_client_handshake(fast, NULL));
    setsockopt(slow->fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
    /* big answers it never reads: the proxy's queue for it overflows */
    for (int i = 0; i < 30; i++) {
        test_client_send(slow, "{\"execute\": \"query-qmp-schema\"}");
    }
    for (int i = 0; i < 20; i++) {
        g_autofree char *reply = test_client_cmd(fast, "{\"execute\": \"query-name\", \"id\": 5}");
        g_assert_cmpstr(reply, ==, "{\"return\": {}, \"id\": 5}");
    }
    g_assert_true(test_client_wait_eof(slow, 20000));
    g_autofree char *log = test_proxy_log(p);
    g_assert_nonnull(strstr(log, "is not reading"));
    g_autofree char *reply = test_client_cmd(fast, "{\"execute\": \"query-status\", \"id\": 6}");
    g_assert_true(has_id(reply, 6));
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    test_require_qemu();

    qemu = test_qemu_start(NULL);
    proxy = test_proxy_start(qemu->qmp, qemu->dir, NULL);
    g_test_add_func("/multiclient/colliding-ids", test_colliding_ids);
    g_test_add_func("/multiclient/ids-any-json", test_id_any_json);
    g_test_add_func("/multiclient/events-to-all", test_events_to_all);
    g_test_add_func("/multiclient/client-killed-mid-pipeline", test_client_killed_mid_pipeline);
    g_test_add_func("/multiclient/oob", test_oob);
    g_test_add_func("/multiclient/fair-turns", test_fair_turns);
    g_test_add_func("/multiclient/slow-client-dropped", test_slow_client_dropped);
    int rc = g_test_run();

    test_proxy_free(proxy);
    test_qemu_free(qemu);
    return rc;
}
