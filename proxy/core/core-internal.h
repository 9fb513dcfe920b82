/* core-internal.h - what the core's files share: the request's life
 * through the stack and the router, clients, the upstream connection and
 * the listener. Nothing outside proxy/core/ includes it. */
#pragma once

#include "core.h"

typedef struct CoreRouter CoreRouter;
typedef struct CoreUpstream CoreUpstream;
typedef struct CoreListener CoreListener;

/* Where a request is in its life. */
typedef enum {
    REQ_ENTERING, /* waiting to enter the stack behind its origin's held one */
    REQ_IN_STACK, /* meeting the layers */
    REQ_HELD,     /* kept by a layer, to be resumed */
    REQ_TAKEN,    /* a layer answers it */
    REQ_WAITING,  /* past the stack, waiting for its turn to QEMU */
    REQ_UPSTREAM, /* sent to QEMU, waiting for the reply */
    REQ_DONE,     /* answered (or dropped) */
} CoreRequestState;

/* A source of in-band requests whose order is kept: a client, or a layer
 * sending commands of its own. */
typedef struct {
    GQueue entering;   /* of CoreRequest, behind @held */
    CoreRequest *held; /* the one a layer holds, or NULL */
    /* the router's backlog */
    GQueue waiting;     /* of CoreRequest, for QEMU, oldest first */
    gboolean queued;    /* in the router's round-robin */
    CoreClient *client; /* the client it is, or NULL for a layer */
} CoreOrigin;

typedef struct {
    CoreReplyFunc func;
    gpointer data;
} CoreReplyHook;

struct CoreRequest {
    gint refs;
    Core *core;
    CoreRequestState state;
    CoreOrigin *origin;  /* NULL once the origin is gone */
    CoreClient *client;  /* the client it came from or was made for */
    gpointer slot;       /* a client's: where its answer goes */
    CoreLayer *sender;   /* a layer's: the one that sent it */
    gboolean caps_check; /* a client's qmp_capabilities, checked by QEMU */
    guint below;         /* the layers still to meet are those under this index */

    QmpValue *msg; /* the request, as parsed from @text */
    GString *text; /* its text: the client's tokens, or written from a value */
    char *command;
    QmpValue *client_id; /* NULL when the client sent no id */
    gboolean oob;
    gboolean traced;   /* taps see it go to QEMU and come back */
    gboolean by_proxy; /* a layer made it */
    int *fds;          /* ride with it to QEMU (getfd, add-fd) */
    guint n_fds;
    gboolean takes_fds;
    gint64 received_us;

    GArray *on_reply; /* of CoreReplyHook, in the order added */
    CoreDone done;    /* a layer's: gets the reply */
    gpointer done_data;
    guint upstream_id; /* the id it went to QEMU under; 0 until sent */
};

struct CoreReply {
    QmpValue *value; /* NULL: none will come */
    GString *text;   /* QEMU's text of it, as the client is to get it */
    gboolean pretty;
};

struct CoreLayer {
    Core *core;
    const CoreLayerOps *ops;
    gpointer data;
    guint index;          /* 0: the bottom of the stack */
    GHashTable *commands; /* name -> CoreCommandFunc */
    CoreOrigin origin;    /* for the commands it sends */
};

/* ---- core.c ---- */

const CoreOptions *core_options(Core *core);
/* The layers, 0 being the bottom of the stack. */
guint core_layer_count(Core *core);
CoreLayer *core_layer_at(Core *core, guint index);
/* The core is going away: layers send nothing more. */
gboolean core_stopping(Core *core);
/* QEMU writes pretty-printed JSON (-qmp ...,pretty=on). */
gboolean core_pretty(Core *core);
CoreRouter *core_router(Core *core);
CoreUpstream *core_upstream(Core *core);
/* The greeting clients get. */
const GString *core_greeting(Core *core);
/* Whether @name is a capability a layer added. */
gboolean core_is_own_capability(Core *core, const char *name);
/* Whether any tap wants messages named @name; and telling them. */
gboolean core_tapped(Core *core, const char *name);
void core_tap(Core *core, const CoreCrossing *crossing);
/* Fills kind, error and error_class of @crossing from a reply @msg. */
void core_tap_classify_reply(CoreCrossing *crossing, const QmpValue *msg);
/* A socket the listener accepted (ownership of @fd and @peer). */
void core_add_client(Core *core, guint number, int fd, CorePeer *peer);
guint core_client_count(Core *core);
CoreClient *core_client_at(Core *core, guint i);
/* A client's connection is gone: called by the client itself. */
void core_remove_client(Core *core, CoreClient *client);
/* Every client, for events. */
void core_foreach_client(Core *core, GFunc func, gpointer user_data);

/* ---- request.c: a request's way through the stack ---- */

/* A client's request (@msg parsed from @raw) for @slot. */
CoreRequest *core_request_new_from_client(Core *core, CoreClient *client, gpointer slot,
                                          const QmpRequest *req, QmpValue *msg, const char *raw,
                                          gsize raw_len, int *fds, guint n_fds, gint64 received_us);
/* Enters the stack from the top, after the origin's earlier in-band
 * requests (takes @req). */
void core_request_submit(CoreRequest *req, CoreOrigin *origin);
/* QEMU answered (@msg, text @raw), or (NULL) never will. */
void core_request_replied(CoreRequest *req, QmpValue *msg, const char *raw, gsize len);
/* The origin is going: what it has not sent is dropped, what it has in
 * flight is answered to no one. */
void core_origin_forget(CoreOrigin *origin);
void core_origin_init(CoreOrigin *origin, CoreClient *client);

/* ---- router.c: ids on the upstream connection, fair turns ---- */

CoreRouter *core_router_new(Core *core);
void core_router_free(CoreRouter *router);
/* A request past the stack: it goes to QEMU in its origin's turn (takes
 * a reference). */
void core_router_submit(CoreRouter *router, CoreRequest *req);
/* A message from QEMU after negotiation: a reply or an event. */
void core_router_upstream_message(CoreRouter *router, QmpValue *msg, const char *raw, gsize len);
/* The origin is going: drops its backlog. */
void core_router_forget(CoreRouter *router, CoreOrigin *origin);
/* Logs the commands still waiting for QEMU; returns how many. */
guint core_router_log_in_flight(CoreRouter *router);

/* ---- client.c: one client, spoken to as QEMU would ---- */

CoreClient *core_client_new(Core *core, guint number, int fd, CorePeer *peer);
/* The client is gone from the core: its connection closes, its requests
 * in flight are answered to no one; references keep who it was. */
void core_client_drop(CoreClient *client);
gboolean core_client_is_ready(const CoreClient *client);
/* The client has left: what is kept of it serves only to tell who it was. */
gboolean core_client_is_gone(const CoreClient *client);
CoreClient *core_client_ref(CoreClient *client);
void core_client_unref(CoreClient *client);
/* Whether the client enabled downstream capability @name. */
gboolean core_client_enabled(const CoreClient *client, const char *name);
/* The answer @text (taken) for @slot; @reply is QEMU's message it came
 * from, or NULL for an answer of the proxy's. */
void core_client_answer(CoreClient *client, gpointer slot, GString *text, QmpValue *reply);
/* The request @slot waits for is gone without an answer. */
void core_client_unlink(CoreClient *client, gpointer slot);
/* QEMU's verdict on a qmp_capabilities the client sent (see client.c). */
void core_client_caps_checked(CoreClient *client, gpointer slot, QmpValue *reply, GString *text);
/* An event: its value and CRLF-terminated text. */
void core_client_event(CoreClient *client, QmpValue *msg, const char *text, gsize len,
                       const char *capability);
/* Closes once what is queued is written (QEMU went away). */
void core_client_close(CoreClient *client, const char *reason);
CoreOrigin *core_client_origin(CoreClient *client);

/* ---- upstream.c: the one connection to QEMU ---- */

typedef void (*CoreUpstreamReady)(CoreUpstream *up, const char *error, gpointer user_data);
typedef void (*CoreUpstreamMessage)(CoreUpstream *up, QmpValue *msg, const char *raw, gsize len,
                                    gpointer user_data);
typedef void (*CoreUpstreamClosed)(CoreUpstream *up, const char *reason, gpointer user_data);
CoreUpstream *core_upstream_new(const char *path, guint timeout_s, CoreUpstreamReady ready,
                                CoreUpstreamMessage message, CoreUpstreamClosed closed,
                                gpointer user_data);
gboolean core_upstream_connect(CoreUpstream *up, GError **error);
void core_upstream_free(CoreUpstream *up);
/* QEMU's greeting exactly as received, CRLF included, and parsed. */
const GString *core_upstream_greeting(CoreUpstream *up);
QmpValue *core_upstream_greeting_value(CoreUpstream *up);
/* Whether QEMU offered capability @name in its greeting. */
gboolean core_upstream_offers(CoreUpstream *up, const char *name);
gboolean core_upstream_is_pretty(CoreUpstream *up);
void core_upstream_send(CoreUpstream *up, const char *data, gsize len, int *fds, guint n_fds);

/* ---- listener.c: the socket clients connect to ---- */

CoreListener *core_listener_new(const char *path, guint mode, GError **error);
/* The socket systemd passed, or NULL (no @error) when it passed none. */
CoreListener *core_listener_new_activated(GError **error);
const char *core_listener_path(CoreListener *listener);
/* Starts accepting, each peer checked against the core's options. */
void core_listener_start(CoreListener *listener, Core *core);
void core_listener_free(CoreListener *listener);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(CoreListener, core_listener_free)
void core_peer_free(CorePeer *peer);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(CorePeer, core_peer_free)
