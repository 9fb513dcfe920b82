/* proxy.h - the proxy under test: started ready to serve, checked for
 * leftovers once its clients left, stopped the way an admin would. */
#pragma once

#include "harness.h"
#include "summary.h"

/* Starts qmproxy in front of @upstream with @opts (NULL-terminated, may
 * be NULL), in @dir/@label, and waits until it serves clients. */
TestProxy *bench_proxy_start(const char *dir, const char *label, const char *upstream,
                             const char *const *opts, GError **error);
/* How many times @what stands in @p's log so far. */
guint bench_proxy_count_in_log(TestProxy *p, const char *what);
/* Checks that @p is idle, records its peak RSS in @s, stops it with
 * SIGTERM and shows its log beyond the routine; frees @p (may be NULL). */
void bench_proxy_stop(BenchSummary *s, const char *label, TestProxy *p);
