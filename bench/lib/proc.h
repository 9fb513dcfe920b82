/* proc.h - what /proc says of a process and of the machine. */
#pragma once

#include <glib.h>

typedef struct {
    guint64 rss_kb, hwm_kb, anon_kb, file_kb;
} BenchProcMem;

/* @pid's VmRSS, VmHWM, RssAnon and RssFile; FALSE if it is gone. */
gboolean bench_proc_mem(GPid pid, BenchProcMem *m);
/* utime and stime of the whole process, in clock ticks. */
gboolean bench_proc_cpu_split(GPid pid, guint64 *utime, guint64 *stime);
/* utime plus stime, in clock ticks. */
gboolean bench_proc_cpu_ticks(GPid pid, guint64 *ticks);
/* The CPU time of @pid and its live descendants (socat's child per
 * connection), in nanoseconds. */
guint64 bench_proc_cpu_ns_with_children(GPid pid);
/* How many sockets @pid holds open. */
guint bench_proc_count_sockets(GPid pid);
/* The one-minute load average; 0 if unknown. */
double bench_proc_load_average(void);
