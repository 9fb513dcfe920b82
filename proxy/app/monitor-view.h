/* monitor-view.h - under wrap, QEMU's monitor is on a private socket; this
 * layer makes query-chardev show it where QEMU was told to put it. */
#pragma once

#include "core.h"

typedef struct MonitorView MonitorView;

/* In the filename query-chardev gives chardev @label, @private_text
 * becomes @shown (what QEMU would have said without the proxy). */
MonitorView *monitor_view_new(Core *core, const char *label, const char *private_text,
                              const char *shown);
void monitor_view_free(MonitorView *view);
