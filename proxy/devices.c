/* devices.c - filling in what a plain device_add leaves out, and knowing
 * which back ends the devices being unplugged still hold.
 *
 * A PCI device plugged with neither bus nor addr gets the lowest free
 * slot on the buses named with --hotplug-bus, in their order (a root port
 * offers slot 0, a bridge slots 1 to 31); one with a bus but no addr,
 * the lowest free slot on that bus.
 *
 * A SCSI disk plugged with a bus but no scsi-id/lun gets the lowest free
 * address on that bus (Kata's index map: scsi-id = index / 256, lun =
 * index % 256), written into the client's own text so that everything
 * else reaches QEMU byte for byte. An address a client names is reserved,
 * so the proxy never hands it out; one already taken is sent on as is and
 * gets QEMU's own error. An index is freed when QEMU confirms the device is
 * gone (DEVICE_DELETED naming its id), never on device_del alone, and at
 * once when the device_add fails. */
#include "devices.h"

#include "framer.h"
#include "index-map.h"

#include <string.h>

/* virtio-scsi takes scsi-id up to 255 (and lun up to 16383, of which
 * Kata's addressing uses 0..255). */
#define SCSI_MAX_ID 255
#define SCSI_CAPACITY ((SCSI_MAX_ID + 1) * 256)

static const char *const scsi_drivers[] = { "scsi-hd", "scsi-cd", "scsi-block", "scsi-generic" };

/* Properties by which a device refers to the back ends it uses, and the
 * commands (and their argument) that remove such a back end. */
static const struct {
    const char *property;
    const char *command;
    const char *argument;
} backends[] = {
    { "drive", "blockdev-del", "node-name" }, { "chardev", "chardev-remove", "id" },
    { "netdev", "netdev_del", "id" },         { "iothread", "object-del", "id" },
    { "memdev", "object-del", "id" },
};

typedef struct {
    char *id;
    char *driver;
    char *ns; /* NULL: no index taken */
    guint index;
    char *backend[G_N_ELEMENTS(backends)];
    gboolean unplugging;
    gint blk_index; /* in the virtio-blk namespace (drive names), or -1 */
    char *pci_bus;  /* a PCI device's bus and devfn (-1: unknown), for its path */
    gint devfn;
} Device;

struct DmPlug {
    Dm *dm;
    Device *device; /* not yet in the table */
};

/* virtio-blk disks are named vda, vdb, ... from an index of their own */
#define VIRTIO_BLK_NS "virtio-blk"
#define VIRTIO_BLK_CAPACITY (1u << 18)

struct Dm {
    GHashTable *maps;         /* namespace -> IndexMap */
    GHashTable *devices;      /* device id -> Device */
    GHashTable *plugging;     /* device id -> Device, device_add on its way */
    GPtrArray *hotplug_buses; /* PCI buses to fill in, in the order given */
    GHashTable *first_slot;   /* "pci:BUS" -> its first hot-pluggable slot + 1 */
    GFunc changed;            /* a drive name was given or freed */
    gpointer changed_data;
};

/* PCI buses the proxy can place devices on, by the QOM type of the
 * device that provides them: a root port takes one device (slot 0), a
 * bridge with SHPC slots 1 to 31. */
static const struct {
    const char *type;
    guint first_slot;
    guint slots;
} pci_buses[] = {
    { "pcie-root-port", 0, 1 }, { "ioh3420", 0, 1 },          { "xio3130-downstream", 0, 1 },
    { "pci-bridge", 1, 31 },    { "pcie-pci-bridge", 1, 31 },
};

static void device_free(Device *d)
{
    for (guint i = 0; i < G_N_ELEMENTS(backends); i++) {
        g_free(d->backend[i]);
    }
    g_free(d->id);
    g_free(d->driver);
    g_free(d->ns);
    g_free(d->pci_bus);
    g_free(d);
}

Dm *dm_new(void)
{
    Dm *dm = g_new0(Dm, 1);

    dm->maps =
        g_hash_table_new_full(g_str_hash, g_str_equal, g_free, (GDestroyNotify)index_map_free);
    dm->devices = g_hash_table_new_full(g_str_hash, g_str_equal, NULL, (GDestroyNotify)device_free);
    dm->plugging = g_hash_table_new(g_str_hash, g_str_equal);
    dm->hotplug_buses = g_ptr_array_new_with_free_func(g_free);
    dm->first_slot = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    g_hash_table_insert(dm->maps, g_strdup(VIRTIO_BLK_NS), index_map_new(VIRTIO_BLK_CAPACITY));
    return dm;
}

void dm_set_hotplug_buses(Dm *dm, char **buses)
{
    for (guint i = 0; buses && buses[i]; i++) {
        g_ptr_array_add(dm->hotplug_buses, g_strdup(buses[i]));
    }
}

void dm_learn_bus(Dm *dm, const char *id, const char *qom_type)
{
    for (guint i = 0; i < G_N_ELEMENTS(pci_buses); i++) {
        if (strcmp(qom_type, pci_buses[i].type) == 0) {
            g_autofree char *ns = g_strconcat("pci:", id, NULL);

            g_hash_table_replace(dm->maps, g_strdup(ns), index_map_new(pci_buses[i].slots));
            g_hash_table_replace(dm->first_slot, g_steal_pointer(&ns),
                                 GUINT_TO_POINTER(pci_buses[i].first_slot + 1));
        }
    }
}

void dm_free(Dm *dm)
{
    if (!dm) {
        return;
    }
    g_hash_table_unref(dm->plugging);
    g_hash_table_unref(dm->devices);
    g_hash_table_unref(dm->maps);
    g_ptr_array_unref(dm->hotplug_buses);
    g_hash_table_unref(dm->first_slot);
    g_free(dm);
}

static IndexMap *map_for(Dm *dm, const char *ns)
{
    IndexMap *map = g_hash_table_lookup(dm->maps, ns);

    if (!map) {
        map = index_map_new(SCSI_CAPACITY);
        g_hash_table_insert(dm->maps, g_strdup(ns), map);
    }
    return map;
}

/* Gives back what @d holds in the index maps. */
static void release_indexes(Dm *dm, Device *d)
{
    if (d->ns) {
        index_map_release(g_hash_table_lookup(dm->maps, d->ns), d->index);
    }
    if (d->blk_index >= 0) {
        index_map_release(g_hash_table_lookup(dm->maps, VIRTIO_BLK_NS), (guint)d->blk_index);
    }
}

static gboolean is_virtio_blk(const char *driver)
{
    return g_strcmp0(driver, "virtio-blk-pci") == 0 ||
           g_strcmp0(driver, "virtio-blk-device") == 0 ||
           g_strcmp0(driver, "vhost-user-blk-pci") == 0;
}

static gboolean is_scsi_disk(const char *driver)
{
    for (guint i = 0; driver && i < G_N_ELEMENTS(scsi_drivers); i++) {
        if (strcmp(driver, scsi_drivers[i]) == 0) {
            return TRUE;
        }
    }
    return FALSE;
}

/* A non-negative integer argument, or -1 when absent or not one. */
static gint64 uint_arg(QmpValue *args, const char *name)
{
    QmpValue *v = qmp_value_dict_get(args, name);

    if (v && qmp_value_type(v) == QMP_VALUE_INT && qmp_value_get_int(v) >= 0) {
        return qmp_value_get_int(v);
    }
    return -1;
}

/* @raw with @members ("k": v, ) put first in its arguments, which hold at
 * least the driver, so that everything else stays byte for byte. */
static GString *insert_arguments(QmpValue *msg, const char *raw, gsize raw_len, const char *members)
{
    QmpSpan span;
    GString *out;

    if (!qmp_value_dict_get_span(msg, "arguments", &span)) {
        return NULL;
    }
    out = g_string_sized_new(raw_len + strlen(members));
    g_string_append_len(out, raw, (gssize)span.value_start + 1);
    g_string_append(out, members);
    g_string_append_len(out, raw + span.value_start + 1, (gssize)(raw_len - span.value_start - 1));
    return out;
}

/* The first slot a PCI bus ("pci:ID") offers for hot-plug. */
static guint first_slot(Dm *dm, const char *ns)
{
    return GPOINTER_TO_UINT(g_hash_table_lookup(dm->first_slot, ns)) - 1;
}

/* Takes @slot of PCI bus @bus, if the proxy places devices there; sets
 * the device's namespace and index. */
static void pci_reserve(Dm *dm, Device *d, const char *bus, gint64 slot)
{
    g_autofree char *ns = g_strconcat("pci:", bus, NULL);
    IndexMap *map = g_hash_table_lookup(dm->maps, ns);

    if (!map || slot < (gint64)first_slot(dm, ns) ||
        !index_map_reserve(map, (guint)(slot - first_slot(dm, ns)))) {
        return;
    }
    d->index = (guint)(slot - first_slot(dm, ns));
    d->ns = g_steal_pointer(&ns);
}

static gboolean is_pci_driver(const char *driver)
{
    return driver && (g_str_has_suffix(driver, "-pci") || strcmp(driver, "e1000") == 0 ||
                      strcmp(driver, "e1000e") == 0 || strcmp(driver, "rtl8139") == 0);
}

/* The slot of a PCI address property: "5", "0x5", "05.0" (hex). */
static gint64 parse_slot(const char *addr)
{
    char *end;
    guint64 slot = g_ascii_strtoull(addr, &end, 16);

    if (end == addr || (*end && *end != '.') || slot > 31) {
        return -1;
    }
    return (gint64)slot;
}

/* A PCI device: the lowest free slot on the hot-plug buses. */
static void pci_address(Dm *dm, Device *d, QmpValue *msg, QmpValue *args, const char *raw,
                        gsize raw_len, GString **rewritten)
{
    QmpValue *bus_value = qmp_value_dict_get(args, "bus");
    QmpValue *addr_value = qmp_value_dict_get(args, "addr");
    const char *bus = qmp_value_get_string(bus_value);
    const char *addr = qmp_value_get_string(addr_value);
    g_autofree char *members = NULL;
    g_autofree char *ns = NULL;
    guint index;

    if (!is_pci_driver(qmp_value_dict_get_string(args, "driver"))) {
        return;
    }
    /* a bus or addr given otherwise than as a string (QEMU takes "addr": 8
     * too) is QEMU's to judge: never add a second one */
    if ((bus_value && !bus) || (addr_value && !addr)) {
        return;
    }
    if (bus && addr) {
        /* a place the client chose: never hand it out */
        pci_reserve(dm, d, bus, parse_slot(addr));
        if (parse_slot(addr) >= 0) {
            d->pci_bus = g_strdup(bus);
            d->devfn = (gint)parse_slot(addr) << 3;
        }
        return;
    }
    if (addr) {
        return; /* an address on a bus QEMU picks */
    }
    /* with a bus named, only the slot is ours to choose */
    for (guint i = 0; !members && i < (bus ? 1 : dm->hotplug_buses->len); i++) {
        const char *candidate = bus ? bus : g_ptr_array_index(dm->hotplug_buses, i);
        g_autofree char *cns = g_strconcat("pci:", candidate, NULL);
        IndexMap *map = g_hash_table_lookup(dm->maps, cns);

        if (map && index_map_alloc(map, &index)) {
            guint slot = index + first_slot(dm, cns);

            members =
                bus ? g_strdup_printf("\"addr\": \"%x.0\", ", slot)
                    : g_strdup_printf("\"bus\": \"%s\", \"addr\": \"%x.0\", ", candidate, slot);
            ns = g_steal_pointer(&cns);
            d->pci_bus = g_strdup(candidate);
            d->devfn = (gint)slot << 3;
        }
    }
    if (!members) {
        return; /* no room on the hot-plug buses: QEMU decides */
    }
    *rewritten = insert_arguments(msg, raw, raw_len, members);
    g_debug("device_add %s: %s filled in", d->id, members);
    d->ns = g_steal_pointer(&ns);
    d->index = index;
}

/* A SCSI disk on a named bus: its address from the bus's index map. */
static void scsi_address(Dm *dm, Device *d, QmpValue *msg, QmpValue *args, const char *raw,
                         gsize raw_len, GString **rewritten)
{
    const char *bus = qmp_value_dict_get_string(args, "bus");

    /* without a bus QEMU picks one: leave it to QEMU */
    if (!bus || !is_scsi_disk(qmp_value_dict_get_string(args, "driver"))) {
        return;
    }
    gboolean has_id = qmp_value_dict_get(args, "scsi-id") != NULL;
    gboolean has_lun = qmp_value_dict_get(args, "lun") != NULL;
    IndexMap *map = map_for(dm, bus);
    guint index;

    if (has_id && has_lun) {
        gint64 sid = uint_arg(args, "scsi-id"), lun = uint_arg(args, "lun");

        if (sid < 0 || lun < 0 ||
            !index_map_scsi_index((guint)sid, (guint)lun, SCSI_MAX_ID, &index) ||
            !index_map_reserve(map, index)) {
            return; /* QEMU will say what it thinks of it */
        }
    } else if (has_id || has_lun) {
        return; /* half an address: QEMU completes it its own way */
    } else {
        guint sid, lun;

        if (!index_map_alloc(map, &index)) {
            return; /* the bus is full: QEMU will refuse it */
        }
        index_map_scsi_address(index, &sid, &lun);
        g_autofree char *members = g_strdup_printf("\"scsi-id\": %u, \"lun\": %u, ", sid, lun);
        *rewritten = insert_arguments(msg, raw, raw_len, members);
        g_debug("device_add %s on %s: scsi-id %u lun %u filled in", d->id, bus, sid, lun);
    }
    d->ns = g_strdup(bus);
    d->index = index;
}

DmPlug *dm_device_add(Dm *dm, QmpValue *msg, const char *raw, gsize raw_len, GString **rewritten)
{
    QmpValue *args = qmp_value_dict_get(msg, "arguments");
    const char *id = args ? qmp_value_dict_get_string(args, "id") : NULL;

    *rewritten = NULL;
    /* without an id its DEVICE_DELETED cannot be told apart */
    if (!id || g_hash_table_contains(dm->devices, id)) {
        return NULL;
    }
    DmPlug *plug = g_new0(DmPlug, 1);
    plug->dm = dm;
    plug->device = g_new0(Device, 1);
    plug->device->id = g_strdup(id);
    plug->device->driver = g_strdup(qmp_value_dict_get_string(args, "driver"));
    for (guint i = 0; i < G_N_ELEMENTS(backends); i++) {
        plug->device->backend[i] = g_strdup(qmp_value_dict_get_string(args, backends[i].property));
    }
    plug->device->blk_index = -1;
    plug->device->devfn = -1;
    scsi_address(dm, plug->device, msg, args, raw, raw_len, rewritten);
    pci_address(dm, plug->device, msg, args, raw, raw_len, rewritten);
    if (*rewritten) {
        /* what goes to QEMU must still be one request with no member twice */
        g_autoptr(QmpValue) check = qmp_json_parse((*rewritten)->str, (*rewritten)->len);

        if (!check) {
            g_warning("device_add %s: could not fill in its address; sent as it came", id);
            g_string_free(g_steal_pointer(rewritten), TRUE);
            if (plug->device->ns) {
                index_map_release(g_hash_table_lookup(dm->maps, plug->device->ns),
                                  plug->device->index);
                g_clear_pointer(&plug->device->ns, g_free);
            }
            g_clear_pointer(&plug->device->pci_bus, g_free);
            plug->device->devfn = -1;
        }
    }
    if (is_virtio_blk(qmp_value_dict_get_string(args, "driver"))) {
        guint index;

        if (index_map_alloc(g_hash_table_lookup(dm->maps, VIRTIO_BLK_NS), &index)) {
            plug->device->blk_index = (gint)index;
        }
    }
    g_hash_table_insert(dm->plugging, plug->device->id, plug->device);
    return plug;
}

void dm_plug_done(gpointer data, QmpValue *reply)
{
    DmPlug *plug = data;
    Dm *dm = plug->dm;
    Device *d = g_steal_pointer(&plug->device);

    g_free(plug);
    g_hash_table_remove(dm->plugging, d->id);
    if (reply && qmp_value_dict_get(reply, "return") &&
        !g_hash_table_contains(dm->devices, d->id)) {
        g_hash_table_insert(dm->devices, d->id, d);
        if (d->blk_index >= 0 && dm->changed) {
            dm->changed(dm->changed_data, NULL);
        }
        return;
    }
    /* refused (or never answered): the indexes were never used */
    release_indexes(dm, d);
    device_free(d);
}

void dm_event(Dm *dm, QmpValue *event)
{
    QmpValue *data = qmp_value_dict_get(event, "data");

    if (g_strcmp0(qmp_value_dict_get_string(event, "event"), "DEVICE_DELETED") != 0 || !data ||
        qmp_value_type(data) != QMP_VALUE_DICT) {
        return;
    }
    /* QEMU also reports .../virtio-backend paths with no device: ignore */
    const char *id = qmp_value_dict_get_string(data, "device");
    Device *d = id ? g_hash_table_lookup(dm->devices, id) : NULL;
    if (d) {
        gboolean named = d->blk_index >= 0;

        release_indexes(dm, d);
        g_hash_table_remove(dm->devices, id);
        if (named && dm->changed) {
            dm->changed(dm->changed_data, NULL);
        }
    }
}

void dm_set_changed_func(Dm *dm, GFunc func, gpointer data)
{
    dm->changed = func;
    dm->changed_data = data;
}

QmpValue *dm_drive_indexes(Dm *dm)
{
    QmpValue *indexes = qmp_value_new_dict();
    GHashTable *tables[] = { dm->devices, dm->plugging };
    GHashTableIter iter;
    Device *d;

    /* a device on its way in too: its record is written while QEMU works */
    for (guint i = 0; i < G_N_ELEMENTS(tables); i++) {
        g_hash_table_iter_init(&iter, tables[i]);
        while (g_hash_table_iter_next(&iter, NULL, (gpointer *)&d)) {
            if (d->blk_index >= 0) {
                qmp_value_dict_add(indexes, d->id, qmp_value_new_int(d->blk_index));
            }
        }
    }
    return indexes;
}

void dm_restore_drive_index(Dm *dm, const char *id, guint index)
{
    Device *d = g_hash_table_lookup(dm->devices, id);

    if (d && d->blk_index < 0 && is_virtio_blk(d->driver) && index < VIRTIO_BLK_CAPACITY &&
        index_map_reserve(g_hash_table_lookup(dm->maps, VIRTIO_BLK_NS), index)) {
        d->blk_index = (gint)index;
    }
}

gboolean dm_is_scsi_disk_type(const char *type)
{
    return is_scsi_disk(type);
}

void dm_learn(Dm *dm, const DmLearnt *l)
{
    Device *d = g_new0(Device, 1);
    guint index;

    d->id = g_strdup(l->id);
    d->driver = g_strdup(l->driver);
    d->blk_index = -1; /* the guest named it before the proxy came */
    d->devfn = -1;
    d->backend[0] = g_strdup(l->drive); /* backends[0] is the drive */
    if (l->scsi_bus && l->scsi_id >= 0 && l->lun >= 0 &&
        index_map_scsi_index((guint)l->scsi_id, (guint)l->lun, SCSI_MAX_ID, &index) &&
        index_map_reserve(map_for(dm, l->scsi_bus), index)) {
        d->ns = g_strdup(l->scsi_bus);
        d->index = index;
    } else if (l->pci_bus && l->devfn >= 0) {
        pci_reserve(dm, d, l->pci_bus, l->devfn >> 3);
        d->pci_bus = g_strdup(l->pci_bus);
        d->devfn = (gint)l->devfn;
    }
    g_debug("learnt device %s%s%s", l->id, d->ns ? " on " : "", d->ns ? d->ns : "");
    g_hash_table_replace(dm->devices, d->id, d);
}

/* Kata's PCI path: the slot of each bridge or port from the root bus
 * down, then the device's own ("02/00"); NULL when a link is unknown. */
static char *pci_path(Dm *dm, const Device *d)
{
    g_autoptr(GString) path = g_string_new(NULL);

    for (guint depth = 0; d && d->devfn >= 0 && depth < 8; depth++) {
        char slot[4];

        g_snprintf(slot, sizeof(slot), "%02x", (guint)d->devfn >> 3);
        g_string_prepend(path, path->len ? "/" : "");
        g_string_prepend(path, slot);
        if (g_strcmp0(d->pci_bus, "pcie.0") == 0 || g_strcmp0(d->pci_bus, "pci.0") == 0) {
            return g_string_free(g_steal_pointer(&path), FALSE);
        }
        d = d->pci_bus ? g_hash_table_lookup(dm->devices, d->pci_bus) : NULL;
    }
    return NULL;
}

static QmpValue *describe(Dm *dm, const Device *d, const char *state)
{
    QmpValue *info = qmp_value_new_dict();
    char *path = pci_path(dm, d);

    qmp_value_dict_add(info, "id", qmp_value_new_string(d->id));
    qmp_value_dict_add(info, "driver", qmp_value_new_string(d->driver ? d->driver : ""));
    if (d->ns) {
        gboolean pci = g_str_has_prefix(d->ns, "pci:");

        qmp_value_dict_add(info, "bus", qmp_value_new_string(pci ? d->ns + 4 : d->ns));
        qmp_value_dict_add(info, "index", qmp_value_new_int(d->index));
        if (pci) {
            qmp_value_dict_add(info, "pci-slot",
                               qmp_value_new_int(d->index + first_slot(dm, d->ns)));
        } else {
            guint sid, lun;

            index_map_scsi_address(d->index, &sid, &lun);
            qmp_value_dict_add(info, "scsi-id", qmp_value_new_int(sid));
            qmp_value_dict_add(info, "lun", qmp_value_new_int(lun));
        }
    }
    if (path) {
        qmp_value_dict_add(info, "pci-path", qmp_value_new_string_take(path));
    }
    if (d->blk_index >= 0) {
        qmp_value_dict_add(info, "drive-name",
                           qmp_value_new_string_take(index_map_drive_name((guint)d->blk_index)));
    }
    if (d->backend[0]) {
        qmp_value_dict_add(info, "node-name", qmp_value_new_string(d->backend[0]));
    }
    qmp_value_dict_add(info, "state",
                       qmp_value_new_string(state           ? state
                                            : d->unplugging ? "unplugging"
                                                            : "attached"));
    return info;
}

QmpValue *dm_describe(Dm *dm, const char *id, const char *state)
{
    Device *d = g_hash_table_lookup(dm->devices, id);

    if (d) {
        return describe(dm, d, state);
    }
    d = g_hash_table_lookup(dm->plugging, id);
    return d ? describe(dm, d, state ? state : "plugging") : NULL;
}

QmpValue *dm_query_devices(Dm *dm, GHashTable *except)
{
    QmpValue *list = qmp_value_new_list();
    GHashTable *tables[] = { dm->devices, dm->plugging };
    GHashTableIter iter;
    const char *id;

    for (guint i = 0; i < G_N_ELEMENTS(tables); i++) {
        g_hash_table_iter_init(&iter, tables[i]);
        while (g_hash_table_iter_next(&iter, (gpointer *)&id, NULL)) {
            if (!except || !g_hash_table_contains(except, id)) {
                qmp_value_list_append(list, dm_describe(dm, id, NULL));
            }
        }
    }
    return list;
}

void dm_unplug_sent(Dm *dm, const char *id)
{
    Device *d = id ? g_hash_table_lookup(dm->devices, id) : NULL;

    if (d) {
        d->unplugging = TRUE;
    }
}

void dm_unplug_refused(Dm *dm, const char *id)
{
    Device *d = id ? g_hash_table_lookup(dm->devices, id) : NULL;

    if (d) {
        d->unplugging = FALSE;
    }
}

const char *dm_backend_busy(Dm *dm, const char *command, QmpValue *args)
{
    GHashTableIter iter;
    Device *d;

    for (guint i = 0; args && i < G_N_ELEMENTS(backends); i++) {
        const char *name = strcmp(command, backends[i].command) == 0
                               ? qmp_value_dict_get_string(args, backends[i].argument)
                               : NULL;

        if (!name) {
            continue;
        }
        g_hash_table_iter_init(&iter, dm->devices);
        while (g_hash_table_iter_next(&iter, NULL, (gpointer *)&d)) {
            if (d->unplugging && g_strcmp0(d->backend[i], name) == 0) {
                return d->id;
            }
        }
    }
    return NULL;
}
