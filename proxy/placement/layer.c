/* layer.c - placement as a layer of the core: device_add and device_del
 * on their way to QEMU, the back-end removals that must wait, QEMU's
 * DEVICE_DELETED, and learning what QEMU has before the first client. */
#include "placement-internal.h"

#include <string.h>

static CoreVerdict on_request(gpointer data, CoreRequest *req)
{
    Placement *pl = data;
    const char *command = core_request_command(req);

    if (core_request_is_oob(req)) {
        return CORE_PASS; /* QEMU runs none of these out of band */
    }
    if (strcmp(command, "device_add") == 0) {
        placement_plug(pl, req);
        return CORE_PASS;
    }
    if (strcmp(command, "device_del") == 0) {
        placement_unplug_mark(pl, req);
        return CORE_PASS;
    }
    return placement_unplug_hold(pl, req);
}

static void on_event(gpointer data, QmpValue *event)
{
    Placement *pl = data;
    QmpValue *info = qmp_value_dict_get(event, "data");
    const char *id;

    if (g_strcmp0(qmp_value_dict_get_string(event, "event"), "DEVICE_DELETED") != 0 || !info ||
        qmp_value_type(info) != QMP_VALUE_DICT ||
        !(id = qmp_value_dict_get_string(info, "device"))) {
        return;
    }
    /* QEMU also reports .../virtio-backend paths with no device: ignored */
    placement_deleted(pl, id);
    placement_unplug_release(pl, id);
}

static void started(gpointer data, guint devices)
{
    Placement *pl = data;

    g_message("placement: in front of a QEMU which has %u device(s)", devices);
    core_layer_started(pl->layer);
}

static void on_start(gpointer data, CoreLayer *layer)
{
    placement_learn(data, TRUE, started, data);
}

static void on_stop(gpointer data)
{
    Placement *pl = data;

    pl->stopping = TRUE;
    placement_unplug_stop(pl);
}

static const CoreLayerOps placement_ops = {
    .request = on_request,
    .event = on_event,
    .start = on_start,
    .stop = on_stop,
};

Placement *placement_layer_new(Core *core, const PlacementOptions *options)
{
    Placement *pl = placement_create(core, options);

    pl->learn = placement_learn;
    pl->layer = core_push_layer(core, &placement_ops, pl);
    return pl;
}

void placement_layer_free(Placement *pl)
{
    if (pl) {
        placement_unplug_stop(pl);
        placement_destroy(pl);
    }
}
