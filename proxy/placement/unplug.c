/* unplug.c - unplug ordering. QEMU answers device_del before the device
 * is gone, so removing a back end it still uses fails ("Node X is in
 * use"): a blockdev-del, chardev-remove, netdev_del or object-del of such
 * a back end is held until the device's DEVICE_DELETED, or until
 * --unplug-timeout, whichever is first, then passed on. Its client's
 * later requests wait behind it (core.h: CORE_HOLD), as they would wait
 * in QEMU behind a command that takes long. */
#include "placement-internal.h"

#include <string.h>

typedef struct {
    Placement *pl;
    CoreRequest *req;
    char *device; /* whose DEVICE_DELETED it waits for */
    guint timer;
} Hold;

static void hold_free(Hold *h)
{
    g_clear_handle_id(&h->timer, g_source_remove);
    core_request_unref(h->req);
    g_free(h->device);
    g_free(h);
}

static guint client_number(CoreRequest *req)
{
    CoreClient *client = core_request_client(req);

    return client ? core_client_number(client) : 0;
}

/* @h goes on down, and is no longer the layer's. */
static void let_go(Hold *h)
{
    g_ptr_array_remove_fast(h->pl->holds, h);
    core_request_resume(h->req);
    hold_free(h);
}

static gboolean on_timeout(gpointer data)
{
    Hold *h = data;

    h->timer = 0;
    g_message("client %u: %s waited %u s for DEVICE_DELETED of %s; sending it as is",
              client_number(h->req), core_request_command(h->req), h->pl->unplug_timeout,
              h->device);
    let_go(h);
    return G_SOURCE_REMOVE;
}

CoreVerdict placement_unplug_hold(Placement *pl, CoreRequest *req)
{
    const char *busy =
        placement_backend_busy(pl, core_request_command(req), core_request_arguments(req));

    if (!busy) {
        return CORE_PASS;
    }
    Hold *h = g_new0(Hold, 1);
    h->pl = pl;
    h->req = core_request_ref(req);
    h->device = g_strdup(busy);
    h->timer = g_timeout_add_seconds(pl->unplug_timeout, on_timeout, h);
    g_ptr_array_add(pl->holds, h);
    g_debug("client %u: %s waits for DEVICE_DELETED of %s", client_number(req),
            core_request_command(req), busy);
    return CORE_HOLD;
}

/* A repeated device_del is refused while the first one's unplug goes on. */
static gboolean unplug_pending(QmpValue *reply)
{
    QmpValue *err = qmp_value_dict_get(reply, "error");
    const char *desc = err && qmp_value_type(err) == QMP_VALUE_DICT
                           ? qmp_value_dict_get_string(err, "desc")
                           : NULL;

    return desc && strstr(desc, "already in the process of unplug");
}

typedef struct {
    Placement *pl;
    char *id;
} Unplug;

static void unplug_done(gpointer data, CoreReply *reply)
{
    Unplug *u = data;
    QmpValue *msg = core_reply_value(reply);
    PlacedDevice *d = g_hash_table_lookup(u->pl->devices, u->id);

    /* refused, or never sent: nothing will be deleted, nothing need wait */
    if (d && (!msg || (!qmp_value_dict_get(msg, "return") && !unplug_pending(msg)))) {
        d->unplugging = FALSE;
        placement_unplug_release(u->pl, u->id);
    }
    g_free(u->id);
    g_free(u);
}

/* A device_del: the back ends its device holds must wait for its
 * DEVICE_DELETED from now on. */
void placement_unplug_mark(Placement *pl, CoreRequest *req)
{
    QmpValue *args = core_request_arguments(req);
    const char *id = args ? qmp_value_dict_get_string(args, "id") : NULL;
    PlacedDevice *d = id ? g_hash_table_lookup(pl->devices, id) : NULL;

    if (!d) {
        return;
    }
    d->unplugging = TRUE;
    Unplug *u = g_new0(Unplug, 1);
    u->pl = pl;
    u->id = g_strdup(id);
    core_request_on_reply(req, unplug_done, u);
}

void placement_unplug_release(Placement *pl, const char *device)
{
    g_autoptr(GPtrArray) ready = g_ptr_array_new();

    /* resuming may hold others anew: collect first */
    for (guint i = 0; i < pl->holds->len; i++) {
        Hold *h = g_ptr_array_index(pl->holds, i);

        if (g_strcmp0(h->device, device) == 0) {
            g_ptr_array_add(ready, h);
        }
    }
    for (guint i = 0; i < ready->len; i++) {
        let_go(g_ptr_array_index(ready, i));
    }
}

void placement_unplug_stop(Placement *pl)
{
    /* what waited is dropped with the proxy */
    while (pl->holds->len) {
        hold_free(g_ptr_array_steal_index_fast(pl->holds, pl->holds->len - 1));
    }
}
