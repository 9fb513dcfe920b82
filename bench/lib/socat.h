/* socat.h - the dumbest relay, for comparison: socat between a unix
 * socket it listens on and QEMU's monitor. */
#pragma once

#include <glib.h>

typedef struct BenchSocat BenchSocat;

/* socat listening on @dir/socat.sock, forking a relay to @upstream per
 * connection; NULL with @error when socat is not installed or fails. */
BenchSocat *bench_socat_start(const char *dir, const char *upstream, GError **error);
/* Where clients connect. */
const char *bench_socat_path(BenchSocat *s);
/* The listening socat's pid (its relays are its children). */
GPid bench_socat_pid(BenchSocat *s);
/* Stops socat and its relays; frees @s (may be NULL). */
void bench_socat_stop(BenchSocat *s);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(BenchSocat, bench_socat_stop)
