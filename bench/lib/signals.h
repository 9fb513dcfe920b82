/* signals.h - never leave QEMU or a proxy behind: the children a
 * benchmark started die with it, and ^C stops it between steps. */
#pragma once

#include <glib.h>

/* Catches ^C, SIGTERM and the fatal signals; ignores SIGPIPE. */
void bench_signals_install(void);
/* Has @pid killed should the benchmark die of a signal. */
void bench_signals_add_child(GPid pid);
/* Forgets @pid before it is reaped, lest a reused pid be killed. */
void bench_signals_remove_child(GPid pid);
/* TRUE once ^C (or SIGTERM) came. */
gboolean bench_signals_stop_requested(void);
/* Sleeps @ms, less if ^C comes; FALSE if it did. */
gboolean bench_signals_sleep_ms(guint ms);
