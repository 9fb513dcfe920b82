/* summary.c - "qmproxy trace --summary": latency per command, plug and
 * unplug time per device, per client. */
#include "trace-reader.h"

#include <stdio.h>
#include <string.h>

typedef struct {
    const char *title;
    const char *align; /* 'l' or 'r' per column */
    GPtrArray *rows;   /* GPtrArray of char *; the first holds the headings */
} Table;

static GPtrArray *table_row(Table *t)
{
    GPtrArray *row = g_ptr_array_new_with_free_func(g_free);

    g_ptr_array_add(t->rows, row);
    return row;
}

G_GNUC_PRINTF(2, 3)
static void table_cell(GPtrArray *row, const char *format, ...)
{
    va_list ap;

    va_start(ap, format);
    g_ptr_array_add(row, g_strdup_vprintf(format, ap));
    va_end(ap);
}

static void table_init(Table *t, const char *title, const char *align, const char *const *headings)
{
    GPtrArray *row;

    t->title = title;
    t->align = align;
    t->rows = g_ptr_array_new_with_free_func((GDestroyNotify)g_ptr_array_unref);
    row = table_row(t);
    for (guint i = 0; headings[i]; i++) {
        table_cell(row, "%s", headings[i]);
    }
}

static void table_print(Table *t)
{
    g_autoptr(GArray) widths = g_array_new(FALSE, TRUE, sizeof(guint));
    g_autoptr(GString) s = g_string_new(NULL);

    g_array_set_size(widths, strlen(t->align));
    for (guint i = 0; i < t->rows->len; i++) {
        GPtrArray *row = t->rows->pdata[i];
        for (guint j = 0; j < row->len && j < widths->len; j++) {
            guint n = (guint)g_utf8_strlen(row->pdata[j], -1);
            g_array_index(widths, guint, j) = MAX(g_array_index(widths, guint, j), n);
        }
    }
    g_string_append_printf(s, "%s\n", t->title);
    for (guint i = 0; i < t->rows->len; i++) {
        GPtrArray *row = t->rows->pdata[i];
        for (guint j = 0; j < row->len && j < widths->len; j++) {
            g_string_append(s, "  ");
            /* No trailing blanks after a last column aligned left. */
            gboolean pad = j + 1 < row->len || t->align[j] == 'r';
            output_pad(s, row->pdata[j], pad ? g_array_index(widths, guint, j) : 0,
                       t->align[j] == 'r');
        }
        g_string_append_c(s, '\n');
    }
    if (t->rows->len == 1) {
        g_string_append(s, "  (none)\n");
    }
    g_string_append_c(s, '\n');
    fputs(s->str, stdout);
    g_ptr_array_unref(t->rows);
}

/* Nearest rank: the smallest value with at least @pct % of values at or
 * below it, so that every figure shown was actually measured. */
static gint64 percentile(GArray *sorted, guint pct)
{
    guint rank = (sorted->len * pct + 99) / 100;

    return sorted->len ? g_array_index(sorted, gint64, MAX(rank, 1) - 1) : -1;
}

typedef struct {
    guint count, errors, unanswered;
    GArray *latencies; /* gint64 */
} CommandStats;

static void command_stats_free(CommandStats *s)
{
    g_array_unref(s->latencies);
    g_free(s);
}

/* The clients' commands, or (@by_proxy) those the proxy made itself, which
 * get a table only when there are some. */
static void summary_commands(const Analysis *t, const Style *style, gboolean by_proxy)
{
    static const char *const headings[] = { "command", "count", "errors", "no reply",
                                            "p50",     "p99",   "max",    NULL };
    g_autoptr(GHashTable) stats =
        g_hash_table_new_full(g_str_hash, g_str_equal, NULL, (GDestroyNotify)command_stats_free);
    g_autofree char *title =
        by_proxy ? g_strdup("Commands the proxy made itself (device manager; latency from "
                            "qemu>proxy replies, nearest rank)")
                 : g_strdup_printf("Commands (latency from %s replies, nearest rank)",
                                   reader_dirs[t->reply_dir].name);
    Table table;
    GList *names;

    for (guint i = 0; i < t->commands->len; i++) {
        const Command *c = t->commands->pdata[i];
        CommandStats *s;
        gint64 latency = analysis_command_latency(c);
        if (c->by_proxy != by_proxy) {
            continue;
        }
        s = g_hash_table_lookup(stats, analysis_command_name(c));
        if (!s) {
            s = g_new0(CommandStats, 1);
            s->latencies = g_array_new(FALSE, FALSE, sizeof(gint64));
            g_hash_table_insert(stats, (gpointer)analysis_command_name(c), s);
        }
        s->count++;
        s->errors += analysis_command_failed(c);
        s->unanswered += !c->reply;
        if (latency >= 0) {
            g_array_append_val(s->latencies, latency);
        }
    }
    if (by_proxy && g_hash_table_size(stats) == 0) {
        return;
    }
    table_init(&table, title, "lrrrrrr", headings);
    names = g_list_sort(g_hash_table_get_keys(stats), (GCompareFunc)g_strcmp0);
    for (GList *l = names; l; l = l->next) {
        CommandStats *s = g_hash_table_lookup(stats, l->data);
        GPtrArray *row = table_row(&table);
        g_array_sort(s->latencies, analysis_compare_int64);
        table_cell(row, "%s", (const char *)l->data);
        table_cell(row, "%u", s->count);
        table_cell(row, "%u", s->errors);
        table_cell(row, "%u", s->unanswered);
        g_ptr_array_add(row, output_us(percentile(s->latencies, 50), style));
        g_ptr_array_add(row, output_us(percentile(s->latencies, 99), style));
        g_ptr_array_add(row, output_us(percentile(s->latencies, 100), style));
    }
    g_list_free(names);
    table_print(&table);
}

static void summary_devices(const Analysis *t, const Style *style)
{
    static const char *const headings[] = { "device", "driver", "client", "plug",
                                            "unplug", "state",  NULL };
    Table table;

    table_init(&table,
               "Devices (plug: device_add to its reply; unplug: device_del to DEVICE_DELETED)",
               "llrrrl", headings);
    for (guint i = 0; i < t->devices->len; i++) {
        const Device *d = t->devices->pdata[i];
        GPtrArray *row = table_row(&table);
        table_cell(row, "%s", d->id);
        table_cell(row, "%s", d->driver ? d->driver : "?");
        if (d->client > 0) {
            table_cell(row, "%" G_GINT64_FORMAT "%s", d->client,
                       analysis_device_by_proxy(d) ? " via proxy" : "");
        } else {
            table_cell(row, "%s", analysis_device_by_proxy(d) ? "proxy" : "-");
        }
        g_ptr_array_add(row, output_us(d->add ? analysis_command_latency(d->add) : -1, style));
        g_ptr_array_add(row, output_us(analysis_device_unplug_us(d), style));
        table_cell(row, "%s", analysis_device_state(d));
    }
    table_print(&table);
}

static void summary_clients(const Analysis *t)
{
    static const char *const headings[] = { "client", "exe",     "pid",    "uid", "commands",
                                            "errors", "refused", "events", NULL };
    g_autofree char *title =
        g_strdup_printf("Clients (events: as received%s)",
                        t->reply_dir == DIR_P2C ? "" : "; none, the trace has no proxy>client");
    Table table;
    GList *clients = analysis_clients_sorted(t);

    table_init(&table, title, "rlrrrrrr", headings);
    for (GList *l = clients; l; l = l->next) {
        const Client *c = l->data;
        GPtrArray *row = table_row(&table);
        table_cell(row, "%" G_GINT64_FORMAT, c->number);
        table_cell(row, "%s", c->exe ? c->exe : "?");
        table_cell(row, "%" G_GINT64_FORMAT, c->pid);
        table_cell(row, "%" G_GINT64_FORMAT, c->uid);
        table_cell(row, "%u", c->commands);
        table_cell(row, "%u", c->errors);
        table_cell(row, "%u", c->refused);
        table_cell(row, "%u", c->events);
    }
    g_list_free(clients);
    table_print(&table);
}

void summary_print(const Analysis *t, const char *path, const Style *style)
{
    g_autofree char *span = output_us(t->end_us - t->start_us, style);

    g_print("%s: %u records, %u header%s, filter %s, %s from first to last\n\n", path,
            t->records->len - t->headers, t->headers, t->headers == 1 ? "" : "s",
            t->filter ? t->filter : "?", t->records->len ? span : "-");
    summary_commands(t, style, FALSE);
    summary_commands(t, style, TRUE);
    summary_devices(t, style);
    summary_clients(t);
}
