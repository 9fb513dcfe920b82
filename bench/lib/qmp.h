/* qmp.h - the QMP commands the benchmarks send. */
#pragma once

#define BENCH_QMP_QUERY_STATUS "{\"execute\":\"query-status\"}"
#define BENCH_QMP_CAPS_PLAIN "{\"execute\": \"qmp_capabilities\"}"
/* What qmproxy asks of QEMU when QEMU offers OOB: a direct client does
 * the same, so that QEMU runs every monitor in the same mode and only the
 * proxy differs between the paths compared. */
#define BENCH_QMP_CAPS_OOB                                                                         \
    "{\"execute\": \"qmp_capabilities\", \"arguments\": {\"enable\": [\"oob\"]}}"
