/* proxy.h - the daemon's parts and how they talk to each other.
 *
 *   listener -> client <-> router <-> upstream (QEMU)
 *
 * The upstream owns the one QMP connection QEMU allows; the router owns the
 * ids on it and sends each reply back to the client that asked; a client
 * speaks QMP to its peer exactly as QEMU would. */
#pragma once

#include "devices.h"
#include "message.h"
#include "schema.h"
#include "trace.h"
#include "value.h"

#include <sys/types.h>

typedef struct Proxy Proxy;
typedef struct ProxyClient ProxyClient;
typedef struct Router Router;
typedef struct Upstream Upstream;
typedef struct Listener Listener;
typedef struct Manager Manager;

typedef struct {
    char *upstream_path;
    char *listen_path;
    guint socket_mode;
    GArray *allow_uids; /* of uid_t; empty: anyone who can open the socket */
    guint max_clients;
    gsize client_queue_max; /* bytes queued to a client before it is dropped */
    guint connect_timeout;  /* seconds to wait for QEMU's greeting */
    guint unplug_timeout;   /* seconds a back-end removal waits for DEVICE_DELETED */
    char **hotplug_buses;   /* PCI buses to place devices on (--hotplug-bus) */
    char *state_path;       /* NULL: the device table is not kept */
    gboolean state_reset;   /* move an unusable state file aside */
    char *trace_path;       /* NULL: no trace */
    TraceFilter trace_filter;
    guint64 trace_max_size; /* 0: never rotate */
} ProxyOptions;

/* Who is on the other end of a client socket (SO_PEERCRED, /proc). */
typedef struct {
    pid_t pid;
    uid_t uid;
    gid_t gid;
    char *exe; /* the executable's name, or "?" */
} ProxyPeer;

/* proxy.c: the whole daemon */
Proxy *proxy_new(const ProxyOptions *options);
/* Connects upstream and starts serving; FALSE if either fails. */
gboolean proxy_start(Proxy *proxy, GError **error);
/* The two halves of proxy_start(): the listening socket (clients wait in
 * its backlog), then the connection to QEMU. */
gboolean proxy_listen(Proxy *proxy, GError **error);
gboolean proxy_connect(Proxy *proxy, GError **error);
/* Stops the main loop with exit status 1. */
void proxy_fail(Proxy *proxy);
/* Runs until QEMU goes away or proxy_stop(); returns the exit status. */
int proxy_run(Proxy *proxy);
void proxy_stop(Proxy *proxy);
void proxy_free(Proxy *proxy);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(Proxy, proxy_free)
/* A GSpawnChildSetupFunc: gives a child the descriptor limit the process
 * started with (proxy_new() raises it). */
void proxy_child_setup(gpointer unused);
const ProxyOptions *proxy_get_options(Proxy *proxy);
Router *proxy_get_router(Proxy *proxy);
Upstream *proxy_get_upstream(Proxy *proxy);
/* The trace, or NULL when not tracing. */
Trace *proxy_get_trace(Proxy *proxy);
Dm *proxy_get_dm(Proxy *proxy);
/* The device-manager commands (manager.h). */
Manager *proxy_get_manager(Proxy *proxy);
/* The greeting clients get: QEMU's, offering the proxy's capability too. */
const GString *proxy_get_greeting(Proxy *proxy);
/* The proxy's own commands (schema/qmproxy.json). */
Schema *proxy_get_schema(Proxy *proxy);
/* A client socket accepted by the listener (ownership of @fd and @peer). */
void proxy_add_client(Proxy *proxy, guint number, int fd, ProxyPeer *peer);
guint proxy_client_count(Proxy *proxy);
/* Called by a client once its connection is gone. */
void proxy_remove_client(Proxy *proxy, ProxyClient *client);
/* Every negotiated client, for events. */
void proxy_foreach_client(Proxy *proxy, GFunc func, gpointer user_data);

/* upstream.c: the connection to QEMU */
typedef void (*UpstreamReadyFunc)(Upstream *up, const char *error, gpointer user_data);
typedef void (*UpstreamMessageFunc)(Upstream *up, QmpValue *msg, const char *raw, gsize raw_len,
                                    gpointer user_data);
typedef void (*UpstreamClosedFunc)(Upstream *up, const char *reason, gpointer user_data);
Upstream *upstream_new(const char *path, guint timeout_s, UpstreamReadyFunc ready,
                       UpstreamMessageFunc message, UpstreamClosedFunc closed, gpointer user_data);
/* Connects; the outcome comes through the ready callback. */
gboolean upstream_connect(Upstream *up, GError **error);
void upstream_free(Upstream *up);
/* QEMU's greeting exactly as received, CRLF included, and parsed. */
const GString *upstream_get_greeting(Upstream *up);
QmpValue *upstream_get_greeting_value(Upstream *up);
/* Whether QEMU offered capability @name in its greeting. */
gboolean upstream_offers(Upstream *up, const char *name);
/* Whether QEMU writes pretty-printed JSON (-qmp ...,pretty=on). */
gboolean upstream_is_pretty(Upstream *up);
void upstream_send(Upstream *up, const char *data, gsize len, int *fds, guint n_fds);

/* client.c: one client, speaking QMP as QEMU would */
ProxyClient *proxy_client_new(Proxy *proxy, guint number, int fd, ProxyPeer *peer);
void proxy_client_free(ProxyClient *client);
guint proxy_client_get_number(const ProxyClient *client);
const ProxyPeer *proxy_client_get_peer(const ProxyClient *client);
gboolean proxy_client_is_ready(const ProxyClient *client);
/* The reply for the client's request in @slot: its text (taken) and QEMU's
 * message it came from. */
void proxy_client_reply(ProxyClient *client, gpointer slot, GString *text, QmpValue *reply);
/* The answer to a capabilities check sent for the client (see client.c). */
void proxy_client_caps_checked(ProxyClient *client, gpointer slot, QmpValue *reply, GString *text);
/* An event (@msg, whose text is @raw): sent as is to a negotiated client;
 * the proxy's own events only to clients that enabled them. */
void proxy_client_event(ProxyClient *client, QmpValue *msg, const char *raw, gsize len);
typedef struct {
    QmpValue *msg;
    const char *text; /* CRLF-terminated */
    gsize len;
} ProxyEvent;
/* proxy_client_event() as a GFunc for proxy_foreach_client(). */
void proxy_event_to_client(gpointer client, gpointer event);
/* The answer (taken) to a request the device manager took in @slot. */
void proxy_client_answer(ProxyClient *client, gpointer slot, GString *text);
/* Closes once what is queued is written (QEMU went away). */
void proxy_client_close(ProxyClient *client, const char *reason);

/* router.c: ids on the upstream connection and where replies go */
typedef enum {
    ROUTE_COMMAND,    /* the reply goes to the client as QEMU wrote it */
    ROUTE_CAPS_CHECK, /* the reply settles a client's qmp_capabilities */
} RouteKind;
/* Called once per forwarded command with QEMU's reply, or NULL when none
 * will come (QEMU went away). */
typedef void (*RouteDone)(gpointer data, QmpValue *reply);
Router *router_new(Proxy *proxy);
void router_free(Router *router);
/* Sends @msg (whose text is @raw) upstream under an id of the router's,
 * remembering to answer @client in @slot, and to call @done (may be NULL). */
void router_forward(Router *router, ProxyClient *client, gpointer slot, RouteKind kind,
                    const QmpRequest *req, QmpValue *msg, const char *raw, gsize raw_len, int *fds,
                    guint n_fds, RouteDone done, gpointer done_data);
/* Sends the proxy's own command @json (a valid request) to QEMU; @done
 * gets the reply. When @traced it shows in the trace, as made for
 * @for_client (may be NULL). */
void router_ask(Router *router, const char *json, gsize len, gboolean traced,
                ProxyClient *for_client, RouteDone done, gpointer data);
/* A message from QEMU after negotiation: a reply or an event. */
void router_upstream_message(Router *router, QmpValue *msg, const char *raw, gsize len);
/* The client is gone: its replies, when they come, are dropped. */
void router_forget_client(Router *router, ProxyClient *client);
/* Logs the commands still waiting for QEMU; returns how many. */
guint router_log_in_flight(Router *router);

/* listener.c: the socket clients connect to */
Listener *listener_new(const char *path, guint mode, GError **error);
/* The socket systemd passed (LISTEN_FDS, LISTEN_PID), or NULL (and no
 * @error) when it passed none. */
Listener *listener_new_activated(GError **error);
/* Where clients connect, for messages. */
const char *listener_get_path(Listener *listener);
/* Starts accepting; each peer is checked against @options. */
void listener_start(Listener *listener, Proxy *proxy);
void listener_free(Listener *listener);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(Listener, listener_free)
void proxy_peer_free(ProxyPeer *peer);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(ProxyPeer, proxy_peer_free)
