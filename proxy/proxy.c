/* proxy.c - the daemon as a whole: wires listener, clients, router and
 * upstream together and decides when to stop.
 *
 * The listening socket exists from the start, so a client that connects
 * early waits in the backlog; it is accepted once QEMU's connection is
 * negotiated. When QEMU goes away every client is closed after what is
 * queued for it is written, as QEMU's own close would, and the daemon
 * exits 0. */
#include "proxy.h"

#include "learn.h"
#include "framer.h"
#include "manager.h"

#include <string.h>
#include <sys/resource.h>

#define CLOSE_GRACE_MS 2000

/* The soft limit on descriptors the process started with, for children. */
static struct rlimit initial_nofile;

struct Proxy {
    ProxyOptions opts;
    GMainLoop *loop;
    Upstream *up;
    Router *router;
    Listener *listener;
    Trace *trace;
    Dm *dm;
    Manager *manager;
    Schema *schema;
    GString *greeting;  /* for clients; made once QEMU's is known */
    GPtrArray *clients; /* of ProxyClient */
    int status;
    gboolean closing;
    /* proxy_free() is running: pending routes complete with no answer,
     * which must not restart anything (learning would start serving) */
    gboolean freeing;
    guint grace_id;
};

Proxy *proxy_new(const ProxyOptions *options)
{
    Proxy *p = g_new0(Proxy, 1);

    p->opts = *options;
    p->opts.upstream_path = g_strdup(options->upstream_path);
    p->opts.listen_path = g_strdup(options->listen_path);
    p->opts.trace_path = g_strdup(options->trace_path);
    p->opts.state_path = g_strdup(options->state_path);
    p->opts.allow_uids = options->allow_uids ? g_array_ref(options->allow_uids) : NULL;
    /* every client costs descriptors (its socket, what it passes): as
     * systemd advises, take what the hard limit allows (GLib polls, so
     * descriptors above FD_SETSIZE are fine); children get the old limit */
    struct rlimit nofile;
    if (getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur < nofile.rlim_max) {
        initial_nofile = nofile;
        nofile.rlim_cur = nofile.rlim_max;
        setrlimit(RLIMIT_NOFILE, &nofile);
    }
    p->loop = g_main_loop_new(NULL, FALSE);
    p->router = router_new(p);
    p->dm = dm_new();
    /* built in and checked by the tests: it always loads */
    p->schema = schema_load(NULL);
    g_assert(p->schema);
    dm_set_hotplug_buses(p->dm, options->hotplug_buses);
    p->manager = manager_new(p);
    p->clients = g_ptr_array_new_with_free_func((GDestroyNotify)proxy_client_free);
    return p;
}

static void on_reconciled(Proxy *p)
{
    g_message("serving clients on %s", listener_get_path(p->listener));
    listener_start(p->listener, p);
}

static void on_learned(Proxy *p, guint devices)
{
    if (p->freeing) {
        return;
    }
    g_message("connected to QEMU at %s%s, which has %u device(s)", p->opts.upstream_path,
              upstream_offers(p->up, "oob") ? " (oob enabled)" : "", devices);
    manager_reconcile(p->manager, on_reconciled);
}

static void on_upstream_ready(Upstream *up, const char *error, gpointer user_data)
{
    Proxy *p = user_data;

    if (error) {
        g_printerr("qmproxy: %s\n", error);
        p->status = 1;
        g_main_loop_quit(p->loop);
        return;
    }
    if (trace_wants(p->trace, NULL)) {
        TraceRecord r = { TRACE_QEMU_TO_PROXY, "greeting", .latency_us = -1,
                          .msg = upstream_get_greeting_value(up) };
        trace_record(p->trace, &r);
    }
    /* clients wait in the backlog until the proxy knows what QEMU has */
    learn_start(p, on_learned);
}

static void on_upstream_message(Upstream *up, QmpValue *msg, const char *raw, gsize len,
                                gpointer user_data)
{
    Proxy *p = user_data;

    router_upstream_message(p->router, msg, raw, len);
}

static gboolean grace_over(gpointer user_data)
{
    Proxy *p = user_data;

    p->grace_id = 0;
    g_message("%u client(s) still had output queued; closing anyway", p->clients->len);
    g_main_loop_quit(p->loop);
    return G_SOURCE_REMOVE;
}

static void on_upstream_closed(Upstream *up, const char *reason, gpointer user_data)
{
    Proxy *p = user_data;

    g_message("%s", reason);
    guint n = router_log_in_flight(p->router);
    if (n) {
        g_message("%u command(s) were in flight and will get no answer", n);
    }
    p->closing = TRUE;
    p->status = 0;
    /* no new clients; the socket file goes now */
    g_clear_pointer(&p->listener, listener_free);
    if (p->clients->len == 0) {
        g_main_loop_quit(p->loop);
        return;
    }
    for (guint i = 0; i < p->clients->len; i++) {
        proxy_client_close(g_ptr_array_index(p->clients, i), "QEMU went away");
    }
    p->grace_id = g_timeout_add(CLOSE_GRACE_MS, grace_over, p);
}

gboolean proxy_listen(Proxy *p, GError **error)
{
    if (p->opts.trace_path) {
        p->trace = trace_open(p->opts.trace_path, p->opts.trace_filter, p->opts.trace_max_size,
                              p->opts.upstream_path, error);
        if (!p->trace) {
            return FALSE;
        }
    }
    if (p->opts.state_path &&
        !manager_open_state(p->manager, p->opts.state_path, p->opts.state_reset, error)) {
        return FALSE;
    }
    GError *activation_error = NULL;
    p->listener = listener_new_activated(&activation_error);
    if (activation_error) {
        g_propagate_error(error, activation_error);
        return FALSE;
    }
    if (!p->listener && !p->opts.listen_path) {
        g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
                    "--listen is required: no socket was passed by systemd (LISTEN_PID is "
                    "not this process)");
        return FALSE;
    }
    if (!p->listener) {
        p->listener = listener_new(p->opts.listen_path, p->opts.socket_mode, error);
    }
    return p->listener != NULL;
}

gboolean proxy_connect(Proxy *p, GError **error)
{
    if (!p->up) {
        p->up = upstream_new(p->opts.upstream_path, p->opts.connect_timeout, on_upstream_ready,
                             on_upstream_message, on_upstream_closed, p);
    }
    return upstream_connect(p->up, error);
}

gboolean proxy_start(Proxy *p, GError **error)
{
    return proxy_listen(p, error) && proxy_connect(p, error);
}

int proxy_run(Proxy *p)
{
    g_main_loop_run(p->loop);
    return p->status;
}

void proxy_fail(Proxy *p)
{
    p->status = 1;
    g_main_loop_quit(p->loop);
}

void proxy_stop(Proxy *p)
{
    g_main_loop_quit(p->loop);
}

void proxy_free(Proxy *p)
{
    if (!p) {
        return;
    }
    p->freeing = TRUE;
    g_clear_handle_id(&p->grace_id, g_source_remove);
    /* what is in flight completes with no one to answer */
    manager_shutdown(p->manager);
    /* clients first: they hold routes into the router */
    g_ptr_array_unref(p->clients);
    listener_free(p->listener);
    upstream_free(p->up);
    router_free(p->router);
    manager_free(p->manager);
    dm_free(p->dm);
    if (p->greeting) {
        g_string_free(p->greeting, TRUE);
    }
    schema_free(p->schema);
    trace_free(p->trace);
    g_main_loop_unref(p->loop);
    g_free(p->opts.upstream_path);
    g_free(p->opts.listen_path);
    g_free(p->opts.trace_path);
    g_free(p->opts.state_path);
    if (p->opts.allow_uids) {
        g_array_unref(p->opts.allow_uids);
    }
    g_free(p);
}

void proxy_child_setup(gpointer unused)
{
    if (initial_nofile.rlim_max) {
        setrlimit(RLIMIT_NOFILE, &initial_nofile);
    }
}

const ProxyOptions *proxy_get_options(Proxy *p)
{
    return &p->opts;
}

Router *proxy_get_router(Proxy *p)
{
    return p->router;
}

Upstream *proxy_get_upstream(Proxy *p)
{
    return p->up;
}

Trace *proxy_get_trace(Proxy *p)
{
    return p->trace;
}

Dm *proxy_get_dm(Proxy *p)
{
    return p->dm;
}

Manager *proxy_get_manager(Proxy *p)
{
    return p->manager;
}

/* QEMU's greeting with the device manager's capability added to its
 * list, spliced into QEMU's own text: re-writing it would reorder members
 * that share a hash bucket. QEMU's greeting as is when it has no list. */
static GString *make_greeting(Upstream *up)
{
    const GString *raw = upstream_get_greeting(up);
    GString *out = g_string_new(raw->str);
    QmpSpan qmp, caps;

    if (!qmp_value_dict_get_span(upstream_get_greeting_value(up), "QMP", &qmp)) {
        return out;
    }
    /* members are located one level deep: parse the inner object alone */
    g_autoptr(QmpValue) inner =
        qmp_json_parse(raw->str + qmp.value_start, qmp.value_end - qmp.value_start);
    QmpValue *list = inner && qmp_value_type(inner) == QMP_VALUE_DICT
                         ? qmp_value_dict_get(inner, "capabilities")
                         : NULL;
    if (!list || qmp_value_type(list) != QMP_VALUE_LIST ||
        !qmp_value_dict_get_span(inner, "capabilities", &caps)) {
        return out;
    }
    const char *open = raw->str + qmp.value_start + caps.value_start; /* '[' */
    gsize at = qmp.value_start + caps.value_end - 1;                  /* ']' */
    g_autoptr(GString) insert = g_string_new(NULL);
    if (qmp_value_list_length(list) > 0) {
        /* after the last item, separated as QEMU separates items */
        gsize lead = strspn(open + 1, " \r\n");

        while (at > 0 && strchr(" \r\n", raw->str[at - 1])) {
            at--;
        }
        g_string_append_c(insert, ',');
        g_string_append_len(insert, lead ? open + 1 : " ", lead ? (gssize)lead : 1);
    }
    g_string_append(insert, "\"" MANAGER_CAPABILITY "\"");
    g_string_insert(out, (gssize)at, insert->str);
    return out;
}

const GString *proxy_get_greeting(Proxy *p)
{
    if (!p->greeting) {
        p->greeting = make_greeting(p->up);
    }
    return p->greeting;
}

Schema *proxy_get_schema(Proxy *p)
{
    return p->schema;
}

void proxy_add_client(Proxy *p, guint number, int fd, ProxyPeer *peer)
{
    g_ptr_array_add(p->clients, proxy_client_new(p, number, fd, peer));
}

guint proxy_client_count(Proxy *p)
{
    return p->clients->len;
}

void proxy_remove_client(Proxy *p, ProxyClient *client)
{
    router_forget_client(p->router, client);
    manager_forget_client(p->manager, client);
    g_ptr_array_remove_fast(p->clients, client);
    if (p->closing && p->clients->len == 0) {
        g_main_loop_quit(p->loop);
    }
}

void proxy_foreach_client(Proxy *p, GFunc func, gpointer user_data)
{
    g_ptr_array_foreach(p->clients, func, user_data);
}
