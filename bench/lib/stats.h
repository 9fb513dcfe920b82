/* stats.h - order statistics of measured samples. */
#pragma once

#include <glib.h>

/* Sorts @v in ascending order. */
void bench_stats_sort(gint64 *v, guint n);
/* The nearest-rank @pct percentile of sorted @v (@n > 0). */
gint64 bench_stats_percentile(const gint64 *sorted, guint n, guint pct);
/* The median of @v (@n > 0), which it sorts. */
double bench_stats_median(double *v, guint n);
