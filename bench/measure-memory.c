/* measure-memory.c - a fresh proxy's memory, idle and per idle client
 * (measure.h). */
#include "measure.h"

#include "lib/conn.h"
#include "lib/error.h"
#include "lib/fake-upstream.h"
#include "lib/proc.h"
#include "lib/proxy.h"
#include "lib/signals.h"

void measure_memory(Measure *m, const char *qemu_monitor)
{
    g_autofree char *fake_path = g_build_filename(m->dir, "fake-mem.sock", NULL);
    g_autoptr(GError) error = NULL;
    g_autoptr(BenchFakeUpstream) fake = NULL;
    g_autoptr(GPtrArray) conns = NULL;
    guint n = (guint)m->cfg.mem_clients;
    guint idle_ms = m->cfg.quick ? 300 : 1000;
    TestProxy *p = NULL;
    BenchProcMem idle, busy, left;
    guint64 ticks0, ticks1;

    g_print("\n== memory of a fresh proxy (%s) ==\n",
            qemu_monitor ? "upstream: QEMU" : "upstream: fake QEMU, no QEMU installed");
    if (!qemu_monitor) {
        if (!(fake = bench_fake_upstream_start(fake_path))) {
            goto fail;
        }
    }
    if (!(p = bench_proxy_start(m->dir, "memory", qemu_monitor ? qemu_monitor : fake_path, NULL,
                                &error))) {
        goto fail;
    }
    /* let start-up allocations settle before reading */
    if (!bench_signals_sleep_ms(200) || !bench_proc_mem(p->pid, &idle)) {
        goto gone;
    }
    if (!(conns = bench_conn_open_many(p->listen, n, &error))) {
        goto fail;
    }
    if (!bench_signals_sleep_ms(200) || !bench_proc_mem(p->pid, &busy) ||
        !bench_proc_cpu_ticks(p->pid, &ticks0) || !bench_signals_sleep_ms(idle_ms) ||
        !bench_proc_cpu_ticks(p->pid, &ticks1)) {
        goto gone;
    }
    g_clear_pointer(&conns, g_ptr_array_unref);
    /* wait for the proxy to notice every client left before reading again */
    for (guint waited = 0; bench_proxy_count_in_log(p, " disconnected: ") < n && waited < 3000;
         waited += 10) {
        g_usleep(10000);
    }
    guint gone_count = bench_proxy_count_in_log(p, " disconnected: ");
    if (!bench_proc_mem(p->pid, &left)) {
        goto gone;
    }
    double per_client = ((double)busy.rss_kb - (double)idle.rss_kb) / n;
    g_print("  %-30s %8s %8s %8s   (KiB)\n", "", "VmRSS", "RssAnon", "RssFile");
    g_print("  %-30s %8" G_GUINT64_FORMAT " %8" G_GUINT64_FORMAT " %8" G_GUINT64_FORMAT "\n",
            "idle, no clients", idle.rss_kb, idle.anon_kb, idle.file_kb);
    g_print("  %-30s %8" G_GUINT64_FORMAT " %8" G_GUINT64_FORMAT " %8" G_GUINT64_FORMAT "\n",
            "with idle negotiated clients", busy.rss_kb, busy.anon_kb, busy.file_kb);
    g_print("  %-30s %8" G_GUINT64_FORMAT " %8" G_GUINT64_FORMAT " %8" G_GUINT64_FORMAT "\n",
            "after they disconnected", left.rss_kb, left.anon_kb, left.file_kb);
    g_print("  %u clients: %.1f KiB of RSS per client; the proxy logged %u disconnect(s)\n", n,
            per_client, gone_count);
    g_print("  proxy CPU while %u clients sat idle for %u ms: %" G_GUINT64_FORMAT " tick(s)\n", n,
            idle_ms, ticks1 - ticks0);
    bench_summary_add(m->summary, "idle RSS, no clients", (double)idle.rss_kb, 0, "KiB", 4096);
    bench_summary_add(m->summary, "RSS per idle client", per_client, 1, "KiB", 32);
    bench_proxy_stop(m->summary, "memory", p);
    return;

gone:
    if (!error) {
        g_set_error(&error, BENCH_ERROR, 0, "%s",
                    bench_signals_stop_requested() ? "interrupted"
                                                   : "the proxy's /proc entries vanished");
    }
fail:
    g_print("  FAILED: %s\n", error->message);
    bench_summary_error(m->summary, "idle RSS, no clients", error->message);
    g_clear_pointer(&conns, g_ptr_array_unref);
    bench_proxy_stop(m->summary, "memory", p);
}
