/* bench-proxy.c - what qmproxy costs compared with talking to QEMU
 * directly and through socat: round-trip latency in the bytes real
 * clients write, Kata's hot-plug steps and throughput against a real
 * QEMU, the proxy's own CPU per forwarded message against a fake upstream
 * that answers at once, and its memory when idle and per client.
 *
 * Run on demand, not as a meson test: ./build/bench/bench-proxy [--quick].
 * Every figure is measured on this machine in this run; those with a
 * target end in PASS or MISS, and nothing is tuned to make them pass.
 *
 * This file is the driver: options, the QEMU the measurements share, the
 * order they run in and the summary; each measurement is a measure-*.c. */
#include "measure.h"

#include "harness.h"
#include "lib/proc.h"
#include "lib/signals.h"

#include <string.h>
#include <unistd.h>

#define QEMU_BIN "qemu-system-x86_64"

/* The harness has one of its own, which ^C does not cut short. */
static gboolean wait_for_file(const char *path, guint timeout_ms)
{
    for (guint waited = 0; waited < timeout_ms && !bench_signals_stop_requested(); waited += 10) {
        if (g_file_test(path, G_FILE_TEST_EXISTS)) {
            return TRUE;
        }
        g_usleep(10000);
    }
    return FALSE;
}

static gboolean parse_options(MeasureConfig *cfg, int *argc, char ***argv, GError **error)
{
    g_autofree char *only = NULL;
    GOptionEntry entries[] = {
        { "duration", 'd', 0, G_OPTION_ARG_DOUBLE, &cfg->duration,
          "Seconds per throughput run (default 3)", "SECONDS" },
        { "depth", 0, 0, G_OPTION_ARG_INT, &cfg->depth,
          "Commands each client keeps outstanding (default 8)", "N" },
        { "cpu-commands", 0, 0, G_OPTION_ARG_INT, &cfg->cpu_commands,
          "Commands driven through the proxy for the CPU figure (default 200000)", "N" },
        { "cpu-clients", 0, 0, G_OPTION_ARG_INT, &cfg->cpu_clients,
          "Clients driving them (default 8)", "N" },
        { "clients", 0, 0, G_OPTION_ARG_INT, &cfg->mem_clients,
          "Idle clients for the memory figure (default 100)", "N" },
        { "quick", 'q', 0, G_OPTION_ARG_NONE, &cfg->quick,
          "Small counts: a smoke run of a few seconds", NULL },
        { "only", 0, 0, G_OPTION_ARG_STRING, &only,
          "Run only these parts (comma-separated): latency, kata, throughput, cpu, memory, "
          "trace",
          "LIST" },
        { NULL },
    };
    g_autoptr(GOptionContext) ctx = g_option_context_new("- measure what qmproxy costs");

    g_option_context_add_main_entries(ctx, entries, NULL);
    g_option_context_set_description(
        ctx, "Starts its own QEMU (" QEMU_BIN ", TCG) and qmproxy processes in a temporary\n"
             "directory; the proxy binary is $QMPROXY_BIN or the one built with this program.\n"
             "Exits 77 when QEMU is not installed (the fake-upstream parts still run).\n");
    if (!g_option_context_parse(ctx, argc, argv, error)) {
        return FALSE;
    }
    if (*argc > 1) {
        g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_FAILED, "unexpected argument '%s'",
                    (*argv)[1]);
        return FALSE;
    }
    /* -1: not given; --quick changes only the defaults */
    if (cfg->duration < 0) {
        cfg->duration = cfg->quick ? 0.3 : 3.0;
    }
    if (cfg->cpu_commands < 0) {
        cfg->cpu_commands = cfg->quick ? 20000 : 200000;
    }
    if (cfg->duration <= 0 || cfg->duration > 60 || cfg->depth < 1 || cfg->depth > 64 ||
        cfg->cpu_commands < 1 || cfg->cpu_clients < 1 || cfg->cpu_clients > 200 ||
        cfg->mem_clients < 1 || cfg->mem_clients > 200) {
        g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                    "a count is out of range (depth 1-64, clients 1-200, duration up to 60 s)");
        return FALSE;
    }
    if (!only) {
        cfg->latency = cfg->kata = cfg->throughput = cfg->cpu = cfg->memory = cfg->trace = TRUE;
        return TRUE;
    }
    g_auto(GStrv) parts = g_strsplit(only, ",", -1);
    for (guint i = 0; parts[i]; i++) {
        const char *part = g_strstrip(parts[i]);

        if (strcmp(part, "latency") == 0) {
            cfg->latency = TRUE;
        } else if (strcmp(part, "kata") == 0) {
            cfg->kata = TRUE;
        } else if (strcmp(part, "throughput") == 0) {
            cfg->throughput = TRUE;
        } else if (strcmp(part, "cpu") == 0) {
            cfg->cpu = TRUE;
        } else if (strcmp(part, "memory") == 0) {
            cfg->memory = TRUE;
        } else if (strcmp(part, "trace") == 0) {
            cfg->trace = TRUE;
        } else {
            g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                        "--only: unknown part '%s' (latency, kata, throughput, cpu, memory, "
                        "trace)",
                        part);
            return FALSE;
        }
    }
    return TRUE;
}

int main(int argc, char **argv)
{
    Measure run = { 0 };
    Measure *m = &run;
    g_autoptr(GError) error = NULL;
    g_autoptr(TestQemu) q = NULL;
    g_autoptr(BenchSummary) summary = NULL;
    g_autofree char *qemu = NULL;
    g_autofree char *mon_b = NULL;
    g_autofree char *mon_c = NULL;
    g_autofree char *mon_d = NULL;
    gint64 started = g_get_monotonic_time();

    m->cfg = (MeasureConfig){
        .depth = 8, .duration = -1, .cpu_commands = -1, .cpu_clients = 8, .mem_clients = 100
    };
    if (!parse_options(&m->cfg, &argc, &argv, &error)) {
        g_printerr("bench-proxy: %s (see --help)\n", error->message);
        return 2;
    }
    /* the harness starts $QMPROXY_BIN: default to the one built with us */
    g_setenv("QMPROXY_BIN", QMPROXY_BIN, FALSE);
    if (!g_file_test(test_qmproxy_bin(), G_FILE_TEST_IS_EXECUTABLE)) {
        g_printerr("bench-proxy: %s is not an executable; build qmproxy first\n",
                   test_qmproxy_bin());
        return 1;
    }
    bench_signals_install();
    m->summary = summary = bench_summary_new();
    m->dir = g_dir_make_tmp("qmproxy-bench-XXXXXX", &error);
    g_assert_no_error(error);

    qemu = g_find_program_in_path(QEMU_BIN);
    gboolean have_qemu = qemu != NULL;
    g_print("qmproxy benchmark (%s run)\n", m->cfg.quick ? "quick" : "full");
    g_print("  proxy: %s\n  qemu:  %s\n", test_qmproxy_bin(),
            qemu ? qemu : "not installed: latency and throughput are skipped");
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    double load = bench_proc_load_average();
    g_print("  %ld CPU(s) online, load average %.2f; QEMU runs TCG, paused (-S)\n", cpus, load);
    if (load > cpus * 0.5) {
        g_print("  WARNING: other processes keep the CPUs busy; every figure below will be "
                "noisy\n");
    }

    gboolean need_qemu =
        m->cfg.latency || m->cfg.kata || m->cfg.throughput || m->cfg.memory || m->cfg.trace;
    if (have_qemu && need_qemu) {
        /* four monitors: A for the direct client, B behind the proxy, C
         * behind a fresh proxy for memory, D behind socat; a SCSI
         * controller for Kata's steps */
        mon_b = g_build_filename(m->dir, "qmp-b.sock", NULL);
        mon_c = g_build_filename(m->dir, "qmp-c.sock", NULL);
        mon_d = g_build_filename(m->dir, "qmp-d.sock", NULL);
        g_autofree char *arg_b = g_strdup_printf("unix:%s,server=on,wait=off", mon_b);
        g_autofree char *arg_c = g_strdup_printf("unix:%s,server=on,wait=off", mon_c);
        g_autofree char *arg_d = g_strdup_printf("unix:%s,server=on,wait=off", mon_d);
        const char *const extra[] = { "-qmp", arg_b, "-qmp",    arg_c,
                                      "-qmp", arg_d, "-device", "virtio-scsi-pci,id=scsi0",
                                      NULL };

        q = test_qemu_start(extra);
        bench_signals_add_child(q->pid);
        if (!wait_for_file(mon_b, 20000) || !wait_for_file(mon_c, 20000) ||
            !wait_for_file(mon_d, 20000)) {
            g_printerr("bench-proxy: QEMU did not create its other QMP sockets\n");
            m->failed = TRUE;
            g_clear_pointer(&q, test_qemu_free);
        }
    }

    if (m->cfg.memory && !bench_signals_stop_requested() && (q || !have_qemu)) {
        measure_memory(m, q ? mon_c : NULL);
    }
    if (m->cfg.latency && !bench_signals_stop_requested() && q) {
        measure_shapes(m, q->qmp, mon_b, mon_d);
    }
    if (m->cfg.kata && !bench_signals_stop_requested() && q) {
        measure_kata(m, q->qmp, mon_b);
    }
    if (m->cfg.throughput && !bench_signals_stop_requested() && q) {
        measure_qemu(m, q->qmp, mon_b);
    }
    if (m->cfg.cpu && !bench_signals_stop_requested()) {
        measure_cpu(m);
    }
    if (m->cfg.trace && !bench_signals_stop_requested()) {
        measure_trace(m, q ? mon_c : NULL);
    }

    if (q) {
        bench_signals_remove_child(q->pid);
        g_clear_pointer(&q, test_qemu_free);
    }
    bench_summary_print(summary);
    if (!have_qemu && (m->cfg.latency || m->cfg.kata || m->cfg.throughput)) {
        g_print("SKIP latency, Kata's steps and throughput: " QEMU_BIN " is not in PATH "
                "(apt-get install qemu-system-x86)\n");
    }
    if (bench_summary_anomalies(summary)) {
        g_print("%u odd thing(s) seen in the proxy's behaviour or log; see WARNING and | lines "
                "above\n",
                bench_summary_anomalies(summary));
    }
    if (bench_signals_stop_requested()) {
        g_print("interrupted\n");
    }
    g_print("finished in %.1f s\n", (g_get_monotonic_time() - started) / 1e6);

    test_rm_rf(m->dir);
    g_free(m->dir);
    if (bench_signals_stop_requested() || m->failed || bench_summary_has_errors(summary)) {
        return 1;
    }
    return !have_qemu && (m->cfg.latency || m->cfg.kata || m->cfg.throughput) ? 77 : 0;
}
