/* manager-internal.h - what manager.c (the operations) and
 * manager-state.c (saving, loading, reconciling) share. */
#pragma once

#include "manager.h"
#include "state.h"

#include <sys/stat.h>

typedef enum {
    KIND_VIRTIO_BLK,
    KIND_VIRTIO_SCSI,
    KIND_VHOST_USER_BLK,
    KIND_VFIO_PCI,
    KIND_COUNT,
} Kind;

typedef enum {
    STATE_DETACHED,
    STATE_PLUGGING,
    STATE_ATTACHED,
    STATE_UNPLUGGING,
    STATE_COUNT,
} State;

extern const char *const manager_kind_names[KIND_COUNT];
extern const char *const manager_state_names[STATE_COUNT];

typedef struct {
    Manager *m;
    char *id;
    Kind kind;
    char *path;
    char *key; /* the host device's identity */
    gboolean read_only;
    char *bus; /* NULL: the default for its kind */
    gboolean has_rdev;
    guint major, minor;
    guint attach_count;
    guint ref_count;
    State state;
    GQueue ops;       /* of Op, oldest first */
    gboolean busy;    /* the head operation waits for QEMU or the disk */
    gboolean waiting; /* ... for the unplug to finish */
    gboolean deleted; /* DEVICE_DELETED came; the back end is on its way out */
    gboolean running; /* run() is on the stack */
    gboolean gone;    /* out of the table; freed when idle */
    gboolean removed; /* its last reference is dropped: no longer saved */
    gboolean unsaved; /* made by a device-new whose save is under way */
    guint unplug_timer;
    /* what the change being saved goes back to if the save fails */
    guint undo_attach, undo_ref;
    State undo_state;
    guint events, undo_events; /* QEMU events that changed the device */
    char *refusal;             /* QEMU's refusal of a device_del, being saved */
    gboolean refusal_pending;
    /* a plug: its QMP sequence and its record on disk, side by side */
    guint plug_pending;
    gpointer planned; /* the device_add to send (a Step) */
    gboolean device_added;
    gboolean record_first; /* device_add waits for the record (drive names) */
    gboolean record_done;
    gboolean parked;   /* the back end is there, the record is not yet */
    gboolean lost;     /* DEVICE_DELETED came while it was being plugged */
    guint del_pending; /* device_del replies to come: keeps the device */
    char *chain_error; /* the QMP sequence failed (and was undone) */
    GError *plug_save_error;
    char *rollback_error; /* the plug is being undone: the answer */
} MDevice;

struct Manager {
    Proxy *proxy;
    GHashTable *devices; /* id -> MDevice */
    gboolean closing;
    StateFile *state;        /* NULL: nothing is saved */
    GHashTable *drive_names; /* id -> virtio-blk index + 1, from the state file */
    ManagerReady ready;      /* called once reconciliation is over */
    guint reconciling;       /* QEMU's answers reconciliation waits for */
    QmpValue *nodes;         /* query-named-block-nodes, while reconciling */
    QmpValue *chardevs;      /* query-chardev, while reconciling */
    GPtrArray *savings;      /* saves devices wait for */
    GPtrArray *cleanups;     /* back ends reconciliation removes */
    gpointer lookup;         /* a device-new looking its host device up */
    GQueue gated;            /* commands waiting for it */
};

MDevice *manager_device_new(Manager *m, const char *id, Kind kind, const char *path);
/* The identity of a host device: "block MAJOR:MINOR" for a block device
 * (@st is filled in then), otherwise its path made absolute. */
char *manager_device_key(Kind kind, const char *path, struct stat *st);
gboolean manager_valid_id(const char *id);
/* Unplugs @d (again): its DEVICE_DELETED completes what was under way. */
void manager_send_device_del(MDevice *d);
void manager_device_free(MDevice *d);
/* The name of the block node (or chardev) the device's back end gets. */
const char *manager_backend_name(MDevice *d, char *buf, gsize size);
gboolean manager_has_backend(MDevice *d);
/* The command removing the device's back end. */
GString *manager_backend_removal(MDevice *d);

/* manager-state.c */
/* The whole table as the state file holds it. */
GString *manager_snapshot(gpointer manager);
void manager_cleanup_free(gpointer cleanup);
/* Writes the table after a change that waits for nothing. */
void manager_save(Manager *m);
