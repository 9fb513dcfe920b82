/* stats.c - order statistics of measured samples (stats.h). */
#include "stats.h"

#include <stdlib.h>

static int cmp_gint64(const void *a, const void *b)
{
    gint64 x = *(const gint64 *)a, y = *(const gint64 *)b;

    return x < y ? -1 : x > y;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}

void bench_stats_sort(gint64 *v, guint n)
{
    qsort(v, n, sizeof(*v), cmp_gint64);
}

gint64 bench_stats_percentile(const gint64 *sorted, guint n, guint pct)
{
    guint64 rank = ((guint64)n * pct + 99) / 100;

    return sorted[CLAMP(rank, 1u, n) - 1];
}

double bench_stats_median(double *v, guint n)
{
    qsort(v, n, sizeof(*v), cmp_double);
    return v[n / 2];
}
