/* fake-upstream.h - a QEMU that answers every command at once, so that
 * only the proxy's own work shows. */
#pragma once

#include <glib.h>

typedef struct BenchFakeUpstream BenchFakeUpstream;

/* Serves QMP on @path from a thread of its own. */
BenchFakeUpstream *bench_fake_upstream_start(const char *path);
/* Stops serving and frees @f (may be NULL). */
void bench_fake_upstream_stop(BenchFakeUpstream *f);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(BenchFakeUpstream, bench_fake_upstream_stop)
