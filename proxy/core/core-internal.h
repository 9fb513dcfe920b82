/* core-internal.h - what the core's files share. Nothing outside
 * proxy/core/ includes it.
 *
 * The files are levelled, each calling only those below it:
 *   error.c < policy.c < taps.c, upstream.c, listener.c < request.c < router.c < client.c
 *   < core.c
 * A lower file may read the core's data (struct Core below); where it has
 * to tell a higher one something, it calls a function the higher one left
 * it (Core's callbacks, an origin's ops). */
#pragma once

#include "core.h"

typedef struct CoreRouter CoreRouter;
typedef struct CoreUpstream CoreUpstream;
typedef struct CoreListener CoreListener;
typedef struct CoreTaps CoreTaps;
typedef struct CoreOrigin CoreOrigin;

/* ---- taps.c: the taps, and what they are told ---- */

CoreTaps *core_taps_new(void);
void core_taps_free(CoreTaps *taps);
void core_taps_add(CoreTaps *taps, const CoreTapOps *ops, gpointer tap);
/* Whether any tap wants messages named @name; and telling them. */
gboolean core_taps_want(CoreTaps *taps, const char *name);
void core_taps_show(CoreTaps *taps, const CoreCrossing *crossing);
/* Fills kind, error and error_class of @crossing from a reply @msg. */
void core_taps_classify_reply(CoreCrossing *crossing, const QmpValue *msg);

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
/* The process at the other end, once connected (0: unknown). */
pid_t core_upstream_pid(CoreUpstream *up);
void core_upstream_send(CoreUpstream *up, const char *data, gsize len, int *fds, guint n_fds);

/* ---- listener.c: the socket clients connect to ---- */

/* A peer accepted and allowed in (ownership of @fd and @peer), on a
 * socket whose policy is @policy. */
typedef void (*CoreAccepted)(gpointer data, guint number, int fd, CorePeer *peer,
                             const CorePolicy *policy);
/* (@policy: what its clients may do; NULL: full) */
CoreListener *core_listener_new(const char *path, guint mode, const CorePolicy *policy,
                                GError **error);
/* A listening socket passed to us (@fd taken; its file is left alone). */
CoreListener *core_listener_new_fd(int fd, GError **error);
/* The socket systemd passed, or NULL (no @error) when it passed none. */
CoreListener *core_listener_new_activated(GError **error);
const char *core_listener_path(CoreListener *listener);
void core_listener_set_policy(CoreListener *listener, const CorePolicy *policy);
/* Starts accepting: peers whose uid is in @allow_uids (or any, when it is
 * empty) go to @accepted, numbered from the counter at @numbers. */
void core_listener_start(CoreListener *listener, GArray *allow_uids, guint *numbers,
                         CoreAccepted accepted, gpointer data);
void core_listener_free(CoreListener *listener);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(CoreListener, core_listener_free)
/* The peer on connected socket @fd, or NULL if SO_PEERCRED fails. */
CorePeer *core_peer_new(int fd);
void core_peer_free(CorePeer *peer);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(CorePeer, core_peer_free)

/* ---- the core's data (core.c), read by the files below it ---- */

struct Core {
    CoreOptions opts;
    char *upstream_path;
    char *listen_path;
    CoreFinished finished;
    gpointer finished_data;
    CoreUpstream *up;
    CoreRouter *router;
    GPtrArray *listeners; /* of CoreListener, the first named by core_listen_path() */
    GArray *adopted;      /* connected sockets (int) to serve as clients */
    guint next_client;    /* the next client's number */
    CoreServing serving;  /* clients are served from now on */
    gpointer serving_data;
    CoreTaps *taps;
    GPtrArray *clients;      /* of CoreClient */
    GPtrArray *layers;       /* of CoreLayer, the bottom first */
    GPtrArray *capabilities; /* downstream names the layers added */
    GString *greeting;       /* for clients; made once QEMU's is known */
    guint started;           /* layers started so far */
    gboolean closing;        /* QEMU went away */
    gboolean stopping;       /* core_free() is running */
    gboolean done;           /* @finished was called */
    guint grace_id;
    /* what core.c does for the files below it */
    void (*submit)(Core *core, CoreRequest *req);        /* past the stack: to QEMU */
    void (*client_gone)(Core *core, CoreClient *client); /* a client's connection ended */
    void (*event)(Core *core, QmpValue *msg, const char *raw, gsize len); /* from QEMU */
};

/* QEMU writes pretty-printed JSON (-qmp ...,pretty=on). */
static inline gboolean core_pretty(Core *core)
{
    return core->up && core_upstream_is_pretty(core->up);
}

/* ---- request.c: a request's way through the stack ---- */

/* Where a request is in its life. */
typedef enum {
    REQ_ENTERING, /* waiting to enter the stack behind its origin's held one */
    REQ_IN_STACK, /* meeting the layers */
    REQ_HELD,     /* kept by a layer, to be resumed */
    REQ_TAKEN,    /* a layer answers it */
    REQ_WAITING,  /* past the stack, waiting for its turn to QEMU */
    REQ_UPSTREAM, /* sent to QEMU, waiting for the reply */
    REQ_DEFERRED, /* answered, the reply held by a layer (core_reply_defer()) */
    REQ_DONE,     /* answered (or dropped) */
} CoreRequestState;

/* How answers reach a client, and how requests keep it (client.c). */
typedef struct {
    void (*ref)(CoreOrigin *origin);
    void (*unref)(CoreOrigin *origin);
    /* the answer @text (taken) for @slot; @reply is QEMU's message it came
     * from, or NULL for an answer of the proxy's */
    void (*answer)(CoreOrigin *origin, gpointer slot, GString *text, QmpValue *reply);
    /* QEMU's verdict on a qmp_capabilities the client sent */
    void (*caps_checked)(CoreOrigin *origin, gpointer slot, QmpValue *reply, GString *text);
    /* the request @slot waits for is gone without an answer */
    void (*unlink)(CoreOrigin *origin, gpointer slot);
} CoreOriginOps;

/* A source of in-band requests whose order is kept: a client, or a layer
 * sending commands of its own. */
struct CoreOrigin {
    const CoreOriginOps *ops; /* NULL for a layer's */
    CoreClient *client;       /* the client it is, or NULL */
    guint number;             /* the client's number, for messages; 0 for a layer's */
    gboolean gone;            /* the client left */
    GQueue entering;          /* of CoreRequest, behind @held */
    CoreRequest *held;        /* the one a layer holds, or NULL */
    /* the router's backlog */
    GQueue waiting;  /* of CoreRequest, for QEMU, oldest first */
    gboolean queued; /* in the router's round-robin */
};

typedef struct {
    CoreReplyFunc func;
    gpointer data;
} CoreReplyHook;

struct CoreRequest {
    gint refs;
    Core *core;
    CoreRequestState state;
    CoreOrigin *origin;  /* where it comes from; NULL once that is gone */
    CoreOrigin *client;  /* the client it came from or was made for (a reference) */
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
    guint upstream_id;        /* the id it went to QEMU under; 0 until sent */
    QmpValue *deferred_value; /* REQ_DEFERRED: the reply held */
    GString *deferred_text;
};

struct CoreReply {
    QmpValue *value; /* NULL: none will come */
    GString *text;   /* QEMU's text of it, as the client is to get it */
    gboolean pretty;
    gboolean deferred; /* a hook deferred it (core_reply_defer()) */
};

struct CoreLayer {
    Core *core;
    const CoreLayerOps *ops;
    gpointer data;
    guint index;          /* 0: the bottom of the stack */
    GHashTable *commands; /* name -> CoreCommandFunc */
    CoreOrigin origin;    /* for the commands it sends */
};

/* A request (@msg parsed from @raw) from the client of @origin, for
 * @slot. */
CoreRequest *core_request_new(Core *core, CoreOrigin *origin, gpointer slot, const QmpRequest *req,
                              QmpValue *msg, const char *raw, gsize raw_len, int *fds, guint n_fds,
                              gint64 received_us);
/* A layer's command (@cmd taken), to enter the stack below it. */
CoreRequest *core_request_new_for_layer(CoreLayer *layer, QmpValue *cmd, CoreSendFlags flags,
                                        CoreOrigin *for_client, CoreDone done, gpointer data);
/* Enters the stack from the top (or under the sender), after the
 * origin's earlier in-band requests (takes @req). */
void core_request_submit(CoreRequest *req, CoreOrigin *origin);
/* QEMU answered (@msg, text @raw), or (NULL) never will. */
void core_request_replied(CoreRequest *req, QmpValue *msg, const char *raw, gsize len);
/* The client behind @req, or NULL once it left. */
CoreOrigin *core_request_client_origin(const CoreRequest *req);
/* The origin is going: what it has not sent is dropped, what it has in
 * flight is answered to no one. */
void core_origin_forget(CoreOrigin *origin);
void core_origin_init(CoreOrigin *origin, const CoreOriginOps *ops, CoreClient *client,
                      guint number);

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

/* (@policies: of const CorePolicy, each of which must allow a command;
 * taken) */
CoreClient *core_client_new(Core *core, guint number, int fd, CorePeer *peer, GPtrArray *policies);
/* The client is gone from the core: its connection closes, its requests
 * in flight are answered to no one; references keep who it was. */
void core_client_drop(CoreClient *client);
CoreClient *core_client_ref(CoreClient *client);
gboolean core_client_is_ready(const CoreClient *client);
CoreOrigin *core_client_origin(CoreClient *client);
/* An event: its value and CRLF-terminated text; only to a client that
 * enabled @capability, unless it is NULL. */
void core_client_event(CoreClient *client, QmpValue *msg, const char *text, gsize len,
                       const char *capability);
/* Closes once what is queued is written (QEMU went away). */
void core_client_close(CoreClient *client, const char *reason);
