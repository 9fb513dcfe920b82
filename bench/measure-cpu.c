/* measure-cpu.c - the proxy's CPU per forwarded message, against a fake
 * upstream answering at once (measure.h). */
#include "measure.h"

#include "lib/conn.h"
#include "lib/error.h"
#include "lib/fake-upstream.h"
#include "lib/proc.h"
#include "lib/proxy.h"
#include "lib/pump.h"

#include <sys/resource.h>
#include <unistd.h>

static double tv_seconds(const struct timeval *tv)
{
    return tv->tv_sec + tv->tv_usec / 1e6;
}

void measure_cpu(Measure *m)
{
    g_autofree char *fake_path = g_build_filename(m->dir, "fake-cpu.sock", NULL);
    g_autoptr(GError) error = NULL;
    g_autoptr(BenchFakeUpstream) fake = NULL;
    g_autoptr(GPtrArray) conns = NULL;
    TestProxy *p = NULL;
    guint64 total = (guint64)m->cfg.cpu_commands;
    guint64 user0, sys0, user1, sys1;
    BenchPumpResult warm = { 0 }, res = { 0 };
    long hz = sysconf(_SC_CLK_TCK);
    struct rusage self0, self1;

    g_print("\n== proxy CPU per forwarded message (fake upstream answering at once) ==\n");
    fake = bench_fake_upstream_start(fake_path);
    if (!fake || !(p = bench_proxy_start(m->dir, "cpu", fake_path, NULL, &error)) ||
        !(conns = bench_conn_open_many(p->listen, (guint)m->cfg.cpu_clients, &error))) {
        goto fail;
    }
    /* warm up the proxy's allocator and buffers outside the window */
    if (!bench_pump_run(conns, (guint)m->cfg.depth, 0, MAX(total / 20, 100), &warm, &error) ||
        !bench_proc_cpu_split(p->pid, &user0, &sys0) || getrusage(RUSAGE_SELF, &self0) < 0 ||
        !bench_pump_run(conns, (guint)m->cfg.depth, 0, total, &res, &error) ||
        !bench_proc_cpu_split(p->pid, &user1, &sys1) || getrusage(RUSAGE_SELF, &self1) < 0) {
        if (!error) {
            g_set_error(&error, BENCH_ERROR, 0, "cannot read /proc/%d/stat", (int)p->pid);
        }
        goto fail;
    }
    guint64 ticks = user1 + sys1 - user0 - sys0;
    double cpu_s = (double)ticks / (double)hz;
    double per_msg_us = cpu_s * 1e6 / (double)res.completed;
    g_print("  %d clients x %d outstanding; %" G_GUINT64_FORMAT
            " warm-up commands, then %" G_GUINT64_FORMAT " measured\n",
            m->cfg.cpu_clients, m->cfg.depth, warm.completed, res.completed);
    g_print("  wall %.2f s, %.0f cmd/s through the proxy, %" G_GUINT64_FORMAT " error(s)\n",
            res.elapsed_us / 1e6, res.completed / (res.elapsed_us / 1e6), res.errors);
    if (res.first_error) {
        g_print("  first error: %s\n", res.first_error);
        m->failed = TRUE;
    }
    g_print("  proxy CPU: %" G_GUINT64_FORMAT " ticks of 1/%ld s (user %" G_GUINT64_FORMAT
            ", system %" G_GUINT64_FORMAT ") = %.2f s, %.0f%% of one core\n",
            ticks, hz, user1 - user0, sys1 - sys0, cpu_s, 100.0 * cpu_s / (res.elapsed_us / 1e6));
    g_print("  = %.2f us of proxy CPU per forwarded message, dividing by %" G_GUINT64_FORMAT
            " commands\n"
            "    (a message = one command forwarded up plus its reply forwarded back)\n",
            per_msg_us, res.completed);
    /* when the driver saturates a core, the rate is the driver's, not the proxy's */
    g_print("  this process (clients and fake upstream) used %.2f s of CPU meanwhile\n",
            tv_seconds(&self1.ru_utime) + tv_seconds(&self1.ru_stime) -
                tv_seconds(&self0.ru_utime) - tv_seconds(&self0.ru_stime));
    if (ticks < 50) {
        g_print("  note: only %" G_GUINT64_FORMAT " ticks measured; use more --cpu-commands for "
                "a precise figure\n",
                ticks);
    }
    bench_summary_add(m->summary, "throughput via proxy, fake upstream",
                      res.completed / (res.elapsed_us / 1e6), 0, "cmd/s", -1);
    bench_summary_add(m->summary, "proxy CPU per forwarded message", per_msg_us, 2, "us", 2.0);
    bench_pump_result_clear(&warm);
    bench_pump_result_clear(&res);
    g_clear_pointer(&conns, g_ptr_array_unref);
    bench_proxy_stop(m->summary, "cpu", p);
    return;

fail:
    g_print("  FAILED: %s\n", error->message);
    bench_summary_error(m->summary, "proxy CPU per forwarded message", error->message);
    bench_pump_result_clear(&warm);
    bench_pump_result_clear(&res);
    g_clear_pointer(&conns, g_ptr_array_unref);
    bench_proxy_stop(m->summary, "cpu", p);
}
