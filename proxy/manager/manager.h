/* manager.h - the device-manager layer: Kata's DeviceManager and Device
 * as QMP commands (schema/qmproxy.json). A device is made once per host
 * device and counted (references, attaches); its first attach hot-plugs
 * it and its last detach unplugs it, with the QMP sequence its kind
 * needs, undone where a step fails. The table can be kept on disk and is
 * made to agree with QEMU when the proxy starts. It sits above placement,
 * whose addresses its device_add gets like any client's. */
#pragma once

#include "core.h"
#include "placement.h"

typedef struct Manager Manager;

typedef struct {
    guint unplug_timeout;   /* seconds a detach waits for DEVICE_DELETED */
    const char *state_path; /* NULL: the table is not kept */
    gboolean state_reset;   /* an unusable file is moved aside */
} ManagerOptions;

/* The layer, pushed onto @core's stack (above @pl); NULL with @error when
 * the state file is unusable. */
Manager *manager_new(Core *core, Placement *pl, const ManagerOptions *options, GError **error);
void manager_free(Manager *m);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(Manager, manager_free)
