/* measure.h - bench-proxy's measurements: the options and state of the
 * run they share, and one entry point each. */
#pragma once

#include "lib/summary.h"

#include <glib.h>

typedef struct {
    gint depth;
    double duration;
    gint cpu_commands;
    gint cpu_clients;
    gint mem_clients;
    gboolean quick;
    gboolean latency, throughput, cpu, memory, trace, kata;
} MeasureConfig;

typedef struct {
    MeasureConfig cfg;
    char *dir;             /* the run's temporary directory */
    gboolean failed;       /* some figure came with errors */
    BenchSummary *summary; /* what the run prints at its end */
} Measure;

/* Throughput of QEMU's monitor @direct_monitor against a proxy in front
 * of its @proxy_monitor. */
void measure_qemu(Measure *m, const char *direct_monitor, const char *proxy_monitor);
/* query-status in the bytes of four real clients, straight to
 * @direct_monitor, through a proxy in front of @proxy_monitor and through
 * socat in front of @socat_monitor; the CPU of the proxy and of socat. */
void measure_shapes(Measure *m, const char *direct_monitor, const char *proxy_monitor,
                    const char *socat_monitor);
/* Kata's hot-plug steps (govmm's bytes) straight to @direct_monitor and
 * through a proxy in front of @proxy_monitor; QEMU has scsi0. */
void measure_kata(Measure *m, const char *direct_monitor, const char *proxy_monitor);
/* The proxy's CPU per forwarded message, against a fake upstream. */
void measure_cpu(Measure *m);
/* A fresh proxy's RSS idle and per client, in front of @qemu_monitor or
 * (NULL) a fake upstream. */
void measure_memory(Measure *m, const char *qemu_monitor);
/* Throughput with --trace against without, through @qemu_monitor (when
 * not NULL) and a fake upstream. */
void measure_trace(Measure *m, const char *qemu_monitor);
