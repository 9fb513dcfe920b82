/* measure-qemu.c - throughput through a real QEMU, direct and via the
 * proxy (measure.h). */
#include "measure.h"

#include "lib/conn.h"
#include "lib/proxy.h"
#include "lib/pump.h"
#include "lib/qmp.h"
#include "lib/signals.h"
#include "lib/stats.h"

typedef struct {
    const char *path;
    guint clients;
    char *figure;
    guint64 completed, errors;
    gint64 elapsed_us;
    char *first_error;
    char *failure;
} ThroughputRow;

/* One slice of one configuration; proxy clients connect and negotiate
 * outside the timed window. */
static gboolean throughput_slice(Measure *m, ThroughputRow *row, BenchConn *direct,
                                 const char *proxy_path, gint64 slice_us)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(GPtrArray) conns = NULL;
    BenchPumpResult res;

    if (direct) {
        conns = g_ptr_array_new();
        g_ptr_array_add(conns, direct);
    } else if (!(conns = bench_conn_open_many(proxy_path, row->clients, &error))) {
        row->failure = g_strdup(error->message);
        return FALSE;
    }
    if (!bench_pump_run(conns, (guint)m->cfg.depth, slice_us, 0, &res, &error)) {
        row->failure = g_strdup(error->message);
        return FALSE;
    }
    row->completed += res.completed;
    row->errors += res.errors;
    row->elapsed_us += res.elapsed_us;
    if (res.first_error && !row->first_error) {
        row->first_error = g_steal_pointer(&res.first_error);
    }
    bench_pump_result_clear(&res);
    return TRUE;
}

static void throughput(Measure *m, BenchConn *direct, const char *proxy_path)
{
    ThroughputRow rows[] = {
        { "direct", 1, g_strdup("throughput direct, 1 client") },
        { "proxy", 1, g_strdup("throughput via proxy, 1 client") },
        { "proxy", 16, g_strdup("throughput via proxy, 16 clients") },
        { "proxy", 64, g_strdup("throughput via proxy, 64 clients") },
    };
    /* Slices taken in turn, so that a burst of load from elsewhere on
     * the machine spreads over every configuration rather than one. */
    guint rounds = m->cfg.quick ? 1 : 3;
    gint64 slice_us = (gint64)(m->cfg.duration * G_USEC_PER_SEC / rounds);

    g_print("\n== throughput: query-status on QEMU, %d outstanding per client, %.1f s per "
            "configuration ==\n",
            m->cfg.depth, m->cfg.duration);
    g_print("  taken in %u round(s) of %.2f s slices, configurations in turn\n", rounds,
            slice_us / 1e6);
    for (guint r = 0; r < rounds && !bench_signals_stop_requested(); r++) {
        for (guint i = 0; i < G_N_ELEMENTS(rows) && !bench_signals_stop_requested(); i++) {
            if (!rows[i].failure) {
                throughput_slice(m, &rows[i], i == 0 ? direct : NULL, proxy_path, slice_us);
            }
        }
    }
    g_print("  %-7s %7s %10s %8s %10s %7s\n", "path", "clients", "commands", "seconds", "cmd/s",
            "errors");
    for (guint i = 0; i < G_N_ELEMENTS(rows); i++) {
        ThroughputRow *row = &rows[i];

        if (row->failure || row->elapsed_us == 0) {
            const char *why = row->failure ? row->failure : "interrupted";

            g_print("  %-7s %7u   FAILED: %s\n", row->path, row->clients, why);
            bench_summary_error(m->summary, row->figure, why);
        } else {
            double rate = row->completed / (row->elapsed_us / 1e6);

            g_print("  %-7s %7u %10" G_GUINT64_FORMAT " %8.2f %10.0f %7" G_GUINT64_FORMAT "\n",
                    row->path, row->clients, row->completed, row->elapsed_us / 1e6, rate,
                    row->errors);
            if (row->first_error) {
                g_print("          first error: %s\n", row->first_error);
                m->failed = TRUE;
            }
            bench_summary_add(m->summary, row->figure, rate, 0, "cmd/s", -1);
        }
        g_free(row->figure);
        g_free(row->first_error);
        g_free(row->failure);
    }
}

/* One proxy and one direct client. */
void measure_qemu(Measure *m, const char *direct_monitor, const char *proxy_monitor)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(BenchConn) direct = NULL;
    g_autoptr(BenchConn) proxied = NULL;
    TestProxy *p = NULL;

    if (!(direct = bench_conn_open(direct_monitor, BENCH_QMP_CAPS_OOB, &error))) {
        g_prefix_error(&error, "direct client: ");
    } else if ((p = bench_proxy_start(m->dir, "qemu", proxy_monitor, NULL, &error)) &&
               !(proxied = bench_conn_open(p->listen, BENCH_QMP_CAPS_PLAIN, &error))) {
        g_prefix_error(&error, "proxy client: ");
    }
    if (error) {
        g_print("\nFAILED to set up the QEMU measurements: %s\n", error->message);
        bench_summary_error(m->summary, "throughput", error->message);
        bench_proxy_stop(m->summary, "qemu", p);
        return;
    }
    if (!bench_signals_stop_requested()) {
        throughput(m, direct, p->listen);
    }
    g_clear_pointer(&proxied, bench_conn_free);
    g_print("\n");
    bench_proxy_stop(m->summary, "qemu", p);
}
