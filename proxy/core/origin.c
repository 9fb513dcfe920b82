/* origin.c - where in-band requests come from, in order: a client, or a
 * layer's own commands. What an origin that goes has not sent never
 * reaches QEMU. */
#include "core-internal.h"

void core_origin_init(CoreOrigin *origin, const CoreOriginOps *ops, CoreClient *client,
                      guint number)
{
    origin->ops = ops;
    origin->client = client;
    origin->number = number;
    g_queue_init(&origin->entering);
    g_queue_init(&origin->waiting);
}

void core_origin_forget(CoreOrigin *origin)
{
    CoreRequest *req;

    while ((req = g_queue_pop_head(&origin->entering))) {
        req->origin = NULL;
        core_request_unref(req);
    }
    if (origin->held) {
        origin->held->origin = NULL; /* dropped when resumed */
        origin->held = NULL;
    }
}
