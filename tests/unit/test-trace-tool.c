/* test-trace-tool.c - "qmproxy trace" run as a user runs it, on a small
 * synthetic trace whose figures are known (the same text as
 * tests/data/traces/known.jsonl): the summary's counts, percentiles,
 * device times and client totals, the Chrome trace, cut and garbled
 * lines, exit statuses, the timeline's layout, and --follow picking up
 * appended lines and a rotated file; and, on a second trace, the commands
 * the proxy's device manager made itself (by_proxy). */
#include "harness.h"

#include <errno.h>
#include <fcntl.h>
#include <json-glib/json-glib.h>
#include <locale.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* Two clients: 1 "runtime" (pid 10, uid 0) and 2 "watcher" (pid 20, uid
 * 1000); mono_us starts at 1000000.
 * - query-status x4, latencies 100, 300, 200, 1000 us (the first also as
 *   proxy>qemu / qemu>proxy with 80 us, which must not count twice);
 * - device_add vda (virtio-blk-pci) 2500 us, sd0 (scsi-hd) fails after
 *   1500 us, net0 (e1000, client 2) 3000 us;
 * - device_del vda at +40000 and its DEVICE_DELETED at +75000 (35 ms), after
 *   one without "device" for the virtio-backend path at +50000; device_del
 *   net0 at +80000 with no DEVICE_DELETED;
 * - no-such-command fails (CommandNotFound, 120 us); invalid input from
 *   client 2 (id 12, no command name) answered 50 us later; query-block
 *   never answered;
 * - events RESUME, DEVICE_DELETED x2 to both clients, SHUTDOWN to client 1
 *   only (the last record, +120000). */
static const char known_trace[] =
    "{\"v\":1,\"kind\":\"header\",\"time\":\"2026-11-25T02:40:00.000000Z\",\"mono_us\":1000000,"
    "\"qmproxy\":\"0.1.0\",\"upstream\":\"/run/vm/qmp.sock\",\"filter\":\"all\"}\n"
    "{\"v\":1,\"time\":\"2026-11-25T02:40:00.000010Z\",\"mono_us\":1000010,\"dir\":\"qemu>proxy\","
    "\"kind\":\"greeting\",\"msg\":{\"QMP\":{\"version\":{\"qemu\":{\"micro\":0,\"minor\":2,"
    "\"major\":7},\"package\":\"\"},\"capabilities\":[\"oob\"]}}}\n"
    "{\"v\":1,\"time\":\"2026-11-25T02:40:00.000100Z\",\"mono_us\":1000100,\"dir\":\"proxy>"
    "client\",\"client\":1,\"pid\":10,\"uid\":0,\"exe\":\"runtime\",\"kind\":\"greeting\",\"msg\":{"
    "\"QMP\":{\"version\":{\"qemu\":{\"micro\":0,\"minor\":2,\"major\":7},\"package\":\"\"},"
    "\"capabilities\":[\"oob\"]}}}\n"
    "{\"v\":1,\"time\":\"2026-11-25T02:40:00.000200Z\",\"mono_us\":1000200,\"dir\":\"proxy>"
    "client\",\"client\":2,\"pid\":20,\"uid\":1000,\"exe\":\"watcher\",\"kind\":\"greeting\","
    "\"msg\":{\"QMP\":{\"version\":{\"qemu\":{\"micro\":0,\"minor\":2,\"major\":7},\"package\":"
    "\"\"},\"capabilities\":[\"oob\"]}}}\n"
    "{\"v\":1,\"time\":\"2026-11-25T02:40:00.001000Z\",\"mono_us\":1001000,\"dir\":\"client>"
    "proxy\",\"client\":1,\"pid\":10,\"uid\":0,\"exe\":\"runtime\",\"kind\":\"command\",\"name\":"
    "\"query-status\",\"id\":\"a1\",\"msg\":{\"execute\":\"query-status\",\"id\":\"a1\"}}\n"
    "{\"v\":1,\"time\":\"2026-11-25T02:40:00.001010Z\",\"mono_us\":1001010,\"dir\":\"proxy>qemu\","
    "\"client\":1,\"pid\":10,\"uid\":0,\"exe\":\"runtime\",\"kind\":\"command\",\"name\":\"query-"
    "status\",\"id\":\"a1\",\"upstream_id\":1,\"msg\":{\"execute\":\"query-status\",\"id\":1}}\n"
    "{\"v\":1,\"time\":\"2026-11-25T02:40:00.001080Z\",\"mono_us\":1001080,\"dir\":\"qemu>proxy\","
    "\"client\":1,\"pid\":10,\"uid\":0,\"exe\":\"runtime\",\"kind\":\"reply\",\"name\":\"query-"
    "status\",\"id\":\"a1\",\"upstream_id\":1,\"latency_us\":80,\"msg\":{\"return\":{},\"id\":1}}\n"
    "{\"v\":1,\"time\":\"2026-11-25T02:40:00.001100Z\",\"mono_us\":1001100,\"dir\":\"proxy>"
    "client\",\"client\":1,\"pid\":10,\"uid\":0,\"exe\":\"runtime\",\"kind\":\"reply\",\"name\":"
    "\"query-status\",\"id\":\"a1\",\"latency_us\":100,\"msg\":{\"return\":{},\"id\":\"a1\"}}\n"
    "{\"v\":1,\"time\":\"2026-11-25T02:40:00.002000Z\",\"mono_us\":1002000,\"dir\":\"client>"
    "proxy\",\"client\":1,\"pid\":10,\"uid\":0,\"exe\":\"runtime\",\"kind\":\"command\",\"name\":"
    "\"query-status\",\"id\":\"a2\",\"msg\":{\"execute\":\"query-status\",\"id\":\"a2\"}}\n"
    "{\"v\":1,\"time\":\"2026-11-25T02:40:00.002300Z\",\"mono_us\":1002300,\"dir\":\"proxy>"
    "client\",\"client\":1,\"pid\":10,\"uid\":0,\"exe\":\"runtime\",\"kind\":\"reply\",\"name\":"
    "\"query-status\",\"id\":\"a2\",\"latency_us\":300,\"msg\":{\"return\":{},\"id\":\"a2\"}}\n"
    "{\"v\":1,\"time\":\"2026-11-25T02:40:00.003000Z\",\"mono_us\":1003000,\"dir\":\"client>"
    "proxy\",\"client\":2,\"pid\":20,\"uid\":1000,\"exe\":\"watcher\",\"kind\":\"command\","
    "\"name\":\"query-status\",\"id\":7,\"msg\":{\"execute\":\"query-status\",\"id\":7}}\n"
    "{\"v\":1,\"time\":\"2026-11-25T02:40:00.003200Z\",\"mono_us\":1003200,\"dir\":\"proxy>"
    "client\",\"client\":2,\"pid\":20,\"uid\":1000,\"exe\":\"watcher\",\"kind\":\"reply\",\"name\":"
    "\"query-status\",\"id\":7,\"latency_us\":200,\"msg\":{\"return\":{},\"id\":7}}\n"
    "{\"v\":1,\"time\":\"2026-11-25T02:40:00.004000Z\",\"mono_us\":1004000,\"dir\":\"client>"
    "proxy\",\"client\":2,\"pid\":20,\"uid\":1000,\"exe\":\"watcher\",\"kind\":\"command\","
    "\"name\":\"query-status\",\"id\":8,\"msg\":{\"execute\":\"query-status\",\"id\":8}}\n"
    "{\"v\":1,\"time\":\"2026-11-25T02:40:00.005000Z\",\"mono_us\":1005000,\"dir\":\"proxy>"
    "client\",\"client\":2,\"pid\":20,\"uid\":1000,\"exe\":\"watcher\",\"kind\":\"reply\",\"name\":"
    "\"query-status\",\"id\":8,\"latency_us\":1000,\"msg\":{\"return\":{},\"id\":8}}\n"
    "{\"v\":1,\"time\":\"2026-11-25T02:40:00.005000Z\",\"mono_us\":1005000,\"dir\":\"qemu>proxy\","
    "\"kind\":\"event\",\"name\":\"RESUME\",\"msg\":{\"timestamp\":{\"seconds\":1795573840,"
    "\"microseconds\":5000},\"event\":\"RESUME\"}}\n"
    "{\"v\":1,\"time\":\"2026-11-25T02:40:00.005010Z\",\"mono_us\":1005010,\"dir\":\"proxy>"
    "client\",\"client\":1,\"pid\":10,\"uid\":0,\"exe\":\"runtime\",\"kind\":\"event\",\"name\":"
    "\"RESUME\",\"msg\":{\"timestamp\":{\"seconds\":1795573840,\"microseconds\":5000},\"event\":"
    "\"RESUME\"}}\n"
    "{\"v\":1,\"time\":\"2026-11-25T02:40:00.005020Z\",\"mono_us\":1005020,\"dir\":\"proxy>"
    "client\",\"client\":2,\"pid\":20,\"uid\":1000,\"exe\":\"watcher\",\"kind\":\"event\",\"name\":"
    "\"RESUME\",\"msg\":{\"timestamp\":{\"seconds\":1795573840,\"microseconds\":5000},\"event\":"
    "\"RESUME\"}}\n"
    "{\"v\":1,\"time\":\"2026-11-25T02:40:00.010000Z\",\"mono_us\":1010000,\"dir\":\"client>"
    "proxy\",\"client\":1,\"pid\":10,\"uid\":0,\"exe\":\"runtime\",\"kind\":\"command\",\"name\":"
    "\"device_add\",\"id\":\"rt-3\",\"msg\":{\"execute\":\"device_add\",\"arguments\":{\"driver\":"
    "\"virtio-blk-pci\",\"drive\":\"disk0\",\"id\":\"vda\"},\"id\":\"rt-3\"}}\n"
    "{\"v\":1,\"time\":\"2026-11-25T02:40:00.010010Z\",\"mono_us\":1010010,\"dir\":\"proxy>qemu\","
    "\"client\":1,\"pid\":10,\"uid\":0,\"exe\":\"runtime\",\"kind\":\"command\",\"name\":\"device_"
    "add\",\"id\":\"rt-3\",\"upstream_id\":2,\"msg\":{\"execute\":\"device_add\",\"arguments\":{"
    "\"driver\":\"virtio-blk-pci\",\"drive\":\"disk0\",\"id\":\"vda\"},\"id\":2}}\n"
    "{\"v\":1,\"time\":\"2026-11-25T02:40:00.012480Z\",\"mono_us\":1012480,\"dir\":\"qemu>proxy\","
    "\"client\":1,\"pid\":10,\"uid\":0,\"exe\":\"runtime\",\"kind\":\"reply\",\"name\":\"device_"
    "add\",\"id\":\"rt-3\",\"upstream_id\":2,\"latency_us\":2480,\"msg\":{\"return\":{},\"id\":2}}"
    "\n"
    "{\"v\":1,\"time\":\"2026-11-25T02:40:00.012500Z\",\"mono_us\":1012500,\"dir\":\"proxy>"
    "client\",\"client\":1,\"pid\":10,\"uid\":0,\"exe\":\"runtime\",\"kind\":\"reply\",\"name\":"
    "\"device_add\",\"id\":\"rt-3\",\"latency_us\":2500,\"msg\":{\"return\":{},\"id\":\"rt-3\"}}\n"
    "{\"v\":1,\"time\":\"2026-11-25T02:40:00.020000Z\",\"mono_us\":1020000,\"dir\":\"client>"
    "proxy\",\"client\":1,\"pid\":10,\"uid\":0,\"exe\":\"runtime\",\"kind\":\"command\",\"name\":"
    "\"device_add\",\"id\":\"rt-4\",\"msg\":{\"execute\":\"device_add\",\"arguments\":{\"driver\":"
    "\"scsi-hd\",\"drive\":\"disk1\",\"id\":\"sd0\"},\"id\":\"rt-4\"}}\n"
    "{\"v\":1,\"time\":\"2026-11-25T02:40:00.020010Z\",\"mono_us\":1020010,\"dir\":\"proxy>qemu\","
    "\"client\":1,\"pid\":10,\"uid\":0,\"exe\":\"runtime\",\"kind\":\"command\",\"name\":\"device_"
    "add\",\"id\":\"rt-4\",\"upstream_id\":3,\"msg\":{\"execute\":\"device_add\",\"arguments\":{"
    "\"driver\":\"scsi-hd\",\"drive\":\"disk1\",\"id\":\"sd0\"},\"id\":3}}\n"
    "{\"v\":1,\"time\":\"2026-11-25T02:40:00.021480Z\",\"mono_us\":1021480,\"dir\":\"qemu>proxy\","
    "\"client\":1,\"pid\":10,\"uid\":0,\"exe\":\"runtime\",\"kind\":\"error\",\"name\":\"device_"
    "add\",\"id\":\"rt-4\",\"upstream_id\":3,\"latency_us\":1480,\"msg\":{\"id\":3,\"error\":{"
    "\"class\":\"GenericError\",\"desc\":\"Bus 'scsi.0' not found\"}},\"error\":\"Bus 'scsi.0' not "
    "found\",\"class\":\"GenericError\"}\n"
    "{\"v\":1,\"time\":\"2026-11-25T02:40:00.021500Z\",\"mono_us\":1021500,\"dir\":\"proxy>"
    "client\",\"client\":1,\"pid\":10,\"uid\":0,\"exe\":\"runtime\",\"kind\":\"error\",\"name\":"
    "\"device_add\",\"id\":\"rt-4\",\"latency_us\":1500,\"msg\":{\"id\":\"rt-4\",\"error\":{"
    "\"class\":\"GenericError\",\"desc\":\"Bus 'scsi.0' not found\"}},\"error\":\"Bus 'scsi.0' not "
    "found\",\"class\":\"GenericError\"}\n"
    "{\"v\":1,\"time\":\"2026-11-25T02:40:00.030000Z\",\"mono_us\":1030000,\"dir\":\"client>"
    "proxy\",\"client\":2,\"pid\":20,\"uid\":1000,\"exe\":\"watcher\",\"kind\":\"command\","
    "\"name\":\"device_add\",\"id\":9,\"msg\":{\"execute\":\"device_add\",\"arguments\":{"
    "\"driver\":\"e1000\",\"id\":\"net0\"},\"id\":9}}\n"
    "{\"v\":1,\"time\":\"2026-11-25T02:40:00.033000Z\",\"mono_us\":1033000,\"dir\":\"proxy>"
    "client\",\"client\":2,\"pid\":20,\"uid\":1000,\"exe\":\"watcher\",\"kind\":\"reply\",\"name\":"
    "\"device_add\",\"id\":9,\"latency_us\":3000,\"msg\":{\"return\":{},\"id\":9}}\n"
    "{\"v\":1,\"time\":\"2026-11-25T02:40:00.040000Z\",\"mono_us\":1040000,\"dir\":\"client>"
    "proxy\",\"client\":1,\"pid\":10,\"uid\":0,\"exe\":\"runtime\",\"kind\":\"command\",\"name\":"
    "\"device_del\",\"id\":\"rt-5\",\"msg\":{\"execute\":\"device_del\",\"arguments\":{\"id\":"
    "\"vda\"},\"id\":\"rt-5\"}}\n"
    "{\"v\":1,\"time\":\"2026-11-25T02:40:00.040400Z\",\"mono_us\":1040400,\"dir\":\"proxy>"
    "client\",\"client\":1,\"pid\":10,\"uid\":0,\"exe\":\"runtime\",\"kind\":\"reply\",\"name\":"
    "\"device_del\",\"id\":\"rt-5\",\"latency_us\":400,\"msg\":{\"return\":{},\"id\":\"rt-5\"}}\n"
    "{\"v\":1,\"time\":\"2026-11-25T02:40:00.050000Z\",\"mono_us\":1050000,\"dir\":\"qemu>proxy\","
    "\"kind\":\"event\",\"name\":\"DEVICE_DELETED\",\"msg\":{\"timestamp\":{\"seconds\":1795573840,"
    "\"microseconds\":50000},\"event\":\"DEVICE_DELETED\",\"data\":{\"path\":\"/machine/peripheral/"
    "vda/virtio-backend\"}}}\n"
    "{\"v\":1,\"time\":\"2026-11-25T02:40:00.050010Z\",\"mono_us\":1050010,\"dir\":\"proxy>"
    "client\",\"client\":1,\"pid\":10,\"uid\":0,\"exe\":\"runtime\",\"kind\":\"event\",\"name\":"
    "\"DEVICE_DELETED\",\"msg\":{\"timestamp\":{\"seconds\":1795573840,\"microseconds\":50000},"
    "\"event\":\"DEVICE_DELETED\",\"data\":{\"path\":\"/machine/peripheral/vda/"
    "virtio-backend\"}}}\n"
    "{\"v\":1,\"time\":\"2026-11-25T02:40:00.050020Z\",\"mono_us\":1050020,\"dir\":\"proxy>"
    "client\",\"client\":2,\"pid\":20,\"uid\":1000,\"exe\":\"watcher\",\"kind\":\"event\",\"name\":"
    "\"DEVICE_DELETED\",\"msg\":{\"timestamp\":{\"seconds\":1795573840,\"microseconds\":50000},"
    "\"event\":\"DEVICE_DELETED\",\"data\":{\"path\":\"/machine/peripheral/vda/"
    "virtio-backend\"}}}\n"
    "{\"v\":1,\"time\":\"2026-11-25T02:40:00.075000Z\",\"mono_us\":1075000,\"dir\":\"qemu>proxy\","
    "\"kind\":\"event\",\"name\":\"DEVICE_DELETED\",\"msg\":{\"timestamp\":{\"seconds\":1795573840,"
    "\"microseconds\":75000},\"event\":\"DEVICE_DELETED\",\"data\":{\"device\":\"vda\",\"path\":\"/"
    "machine/peripheral/vda\"}}}\n"
    "{\"v\":1,\"time\":\"2026-11-25T02:40:00.075010Z\",\"mono_us\":1075010,\"dir\":\"proxy>"
    "client\",\"client\":1,\"pid\":10,\"uid\":0,\"exe\":\"runtime\",\"kind\":\"event\",\"name\":"
    "\"DEVICE_DELETED\",\"msg\":{\"timestamp\":{\"seconds\":1795573840,\"microseconds\":75000},"
    "\"event\":\"DEVICE_DELETED\",\"data\":{\"device\":\"vda\",\"path\":\"/machine/peripheral/"
    "vda\"}}}\n"
    "{\"v\":1,\"time\":\"2026-11-25T02:40:00.075020Z\",\"mono_us\":1075020,\"dir\":\"proxy>"
    "client\",\"client\":2,\"pid\":20,\"uid\":1000,\"exe\":\"watcher\",\"kind\":\"event\",\"name\":"
    "\"DEVICE_DELETED\",\"msg\":{\"timestamp\":{\"seconds\":1795573840,\"microseconds\":75000},"
    "\"event\":\"DEVICE_DELETED\",\"data\":{\"device\":\"vda\",\"path\":\"/machine/peripheral/"
    "vda\"}}}\n"
    "{\"v\":1,\"time\":\"2026-11-25T02:40:00.080000Z\",\"mono_us\":1080000,\"dir\":\"client>"
    "proxy\",\"client\":2,\"pid\":20,\"uid\":1000,\"exe\":\"watcher\",\"kind\":\"command\","
    "\"name\":\"device_del\",\"id\":10,\"msg\":{\"execute\":\"device_del\",\"arguments\":{\"id\":"
    "\"net0\"},\"id\":10}}\n"
    "{\"v\":1,\"time\":\"2026-11-25T02:40:00.080250Z\",\"mono_us\":1080250,\"dir\":\"proxy>"
    "client\",\"client\":2,\"pid\":20,\"uid\":1000,\"exe\":\"watcher\",\"kind\":\"reply\",\"name\":"
    "\"device_del\",\"id\":10,\"latency_us\":250,\"msg\":{\"return\":{},\"id\":10}}\n"
    "{\"v\":1,\"time\":\"2026-11-25T02:40:00.090000Z\",\"mono_us\":1090000,\"dir\":\"client>"
    "proxy\",\"client\":1,\"pid\":10,\"uid\":0,\"exe\":\"runtime\",\"kind\":\"command\",\"name\":"
    "\"no-such-command\",\"id\":11,\"msg\":{\"execute\":\"no-such-command\",\"id\":11}}\n"
    "{\"v\":1,\"time\":\"2026-11-25T02:40:00.090120Z\",\"mono_us\":1090120,\"dir\":\"proxy>"
    "client\",\"client\":1,\"pid\":10,\"uid\":0,\"exe\":\"runtime\",\"kind\":\"error\",\"name\":"
    "\"no-such-command\",\"id\":11,\"latency_us\":120,\"msg\":{\"id\":11,\"error\":{\"class\":"
    "\"CommandNotFound\",\"desc\":\"The command no-such-command has not been "
    "found\"}},\"error\":\"The command no-such-command has not been "
    "found\",\"class\":\"CommandNotFound\"}\n"
    "{\"v\":1,\"time\":\"2026-11-25T02:40:00.095000Z\",\"mono_us\":1095000,\"dir\":\"client>"
    "proxy\",\"client\":2,\"pid\":20,\"uid\":1000,\"exe\":\"watcher\",\"kind\":\"invalid\",\"id\":"
    "12,\"error\":\"QMP input member 'execute' must be a string\"}\n"
    "{\"v\":1,\"time\":\"2026-11-25T02:40:00.095050Z\",\"mono_us\":1095050,\"dir\":\"proxy>"
    "client\",\"client\":2,\"pid\":20,\"uid\":1000,\"exe\":\"watcher\",\"kind\":\"error\",\"id\":"
    "12,\"msg\":{\"id\":12,\"error\":{\"class\":\"GenericError\",\"desc\":\"QMP input member "
    "'execute' must be a string\"}},\"error\":\"QMP input member 'execute' must be a "
    "string\",\"class\":\"GenericError\"}\n"
    "{\"v\":1,\"time\":\"2026-11-25T02:40:00.100000Z\",\"mono_us\":1100000,\"dir\":\"client>"
    "proxy\",\"client\":1,\"pid\":10,\"uid\":0,\"exe\":\"runtime\",\"kind\":\"command\",\"name\":"
    "\"query-block\",\"id\":\"rt-9\",\"msg\":{\"execute\":\"query-block\",\"id\":\"rt-9\"}}\n"
    "{\"v\":1,\"time\":\"2026-11-25T02:40:00.120000Z\",\"mono_us\":1120000,\"dir\":\"proxy>"
    "client\",\"client\":1,\"pid\":10,\"uid\":0,\"exe\":\"runtime\",\"kind\":\"event\",\"name\":"
    "\"SHUTDOWN\",\"msg\":{\"timestamp\":{\"seconds\":1795573840,\"microseconds\":120000},"
    "\"event\":\"SHUTDOWN\",\"data\":{\"guest\":true,\"reason\":\"guest-shutdown\"}}}\n";

#define KNOWN_LINES 43

/* The device manager at work (records marked "by_proxy"), filter hotplug,
 * client 1 "runtime" (pid 10, uid 0), mono_us from 1000000:
 * - __org.qmproxy_device-attach disk0 (1.900 ms), made into blockdev-add
 *   (300 us) and device_add scsi-hd disk0 (1.200 ms) by the proxy;
 * - the client's own device_add nic0 (e1000): 500 us to the client, 490 us
 *   from QEMU, with upstream_id 1 as the proxy's commands had;
 * - __org.qmproxy_device-detach disk0 (30.400 ms): device_del (400 us) at
 *   +20100, DEVICE_DELETED at +50100 (30 ms), blockdev-del refused (100 us);
 * - a device_add vdb (virtio-blk-pci) with no client, never answered;
 * - a blockdev-add with upstream_id 1 for client 1, never answered: the
 *   proxy restarted (a header at +70000); the new proxy's blockdev-add,
 *   with no client and upstream_id 1 again, is answered after 200 us. */
static const char by_proxy_trace[] =
    "{\"v\":1,\"kind\":\"header\",\"time\":\"2026-11-25T02:50:00.000000Z\",\"mono_us\":100000"
    "0,\"qmproxy\":\"0.1.0\",\"upstream\":\"/run/vm/qmp.sock\",\"filter\":\"hotplug\"}\n"
    "{\"v\":1,\"time\":\"2026-11-25T02:50:00.001000Z\",\"mono_us\":1001000,\"dir\":\"client>p"
    "roxy\",\"client\":1,\"pid\":10,\"uid\":0,\"exe\":\"runtime\",\"kind\":\"command\",\"name"
    "\":\"__org.qmproxy_device-attach\",\"id\":\"a1\",\"msg\":{\"execute\":\"__org.qmproxy_de"
    "vice-attach\",\"arguments\":{\"id\":\"disk0\"},\"id\":\"a1\"}}\n"
    "{\"v\":1,\"time\":\"2026-11-25T02:50:00.001100Z\",\"mono_us\":1001100,\"dir\":\"proxy>qe"
    "mu\",\"client\":1,\"pid\":10,\"uid\":0,\"exe\":\"runtime\",\"kind\":\"command\",\"name\""
    ":\"blockdev-add\",\"upstream_id\":1,\"by_proxy\":true,\"msg\":{\"execute\":\"blockdev-ad"
    "d\",\"arguments\":{\"node-name\":\"drive-disk0\",\"driver\":\"file\",\"filename\":\"/d0."
    "img\"}}}\n"
    "{\"v\":1,\"time\":\"2026-11-25T02:50:00.001400Z\",\"mono_us\":1001400,\"dir\":\"qemu>pro"
    "xy\",\"client\":1,\"pid\":10,\"uid\":0,\"exe\":\"runtime\",\"kind\":\"reply\",\"name\":"
    "\"blockdev-add\",\"upstream_id\":1,\"by_proxy\":true,\"latency_us\":300,\"msg\":{\"retur"
    "n\":{},\"id\":1}}\n"
    "{\"v\":1,\"time\":\"2026-11-25T02:50:00.001500Z\",\"mono_us\":1001500,\"dir\":\"proxy>qe"
    "mu\",\"client\":1,\"pid\":10,\"uid\":0,\"exe\":\"runtime\",\"kind\":\"command\",\"name\""
    ":\"device_add\",\"upstream_id\":1,\"by_proxy\":true,\"msg\":{\"execute\":\"device_add\","
    "\"arguments\":{\"driver\":\"scsi-hd\",\"drive\":\"drive-disk0\",\"id\":\"disk0\"}}}\n"
    "{\"v\":1,\"time\":\"2026-11-25T02:50:00.002700Z\",\"mono_us\":1002700,\"dir\":\"qemu>pro"
    "xy\",\"client\":1,\"pid\":10,\"uid\":0,\"exe\":\"runtime\",\"kind\":\"reply\",\"name\":"
    "\"device_add\",\"upstream_id\":1,\"by_proxy\":true,\"latency_us\":1200,\"msg\":{\"return"
    "\":{},\"id\":1}}\n"
    "{\"v\":1,\"time\":\"2026-11-25T02:50:00.002800Z\",\"mono_us\":1002800,\"dir\":\"proxy>cl"
    "ient\",\"client\":1,\"pid\":10,\"uid\":0,\"exe\":\"runtime\",\"kind\":\"event\",\"name\""
    ":\"__org.qmproxy_DEVICE_ATTACHED\",\"msg\":{\"event\":\"__org.qmproxy_DEVICE_ATTACHED\","
    "\"data\":{\"id\":\"disk0\"}}}\n"
    "{\"v\":1,\"time\":\"2026-11-25T02:50:00.002900Z\",\"mono_us\":1002900,\"dir\":\"proxy>cl"
    "ient\",\"client\":1,\"pid\":10,\"uid\":0,\"exe\":\"runtime\",\"kind\":\"reply\",\"name\""
    ":\"__org.qmproxy_device-attach\",\"id\":\"a1\",\"latency_us\":1900,\"msg\":{\"return\":{"
    "},\"id\":\"a1\"}}\n"
    "{\"v\":1,\"time\":\"2026-11-25T02:50:00.010000Z\",\"mono_us\":1010000,\"dir\":\"client>p"
    "roxy\",\"client\":1,\"pid\":10,\"uid\":0,\"exe\":\"runtime\",\"kind\":\"command\",\"name"
    "\":\"device_add\",\"id\":2,\"msg\":{\"execute\":\"device_add\",\"arguments\":{\"driver\""
    ":\"e1000\",\"id\":\"nic0\"},\"id\":2}}\n"
    "{\"v\":1,\"time\":\"2026-11-25T02:50:00.010010Z\",\"mono_us\":1010010,\"dir\":\"proxy>qe"
    "mu\",\"client\":1,\"pid\":10,\"uid\":0,\"exe\":\"runtime\",\"kind\":\"command\",\"name\""
    ":\"device_add\",\"id\":2,\"upstream_id\":1,\"msg\":{\"execute\":\"device_add\",\"argumen"
    "ts\":{\"driver\":\"e1000\",\"id\":\"nic0\"},\"id\":2}}\n"
    "{\"v\":1,\"time\":\"2026-11-25T02:50:00.010490Z\",\"mono_us\":1010490,\"dir\":\"qemu>pro"
    "xy\",\"client\":1,\"pid\":10,\"uid\":0,\"exe\":\"runtime\",\"kind\":\"reply\",\"name\":"
    "\"device_add\",\"id\":2,\"upstream_id\":1,\"latency_us\":490,\"msg\":{\"return\":{},\"id"
    "\":1}}\n"
    "{\"v\":1,\"time\":\"2026-11-25T02:50:00.010500Z\",\"mono_us\":1010500,\"dir\":\"proxy>cl"
    "ient\",\"client\":1,\"pid\":10,\"uid\":0,\"exe\":\"runtime\",\"kind\":\"reply\",\"name\""
    ":\"device_add\",\"id\":2,\"latency_us\":500,\"msg\":{\"return\":{},\"id\":2}}\n"
    "{\"v\":1,\"time\":\"2026-11-25T02:50:00.020000Z\",\"mono_us\":1020000,\"dir\":\"client>p"
    "roxy\",\"client\":1,\"pid\":10,\"uid\":0,\"exe\":\"runtime\",\"kind\":\"command\",\"name"
    "\":\"__org.qmproxy_device-detach\",\"id\":\"a2\",\"msg\":{\"execute\":\"__org.qmproxy_de"
    "vice-detach\",\"arguments\":{\"id\":\"disk0\"},\"id\":\"a2\"}}\n"
    "{\"v\":1,\"time\":\"2026-11-25T02:50:00.020100Z\",\"mono_us\":1020100,\"dir\":\"proxy>qe"
    "mu\",\"client\":1,\"pid\":10,\"uid\":0,\"exe\":\"runtime\",\"kind\":\"command\",\"name\""
    ":\"device_del\",\"upstream_id\":1,\"by_proxy\":true,\"msg\":{\"execute\":\"device_del\","
    "\"arguments\":{\"id\":\"disk0\"}}}\n"
    "{\"v\":1,\"time\":\"2026-11-25T02:50:00.020500Z\",\"mono_us\":1020500,\"dir\":\"qemu>pro"
    "xy\",\"client\":1,\"pid\":10,\"uid\":0,\"exe\":\"runtime\",\"kind\":\"reply\",\"name\":"
    "\"device_del\",\"upstream_id\":1,\"by_proxy\":true,\"latency_us\":400,\"msg\":{\"return"
    "\":{},\"id\":1}}\n"
    "{\"v\":1,\"time\":\"2026-11-25T02:50:00.050100Z\",\"mono_us\":1050100,\"dir\":\"qemu>pro"
    "xy\",\"kind\":\"event\",\"name\":\"DEVICE_DELETED\",\"msg\":{\"event\":\"DEVICE_DELETED"
    "\",\"data\":{\"device\":\"disk0\",\"path\":\"/machine/peripheral/disk0\"}}}\n"
    "{\"v\":1,\"time\":\"2026-11-25T02:50:00.050110Z\",\"mono_us\":1050110,\"dir\":\"proxy>cl"
    "ient\",\"client\":1,\"pid\":10,\"uid\":0,\"exe\":\"runtime\",\"kind\":\"event\",\"name\""
    ":\"DEVICE_DELETED\",\"msg\":{\"event\":\"DEVICE_DELETED\",\"data\":{\"device\":\"disk0\""
    ",\"path\":\"/machine/peripheral/disk0\"}}}\n"
    "{\"v\":1,\"time\":\"2026-11-25T02:50:00.050200Z\",\"mono_us\":1050200,\"dir\":\"proxy>qe"
    "mu\",\"client\":1,\"pid\":10,\"uid\":0,\"exe\":\"runtime\",\"kind\":\"command\",\"name\""
    ":\"blockdev-del\",\"upstream_id\":1,\"by_proxy\":true,\"msg\":{\"execute\":\"blockdev-de"
    "l\",\"arguments\":{\"node-name\":\"drive-disk0\"}}}\n"
    "{\"v\":1,\"time\":\"2026-11-25T02:50:00.050300Z\",\"mono_us\":1050300,\"dir\":\"qemu>pro"
    "xy\",\"client\":1,\"pid\":10,\"uid\":0,\"exe\":\"runtime\",\"kind\":\"error\",\"name\":"
    "\"blockdev-del\",\"upstream_id\":1,\"by_proxy\":true,\"latency_us\":100,\"msg\":{\"id\":"
    "1,\"error\":{\"class\":\"GenericError\",\"desc\":\"Node drive-disk0 is in use\"}},\"erro"
    "r\":\"Node drive-disk0 is in use\",\"class\":\"GenericError\"}\n"
    "{\"v\":1,\"time\":\"2026-11-25T02:50:00.050400Z\",\"mono_us\":1050400,\"dir\":\"proxy>cl"
    "ient\",\"client\":1,\"pid\":10,\"uid\":0,\"exe\":\"runtime\",\"kind\":\"reply\",\"name\""
    ":\"__org.qmproxy_device-detach\",\"id\":\"a2\",\"latency_us\":30400,\"msg\":{\"return\":"
    "{},\"id\":\"a2\"}}\n"
    "{\"v\":1,\"time\":\"2026-11-25T02:50:00.060000Z\",\"mono_us\":1060000,\"dir\":\"proxy>qe"
    "mu\",\"kind\":\"command\",\"name\":\"device_add\",\"upstream_id\":2,\"by_proxy\":true,\""
    "msg\":{\"execute\":\"device_add\",\"arguments\":{\"driver\":\"virtio-blk-pci\",\"id\":\""
    "vdb\"}}}\n"
    "{\"v\":1,\"time\":\"2026-11-25T02:50:00.065000Z\",\"mono_us\":1065000,\"dir\":\"proxy>qe"
    "mu\",\"client\":1,\"pid\":10,\"uid\":0,\"exe\":\"runtime\",\"kind\":\"command\",\"name\""
    ":\"blockdev-add\",\"upstream_id\":1,\"by_proxy\":true,\"msg\":{\"execute\":\"blockdev-ad"
    "d\",\"arguments\":{\"node-name\":\"drive-x\",\"driver\":\"null-co\"}}}\n"
    "{\"v\":1,\"kind\":\"header\",\"time\":\"2026-11-25T02:50:00.070000Z\",\"mono_us\":107000"
    "0,\"qmproxy\":\"0.1.0\",\"upstream\":\"/run/vm/qmp.sock\",\"filter\":\"hotplug\"}\n"
    "{\"v\":1,\"time\":\"2026-11-25T02:50:00.070100Z\",\"mono_us\":1070100,\"dir\":\"proxy>qe"
    "mu\",\"kind\":\"command\",\"name\":\"blockdev-add\",\"upstream_id\":1,\"by_proxy\":true,"
    "\"msg\":{\"execute\":\"blockdev-add\",\"arguments\":{\"node-name\":\"drive-y\",\"driver"
    "\":\"null-co\"}}}\n"
    "{\"v\":1,\"time\":\"2026-11-25T02:50:00.070300Z\",\"mono_us\":1070300,\"dir\":\"qemu>pro"
    "xy\",\"kind\":\"reply\",\"name\":\"blockdev-add\",\"upstream_id\":1,\"by_proxy\":true,\""
    "latency_us\":200,\"msg\":{\"return\":{},\"id\":1}}\n";

#define BY_PROXY_LINES 25

/* ---- running the tool ---- */

typedef struct {
    char *dir;
} Fixture;

static void fixture_setup(Fixture *f, gconstpointer data)
{
    f->dir = g_dir_make_tmp("test-trace-tool-XXXXXX", NULL);
    g_assert_nonnull(f->dir);
}

static void fixture_teardown(Fixture *f, gconstpointer data)
{
    test_rm_rf(f->dir);
    g_free(f->dir);
}

static char *write_trace(Fixture *f, const char *name, const char *text, gssize len)
{
    char *path = g_build_filename(f->dir, name, NULL);
    g_autoptr(GError) error = NULL;

    g_assert_true(g_file_set_contents(path, text, len, &error));
    g_assert_no_error(error);
    return path;
}

/* The tool's environment: the C locale (ASCII arrows, "us"), no NO_COLOR,
 * plus @extra ("NAME=VALUE", NULL-terminated, may be NULL). */
static char **tool_env(const char *const *extra)
{
    char **env = g_get_environ();

    env = g_environ_setenv(env, "LC_ALL", "C", TRUE);
    env = g_environ_unsetenv(env, "NO_COLOR");
    for (guint i = 0; extra && extra[i]; i++) {
        g_auto(GStrv) kv = g_strsplit(extra[i], "=", 2);
        env = g_environ_setenv(env, kv[0], kv[1], TRUE);
    }
    return env;
}

static GPtrArray *tool_argv(const char *const *args)
{
    GPtrArray *argv = g_ptr_array_new();

    g_ptr_array_add(argv, (char *)test_qmproxy_bin());
    g_ptr_array_add(argv, "trace");
    for (guint i = 0; args[i]; i++) {
        g_ptr_array_add(argv, (char *)args[i]);
    }
    g_ptr_array_add(argv, NULL);
    return argv;
}

/* Runs "qmproxy trace ARGS..." and returns its exit status (-1 if it did
 * not exit). */
static int run_env(const char *const *args, const char *const *env_extra, char **out, char **err)
{
    g_autoptr(GPtrArray) argv = tool_argv(args);
    g_auto(GStrv) env = tool_env(env_extra);
    g_autoptr(GError) error = NULL;
    int status;

    g_assert_true(g_spawn_sync(NULL, (char **)argv->pdata, env, G_SPAWN_DEFAULT, NULL, NULL, out,
                               err, &status, &error));
    g_assert_no_error(error);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static int run(const char *const *args, char **out, char **err)
{
    return run_env(args, NULL, out, err);
}

/* @line with runs of blanks made one space and no blanks at the ends. */
static char *squeeze(const char *line)
{
    g_auto(GStrv) words = g_strsplit_set(line, " ", -1);
    g_autoptr(GPtrArray) kept = g_ptr_array_new();

    for (guint i = 0; words[i]; i++) {
        if (*words[i]) {
            g_ptr_array_add(kept, words[i]);
        }
    }
    g_ptr_array_add(kept, NULL);
    return g_strjoinv(" ", (char **)kept->pdata);
}

/* The rows of the summary table whose title starts with @title, squeezed,
 * without the column headings. */
static GPtrArray *table_rows(const char *out, const char *title)
{
    g_auto(GStrv) lines = g_strsplit(out, "\n", -1);
    GPtrArray *rows = g_ptr_array_new_with_free_func(g_free);
    guint i = 0;

    while (lines[i] && !g_str_has_prefix(lines[i], title)) {
        i++;
    }
    g_assert_nonnull(lines[i]);
    g_assert_nonnull(lines[i + 1]); /* the headings */
    for (i += 2; lines[i] && *lines[i]; i++) {
        if (strcmp(lines[i], "  (none)") != 0) {
            g_ptr_array_add(rows, squeeze(lines[i]));
        }
    }
    return rows;
}

static void assert_rows(const char *out, const char *title, const char *const *expected)
{
    g_autoptr(GPtrArray) rows = table_rows(out, title);

    for (guint i = 0; expected[i]; i++) {
        g_assert_cmpuint(i, <, rows->len);
        g_assert_cmpstr(rows->pdata[i], ==, expected[i]);
    }
    g_assert_cmpuint(rows->len, ==, g_strv_length((char **)expected));
}

static guint count_lines(const char *text)
{
    guint n = 0;

    for (const char *p = text; (p = strchr(p, '\n')); p++) {
        n++;
    }
    return n;
}

/* @text with @insert[i] put after its line @after[i] (1-based). */
static char *with_lines(const char *text, const guint *after, const char *const *insert, guint n)
{
    g_auto(GStrv) lines = g_strsplit(text, "\n", -1);
    GString *s = g_string_new(NULL);

    for (guint i = 0; lines[i] && *lines[i]; i++) {
        g_string_append_printf(s, "%s\n", lines[i]);
        for (guint j = 0; j < n; j++) {
            if (after[j] == i + 1) {
                g_string_append_printf(s, "%s\n", insert[j]);
            }
        }
    }
    return g_string_free(s, FALSE);
}

/* Lines of @text that contain one of @needles (NULL-terminated). */
static char *only_lines(const char *text, const char *const *needles)
{
    g_auto(GStrv) lines = g_strsplit(text, "\n", -1);
    GString *s = g_string_new(NULL);

    for (guint i = 0; lines[i]; i++) {
        for (guint j = 0; needles[j]; j++) {
            if (strstr(lines[i], needles[j])) {
                g_string_append_printf(s, "%s\n", lines[i]);
                break;
            }
        }
    }
    return g_string_free(s, FALSE);
}

static const char *const known_commands[] = {
    "(invalid input) 1 1 0 50 us 50 us 50 us",
    "device_add 3 1 0 2.500 ms 3.000 ms 3.000 ms",
    "device_del 2 0 0 250 us 400 us 400 us",
    "no-such-command 1 1 0 120 us 120 us 120 us",
    "query-block 1 0 1 - - -",
    "query-status 4 0 0 200 us 1.000 ms 1.000 ms",
    NULL,
};

/* ---- --summary ---- */

static void test_summary_commands(Fixture *f, gconstpointer data)
{
    g_autofree char *path = write_trace(f, "known.jsonl", known_trace, -1);
    g_autofree char *out = NULL, *err = NULL;

    g_assert_cmpint(run((const char *[]){ "--summary", path, NULL }, &out, &err), ==, 0);
    g_assert_cmpstr(err, ==, "");
    g_assert_nonnull(strstr(out, "42 records, 1 header, filter all, 120.000 ms"));
    g_assert_nonnull(strstr(out, "Commands (latency from proxy>client replies"));
    assert_rows(out, "Commands", known_commands);
}

static void test_summary_devices(Fixture *f, gconstpointer data)
{
    g_autofree char *path = write_trace(f, "known.jsonl", known_trace, -1);
    g_autofree char *out = NULL, *err = NULL;

    g_assert_cmpint(run((const char *[]){ "--summary", path, NULL }, &out, &err), ==, 0);
    /* No row for the DEVICE_DELETED of the virtio-backend path. */
    assert_rows(out, "Devices",
                (const char *[]){
                    "vda virtio-blk-pci 1 2.500 ms 35.000 ms removed",
                    "sd0 scsi-hd 1 1.500 ms - add failed",
                    "net0 e1000 2 3.000 ms - unplug requested",
                    NULL,
                });
}

static void test_summary_clients(Fixture *f, gconstpointer data)
{
    g_autofree char *path = write_trace(f, "known.jsonl", known_trace, -1);
    g_autofree char *out = NULL, *err = NULL;

    g_assert_cmpint(run((const char *[]){ "--summary", path, NULL }, &out, &err), ==, 0);
    assert_rows(out, "Clients",
                (const char *[]){
                    "1 runtime 10 0 7 2 0 4",
                    "2 watcher 20 1000 5 1 0 3",
                    NULL,
                });
}

/* A command a socket's policy refused counts as refused, and as an
 * error, for its client. */
static void test_summary_refused(Fixture *f, gconstpointer data)
{
    static const char trace[] =
        "{\"v\":1,\"kind\":\"header\",\"time\":\"2026-11-25T02:40:00.000000Z\",\"mono_us\":"
        "1000000,\"qmproxy\":\"0.1.0\",\"upstream\":\"/run/vm/qmp.sock\",\"filter\":\"all\"}\n"
        "{\"v\":1,\"time\":\"2026-11-25T02:40:00.000100Z\",\"mono_us\":1000100,\"dir\":\"client>"
        "proxy\",\"client\":3,\"pid\":30,\"uid\":1001,\"exe\":\"exporter\",\"kind\":\"command\","
        "\"name\":\"quit\",\"id\":1,\"msg\":{\"execute\":\"quit\",\"id\":1}}\n"
        "{\"v\":1,\"time\":\"2026-11-25T02:40:00.000150Z\",\"mono_us\":1000150,\"dir\":\"proxy>"
        "client\",\"client\":3,\"pid\":30,\"uid\":1001,\"exe\":\"exporter\",\"kind\":\"error\","
        "\"name\":\"quit\",\"id\":1,\"latency_us\":50,\"error\":\"Command quit has been "
        "disabled: the read-only policy of this QMP socket does not allow it\",\"class\":"
        "\"CommandNotFound\",\"refused_by\":\"read-only\",\"msg\":{\"id\":1,\"error\":{"
        "\"class\":\"CommandNotFound\",\"desc\":\"Command quit has been disabled: the read-only "
        "policy of this QMP socket does not allow it\"}}}\n";
    g_autofree char *path = write_trace(f, "refused.jsonl", trace, -1);
    g_autofree char *out = NULL, *err = NULL;

    g_assert_cmpint(run((const char *[]){ "--summary", path, NULL }, &out, &err), ==, 0);
    assert_rows(out, "Clients",
                (const char *[]){
                    "3 exporter 30 1001 1 1 1 0",
                    NULL,
                });
}

/* Without proxy>client (nor client>proxy) records, QEMU's side is used. */
static void test_summary_qemu_side(Fixture *f, gconstpointer data)
{
    g_autofree char *text =
        only_lines(known_trace, (const char *[]){ "\"kind\":\"header\"", "\"dir\":\"proxy>qemu\"",
                                                  "\"dir\":\"qemu>proxy\"", NULL });
    g_autofree char *path = write_trace(f, "qemu-side.jsonl", text, -1);
    g_autofree char *out = NULL, *err = NULL;

    g_assert_cmpint(run((const char *[]){ "--summary", path, NULL }, &out, &err), ==, 0);
    g_assert_cmpstr(err, ==, "");
    g_assert_nonnull(strstr(out, "Commands (latency from qemu>proxy replies"));
    assert_rows(out, "Commands",
                (const char *[]){
                    "device_add 2 1 0 1.480 ms 2.480 ms 2.480 ms",
                    "query-status 1 0 0 80 us 80 us 80 us",
                    NULL,
                });
    assert_rows(out, "Devices",
                (const char *[]){
                    "vda virtio-blk-pci 1 2.480 ms - removed",
                    "sd0 scsi-hd 1 1.480 ms - add failed",
                    NULL,
                });
}

/* ---- --chrome ---- */

static JsonObject *load_chrome_text(Fixture *f, JsonParser *parser, const char *text)
{
    g_autofree char *path = write_trace(f, "trace.jsonl", text, -1);
    g_autofree char *chrome = g_build_filename(f->dir, "out.json", NULL);
    g_autofree char *out = NULL, *err = NULL;
    g_autoptr(GError) error = NULL;
    JsonNode *root;

    g_assert_cmpint(run((const char *[]){ "--chrome", chrome, path, NULL }, &out, &err), ==, 0);
    g_assert_cmpstr(err, ==, "");
    g_assert_true(json_parser_load_from_file(parser, chrome, &error));
    g_assert_no_error(error);
    root = json_parser_get_root(parser);
    g_assert_true(JSON_NODE_HOLDS_OBJECT(root));
    return json_node_get_object(root);
}

static JsonObject *load_chrome(Fixture *f, JsonParser *parser)
{
    return load_chrome_text(f, parser, known_trace);
}

/* The events with phase @ph and process @pid, in file order. */
static GPtrArray *chrome_events(JsonObject *root, const char *ph, gint64 pid)
{
    JsonArray *events = json_object_get_array_member(root, "traceEvents");
    GPtrArray *found = g_ptr_array_new();

    g_assert_nonnull(events);
    for (guint i = 0; i < json_array_get_length(events); i++) {
        JsonObject *e = json_array_get_object_element(events, i);
        if (strcmp(json_object_get_string_member(e, "ph"), ph) == 0 &&
            json_object_get_int_member(e, "pid") == pid) {
            g_ptr_array_add(found, e);
        }
    }
    return found;
}

static JsonObject *args_of(JsonObject *e)
{
    return json_object_get_object_member(e, "args");
}

static void assert_span(JsonObject *e, const char *name, gint64 tid, gint64 ts, gint64 dur)
{
    g_assert_cmpstr(json_object_get_string_member(e, "name"), ==, name);
    g_assert_cmpint(json_object_get_int_member(e, "tid"), ==, tid);
    g_assert_cmpint(json_object_get_int_member(e, "ts"), ==, ts);
    g_assert_cmpint(json_object_get_int_member(e, "dur"), ==, dur);
}

static void test_chrome_commands(Fixture *f, gconstpointer data)
{
    g_autoptr(JsonParser) parser = json_parser_new();
    JsonObject *root = load_chrome(f, parser);
    g_autoptr(GPtrArray) spans = chrome_events(root, "X", 1);
    g_autoptr(GPtrArray) meta = chrome_events(root, "M", 1);
    JsonObject *e;

    g_assert_cmpstr(json_object_get_string_member(root, "displayTimeUnit"), ==, "ms");
    g_assert_cmpuint(spans->len, ==, 12);
    assert_span(spans->pdata[0], "query-status", 1, 1001000, 100);
    g_assert_cmpstr(json_object_get_string_member(args_of(spans->pdata[0]), "id"), ==, "a1");
    assert_span(spans->pdata[3], "query-status", 2, 1004000, 1000);
    g_assert_cmpint(json_object_get_int_member(args_of(spans->pdata[3]), "id"), ==, 8);
    assert_span(spans->pdata[4], "device_add", 1, 1010000, 2500);
    e = spans->pdata[5];
    assert_span(e, "device_add", 1, 1020000, 1500);
    g_assert_cmpstr(json_object_get_string_member(args_of(e), "error_class"), ==, "GenericError");
    g_assert_cmpstr(json_object_get_string_member(args_of(e), "error_desc"), ==,
                    "Bus 'scsi.0' not found");
    g_assert_false(json_object_has_member(args_of(spans->pdata[4]), "error_class"));
    /* Never answered: open until the last record. */
    e = spans->pdata[11];
    assert_span(e, "query-block", 1, 1100000, 20000);
    g_assert_true(json_object_get_boolean_member(args_of(e), "no_reply"));

    g_assert_cmpuint(meta->len, ==, 3);
    g_assert_cmpstr(json_object_get_string_member(args_of(meta->pdata[0]), "name"), ==, "clients");
    g_assert_cmpint(json_object_get_int_member(meta->pdata[1], "tid"), ==, 1);
    g_assert_cmpstr(json_object_get_string_member(meta->pdata[1], "name"), ==, "thread_name");
    g_assert_cmpstr(json_object_get_string_member(args_of(meta->pdata[1]), "name"), ==,
                    "client 1 runtime (pid 10)");
    g_assert_cmpstr(json_object_get_string_member(args_of(meta->pdata[2]), "name"), ==,
                    "client 2 watcher (pid 20)");
}

static void test_chrome_devices_events(Fixture *f, gconstpointer data)
{
    g_autoptr(JsonParser) parser = json_parser_new();
    JsonObject *root = load_chrome(f, parser);
    g_autoptr(GPtrArray) devices = chrome_events(root, "X", 2);
    g_autoptr(GPtrArray) device_meta = chrome_events(root, "M", 2);
    g_autoptr(GPtrArray) instants = chrome_events(root, "i", 3);
    static const gint64 instant_ts[] = { 1005000, 1050000, 1075000 };

    g_assert_cmpuint(devices->len, ==, 3);
    assert_span(devices->pdata[0], "vda", 1, 1010000, 65000);
    g_assert_cmpstr(json_object_get_string_member(args_of(devices->pdata[0]), "state"), ==,
                    "removed");
    assert_span(devices->pdata[1], "sd0", 2, 1020000, 1500);
    /* Still plugged: to the end of the trace, and flagged. */
    assert_span(devices->pdata[2], "net0", 3, 1030000, 90000);
    g_assert_true(
        json_object_get_boolean_member(args_of(devices->pdata[2]), "open_at_end_of_trace"));
    g_assert_false(
        json_object_get_boolean_member(args_of(devices->pdata[0]), "open_at_end_of_trace"));
    g_assert_cmpuint(device_meta->len, ==, 4);
    g_assert_cmpstr(json_object_get_string_member(args_of(device_meta->pdata[1]), "name"), ==,
                    "vda (virtio-blk-pci)");

    g_assert_cmpuint(instants->len, ==, G_N_ELEMENTS(instant_ts));
    for (guint i = 0; i < instants->len; i++) {
        JsonObject *e = instants->pdata[i];
        const char *scope = json_object_get_string_member(e, "s");
        g_assert_cmpint(json_object_get_int_member(e, "ts"), ==, instant_ts[i]);
        g_assert_true(strcmp(scope, "p") == 0 || strcmp(scope, "g") == 0);
    }
    g_assert_cmpstr(json_object_get_string_member(instants->pdata[2], "name"), ==,
                    "DEVICE_DELETED");
}

/* ---- commands the proxy made itself (by_proxy) ---- */

static const char *const by_proxy_commands[] = {
    "blockdev-add 3 0 1 200 us 300 us 300 us",
    "blockdev-del 1 1 0 100 us 100 us 100 us",
    "device_add 2 0 1 1.200 ms 1.200 ms 1.200 ms",
    "device_del 1 0 0 400 us 400 us 400 us",
    NULL,
};

static void test_by_proxy_summary(Fixture *f, gconstpointer data)
{
    g_autofree char *path = write_trace(f, "by-proxy.jsonl", by_proxy_trace, -1);
    g_autofree char *out = NULL, *err = NULL;

    g_assert_cmpint(run((const char *[]){ "--summary", path, NULL }, &out, &err), ==, 0);
    g_assert_cmpstr(err, ==, "");
    g_assert_nonnull(strstr(out, "23 records, 2 headers, filter hotplug, 70.300 ms"));
    /* The clients' commands once each; the proxy's in their own table. */
    assert_rows(out, "Commands (",
                (const char *[]){
                    "__org.qmproxy_device-attach 1 0 0 1.900 ms 1.900 ms 1.900 ms",
                    "__org.qmproxy_device-detach 1 0 0 30.400 ms 30.400 ms 30.400 ms",
                    "device_add 1 0 0 500 us 500 us 500 us",
                    NULL,
                });
    g_assert_nonnull(strstr(out, "Commands the proxy made itself (device manager; latency from "
                                 "qemu>proxy replies"));
    assert_rows(out, "Commands the proxy made itself", by_proxy_commands);
    assert_rows(out, "Devices",
                (const char *[]){
                    "disk0 scsi-hd 1 via proxy 1.200 ms 30.000 ms removed",
                    "nic0 e1000 1 500 us - plugged",
                    "vdb virtio-blk-pci proxy - - add pending",
                    NULL,
                });
    /* The proxy's commands and its refused blockdev-del are not client 1's. */
    assert_rows(out, "Clients", (const char *[]){ "1 runtime 10 0 3 0 0 2", NULL });
}

/* A trace without by_proxy records has no table for them. */
static void test_by_proxy_none(Fixture *f, gconstpointer data)
{
    g_autofree char *path = write_trace(f, "known.jsonl", known_trace, -1);
    g_autofree char *out = NULL, *err = NULL;

    g_assert_cmpint(run((const char *[]){ "--summary", path, NULL }, &out, &err), ==, 0);
    g_assert_null(strstr(out, "made itself"));
}

/* QEMU's side only: the client's device_add from proxy>qemu, the proxy's
 * commands as before. */
static void test_by_proxy_qemu_side(Fixture *f, gconstpointer data)
{
    g_autofree char *text = only_lines(
        by_proxy_trace, (const char *[]){ "\"kind\":\"header\"", "\"dir\":\"proxy>qemu\"",
                                          "\"dir\":\"qemu>proxy\"", NULL });
    g_autofree char *path = write_trace(f, "qemu-side.jsonl", text, -1);
    g_autofree char *out = NULL, *err = NULL;

    g_assert_cmpint(run((const char *[]){ "--summary", path, NULL }, &out, &err), ==, 0);
    g_assert_cmpstr(err, ==, "");
    assert_rows(out, "Commands (",
                (const char *[]){ "device_add 1 0 0 490 us 490 us 490 us", NULL });
    assert_rows(out, "Commands the proxy made itself", by_proxy_commands);
    assert_rows(out, "Devices",
                (const char *[]){
                    "disk0 scsi-hd 1 via proxy 1.200 ms 30.000 ms removed",
                    "nic0 e1000 1 490 us - plugged",
                    "vdb virtio-blk-pci proxy - - add pending",
                    NULL,
                });
}

static void test_by_proxy_chrome(Fixture *f, gconstpointer data)
{
    g_autoptr(JsonParser) parser = json_parser_new();
    JsonObject *root = load_chrome_text(f, parser, by_proxy_trace);
    g_autoptr(GPtrArray) clients = chrome_events(root, "X", 1);
    g_autoptr(GPtrArray) devices = chrome_events(root, "X", 2);
    g_autoptr(GPtrArray) spans = chrome_events(root, "X", 4);
    g_autoptr(GPtrArray) meta = chrome_events(root, "M", 4);
    JsonObject *e;

    g_assert_cmpuint(clients->len, ==, 3);
    g_assert_cmpuint(spans->len, ==, 7);
    e = spans->pdata[0];
    assert_span(e, "blockdev-add", 1, 1001100, 300);
    g_assert_true(json_object_get_boolean_member(args_of(e), "by_proxy"));
    g_assert_cmpint(json_object_get_int_member(args_of(e), "upstream_id"), ==, 1);
    assert_span(spans->pdata[1], "device_add", 1, 1001500, 1200);
    g_assert_cmpstr(json_object_get_string_member(
                        json_object_get_object_member(args_of(spans->pdata[1]), "arguments"), "id"),
                    ==, "disk0");
    e = spans->pdata[3];
    assert_span(e, "blockdev-del", 1, 1050200, 100);
    g_assert_cmpstr(json_object_get_string_member(args_of(e), "error_class"), ==, "GenericError");
    assert_span(spans->pdata[4], "device_add", 0, 1060000, 10300);
    /* The reply after the restart is the new proxy's command's, not the
     * older one's with the same upstream_id. */
    e = spans->pdata[5];
    assert_span(e, "blockdev-add", 1, 1065000, 5300);
    g_assert_true(json_object_get_boolean_member(args_of(e), "no_reply"));
    assert_span(spans->pdata[6], "blockdev-add", 0, 1070100, 200);

    g_assert_cmpuint(meta->len, ==, 3);
    g_assert_cmpstr(json_object_get_string_member(args_of(meta->pdata[0]), "name"), ==,
                    "made by the proxy (device manager)");
    g_assert_cmpint(json_object_get_int_member(meta->pdata[1], "tid"), ==, 0);
    g_assert_cmpstr(json_object_get_string_member(args_of(meta->pdata[1]), "name"), ==,
                    "for no client");
    g_assert_cmpstr(json_object_get_string_member(args_of(meta->pdata[2]), "name"), ==,
                    "for client 1 runtime (pid 10)");

    g_assert_cmpuint(devices->len, ==, 3);
    e = devices->pdata[0];
    assert_span(e, "disk0", 1, 1001500, 48600);
    g_assert_true(json_object_get_boolean_member(args_of(e), "by_proxy"));
    g_assert_cmpint(json_object_get_int_member(args_of(e), "plug_us"), ==, 1200);
    g_assert_cmpint(json_object_get_int_member(args_of(e), "unplug_us"), ==, 30000);
    g_assert_false(json_object_get_boolean_member(args_of(devices->pdata[1]), "by_proxy"));
}

static void test_by_proxy_timeline(Fixture *f, gconstpointer data)
{
    g_autofree char *path = write_trace(f, "by-proxy.jsonl", by_proxy_trace, -1);
    g_autofree char *out = NULL, *err = NULL;
    g_auto(GStrv) lines = NULL;
    g_autofree char *command = NULL, *reply = NULL;
    guint marked = 0;

    g_assert_cmpint(run((const char *[]){ path, NULL }, &out, &err), ==, 0);
    g_assert_cmpstr(err, ==, "");
    lines = g_strsplit(out, "\n", -1);
    g_assert_cmpuint(g_strv_length(lines), ==, BY_PROXY_LINES + 1);
    for (guint i = 0; lines[i]; i++) {
        marked += g_str_has_suffix(lines[i], " (by_proxy)");
    }
    g_assert_cmpuint(marked, ==, 12);
    command = squeeze(lines[4]);
    g_assert_cmpstr(command, ==,
                    "02:50:00.001500 +0.100 ms #1 runtime[10] P->Q command device_add "
                    "{\"driver\":\"scsi-hd\",\"drive\":\"drive-disk0\",\"id\":\"disk0\"} "
                    "(by_proxy)");
    /* The client's own command through the proxy is not marked. */
    reply = squeeze(lines[10]);
    g_assert_cmpstr(reply, ==,
                    "02:50:00.010490 +0.480 ms #1 runtime[10] Q->P reply device_add id=2 "
                    "490 us");
}

/* "by_proxy" must be a boolean, as the writer makes it. */
static void test_by_proxy_bad_type(Fixture *f, gconstpointer data)
{
    static const char text[] =
        "{\"v\":1,\"time\":\"2026-11-25T02:50:00Z\",\"mono_us\":1,\"dir\":\"proxy>qemu\","
        "\"kind\":\"command\",\"name\":\"device_add\",\"upstream_id\":1,\"by_proxy\":\"yes\"}\n";
    g_autofree char *path = write_trace(f, "bad.jsonl", text, -1);
    g_autofree char *out = NULL, *err = NULL;
    g_autofree char *expect = g_strdup_printf("%s:1: member 'by_proxy' is not a boolean", path);

    g_assert_cmpint(run((const char *[]){ path, NULL }, &out, &err), ==, 0);
    g_assert_true(g_str_has_prefix(err, expect));
    g_assert_cmpstr(out, ==, "");
}

/* ---- damaged traces ---- */

static void test_truncated(Fixture *f, gconstpointer data)
{
    /* Cut 40 bytes into line 30, as a proxy that crashed mid-write. */
    const char *cut = known_trace;
    for (guint line = 1; line < 30; line++) {
        cut = strchr(cut, '\n') + 1;
    }
    g_autofree char *path = write_trace(f, "cut.jsonl", known_trace, cut + 40 - known_trace);
    g_autofree char *expect = g_strdup_printf("%s:30: ", path);
    g_autofree char *out = NULL, *err = NULL;

    g_assert_cmpint(run((const char *[]){ path, NULL }, &out, &err), ==, 0);
    g_assert_cmpuint(count_lines(out), ==, 29);
    g_assert_true(g_str_has_prefix(err, expect));
    g_assert_nonnull(strstr(err, "cut short"));
    g_clear_pointer(&out, g_free);
    g_clear_pointer(&err, g_free);

    g_assert_cmpint(run((const char *[]){ "--summary", path, NULL }, &out, &err), ==, 0);
    g_assert_true(g_str_has_prefix(err, expect));
    assert_rows(out, "Devices",
                (const char *[]){
                    "vda virtio-blk-pci 1 2.500 ms - unplug requested",
                    "sd0 scsi-hd 1 1.500 ms - add failed",
                    "net0 e1000 2 3.000 ms - plugged",
                    NULL,
                });
}

static void test_garbage(Fixture *f, gconstpointer data)
{
    static const guint after[] = { 5, 10, 20, 30 };
    static const char *const garbage[] = {
        "not json at all",
        "[\"an\",\"array\"]",
        "{\"v\":1,\"kind\":\"reply\",\"dir\":\"proxy>client\"}",
        "{\"v\":1,\"kind\":\"event\",\"time\":\"2026-11-25T02:40:00Z\",\"mono_us\":\"5\","
        "\"dir\":\"qemu>proxy\",\"name\":\"X\"}",
    };
    g_autofree char *text = with_lines(known_trace, after, garbage, G_N_ELEMENTS(after));
    g_autofree char *path = write_trace(f, "garbage.jsonl", text, -1);
    g_autofree char *out = NULL, *err = NULL;
    g_auto(GStrv) reports = NULL;
    static const guint bad_lines[] = { 6, 12, 23, 34 };

    g_assert_cmpint(run((const char *[]){ "--summary", path, NULL }, &out, &err), ==, 0);
    reports = g_strsplit(err, "\n", -1);
    for (guint i = 0; i < G_N_ELEMENTS(bad_lines); i++) {
        g_autofree char *prefix = g_strdup_printf("%s:%u: ", path, bad_lines[i]);
        g_assert_nonnull(reports[i]);
        g_assert_true(g_str_has_prefix(reports[i], prefix));
    }
    g_assert_nonnull(strstr(reports[2], "no member 'time'"));
    g_assert_nonnull(strstr(reports[3], "'mono_us' is not an integer"));
    /* The last line summarises; nothing else was reported. */
    g_assert_nonnull(strstr(reports[4], "4 of 47 lines"));
    g_assert_cmpstr(reports[5], ==, "");
    g_assert_null(reports[6]);
    /* The good lines were all used. */
    assert_rows(out, "Commands", known_commands);
}

/* Later versions only add members and are read as version 1; an unknown
 * kind is shown, not refused. */
static void test_future_version(Fixture *f, gconstpointer data)
{
    static const char text[] =
        "{\"v\":2,\"kind\":\"header\",\"time\":\"2026-11-25T02:40:00Z\",\"mono_us\":1,"
        "\"compression\":\"none\"}\n"
        "{\"v\":3,\"time\":\"2026-11-25T02:40:00.000007Z\",\"mono_us\":8,\"dir\":\"qemu>proxy\","
        "\"kind\":\"event\",\"name\":\"RESUME\",\"msg\":{\"event\":\"RESUME\"},\"new\":[1,{}]}\n"
        "{\"v\":3,\"time\":\"2026-11-25T02:40:00.000009Z\",\"mono_us\":10,\"dir\":\"qemu>proxy\","
        "\"kind\":\"teleport\",\"name\":\"T\"}\n";
    g_autofree char *path = write_trace(f, "future.jsonl", text, -1);
    g_autofree char *out = NULL, *err = NULL;
    g_auto(GStrv) lines = NULL;

    g_assert_cmpint(run((const char *[]){ path, NULL }, &out, &err), ==, 0);
    g_assert_cmpstr(err, ==, "");
    lines = g_strsplit(out, "\n", -1);
    g_assert_cmpuint(g_strv_length(lines), ==, 4);
    g_assert_nonnull(strstr(lines[1], "RESUME"));
    g_assert_nonnull(strstr(lines[1], "+0.007 ms"));
    g_assert_nonnull(strstr(lines[2], "teleport"));
}

static void test_empty(Fixture *f, gconstpointer data)
{
    g_autofree char *path = write_trace(f, "empty.jsonl", "", 0);
    g_autofree char *out = NULL, *err = NULL;
    g_autoptr(GPtrArray) rows = NULL;

    g_assert_cmpint(run((const char *[]){ path, NULL }, &out, &err), ==, 0);
    g_assert_cmpstr(out, ==, "");
    g_assert_cmpstr(err, ==, "");
    g_clear_pointer(&out, g_free);
    g_clear_pointer(&err, g_free);
    g_assert_cmpint(run((const char *[]){ "--summary", path, NULL }, &out, &err), ==, 0);
    g_assert_cmpstr(err, ==, "");
    rows = table_rows(out, "Commands");
    g_assert_cmpuint(rows->len, ==, 0);
}

/* ---- usage ---- */

static void test_missing_file(Fixture *f, gconstpointer data)
{
    g_autofree char *path = g_build_filename(f->dir, "nowhere.jsonl", NULL);
    g_autofree char *out = NULL, *err = NULL;

    g_assert_cmpint(run((const char *[]){ path, NULL }, &out, &err), ==, 1);
    g_assert_nonnull(strstr(err, path));
    g_assert_nonnull(strstr(err, "No such file"));
    g_clear_pointer(&out, g_free);
    g_clear_pointer(&err, g_free);
    g_assert_cmpint(run((const char *[]){ "--follow", path, NULL }, &out, &err), ==, 1);
    g_clear_pointer(&out, g_free);
    g_clear_pointer(&err, g_free);
    g_assert_cmpint(run((const char *[]){ "--summary", f->dir, NULL }, &out, &err), ==, 1);
}

static void test_bad_usage(Fixture *f, gconstpointer data)
{
    g_autofree char *path = write_trace(f, "known.jsonl", known_trace, -1);
    const char *const *cases[] = {
        (const char *[]){ NULL },
        (const char *[]){ "--no-such-option", path, NULL },
        (const char *[]){ path, path, NULL },
        (const char *[]){ "--follow", "--summary", path, NULL },
        (const char *[]){ "--follow", "--chrome", "x.json", path, NULL },
        (const char *[]){ path, "--chrome", NULL },
    };

    for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autofree char *out = NULL, *err = NULL;
        g_assert_cmpint(run(cases[i], &out, &err), ==, 2);
        g_assert_cmpstr(out, ==, "");
        g_assert_true(g_str_has_prefix(err, "qmproxy trace: "));
    }
}

static void test_help(Fixture *f, gconstpointer data)
{
    static const char *const needles[] = { "--summary", "--chrome",  "--follow",
                                           "UTC",       "FILE:LINE", "Exit status" };
    g_autofree char *out = NULL, *err = NULL;

    g_assert_cmpint(run((const char *[]){ "--help", NULL }, &out, &err), ==, 0);
    for (guint i = 0; i < G_N_ELEMENTS(needles); i++) {
        g_assert_nonnull(strstr(out, needles[i]));
    }
}

/* A partial install: qmproxy without qmproxy-trace beside it or on $PATH. */
static void test_reader_missing(Fixture *f, gconstpointer data)
{
    g_autofree char *copy = g_build_filename(f->dir, "qmproxy", NULL);
    g_autofree char *beside = g_build_filename(f->dir, "qmproxy-trace", NULL);
    g_autofree char *bin = NULL;
    gsize len;
    g_autoptr(GError) error = NULL;

    g_assert_true(g_file_get_contents(test_qmproxy_bin(), &bin, &len, &error));
    g_assert_true(
        g_file_set_contents_full(copy, bin, (gssize)len, G_FILE_SET_CONTENTS_NONE, 0755, &error));
    g_assert_no_error(error);

    const char *argv[] = { copy, "trace", "--summary", "x.jsonl", NULL };
    g_auto(GStrv) env = tool_env((const char *const[]){ "PATH=/nonexistent", NULL });
    g_autofree char *out = NULL, *err = NULL;
    int status;

    g_assert_true(g_spawn_sync(NULL, (char **)argv, env, G_SPAWN_DEFAULT, NULL, NULL, &out, &err,
                               &status, &error));
    g_assert_true(WIFEXITED(status));
    g_assert_cmpint(WEXITSTATUS(status), ==, 127);
    g_assert_cmpstr(out, ==, "");
    /* which file it looked for, and how to get it */
    g_assert_nonnull(strstr(err, beside));
    g_assert_nonnull(strstr(err, "$PATH"));
    g_assert_nonnull(strstr(err, "ninja -C build proxy/qmproxy-trace"));
}

/* ---- the timeline ---- */

static void test_timeline_lines(Fixture *f, gconstpointer data)
{
    g_autofree char *path = write_trace(f, "known.jsonl", known_trace, -1);
    g_autofree char *out = NULL, *err = NULL;
    g_auto(GStrv) lines = NULL;
    g_autofree char *reply = NULL;

    g_assert_cmpint(run((const char *[]){ path, NULL }, &out, &err), ==, 0);
    g_assert_cmpstr(err, ==, "");
    g_assert_null(strchr(out, '\033'));
    lines = g_strsplit(out, "\n", -1);
    g_assert_cmpuint(g_strv_length(lines), ==, KNOWN_LINES + 1);
    g_assert_cmpstr(lines[KNOWN_LINES], ==, "");
    g_assert_true(g_str_has_prefix(lines[0], "02:40:00.000000 ----"));
    /* Line 21: the proxy's reply to device_add rt-3, 20 us after QEMU's. */
    reply = squeeze(lines[20]);
    g_assert_cmpstr(reply, ==,
                    "02:40:00.012500 +0.020 ms #1 runtime[10] P->C reply device_add id=\"rt-3\" "
                    "2.500 ms");
    g_assert_nonnull(strstr(lines[1], "Q->P"));
    g_assert_nonnull(strstr(lines[4], "C->P"));
    g_assert_nonnull(strstr(lines[5], "P->Q"));
    g_assert_nonnull(strstr(lines[23], "GenericError: Bus 'scsi.0' not found"));
}

static void test_timeline_utf8(Fixture *f, gconstpointer data)
{
    g_autofree char *path = write_trace(f, "known.jsonl", known_trace, -1);
    g_autofree char *out = NULL, *err = NULL;
    g_autofree char *saved = g_strdup(setlocale(LC_ALL, NULL));
    gboolean have_utf8 = setlocale(LC_ALL, "C.UTF-8") != NULL;

    setlocale(LC_ALL, saved);
    if (!have_utf8) {
        g_test_skip("no C.UTF-8 locale");
        return;
    }
    g_assert_cmpint(run_env((const char *[]){ path, NULL },
                            (const char *[]){ "LC_ALL=C.UTF-8", NULL }, &out, &err),
                    ==, 0);
    g_assert_nonnull(strstr(out, "C→P"));
    g_assert_nonnull(strstr(out, "P→C"));
    g_assert_nonnull(strstr(out, "100 µs"));
    g_assert_null(strstr(out, "->"));
}

/* Runs the tool with its standard output on a terminal; returns what it
 * wrote there, or NULL when there are no pseudo-terminals. */
static char *run_on_terminal(const char *path, const char *const *env_extra)
{
    g_autoptr(GPtrArray) argv = tool_argv((const char *[]){ path, NULL });
    g_auto(GStrv) env = tool_env(env_extra);
    g_autoptr(GError) error = NULL;
    GString *out = g_string_new(NULL);
    int master = posix_openpt(O_RDWR | O_NOCTTY);
    int slave, status;
    GPid pid;
    char buf[4096];
    gssize n;

    if (master < 0) {
        g_string_free(out, TRUE);
        return NULL;
    }
    g_assert_cmpint(grantpt(master), ==, 0);
    g_assert_cmpint(unlockpt(master), ==, 0);
    slave = open(ptsname(master), O_RDWR | O_NOCTTY);
    g_assert_cmpint(slave, >=, 0);
    g_assert_true(g_spawn_async_with_pipes_and_fds(
        NULL, (const char *const *)argv->pdata, (const char *const *)env, G_SPAWN_DO_NOT_REAP_CHILD,
        NULL, NULL, -1, slave, -1, NULL, NULL, 0, &pid, NULL, NULL, NULL, &error));
    g_assert_no_error(error);
    close(slave);
    /* EIO once the tool has exited and the terminal has no writer left. */
    while ((n = read(master, buf, sizeof buf)) > 0 || (n < 0 && errno == EINTR)) {
        g_string_append_len(out, buf, MAX(n, 0));
    }
    close(master);
    g_assert_cmpint(waitpid(pid, &status, 0), ==, pid);
    g_assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    return g_string_free(out, FALSE);
}

static void test_timeline_color(Fixture *f, gconstpointer data)
{
    g_autofree char *path = write_trace(f, "known.jsonl", known_trace, -1);
    g_autofree char *colored = run_on_terminal(path, NULL);
    g_autofree char *plain = run_on_terminal(path, (const char *[]){ "NO_COLOR=1", NULL });

    if (!colored) {
        g_test_skip("no pseudo-terminal");
        return;
    }

    /* Errors in red, events in another colour. */
    g_assert_nonnull(strstr(colored, "\033[31m"));
    g_assert_nonnull(strstr(colored, "\033[36m"));
    g_assert_nonnull(strstr(plain, "device_add"));
    g_assert_null(strchr(plain, '\033'));
}

/* ---- --follow ---- */

typedef struct {
    GPid pid;
    int out, err;
    GString *lines; /* stdout so far */
} Follower;

static void follower_start(Follower *w, const char *path)
{
    g_autoptr(GPtrArray) argv = tool_argv((const char *[]){ "--follow", path, NULL });
    g_auto(GStrv) env = tool_env(NULL);
    g_autoptr(GError) error = NULL;

    g_assert_true(g_spawn_async_with_pipes(NULL, (char **)argv->pdata, env,
                                           G_SPAWN_DO_NOT_REAP_CHILD, NULL, NULL, &w->pid, NULL,
                                           &w->out, &w->err, &error));
    g_assert_no_error(error);
    w->lines = g_string_new(NULL);
}

/* Reads stdout until it holds @n lines or @timeout_ms pass; the count. */
static guint follower_wait_lines(Follower *w, guint n, guint timeout_ms)
{
    gint64 end = g_get_monotonic_time() + timeout_ms * G_GINT64_CONSTANT(1000);
    gint64 left;

    while (count_lines(w->lines->str) < n && (left = end - g_get_monotonic_time()) > 0) {
        struct pollfd pfd = { .fd = w->out, .events = POLLIN };
        char buf[4096];
        gssize got;
        if (poll(&pfd, 1, (int)(left / 1000) + 1) <= 0) {
            continue;
        }
        got = read(w->out, buf, sizeof buf);
        if (got <= 0) {
            break;
        }
        g_string_append_len(w->lines, buf, got);
    }
    return count_lines(w->lines->str);
}

/* Line @n (0-based) of its output, squeezed. */
static char *follower_line(Follower *w, guint n)
{
    g_auto(GStrv) lines = g_strsplit(w->lines->str, "\n", -1);

    g_assert_cmpuint(n, <, g_strv_length(lines));
    return squeeze(lines[n]);
}

/* Stops it with SIGTERM; returns its standard error. */
static char *follower_stop(Follower *w)
{
    GString *err = g_string_new(NULL);
    char buf[4096];
    gssize n;
    int status = 0;

    g_assert_cmpint(kill(w->pid, SIGTERM), ==, 0);
    while ((n = read(w->err, buf, sizeof buf)) > 0 || (n < 0 && errno == EINTR)) {
        g_string_append_len(err, buf, MAX(n, 0));
    }
    g_assert_cmpint(waitpid(w->pid, &status, 0), ==, w->pid);
    g_assert_true(WIFEXITED(status));
    g_assert_cmpint(WEXITSTATUS(status), ==, 0);
    close(w->out);
    close(w->err);
    g_string_free(w->lines, TRUE);
    return g_string_free(err, FALSE);
}

static void append(const char *path, const char *text, gsize len)
{
    int fd = open(path, O_WRONLY | O_APPEND);

    g_assert_cmpint(fd, >=, 0);
    g_assert_cmpint(write(fd, text, len), ==, (gssize)len);
    close(fd);
}

/* Lines of the known trace, by number (1-based), up to a 0. */
static char *known_lines(guint n, ...)
{
    g_auto(GStrv) lines = g_strsplit(known_trace, "\n", -1);
    GString *s = g_string_new(NULL);
    va_list ap;

    va_start(ap, n);
    for (; n; n = va_arg(ap, guint)) {
        g_assert_cmpuint(n, <=, KNOWN_LINES);
        g_string_append_printf(s, "%s\n", lines[n - 1]);
    }
    va_end(ap);
    return g_string_free(s, FALSE);
}

static void test_follow(Fixture *f, gconstpointer data)
{
    g_autofree char *first = known_lines(1, 5, 0);
    g_autofree char *path = write_trace(f, "live.jsonl", first, -1);
    g_autofree char *line = known_lines(9, 0);
    /* Longer than what was read, so that only the new inode tells. */
    g_autofree char *replacement = known_lines(1, 11, 12, 13, 14, 0);
    g_autofree char *new_path = write_trace(f, "live.jsonl.new", replacement, -1);
    g_autofree char *l1 = NULL, *l2 = NULL, *l3 = NULL, *err = NULL;
    Follower w;

    follower_start(&w, path);
    g_assert_cmpuint(follower_wait_lines(&w, 2, 5000), ==, 2);

    /* A line written in two pieces is waited for, not reported. */
    append(path, line, 30);
    g_assert_cmpuint(follower_wait_lines(&w, 3, 600), ==, 2);
    append(path, line + 30, strlen(line) - 30);
    g_assert_cmpuint(follower_wait_lines(&w, 3, 5000), ==, 3);
    l1 = follower_line(&w, 2);
    g_assert_nonnull(strstr(l1, "C->P command query-status id=\"a2\""));

    /* Rotated: a new file at the same path is read from its start. */
    g_assert_cmpint(rename(new_path, path), ==, 0);
    g_assert_cmpuint(follower_wait_lines(&w, 8, 5000), ==, 8);
    l2 = follower_line(&w, 3);
    g_assert_nonnull(strstr(l2, "----"));
    l3 = follower_line(&w, 4);
    g_assert_nonnull(strstr(l3, "C->P command query-status id=7"));

    err = follower_stop(&w);
    g_assert_nonnull(strstr(err, "replaced"));
    g_assert_false(g_regex_match_simple("jsonl:[0-9]+:", err, 0, 0));
}

static void test_follow_truncated(Fixture *f, gconstpointer data)
{
    g_autofree char *first = known_lines(1, 5, 9, 0);
    g_autofree char *path = write_trace(f, "live.jsonl", first, -1);
    g_autofree char *shorter = known_lines(1, 0);
    g_autofree char *l = NULL, *err = NULL;
    Follower w;
    int fd;

    follower_start(&w, path);
    g_assert_cmpuint(follower_wait_lines(&w, 3, 5000), ==, 3);
    /* Truncated in place (copytruncate): same file, shorter. */
    fd = open(path, O_WRONLY | O_TRUNC);
    g_assert_cmpint(fd, >=, 0);
    g_assert_cmpint(write(fd, shorter, strlen(shorter)), ==, (gssize)strlen(shorter));
    close(fd);
    g_assert_cmpuint(follower_wait_lines(&w, 4, 5000), ==, 4);
    l = follower_line(&w, 3);
    g_assert_nonnull(strstr(l, "----"));
    err = follower_stop(&w);
    g_assert_nonnull(strstr(err, "replaced or truncated"));
}

/* known.jsonl is there to try the tool by hand; it must say what the tests
 * check. Found from the source path when the tests run in the build tree. */
static void test_data_file(Fixture *f, gconstpointer data)
{
    g_autofree char *dir = g_path_get_dirname(__FILE__);
    g_autofree char *path = g_build_filename(dir, "..", "data", "traces", "known.jsonl", NULL);
    g_autofree char *text = NULL;

    if (!g_file_get_contents(path, &text, NULL, NULL)) {
        g_test_skip("tests/data/traces/known.jsonl is not reachable from here");
        return;
    }
    g_assert_cmpstr(text, ==, known_trace);
}

int main(int argc, char **argv)
{
    static const struct {
        const char *path;
        void (*fn)(Fixture *, gconstpointer);
    } tests[] = {
        { "/trace-tool/summary/commands", test_summary_commands },
        { "/trace-tool/summary/devices", test_summary_devices },
        { "/trace-tool/summary/clients", test_summary_clients },
        { "/trace-tool/summary/refused", test_summary_refused },
        { "/trace-tool/summary/qemu-side-only", test_summary_qemu_side },
        { "/trace-tool/chrome/commands", test_chrome_commands },
        { "/trace-tool/chrome/devices-and-events", test_chrome_devices_events },
        { "/trace-tool/by-proxy/summary", test_by_proxy_summary },
        { "/trace-tool/by-proxy/none", test_by_proxy_none },
        { "/trace-tool/by-proxy/qemu-side-only", test_by_proxy_qemu_side },
        { "/trace-tool/by-proxy/chrome", test_by_proxy_chrome },
        { "/trace-tool/by-proxy/timeline", test_by_proxy_timeline },
        { "/trace-tool/by-proxy/bad-type", test_by_proxy_bad_type },
        { "/trace-tool/damaged/truncated", test_truncated },
        { "/trace-tool/damaged/garbage-lines", test_garbage },
        { "/trace-tool/damaged/future-version", test_future_version },
        { "/trace-tool/damaged/empty-file", test_empty },
        { "/trace-tool/usage/missing-file", test_missing_file },
        { "/trace-tool/usage/bad-usage", test_bad_usage },
        { "/trace-tool/usage/help", test_help },
        { "/trace-tool/usage/reader-missing", test_reader_missing },
        { "/trace-tool/timeline/lines", test_timeline_lines },
        { "/trace-tool/timeline/utf8", test_timeline_utf8 },
        { "/trace-tool/timeline/color-on-terminal", test_timeline_color },
        { "/trace-tool/follow/append-and-rotate", test_follow },
        { "/trace-tool/follow/truncated", test_follow_truncated },
        { "/trace-tool/data/known-file", test_data_file },
    };

    g_test_init(&argc, &argv, NULL);
    for (guint i = 0; i < G_N_ELEMENTS(tests); i++) {
        g_test_add(tests[i].path, Fixture, NULL, fixture_setup, tests[i].fn, fixture_teardown);
    }
    return g_test_run();
}
