/* qemu.c - what QEMU is told for a device, and what its answers mean.
 * Everything QEMU gets for a device is named from the device's id
 * ("drive-ID", "char-ID"), so that what QEMU holds for a device it does
 * not have can be found after a restart. */
#include "manager-internal.h"

#define DEFAULT_SCSI_BUS "scsi0.0"

guint manager_qemu_backend_steps(ManagerDevice *d)
{
    switch (d->kind) {
    case QMPROXY_DEVICE_DRIVER_VFIO_PCI:
    case QMPROXY_DEVICE_DRIVER__MAX:
        return 0;
    case QMPROXY_DEVICE_DRIVER_VHOST_USER_NET:
        return 2; /* the chardev, then the netdev on it */
    default:
        return 1;
    }
}

/* A client chardev on the back end's socket: the daemon listens. */
static QmpValue *chardev_add(ManagerDevice *d)
{
    QmpValue *addr = qmp_value_new_dict_of(
        "type", qmp_value_new_string("unix"), "data",
        qmp_value_new_dict_of("path", qmp_value_new_string(d->path), NULL), NULL);
    QmpValue *socket = qmp_value_new_dict_of(
        "type", qmp_value_new_string("socket"), "data",
        qmp_value_new_dict_of("server", qmp_value_new_bool(FALSE), "addr", addr, NULL), NULL);

    return qmp_command_new("chardev-add", "id",
                           qmp_value_new_string_take(manager_device_backend_name(d)), "backend",
                           socket, NULL);
}

QmpValue *manager_qemu_backend_step(ManagerDevice *d, guint i)
{
    if (manager_kind_is_vhost_user(d->kind) && i == 0) {
        return chardev_add(d);
    }
    if (d->kind == QMPROXY_DEVICE_DRIVER_VHOST_USER_NET) {
        QmpValue *cmd =
            qmp_command_new("netdev_add", "type", qmp_value_new_string("vhost-user"), "id",
                            qmp_value_new_string_take(manager_device_netdev_name(d)), "chardev",
                            qmp_value_new_string_take(manager_device_backend_name(d)), NULL);

        if (d->queues) {
            qmp_value_dict_add(qmp_value_dict_get(cmd, "arguments"), "queues",
                               qmp_value_new_int(d->queues));
        }
        return cmd;
    }
    return qmp_command_new(
        "blockdev-add", "driver", qmp_value_new_string(d->has_rdev ? "host_device" : "file"),
        "node-name", qmp_value_new_string_take(manager_device_backend_name(d)), "read-only",
        qmp_value_new_bool(d->read_only), "filename", qmp_value_new_string(d->path), NULL);
}

QmpValue *manager_qemu_backend_removal(ManagerDevice *d, guint made)
{
    if (made == 0) {
        return NULL;
    }
    if (d->kind == QMPROXY_DEVICE_DRIVER_VHOST_USER_NET && made > 1) {
        /* QEMU removes the netdev's chardev with it */
        return qmp_command_new("netdev_del", "id",
                               qmp_value_new_string_take(manager_device_netdev_name(d)), NULL);
    }
    QmpValue *name = qmp_value_new_string_take(manager_device_backend_name(d));
    if (manager_kind_is_vhost_user(d->kind)) {
        return qmp_command_new("chardev-remove", "id", name, NULL);
    }
    return qmp_command_new("blockdev-del", "node-name", name, NULL);
}

/* The device_add for @d; placement fills in its address and drive name
 * as for a client's. */
QmpValue *manager_qemu_device_add(ManagerDevice *d)
{
    QmpValue *args =
        qmp_value_new_dict_of("driver", qmp_value_new_string(manager_kind_drivers[d->kind]), "id",
                              qmp_value_new_string(d->id), NULL);
    g_autofree char *backend = manager_device_backend_name(d);

    switch (d->kind) {
    case QMPROXY_DEVICE_DRIVER_VIRTIO_SCSI:
        qmp_value_dict_add(args, "bus", qmp_value_new_string(d->bus ? d->bus : DEFAULT_SCSI_BUS));
        qmp_value_dict_add(args, "drive", qmp_value_new_string(backend));
        break;
    case QMPROXY_DEVICE_DRIVER_VIRTIO_BLK:
        qmp_value_dict_add(args, "drive", qmp_value_new_string(backend));
        break;
    case QMPROXY_DEVICE_DRIVER_VHOST_USER_BLK:
    case QMPROXY_DEVICE_DRIVER_VHOST_USER_SCSI:
        qmp_value_dict_add(args, "chardev", qmp_value_new_string(backend));
        break;
    case QMPROXY_DEVICE_DRIVER_VHOST_USER_FS:
        qmp_value_dict_add(args, "chardev", qmp_value_new_string(backend));
        qmp_value_dict_add(args, "tag", qmp_value_new_string(d->tag));
        if (d->queue_size) {
            qmp_value_dict_add(args, "queue-size", qmp_value_new_int(d->queue_size));
        }
        break;
    case QMPROXY_DEVICE_DRIVER_VHOST_USER_NET:
        qmp_value_dict_add(args, "netdev",
                           qmp_value_new_string_take(manager_device_netdev_name(d)));
        if (d->mac) {
            qmp_value_dict_add(args, "mac", qmp_value_new_string(d->mac));
        }
        break;
    case QMPROXY_DEVICE_DRIVER_VFIO_PCI:
    case QMPROXY_DEVICE_DRIVER__MAX: {
        /* /sys/bus/pci/devices/0000:01:00.0 -> host=0000:01:00.0 */
        qmp_value_dict_add(args, "host", qmp_value_new_string_take(g_path_get_basename(d->path)));
        break;
    }
    }
    if (d->bus && d->kind != QMPROXY_DEVICE_DRIVER_VIRTIO_SCSI) {
        qmp_value_dict_add(args, "bus", qmp_value_new_string(d->bus));
    }
    QmpValue *cmd = qmp_value_new_dict_of("execute", qmp_value_new_string("device_add"),
                                          "arguments", args, NULL);
    return cmd;
}

QmpValue *manager_qemu_device_del(ManagerDevice *d)
{
    return qmp_command_new("device_del", "id", qmp_value_new_string(d->id), NULL);
}

const char *manager_qemu_error(QmpValue *reply)
{
    QmpValue *err = reply ? qmp_value_dict_get(reply, "error") : NULL;
    const char *desc = err ? qmp_value_dict_get_string(err, "desc") : NULL;

    if (!reply) {
        return "QEMU went away";
    }
    return desc ? desc : "QEMU answered with an error";
}

gboolean manager_qemu_ok(QmpValue *reply)
{
    return reply && qmp_value_dict_get(reply, "return");
}

gboolean manager_qemu_not_found(QmpValue *reply)
{
    QmpValue *err = reply ? qmp_value_dict_get(reply, "error") : NULL;
    const char *desc = err ? qmp_value_dict_get_string(err, "desc") : NULL;

    /* qmp_dispatch's class for a missing device; chardev-remove's words */
    return err && (g_strcmp0(qmp_value_dict_get_string(err, "class"), "DeviceNotFound") == 0 ||
                   (desc && g_str_has_suffix(desc, "' not found")));
}
