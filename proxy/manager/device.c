/* device.c - a managed device: its identity, where it stands, how it
 * describes itself, and what QEMU gets for it. Everything QEMU gets is
 * named from the device's id ("drive-ID", "char-ID"), so that what QEMU
 * holds for a device it does not have can be found after a restart. */
#include "manager-internal.h"

#include <string.h>
#include <sys/sysmacros.h>

/* node names are at most 31 characters: "drive-" and the id */

/* the QEMU device each kind becomes */
const char *const manager_kind_drivers[QMPROXY_DEVICE_DRIVER__MAX] = {
    [QMPROXY_DEVICE_DRIVER_VIRTIO_BLK] = "virtio-blk-pci",
    [QMPROXY_DEVICE_DRIVER_VIRTIO_SCSI] = "scsi-hd",
    [QMPROXY_DEVICE_DRIVER_VHOST_USER_BLK] = "vhost-user-blk-pci",
    [QMPROXY_DEVICE_DRIVER_VFIO_PCI] = "vfio-pci",
    [QMPROXY_DEVICE_DRIVER_VHOST_USER_FS] = "vhost-user-fs-pci",
    [QMPROXY_DEVICE_DRIVER_VHOST_USER_NET] = "virtio-net-pci",
    [QMPROXY_DEVICE_DRIVER_VHOST_USER_SCSI] = "vhost-user-scsi-pci",
};

static const char *const track_names[TRACK_COUNT] = { "op", "plug", "record", "unplug", "life" };
static const char *const *const step_names[TRACK_COUNT] = {
    [TRACK_OP] = (const char *const[]){ "idle", "busy", "waiting" },
    [TRACK_PLUG] =
        (const char *const[]){ "none", "backend", "parked", "device", "undoing", "done" },
    [TRACK_RECORD] = (const char *const[]){ "none", "saving", "saved", "failed" },
    [TRACK_UNPLUG] = (const char *const[]){ "none", "saving", "waiting", "deleted", "refusing" },
    [TRACK_LIFE] = (const char *const[]){ "unsaved", "kept", "removed", "gone" },
};

ManagerDevice *manager_device_new(Manager *m, const char *id, ManagerKind kind, const char *path)
{
    ManagerDevice *d = g_new0(ManagerDevice, 1);

    d->m = m;
    d->id = g_strdup(id);
    d->kind = kind;
    d->path = g_strdup(path);
    d->step[TRACK_LIFE] = LIFE_KEPT;
    g_queue_init(&d->ops);
    return d;
}

static void op_free(ManagerOp *op)
{
    core_request_unref(op->req);
    g_free(op->key);
    g_free(op);
}

void manager_device_free(ManagerDevice *d)
{
    g_clear_handle_id(&d->unplug_timer, g_source_remove);
    g_queue_clear_full(&d->ops, (GDestroyNotify)op_free);
    g_free(d->id);
    g_free(d->path);
    g_free(d->key);
    g_free(d->bus);
    g_free(d->tag);
    g_free(d->mac);
    g_free(d->refusal);
    g_free(d->chain_error);
    g_free(d->rollback_error);
    g_clear_error(&d->plug_save_error);
    g_free(d);
}

void manager_device_step(ManagerDevice *d, ManagerTrack track, guint step)
{
    if (d->step[track] != step) {
        g_debug("device %s: %s %s -> %s", d->id, track_names[track],
                step_names[track][d->step[track]], step_names[track][step]);
        d->step[track] = step;
    }
}

void manager_device_state(ManagerDevice *d, ManagerState state)
{
    if (d->state != state) {
        g_debug("device %s: %s -> %s", d->id, qmproxy_device_state_names[d->state],
                qmproxy_device_state_names[state]);
        d->state = state;
    }
}

QmpValue *manager_device_describe(ManagerDevice *d)
{
    const char *state = qmproxy_device_state_names[d->state];
    QmpValue *info = d->state != QMPROXY_DEVICE_STATE_DETACHED
                         ? placement_describe(d->m->pl, d->id, state)
                         : NULL;

    if (!info) {
        info = qmp_value_new_dict();
        qmp_value_dict_add(info, "id", qmp_value_new_string(d->id));
        qmp_value_dict_add(info, "driver", qmp_value_new_string(manager_kind_drivers[d->kind]));
        qmp_value_dict_add(info, "state", qmp_value_new_string(state));
    }
    qmp_value_dict_add(info, "kind", qmp_value_new_string(qmproxy_device_driver_names[d->kind]));
    qmp_value_dict_add(info, "path", qmp_value_new_string(d->path));
    qmp_value_dict_add(info, "read-only", qmp_value_new_bool(d->read_only));
    if (d->has_rdev) {
        qmp_value_dict_add(info, "major", qmp_value_new_int(d->major));
        qmp_value_dict_add(info, "minor", qmp_value_new_int(d->minor));
    }
    qmp_value_dict_add(info, "attach-count", qmp_value_new_int(d->attach_count));
    qmp_value_dict_add(info, "reference-count", qmp_value_new_int(d->ref_count));
    if (manager_kind_is_vhost_user(d->kind) && d->state != QMPROXY_DEVICE_STATE_DETACHED) {
        qmp_value_dict_add(info, "chardev",
                           qmp_value_new_string_take(manager_device_backend_name(d)));
        if (d->kind == QMPROXY_DEVICE_DRIVER_VHOST_USER_NET) {
            qmp_value_dict_add(info, "netdev",
                               qmp_value_new_string_take(manager_device_netdev_name(d)));
        }
    }
    if (d->tag) {
        qmp_value_dict_add(info, "tag", qmp_value_new_string(d->tag));
    }
    if (d->mac) {
        qmp_value_dict_add(info, "mac", qmp_value_new_string(d->mac));
    }
    return info;
}

char *manager_device_key(ManagerKind kind, const char *path, struct stat *st)
{
    if (kind != QMPROXY_DEVICE_DRIVER_VFIO_PCI && !manager_kind_is_vhost_user(kind) &&
        stat(path, st) == 0 && S_ISBLK(st->st_mode)) {
        return g_strdup_printf("block %u:%u", major(st->st_rdev), minor(st->st_rdev));
    }
    return g_canonicalize_filename(path, "/");
}

gboolean manager_device_valid_id(const char *id)
{
    gsize len = strlen(id);

    if (len == 0 || len > MANAGER_ID_MAX || !g_ascii_isalpha(id[0])) {
        return FALSE;
    }
    return strspn(id, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._") == len;
}

gboolean manager_kind_is_vhost_user(ManagerKind kind)
{
    return kind == QMPROXY_DEVICE_DRIVER_VHOST_USER_BLK ||
           kind == QMPROXY_DEVICE_DRIVER_VHOST_USER_FS ||
           kind == QMPROXY_DEVICE_DRIVER_VHOST_USER_NET ||
           kind == QMPROXY_DEVICE_DRIVER_VHOST_USER_SCSI;
}

char *manager_device_backend_name(ManagerDevice *d)
{
    return g_strdup_printf("%s-%s", manager_kind_is_vhost_user(d->kind) ? "char" : "drive", d->id);
}

char *manager_device_netdev_name(ManagerDevice *d)
{
    return g_strdup_printf("net-%s", d->id);
}

gboolean manager_device_needs_record_first(ManagerDevice *d)
{
    return d->kind == QMPROXY_DEVICE_DRIVER_VIRTIO_BLK ||
           d->kind == QMPROXY_DEVICE_DRIVER_VHOST_USER_BLK;
}

void manager_device_emit(ManagerDevice *d, const char *event)
{
    if (!d->m->closing) {
        core_layer_emit(d->m->layer, event, manager_device_describe(d), MANAGER_CAPABILITY);
    }
}
