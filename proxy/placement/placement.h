/* placement.h - the placement layer: what a device_add leaves out is
 * filled in (Kata's block index map for SCSI addresses and vdX names, the
 * --hotplug-bus ports for PCI slots); a back end's removal waits for the
 * DEVICE_DELETED of the device being unplugged that uses it; and before
 * any client is served, what QEMU already has is learnt. */
#pragma once

#include "core.h"

typedef struct Placement Placement;

typedef struct {
    char **hotplug_buses; /* PCI buses to place devices on, in order */
    guint unplug_timeout; /* seconds a back-end removal waits for DEVICE_DELETED */
} PlacementOptions;

/* The layer, pushed onto @core's stack. */
Placement *placement_layer_new(Core *core, const PlacementOptions *options);
void placement_layer_free(Placement *pl);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(Placement, placement_layer_free)

/* Device @id as __org.qmproxy_query-devices shows it (address, bus, PCI
 * path, drive name, node), with @state unless NULL; NULL if QEMU neither
 * has it nor is getting it. */
QmpValue *placement_describe(Placement *pl, const char *id, const char *state);
/* Every device QEMU has or is getting, but those whose ids are keys of
 * @except (may be NULL). */
QmpValue *placement_query_devices(Placement *pl, GHashTable *except);

/* virtio-blk drive names are what QEMU cannot tell after a restart:
 * {device id: index} of the devices QEMU has or is getting; @func(@data,
 * NULL) is called when one is given or freed. */
QmpValue *placement_drive_indexes(Placement *pl);
void placement_set_changed_func(Placement *pl, GFunc func, gpointer data);
/* Gives device @id (learnt from QEMU) back the drive name it had. */
void placement_restore_drive_index(Placement *pl, const char *id, guint index);
/* Chooses the drive name of a virtio-blk device @id before its
 * device_add comes (which then gets it), so that it can be written down
 * first; FALSE if none is free. Released unless that device_add comes. */
gboolean placement_reserve_drive_name(Placement *pl, const char *id);
void placement_release_drive_name(Placement *pl, const char *id);
