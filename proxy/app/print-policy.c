/* print-policy.c - "qmproxy --print-policy". A command of its own, run
 * instead of the daemon: it asks QEMU with plain blocking calls, each
 * bounded by --connect-timeout. */
#include "print-policy.h"

#include "framer.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

/* The next message from QEMU that is not an event. */
static QmpValue *next_reply(int fd, GString *in, GError **error)
{
    char buf[65536];

    for (;;) {
        char *eol = strstr(in->str, "\r\n");

        if (eol) {
            gsize len = (gsize)(eol - in->str);
            QmpValue *v = qmp_json_parse(in->str, len);

            g_string_erase(in, 0, (gssize)(len + 2));
            if (v && qmp_value_type(v) == QMP_VALUE_DICT && !qmp_value_dict_get(v, "event")) {
                return v;
            }
            qmp_value_unref(v);
            continue;
        }
        ssize_t n = read(fd, buf, sizeof(buf));
        if (n <= 0) {
            g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(n < 0 ? errno : EPIPE),
                        "QEMU %s", n < 0 ? g_strerror(errno) : "closed the connection");
            return NULL;
        }
        g_string_append_len(in, buf, n);
    }
}

static gint by_name(gconstpointer a, gconstpointer b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* QEMU's command names (query-commands), sorted. */
static GPtrArray *qemu_commands(const char *path, guint timeout_s, GError **error)
{
    struct sockaddr_un addr = { .sun_family = AF_UNIX };
    struct timeval tv = { .tv_sec = timeout_s };
    g_autoptr(GString) in = g_string_new(NULL);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

    g_strlcpy(addr.sun_path, path, sizeof(addr.sun_path));
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
        g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(errno), "cannot connect to %s: %s",
                    path, g_strerror(errno));
        close(fd);
        return NULL;
    }
    static const char ask[] = "{\"execute\":\"qmp_capabilities\"}{\"execute\":\"query-commands\"}";
    g_autoptr(QmpValue) greeting = next_reply(fd, in, error);
    g_autoptr(QmpValue) caps = greeting && write(fd, ask, sizeof(ask) - 1) == sizeof(ask) - 1
                                   ? next_reply(fd, in, error)
                                   : NULL;
    g_autoptr(QmpValue) reply = caps ? next_reply(fd, in, error) : NULL;
    close(fd);
    QmpValue *list = reply ? qmp_value_dict_get(reply, "return") : NULL;
    if (!list || qmp_value_type(list) != QMP_VALUE_LIST) {
        if (error && !*error) {
            g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_FAILED,
                        "QEMU did not answer query-commands");
        }
        return NULL;
    }
    GPtrArray *names = g_ptr_array_new_with_free_func(g_free);
    for (guint i = 0; i < qmp_value_list_length(list); i++) {
        const char *name = qmp_value_dict_get_string(qmp_value_list_get(list, i), "name");

        if (name) {
            g_ptr_array_add(names, g_strdup(name));
        }
    }
    g_ptr_array_sort(names, by_name);
    return names;
}

static void print_one(const CorePolicy *p, GPtrArray *commands)
{
    g_autofree char *rules = core_policy_describe(p);

    g_print("policy %s\n", core_policy_name(p));
    if (core_policy_is_full(p)) {
        g_print("  every command\n");
    } else {
        g_auto(GStrv) lines = g_strsplit(rules, "\n", -1);

        for (guint i = 0; lines[i]; i++) {
            g_print("  %s\n", lines[i]);
        }
    }
    if (!commands || core_policy_is_full(p)) {
        return;
    }
    for (guint pass = 0; pass < 2; pass++) {
        gboolean allowed = pass == 0;
        g_autoptr(GString) out = g_string_new(NULL);
        guint n = 0;

        for (guint i = 0; i < commands->len; i++) {
            const char *name = g_ptr_array_index(commands, i);

            if (core_policy_allows(p, name) == allowed) {
                g_string_append_printf(out, " %s", name);
                n++;
            }
        }
        g_print("  of QEMU's, %s %u:%s\n", allowed ? "allows" : "refuses", n, out->str);
    }
}

int print_policy(Cli *cli, const AppOptions *opts)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(GPtrArray) commands = NULL;
    int status = 0;

    if (opts->core.upstream_path &&
        !(commands = qemu_commands(opts->core.upstream_path, opts->core.connect_timeout, &error))) {
        cli_printerr("qmproxy", error->message);
        status = 1;
    }
    print_one(core_policy_full(), commands);
    print_one(core_policy_read_only(), commands);
    for (guint i = 0; i < cli->policies->len; i++) {
        print_one(g_ptr_array_index(cli->policies, i), commands);
    }
    g_print("sockets\n");
    if (opts->core.listen_path) {
        g_print("  %s: %s\n", opts->core.listen_path,
                opts->core.listen_policy ? core_policy_name(opts->core.listen_policy) : "full");
    }
    for (guint i = 0; opts->listen_also && opts->listen_also[i]; i++) {
        g_print("  %s: %s\n", opts->listen_also[i], core_policy_name(opts->listen_also_policy[i]));
    }
    for (guint i = 0; i < cli->peer_rules->len; i++) {
        const CorePeerRule *r = &g_array_index(cli->peer_rules, CorePeerRule, i);

        g_print("%s %u: also %s, on every socket\n", r->gid ? "gid" : "uid", r->id,
                core_policy_name(r->policy));
    }
    return status;
}
