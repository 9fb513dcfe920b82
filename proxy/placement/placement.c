/* placement.c - filling in what a plain device_add leaves out, and
 * knowing which back ends the devices being unplugged still hold.
 *
 * A PCI device plugged with neither bus nor addr gets the lowest free
 * slot on the buses named with --hotplug-bus, in their order (a root port
 * offers slot 0, a bridge slots 1 to 31); one with a bus but no addr,
 * the lowest free slot on that bus.
 *
 * A SCSI disk plugged with a bus but no scsi-id/lun gets the lowest free
 * address on that bus (Kata's index map: scsi-id = index / 256, lun =
 * index % 256), added to the client's own text so that everything else
 * reaches QEMU byte for byte. An address a client names is reserved, so
 * the layer never hands it out; if the layer's own pick for a device_add
 * not yet sent holds it, that pick moves. One already taken otherwise is
 * sent on as is and gets QEMU's own error. An index is freed when QEMU
 * confirms the device is gone (DEVICE_DELETED naming its id), never on
 * device_del alone, and at once when the device_add fails, by the device
 * that held it only.
 *
 * When QEMU refuses an address the layer chose because something has it
 * (plugged through another monitor, behind the proxy's back), the layer
 * learns again what QEMU has, picks again and retries, a few times; the
 * client gets only the last answer.
 *
 * The layer sees every device_add on its way to QEMU, a client's or one
 * the device manager above it makes: both share the index maps. */
#include "placement-internal.h"

#include "index-map.h"

#include <string.h>

/* virtio-scsi takes scsi-id up to 255 (and lun up to 16383, of which
 * Kata's addressing uses 0..255). */
#define SCSI_MAX_ID 255
#define SCSI_CAPACITY ((SCSI_MAX_ID + 1) * 256)

/* virtio-blk disks are named vda, vdb, ... from an index of their own */
#define VIRTIO_BLK_NS "virtio-blk"
#define VIRTIO_BLK_CAPACITY (1u << 18)

static const char *const scsi_drivers[] = { "scsi-hd", "scsi-cd", "scsi-block", "scsi-generic" };

const PlacementBackend placement_backends[PLACEMENT_N_BACKENDS] = {
    { "drive", "blockdev-del", "node-name" }, { "chardev", "chardev-remove", "id" },
    { "netdev", "netdev_del", "id" },         { "iothread", "object-del", "id" },
    { "memdev", "object-del", "id" },
};

/* PCI buses the layer can place devices on, by the QOM type of the device
 * that provides them: a root port takes one device (slot 0), a bridge with
 * SHPC slots 1 to 31. */
static const struct {
    const char *type;
    guint first_slot;
    guint slots;
} pci_buses[] = {
    { "pcie-root-port", 0, 1 }, { "ioh3420", 0, 1 },          { "xio3130-downstream", 0, 1 },
    { "pci-bridge", 1, 31 },    { "pcie-pci-bridge", 1, 31 },
};

/* How many times a device_add whose chosen address QEMU found taken is
 * tried in all. */
#define PLUG_ATTEMPTS 3

/* A device_add on its way: what it took, settled by QEMU's answer. */
struct Plug {
    Placement *pl;
    PlacedDevice *device; /* not yet in the table */
    CoreRequest *req;
    guint attempts;
    char *retry_ns; /* learning again: the namespace to pick in */
};

/* QEMU's words for an address something else has (hw/scsi/scsi-bus.c,
 * hw/pci/pci.c; the same in 7.2 and 10.0). */
static gboolean is_address_taken(const char *desc)
{
    return desc && (g_str_has_prefix(desc, "lun already used by ") ||
                    (g_str_has_prefix(desc, "PCI: slot ") && strstr(desc, " not available for ")));
}

static void device_free(PlacedDevice *d)
{
    for (guint i = 0; i < PLACEMENT_N_BACKENDS; i++) {
        g_free(d->backend[i]);
    }
    g_free(d->id);
    g_free(d->driver);
    g_free(d->ns);
    g_free(d->pci_bus);
    g_free(d);
}

static PlacedDevice *device_new(const char *id, const char *driver)
{
    PlacedDevice *d = g_new0(PlacedDevice, 1);

    d->id = g_strdup(id);
    d->driver = g_strdup(driver);
    d->blk_index = -1;
    d->devfn = -1;
    return d;
}

void placement_learn_bus(Placement *pl, const char *id, const char *qom_type)
{
    for (guint i = 0; i < G_N_ELEMENTS(pci_buses); i++) {
        g_autofree char *known = g_strconcat("pci:", id, NULL);

        if (g_hash_table_contains(pl->maps, known)) {
            return; /* learnt again: what it holds stays */
        }
        if (strcmp(qom_type, pci_buses[i].type) == 0) {
            g_autofree char *ns = g_strconcat("pci:", id, NULL);

            g_hash_table_replace(pl->maps, g_strdup(ns), index_map_new(pci_buses[i].slots));
            g_hash_table_replace(pl->first_slot, g_steal_pointer(&ns),
                                 GUINT_TO_POINTER(pci_buses[i].first_slot + 1));
        }
    }
}

static IndexMap *map_for(Placement *pl, const char *ns)
{
    IndexMap *map = g_hash_table_lookup(pl->maps, ns);

    if (!map) {
        map = index_map_new(SCSI_CAPACITY);
        g_hash_table_insert(pl->maps, g_strdup(ns), map);
    }
    return map;
}

static IndexMap *blk_map(Placement *pl)
{
    return g_hash_table_lookup(pl->maps, VIRTIO_BLK_NS);
}

/* Gives back what @d holds in the index maps. */
static void release_indexes(Placement *pl, PlacedDevice *d)
{
    if (d->ns) {
        index_map_release(g_hash_table_lookup(pl->maps, d->ns), d->index);
    }
    if (d->blk_index >= 0) {
        index_map_release(blk_map(pl), (guint)d->blk_index);
    }
}

static gboolean is_virtio_blk(const char *driver)
{
    return g_strcmp0(driver, "virtio-blk-pci") == 0 ||
           g_strcmp0(driver, "virtio-blk-device") == 0 ||
           g_strcmp0(driver, "vhost-user-blk-pci") == 0;
}

gboolean placement_is_scsi_disk_type(const char *driver)
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

/* The first slot a PCI bus ("pci:ID") offers for hot-plug. */
static guint first_slot(Placement *pl, const char *ns)
{
    return GPOINTER_TO_UINT(g_hash_table_lookup(pl->first_slot, ns)) - 1;
}

/* The members that put @d at @index of its namespace. */
static QmpValue *address_members(Placement *pl, PlacedDevice *d, guint index)
{
    if (g_str_has_prefix(d->ns, "pci:")) {
        return qmp_value_new_dict_of(
            "addr",
            qmp_value_new_string_take(g_strdup_printf("%x.0", index + first_slot(pl, d->ns))),
            NULL);
    }
    guint sid, lun;

    index_map_scsi_address(index, &sid, &lun);
    return qmp_value_new_dict_of("scsi-id", qmp_value_new_int(sid), "lun", qmp_value_new_int(lun),
                                 NULL);
}

static void set_index(Placement *pl, PlacedDevice *d, guint index)
{
    d->index = index;
    if (g_str_has_prefix(d->ns, "pci:")) {
        d->devfn = (gint)(index + first_slot(pl, d->ns)) << 3;
    }
}

/* The device on its way in holding @index of @ns by the layer's pick,
 * whose device_add QEMU has not had yet: its pick can still move. */
static PlacedDevice *movable_holder(Placement *pl, const char *ns, guint index)
{
    GHashTableIter iter;
    PlacedDevice *d;

    g_hash_table_iter_init(&iter, pl->plugging);
    while (g_hash_table_iter_next(&iter, NULL, (gpointer *)&d)) {
        if (d->picked && d->ns && d->index == index && strcmp(d->ns, ns) == 0 && d->plug &&
            !core_request_is_sent(d->plug->req)) {
            return d;
        }
    }
    return NULL;
}

/* Moves @d's pick to the lowest other free index, in its request too. */
static gboolean move_pick(Placement *pl, PlacedDevice *d)
{
    IndexMap *map = g_hash_table_lookup(pl->maps, d->ns);
    guint old = d->index, index;

    if (!index_map_alloc(map, &index)) {
        return FALSE;
    }
    if (!core_request_set_arguments(d->plug->req, address_members(pl, d, index))) {
        index_map_release(map, index);
        return FALSE;
    }
    index_map_release(map, old);
    set_index(pl, d, index);
    g_message("device_add %s: its address on %s moved from index %u to %u, as another device "
              "named the first",
              d->id, d->ns, old, index);
    return TRUE;
}

/* Takes @index of @ns for a device that has it (named by a client, or
 * learnt from QEMU); a pick of the layer's still movable gives way. */
static gboolean take_address(Placement *pl, IndexMap *map, const char *ns, guint index)
{
    PlacedDevice *holder;

    if (index_map_reserve(map, index)) {
        return TRUE;
    }
    holder = movable_holder(pl, ns, index);
    return holder && move_pick(pl, holder) && index_map_reserve(map, index);
}

/* Takes @slot of PCI bus @bus, if the layer places devices there; sets
 * the device's namespace and index. */
static void pci_reserve(Placement *pl, PlacedDevice *d, const char *bus, gint64 slot)
{
    g_autofree char *ns = g_strconcat("pci:", bus, NULL);
    IndexMap *map = g_hash_table_lookup(pl->maps, ns);

    if (!map || slot < (gint64)first_slot(pl, ns) ||
        !take_address(pl, map, ns, (guint)(slot - first_slot(pl, ns)))) {
        return;
    }
    d->index = (guint)(slot - first_slot(pl, ns));
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

/* The lowest free slot on @bus, or (NULL) on the hot-plug buses in
 * their order; the members to add to the device_add, or NULL when there
 * is no room (QEMU decides). */
static QmpValue *pci_pick(Placement *pl, PlacedDevice *d, const char *bus)
{
    for (guint i = 0; i < (bus ? 1 : pl->hotplug_buses->len); i++) {
        const char *candidate = bus ? bus : g_ptr_array_index(pl->hotplug_buses, i);
        g_autofree char *ns = g_strconcat("pci:", candidate, NULL);
        IndexMap *map = g_hash_table_lookup(pl->maps, ns);
        guint index;

        if (!map || !index_map_alloc(map, &index)) {
            continue;
        }
        g_free(d->pci_bus);
        d->pci_bus = g_strdup(candidate);
        g_free(d->ns);
        d->ns = g_steal_pointer(&ns);
        d->picked = TRUE;
        d->bus_picked = !bus;
        set_index(pl, d, index);
        QmpValue *members = qmp_value_new_dict();
        if (!bus) {
            qmp_value_dict_add(members, "bus", qmp_value_new_string(candidate));
        }
        g_autoptr(QmpValue) addr = address_members(pl, d, index);
        qmp_value_dict_add(members, "addr", qmp_value_ref(qmp_value_dict_get(addr, "addr")));
        g_debug("device_add %s: bus %s slot %x filled in", d->id, candidate, d->devfn >> 3);
        return members;
    }
    return NULL;
}

/* A PCI device: the lowest free slot on the hot-plug buses; the members
 * to add to its arguments, or NULL. */
static QmpValue *pci_address(Placement *pl, PlacedDevice *d, QmpValue *args)
{
    QmpValue *bus_value = qmp_value_dict_get(args, "bus");
    QmpValue *addr_value = qmp_value_dict_get(args, "addr");
    const char *bus = qmp_value_get_string(bus_value);
    const char *addr = qmp_value_get_string(addr_value);

    if (!is_pci_driver(qmp_value_dict_get_string(args, "driver"))) {
        return NULL;
    }
    /* a bus or addr given otherwise than as a string (QEMU takes "addr": 8
     * too) is QEMU's to judge: never add a second one */
    if ((bus_value && !bus) || (addr_value && !addr)) {
        return NULL;
    }
    if (bus && addr) {
        /* a place the client chose: never hand it out */
        pci_reserve(pl, d, bus, parse_slot(addr));
        if (parse_slot(addr) >= 0) {
            d->pci_bus = g_strdup(bus);
            d->devfn = (gint)parse_slot(addr) << 3;
        }
        return NULL;
    }
    if (addr) {
        return NULL; /* an address on a bus QEMU picks */
    }
    /* with a bus named, only the slot is ours to choose */
    return pci_pick(pl, d, bus);
}

/* A SCSI disk on a named bus: its address from the bus's index map; the
 * members to add to its arguments, or NULL. */
static QmpValue *scsi_address(Placement *pl, PlacedDevice *d, QmpValue *args)
{
    const char *bus = qmp_value_dict_get_string(args, "bus");
    guint index;

    /* without a bus QEMU picks one: leave it to QEMU */
    if (!bus || !placement_is_scsi_disk_type(qmp_value_dict_get_string(args, "driver"))) {
        return NULL;
    }
    gboolean has_id = qmp_value_dict_get(args, "scsi-id") != NULL;
    gboolean has_lun = qmp_value_dict_get(args, "lun") != NULL;
    IndexMap *map = map_for(pl, bus);

    if (has_id && has_lun) {
        gint64 sid = uint_arg(args, "scsi-id"), lun = uint_arg(args, "lun");

        if (sid < 0 || lun < 0 ||
            !index_map_scsi_index((guint)sid, (guint)lun, SCSI_MAX_ID, &index) ||
            !take_address(pl, map, bus, index)) {
            return NULL; /* QEMU will say what it thinks of it */
        }
    } else if (has_id || has_lun) {
        return NULL; /* half an address: QEMU completes it its own way */
    } else {
        guint sid, lun;

        if (!index_map_alloc(map, &index)) {
            return NULL; /* the bus is full: QEMU will refuse it */
        }
        index_map_scsi_address(index, &sid, &lun);
        g_debug("device_add %s on %s: scsi-id %u lun %u filled in", d->id, bus, sid, lun);
        d->picked = TRUE;
    }
    d->ns = g_strdup(bus);
    d->index = index;
    return d->picked ? address_members(pl, d, index) : NULL;
}

static void plug_free(Plug *plug)
{
    if (plug->device) {
        plug->device->plug = NULL;
    }
    core_request_unref(plug->req);
    g_free(plug->retry_ns);
    g_free(plug);
}

/* The device_add is over: @d goes into the table, or (@ok FALSE) gives
 * back what it took. */
static void plug_settle(Plug *plug, gboolean ok)
{
    Placement *pl = plug->pl;
    PlacedDevice *d = g_steal_pointer(&plug->device);

    d->plug = NULL;
    g_hash_table_remove(pl->plugging, d->id);
    plug_free(plug);
    if (ok && !g_hash_table_contains(pl->devices, d->id)) {
        g_hash_table_insert(pl->devices, d->id, d);
        if (d->blk_index >= 0 && pl->changed) {
            pl->changed(pl->changed_data, NULL);
        }
        return;
    }
    /* refused (or never answered): the indexes were never used */
    release_indexes(pl, d);
    device_free(d);
}

static void plug_done(gpointer data, CoreReply *reply);

/* What QEMU has is known again: another pick, and the device_add again. */
static void relearnt(gpointer data, guint devices)
{
    Plug *plug = data;
    Placement *pl = plug->pl;
    PlacedDevice *d = plug->device;
    g_autoptr(CoreRequest) req = core_request_ref(plug->req);
    QmpValue *members = NULL;
    guint index;

    if (g_str_has_prefix(plug->retry_ns, "pci:")) {
        members = pci_pick(pl, d, d->bus_picked ? NULL : plug->retry_ns + 4);
    } else if (!pl->stopping && index_map_alloc(map_for(pl, plug->retry_ns), &index)) {
        d->ns = g_strdup(plug->retry_ns);
        set_index(pl, d, index);
        members = address_members(pl, d, index);
    }
    if (pl->stopping || !members || !core_request_set_arguments(req, members)) {
        /* nowhere else to go: QEMU's refusal is the answer */
        plug_settle(plug, FALSE);
        core_request_complete(req);
        return;
    }
    g_message("device_add %s: trying %s index %u (attempt %u of %u)", d->id, d->ns, d->index,
              plug->attempts + 1, PLUG_ATTEMPTS);
    core_request_on_reply(req, plug_done, plug);
    core_request_resend(req);
}

static void plug_done(gpointer data, CoreReply *reply)
{
    Plug *plug = data;
    Placement *pl = plug->pl;
    PlacedDevice *d = plug->device;
    QmpValue *msg = core_reply_value(reply);
    QmpValue *error = msg ? qmp_value_dict_get(msg, "error") : NULL;
    const char *desc = error ? qmp_value_dict_get_string(error, "desc") : NULL;

    if (d->picked && d->ns && !pl->stopping && ++plug->attempts < PLUG_ATTEMPTS &&
        is_address_taken(desc) && core_reply_defer(reply)) {
        /* not ours to free: the index goes back, and QEMU's truth comes */
        g_message("device_add %s: QEMU says \"%s\"; learning what it has", d->id, desc);
        index_map_release(g_hash_table_lookup(pl->maps, d->ns), d->index);
        plug->retry_ns = g_steal_pointer(&d->ns);
        pl->learn(pl, FALSE, relearnt, plug);
        return;
    }
    plug_settle(plug, msg && qmp_value_dict_get(msg, "return"));
}

/* A device_add: its address filled in when it has none, and what it
 * takes followed until QEMU answers. Without an id its DEVICE_DELETED
 * could not be told apart: then nothing about it is followed. */
void placement_plug(Placement *pl, CoreRequest *req)
{
    QmpValue *args = core_request_arguments(req);
    const char *id = args ? qmp_value_dict_get_string(args, "id") : NULL;

    if (!id || g_hash_table_contains(pl->devices, id) || g_hash_table_contains(pl->plugging, id)) {
        return;
    }
    PlacedDevice *d = device_new(id, qmp_value_dict_get_string(args, "driver"));
    for (guint i = 0; i < PLACEMENT_N_BACKENDS; i++) {
        d->backend[i] = g_strdup(qmp_value_dict_get_string(args, placement_backends[i].property));
    }
    QmpValue *members = scsi_address(pl, d, args);
    if (!members) {
        members = pci_address(pl, d, args);
    }
    /* (@args and @id are the request's old parse once members are added) */
    args = NULL;
    id = d->id;
    /* what goes to QEMU must still be one request with no member twice */
    if (members && !core_request_add_arguments(req, members)) {
        g_warning("device_add %s: could not fill in its address; sent as it came", id);
        if (d->ns) {
            index_map_release(g_hash_table_lookup(pl->maps, d->ns), d->index);
            g_clear_pointer(&d->ns, g_free);
        }
        g_clear_pointer(&d->pci_bus, g_free);
        d->picked = d->bus_picked = FALSE;
        d->devfn = -1;
    }
    if (is_virtio_blk(d->driver)) {
        gpointer key, chosen;
        guint index;

        /* a drive name chosen ahead of time (to be written down first) */
        if (g_hash_table_steal_extended(pl->reserved, id, &key, &chosen)) {
            g_free(key);
            d->blk_index = GPOINTER_TO_INT(chosen) - 1;
        } else if (index_map_alloc(blk_map(pl), &index)) {
            d->blk_index = (gint)index;
        }
    }
    g_hash_table_insert(pl->plugging, d->id, d);

    Plug *p = g_new0(Plug, 1);
    p->pl = pl;
    p->device = d;
    p->req = core_request_ref(req);
    d->plug = p;
    core_request_on_reply(req, plug_done, p);
}

void placement_set_changed_func(Placement *pl, GFunc func, gpointer data)
{
    pl->changed = func;
    pl->changed_data = data;
}

QmpValue *placement_drive_indexes(Placement *pl)
{
    QmpValue *indexes = qmp_value_new_dict();
    GHashTable *tables[] = { pl->devices, pl->plugging };
    GHashTableIter iter;
    PlacedDevice *d;
    gpointer id, chosen;

    /* a device on its way in too: its record is written while QEMU works */
    for (guint i = 0; i < G_N_ELEMENTS(tables); i++) {
        g_hash_table_iter_init(&iter, tables[i]);
        while (g_hash_table_iter_next(&iter, NULL, (gpointer *)&d)) {
            if (d->blk_index >= 0) {
                qmp_value_dict_add(indexes, d->id, qmp_value_new_int(d->blk_index));
            }
        }
    }
    g_hash_table_iter_init(&iter, pl->reserved);
    while (g_hash_table_iter_next(&iter, &id, &chosen)) {
        qmp_value_dict_add(indexes, id, qmp_value_new_int(GPOINTER_TO_INT(chosen) - 1));
    }
    return indexes;
}

void placement_restore_drive_index(Placement *pl, const char *id, guint index)
{
    PlacedDevice *d = g_hash_table_lookup(pl->devices, id);

    if (d && d->blk_index < 0 && is_virtio_blk(d->driver) && index < VIRTIO_BLK_CAPACITY &&
        index_map_reserve(blk_map(pl), index)) {
        d->blk_index = (gint)index;
    }
}

gboolean placement_reserve_drive_name(Placement *pl, const char *id)
{
    guint index;

    if (g_hash_table_contains(pl->reserved, id)) {
        return TRUE;
    }
    if (!index_map_alloc(blk_map(pl), &index)) {
        return FALSE;
    }
    g_hash_table_insert(pl->reserved, g_strdup(id), GINT_TO_POINTER((gint)index + 1));
    return TRUE;
}

void placement_release_drive_name(Placement *pl, const char *id)
{
    gpointer key, chosen;

    if (g_hash_table_steal_extended(pl->reserved, id, &key, &chosen)) {
        g_free(key);
        index_map_release(blk_map(pl), (guint)(GPOINTER_TO_INT(chosen) - 1));
    }
}

void placement_learn_device(Placement *pl, const PlacementLearnt *l, gboolean name_it)
{
    PlacedDevice *d;
    guint index;

    if (g_hash_table_contains(pl->devices, l->id) || g_hash_table_contains(pl->plugging, l->id)) {
        return;
    }
    d = device_new(l->id, l->driver);
    d->backend[0] = g_strdup(l->drive); /* placement_backends[0] is the drive */
    if (l->scsi_bus && l->scsi_id >= 0 && l->lun >= 0 &&
        index_map_scsi_index((guint)l->scsi_id, (guint)l->lun, SCSI_MAX_ID, &index) &&
        take_address(pl, map_for(pl, l->scsi_bus), l->scsi_bus, index)) {
        d->ns = g_strdup(l->scsi_bus);
        d->index = index;
    } else if (l->pci_bus && l->devfn >= 0) {
        pci_reserve(pl, d, l->pci_bus, l->devfn >> 3);
        d->pci_bus = g_strdup(l->pci_bus);
        d->devfn = (gint)l->devfn;
    }
    /* a disk the guest names in order of discovery: the next name is not its */
    if (name_it && is_virtio_blk(d->driver) && index_map_alloc(blk_map(pl), &index)) {
        d->blk_index = (gint)index;
    }
    g_debug("learnt device %s%s%s", l->id, d->ns ? " on " : "", d->ns ? d->ns : "");
    g_hash_table_replace(pl->devices, d->id, d);
    if (d->blk_index >= 0 && pl->changed) {
        pl->changed(pl->changed_data, NULL);
    }
}

/* Kata's PCI path: the slot of each bridge or port from the root bus
 * down, then the device's own ("02/00"); NULL when a link is unknown. */
static char *pci_path(Placement *pl, const PlacedDevice *d)
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
        d = d->pci_bus ? g_hash_table_lookup(pl->devices, d->pci_bus) : NULL;
    }
    return NULL;
}

static QmpValue *describe(Placement *pl, const PlacedDevice *d, const char *state)
{
    QmpValue *info = qmp_value_new_dict();
    char *path = pci_path(pl, d);

    qmp_value_dict_add(info, "id", qmp_value_new_string(d->id));
    qmp_value_dict_add(info, "driver", qmp_value_new_string(d->driver ? d->driver : ""));
    if (d->ns) {
        gboolean pci = g_str_has_prefix(d->ns, "pci:");

        qmp_value_dict_add(info, "bus", qmp_value_new_string(pci ? d->ns + 4 : d->ns));
        qmp_value_dict_add(info, "index", qmp_value_new_int(d->index));
        if (pci) {
            qmp_value_dict_add(info, "pci-slot",
                               qmp_value_new_int(d->index + first_slot(pl, d->ns)));
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

QmpValue *placement_describe(Placement *pl, const char *id, const char *state)
{
    PlacedDevice *d = g_hash_table_lookup(pl->devices, id);

    if (d) {
        return describe(pl, d, state);
    }
    d = g_hash_table_lookup(pl->plugging, id);
    return d ? describe(pl, d, state ? state : "plugging") : NULL;
}

QmpValue *placement_query_devices(Placement *pl, GHashTable *except)
{
    QmpValue *list = qmp_value_new_list();
    GHashTable *tables[] = { pl->devices, pl->plugging };
    GHashTableIter iter;
    const char *id;

    for (guint i = 0; i < G_N_ELEMENTS(tables); i++) {
        g_hash_table_iter_init(&iter, tables[i]);
        while (g_hash_table_iter_next(&iter, (gpointer *)&id, NULL)) {
            if (!except || !g_hash_table_contains(except, id)) {
                qmp_value_list_append(list, placement_describe(pl, id, NULL));
            }
        }
    }
    return list;
}

const char *placement_backend_busy(Placement *pl, const char *command, QmpValue *args)
{
    GHashTableIter iter;
    PlacedDevice *d;

    for (guint i = 0; args && i < PLACEMENT_N_BACKENDS; i++) {
        const char *name = strcmp(command, placement_backends[i].command) == 0
                               ? qmp_value_dict_get_string(args, placement_backends[i].argument)
                               : NULL;

        if (!name) {
            continue;
        }
        g_hash_table_iter_init(&iter, pl->devices);
        while (g_hash_table_iter_next(&iter, NULL, (gpointer *)&d)) {
            if (d->unplugging && g_strcmp0(d->backend[i], name) == 0) {
                return d->id;
            }
        }
    }
    return NULL;
}

Placement *placement_create(Core *core, const PlacementOptions *options)
{
    Placement *pl = g_new0(Placement, 1);

    pl->core = core;
    pl->unplug_timeout = options->unplug_timeout;
    pl->maps =
        g_hash_table_new_full(g_str_hash, g_str_equal, g_free, (GDestroyNotify)index_map_free);
    pl->devices = g_hash_table_new_full(g_str_hash, g_str_equal, NULL, (GDestroyNotify)device_free);
    pl->plugging = g_hash_table_new(g_str_hash, g_str_equal);
    pl->reserved = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    pl->hotplug_buses = g_ptr_array_new_with_free_func(g_free);
    pl->first_slot = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    pl->holds = g_ptr_array_new();
    g_hash_table_insert(pl->maps, g_strdup(VIRTIO_BLK_NS), index_map_new(VIRTIO_BLK_CAPACITY));
    for (guint i = 0; options->hotplug_buses && options->hotplug_buses[i]; i++) {
        g_ptr_array_add(pl->hotplug_buses, g_strdup(options->hotplug_buses[i]));
    }
    return pl;
}

void placement_destroy(Placement *pl)
{
    if (!pl) {
        return;
    }
    g_ptr_array_unref(pl->holds);
    g_hash_table_unref(pl->plugging);
    g_hash_table_unref(pl->devices);
    g_hash_table_unref(pl->reserved);
    g_hash_table_unref(pl->maps);
    g_ptr_array_unref(pl->hotplug_buses);
    g_hash_table_unref(pl->first_slot);
    g_free(pl);
}

void placement_deleted(Placement *pl, const char *id)
{
    PlacedDevice *d = g_hash_table_lookup(pl->devices, id);

    if (d) {
        gboolean named = d->blk_index >= 0;

        release_indexes(pl, d);
        g_hash_table_remove(pl->devices, id);
        if (named && pl->changed) {
            pl->changed(pl->changed_data, NULL);
        }
    }
}
