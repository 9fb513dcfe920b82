/* qemu-args.c - QEMU's command line, read with QEMU's own rules.
 *
 * An option's value is a QemuOpts string: "key=value" items separated by
 * commas, a comma inside a value written ",,", a bare "flag" meaning
 * flag=on and "noflag" flag=off, and a first item without '=' standing
 * for the option's implied key (-chardev's backend, -mon's chardev,
 * -name's guest, the path of -qmp's "unix:"). Reading them the same way
 * keeps a path with a comma, or an old spelling like "server,nowait",
 * from being misread as something else. */
#include "qemu-args.h"

#include <string.h>

typedef struct {
    char *key;
    char *value;
    gsize start, len; /* the item's text, for rewriting the others as they were */
    gboolean implied;
} Opt;

static void opt_clear(gpointer data)
{
    Opt *o = data;

    g_free(o->key);
    g_free(o->value);
}

/* A value up to the next lone comma; ",," is a comma. */
static char *read_value(const char *s, gsize *pos)
{
    GString *v = g_string_new(NULL);

    while (s[*pos]) {
        if (s[*pos] == ',') {
            if (s[*pos + 1] != ',') {
                break;
            }
            (*pos)++;
        }
        g_string_append_c(v, s[(*pos)++]);
    }
    return g_string_free(v, FALSE);
}

static GArray *opts_parse(const char *s, const char *implied)
{
    GArray *opts = g_array_new(FALSE, TRUE, sizeof(Opt));
    gsize pos = 0;

    g_array_set_clear_func(opts, opt_clear);
    while (s[pos]) {
        Opt o = { .start = pos };
        gsize n = strcspn(s + pos, "=,");

        if (s[pos + n] == '=') {
            o.key = g_strndup(s + pos, n);
            pos += n + 1;
            o.value = read_value(s, &pos);
        } else if (opts->len == 0 && implied) {
            o.key = g_strdup(implied);
            o.value = read_value(s, &pos);
            o.implied = TRUE;
        } else {
            gboolean no = g_str_has_prefix(s + pos, "no");

            o.key = g_strndup(s + pos + (no ? 2 : 0), n - (no ? 2 : 0));
            o.value = g_strdup(no ? "off" : "on");
            pos += n;
        }
        o.len = pos - o.start;
        g_array_append_val(opts, o);
        if (s[pos] == ',') {
            pos++;
        }
    }
    return opts;
}

/* The last value given for @key (QEMU takes the last), or NULL. */
static const char *opts_get(GArray *opts, const char *key)
{
    for (guint i = opts->len; i-- > 0;) {
        Opt *o = &g_array_index(opts, Opt, i);

        if (strcmp(o->key, key) == 0) {
            return o->value;
        }
    }
    return NULL;
}

static gboolean opts_bool(GArray *opts, const char *key)
{
    static const char *const yes[] = { "on", "yes", "true", "y" };
    const char *v = opts_get(opts, key);

    for (guint i = 0; v && i < G_N_ELEMENTS(yes); i++) {
        if (strcmp(v, yes[i]) == 0) {
            return TRUE;
        }
    }
    return FALSE;
}

/* QEMU takes -opt and --opt alike. */
static gboolean is_opt(const char *arg, const char *name)
{
    return strcmp(arg, name) == 0 || (arg[0] == '-' && strcmp(arg + 1, name) == 0);
}

static void monitor_free(gpointer data)
{
    QemuMonitor *m = data;

    g_free(m->chardev);
    g_free(m->mon);
    g_free(m->path);
    g_free(m);
}

/* What a socket description (-chardev's, or -qmp's after "unix:") says. */
static void socket_kind(QemuMonitor *m, GArray *opts)
{
    const char *path = opts_get(opts, "path");
    const char *fd = opts_get(opts, "fd");
    guint64 n;

    if (path && opts_bool(opts, "server") && !opts_bool(opts, "abstract")) {
        m->kind = QEMU_MONITOR_PATH;
        m->path = g_strdup(path);
    } else if (fd && g_ascii_string_to_unsigned(fd, 10, 0, G_MAXINT, &n, NULL)) {
        m->kind = QEMU_MONITOR_FD;
        m->fd = (int)n;
    }
}

/* The -chardev with id @id: fills in where @m's socket is. */
static void resolve_chardev(char *const *args, QemuMonitor *m)
{
    for (guint i = 1; args[i] && args[i + 1]; i++) {
        if (!is_opt(args[i], "-chardev")) {
            continue;
        }
        g_autoptr(GArray) opts = opts_parse(args[i + 1], "backend");

        if (g_strcmp0(opts_get(opts, "id"), m->chardev) == 0) {
            m->arg = i + 1;
            if (g_strcmp0(opts_get(opts, "backend"), "socket") == 0) {
                socket_kind(m, opts);
            }
        }
        i++;
    }
}

GPtrArray *qemu_args_monitors(char *const *args)
{
    GPtrArray *out = g_ptr_array_new_with_free_func(monitor_free);
    guint compat = 0; /* QEMU numbers -monitor and -qmp chardevs together */

    for (guint i = 1; args[i] && args[i + 1]; i++) {
        const char *v = args[i + 1];

        if (is_opt(args[i], "-monitor")) {
            compat += g_str_has_prefix(v, "none") ? 0 : 1;
        } else if (is_opt(args[i], "-qmp") || is_opt(args[i], "-qmp-pretty")) {
            QemuMonitor *m = g_new0(QemuMonitor, 1);

            m->kind = QEMU_MONITOR_OTHER;
            m->fd = -1;
            m->chardev = g_strdup_printf("compat_monitor%u", compat++);
            m->arg = i + 1;
            if (g_str_has_prefix(v, "unix:")) {
                g_autoptr(GArray) opts = opts_parse(v + strlen("unix:"), "path");

                socket_kind(m, opts);
            }
            g_ptr_array_add(out, m);
        } else if (is_opt(args[i], "-mon")) {
            g_autoptr(GArray) opts = opts_parse(v, "chardev");

            if (g_strcmp0(opts_get(opts, "mode"), "control") == 0 && opts_get(opts, "chardev")) {
                QemuMonitor *m = g_new0(QemuMonitor, 1);

                m->kind = QEMU_MONITOR_OTHER;
                m->fd = -1;
                m->chardev = g_strdup(opts_get(opts, "chardev"));
                m->mon = g_strdup(opts_get(opts, "id"));
                resolve_chardev(args, m);
                g_ptr_array_add(out, m);
            }
        } else {
            continue;
        }
        i++;
    }
    return out;
}

char *qemu_args_name(char *const *args)
{
    char *name = NULL;

    for (guint i = 1; args[i] && args[i + 1]; i++) {
        if (is_opt(args[i], "-name")) {
            g_autoptr(GArray) opts = opts_parse(args[i + 1], "guest");

            g_free(name);
            name = g_strdup(opts_get(opts, "guest"));
            i++;
        }
    }
    return name;
}

gboolean qemu_args_daemonize(char *const *args)
{
    for (guint i = 1; args[i]; i++) {
        if (is_opt(args[i], "-daemonize")) {
            return TRUE;
        }
    }
    return FALSE;
}

static void append_escaped(GString *out, const char *value)
{
    for (const char *p = value; *p; p++) {
        if (*p == ',') {
            g_string_append_c(out, ','); /* QEMU reads ",," as one */
        }
        g_string_append_c(out, *p);
    }
}

char *qemu_args_listen_at(char *const *args, const QemuMonitor *m, const char *path)
{
    const char *arg = args[m->arg];
    gboolean legacy = g_str_has_prefix(arg, "unix:");
    const char *s = legacy ? arg + strlen("unix:") : arg;
    g_autoptr(GArray) opts = opts_parse(s, legacy ? "path" : "backend");
    GString *out = g_string_new(legacy ? "unix:" : NULL);
    gboolean first = TRUE;

    for (guint i = 0; i < opts->len; i++) {
        Opt *o = &g_array_index(opts, Opt, i);
        gboolean is_path = strcmp(o->key, "path") == 0;

        /* a descriptor's socket becomes one QEMU listens on by path */
        if (m->kind == QEMU_MONITOR_FD &&
            (is_path || !strcmp(o->key, "fd") || !strcmp(o->key, "server") ||
             !strcmp(o->key, "wait") || !strcmp(o->key, "reconnect"))) {
            continue;
        }
        g_string_append(out, first ? "" : ",");
        first = FALSE;
        if (is_path) {
            g_string_append(out, o->implied ? "" : "path=");
            append_escaped(out, path);
        } else {
            g_string_append_len(out, s + o->start, (gssize)o->len);
        }
    }
    if (m->kind == QEMU_MONITOR_FD) {
        g_string_append(out, ",path=");
        append_escaped(out, path);
        g_string_append(out, ",server=on,wait=off");
    }
    return g_string_free(out, FALSE);
}
