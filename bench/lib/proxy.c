/* proxy.c - the proxy under test (proxy.h). */
#include "proxy.h"

#include "error.h"
#include "proc.h"
#include "signals.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static gboolean log_is_routine(const char *line)
{
    static const char *const routine[] = {
        "connected to QEMU at",
        "placement: in front of a QEMU which has",
        "serving clients on ",
        " connected: pid ",
        " disconnected: peer closed the connection",
        /* a benchmark client that closes with events still unread */
        " disconnected: read failed: Connection reset by peer",
        "signal received; shutting down",
    };

    for (guint i = 0; i < G_N_ELEMENTS(routine); i++) {
        if (strstr(line, routine[i])) {
            return TRUE;
        }
    }
    return FALSE;
}

guint bench_proxy_count_in_log(TestProxy *p, const char *what)
{
    g_autofree char *log = test_proxy_log(p);
    guint n = 0;

    for (const char *at = log; (at = strstr(at, what)); at += strlen(what)) {
        n++;
    }
    return n;
}

/* Waiting for "serving clients" keeps the proxy's start-up out of every
 * figure. */
TestProxy *bench_proxy_start(const char *dir, const char *label, const char *upstream,
                             const char *const *opts, GError **error)
{
    g_autofree char *proxy_dir = g_build_filename(dir, label, NULL);

    if (g_mkdir(proxy_dir, 0700) < 0) {
        g_set_error(error, BENCH_ERROR, 0, "mkdir %s: %s", proxy_dir, g_strerror(errno));
        return NULL;
    }
    TestProxy *p = test_proxy_start(upstream, proxy_dir, opts);
    bench_signals_add_child(p->pid);
    for (guint waited = 0; bench_proxy_count_in_log(p, "serving clients on") == 0; waited += 10) {
        if (test_proxy_wait(p, 0) || waited > 15000 || bench_signals_stop_requested()) {
            g_autofree char *log = test_proxy_log(p);

            g_set_error(error, BENCH_ERROR, 0, "qmproxy (%s) is not serving: %s", label,
                        bench_signals_stop_requested() ? "interrupted" : log);
            bench_signals_remove_child(p->pid);
            test_proxy_free(p);
            return NULL;
        }
        g_usleep(10000);
    }
    return p;
}

/* Every client is gone by now: a proxy that still burns CPU or holds
 * their sockets has lost track of one, and would skew later figures. */
static void proxy_check_idle(BenchSummary *s, const char *label, TestProxy *p)
{
    guint64 ticks0, ticks1;
    long hz = sysconf(_SC_CLK_TCK);

    if (!bench_signals_sleep_ms(200) || !bench_proc_cpu_ticks(p->pid, &ticks0) ||
        !bench_signals_sleep_ms(500) || !bench_proc_cpu_ticks(p->pid, &ticks1)) {
        return;
    }
    guint sockets = bench_proc_count_sockets(p->pid);
    double busy = 100.0 * (double)(ticks1 - ticks0) / (double)hz / 0.5;
    g_print("  proxy (%s) once its clients left: %.0f%% CPU over 500 ms, %u socket(s) open "
            "(2 expected: listener and upstream)\n",
            label, busy, sockets);
    if (busy > 10 || sockets > 2) {
        g_print("  WARNING: proxy (%s) %s\n", label,
                busy > 10 ? "keeps spinning with no client connected"
                          : "still holds sockets of clients that left");
        bench_summary_add_anomaly(s);
    }
}

void bench_proxy_stop(BenchSummary *s, const char *label, TestProxy *p)
{
    BenchProcMem mem;

    if (!p) {
        return;
    }
    if (!p->exited && !bench_signals_stop_requested()) {
        proxy_check_idle(s, label, p);
    }
    if (!p->exited && bench_proc_mem(p->pid, &mem)) {
        bench_summary_add_peak(s, label, mem.hwm_kb);
    }
    if (!p->exited) {
        kill(p->pid, SIGTERM);
    }
    gboolean exited = test_proxy_wait(p, 3000);
    g_autofree char *log = test_proxy_log(p);
    g_auto(GStrv) lines = g_strsplit(log, "\n", -1);
    g_autoptr(GPtrArray) notable = g_ptr_array_new();
    guint total = 0;

    for (guint i = 0; lines[i]; i++) {
        if (!*lines[i]) {
            continue;
        }
        total++;
        if (!log_is_routine(lines[i])) {
            g_ptr_array_add(notable, lines[i]);
        }
    }
    g_print("  proxy log (%s): %u line(s), %u beyond routine connects/disconnects\n", label, total,
            notable->len);
    for (guint i = 0; i < notable->len && i < 10; i++) {
        g_print("    | %s\n", (const char *)g_ptr_array_index(notable, i));
    }
    if (notable->len > 10) {
        g_print("    | ... %u more\n", notable->len - 10);
    }
    if (notable->len > 0) {
        bench_summary_add_anomaly(s);
    }
    if (!exited) {
        g_print("  WARNING: proxy (%s) did not exit within 3 s of SIGTERM; killed\n", label);
        bench_summary_add_anomaly(s);
    } else if (!WIFEXITED(p->status) || WEXITSTATUS(p->status) != 0) {
        g_print("  WARNING: proxy (%s) ended badly on SIGTERM: %s %d\n", label,
                WIFSIGNALED(p->status) ? "signal" : "exit status",
                WIFSIGNALED(p->status) ? WTERMSIG(p->status) : WEXITSTATUS(p->status));
        bench_summary_add_anomaly(s);
    }
    bench_signals_remove_child(p->pid);
    test_proxy_free(p);
}
