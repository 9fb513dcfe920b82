/* unplug.c - unplug ordering. QEMU answers device_del before the device
 * is gone, so removing a back end it still uses fails ("Node X is in
 * use"): a blockdev-del, chardev-remove, netdev_del or object-del of such
 * a back end is held until the device's DEVICE_DELETED, or until
 * --unplug-timeout, whichever is first, then passed on. Its client's
 * later requests wait behind it (core.h: CORE_HOLD), as they would wait
 * in QEMU behind a command that takes long. */
#include "placement-internal.h"

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
