/* error.h - the benchmarks' error domain. */
#pragma once

#include <glib.h>

#define BENCH_ERROR bench_error_quark()

/* The domain of every GError the benchmarks set. */
GQuark bench_error_quark(void);
/* Sets @error to say that ^C cut the step short. */
void bench_error_interrupted(GError **error);
