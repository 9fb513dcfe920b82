/* manager-internal.h - what the device manager's files share: a device,
 * its operations, and where its plug and unplug stand.
 *
 * A device's progress is kept as explicit steps on a few tracks (its head
 * operation, the plug's QMP sequence, the plug's record on disk, the
 * unplug, its life in the table), each changed only through
 * manager_device_step(), which logs the transition (-v shows them). Its
 * state as clients and the state file see it (detached, plugging,
 * attached, unplugging) changes only through manager_device_state(). */
#pragma once

#include "manager.h"
#include "schema-names.h"
#include "schema.h"
#include "state-file.h"

#include <sys/stat.h>

/* The capability a client enables to get the manager's events. */
#define MANAGER_CAPABILITY (qmproxy_qmpcapability_names[QMPROXY_QMPCAPABILITY_DEVICE_MANAGER])

/* The longest device id (schema/qmproxy.json): "drive-ID" is a QEMU
 * block node name, which QEMU holds in 32 bytes. */
#define MANAGER_ID_MAX 24

typedef QmproxyDeviceDriver ManagerKind;
typedef QmproxyDeviceState ManagerState;

/* The tracks a device's progress is kept on. */
typedef enum {
    TRACK_OP,     /* the head operation */
    TRACK_PLUG,   /* an attach's QMP sequence */
    TRACK_RECORD, /* an attach's "plugging" record */
    TRACK_UNPLUG, /* an unplug (a detach's, or an attach undone) */
    TRACK_LIFE,   /* the device in the table */
    TRACK_COUNT,
} ManagerTrack;

typedef enum {
    OP_IDLE,    /* the next operation may start */
    OP_BUSY,    /* the head operation waits for QEMU or the disk */
    OP_WAITING, /* ... for the unplug under way to be over */
} ManagerOpStep;

typedef enum {
    PLUG_NONE,
    PLUG_BACKEND, /* blockdev-add / chardev-add sent */
    PLUG_PARKED,  /* the back end is there; device_add waits for the record */
    PLUG_DEVICE,  /* device_add sent */
    PLUG_UNDOING, /* failed: the back end made for it is being removed */
    PLUG_DONE,    /* over, well (QEMU has the device) or not (@chain_error) */
} ManagerPlugStep;

typedef enum {
    RECORD_NONE,
    RECORD_SAVING, /* "plugging" is being written */
    RECORD_SAVED,
    RECORD_FAILED, /* @plug_save_error says why */
} ManagerRecordStep;

typedef enum {
    UNPLUG_NONE,
    UNPLUG_SAVING,   /* "unplugging" is being written, device_del waits */
    UNPLUG_WAITING,  /* device_del sent: DEVICE_DELETED is awaited */
    UNPLUG_DELETED,  /* DEVICE_DELETED came: the back end is on its way out */
    UNPLUG_REFUSING, /* QEMU refused the device_del: that it stays is being saved */
} ManagerUnplugStep;

typedef enum {
    LIFE_UNSAVED, /* made by a device-new whose save is under way */
    LIFE_KEPT,
    LIFE_REMOVED, /* its last reference is dropped: no longer saved */
    LIFE_GONE,    /* out of the table; freed once nothing refers to it */
} ManagerLifeStep;

typedef struct Manager Manager;

typedef struct {
    Manager *m;
    char *id;
    ManagerKind kind;
    char *path;
    char *key; /* the host device's identity */
    gboolean read_only;
    char *bus;                 /* NULL: the default for its kind */
    char *tag;                 /* vhost-user-fs */
    char *mac;                 /* vhost-user-net; NULL: QEMU's */
    gint64 queue_size, queues; /* 0: QEMU's default */
    guint backends_made;       /* back-end steps of the plug under way that QEMU took */
    gboolean has_rdev;
    guint major, minor;
    guint attach_count;
    guint ref_count;
    ManagerState state;
    guint step[TRACK_COUNT];
    GQueue ops;       /* of ManagerOp, oldest first */
    gboolean running; /* manager_op_run() is on the stack */
    guint unplug_timer;
    /* what the change being saved goes back to if the save fails */
    guint undo_attach, undo_ref;
    ManagerState undo_state;
    guint events, undo_events; /* QEMU events that changed the device */
    char *refusal;             /* QEMU's refusal of a device_del, being saved */
    gboolean lost;             /* DEVICE_DELETED came while it was being plugged */
    guint del_pending;         /* device_del replies to come: keeps the device */
    char *chain_error;         /* the plug's QMP sequence failed (and was undone) */
    GError *plug_save_error;
    char *rollback_error; /* the plug is being undone: its answer */
} ManagerDevice;

typedef enum {
    OP_NEW,
    OP_QUERY,
    OP_ATTACH,
    OP_DETACH,
    OP_REMOVE,
    OP_REFERENCE,
    OP_DEREFERENCE,
} ManagerOpKind;

typedef struct {
    ManagerOpKind kind;
    CoreRequest *req;
    char *key; /* a device-new's host device (manager_device_key()) */
} ManagerOp;

struct Manager {
    Core *core;
    CoreLayer *layer;
    Placement *pl;
    Schema *schema;
    guint unplug_timeout;
    GHashTable *devices; /* id -> ManagerDevice */
    gboolean closing;
    StateFile *state;        /* NULL: nothing is saved */
    GHashTable *drive_names; /* id -> virtio-blk index + 1, from the state file */
    CoreLayer *starting;     /* reconciliation under way: the layer to start */
    guint reconciling;       /* QEMU's answers reconciliation waits for */
    QmpValue *nodes;         /* query-named-block-nodes, while reconciling */
    QmpValue *chardevs;      /* query-chardev, while reconciling */
    GPtrArray *savings;      /* saves devices wait for */
    GPtrArray *cleanups;     /* back ends reconciliation removes */
    GThreadPool *lookups;    /* device-new's look at its host device */
    gpointer lookup;         /* the one under way */
    GQueue gated;            /* of CoreRequest: commands waiting for it */
    /* what the layer (manager.c) does for the files below it */
    void (*start_op)(ManagerDevice *d, ManagerOp *op); /* the head operation starts */
    void (*dispatch)(Manager *m, CoreRequest *req);    /* a command that waited */
};

/* ---- device.c: a device and its steps ---- */

extern const char *const manager_kind_drivers[QMPROXY_DEVICE_DRIVER__MAX];
ManagerDevice *manager_device_new(Manager *m, const char *id, ManagerKind kind, const char *path);
void manager_device_free(ManagerDevice *d);
/* Moves @d on @track to @step, logging it. */
void manager_device_step(ManagerDevice *d, ManagerTrack track, guint step);
/* The state clients and the file see, logged when it changes. */
void manager_device_state(ManagerDevice *d, ManagerState state);
/* The device as __org.qmproxy_DeviceInfo. */
QmpValue *manager_device_describe(ManagerDevice *d);
/* Sends the manager's event @event about @d to the clients that asked. */
void manager_device_emit(ManagerDevice *d, const char *event);
/* The identity of a host device: "block MAJOR:MINOR" for a block device
 * (@st is filled in then), otherwise its path made absolute. */
char *manager_device_key(ManagerKind kind, const char *path, struct stat *st);
gboolean manager_device_valid_id(const char *id);
/* The block node (or chardev) its back end gets, if it has one (see
 * manager_qemu_backend_steps()). */
char *manager_device_backend_name(ManagerDevice *d);
/* Whether its back end is a vhost-user daemon's socket. */
gboolean manager_kind_is_vhost_user(ManagerKind kind);
/* The netdev a vhost-user-net device gets. */
char *manager_device_netdev_name(ManagerDevice *d);
/* Whether its device_add waits for its record: a vdX name must be on
 * disk before QEMU can have the device, which cannot tell a restarted
 * proxy which one the guest was given. */
gboolean manager_device_needs_record_first(ManagerDevice *d);

/* ---- qemu.c: what QEMU is told for a device, and what it answers ---- */

/* How many commands make its back end (0: none), and step @i of them. */
guint manager_qemu_backend_steps(ManagerDevice *d);
QmpValue *manager_qemu_backend_step(ManagerDevice *d, guint i);
/* The command removing what the first @made steps made (NULL: nothing). */
QmpValue *manager_qemu_backend_removal(ManagerDevice *d, guint made);
/* The device_add (placement fills in its address), the device_del. */
QmpValue *manager_qemu_device_add(ManagerDevice *d);
QmpValue *manager_qemu_device_del(ManagerDevice *d);
/* QEMU's error message in @reply, or why there is none; whether it
 * succeeded. */
const char *manager_qemu_error(QmpValue *reply);
gboolean manager_qemu_ok(QmpValue *reply);
/* Whether @reply says QEMU has no such device, chardev or netdev. */
gboolean manager_qemu_not_found(QmpValue *reply);

/* ---- table.c: the table on disk ---- */

/* The whole table as the state file holds it. */
GString *manager_table_snapshot(gpointer manager);
gboolean manager_table_open(Manager *m, const char *path, gboolean reset, GError **error);
/* Makes the change just made to @d durable, then calls @then (at once
 * without --state). */
typedef void (*ManagerThen)(ManagerDevice *d, const GError *error);
void manager_table_persist(ManagerDevice *d, ManagerThen then);
/* Writes the table after a change that waits for nothing. */
void manager_table_save(Manager *m);

/* ---- op.c: operations one at a time, and their answers ---- */

/* The command of each operation. */
extern const char *const manager_op_commands[];
void manager_op_queue(ManagerDevice *d, ManagerOpKind kind, CoreRequest *req, const char *key);
/* Runs queued operations until one has to wait for QEMU or the disk. */
void manager_op_run(ManagerDevice *d);
/* Answers the head operation and takes it off: @ret (borrowed), or an
 * error; or with the device as it is now. */
void manager_op_answer(ManagerDevice *d, QmpValue *ret, const char *klass, const char *desc);
void manager_op_answer_info(ManagerDevice *d);
/* The sequence under way is over: @event (may be NULL) is sent and the
 * head operation answered (@error, taken: NULL for success). */
void manager_op_conclude(ManagerDevice *d, char *error, const char *event);
void manager_op_fail(ManagerDevice *d, const char *step, const char *why);
/* A change to be saved before anything went to QEMU could not be. */
void manager_op_refuse_unsaved(ManagerDevice *d, const GError *error);
/* The short name of the head operation's command, for messages. */
const char *manager_op_name(ManagerDevice *d);
/* Sends @cmd (taken) for @d, made for its head operation's client;
 * FALSE (@cmd dropped, @done not called) when the proxy is closing. */
gboolean manager_op_send(ManagerDevice *d, QmpValue *cmd, CoreDone done, gpointer data);

/* ---- unplug.c: a detach, or an attach undone ---- */

/* Unplugs @d: device_del once "unplugging" is on record, or at once when
 * undoing a plug whose record could not be written (@record FALSE). */
void manager_unplug(ManagerDevice *d, gboolean record);
/* The head operation waits until the unplug under way is over. */
void manager_unplug_wait(ManagerDevice *d);
/* Unplugs @d (again): its DEVICE_DELETED completes what was under way. */
void manager_unplug_send(ManagerDevice *d);
/* QEMU has let go of the device: its back end can go. */
void manager_unplug_remove_backend(ManagerDevice *d);
/* A DEVICE_DELETED for @d. */
void manager_unplug_deleted(ManagerDevice *d);

/* ---- plug.c: an attach ---- */

void manager_plug(ManagerDevice *d);

/* ---- lookup.c: device-new, its host device looked at off the loop ---- */

/* Kata's NewDevice: the device for a host device, made if need be. */
void manager_lookup_device_new(Manager *m, CoreRequest *req);
/* The rest of a device-new, once @key, its host device, is known. */
void manager_lookup_device_new_keyed(Manager *m, CoreRequest *req, const char *key);
/* Whether commands must wait behind a lookup under way (then it queues
 * @req, taking a reference). */
gboolean manager_lookup_gate(Manager *m, CoreRequest *req);
void manager_lookup_stop(Manager *m);

/* ---- reconcile.c: at start, the table made to agree with QEMU ---- */

void manager_reconcile_start(Manager *m, CoreLayer *layer);
void manager_reconcile_free(Manager *m);
