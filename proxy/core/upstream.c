/* upstream.c - the core's one connection to QEMU's QMP socket.
 *
 * States: CONNECTING (waiting for the greeting), NEGOTIATING (our
 * qmp_capabilities is out), READY, CLOSED. The greeting is kept verbatim
 * for clients; OOB is enabled whenever QEMU offers it, so that clients
 * which negotiate it get it end to end. */
#include "core-internal.h"

#include "conn.h"
#include "writer.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

typedef enum {
    UP_CONNECTING,
    UP_NEGOTIATING,
    UP_READY,
    UP_CLOSED,
} UpstreamState;

struct CoreUpstream {
    char *path;
    guint timeout_s;
    CoreUpstreamReady ready;
    CoreUpstreamMessage message;
    CoreUpstreamClosed closed;
    gpointer user_data;

    UpstreamState state;
    QmpConn *conn;
    guint timeout_id;
    GString *greeting;
    QmpValue *greeting_value;
    GPtrArray *offered; /* capability names from the greeting */
    gboolean pretty;
    char *negotiation_id; /* our qmp_capabilities' */
    pid_t pid;            /* QEMU's, from SO_PEERCRED; 0 unknown */
};

static void fail(CoreUpstream *up, const char *error)
{
    UpstreamState was = up->state;

    up->state = UP_CLOSED;
    g_clear_handle_id(&up->timeout_id, g_source_remove);
    if (was == UP_READY) {
        up->closed(up, error, up->user_data);
    } else {
        up->ready(up, error, up->user_data);
    }
}

static gboolean on_timeout(gpointer user_data)
{
    CoreUpstream *up = user_data;
    g_autofree char *msg = NULL;

    up->timeout_id = 0;
    msg = g_strdup_printf(up->state == UP_CONNECTING
                              ? "%s sent no QMP greeting within %u s (is another client "
                                "connected to QEMU's monitor?)"
                              : "%s did not answer qmp_capabilities within %u s",
                          up->path, up->timeout_s);
    fail(up, msg);
    return G_SOURCE_REMOVE;
}

static gboolean take_greeting(CoreUpstream *up, QmpValue *msg, const char *raw, gsize len)
{
    QmpValue *qmp = qmp_value_type(msg) == QMP_VALUE_DICT ? qmp_value_dict_get(msg, "QMP") : NULL;
    QmpValue *caps = qmp && qmp_value_type(qmp) == QMP_VALUE_DICT
                         ? qmp_value_dict_get(qmp, "capabilities")
                         : NULL;

    if (!caps || qmp_value_type(caps) != QMP_VALUE_LIST) {
        return FALSE;
    }
    for (guint i = 0; i < qmp_value_list_length(caps); i++) {
        const char *name = qmp_value_get_string(qmp_value_list_get(caps, i));

        if (name) {
            g_ptr_array_add(up->offered, g_strdup(name));
        }
    }
    up->greeting = g_string_new_len(raw, (gssize)len);
    up->greeting_value = qmp_value_ref(msg);
    g_string_append(up->greeting, "\r\n");
    /* pretty=on output spans lines; clients must see our answers alike */
    up->pretty = memchr(raw, '\n', len) != NULL;
    return TRUE;
}

/* QEMU answers a command that was running when its previous client went
 * (a proxy killed mid-attach, say) to whoever is connected next, before
 * anything that client sends; an id only this process uses tells our
 * answer from those. */
static void negotiate(CoreUpstream *up)
{
    g_autoptr(QmpValue) cmd =
        qmp_value_new_dict_of("execute", qmp_value_new_string("qmp_capabilities"), NULL);
    g_autoptr(GString) out = g_string_new(NULL);

    if (core_upstream_offers(up, "oob")) {
        QmpValue *enable = qmp_value_new_list();

        qmp_value_list_append(enable, qmp_value_new_string("oob"));
        qmp_value_dict_add(cmd, "arguments", qmp_value_new_dict_of("enable", enable, NULL));
    }
    up->negotiation_id = g_strdup_printf("qmproxy-%d-negotiation", (int)getpid());
    qmp_value_dict_add(cmd, "id", qmp_value_new_string(up->negotiation_id));
    qmp_json_write_minimal(out, cmd);
    g_string_append_c(out, '\n');
    qmp_conn_send(up->conn, out->str, out->len);
}

static gboolean is_negotiation_answer(CoreUpstream *up, QmpValue *msg)
{
    QmpValue *id = qmp_value_dict_get(msg, "id");

    return id && g_strcmp0(qmp_value_get_string(id), up->negotiation_id) == 0;
}

static void on_message(QmpConn *conn, QmpValue *msg, const char *raw, gsize len, const char *error,
                       gpointer user_data)
{
    CoreUpstream *up = user_data;
    g_autofree char *why = NULL;

    switch (up->state) {
    case UP_CONNECTING:
        if (error || !take_greeting(up, msg, raw, len)) {
            why = g_strdup_printf("%s is not a QMP server: its first message is %s%.*s", up->path,
                                  error ? error : "", error ? 0 : (int)MIN(len, 200),
                                  error ? "" : raw);
            fail(up, why);
            return;
        }
        up->state = UP_NEGOTIATING;
        negotiate(up);
        return;
    case UP_NEGOTIATING:
        if (error || qmp_value_type(msg) != QMP_VALUE_DICT) {
            why = g_strdup_printf("%s answered qmp_capabilities with garbage: %s", up->path,
                                  error ? error : "not an object");
            fail(up, why);
            return;
        }
        if (!is_negotiation_answer(up, msg)) {
            g_message("%s: dropped an answer to the previous client of QEMU's monitor: %.*s",
                      up->path, (int)MIN(len, 200), raw);
            return;
        }
        if (!qmp_value_dict_get(msg, "return")) {
            QmpValue *err = qmp_value_dict_get(msg, "error");
            const char *desc = err && qmp_value_type(err) == QMP_VALUE_DICT
                                   ? qmp_value_dict_get_string(err, "desc")
                                   : NULL;

            why = g_strdup_printf("%s refused qmp_capabilities: %s", up->path,
                                  desc ? desc : "unexpected answer");
            fail(up, why);
            return;
        }
        up->state = UP_READY;
        g_clear_handle_id(&up->timeout_id, g_source_remove);
        up->ready(up, NULL, up->user_data);
        return;
    case UP_READY:
        if (error) {
            /* QEMU never sends malformed JSON; say so rather than guess */
            g_warning("upstream sent malformed JSON (%s); ignored", error);
            return;
        }
        up->message(up, msg, raw, len, up->user_data);
        return;
    case UP_CLOSED:
        return;
    }
}

static void on_closed(QmpConn *conn, const char *reason, gpointer user_data)
{
    CoreUpstream *up = user_data;
    g_autofree char *why = NULL;

    if (up->state == UP_CLOSED) {
        return;
    }
    if (up->state == UP_READY) {
        why = g_strdup_printf("QEMU closed the QMP connection (%s)", reason);
    } else {
        why = g_strdup_printf("%s closed the connection before QMP was set up (%s)", up->path,
                              reason);
    }
    fail(up, why);
}

static const QmpConnCallbacks upstream_callbacks = {
    .message = on_message,
    .closed = on_closed,
};

CoreUpstream *core_upstream_new(const char *path, guint timeout_s, CoreUpstreamReady ready,
                                CoreUpstreamMessage message, CoreUpstreamClosed closed,
                                gpointer user_data)
{
    CoreUpstream *up = g_new0(CoreUpstream, 1);

    up->path = g_strdup(path);
    up->timeout_s = timeout_s;
    up->ready = ready;
    up->message = message;
    up->closed = closed;
    up->user_data = user_data;
    up->offered = g_ptr_array_new_with_free_func(g_free);
    return up;
}

gboolean core_upstream_connect(CoreUpstream *up, GError **error)
{
    struct sockaddr_un addr = { .sun_family = AF_UNIX };

    if (strlen(up->path) >= sizeof(addr.sun_path)) {
        g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_NAMETOOLONG,
                    "upstream socket path %s is too long", up->path);
        return FALSE;
    }
    strcpy(addr.sun_path, up->path);

    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(errno), "socket: %s",
                    g_strerror(errno));
        return FALSE;
    }
    g_clear_pointer(&up->conn, qmp_conn_free);
    /* A unix-socket connect() completes or fails at once; EAGAIN means
     * QEMU's backlog is full, which only a stuck QEMU produces. */
    if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
        int err = errno;

        close(fd);
        g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(err),
                    "cannot connect to QEMU's QMP socket %s: %s", up->path, g_strerror(err));
        return FALSE;
    }
    struct ucred cred;
    socklen_t len = sizeof(cred);
    up->pid = getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0 ? cred.pid : 0;
    up->conn = qmp_conn_new(fd, QMP_CONN_KEEP_TEXT, &upstream_callbacks, up);
    up->timeout_id = g_timeout_add_seconds(up->timeout_s, on_timeout, up);
    return TRUE;
}

pid_t core_upstream_pid(CoreUpstream *up)
{
    return up->pid;
}

void core_upstream_free(CoreUpstream *up)
{
    if (!up) {
        return;
    }
    g_clear_handle_id(&up->timeout_id, g_source_remove);
    qmp_conn_free(up->conn);
    if (up->greeting) {
        g_string_free(up->greeting, TRUE);
    }
    qmp_value_unref(up->greeting_value);
    g_ptr_array_unref(up->offered);
    g_free(up->path);
    g_free(up->negotiation_id);
    g_free(up);
}

const GString *core_upstream_greeting(CoreUpstream *up)
{
    return up->greeting;
}

QmpValue *core_upstream_greeting_value(CoreUpstream *up)
{
    return up->greeting_value;
}

gboolean core_upstream_offers(CoreUpstream *up, const char *name)
{
    for (guint i = 0; i < up->offered->len; i++) {
        if (strcmp(g_ptr_array_index(up->offered, i), name) == 0) {
            return TRUE;
        }
    }
    return FALSE;
}

gboolean core_upstream_is_pretty(CoreUpstream *up)
{
    return up->pretty;
}

void core_upstream_send(CoreUpstream *up, const char *data, gsize len, int *fds, guint n_fds)
{
    qmp_conn_send_with_fds(up->conn, data, len, fds, n_fds);
}
