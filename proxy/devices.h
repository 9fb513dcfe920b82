/* devices.h - the device manager's view of what QEMU has: block indexes
 * per namespace and the devices the proxy addressed. */
#pragma once

#include "value.h"

typedef struct Dm Dm;
typedef struct DmPlug DmPlug;

Dm *dm_new(void);
void dm_free(Dm *dm);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(Dm, dm_free)

/* Looks at a device_add request (@msg, whose text is @raw): when it plugs
 * a SCSI disk on a named bus without an address, picks the lowest free
 * one and returns the request's new text in *@rewritten; when it names an
 * address, reserves it. Returns what was taken (settle it with
 * dm_plug_done()), or NULL when the request is none of the proxy's
 * business. */
DmPlug *dm_device_add(Dm *dm, QmpValue *msg, const char *raw, gsize raw_len, GString **rewritten);
/* QEMU's answer to that device_add (a RouteDone): an error, or none at
 * all, frees what was taken. Frees @plug. */
void dm_plug_done(gpointer plug, QmpValue *reply);
/* A QMP event from QEMU: DEVICE_DELETED frees the device's index. */
void dm_event(Dm *dm, QmpValue *event);
/* The index used in @ns (e.g. "scsi0.0") by device @id, or -1. */
gint dm_device_index(Dm *dm, const char *ns, const char *id);
