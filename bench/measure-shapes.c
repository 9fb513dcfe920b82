/* measure-shapes.c - query-status round trips in the bytes real clients
 * write, straight to QEMU, through the proxy and through socat (the
 * dumbest relay), alternating in one run; and the CPU the proxy and socat
 * spend per command (measure.h).
 *
 * QEMU reads its monitor a byte per system call, so what a client writes
 * matters: Kata's govmm sends no id and a newline, libvirt a string id and
 * CRLF, QEMU's Python client a longer id and no newline, a person typing
 * into socat blanks around everything. */
#include "measure.h"

#include "lib/conn.h"
#include "lib/error.h"
#include "lib/proc.h"
#include "lib/proxy.h"
#include "lib/qmp.h"
#include "lib/signals.h"
#include "lib/socat.h"
#include "lib/stats.h"

#include <string.h>

typedef enum {
    ID_NONE,
    ID_LIBVIRT, /* "libvirt-N" */
    ID_QMP,     /* "__qmp#0000N" */
    ID_NUMBER,  /* N */
} IdKind;

/* A client's bytes: @before, its id (counting up), @after. */
typedef struct {
    const char *client;
    const char *before, *after;
    IdKind id;
} Shape;

static const Shape shapes[] = {
    { "Kata's govmm", "{\"execute\":\"query-status\"}\n", "", ID_NONE },
    { "libvirt", "{\"execute\":\"query-status\",\"id\":", "}\r\n", ID_LIBVIRT },
    { "QEMU's qemu.qmp", "{\"execute\":\"query-status\",\"id\":", "}", ID_QMP },
    { "a person with socat", "{ \"execute\": \"query-status\", \"id\": ", " }\n", ID_NUMBER },
};

enum { DIRECT, PROXY, SOCAT, N_PATHS };

static char *shape_bytes(const Shape *shape, guint n)
{
    GString *out = g_string_new(shape->before);

    switch (shape->id) {
    case ID_NONE:
        break;
    case ID_LIBVIRT:
        g_string_append_printf(out, "\"libvirt-%u\"", n);
        break;
    case ID_QMP:
        g_string_append_printf(out, "\"__qmp#%05u\"", n);
        break;
    case ID_NUMBER:
        g_string_append_printf(out, "%u", n);
        break;
    }
    g_string_append(out, shape->after);
    return g_string_free(out, FALSE);
}

/* One path's samples for one shape. */
typedef struct {
    GArray *ns; /* of gint64 */
} Samples;

static gboolean run_shape(BenchConn *c, const Shape *shape, guint n, Samples *into, GError **error)
{
    for (guint i = 0; i < n; i++) {
        g_autofree char *bytes = shape_bytes(shape, 12 + i);
        gint64 ns;

        if (bench_signals_stop_requested()) {
            bench_error_interrupted(error);
            return FALSE;
        }
        if (!bench_conn_exchange(c, bytes, strlen(bytes), &ns, NULL, error)) {
            return FALSE;
        }
        g_array_append_val(into->ns, ns);
    }
    return TRUE;
}

static double p50_us(Samples *s)
{
    bench_stats_sort((gint64 *)(void *)s->ns->data, s->ns->len);
    return bench_stats_percentile((gint64 *)(void *)s->ns->data, s->ns->len, 50) / 1000.0;
}

void measure_shapes(Measure *m, const char *direct_monitor, const char *proxy_monitor,
                    const char *socat_monitor)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(BenchConn) direct = NULL;
    g_autoptr(BenchConn) proxied = NULL;
    g_autoptr(BenchConn) relayed = NULL;
    g_autoptr(BenchSocat) socat = NULL;
    g_autoptr(GError) socat_error = NULL;
    TestProxy *p = NULL;
    guint per_round = m->cfg.quick ? 200 : 1500;
    guint rounds = m->cfg.quick ? 1 : 3;
    Samples samples[G_N_ELEMENTS(shapes)][N_PATHS];
    guint64 cpu_before[N_PATHS] = { 0 }, cpu_after[N_PATHS] = { 0 };

    g_print("\n== latency: query-status in the bytes real clients write ==\n");
    g_print("  %u round(s) of %u sequential commands per shape and path; the paths take turns "
            "first\n",
            rounds, per_round);
    /* every path negotiates as the proxy does with QEMU (oob), so that
     * QEMU serves each monitor alike */
    if (!(direct = bench_conn_open(direct_monitor, BENCH_QMP_CAPS_OOB, &error))) {
        g_prefix_error(&error, "direct client: ");
    } else if ((p = bench_proxy_start(m->dir, "shapes", proxy_monitor, NULL, &error)) &&
               !(proxied = bench_conn_open(p->listen, BENCH_QMP_CAPS_PLAIN, &error))) {
        g_prefix_error(&error, "proxy client: ");
    }
    if (error) {
        g_print("  FAILED to set up: %s\n", error->message);
        bench_summary_error(m->summary, "latency of the client shapes", error->message);
        bench_proxy_stop(m->summary, "shapes", p);
        return;
    }
    if (!(socat = bench_socat_start(m->dir, socat_monitor, &socat_error)) ||
        !(relayed = bench_conn_open(bench_socat_path(socat), BENCH_QMP_CAPS_OOB, &socat_error))) {
        g_print("  socat left out: %s\n", socat_error->message);
    }
    BenchConn *conns[N_PATHS] = { direct, proxied, relayed };
    for (guint s = 0; s < G_N_ELEMENTS(shapes); s++) {
        for (guint k = 0; k < N_PATHS; k++) {
            samples[s][k].ns = g_array_new(FALSE, FALSE, sizeof(gint64));
        }
    }
    /* warm every path up untimed */
    for (guint k = 0; k < N_PATHS && !error; k++) {
        Samples scratch = { g_array_new(FALSE, FALSE, sizeof(gint64)) };

        if (conns[k]) {
            run_shape(conns[k], &shapes[0], per_round / 10, &scratch, &error);
        }
        g_array_unref(scratch.ns);
    }
    cpu_before[PROXY] = bench_proc_cpu_ns_with_children(p->pid);
    cpu_before[SOCAT] = socat ? bench_proc_cpu_ns_with_children(bench_socat_pid(socat)) : 0;
    for (guint r = 0; r < rounds && !error; r++) {
        for (guint s = 0; s < G_N_ELEMENTS(shapes) && !error; s++) {
            for (guint j = 0; j < N_PATHS && !error; j++) {
                guint k = (j + r + s) % N_PATHS;

                if (conns[k]) {
                    run_shape(conns[k], &shapes[s], per_round, &samples[s][k], &error);
                }
            }
        }
    }
    cpu_after[PROXY] = bench_proc_cpu_ns_with_children(p->pid);
    cpu_after[SOCAT] = socat ? bench_proc_cpu_ns_with_children(bench_socat_pid(socat)) : 0;

    if (error) {
        g_print("  FAILED: %s\n", error->message);
        bench_summary_error(m->summary, "latency of the client shapes", error->message);
    } else {
        g_print("  %-20s %9s %9s %9s %8s %8s   (p50, microseconds)\n", "client", "direct", "proxy",
                "socat", "proxy/d", "socat/d");
        for (guint s = 0; s < G_N_ELEMENTS(shapes); s++) {
            double d = p50_us(&samples[s][DIRECT]), px = p50_us(&samples[s][PROXY]);
            double so = relayed ? p50_us(&samples[s][SOCAT]) : 0;
            g_autofree char *ratio = g_strdup_printf("%s: p50 proxy/direct", shapes[s].client);
            g_autofree char *vs =
                g_strdup_printf("%s: proxy/direct over socat/direct", shapes[s].client);

            g_print("  %-20s %9.1f %9.1f %9.1f %8.3f %8.3f\n", shapes[s].client, d, px, so, px / d,
                    so / d);
            /* clients with an id get their answers sooner than from QEMU
             * itself: the proxy sends QEMU fewer bytes */
            bench_summary_add(m->summary, ratio, px / d, 3, "x",
                              shapes[s].id != ID_NONE ? 0.90 : 1.03);
            if (relayed) {
                bench_summary_add(m->summary, vs, (px / d) / (so / d), 3, "x", 1.0);
            }
        }
        guint64 commands = (guint64)rounds * per_round * G_N_ELEMENTS(shapes);
        double proxy_us = (cpu_after[PROXY] - cpu_before[PROXY]) / 1000.0 / commands;

        g_print("  CPU per command: proxy %.1f us", proxy_us);
        bench_summary_add(m->summary, "proxy CPU per command (QEMU, sequential)", proxy_us, 1, "us",
                          -1);
        if (relayed) {
            double socat_us = (cpu_after[SOCAT] - cpu_before[SOCAT]) / 1000.0 / commands;

            g_print(", socat %.1f us (its relay child included)", socat_us);
            bench_summary_add(m->summary, "socat CPU per command (QEMU, sequential)", socat_us, 1,
                              "us", -1);
            bench_summary_add(m->summary, "CPU per command proxy/socat", proxy_us / socat_us, 2,
                              "x", 1.0);
        }
        g_print("\n");
    }
    for (guint s = 0; s < G_N_ELEMENTS(shapes); s++) {
        for (guint k = 0; k < N_PATHS; k++) {
            g_array_unref(samples[s][k].ns);
        }
    }
    g_clear_pointer(&proxied, bench_conn_free);
    bench_proxy_stop(m->summary, "shapes", p);
}
