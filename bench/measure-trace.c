/* measure-trace.c - what --trace costs in throughput (measure.h). */
#include "measure.h"

#include "lib/conn.h"
#include "lib/fake-upstream.h"
#include "lib/proxy.h"
#include "lib/pump.h"
#include "lib/signals.h"
#include "lib/stats.h"

#include <glib/gstdio.h>

/* Commands per second through a proxy (with @opts) in front of @upstream,
 * or of a fake upstream answering at once (NULL), so that the proxy's own
 * work shows. */
static gboolean rate_through(Measure *m, const char *label, const char *upstream,
                             const char *const *opts, guint64 total, double *rate, GError **error)
{
    g_autofree char *fake_path = g_strdup_printf("%s/fake-%s.sock", m->dir, label);
    g_autoptr(BenchFakeUpstream) fake = upstream ? NULL : bench_fake_upstream_start(fake_path);
    g_autoptr(GPtrArray) conns = NULL;
    BenchPumpResult warm = { 0 }, res = { 0 };
    TestProxy *p = NULL;
    gboolean ok =
        (upstream || fake) &&
        (p = bench_proxy_start(m->dir, label, upstream ? upstream : fake_path, opts, error)) &&
        (conns = bench_conn_open_many(p->listen, (guint)m->cfg.cpu_clients, error)) &&
        bench_pump_run(conns, (guint)m->cfg.depth, 0, MAX(total / 20, 100), &warm, error) &&
        bench_pump_run(conns, (guint)m->cfg.depth, 0, total, &res, error);

    if (ok) {
        *rate = res.completed / (res.elapsed_us / 1e6);
    }
    bench_pump_result_clear(&warm);
    bench_pump_result_clear(&res);
    g_clear_pointer(&conns, g_ptr_array_unref);
    if (p) {
        bench_proxy_stop(m->summary, label, p);
    }
    return ok;
}

/* Throughput with --trace (everything recorded) against without, in
 * alternating rounds so that background load falls on both alike; through
 * a real QEMU (what a user sees) when there is one, and against the fake
 * upstream (the proxy's own cost, tracing included, laid bare). */
static void trace_one(Measure *m, const char *what, const char *upstream, guint64 total)
{
    enum { ROUNDS = 3 };
    double on[ROUNDS], off[ROUNDS];
    g_autoptr(GError) error = NULL;
    g_autofree char *file = g_strdup_printf("%s/trace-%s.jsonl", m->dir, what);
    const char *const opts[] = { "--trace", file, NULL };
    g_autofree char *figure = g_strdup_printf("throughput ratio traced/untraced, %s", what);

    for (int i = 0; i < ROUNDS && !bench_signals_stop_requested(); i++) {
        g_autofree char *l_off = g_strdup_printf("untraced-%s-%d", what, i);
        g_autofree char *l_on = g_strdup_printf("traced-%s-%d", what, i);

        if (!rate_through(m, l_off, upstream, NULL, total, &off[i], &error) ||
            !rate_through(m, l_on, upstream, opts, total, &on[i], &error)) {
            g_print("  FAILED: %s\n", error->message);
            bench_summary_error(m->summary, figure, error->message);
            return;
        }
        g_print("  %s, round %d: %.0f cmd/s untraced, %.0f cmd/s traced\n", what, i + 1, off[i],
                on[i]);
    }
    struct stat st;
    if (g_stat(file, &st) == 0) {
        g_print("  %s: trace written, %.1f MB\n", what, st.st_size / 1048576.0);
    }
    bench_summary_add_min(m->summary, figure,
                          bench_stats_median(on, ROUNDS) / bench_stats_median(off, ROUNDS), 2, "x",
                          0.9);
}

void measure_trace(Measure *m, const char *qemu_monitor)
{
    g_print("\n== tracing: commands/s with --trace vs without ==\n");
    if (qemu_monitor) {
        trace_one(m, "real QEMU", qemu_monitor, (guint64)m->cfg.cpu_commands / 10);
    }
    trace_one(m, "fake upstream", NULL, (guint64)m->cfg.cpu_commands / 2);
}
