/* learn.c - learning what QEMU has: before the first client, and again
 * when a device_add finds the address the layer chose taken.
 *
 * A proxy put in front of a QEMU that already has devices must never hand
 * out an address one of them uses, nor one that a device plugged through
 * another monitor took since. It asks QEMU: qom-list of
 * /machine/peripheral for the devices and their types (which tell the
 * PCI buses it can place devices on), then for each device it does not
 * know the back end it uses (drive), its bus (parent_bus) and its address
 * (scsi-id and lun, or the PCI addr). At start the layer has started once
 * it knows; clients are served afterwards. */
#include "placement-internal.h"

#include <string.h>

typedef struct {
    Placement *pl;
    gboolean at_start;
    guint pending; /* questions asked and not answered */
    guint devices;
    PlacementLearnDone done;
    gpointer done_data;
} Learn;

/* What is learnt of one device, answer by answer. */
typedef struct {
    Learn *learn;
    char *id;
    char *type;
    gboolean scsi;
    char *bus;
    gint64 scsi_id, lun, devfn;
    char *drive;
    guint left;
} LearntDevice;

typedef void (*Answer)(gpointer data, QmpValue *ret);

typedef struct {
    Learn *learn;
    Answer answer;
    gpointer data;
} Question;

static void finish_if_done(Learn *l)
{
    if (l->pending == 0) {
        l->done(l->done_data, l->devices);
        g_free(l);
    }
}

static void on_reply(gpointer data, QmpValue *reply)
{
    Question *q = data;
    Learn *l = q->learn;

    /* a property a device does not have is just not learnt */
    q->answer(q->data, reply ? qmp_value_dict_get(reply, "return") : NULL);
    g_free(q);
    l->pending--;
    finish_if_done(l);
}

/* Sends @cmd (taken), on nobody's behalf and not traced. */
static void ask(Learn *l, QmpValue *cmd, Answer answer, gpointer data)
{
    Question *q = g_new0(Question, 1);

    q->learn = l;
    q->answer = answer;
    q->data = data;
    l->pending++;
    core_layer_send(l->pl->layer, cmd, 0, NULL, on_reply, q);
}

static void device_done(LearntDevice *d)
{
    if (--d->left > 0) {
        return;
    }
    /* ".../scsi0/virtio-backend/scsi0.0", ".../br0/br0": the bus is the last part */
    const char *bus = d->bus ? strrchr(d->bus, '/') : NULL;
    PlacementLearnt learnt = { d->id, d->drive, d->type };
    if (bus && d->scsi) {
        learnt.scsi_bus = bus + 1;
        learnt.scsi_id = d->scsi_id;
        learnt.lun = d->lun;
    } else if (bus) {
        learnt.pci_bus = bus + 1;
        learnt.devfn = d->devfn;
    }
    placement_learn_device(d->learn->pl, &learnt, !d->learn->at_start);
    g_free(d->id);
    g_free(d->type);
    g_free(d->bus);
    g_free(d->drive);
    g_free(d);
}

static void got_string(char **field, QmpValue *ret)
{
    const char *s = ret ? qmp_value_get_string(ret) : NULL;

    *field = s && *s ? g_strdup(s) : NULL;
}

static void got_bus(gpointer data, QmpValue *ret)
{
    LearntDevice *d = data;

    got_string(&d->bus, ret);
    device_done(d);
}

static void got_drive(gpointer data, QmpValue *ret)
{
    LearntDevice *d = data;

    got_string(&d->drive, ret);
    device_done(d);
}

static gint64 uint_of(QmpValue *ret)
{
    if (ret && qmp_value_type(ret) == QMP_VALUE_INT) {
        return qmp_value_get_int(ret);
    }
    return -1;
}

static void got_scsi_id(gpointer data, QmpValue *ret)
{
    LearntDevice *d = data;

    d->scsi_id = uint_of(ret);
    device_done(d);
}

static void got_devfn(gpointer data, QmpValue *ret)
{
    LearntDevice *d = data;

    d->devfn = uint_of(ret);
    device_done(d);
}

static void got_lun(gpointer data, QmpValue *ret)
{
    LearntDevice *d = data;

    d->lun = uint_of(ret);
    device_done(d);
}

static void ask_property(Learn *l, LearntDevice *d, const char *property, Answer answer)
{
    ask(l,
        qmp_command_new("qom-get", "path",
                        qmp_value_new_string_take(g_strconcat("/machine/peripheral/", d->id, NULL)),
                        "property", qmp_value_new_string(property), NULL),
        answer, d);
}

static void got_peripherals(gpointer data, QmpValue *ret)
{
    Learn *l = data;

    for (guint i = 0;
         ret && qmp_value_type(ret) == QMP_VALUE_LIST && i < qmp_value_list_length(ret); i++) {
        QmpValue *item = qmp_value_list_get(ret, i);
        const char *name = qmp_value_dict_get_string(item, "name");
        const char *type = qmp_value_dict_get_string(item, "type");

        if (!name || !type || !g_str_has_prefix(type, "child<") || strlen(type) < 8 ||
            !g_str_has_suffix(type, ">")) {
            continue;
        }
        g_autofree char *qom_type = g_strndup(type + 6, strlen(type) - 7); /* child<T> */
        /* buses first: the devices' answers come after all of them */
        placement_learn_bus(l->pl, name, qom_type);
        l->devices++;
        if (g_hash_table_contains(l->pl->devices, name) ||
            g_hash_table_contains(l->pl->plugging, name)) {
            continue; /* known already */
        }
        LearntDevice *d = g_new0(LearntDevice, 1);
        d->learn = l;
        d->id = g_strdup(name);
        d->type = g_strdup(qom_type);
        d->scsi = placement_is_scsi_disk_type(qom_type);
        d->scsi_id = d->lun = d->devfn = -1;
        d->left = d->scsi ? 4 : 3;
        ask_property(l, d, "drive", got_drive);
        ask_property(l, d, "parent_bus", got_bus);
        if (d->scsi) {
            ask_property(l, d, "scsi-id", got_scsi_id);
            ask_property(l, d, "lun", got_lun);
        } else {
            /* a PCI device's devfn; any other device has no addr */
            ask_property(l, d, "addr", got_devfn);
        }
    }
}

void placement_learn(Placement *pl, gboolean at_start, PlacementLearnDone done, gpointer data)
{
    Learn *l = g_new0(Learn, 1);

    l->pl = pl;
    l->at_start = at_start;
    l->done = done;
    l->done_data = data;
    ask(l, qmp_command_new("qom-list", "path", qmp_value_new_string("/machine/peripheral"), NULL),
        got_peripherals, l);
}
