/* devices.h - the device manager's view of what QEMU has: block indexes
 * per namespace and the devices the proxy addressed. */
#pragma once

#include "value.h"

typedef struct Dm Dm;
typedef struct DmPlug DmPlug;

Dm *dm_new(void);
void dm_free(Dm *dm);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(Dm, dm_free)

/* What a backend-removal command (blockdev-del, chardev-remove,
 * netdev_del, object-del) removes must wait while a device using it is
 * being unplugged: QEMU answers device_del before the device is gone. */

/* Looks at a device_add request (@msg, whose text is @raw): when it plugs
 * a SCSI disk on a named bus without an address, picks the lowest free
 * one and returns the request's new text in *@rewritten; when it names an
 * address, reserves it; in any case it notes the backends the device will
 * use. Returns what to settle with dm_plug_done(), or NULL when the
 * device has no id (then nothing about it can be followed). */
DmPlug *dm_device_add(Dm *dm, QmpValue *msg, const char *raw, gsize raw_len, GString **rewritten);
/* QEMU's answer to that device_add (a RouteDone): an error, or none at
 * all, frees what was taken. Frees @plug. */
void dm_plug_done(gpointer plug, QmpValue *reply);
/* @func(@data, NULL) is called when a virtio-blk drive name is given or
 * freed: what QEMU cannot tell after a restart (dm_drive_indexes()). */
void dm_set_changed_func(Dm *dm, GFunc func, gpointer data);
/* {device id: virtio-blk index} of the devices QEMU has or is getting. */
QmpValue *dm_drive_indexes(Dm *dm);
/* Gives device @id (learnt from QEMU) back the drive name it had. */
void dm_restore_drive_index(Dm *dm, const char *id, guint index);
/* A QMP event from QEMU: DEVICE_DELETED frees the device's index. */
void dm_event(Dm *dm, QmpValue *event);
/* A device QEMU had before the proxy came. */
typedef struct {
    const char *id;
    const char *drive;    /* block node it uses, or NULL */
    const char *driver;   /* its QOM type */
    const char *scsi_bus; /* a SCSI disk's bus and address (-1: unknown) */
    gint64 scsi_id, lun;
    const char *pci_bus; /* a PCI device's bus and devfn (-1: unknown) */
    gint64 devfn;
} DmLearnt;
void dm_learn(Dm *dm, const DmLearnt *learnt);
/* A device QEMU has, of QOM type @qom_type: if it provides a PCI bus the
 * proxy can place devices on, that bus becomes known. */
void dm_learn_bus(Dm *dm, const char *id, const char *qom_type);
/* The PCI buses (device ids) to fill in device_add's bus/addr from. */
void dm_set_hotplug_buses(Dm *dm, char **buses);
/* Whether QOM type @type is a SCSI disk whose address the proxy manages. */
gboolean dm_is_scsi_disk_type(const char *type);
/* Every device QEMU has or is getting, as __org.qmproxy_query-devices
 * returns them (schema/qmproxy.json), but those whose ids are keys of
 * @except (may be NULL). */
QmpValue *dm_query_devices(Dm *dm, GHashTable *except);
/* Device @id as query-devices shows it, with @state unless NULL; NULL if
 * QEMU neither has it nor is getting it. */
QmpValue *dm_describe(Dm *dm, const char *id, const char *state);
/* A device_del for @id went to QEMU / was refused by it. */
void dm_unplug_sent(Dm *dm, const char *id);
void dm_unplug_refused(Dm *dm, const char *id);
/* The id of a device being unplugged that uses what @command (with
 * @args) would remove, or NULL. */
const char *dm_backend_busy(Dm *dm, const char *command, QmpValue *args);
