/* app.h - the daemon put together: the core, the layers stacked on it in
 * order (placement, then the device manager above it), the trace tapping
 * it, and the main loop they run in. The one place that knows them all. */
#pragma once

#include "core.h"
#include "trace.h"

typedef struct {
    CoreOptions core;
    char **hotplug_buses;   /* PCI buses to place devices on (--hotplug-bus) */
    guint unplug_timeout;   /* seconds an unplug waits for DEVICE_DELETED */
    const char *state_path; /* NULL: the device table is not kept */
    gboolean state_reset;   /* move an unusable state file aside */
    const char *trace_path; /* NULL: no trace */
    TraceFilter trace_filter;
    guint64 trace_max_size;                /* 0: never rotate */
    char **listen_also;                    /* more sockets to serve (--listen-also) */
    const CorePolicy **listen_also_policy; /* ... and what their clients may do */
    int listen_fd; /* >= 0: a listening socket passed to us, instead of listen_path */
    int client_fd; /* >= 0: a connected socket passed to us: the first client */
    /* wrap: in query-chardev, chardev @label's filename says @shown where
     * QEMU's says @private_text (the socket the proxy gave it) */
    struct {
        const char *label, *private_text, *shown;
    } monitor_view;
} AppOptions;

typedef struct App App;

App *app_new(const AppOptions *options);
void app_free(App *app);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(App, app_free)
/* Opens the trace and the device table, then the listening sockets
 * (clients wait in their backlog): FALSE with @error if any is unusable. */
gboolean app_listen(App *app, GError **error);
/* Connects to QEMU; once negotiated and learnt, clients are served. */
gboolean app_connect(App *app, GError **error);
/* Runs until QEMU goes away, app_stop() or app_fail(); the exit status. */
int app_run(App *app);
void app_stop(App *app);
void app_fail(App *app);
/* SIGHUP: the trace file is reopened (for logrotate). */
void app_reopen_trace(App *app);
/* @func runs once clients are served (QEMU negotiated, layers started). */
void app_on_serving(App *app, CoreServing func, gpointer data);
/* QEMU's pid once connected, 0 before. */
pid_t app_qemu_pid(App *app);
