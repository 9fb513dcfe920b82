/* test-core.c - the core and the placement layer in the test's own
 * process, against the scripted upstream (tests/lib/fake-qemu.c): the
 * router (ids, fair turns, OOB), a client (order with the proxy's own
 * errors, negotiation), the layer API (a layer that rewrites, answers,
 * and holds then resumes) and placement (addresses filled in and freed,
 * a failed plug freeing its pick, a back-end removal held for its
 * DEVICE_DELETED). The core runs its main loop in a thread of its own;
 * the test talks to it through sockets, as a client would. */
#include "harness.h"
#include "fake-qemu.h"

#include "core.h"
#include "placement.h"

#include <string.h>
#include <sys/socket.h>

/* ---- the upstream: answers at once, or holds one command ---- */

typedef struct {
    GMutex lock;
    gboolean negotiated;
    char *hold;    /* a command answered only once released */
    char *held_id; /* the id of the one held */
    gboolean held; /* one is held */
    char *refuse;  /* a command refused, with this desc after the name */
    char *refuse_desc;
    char *learn;     /* qom-list's answer */
    GString *behind; /* answers queued behind the held one, as QEMU runs one at a time */
} Qemu;

static gboolean qemu_answer(TestFakeQmp *fake, const TestFakeRequest *req, GString *out,
                            gpointer data)
{
    Qemu *q = data;

    g_mutex_lock(&q->lock);
    g_autofree char *oob = test_json_member(req->text, req->len, "exec-oob");
    if (q->held && !oob) {
        /* QEMU runs in-band commands one at a time: after the held one */
        if (!q->behind) {
            q->behind = g_string_new(NULL);
        }
        out = q->behind;
    }
    if (!q->negotiated) {
        q->negotiated = TRUE;
        test_fake_reply(out, req, "\"return\": {}");
    } else if (g_strcmp0(req->command, "qmp_capabilities") == 0) {
        test_fake_reply(out, req,
                        "\"error\": {\"class\": \"CommandNotFound\", \"desc\": \"Capabilities "
                        "negotiation is already complete, command ignored\"}");
    } else if (g_strcmp0(req->command, "qom-list") == 0) {
        g_autofree char *ret = g_strdup_printf("\"return\": %s", q->learn ? q->learn : "[]");

        test_fake_reply(out, req, ret);
    } else if (q->hold && g_strcmp0(req->command, q->hold) == 0 && !q->held) {
        q->held = TRUE;
        q->held_id = g_strdup(req->id);
    } else if (q->refuse && g_strcmp0(req->command, q->refuse) == 0) {
        g_autofree char *err = g_strdup_printf(
            "\"error\": {\"class\": \"GenericError\", \"desc\": \"%s\"}", q->refuse_desc);

        test_fake_reply(out, req, err);
        g_clear_pointer(&q->refuse, g_free);
    } else {
        test_fake_reply(out, req, "\"return\": {}");
    }
    g_mutex_unlock(&q->lock);
    return TRUE;
}

/* ---- a layer of the test's: it rewrites, answers, holds ---- */

typedef struct {
    CoreLayer *layer;
    CoreRequest *held; /* "x-held", until an event "X_GO" */
} TestLayer;

static void on_x_local(gpointer data, CoreRequest *req)
{
    core_request_return(req, qmp_value_new_dict_of("local", qmp_value_new_bool(TRUE), NULL));
}

static CoreVerdict test_layer_request(gpointer data, CoreRequest *req)
{
    TestLayer *t = data;

    if (strcmp(core_request_command(req), "x-rewrite") == 0) {
        core_request_add_arguments(req, qmp_value_new_dict_of("added", qmp_value_new_int(7), NULL));
        return CORE_PASS;
    }
    if (strcmp(core_request_command(req), "x-held") == 0 && !t->held) {
        t->held = core_request_ref(req);
        return CORE_HOLD;
    }
    return CORE_PASS;
}

static void test_layer_event(gpointer data, QmpValue *event)
{
    TestLayer *t = data;

    if (t->held && g_strcmp0(qmp_value_dict_get_string(event, "event"), "X_GO") == 0) {
        g_autoptr(CoreRequest) req = g_steal_pointer(&t->held);

        core_request_resume(req);
    }
}

static void test_layer_stop(gpointer data)
{
    TestLayer *t = data;

    g_clear_pointer(&t->held, core_request_unref);
}

static const CoreLayerOps test_layer_ops = {
    .request = test_layer_request,
    .event = test_layer_event,
    .stop = test_layer_stop,
};

/* ---- the rig: upstream, core (with layers) in its thread, clients ---- */

typedef struct {
    char *dir;
    char *up_path;
    char *listen;
    Qemu qemu;
    TestFakeQmp *fake;
    gboolean placement;
    gboolean test_layer;
    GThread *thread;
    GMainLoop *loop;
    Core *core;
    Placement *pl;
    TestLayer layer;
    int status;
} Rig;

static void finished(gpointer data, int status)
{
    Rig *r = data;

    r->status = status;
    g_main_loop_quit(r->loop);
}

static gpointer rig_thread(gpointer data)
{
    Rig *r = data;
    CoreOptions opts = { .upstream_path = r->up_path,
                         .listen_path = r->listen,
                         .socket_mode = 0600,
                         .max_clients = 16,
                         .client_queue_max = 1 << 20,
                         .connect_timeout = 5 };
    g_autoptr(GError) error = NULL;

    r->core = core_new(&opts, finished, r);
    if (r->placement) {
        char *buses[] = { "rp1", NULL };
        PlacementOptions po = { buses, 1 };

        r->pl = placement_layer_new(r->core, &po);
    }
    if (r->test_layer) {
        r->layer.layer = core_push_layer(r->core, &test_layer_ops, &r->layer);
        core_layer_add_command(r->layer.layer, "x-local", on_x_local);
    }
    g_assert_true(core_listen(r->core, &error));
    g_assert_true(core_connect(r->core, &error));
    g_main_loop_run(r->loop);
    core_free(r->core);
    placement_layer_free(r->pl);
    return NULL;
}

static void rig_start(Rig *r, gboolean placement, gboolean test_layer)
{
    memset(r, 0, sizeof(*r));
    g_mutex_init(&r->qemu.lock);
    r->dir = g_dir_make_tmp("qmproxy-core-XXXXXX", NULL);
    r->up_path = g_build_filename(r->dir, "qmp.sock", NULL);
    r->listen = g_build_filename(r->dir, "proxy.sock", NULL);
    r->placement = placement;
    r->test_layer = test_layer;
    r->fake = test_fake_qmp_serve(r->up_path, qemu_answer, &r->qemu);
    /* the core's sources are the default context's, which only the rig's
     * thread runs: the test itself only blocks on sockets */
    r->loop = g_main_loop_new(NULL, FALSE);
    r->thread = g_thread_new("core", rig_thread, r);
}

static gboolean quit(gpointer data)
{
    g_main_loop_quit(data);
    return G_SOURCE_REMOVE;
}

static void rig_stop(Rig *r)
{
    g_idle_add(quit, r->loop);
    g_thread_join(r->thread);
    test_fake_qmp_free(r->fake);
    g_main_loop_unref(r->loop);
    g_free(r->qemu.hold);
    g_free(r->qemu.held_id);
    g_free(r->qemu.refuse);
    g_free(r->qemu.refuse_desc);
    g_free(r->qemu.learn);
    if (r->qemu.behind) {
        g_string_free(r->qemu.behind, TRUE);
    }
    g_mutex_clear(&r->qemu.lock);
    test_rm_rf(r->dir);
    g_free(r->dir);
    g_free(r->up_path);
    g_free(r->listen);
}

static TestClient *client(Rig *r)
{
    TestClient *c = test_client_connect(r->listen);

    g_assert_nonnull(c);
    g_free(test_client_handshake(c, NULL));
    return c;
}

/* Answers the held command, as QEMU would once done with it. */
static void release(Rig *r)
{
    g_autofree char *id = NULL;

    for (guint i = 0; i < 400; i++) {
        g_mutex_lock(&r->qemu.lock);
        gboolean held = r->qemu.held;
        g_mutex_unlock(&r->qemu.lock);
        if (held) {
            break;
        }
        g_usleep(5000);
    }
    g_mutex_lock(&r->qemu.lock);
    g_assert_true(r->qemu.held);
    id = g_steal_pointer(&r->qemu.held_id);
    g_mutex_unlock(&r->qemu.lock);
    /* (under the lock from here: no answer may slip in before these) */
    g_autofree char *reply = id ? g_strdup_printf("{\"return\": {\"slow\": true}, \"id\": %s}", id)
                                : g_strdup("{\"return\": {\"slow\": true}}");
    g_autoptr(GString) behind = NULL;
    g_mutex_lock(&r->qemu.lock);
    behind = g_steal_pointer(&r->qemu.behind);
    r->qemu.held = FALSE;
    g_clear_pointer(&r->qemu.hold, g_free);
    test_fake_qmp_send(r->fake, reply);
    if (behind && behind->len) {
        g_string_truncate(behind, behind->len - 2); /* send adds the last CRLF */
        test_fake_qmp_send(r->fake, behind->str);
    }
    g_mutex_unlock(&r->qemu.lock);
}

/* ---- the router ---- */

/* Whatever JSON the client's id is, it comes back as sent (as QEMU
 * would write it); QEMU sees none, nor any white space. */
static void test_router_ids(void)
{
    Rig r;
    static const char *const ids[] = { "\"a\"",      "7",   "-3", "[1, {\"k\": null}]",
                                       "{\"x\": 1}", "true" };

    rig_start(&r, FALSE, FALSE);
    g_autoptr(TestClient) c = client(&r);
    for (guint i = 0; i < G_N_ELEMENTS(ids); i++) {
        g_autofree char *cmd = g_strdup_printf("{\"execute\": \"x-any\", \"id\": %s}", ids[i]);
        g_autofree char *want = g_strdup_printf("{\"return\": {}, \"id\": %s}", ids[i]);
        g_autofree char *reply = test_client_cmd(c, cmd);

        g_assert_cmpstr(reply, ==, want);
    }
    g_autofree char *none = test_client_cmd(c, "{\"execute\": \"x-any\"}");
    g_assert_cmpstr(none, ==, "{\"return\": {}}");
    g_autoptr(GPtrArray) seen = test_fake_qmp_requests(r.fake, "x-any");
    g_assert_cmpuint(seen->len, ==, G_N_ELEMENTS(ids) + 1);
    /* QEMU answers in-band commands in order: they reach it with no id,
     * and without the client's white space */
    for (guint i = 0; i < seen->len; i++) {
        g_assert_cmpstr(g_ptr_array_index(seen, i), ==, "{\"execute\":\"x-any\"}");
    }
    rig_stop(&r);
}

/* A client pipelining many commands does not put another behind all of
 * them: origins take turns, a few commands in QEMU at a time. */
static void test_router_fair_turns(void)
{
    Rig r;

    rig_start(&r, FALSE, FALSE);
    r.qemu.hold = g_strdup("x-first");
    g_autoptr(TestClient) a = client(&r);
    g_autoptr(TestClient) b = client(&r);
    test_client_send(a, "{\"execute\": \"x-first\"}");
    g_assert_true(test_fake_qmp_wait(r.fake, "x-first", 1, 2000));
    for (guint i = 0; i < 30; i++) {
        test_client_send(a, "{\"execute\": \"x-a\"}");
    }
    test_client_send(b, "{\"execute\": \"x-b\"}");
    g_usleep(100 * 1000);
    /* QEMU busy with x-first: the window's worth of A's is in, no more */
    g_autoptr(GPtrArray) got_a = test_fake_qmp_requests(r.fake, "x-a");
    g_test_message("with QEMU busy, %u of A's 30 reached it", got_a->len);
    g_assert_cmpuint(got_a->len, ==, 3);
    release(&r);
    for (guint i = 0; i < 31; i++) {
        g_free(test_client_recv_reply(a, NULL));
    }
    /* B's one command took the next turn, not the 31st place */
    g_autofree char *all = test_fake_qmp_received(r.fake);
    g_auto(GStrv) lines = g_strsplit(all, "\n", -1);
    guint first = 0, b_at = 0;
    for (guint i = 0; lines[i]; i++) {
        if (strstr(lines[i], "\"x-first\"")) {
            first = i;
        } else if (strstr(lines[i], "\"x-b\"")) {
            b_at = i;
        }
    }
    g_test_message("B's command was QEMU's %u-th after x-first", b_at - first);
    g_assert_cmpuint(b_at - first, <=, 5);
    g_autofree char *rb = test_client_recv_reply(b, NULL);
    g_assert_cmpstr(rb, ==, "{\"return\": {}}");
    rig_stop(&r);
}

/* exec-oob goes past in-band work, as in QEMU; its answer leaves at once. */
static void test_router_oob(void)
{
    Rig r;

    rig_start(&r, FALSE, FALSE);
    r.qemu.hold = g_strdup("x-slow");
    g_autoptr(TestClient) c = test_client_connect(r.listen);
    g_free(test_client_handshake(c, "{\"enable\": [\"oob\"]}"));
    test_client_send(c, "{\"execute\": \"x-slow\", \"id\": 1}");
    g_assert_true(test_fake_qmp_wait(r.fake, "x-slow", 1, 2000));
    test_client_send(c, "{\"exec-oob\": \"x-fast\", \"id\": 2}");
    g_autofree char *first = test_client_recv_reply(c, NULL);
    g_assert_cmpstr(first, ==, "{\"return\": {}, \"id\": 2}");
    release(&r);
    g_autofree char *second = test_client_recv_reply(c, NULL);
    g_assert_cmpstr(second, ==, "{\"return\": {\"slow\": true}, \"id\": 1}");
    rig_stop(&r);
}

/* ---- a client ---- */

/* The proxy's own answers (a malformed request) wait their turn behind
 * what QEMU is still doing: one client's replies come in its order. */
static void test_client_order(void)
{
    Rig r;

    rig_start(&r, FALSE, FALSE);
    r.qemu.hold = g_strdup("x-slow");
    g_autoptr(TestClient) c = client(&r);
    test_client_send(c, "{\"execute\": \"x-slow\", \"id\": 1}{}{\"execute\": \"x-quick\", "
                        "\"id\": 3}");
    g_assert_true(test_fake_qmp_wait(r.fake, "x-quick", 1, 2000));
    g_usleep(50 * 1000);
    g_assert_cmpuint(test_client_lines_ready(c), ==, 0);
    release(&r);
    g_autofree char *one = test_client_recv_reply(c, NULL);
    g_autofree char *two = test_client_recv_reply(c, NULL);
    g_autofree char *three = test_client_recv_reply(c, NULL);
    g_assert_cmpstr(one, ==, "{\"return\": {\"slow\": true}, \"id\": 1}");
    g_assert_cmpstr(two, ==,
                    "{\"error\": {\"class\": \"GenericError\", \"desc\": \"QMP input lacks "
                    "member 'execute'\"}}");
    g_assert_cmpstr(three, ==, "{\"return\": {}, \"id\": 3}");
    rig_stop(&r);
}

/* Before qmp_capabilities, commands are refused in QEMU's words; the
 * capabilities are checked by QEMU ("already complete" means accepted). */
static void test_client_negotiation(void)
{
    Rig r;

    rig_start(&r, FALSE, FALSE);
    g_autoptr(TestClient) c = test_client_connect(r.listen);
    g_autofree char *greeting = test_client_recv_line(c, 5000);
    g_assert_true(g_str_has_prefix(greeting, "{\"QMP\": "));
    g_autofree char *early = test_client_cmd(c, "{\"execute\": \"x-any\", \"id\": 1}");
    g_assert_cmpstr(early, ==,
                    "{\"id\": 1, \"error\": {\"class\": \"CommandNotFound\", \"desc\": "
                    "\"Expecting capabilities negotiation with 'qmp_capabilities'\"}}");
    g_autofree char *caps = test_client_cmd(c, "{\"execute\": \"qmp_capabilities\"}");
    g_assert_cmpstr(caps, ==, "{\"return\": {}}");
    g_autofree char *later = test_client_cmd(c, "{\"execute\": \"x-any\", \"id\": 2}");
    g_assert_cmpstr(later, ==, "{\"return\": {}, \"id\": 2}");
    /* QEMU saw the client's qmp_capabilities, to judge its arguments */
    g_autoptr(GPtrArray) checks = test_fake_qmp_requests(r.fake, "qmp_capabilities");
    g_assert_cmpuint(checks->len, ==, 2);
    rig_stop(&r);
}

/* ---- the layer API ---- */

static void test_layer_rewrite_answer_hold(void)
{
    Rig r;

    rig_start(&r, FALSE, TRUE);
    g_autoptr(TestClient) c = client(&r);
    /* rewritten: a member first in the arguments, the rest as it came */
    g_autofree char *rw = test_client_cmd(
        c, "{\"execute\": \"x-rewrite\", \"arguments\": {\"n\": 1e2}, \"id\": \"r\"}");
    g_assert_cmpstr(rw, ==, "{\"return\": {}, \"id\": \"r\"}");
    g_autoptr(GPtrArray) sent = test_fake_qmp_requests(r.fake, "x-rewrite");
    g_assert_cmpuint(sent->len, ==, 1);
    g_assert_nonnull(strstr(g_ptr_array_index(sent, 0), "{\"added\":7,\"n\":1e2}"));
    /* answered by the layer: QEMU never sees it */
    g_autofree char *local = test_client_cmd(c, "{\"execute\": \"x-local\", \"id\": 5}");
    g_assert_cmpstr(local, ==, "{\"return\": {\"local\": true}, \"id\": 5}");
    g_autoptr(GPtrArray) none = test_fake_qmp_requests(r.fake, "x-local");
    g_assert_cmpuint(none->len, ==, 0);
    /* held: neither it nor what follows reaches QEMU until the event */
    test_client_send(c,
                     "{\"execute\": \"x-held\", \"id\": 1}{\"execute\": \"x-after\", \"id\": 2}");
    g_usleep(100 * 1000);
    g_autoptr(GPtrArray) held = test_fake_qmp_requests(r.fake, "x-held");
    g_autoptr(GPtrArray) after = test_fake_qmp_requests(r.fake, "x-after");
    g_assert_cmpuint(held->len + after->len, ==, 0);
    test_fake_qmp_send(r.fake, "{\"timestamp\": {\"seconds\": 1, \"microseconds\": 0}, "
                               "\"event\": \"X_GO\"}");
    g_autoptr(GPtrArray) events = g_ptr_array_new_with_free_func(g_free);
    g_autofree char *one = test_client_recv_reply(c, events);
    g_autofree char *two = test_client_recv_reply(c, events);
    g_assert_cmpstr(one, ==, "{\"return\": {}, \"id\": 1}");
    g_assert_cmpstr(two, ==, "{\"return\": {}, \"id\": 2}");
    g_assert_cmpuint(events->len, ==, 1);
    rig_stop(&r);
}

/* ---- placement ---- */

static char *device_add_args(Rig *r, guint n)
{
    g_autoptr(GPtrArray) adds = test_fake_qmp_requests(r->fake, "device_add");

    g_assert_cmpuint(adds->len, >, n);
    const char *text = g_ptr_array_index(adds, n);
    return test_json_member(text, strlen(text), "arguments");
}

static void deleted(Rig *r, const char *id)
{
    g_autofree char *event = g_strdup_printf(
        "{\"timestamp\": {\"seconds\": 1, \"microseconds\": 0}, \"event\": \"DEVICE_DELETED\", "
        "\"data\": {\"device\": \"%s\", \"path\": \"/machine/peripheral/%s\"}}",
        id, id);

    test_fake_qmp_send(r->fake, event);
}

/* A scsi-hd on drive nN with id dN, the SCSI address left to the layer. */
static char *scsi_add(int n)
{
    return g_strdup_printf("{\"execute\": \"device_add\", \"arguments\": {\"driver\": "
                           "\"scsi-hd\", \"bus\": \"scsi0.0\", \"drive\": \"n%d\", "
                           "\"id\": \"d%d\"}}",
                           n, n);
}

/* The lowest free SCSI address goes into the client's text; a failed
 * plug gives its pick back; DEVICE_DELETED frees it for the next. */
static void test_placement_scsi(void)
{
    Rig r;

    rig_start(&r, TRUE, FALSE);
    g_autoptr(TestClient) c = client(&r);
    for (int i = 0; i < 2; i++) {
        g_autofree char *cmd = scsi_add(i);
        g_autofree char *reply = test_client_cmd(c, cmd);

        g_assert_cmpstr(reply, ==, "{\"return\": {}}");
    }
    g_autofree char *a0 = device_add_args(&r, 0);
    g_autofree char *a1 = device_add_args(&r, 1);
    g_assert_true(g_str_has_prefix(a0, "{\"scsi-id\":0,\"lun\":0,\"driver\":\"scsi-hd\""));
    g_assert_true(g_str_has_prefix(a1, "{\"scsi-id\":0,\"lun\":1,"));
    /* refused by QEMU: lun 2 was never used */
    g_mutex_lock(&r.qemu.lock);
    r.qemu.refuse = g_strdup("device_add");
    r.qemu.refuse_desc = g_strdup("no way");
    g_mutex_unlock(&r.qemu.lock);
    g_autofree char *cmd2 = scsi_add(2);
    g_autofree char *refused = test_client_cmd(c, cmd2);
    g_assert_true(strstr(refused, "no way") != NULL);
    g_autofree char *cmd3 = scsi_add(3);
    g_autofree char *ok3 = test_client_cmd(c, cmd3);
    g_autofree char *a3 = device_add_args(&r, 3);
    g_assert_true(g_str_has_prefix(a3, "{\"scsi-id\":0,\"lun\":2,"));
    /* d0 gone: lun 0 is the lowest free again */
    deleted(&r, "d0");
    g_autofree char *cmd4 = scsi_add(4);
    g_autofree char *ok4 = test_client_cmd(c, cmd4);
    g_autofree char *a4 = device_add_args(&r, 4);
    g_assert_true(g_str_has_prefix(a4, "{\"scsi-id\":0,\"lun\":0,"));
    rig_stop(&r);
}

/* A blockdev-del of a node whose device is being unplugged waits for
 * the device's DEVICE_DELETED (QEMU answers device_del before it lets go);
 * the client's next command waits behind it. */
static void test_placement_unplug_order(void)
{
    Rig r;

    rig_start(&r, TRUE, FALSE);
    g_autoptr(TestClient) c = client(&r);
    g_autofree char *added = test_client_cmd(
        c, "{\"execute\": \"device_add\", \"arguments\": {\"driver\": \"scsi-hd\", \"bus\": "
           "\"scsi0.0\", \"drive\": \"node1\", \"id\": \"disk1\"}}");
    g_autofree char *del =
        test_client_cmd(c, "{\"execute\": \"device_del\", \"arguments\": {\"id\": \"disk1\"}}");
    g_assert_cmpstr(del, ==, "{\"return\": {}}");
    test_client_send(c, "{\"execute\": \"blockdev-del\", \"arguments\": {\"node-name\": "
                        "\"node1\"}, \"id\": 1}{\"execute\": \"x-next\", \"id\": 2}");
    g_usleep(100 * 1000);
    g_autoptr(GPtrArray) early = test_fake_qmp_requests(r.fake, "blockdev-del");
    g_autoptr(GPtrArray) next = test_fake_qmp_requests(r.fake, "x-next");
    g_assert_cmpuint(early->len + next->len, ==, 0);
    deleted(&r, "disk1");
    g_autoptr(GPtrArray) events = g_ptr_array_new_with_free_func(g_free);
    g_autofree char *one = test_client_recv_reply(c, events);
    g_autofree char *two = test_client_recv_reply(c, events);
    g_assert_cmpstr(one, ==, "{\"return\": {}, \"id\": 1}");
    g_assert_cmpstr(two, ==, "{\"return\": {}, \"id\": 2}");
    rig_stop(&r);
}

/* A client names an address while the layer's pick of it for another
 * device_add still waits to reach QEMU: the pick moves, and each gets its
 * own address (issue 14: the one that named it used to win in QEMU, the
 * pick failed and then freed the address the other held). */
static void test_placement_named_moves_pick(void)
{
    Rig r;

    rig_start(&r, TRUE, FALSE);
    g_autoptr(TestClient) busy = client(&r);
    g_autoptr(TestClient) a = client(&r);
    g_autoptr(TestClient) b = client(&r);
    /* QEMU busy, and the router's window full: what comes next waits */
    r.qemu.hold = g_strdup("x-first");
    test_client_send(busy, "{\"execute\": \"x-first\"}");
    g_assert_true(test_fake_qmp_wait(r.fake, "x-first", 1, 2000));
    for (guint i = 0; i < 3; i++) {
        test_client_send(busy, "{\"execute\": \"x-fill\"}");
    }
    g_assert_true(test_fake_qmp_wait(r.fake, "x-fill", 3, 2000));
    g_autofree char *pick = scsi_add(0);
    test_client_send(a, pick);
    test_client_send(b, "{\"execute\": \"device_add\", \"arguments\": {\"driver\": \"scsi-hd\", "
                        "\"bus\": \"scsi0.0\", \"drive\": \"nb\", \"id\": \"db\", \"scsi-id\": 0, "
                        "\"lun\": 0}}");
    g_usleep(100 * 1000);
    g_autoptr(GPtrArray) early = test_fake_qmp_requests(r.fake, "device_add");
    g_assert_cmpuint(early->len, ==, 0);
    release(&r);
    for (guint i = 0; i < 4; i++) {
        g_free(test_client_recv_reply(busy, NULL));
    }
    g_autofree char *ra = test_client_recv_reply(a, NULL);
    g_autofree char *rb = test_client_recv_reply(b, NULL);
    g_assert_cmpstr(ra, ==, "{\"return\": {}}");
    g_assert_cmpstr(rb, ==, "{\"return\": {}}");
    /* the pick moved to the next address, in the text QEMU got */
    g_autofree char *a0 = device_add_args(&r, 0);
    g_autofree char *b0 = device_add_args(&r, 1);
    g_assert_true(g_str_has_prefix(a0, "{\"scsi-id\":0,\"lun\":1,\"driver\":\"scsi-hd\""));
    g_assert_true(g_str_has_suffix(b0, "\"scsi-id\":0,\"lun\":0}"));
    rig_stop(&r);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/core/router/ids-round-trip", test_router_ids);
    g_test_add_func("/core/router/fair-turns", test_router_fair_turns);
    g_test_add_func("/core/router/oob-overtakes", test_router_oob);
    g_test_add_func("/core/client/order-with-own-errors", test_client_order);
    g_test_add_func("/core/client/negotiation", test_client_negotiation);
    g_test_add_func("/core/layer/rewrite-answer-hold", test_layer_rewrite_answer_hold);
    g_test_add_func("/placement/scsi-lowest-free", test_placement_scsi);
    g_test_add_func("/placement/named-moves-pick", test_placement_named_moves_pick);
    g_test_add_func("/placement/unplug-order", test_placement_unplug_order);
    return g_test_run();
}
