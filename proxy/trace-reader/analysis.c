/* analysis.c - a trace made sense of: commands matched with their
 * replies, devices with their plug and unplug, clients with their counts. */
#include "trace-reader.h"

#include <stdio.h>
#include <string.h>

void analysis_init(Analysis *t)
{
    *t = (Analysis){ 0 };
    t->records = g_ptr_array_new_with_free_func((GDestroyNotify)reader_record_free);
    t->commands = g_ptr_array_new_with_free_func(g_free);
    t->devices = g_ptr_array_new_with_free_func(g_free);
    t->clients = g_hash_table_new_full(g_int64_hash, g_int64_equal, NULL, g_free);
}

void analysis_clear(Analysis *t)
{
    g_ptr_array_unref(t->devices);
    g_ptr_array_unref(t->commands);
    g_hash_table_unref(t->clients);
    g_ptr_array_unref(t->records);
}

void analysis_add_record(Record *record, gpointer user_data)
{
    g_ptr_array_add(((Analysis *)user_data)->records, record);
}

gint64 analysis_command_start(const Command *c)
{
    if (c->request) {
        return c->request->mono_us;
    }
    return c->reply->mono_us - MAX(c->reply->latency_us, 0);
}

gint64 analysis_command_latency(const Command *c)
{
    if (!c->reply) {
        return -1;
    }
    if (c->reply->latency_us >= 0) {
        return c->reply->latency_us;
    }
    return c->request ? c->reply->mono_us - c->request->mono_us : -1;
}

gboolean analysis_command_failed(const Command *c)
{
    return c->reply && c->reply->kind == KIND_ERROR;
}

const char *analysis_command_name(const Command *c)
{
    return c->name ? c->name : "(invalid input)";
}

/* Whether the command that made the device's entry came from the proxy. */
gboolean analysis_device_by_proxy(const Device *d)
{
    const Command *c = d->add ? d->add : d->del;

    return c && c->by_proxy;
}

const char *analysis_device_state(const Device *d)
{
    if (d->deleted) {
        return "removed";
    }
    if (d->add && analysis_command_failed(d->add)) {
        return "add failed";
    }
    if (d->del && !analysis_command_failed(d->del)) {
        return "unplug requested";
    }
    if (d->add && !d->add->reply) {
        return "add pending";
    }
    return "plugged";
}

/* device_del to DEVICE_DELETED, -1 when either is missing. */
gint64 analysis_device_unplug_us(const Device *d)
{
    return d->del && d->deleted ? d->deleted->mono_us - analysis_command_start(d->del) : -1;
}

static char *pending_key(gint64 client, const char *name, JsonNode *id)
{
    g_autofree char *id_json = output_json(id);

    return g_strdup_printf("%" G_GINT64_FORMAT "\n%s\n%s", client, name ? name : "",
                           id_json ? id_json : "");
}

static Device *device_new(Analysis *t, GHashTable *by_id, const char *id, gint64 client)
{
    Device *d = g_new0(Device, 1);

    d->id = id;
    d->client = client;
    g_ptr_array_add(t->devices, d);
    g_hash_table_insert(by_id, (gpointer)id, d);
    return d;
}

/* The device an unplug refers to: the latest one with that id, or a new
 * entry for one plugged before the trace began. */
static Device *device_find(Analysis *t, GHashTable *by_id, const char *id, gint64 client)
{
    Device *d = g_hash_table_lookup(by_id, id);

    return d && !d->deleted ? d : device_new(t, by_id, id, client);
}

static void analyse_hotplug(Analysis *t, GHashTable *by_id, const Command *c)
{
    const char *id = output_msg_string(c->request, "arguments", "id");
    Device *d;

    if (!id) {
        return; /* a device without id cannot be unplugged by it */
    }
    if (strcmp(c->name, "device_add") == 0) {
        d = device_new(t, by_id, id, c->client);
        d->driver = output_msg_string(c->request, "arguments", "driver");
        d->add = c;
    } else {
        d = device_find(t, by_id, id, c->client);
        /* Repeated device_del requests while one is pending change nothing. */
        if (!d->del || analysis_command_failed(d->del)) {
            d->del = c;
        }
    }
}

static void analyse_reply(Analysis *t, GHashTable *pending, const Record *r)
{
    g_autofree char *key = pending_key(r->client, r->name, r->id);
    GQueue *queue = g_hash_table_lookup(pending, key);
    Command *c = NULL;

    if ((!queue || g_queue_is_empty(queue)) && r->kind == KIND_ERROR) {
        /* The answer to invalid input is the client's next error. */
        g_free(key);
        key = pending_key(r->client, NULL, NULL);
        queue = g_hash_table_lookup(pending, key);
    }
    if (queue) {
        c = g_queue_pop_head(queue);
    }
    if (!c) {
        /* Its command came before the trace began. */
        c = g_new0(Command, 1);
        c->name = r->name;
        c->client = r->client;
        g_ptr_array_add(t->commands, c);
    }
    c->reply = r;
}

static gboolean is_hotplug(const Command *c)
{
    return c->name && (strcmp(c->name, "device_add") == 0 || strcmp(c->name, "device_del") == 0);
}

/* A command the proxy made (proxy>qemu) or its reply (qemu>proxy), matched
 * by upstream_id. The proxy reuses a free id at once, so only the latest
 * command with an id can still be waiting: an older one left unanswered
 * (the proxy restarted) must not take a newer command's reply. */
static void analyse_by_proxy(Analysis *t, GHashTable *pending, GHashTable *by_id, const Record *r)
{
    g_autofree char *key =
        g_strdup_printf("%" G_GINT64_FORMAT "\n%s\n%" G_GINT64_FORMAT, r->upstream_id,
                        r->name ? r->name : "", r->upstream_id >= 0 ? 0 : r->client);
    GQueue *queue = g_hash_table_lookup(pending, key);
    Command *c = NULL;

    if (r->dir == DIR_P2Q && r->kind == KIND_COMMAND) {
        c = g_new0(Command, 1);
        c->name = r->name;
        c->client = r->client;
        c->by_proxy = TRUE;
        c->request = r;
        g_ptr_array_add(t->commands, c);
        if (!queue) {
            queue = g_queue_new();
            g_hash_table_insert(pending, g_steal_pointer(&key), queue);
        }
        g_queue_push_tail(queue, c);
        if (is_hotplug(c)) {
            analyse_hotplug(t, by_id, c);
        }
    } else if (r->dir == DIR_Q2P && (r->kind == KIND_REPLY || r->kind == KIND_ERROR)) {
        if (queue) {
            c = g_queue_pop_tail(queue);
        }
        if (!c) {
            /* Its command came before the trace began. */
            c = g_new0(Command, 1);
            c->name = r->name;
            c->client = r->client;
            c->by_proxy = TRUE;
            g_ptr_array_add(t->commands, c);
        }
        c->reply = r;
    }
}

static void analyse_request(Analysis *t, GHashTable *pending, GHashTable *by_id, const Record *r)
{
    Command *c = g_new0(Command, 1);
    char *key;
    GQueue *queue;

    c->name = r->kind == KIND_COMMAND ? r->name : NULL;
    c->client = r->client;
    c->request = r;
    g_ptr_array_add(t->commands, c);
    key = c->name ? pending_key(r->client, r->name, r->id) : pending_key(r->client, NULL, NULL);
    queue = g_hash_table_lookup(pending, key);
    if (!queue) {
        queue = g_queue_new();
        g_hash_table_insert(pending, key, queue);
    } else {
        g_free(key);
    }
    g_queue_push_tail(queue, c);
    if (is_hotplug(c)) {
        analyse_hotplug(t, by_id, c);
    }
}

static void analyse_client(Analysis *t, const Record *r)
{
    Client *c = g_hash_table_lookup(t->clients, &r->client);

    if (!c) {
        c = g_new0(Client, 1);
        c->number = r->client;
        c->pid = c->uid = -1;
        g_hash_table_insert(t->clients, &c->number, c);
    }
    c->exe = c->exe ? c->exe : r->exe;
    c->pid = c->pid >= 0 ? c->pid : r->pid;
    c->uid = c->uid >= 0 ? c->uid : r->uid;
    if (r->dir == DIR_P2C && r->kind == KIND_EVENT) {
        c->events++;
    }
}

/* Replies are taken from one direction only so that each command counts
 * once: proxy>client, which also holds the proxy's own answers, or
 * qemu>proxy when the trace has none; commands likewise. The commands the
 * proxy made itself (by_proxy) exist only between proxy and QEMU and are
 * taken from there, apart from the clients' commands. */
void analysis_run(Analysis *t)
{
    g_autoptr(GHashTable) pending =
        g_hash_table_new_full(g_str_hash, g_str_equal, g_free, (GDestroyNotify)g_queue_free);
    g_autoptr(GHashTable) pending_by_proxy =
        g_hash_table_new_full(g_str_hash, g_str_equal, g_free, (GDestroyNotify)g_queue_free);
    g_autoptr(GHashTable) by_id = g_hash_table_new(g_str_hash, g_str_equal);
    gboolean have_c2p = FALSE, have_p2c = FALSE, first = TRUE;

    for (guint i = 0; i < t->records->len; i++) {
        const Record *r = t->records->pdata[i];
        have_c2p |= r->dir == DIR_C2P;
        have_p2c |= r->dir == DIR_P2C;
    }
    t->request_dir = have_c2p ? DIR_C2P : DIR_P2Q;
    t->reply_dir = have_p2c ? DIR_P2C : DIR_Q2P;

    for (guint i = 0; i < t->records->len; i++) {
        const Record *r = t->records->pdata[i];
        const char *device;

        t->start_us = first ? r->mono_us : MIN(t->start_us, r->mono_us);
        t->end_us = first ? r->mono_us : MAX(t->end_us, r->mono_us);
        first = FALSE;
        if (r->kind == KIND_HEADER) {
            t->headers++;
            reader_get_str(r->obj, "filter", FALSE, &t->filter, NULL);
            continue;
        }
        if (r->client > 0) {
            analyse_client(t, r);
        }
        if (r->by_proxy) {
            analyse_by_proxy(t, pending_by_proxy, by_id, r);
        } else if (r->dir == t->request_dir &&
                   (r->kind == KIND_COMMAND ||
                    (r->kind == KIND_INVALID && t->reply_dir == DIR_P2C))) {
            analyse_request(t, pending, by_id, r);
        } else if (r->dir == t->reply_dir && (r->kind == KIND_REPLY || r->kind == KIND_ERROR)) {
            analyse_reply(t, pending, r);
        } else if (r->dir == DIR_Q2P && r->kind == KIND_EVENT &&
                   strcmp(r->name, "DEVICE_DELETED") == 0 &&
                   (device = output_msg_string(r, "data", "device"))) {
            /* DEVICE_DELETED without "device" is for a backend path: not ours. */
            Device *d = device_find(t, by_id, device, 0);
            d->deleted = r;
        }
    }
    for (guint i = 0; i < t->commands->len; i++) {
        const Command *c = t->commands->pdata[i];
        Client *client = g_hash_table_lookup(t->clients, &c->client);
        if (client && !c->by_proxy) {
            client->commands++;
            client->errors += analysis_command_failed(c);
            client->refused += c->reply && c->reply->refused_by;
        }
    }
}

static gint compare_clients(gconstpointer a, gconstpointer b)
{
    const Client *x = a, *y = b;

    return x->number < y->number ? -1 : x->number > y->number;
}

GList *analysis_clients_sorted(const Analysis *t)
{
    return g_list_sort(g_hash_table_get_values(t->clients), compare_clients);
}

gint analysis_compare_int64(gconstpointer a, gconstpointer b)
{
    gint64 x = *(const gint64 *)a, y = *(const gint64 *)b;

    return x < y ? -1 : x > y;
}
