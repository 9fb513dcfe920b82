/* pump.h - pipelined query-status load over many connections, from one
 * thread with poll(). */
#pragma once

#include <glib.h>

typedef struct {
    guint64 completed; /* answers, errors included */
    guint64 errors;
    guint64 events;
    gint64 elapsed_us;
    char *first_error;
} BenchPumpResult;

/* Keeps @depth commands outstanding on every BenchConn of @conns until
 * @duration_us passed (when > 0) or @total were sent (when > 0), then
 * waits for every answer. */
gboolean bench_pump_run(GPtrArray *conns, guint depth, gint64 duration_us, guint64 total,
                        BenchPumpResult *res, GError **error);
/* Frees what @r holds. */
void bench_pump_result_clear(BenchPumpResult *r);
