/* main.c - qmproxy's command line. */
#include "proxy.h"
#include "trace-tool.h"

#include <errno.h>
#include <glib-unix.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

static gboolean on_signal(gpointer user_data)
{
    Proxy *proxy = user_data;

    g_message("signal received; shutting down");
    proxy_stop(proxy);
    return G_SOURCE_CONTINUE;
}

static gboolean on_sighup(gpointer user_data)
{
    Proxy *proxy = user_data;

    g_message("SIGHUP: reopening the trace file");
    trace_reopen(proxy_get_trace(proxy));
    return G_SOURCE_CONTINUE;
}

/* A size in bytes, with an optional K, M or G (powers of 1024). */
static gboolean parse_size(const char *opt, const char *text, guint64 *out, GError **error)
{
    char *end;
    guint64 n = g_ascii_strtoull(text, &end, 10);
    guint shift = 0;

    switch (g_ascii_toupper(*end)) {
    case 'K':
        shift = 10;
        end++;
        break;
    case 'M':
        shift = 20;
        end++;
        break;
    case 'G':
        shift = 30;
        end++;
        break;
    default:
        break;
    }
    if (end == text || *end || n == 0 || n > (G_MAXUINT64 >> shift)) {
        g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                    "%s: '%s' is not a size (a positive number, optionally with K, M or G)", opt,
                    text);
        return FALSE;
    }
    *out = n << shift;
    return TRUE;
}

static gboolean parse_uint(const char *opt, const char *text, guint base, guint64 max, guint64 *out,
                           GError **error)
{
    if (!g_ascii_string_to_unsigned(text, base, 0, max, out, NULL)) {
        g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                    "%s: '%s' is not a number from 0 to %" G_GUINT64_FORMAT "%s", opt, text, max,
                    base == 8 ? " (octal)" : "");
        return FALSE;
    }
    return TRUE;
}

int main(int argc, char **argv)
{
    g_autofree char *upstream = NULL;
    g_autofree char *listen = NULL;
    g_autofree char *socket_mode = NULL;
    g_auto(GStrv) allow_uids = NULL;
    g_auto(GStrv) hotplug_buses = NULL;
    gint max_clients = 256;
    gint connect_timeout = 10;
    gint unplug_timeout = 10;
    gint64 queue_max = 16 << 20;
    gboolean verbose = FALSE, version = FALSE;
    g_autofree char *trace = NULL;
    g_autofree char *trace_filter = NULL;
    g_autofree char *trace_max = NULL;
    GOptionEntry entries[] = {
        { "upstream", 'u', 0, G_OPTION_ARG_FILENAME, &upstream,
          "QEMU's QMP unix socket (-qmp unix:PATH,server=on,wait=off)", "PATH" },
        { "listen", 'l', 0, G_OPTION_ARG_FILENAME, &listen, "The unix socket to create for clients",
          "PATH" },
        { "socket-mode", 0, 0, G_OPTION_ARG_STRING, &socket_mode,
          "Mode of the listening socket, in octal (default 0600)", "MODE" },
        { "allow-uid", 0, 0, G_OPTION_ARG_STRING_ARRAY, &allow_uids,
          "Accept only clients running as UID (repeatable; default: anyone who can open "
          "the socket)",
          "UID" },
        { "max-clients", 0, 0, G_OPTION_ARG_INT, &max_clients,
          "Refuse connections beyond N clients (default 256)", "N" },
        { "client-queue-max", 0, 0, G_OPTION_ARG_INT64, &queue_max,
          "Disconnect a client that leaves more than BYTES unread (default 16 MiB)", "BYTES" },
        { "connect-timeout", 0, 0, G_OPTION_ARG_INT, &connect_timeout,
          "Seconds to wait for QEMU's greeting (default 10)", "SECONDS" },
        { "hotplug-bus", 0, 0, G_OPTION_ARG_STRING_ARRAY, &hotplug_buses,
          "Place PCI devices plugged without bus/addr on this bus (a pci-bridge or "
          "pcie-root-port id; repeatable, tried in order)",
          "ID" },
        { "unplug-timeout", 0, 0, G_OPTION_ARG_INT, &unplug_timeout,
          "Seconds a blockdev-del (chardev-remove, netdev_del, object-del) of a device being "
          "unplugged waits for its DEVICE_DELETED (default 10)",
          "SECONDS" },
        { "trace", 0, 0, G_OPTION_ARG_FILENAME, &trace,
          "Write every message that crosses the proxy to FILE, one JSON object per line "
          "(read it with: qmproxy trace FILE)",
          "FILE" },
        { "trace-filter", 0, 0, G_OPTION_ARG_STRING, &trace_filter,
          "all (default) or hotplug: only hot-plug commands, their replies and events", "WHICH" },
        { "trace-max-size", 0, 0, G_OPTION_ARG_STRING, &trace_max,
          "Rotate the trace (FILE -> FILE.1) when it reaches SIZE (K, M, G suffixes)", "SIZE" },
        { "verbose", 'v', 0, G_OPTION_ARG_NONE, &verbose, "Log every step (debug messages)", NULL },
        { "version", 'V', 0, G_OPTION_ARG_NONE, &version, "Print the version and exit", NULL },
        { NULL },
    };
    g_autoptr(GOptionContext) ctx = g_option_context_new("- share one QEMU QMP socket");
    g_autoptr(GError) error = NULL;

    g_option_context_add_main_entries(ctx, entries, NULL);
    g_option_context_set_description(
        ctx, "Example:\n  qmproxy --upstream /run/vm/qmp.sock --listen /run/vm/qmp-proxy.sock\n\n"
             "Reading a trace: qmproxy trace [--summary | --chrome OUT.json | --follow] FILE\n"
             "SIGHUP reopens the trace file (for logrotate).\n");
    if (argc > 1 && strcmp(argv[1], "trace") == 0) {
        return trace_tool_main(argc - 1, argv + 1);
    }
    if (!g_option_context_parse(ctx, &argc, &argv, &error)) {
        g_printerr("qmproxy: %s (see --help)\n", error->message);
        return 2;
    }
    if (version) {
        g_print("qmproxy %s\n", QMPROXY_VERSION);
        return 0;
    }
    if (argc > 1) {
        g_printerr("qmproxy: unexpected argument '%s' (see --help)\n", argv[1]);
        return 2;
    }
    if (!upstream || !listen) {
        g_printerr("qmproxy: %s is required (see --help)\n", !upstream ? "--upstream" : "--listen");
        return 2;
    }
    if (verbose) {
        g_log_set_debug_enabled(TRUE);
    }

    ProxyOptions opts = {
        .upstream_path = upstream,
        .listen_path = listen,
        .socket_mode = 0600,
        .allow_uids = g_array_new(FALSE, FALSE, sizeof(uid_t)),
        .max_clients = (guint)MAX(max_clients, 0),
        .client_queue_max = (gsize)MAX(queue_max, 0),
        .connect_timeout = (guint)MAX(connect_timeout, 1),
        .unplug_timeout = (guint)MAX(unplug_timeout, 1),
        .hotplug_buses = hotplug_buses,
    };
    g_autoptr(GArray) uids = opts.allow_uids;
    guint64 n;
    if (socket_mode) {
        if (!parse_uint("--socket-mode", socket_mode, 8, 0777, &n, &error)) {
            g_printerr("qmproxy: %s\n", error->message);
            return 2;
        }
        opts.socket_mode = (guint)n;
    }
    for (guint i = 0; allow_uids && allow_uids[i]; i++) {
        if (!parse_uint("--allow-uid", allow_uids[i], 10, G_MAXUINT32 - 1, &n, &error)) {
            g_printerr("qmproxy: %s\n", error->message);
            return 2;
        }
        uid_t uid = (uid_t)n;
        g_array_append_val(uids, uid);
    }
    if (trace_filter && strcmp(trace_filter, "all") != 0 && strcmp(trace_filter, "hotplug") != 0) {
        g_printerr("qmproxy: --trace-filter: '%s' is neither all nor hotplug\n", trace_filter);
        return 2;
    }
    if ((trace_filter || trace_max) && !trace) {
        g_printerr("qmproxy: --trace-filter and --trace-max-size need --trace FILE\n");
        return 2;
    }
    opts.trace_path = trace;
    opts.trace_filter =
        g_strcmp0(trace_filter, "hotplug") == 0 ? TRACE_FILTER_HOTPLUG : TRACE_FILTER_ALL;
    if (trace_max && !parse_size("--trace-max-size", trace_max, &opts.trace_max_size, &error)) {
        g_printerr("qmproxy: %s\n", error->message);
        return 2;
    }
    if (max_clients < 1 || queue_max < 4096) {
        g_printerr("qmproxy: %s\n", max_clients < 1 ? "--max-clients must be at least 1"
                                                    : "--client-queue-max must be at least 4096");
        return 2;
    }

    signal(SIGPIPE, SIG_IGN);
    g_autoptr(Proxy) proxy = proxy_new(&opts);
    g_unix_signal_add(SIGTERM, on_signal, proxy);
    g_unix_signal_add(SIGINT, on_signal, proxy);
    g_unix_signal_add(SIGHUP, on_sighup, proxy);
    if (!proxy_start(proxy, &error)) {
        g_printerr("qmproxy: %s\n", error->message);
        return 1;
    }
    return proxy_run(proxy);
}
