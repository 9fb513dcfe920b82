/* error.c - the benchmarks' error domain (error.h). */
#include "error.h"

/* GIO's error domain would drag in GIO for one quark */
GQuark bench_error_quark(void)
{
    return g_quark_from_static_string("bench-error");
}

void bench_error_interrupted(GError **error)
{
    g_set_error(error, BENCH_ERROR, 0, "interrupted");
}
