/* measure-kata.c - the QMP steps of a Kata disk hot-plug, in the bytes
 * Kata's govmm writes (Go marshals map keys in order, no id, a newline),
 * straight to QEMU and through the proxy, cycles alternating (measure.h).
 *
 * A cycle: blockdev-add of a file, device_add of a scsi-hd with its
 * scsi-id and lun, query-status, device_del until DEVICE_DELETED,
 * blockdev-del. Each path plugs at its own SCSI address, under node names
 * and ids of the same length. */
#include "measure.h"

#include "lib/conn.h"
#include "lib/error.h"
#include "lib/proxy.h"
#include "lib/qmp.h"
#include "lib/signals.h"
#include "lib/stats.h"

#include <glib/gstdio.h>
#include <string.h>
#include <unistd.h>

enum { BLOCKDEV_ADD, DEVICE_ADD, QUERY_STATUS, DEVICE_DEL, BLOCKDEV_DEL, N_STEPS };
static const char *const step_names[N_STEPS] = { "blockdev-add", "device_add", "query-status",
                                                 "device_del", "blockdev-del" };

enum { DIRECT, PROXY, N_PATHS };

/* One cycle on @c: @tag names its node and device, @scsi_id its address. */
static gboolean cycle(BenchConn *c, const char *image, char tag, guint n, guint scsi_id,
                      GArray **steps, GError **error)
{
    g_autofree char *node = g_strdup_printf("drive-%c%04u", tag, n);
    g_autofree char *dev = g_strdup_printf("scsi-%c%04u", tag, n);
    g_autoptr(GPtrArray) events = g_ptr_array_new_with_free_func(g_free);
    g_autofree char *deleted = g_strdup_printf("\"device\": \"%s\"", dev);
    char *cmd[N_STEPS] = {
        g_strdup_printf("{\"arguments\":{\"driver\":\"raw\",\"file\":{\"driver\":\"file\","
                        "\"filename\":\"%s\"},\"node-name\":\"%s\",\"read-only\":false},"
                        "\"execute\":\"blockdev-add\"}\n",
                        image, node),
        g_strdup_printf("{\"arguments\":{\"bus\":\"scsi0.0\",\"drive\":\"%s\",\"driver\":"
                        "\"scsi-hd\",\"id\":\"%s\",\"lun\":0,\"scsi-id\":%u},\"execute\":"
                        "\"device_add\"}\n",
                        node, dev, scsi_id),
        g_strdup(BENCH_QMP_QUERY_STATUS "\n"),
        g_strdup_printf("{\"arguments\":{\"id\":\"%s\"},\"execute\":\"device_del\"}\n", dev),
        g_strdup_printf("{\"arguments\":{\"node-name\":\"%s\"},\"execute\":\"blockdev-del\"}\n",
                        node),
    };

    gboolean ok = TRUE;

    for (guint i = 0; i < N_STEPS && ok; i++) {
        gint64 ns, start = g_get_monotonic_time();

        ok = bench_conn_exchange(c, cmd[i], strlen(cmd[i]), &ns, events, error);
        if (ok && i == DEVICE_DEL) {
            /* Kata waits for the event before it removes the back end */
            ok = bench_conn_wait_event(c, deleted, events, error);
            ns = (g_get_monotonic_time() - start) * 1000;
        }
        if (ok) {
            g_array_append_val(steps[i], ns);
        }
    }
    for (guint i = 0; i < N_STEPS; i++) {
        g_free(cmd[i]);
    }
    return ok;
}

void measure_kata(Measure *m, const char *direct_monitor, const char *proxy_monitor)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(BenchConn) direct = NULL;
    g_autoptr(BenchConn) proxied = NULL;
    g_autofree char *image = g_build_filename(m->dir, "kata.img", NULL);
    TestProxy *p = NULL;
    guint cycles = m->cfg.quick ? 10 : 100;
    GArray *steps[N_PATHS][N_STEPS];

    g_print("\n== Kata's hot-plug steps (govmm's bytes), %u cycles per path, alternating ==\n",
            cycles);
    if (!g_file_set_contents(image, "", 0, &error) || truncate(image, 1 << 20) < 0) {
        g_prefix_error(&error, "the disk image: ");
    } else if (!(direct = bench_conn_open(direct_monitor, BENCH_QMP_CAPS_OOB, &error))) {
        g_prefix_error(&error, "direct client: ");
    } else if ((p = bench_proxy_start(m->dir, "kata", proxy_monitor, NULL, &error)) &&
               !(proxied = bench_conn_open(p->listen, BENCH_QMP_CAPS_PLAIN, &error))) {
        g_prefix_error(&error, "proxy client: ");
    }
    for (guint k = 0; k < N_PATHS; k++) {
        for (guint i = 0; i < N_STEPS; i++) {
            steps[k][i] = g_array_new(FALSE, FALSE, sizeof(gint64));
        }
    }
    for (guint n = 0; n < cycles && !error; n++) {
        for (guint j = 0; j < N_PATHS && !error; j++) {
            guint k = (j + n) % N_PATHS;

            if (bench_signals_stop_requested()) {
                bench_error_interrupted(&error);
            } else {
                cycle(k == DIRECT ? direct : proxied, image, k == DIRECT ? 'd' : 'p', n,
                      k == DIRECT ? 1 : 2, steps[k], &error);
            }
        }
    }
    if (error) {
        g_print("  FAILED: %s\n", error->message);
        bench_summary_error(m->summary, "Kata's hot-plug steps", error->message);
    } else {
        g_print("  %-14s %10s %10s %8s   (p50, microseconds)\n", "step", "direct", "proxy",
                "proxy/d");
        for (guint i = 0; i < N_STEPS; i++) {
            GArray *d = steps[DIRECT][i], *px = steps[PROXY][i];

            bench_stats_sort((gint64 *)(void *)d->data, d->len);
            bench_stats_sort((gint64 *)(void *)px->data, px->len);
            double d50 = bench_stats_percentile((gint64 *)(void *)d->data, d->len, 50) / 1000.0;
            double p50 = bench_stats_percentile((gint64 *)(void *)px->data, px->len, 50) / 1000.0;
            g_autofree char *figure = g_strdup_printf("Kata %s p50 proxy/direct", step_names[i]);

            g_print("  %-14s %10.1f %10.1f %8.3f\n", step_names[i], d50, p50, p50 / d50);
            bench_summary_add(m->summary, figure, p50 / d50, 3, "x", 1.03);
        }
    }
    for (guint k = 0; k < N_PATHS; k++) {
        for (guint i = 0; i < N_STEPS; i++) {
            g_array_unref(steps[k][i]);
        }
    }
    g_clear_pointer(&proxied, bench_conn_free);
    bench_proxy_stop(m->summary, "kata", p);
}
