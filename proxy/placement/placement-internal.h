/* placement-internal.h - what the placement layer's files share: the
 * devices it knows, the index maps, and the back-end removals it holds. */
#pragma once

#include "placement.h"

/* Properties by which a device refers to the back ends it uses, and the
 * commands (and their argument) that remove such a back end. */
typedef struct {
    const char *property;
    const char *command;
    const char *argument;
} PlacementBackend;

#define PLACEMENT_N_BACKENDS 5
extern const PlacementBackend placement_backends[PLACEMENT_N_BACKENDS];

typedef struct Plug Plug;

/* A device QEMU has (or is getting), as far as addresses go. */
typedef struct {
    char *id;
    char *driver;
    char *ns; /* the index map it has an index in; NULL: none */
    guint index;
    char *backend[PLACEMENT_N_BACKENDS];
    gboolean unplugging;
    gint blk_index; /* in the virtio-blk namespace (drive names), or -1 */
    char *pci_bus;  /* a PCI device's bus and devfn (-1: unknown), for its path */
    gint devfn;
    gboolean picked;     /* its address is the layer's choice, not the client's */
    gboolean bus_picked; /* ... its PCI bus too */
    Plug *plug;          /* while plugging: its device_add on the way */
} PlacedDevice;

struct Placement {
    Core *core;
    CoreLayer *layer;
    guint unplug_timeout;
    GHashTable *maps;         /* namespace -> IndexMap */
    GHashTable *devices;      /* device id -> PlacedDevice */
    GHashTable *plugging;     /* device id -> PlacedDevice, device_add on its way */
    GHashTable *reserved;     /* device id -> virtio-blk index + 1, chosen ahead */
    GPtrArray *hotplug_buses; /* PCI buses to fill in, in the order given */
    GHashTable *first_slot;   /* "pci:BUS" -> its first hot-pluggable slot + 1 */
    GFunc changed;            /* a drive name was given or freed */
    gpointer changed_data;
    GPtrArray *holds; /* back-end removals waiting for DEVICE_DELETED */
    gboolean stopping;
    /* learn.c's placement_learn(), which placement.c below it calls when
     * QEMU finds an address taken (layer.c sets it) */
    void (*learn)(Placement *pl, gboolean at_start, void (*done)(gpointer data, guint devices),
                  gpointer data);
};

/* ---- placement.c: what QEMU has, and where a device_add goes ---- */

Placement *placement_create(Core *core, const PlacementOptions *options);
void placement_destroy(Placement *pl);
/* A device_add: its address filled in when it has none, and what it
 * takes followed until QEMU answers. */
void placement_plug(Placement *pl, CoreRequest *req);
/* QEMU's DEVICE_DELETED for @id: what it held is free. */
void placement_deleted(Placement *pl, const char *id);

/* Whether QOM type @type is a SCSI disk whose address the layer manages. */
gboolean placement_is_scsi_disk_type(const char *type);
/* A device QEMU had before the proxy came. */
typedef struct {
    const char *id;
    const char *drive;    /* block node it uses, or NULL */
    const char *driver;   /* its QOM type */
    const char *scsi_bus; /* a SCSI disk's bus and address (-1: unknown) */
    gint64 scsi_id, lun;
    const char *pci_bus; /* a PCI device's bus and devfn (-1: unknown) */
    gint64 devfn;
} PlacementLearnt;
/* (@name_it: a virtio-blk disk gets a drive name, as one plugged through
 * the proxy would; at start the device manager restores those it knew) */
void placement_learn_device(Placement *pl, const PlacementLearnt *learnt, gboolean name_it);
/* A device QEMU has of QOM type @qom_type: if it provides a PCI bus the
 * layer can place devices on, that bus becomes known. */
void placement_learn_bus(Placement *pl, const char *id, const char *qom_type);
/* The id of a device being unplugged that uses what @command (with @args)
 * would remove, or NULL. */
const char *placement_backend_busy(Placement *pl, const char *command, QmpValue *args);

/* ---- unplug.c: device_del, and back-end removals held for DEVICE_DELETED ---- */

/* A device_del: the back ends its device holds must wait for its
 * DEVICE_DELETED from now on. */
void placement_unplug_mark(Placement *pl, CoreRequest *req);

/* Holds @req if it removes a back end a device being unplugged still
 * uses: QEMU answers device_del before the device is gone. */
CoreVerdict placement_unplug_hold(Placement *pl, CoreRequest *req);
/* Device @device is gone (or stays): what waited for it goes on. */
void placement_unplug_release(Placement *pl, const char *device);
void placement_unplug_stop(Placement *pl);

/* ---- learn.c: what QEMU has, before the first client and when a plug
 * finds an address taken ---- */

typedef void (*PlacementLearnDone)(gpointer data, guint devices);
/* Asks QEMU what devices it has; those the layer does not know are
 * learnt; then @done(@data, how many QEMU has). */
void placement_learn(Placement *pl, gboolean at_start, PlacementLearnDone done, gpointer data);
