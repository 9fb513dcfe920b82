/* app.c - the daemon put together. The core is made first, then the
 * layers are stacked on it bottom up (placement, whose addresses the
 * device manager's device_add gets like a client's; the manager), and the
 * trace taps it (under wrap, the monitor view is the bottom layer).
 * Requests from clients meet the manager first, then
 * placement, then QEMU. */
#include "app.h"

#include "manager.h"
#include "monitor-view.h"
#include "placement.h"

#include <sys/resource.h>

struct App {
    AppOptions opts;
    GMainLoop *loop;
    Core *core;
    MonitorView *monitor_view;
    Placement *placement;
    Manager *manager;
    Trace *trace;
    int status;
};

static void on_finished(gpointer data, int status)
{
    App *app = data;

    app->status = status;
    g_main_loop_quit(app->loop);
}

App *app_new(const AppOptions *options)
{
    App *app = g_new0(App, 1);
    struct rlimit nofile;

    app->opts = *options;
    /* every client costs descriptors (its socket, what it passes): as
     * systemd advises, take what the hard limit allows (GLib polls, so
     * descriptors above FD_SETSIZE are fine). The proxy starts no
     * process: QEMU under wrap keeps the limit it was given. */
    if (getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur < nofile.rlim_max) {
        nofile.rlim_cur = nofile.rlim_max;
        setrlimit(RLIMIT_NOFILE, &nofile);
    }
    app->loop = g_main_loop_new(NULL, FALSE);
    app->core = core_new(&options->core, on_finished, app);
    if (options->monitor_view.label) {
        app->monitor_view =
            monitor_view_new(app->core, options->monitor_view.label,
                             options->monitor_view.private_text, options->monitor_view.shown);
    }
    PlacementOptions po = { options->hotplug_buses, options->unplug_timeout };
    app->placement = placement_layer_new(app->core, &po);
    return app;
}

gboolean app_listen(App *app, GError **error)
{
    const AppOptions *o = &app->opts;

    if (o->trace_path) {
        app->trace = trace_open(o->trace_path, o->trace_filter, o->trace_max_size,
                                o->core.upstream_path, error);
        if (!app->trace) {
            return FALSE;
        }
        trace_attach(app->trace, app->core);
    }
    ManagerOptions mo = { o->unplug_timeout, o->state_path, o->state_reset };
    app->manager = manager_new(app->core, app->placement, &mo, error);
    if (!app->manager) {
        return FALSE;
    }
    if (o->listen_fd >= 0) {
        if (!core_listen_fd(app->core, o->listen_fd, error)) {
            return FALSE;
        }
    } else if (o->client_fd < 0 && !core_listen(app->core, error)) {
        return FALSE;
    }
    if (o->client_fd >= 0) {
        core_adopt_client(app->core, o->client_fd);
    }
    for (guint i = 0; o->listen_also && o->listen_also[i]; i++) {
        if (!core_listen_also(app->core, o->listen_also[i], o->listen_also_policy[i], error)) {
            return FALSE;
        }
    }
    return TRUE;
}

gboolean app_connect(App *app, GError **error)
{
    return core_connect(app->core, error);
}

int app_run(App *app)
{
    g_main_loop_run(app->loop);
    return app->status;
}

void app_stop(App *app)
{
    g_main_loop_quit(app->loop);
}

void app_fail(App *app)
{
    app->status = 1;
    g_main_loop_quit(app->loop);
}

void app_reopen_trace(App *app)
{
    if (app->trace) {
        trace_reopen(app->trace);
    }
}

void app_on_serving(App *app, CoreServing func, gpointer data)
{
    core_on_serving(app->core, func, data);
}

pid_t app_qemu_pid(App *app)
{
    return core_qemu_pid(app->core);
}

void app_free(App *app)
{
    if (!app) {
        return;
    }
    /* the core first: it stops the layers, and what is in flight ends
     * with the layers' callbacks still there to hear of it */
    core_free(app->core);
    manager_free(app->manager);
    placement_layer_free(app->placement);
    monitor_view_free(app->monitor_view);
    trace_free(app->trace);
    g_main_loop_unref(app->loop);
    g_free(app);
}
