/* wrap.c - "qmproxy wrap -- QEMU ARGS...": the proxy in front of a QEMU
 * that a manager starts itself (Kata's path =, libvirt's <emulator>).
 *
 * Whatever the manager runs must behave as QEMU. With no QMP monitor to
 * stand in front of (--version, -machine help, a tcp monitor) QEMU is
 * exec'd untouched. Otherwise the monitor's socket becomes the proxy's (a
 * path, or a descriptor the manager passed: a listening socket is listened
 * on, a connected one is the first client) and QEMU gets a private path.
 *
 * Processes: the wrapper forks the proxy, which makes its sockets and says
 * so on a pipe, before QEMU starts, so a client that connects at once
 * waits in a backlog. Then, in the foreground, the wrapper execs QEMU: the
 * pid the manager started is QEMU's, and so are the signals it receives,
 * its stdio and its exit status. With -daemonize, the wrapper runs QEMU's
 * foreground process and exits with its status once QEMU has daemonized
 * and the proxy serves; the proxy then lives on, detached, until QEMU's
 * QMP connection closes. The proxy starts nothing and never outlives QEMU:
 * until it is connected its parent's death (QEMU's, in the foreground)
 * ends it; after, QEMU's closing the connection does. */
#include "wrap.h"

#include "cli.h"
#include "config.h"
#include "log.h"
#include "qemu-args.h"

#include <errno.h>
#include <fcntl.h>
#include <glib-unix.h>
#include <glib/gstdio.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <stddef.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#define POLL_MS 10

/* What the proxy tells the wrapper on the pipe; its closing with neither
 * means it failed (and said why on stderr). */
#define SAID_LISTENING 'L'
#define SAID_SERVING 'S'

typedef struct {
    App *app;
    AppOptions opts;
    gboolean daemonize;
    gboolean verbose;
    const char *log_path;
    int report; /* the pipe to the wrapper, or -1 once it is told */
    pid_t wrapper;
    char *private_sock;
    gint64 deadline; /* 0: none (the foreground: QEMU's death ends us) */
    guint poll_id;
} Wrap;

static int usage(const char *msg)
{
    cli_printerr("qmproxy wrap", msg);
    g_printerr("Usage: qmproxy wrap [OPTIONS] -- QEMU [QEMU ARGUMENTS...]\n");
    return 2;
}

/* ---- the proxy's process ---- */

static void tell(Wrap *w, char what)
{
    if (w->report >= 0) {
        while (write(w->report, &what, 1) < 0 && errno == EINTR) {
        }
    }
}

static void on_serving(gpointer data)
{
    Wrap *w = data;

    /* connected: QEMU's closing the connection ends us from now on, after
     * what it said last has reached the clients */
    prctl(PR_SET_PDEATHSIG, 0);
    if (w->daemonize) {
        log_detach();
    }
    tell(w, SAID_SERVING);
    close(w->report);
    w->report = -1;
}

/* QEMU binds its socket before it listens: connect once it answers. */
static gboolean poll_qemu_socket(gpointer data)
{
    Wrap *w = data;
    g_autoptr(GError) error = NULL;

    if (g_file_test(w->private_sock, G_FILE_TEST_EXISTS) && app_connect(w->app, &error)) {
        w->poll_id = 0;
        return G_SOURCE_REMOVE;
    }
    if (w->deadline && g_get_monotonic_time() > w->deadline) {
        g_warning("QEMU did not open its QMP socket: %s",
                  error ? error->message : "it never appeared");
        w->poll_id = 0;
        app_fail(w->app);
        return G_SOURCE_REMOVE;
    }
    return G_SOURCE_CONTINUE;
}

static gboolean on_stop_signal(gpointer data)
{
    Wrap *w = data;

    g_message("signal received; shutting down");
    app_stop(w->app);
    return G_SOURCE_CONTINUE;
}

static gboolean on_sighup(gpointer data)
{
    Wrap *w = data;

    app_reopen_trace(w->app);
    return G_SOURCE_CONTINUE;
}

static int compare_fds(gconstpointer a, gconstpointer b)
{
    return *(const int *)a - *(const int *)b;
}

/* Closes every descriptor above stderr but @keep: what the manager gave
 * QEMU (a pidfile's lock, tap devices) is QEMU's to hold. */
static void close_others(int *keep, guint n)
{
    guint from = STDERR_FILENO + 1;

    qsort(keep, n, sizeof(int), compare_fds);
    for (guint i = 0; i < n; i++) {
        if (keep[i] >= (int)from) {
            if (keep[i] > (int)from) {
                close_range(from, (guint)keep[i] - 1, 0);
            }
            from = (guint)keep[i] + 1;
        }
    }
    close_range(from, ~0U, 0);
}

static int proxy_main(Wrap *w, int passed_fd)
{
    g_autoptr(GError) error = NULL;
    int keep[] = { w->report, passed_fd };
    int null = open("/dev/null", O_RDWR | O_CLOEXEC);

    /* not in the manager's process group (a terminal's ^C is QEMU's) */
    setsid();
    if (null >= 0) {
        dup2(null, STDIN_FILENO);
        dup2(null, STDOUT_FILENO);
        close(null);
    }
    close_others(keep, passed_fd >= 0 ? 2 : 1);
    if (!w->daemonize) {
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        if (getppid() != w->wrapper) {
            return 0; /* it is gone already */
        }
    }
    if (w->log_path && !log_open(w->log_path, &error)) {
        cli_printerr("qmproxy wrap", error->message);
        return 1;
    }
    log_to_caller(w->verbose);
    if (w->verbose) {
        g_log_set_debug_enabled(TRUE);
    }
    signal(SIGPIPE, SIG_IGN);
    w->app = app_new(&w->opts);
    g_unix_signal_add(SIGTERM, on_stop_signal, w);
    g_unix_signal_add(SIGINT, on_stop_signal, w);
    g_unix_signal_add(SIGHUP, on_sighup, w);
    app_on_serving(w->app, on_serving, w);
    if (!app_listen(w->app, &error)) {
        cli_printerr("qmproxy wrap", error->message);
        app_free(w->app);
        return 1;
    }
    tell(w, SAID_LISTENING);
    w->poll_id = g_timeout_add(POLL_MS, poll_qemu_socket, w);

    int status = app_run(w->app);
    g_clear_handle_id(&w->poll_id, g_source_remove);
    /* a QEMU nobody can reach is no use to its manager */
    pid_t qemu = app_qemu_pid(w->app);
    if (status != 0 && qemu > 0) {
        kill(qemu, SIGTERM);
    } else if (status != 0 && !w->daemonize && getppid() == w->wrapper) {
        kill(w->wrapper, SIGTERM);
    }
    app_free(w->app);
    return status;
}

/* ---- the wrapper's process ---- */

/* Waits for the proxy to say @what; FALSE if it exits first, or says
 * nothing within @timeout_s. */
static gboolean await(int fd, char what, guint timeout_s)
{
    GPollFD pfd = { fd, G_IO_IN, 0 };
    gint64 end = g_get_monotonic_time() + (gint64)timeout_s * G_USEC_PER_SEC;
    char c;

    for (;;) {
        gint64 left = (end - g_get_monotonic_time()) / 1000;

        if (left <= 0) {
            return FALSE;
        }
        if (g_poll(&pfd, 1, (gint)MIN(left, G_MAXINT)) < 0 && errno != EINTR) {
            return FALSE;
        }
        if (pfd.revents) {
            ssize_t n = read(fd, &c, 1);

            if (n < 0 && errno == EINTR) {
                continue;
            }
            return n == 1 && c == what;
        }
    }
}

static int exit_status(int wstatus)
{
    if (WIFEXITED(wstatus)) {
        return WEXITSTATUS(wstatus);
    }
    return WIFSIGNALED(wstatus) ? 128 + WTERMSIG(wstatus) : 1;
}

static void stop_proxy(pid_t proxy)
{
    int wstatus;

    kill(proxy, SIGTERM);
    while (waitpid(proxy, &wstatus, 0) < 0 && errno == EINTR) {
    }
}

static int exec_qemu(char **qargs)
{
    execvp(qargs[0], qargs);
    int err = errno;
    g_autofree char *msg = g_strdup_printf("cannot run %s: %s", qargs[0], g_strerror(err));
    cli_printerr("qmproxy wrap", msg);
    return err == ENOENT ? 127 : 126;
}

/* QEMU's -daemonize: its foreground process exits once the daemon runs.
 * It gets every descriptor the manager passed (Kata's taps and vhost
 * descriptors, for -netdev ...,fds=); ours are close-on-exec. */
static int run_daemonized(char **qargs, pid_t proxy, int report, guint timeout_s)
{
    g_autoptr(GError) error = NULL;
    GPid qemu;
    int wstatus;

    if (!g_spawn_async(NULL, qargs, NULL,
                       G_SPAWN_DO_NOT_REAP_CHILD | G_SPAWN_SEARCH_PATH |
                           G_SPAWN_CHILD_INHERITS_STDIN | G_SPAWN_LEAVE_DESCRIPTORS_OPEN,
                       NULL, NULL, &qemu, &error)) {
        cli_printerr("qmproxy wrap", error->message);
        stop_proxy(proxy);
        return 127;
    }
    while (waitpid(qemu, &wstatus, 0) < 0 && errno == EINTR) {
    }
    if (!WIFEXITED(wstatus) || WEXITSTATUS(wstatus) != 0) {
        /* QEMU said why on stderr */
        stop_proxy(proxy);
        return exit_status(wstatus);
    }
    if (!await(report, SAID_SERVING, timeout_s)) {
        cli_printerr("qmproxy wrap", "QEMU daemonized, but the proxy does not serve its monitor");
        stop_proxy(proxy);
        return 1;
    }
    return 0;
}

/* The monitor to stand in front of: --monitor's, or the first QEMU has
 * that is a unix socket or a descriptor; NULL for none. */
static const QemuMonitor *pick_monitor(GPtrArray *monitors, const char *id, GError **error)
{
    for (guint i = 0; i < monitors->len; i++) {
        const QemuMonitor *m = g_ptr_array_index(monitors, i);

        if (id ? (!g_strcmp0(m->chardev, id) || !g_strcmp0(m->mon, id))
               : m->kind != QEMU_MONITOR_OTHER) {
            if (m->kind == QEMU_MONITOR_OTHER) {
                g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                            "--monitor %s: that monitor is not on a unix socket QEMU listens "
                            "on, nor on a descriptor",
                            id);
                return NULL;
            }
            return m;
        }
    }
    if (id) {
        g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                    "--monitor %s: QEMU's arguments have no QMP monitor with that id", id);
    }
    return NULL;
}

/* A descriptor passed for the monitor must be a unix stream socket. */
static gboolean check_passed(int fd, gboolean *listening, GError **error)
{
    struct stat st;
    int type = 0, domain = 0, accept = 0;
    socklen_t len = sizeof(int);

    if (fstat(fd, &st) < 0 || !S_ISSOCK(st.st_mode) ||
        getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &len) < 0 || domain != AF_UNIX ||
        getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0 || type != SOCK_STREAM ||
        getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &accept, &len) < 0) {
        g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                    "QEMU's QMP monitor is descriptor %d, which is %s", fd,
                    fcntl(fd, F_GETFD) < 0 ? "not open" : "not a unix stream socket");
        return FALSE;
    }
    *listening = accept != 0;
    return TRUE;
}

/* The path a unix socket is bound to ("" for none). */
static char *socket_path(int fd)
{
    struct sockaddr_un addr = { 0 };
    socklen_t len = sizeof(addr);

    if (getsockname(fd, (struct sockaddr *)&addr, &len) < 0 ||
        len <= offsetof(struct sockaddr_un, sun_path)) {
        return g_strdup("");
    }
    return g_strndup(addr.sun_path, sizeof(addr.sun_path));
}

/* The QEMU to run when invoked as NAME-qmproxy: --qemu (or the config
 * file's qemu =), else NAME next to us, else NAME on $PATH. */
static char *real_qemu(const char *self, const char *configured)
{
    g_autofree char *base = g_path_get_basename(self);
    g_autofree char *name = g_strndup(base, strlen(base) - strlen("-qmproxy"));
    g_autofree char *dir = g_path_get_dirname(self);
    g_autofree char *beside = g_build_filename(dir, name, NULL);

    if (configured) {
        return g_strdup(configured);
    }
    if (g_file_test(beside, G_FILE_TEST_IS_EXECUTABLE)) {
        return g_steal_pointer(&beside);
    }
    return g_find_program_in_path(name);
}

/* QEMU's command line from ours; NULL (status in @status) if there is none. */
static GPtrArray *qemu_command(Cli *cli, int argc, char **argv, const char *self, int *status)
{
    int options_end = argc;
    g_autoptr(GError) error = NULL;
    g_autoptr(GPtrArray) qemu_argv = g_ptr_array_new_with_free_func(g_free);

    if (self) {
        /* every argument is QEMU's; options come from the config file
         * and $QMPROXY_OPTIONS */
        options_end = 1;
    } else {
        for (int i = 1; i < argc; i++) {
            if (strcmp(argv[i], "--") == 0) {
                options_end = i;
                break;
            }
        }
    }
    if (!cli_parse(cli, TRUE, options_end, argv, &error)) {
        *status = usage(error->message);
        return NULL;
    }
    if (cli->version) {
        g_print("qmproxy %s\n", QMPROXY_VERSION);
        *status = 0;
        return NULL;
    }
    if (!self && options_end + 1 >= argc) {
        *status = usage("no QEMU command after --");
        return NULL;
    }
    if (self) {
        g_autofree char *qemu = real_qemu(self, cli->qemu);

        if (!qemu) {
            *status = usage("cannot find the QEMU to run (set qemu = in the config file)");
            return NULL;
        }
        g_ptr_array_add(qemu_argv, g_steal_pointer(&qemu));
    } else {
        g_ptr_array_add(qemu_argv, g_strdup(argv[options_end + 1]));
    }
    for (int i = self ? 1 : options_end + 2; i < argc; i++) {
        g_ptr_array_add(qemu_argv, g_strdup(argv[i]));
    }
    g_ptr_array_add(qemu_argv, NULL);
    return g_steal_pointer(&qemu_argv);
}

int wrap_main(int argc, char **argv, const char *self)
{
    Cli cli = { 0 };
    Wrap w = { .report = -1 };
    g_autoptr(GError) error = NULL;
    g_autoptr(GPtrArray) qemu_argv = NULL;
    g_autoptr(GPtrArray) monitors = NULL;
    g_autofree char *guest = NULL;
    g_autofree char *dir = NULL;
    g_autofree char *private_text = NULL;
    g_autofree char *shown = NULL;
    gboolean listening = FALSE;
    gboolean forked = FALSE;
    int report[2];
    int status = 2;

    qemu_argv = qemu_command(&cli, argc, argv, self, &status);
    if (!qemu_argv) {
        goto out;
    }
    char **qargs = (char **)qemu_argv->pdata;
    monitors = qemu_args_monitors(qargs);
    const QemuMonitor *m = pick_monitor(monitors, cli.monitor, &error);
    if (error) {
        status = usage(error->message);
        goto out;
    }
    if (!m) {
        /* nothing to stand in front of: QEMU as if run directly */
        status = exec_qemu(qargs);
        goto out;
    }
    guest = qemu_args_name(qargs);
    if (!cli_app_options(&cli, guest, &w.opts, &error)) {
        status = usage(error->message);
        goto out;
    }
    if (m->kind == QEMU_MONITOR_FD && !check_passed(m->fd, &listening, &error)) {
        cli_printerr("qmproxy wrap", error->message);
        status = 1;
        goto out;
    }
    dir = g_dir_make_tmp("qmproxy-wrap-XXXXXX", &error);
    if (!dir) {
        cli_printerr("qmproxy wrap", error->message);
        status = 1;
        goto out;
    }
    w.private_sock = g_build_filename(dir, "qmp.sock", NULL);
    char *rewritten = qemu_args_listen_at(qargs, m, w.private_sock);
    g_free(qargs[m->arg]);
    qargs[m->arg] = rewritten;
    w.opts.core.upstream_path = w.private_sock;
    /* what QEMU would name the monitor's socket in query-chardev */
    private_text = g_strdup(w.private_sock);
    if (m->kind == QEMU_MONITOR_PATH) {
        w.opts.core.listen_path = m->path;
        shown = g_strdup(m->path);
    } else if (listening) {
        w.opts.listen_fd = m->fd;
        shown = socket_path(m->fd);
    } else {
        w.opts.client_fd = m->fd;
        g_free(private_text);
        private_text = g_strconcat(w.private_sock, ",server=on", NULL);
        shown = g_strdup("");
    }
    w.opts.monitor_view.label = m->chardev;
    w.opts.monitor_view.private_text = private_text;
    w.opts.monitor_view.shown = shown;
    w.daemonize = qemu_args_daemonize(qargs);
    w.verbose = cli.verbose;
    w.log_path = cli.log;
    w.wrapper = getpid();
    if (w.daemonize) {
        w.deadline = g_get_monotonic_time() + (gint64)w.opts.core.connect_timeout * G_USEC_PER_SEC;
    }
    if (!g_unix_open_pipe(report, FD_CLOEXEC, &error)) {
        cli_printerr("qmproxy wrap", error->message);
        status = 1;
        goto out;
    }
    pid_t proxy = fork();
    if (proxy < 0) {
        cli_printerr("qmproxy wrap", g_strerror(errno));
        close(report[0]);
        close(report[1]);
        status = 1;
        goto out;
    }
    if (proxy == 0) {
        close(report[0]);
        w.report = report[1];
        status = proxy_main(&w, m->kind == QEMU_MONITOR_FD ? m->fd : -1);
        g_unlink(w.private_sock);
        g_rmdir(dir);
        _exit(status);
    }
    close(report[1]);
    forked = TRUE; /* the private directory is the proxy's to remove */
    if (m->kind == QEMU_MONITOR_FD) {
        close(m->fd); /* the proxy's now: QEMU listens on the private path */
    }
    if (!await(report[0], SAID_LISTENING, w.opts.core.connect_timeout)) {
        /* the proxy said why; QEMU is not started */
        stop_proxy(proxy);
        status = 1;
        goto out;
    }
    if (w.daemonize) {
        status = run_daemonized(qargs, proxy, report[0], w.opts.core.connect_timeout);
    } else {
        status = exec_qemu(qargs);
        stop_proxy(proxy);
    }
    close(report[0]);
out:
    if (dir && !forked) {
        g_rmdir(dir);
    }
    g_free(w.private_sock);
    cli_clear(&cli);
    return status;
}
