/* wrap.c - "qmproxy wrap -- QEMU ARGS...": the proxy in front of a QEMU
 * that a runtime starts itself (Kata's [hypervisor.qemu] path = ...).
 *
 * The QMP socket named in QEMU's arguments becomes the proxy's; QEMU gets
 * a private path instead. The proxy's socket exists before QEMU starts,
 * so a client that connects at once waits in its backlog rather than
 * failing. Everything else passes through: the other arguments, the
 * environment, stdin/stdout/stderr, the signals the wrapper receives, and
 * in the end QEMU's exit status. */
#include "wrap.h"

#include "cli.h"

#include <errno.h>
#include <glib-unix.h>
#include <glib/gstdio.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define POLL_MS 10

typedef struct {
    App *app;
    GPid qemu;
    gboolean qemu_exited;
    int qemu_status;
    char *private_sock;
    gint64 deadline;
    guint poll_id;
    gboolean verbose;
} Wrap;

/* Where QEMU's QMP socket is named, to be pointed elsewhere. */
typedef struct {
    guint arg;      /* index of the argument holding it */
    gsize off, len; /* the path within that argument */
} SocketSpot;

static int usage(const char *msg)
{
    cli_printerr("qmproxy wrap", msg);
    g_printerr("Usage: qmproxy wrap [OPTIONS] -- QEMU [QEMU ARGUMENTS...]\n");
    return 2;
}

/* The value of option @key in a QEMU "k=v,k=v" string, with its place. */
static gboolean opt_value(const char *s, const char *key, gsize *off, gsize *len)
{
    gsize klen = strlen(key);

    for (const char *p = s; p && *p;) {
        const char *comma = strchr(p, ',');
        gsize n = comma ? (gsize)(comma - p) : strlen(p);

        if (n > klen && strncmp(p, key, klen) == 0 && p[klen] == '=') {
            *off = (gsize)(p - s) + klen + 1;
            *len = n - klen - 1;
            return TRUE;
        }
        p = comma ? comma + 1 : NULL;
    }
    return FALSE;
}

static gboolean is_opt(const char *arg, const char *name)
{
    /* QEMU takes -opt and --opt alike */
    return strcmp(arg, name) == 0 || (arg[0] == '-' && strcmp(arg + 1, name) == 0);
}

/* Finds the QMP unix socket in QEMU's arguments: -qmp unix:PATH,...
 * (old and new spellings), or a -chardev socket with path=PATH used by
 * -mon chardev=ID,mode=control. */
static gboolean find_qmp_socket(char **args, SocketSpot *spot, GError **error)
{
    g_autoptr(GHashTable) control = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    guint found = 0;

    for (guint i = 0; args[i] && args[i + 1]; i++) {
        gsize off, len;

        if (is_opt(args[i], "-mon") && opt_value(args[i + 1], "chardev", &off, &len) &&
            strstr(args[i + 1], "mode=control")) {
            g_hash_table_add(control, g_strndup(args[i + 1] + off, len));
        }
    }
    for (guint i = 0; args[i] && args[i + 1]; i++) {
        const char *v = args[i + 1];
        gsize off, len, idoff, idlen;

        if ((is_opt(args[i], "-qmp") || is_opt(args[i], "-qmp-pretty")) &&
            g_str_has_prefix(v, "unix:")) {
            spot->arg = i + 1;
            spot->off = strlen("unix:");
            spot->len = strcspn(v + spot->off, ",");
            found++;
        } else if (is_opt(args[i], "-chardev") && g_str_has_prefix(v, "socket,") &&
                   opt_value(v, "id", &idoff, &idlen)) {
            g_autofree char *id = g_strndup(v + idoff, idlen);

            if (!g_hash_table_contains(control, id)) {
                continue;
            }
            if (opt_value(v, "path", &off, &len)) {
                spot->arg = i + 1;
                spot->off = off;
                spot->len = len;
                found++;
            } else if (opt_value(v, "fd", &off, &len)) {
                g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                            "QEMU's QMP socket is passed as a file descriptor (-chardev %s); "
                            "the proxy cannot stand in front of a socket it cannot name: give "
                            "QEMU path=PATH instead",
                            v);
                return FALSE;
            }
        }
    }
    if (found != 1) {
        g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                    found ? "QEMU has %u QMP unix sockets; qmproxy wrap stands in front of one"
                          : "no QMP unix socket in QEMU's arguments (-qmp unix:PATH,server=on,"
                            "wait=off, or -chardev socket,id=ID,path=PATH,server=on,wait=off with "
                            "-mon chardev=ID,mode=control)",
                    found);
        return FALSE;
    }
    return TRUE;
}

typedef struct {
    Wrap *wrap;
    int signo;
} Forward;

/* What the runtime sends the wrapper is meant for QEMU. */
static gboolean forward_signal(gpointer data)
{
    Forward *f = data;

    if (!f->wrap->qemu_exited) {
        kill(f->wrap->qemu, f->signo);
    }
    return G_SOURCE_CONTINUE;
}

static void on_qemu_exit(GPid pid, gint status, gpointer data)
{
    Wrap *w = data;

    w->qemu_exited = TRUE;
    w->qemu_status = status;
    /* if QEMU died before its socket answered, nothing else will stop us */
    app_stop(w->app);
}

/* QEMU binds its socket before it listens: connect once it answers. */
static gboolean poll_qemu_socket(gpointer data)
{
    Wrap *w = data;
    g_autoptr(GError) error = NULL;

    if (w->qemu_exited) {
        w->poll_id = 0;
        return G_SOURCE_REMOVE;
    }
    if (g_file_test(w->private_sock, G_FILE_TEST_EXISTS) && app_connect(w->app, &error)) {
        w->poll_id = 0;
        return G_SOURCE_REMOVE;
    }
    if (g_get_monotonic_time() > w->deadline) {
        g_printerr("qmproxy wrap: QEMU did not open its QMP socket: %s\n",
                   error ? error->message : "it never appeared");
        w->poll_id = 0;
        app_fail(w->app);
        return G_SOURCE_REMOVE;
    }
    return G_SOURCE_CONTINUE;
}

/* Under wrap the caller sees QEMU's stderr: keep ours to what matters. */
static GLogWriterOutput quiet_writer(GLogLevelFlags level, const GLogField *fields, gsize n,
                                     gpointer data)
{
    Wrap *w = data;

    if (!w->verbose && (level & (G_LOG_LEVEL_MESSAGE | G_LOG_LEVEL_INFO | G_LOG_LEVEL_DEBUG))) {
        return G_LOG_WRITER_HANDLED;
    }
    return g_log_writer_default(level, fields, n, data);
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

int wrap_main(int argc, char **argv, const char *self)
{
    Cli cli = { 0 };
    AppOptions opts;
    g_autoptr(GError) error = NULL;
    g_autoptr(GPtrArray) qemu_argv = g_ptr_array_new_with_free_func(g_free);
    g_autofree char *public = NULL;
    g_autofree char *dir = NULL;
    g_autoptr(GString) arg = NULL;
    SocketSpot spot;
    char **qargs;
    int options_end = argc;
    int status = 2;
    Wrap w = { 0 };

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
        if (options_end == argc || options_end + 1 == argc) {
            return usage("no QEMU command after --");
        }
    }
    if (!cli_parse(&cli, TRUE, options_end, argv, &error) ||
        !cli_app_options(&cli, &opts, &error)) {
        status = usage(error->message);
        goto out;
    }
    if (self) {
        g_autofree char *qemu = real_qemu(self, cli.qemu);

        if (!qemu) {
            status = usage("cannot find the QEMU to run (set qemu = in the config file)");
            goto out;
        }
        g_ptr_array_add(qemu_argv, g_steal_pointer(&qemu));
    } else {
        g_ptr_array_add(qemu_argv, g_strdup(argv[options_end + 1]));
    }
    for (int i = self ? 1 : options_end + 2; i < argc; i++) {
        g_ptr_array_add(qemu_argv, g_strdup(argv[i]));
    }
    g_ptr_array_add(qemu_argv, NULL);

    qargs = (char **)qemu_argv->pdata;
    if (!find_qmp_socket(qargs, &spot, &error)) {
        status = usage(error->message);
        goto out;
    }
    public = g_strndup(qargs[spot.arg] + spot.off, spot.len);
    dir = g_dir_make_tmp("qmproxy-wrap-XXXXXX", &error);
    if (!dir) {
        cli_printerr("qmproxy wrap", error->message);
        status = 1;
        goto out;
    }
    w.private_sock = g_build_filename(dir, "qmp.sock", NULL);
    arg = g_string_new_len(qargs[spot.arg], (gssize)spot.off);
    g_string_append(arg, w.private_sock);
    g_string_append(arg, qargs[spot.arg] + spot.off + spot.len);
    g_free(qargs[spot.arg]);
    qargs[spot.arg] = g_string_free(g_steal_pointer(&arg), FALSE);

    w.verbose = cli.verbose;
    g_log_set_writer_func(quiet_writer, &w, NULL);
    if (cli.verbose) {
        g_log_set_debug_enabled(TRUE);
    }
    opts.core.upstream_path = w.private_sock;
    opts.core.listen_path = public;
    signal(SIGPIPE, SIG_IGN);
    w.app = app_new(&opts);
    /* the proxy's socket first, so no client ever misses it */
    if (!app_listen(w.app, &error)) {
        cli_printerr("qmproxy wrap", error->message);
        status = 1;
        goto out;
    }
    if (!g_spawn_async(NULL, qargs, NULL,
                       G_SPAWN_DO_NOT_REAP_CHILD | G_SPAWN_SEARCH_PATH |
                           G_SPAWN_CHILD_INHERITS_STDIN,
                       app_child_setup, NULL, &w.qemu, &error)) {
        cli_printerr("qmproxy wrap", error->message);
        status = 127;
        goto out;
    }
    g_child_watch_add(w.qemu, on_qemu_exit, &w);
    static const int forwarded[] = { SIGTERM, SIGINT, SIGHUP, SIGUSR1, SIGUSR2 };
    Forward fw[G_N_ELEMENTS(forwarded)];
    for (guint i = 0; i < G_N_ELEMENTS(forwarded); i++) {
        fw[i] = (Forward){ &w, forwarded[i] };
        g_unix_signal_add(forwarded[i], forward_signal, &fw[i]);
    }
    w.deadline = g_get_monotonic_time() + (gint64)opts.core.connect_timeout * G_USEC_PER_SEC;
    w.poll_id = g_timeout_add(POLL_MS, poll_qemu_socket, &w);

    int proxy_status = app_run(w.app);
    g_clear_handle_id(&w.poll_id, g_source_remove);
    if (!w.qemu_exited) {
        if (proxy_status != 0) {
            kill(w.qemu, SIGTERM);
        }
        /* QEMU closed its QMP socket: it is on its way out */
        while (waitpid(w.qemu, &w.qemu_status, 0) < 0 && errno == EINTR) {
        }
        w.qemu_exited = TRUE;
    }
    if (WIFEXITED(w.qemu_status)) {
        status = WEXITSTATUS(w.qemu_status);
    } else if (WIFSIGNALED(w.qemu_status)) {
        status = 128 + WTERMSIG(w.qemu_status);
    } else {
        status = 1;
    }
    if (proxy_status != 0 && status == 0) {
        status = 1;
    }
out:
    app_free(w.app);
    if (w.private_sock) {
        g_unlink(w.private_sock);
        g_autofree char *d = g_path_get_dirname(w.private_sock);
        g_rmdir(d);
    }
    g_free(w.private_sock);
    cli_clear(&cli);
    return status;
}
