/* main.c - qmproxy's command line: the daemon, "qmproxy trace" and
 * "qmproxy wrap" (also under a name ending in -qmproxy). */
#include "app.h"
#include "cli.h"
#include "config.h"
#include "log.h"
#include "print-policy.h"
#include "wrap.h"

#include <errno.h>
#include <glib-unix.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

static gboolean on_signal(gpointer user_data)
{
    App *app = user_data;

    g_message("signal received; shutting down");
    app_stop(app);
    return G_SOURCE_CONTINUE;
}

static gboolean on_sighup(gpointer user_data)
{
    App *app = user_data;

    g_message("SIGHUP: reopening the trace file");
    app_reopen_trace(app);
    return G_SOURCE_CONTINUE;
}

static int run_daemon(int argc, char **argv)
{
    Cli cli = { 0 };
    AppOptions opts;
    g_autoptr(GError) error = NULL;
    g_autoptr(App) app = NULL;
    int status = 2;

    if (!cli_parse(&cli, FALSE, argc, argv, &error) ||
        !cli_app_options(&cli, NULL, &opts, &error)) {
        g_autofree char *message = g_strdup_printf("%s (see --help)", error->message);

        cli_printerr("qmproxy", message);
        goto out;
    }
    if (cli.version) {
        g_print("qmproxy %s\n", QMPROXY_VERSION);
        status = 0;
        goto out;
    }
    if (cli.print_policy) {
        status = print_policy(&cli, &opts);
        goto out;
    }
    /* under systemd's socket activation the socket comes ready-made (a
     * --listen is then required only if it does not come: proxy_listen()) */
    if (!cli.upstream || (!cli.listen && !g_getenv("LISTEN_PID"))) {
        g_printerr("qmproxy: %s is required (see --help)\n",
                   !cli.upstream ? "--upstream" : "--listen");
        goto out;
    }
    if (cli.log && !log_open(cli.log, &error)) {
        cli_printerr("qmproxy", error->message);
        goto out;
    }
    if (cli.verbose) {
        g_log_set_debug_enabled(TRUE);
    }
    signal(SIGPIPE, SIG_IGN);
    app = app_new(&opts);
    g_unix_signal_add(SIGTERM, on_signal, app);
    g_unix_signal_add(SIGINT, on_signal, app);
    g_unix_signal_add(SIGHUP, on_sighup, app);
    if (!app_listen(app, &error) || !app_connect(app, &error)) {
        cli_printerr("qmproxy", error->message);
        status = 1;
        goto out;
    }
    status = app_run(app);
out:
    cli_clear(&cli);
    return status;
}

/* "qmproxy trace ...": the reader is a program of its own, beside us
 * (it links json-glib, which the daemon does not). */
static int run_trace_reader(char **argv)
{
    g_autofree char *self = g_file_read_link("/proc/self/exe", NULL);
    g_autofree char *dir = self ? g_path_get_dirname(self) : NULL;
    g_autofree char *beside = dir ? g_build_filename(dir, "qmproxy-trace", NULL) : NULL;

    argv[0] = "qmproxy trace";
    if (beside && g_file_test(beside, G_FILE_TEST_IS_EXECUTABLE)) {
        execv(beside, argv);
        g_printerr("qmproxy: cannot run %s: %s\n", beside, g_strerror(errno));
        return 126;
    }
    execvp("qmproxy-trace", argv);
    /* as a shell says of a command it cannot find */
    g_printerr("qmproxy: \"qmproxy trace\" needs the qmproxy-trace program, which is neither "
               "at %s nor on $PATH; it is built and installed with qmproxy (ninja -C build "
               "proxy/qmproxy-trace, or meson install)\n",
               beside ? beside : "(the directory of this program is unknown)");
    return 127;
}

int main(int argc, char **argv)
{
    g_autofree char *name = g_path_get_basename(argv[0]);

    if (argc > 1 && strcmp(argv[1], "trace") == 0) {
        return run_trace_reader(argv + 1);
    }
    if (argc > 1 && strcmp(argv[1], "wrap") == 0) {
        return wrap_main(argc - 1, argv + 1, NULL);
    }
    /* installed as e.g. qemu-system-x86_64-qmproxy: wrap that QEMU */
    if (g_str_has_suffix(name, "-qmproxy") && strcmp(name, "-qmproxy") != 0) {
        return wrap_main(argc, argv, argv[0]);
    }
    return run_daemon(argc, argv);
}
