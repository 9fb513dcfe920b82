/* summary.h - the figures a run measured, each with its target and
 * verdict, the peak RSS of every proxy, and the odd things seen. */
#pragma once

#include <glib.h>

typedef struct BenchSummary BenchSummary;

/* An empty summary. */
BenchSummary *bench_summary_new(void);
/* Frees @s (may be NULL). */
void bench_summary_free(BenchSummary *s);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(BenchSummary, bench_summary_free)

/* Adds a figure that should not exceed @target; for information only
 * when @target < 0. */
void bench_summary_add(BenchSummary *s, const char *figure, double value, int decimals,
                       const char *unit, double target);
/* Adds a figure that should reach @minimum. */
void bench_summary_add_min(BenchSummary *s, const char *figure, double value, int decimals,
                           const char *unit, double minimum);
/* Records that @figure could not be measured, and why. */
void bench_summary_error(BenchSummary *s, const char *figure, const char *why);
/* TRUE once any figure could not be measured. */
gboolean bench_summary_has_errors(BenchSummary *s);
/* Records the peak RSS of the proxy run as @label. */
void bench_summary_add_peak(BenchSummary *s, const char *label, guint64 hwm_kb);
/* Counts one odd thing seen in a proxy's behaviour or log. */
void bench_summary_add_anomaly(BenchSummary *s);
/* How many odd things were seen. */
guint bench_summary_anomalies(BenchSummary *s);
/* Prints the peak RSS table (adding its largest as a figure), then every
 * figure. */
void bench_summary_print(BenchSummary *s);
