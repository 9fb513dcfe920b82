/* core.h - the transparent QMP multiplexer: many clients, the one
 * connection QEMU allows, and between them a stack of layers.
 *
 *   clients -> [top layer ... bottom layer] -> router -> QEMU
 *
 * The core knows no device. It speaks QMP to each client as QEMU would
 * (greeting, negotiation, framing and request checks, replies in order,
 * events) and routes requests to QEMU and replies back. What the proxy
 * adds is done by layers, which see each request on its way down (and
 * may pass it on, rewrite it, answer it, or hold it and pass it on later)
 * and its reply on its way up, and by taps, which only observe what
 * crosses (the trace). A layer's own commands to QEMU enter the stack
 * below it, so that the layers under it treat them like a client's. */
#pragma once

#include "message.h"
#include "policy.h"
#include "value.h"

#include <sys/types.h>

/* The proxy's own errors, for what is neither a file's nor GLib's. */
#define CORE_ERROR (core_error_quark())
GQuark core_error_quark(void);
typedef enum {
    CORE_ERROR_FAILED,
    CORE_ERROR_INVALID, /* bad input: an option, a file's contents, what a peer passed */
} CoreErrorCode;

typedef struct Core Core;
typedef struct CoreClient CoreClient;
typedef struct CoreRequest CoreRequest;
typedef struct CoreReply CoreReply;
typedef struct CoreLayer CoreLayer;

/* A peer whose uid (or gid) is @id is held to @policy as well as to its
 * socket's. */
typedef struct {
    gboolean gid;
    guint32 id;
    const CorePolicy *policy;
} CorePeerRule;

typedef struct {
    const char *upstream_path;       /* QEMU's QMP socket */
    const char *listen_path;         /* for core_listen(); NULL: the socket systemd passed */
    const CorePolicy *listen_policy; /* of that socket; NULL: full */
    GArray *peer_rules;              /* of CorePeerRule; may be NULL */
    guint socket_mode;
    GArray *allow_uids; /* of uid_t; empty or NULL: anyone */
    guint max_clients;
    gsize client_queue_max; /* bytes a client may leave unread */
    guint connect_timeout;  /* seconds to wait for QEMU's greeting */
} CoreOptions;

/* Who is on the other end of a client socket (SO_PEERCRED, /proc). */
typedef struct {
    pid_t pid;
    uid_t uid;
    gid_t gid;
    char *exe; /* the executable's name, or "?" */
} CorePeer;

/* The core is done: QEMU went away (0) or could not be set up with (1). */
typedef void (*CoreFinished)(gpointer data, int status);

/* A core for @options (copied); @finished is called once, from the loop. */
Core *core_new(const CoreOptions *options, CoreFinished finished, gpointer data);
/* Stops the layers (in-flight work ends unanswered) and frees it all. */
void core_free(Core *core);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(Core, core_free)
/* Creates the listening socket (clients wait in its backlog): systemd's,
 * or --listen's. */
gboolean core_listen(Core *core, GError **error);
/* One more listening socket at @path, with the same mode and uid rules,
 * its clients held to @policy (NULL: full). */
gboolean core_listen_also(Core *core, const char *path, const CorePolicy *policy, GError **error);
/* Serves clients on listening socket @fd (taken), which whoever passed it
 * owns: its file is not removed. */
gboolean core_listen_fd(Core *core, int fd, GError **error);
/* Connected socket @fd (taken) becomes a client once clients are served. */
void core_adopt_client(Core *core, int fd);
/* Connects to QEMU: once negotiated, the layers start (bottom first),
 * then clients are served. */
gboolean core_connect(Core *core, GError **error);
/* Clients are served from now on: QEMU is negotiated, the layers have
 * started. */
typedef void (*CoreServing)(gpointer data);
void core_on_serving(Core *core, CoreServing func, gpointer data);
/* QEMU's pid, once connected; 0 when unknown. */
pid_t core_qemu_pid(Core *core);
/* Where clients connect, for messages; NULL before core_listen(). */
const char *core_listen_path(Core *core);

/* ---- clients ---- */

guint core_client_number(const CoreClient *client);
const CorePeer *core_client_peer(const CoreClient *client);

/* ---- layers ---- */

typedef enum {
    CORE_PASS,  /* on to the next layer down (it may have been rewritten) */
    CORE_HOLD,  /* kept: core_request_resume() passes it on later; its
                 * origin's later in-band requests wait behind it */
    CORE_TAKEN, /* answered by the layer, now or later */
} CoreVerdict;

/* What a layer does; a member left NULL does nothing (requests pass). */
typedef struct {
    /* A request on its way to QEMU, from a client or a layer above. A
     * layer that keeps @req past the call takes a reference. Requests
     * sent out of band must not be held. */
    CoreVerdict (*request)(gpointer layer, CoreRequest *req);
    /* An event from QEMU, before clients get it; lower layers first. */
    void (*event)(gpointer layer, QmpValue *event);
    /* QEMU is negotiated and the layers below have started: learn what
     * is needed, then call core_layer_started(). */
    void (*start)(gpointer layer, CoreLayer *handle);
    /* The proxy is going away: send and answer nothing more. */
    void (*stop)(gpointer layer);
} CoreLayerOps;

/* Stacks a layer above those pushed before: requests from clients meet
 * it before them, replies after them. */
CoreLayer *core_push_layer(Core *core, const CoreLayerOps *ops, gpointer layer);
void core_layer_started(CoreLayer *layer);

/* Commands the layer answers itself: a request for @name meets @func
 * instead of the request hook (taken: answer it with core_request_*).
 * Such commands do not support OOB, as QEMU says of its own. */
typedef void (*CoreCommandFunc)(gpointer layer, CoreRequest *req);
void core_layer_add_command(CoreLayer *layer, const char *name, CoreCommandFunc func);
/* Whether some layer answers command @name. */
gboolean core_has_command(Core *core, const char *name);
/* A capability the layer adds (a downstream name): not offered in the
 * greeting, which stays QEMU's, but clients may enable it by name with
 * qmp_capabilities; events sent for it go only to them. */
void core_layer_add_capability(CoreLayer *layer, const char *name);

/* QEMU's answer to a layer's command: the reply, or NULL when none will
 * come (QEMU went away, or the proxy is stopping). */
typedef void (*CoreDone)(gpointer data, QmpValue *reply);
typedef enum {
    CORE_SEND_TRACED = 1 << 0, /* taps see it (made for @for_client) */
} CoreSendFlags;
/* Sends @cmd ({"execute": ..., "arguments": ...}, taken) to QEMU on the
 * layer's behalf: it enters the stack below the layer, in order with the
 * layer's other commands. */
void core_layer_send(CoreLayer *layer, QmpValue *cmd, CoreSendFlags flags, CoreClient *for_client,
                     CoreDone done, gpointer data);
/* Sends event @name with @data (taken; NULL: none) to every negotiated
 * client, or with @capability only to those that enabled it. */
void core_layer_emit(CoreLayer *layer, const char *name, QmpValue *data, const char *capability);

/* ---- requests ---- */

CoreRequest *core_request_ref(CoreRequest *req);
void core_request_unref(CoreRequest *req);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(CoreRequest, core_request_unref)
const char *core_request_command(const CoreRequest *req);
/* The arguments (borrowed), or NULL. */
QmpValue *core_request_arguments(const CoreRequest *req);
gboolean core_request_is_oob(const CoreRequest *req);
/* The client it came from or was made for; NULL once that one left. */
CoreClient *core_request_client(const CoreRequest *req);
/* Adds @members (a dictionary, taken) first in the arguments; whatever
 * the client wrote stays byte for byte. FALSE (nothing changed) if one of
 * them is there already. The request is parsed anew: what was read of its
 * arguments before is not valid after. */
gboolean core_request_add_arguments(CoreRequest *req, QmpValue *members);
/* Calls @func with the reply before the request's origin gets it; those
 * of lower layers first. @func gets a NULL reply when none will come. */
typedef void (*CoreReplyFunc)(gpointer data, CoreReply *reply);
void core_request_on_reply(CoreRequest *req, CoreReplyFunc func, gpointer data);
/* A held request goes on down. */
void core_request_resume(CoreRequest *req);
/* Whether it has gone to QEMU (and may have been answered). */
gboolean core_request_is_sent(const CoreRequest *req);
/* Sets @members (a dictionary, taken) in the arguments: their values
 * replaced where the request has them, added first otherwise; what else
 * the client wrote stays byte for byte. FALSE (nothing changed) while
 * QEMU has the request or once it is answered (but a deferred one may be
 * changed), or without arguments. */
gboolean core_request_set_arguments(CoreRequest *req, QmpValue *members);
/* A reply deferred (core_reply_defer()) is dropped and the request, as
 * changed since, goes to QEMU again; the hooks of the layers above still
 * wait (the deferring layer adds its own again to see the next reply). */
void core_request_resend(CoreRequest *req);
/* A reply deferred goes on up as it came. */
void core_request_complete(CoreRequest *req);
/* Answers a taken request: its return (taken), or an error. */
void core_request_return(CoreRequest *req, QmpValue *ret);
void core_request_error(CoreRequest *req, const char *klass, const char *desc);

/* The reply, or NULL when none will come. */
QmpValue *core_reply_value(const CoreReply *reply);
/* From a CoreReplyFunc: the reply goes no further for now, neither to
 * the layers above nor to the client; the layer later resends the request
 * or completes it. FALSE (nothing deferred) for a reply that never came. */
gboolean core_reply_defer(CoreReply *reply);
/* A reply returning a list gets @items appended, laid out as QEMU lays
 * a list out. */
void core_reply_extend_return(CoreReply *reply, const QmpValue *items);
/* The reply's return becomes @ret (taken), written as QEMU writes it. */
void core_reply_set_return(CoreReply *reply, QmpValue *ret);

/* ---- taps ---- */

typedef enum {
    CORE_CLIENT_IN,  /* from a client */
    CORE_TO_QEMU,    /* sent upstream */
    CORE_FROM_QEMU,  /* received from QEMU */
    CORE_CLIENT_OUT, /* sent to a client */
} CoreDir;

/* One message crossing. */
typedef struct {
    CoreDir dir;
    const char *kind;         /* greeting, command, reply, error, event, invalid */
    const CoreClient *client; /* NULL for what belongs to no client */
    const char *name;         /* command or event name, or NULL */
    const QmpValue *id;       /* the client's id, or NULL */
    guint upstream_id;        /* 0: none */
    gint64 latency_us;        /* < 0: none */
    const QmpValue *msg;      /* the message, or NULL (invalid input) */
    const char *error;        /* error desc or why the input was refused */
    const char *error_class;
    /* instead of @msg: its text, CRLF-terminated; a NULL @kind then means
     * a reply or an error, to be told apart once parsed */
    const char *text;
    gsize text_len;
    /* @msg is QEMU's reply: as the client gets it, with its @id instead
     * of the proxy's (none when @id is NULL) */
    gboolean msg_with_client_id;
    gboolean by_proxy;      /* a command a layer made */
    const char *refused_by; /* the policy that refused it, on the proxy's error */
    gint64 mono_us;         /* when it happened, if not now */
    gsize msg_size;         /* bytes of @msg's text */
} CoreCrossing;

typedef struct {
    /* Whether messages named @name (NULL: unnamed) are wanted at all. */
    gboolean (*wants)(gpointer tap, const char *name);
    void (*crossing)(gpointer tap, const CoreCrossing *crossing);
} CoreTapOps;

void core_add_tap(Core *core, const CoreTapOps *ops, gpointer tap);
