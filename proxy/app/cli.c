/* cli.c - options for the daemon and for "qmproxy wrap".
 *
 * A config file and $QMPROXY_OPTIONS are turned into command-line words
 * and parsed by the same GOptionContext as the command line, before it:
 * one parser, one set of messages, and a runtime that starts QEMU itself
 * (Kata) can configure the proxy without touching its own command line. */
#include "cli.h"

#include <errno.h>
#include <string.h>

#define DEFAULT_CONFIG "/etc/qmproxy.conf"

static GOptionEntry *entries_for(Cli *cli, gboolean wrap)
{
    const GOptionEntry all[] = {
        { "upstream", 'u', 0, G_OPTION_ARG_FILENAME, &cli->upstream,
          "QEMU's QMP unix socket (-qmp unix:PATH,server=on,wait=off)", "PATH" },
        { "listen", 'l', 0, G_OPTION_ARG_FILENAME, &cli->listen,
          "The unix socket to create for clients", "PATH" },
        { "listen-also", 0, 0, G_OPTION_ARG_FILENAME_ARRAY, &cli->listen_also,
          "One more unix socket to serve (repeatable; same mode and uid rules as the first), "
          "its clients held to POLICY (default full); under wrap %n is QEMU's -name, %% a %",
          "PATH[:POLICY]" },
        { "listen-policy", 0, 0, G_OPTION_ARG_STRING, &cli->listen_policy,
          "What clients of --listen's socket may do: full (default), read-only, or a [policy "
          "NAME] of the config file",
          "POLICY" },
        { "policy-uid", 0, 0, G_OPTION_ARG_STRING_ARRAY, &cli->policy_uids,
          "Hold peers running as UID to POLICY too, on every socket (repeatable)", "UID:POLICY" },
        { "policy-gid", 0, 0, G_OPTION_ARG_STRING_ARRAY, &cli->policy_gids,
          "Hold peers whose group is GID to POLICY too (repeatable)", "GID:POLICY" },
        { "print-policy", 0, 0, G_OPTION_ARG_NONE, &cli->print_policy,
          "Print the policies, which socket and peer each applies to, and with --upstream "
          "which of QEMU's commands each allows; then exit",
          NULL },
        { "log", 0, 0, G_OPTION_ARG_FILENAME, &cli->log,
          "Append the log to FILE instead of stderr (a daemonized wrap logs to syslog "
          "without it)",
          "FILE" },
        { "monitor", 0, 0, G_OPTION_ARG_STRING, &cli->monitor,
          "wrap: stand in front of QMP monitor ID (a -chardev or -mon id; compat_monitorN for "
          "the Nth -qmp/-monitor) when QEMU has several; default: the first",
          "ID" },
        { "qemu", 0, 0, G_OPTION_ARG_FILENAME, &cli->qemu,
          "wrap: the QEMU binary to run, when the command does not name it", "PATH" },
        { "config", 0, 0, G_OPTION_ARG_FILENAME, &cli->config,
          "Read options from FILE (default " DEFAULT_CONFIG ", or $QMPROXY_CONFIG)", "FILE" },
        { "socket-mode", 0, 0, G_OPTION_ARG_STRING, &cli->socket_mode,
          "Mode of the listening socket, in octal (default 0600)", "MODE" },
        { "allow-uid", 0, 0, G_OPTION_ARG_STRING_ARRAY, &cli->allow_uids,
          "Accept only clients running as UID (repeatable; default: anyone who can open the "
          "socket)",
          "UID" },
        { "max-clients", 0, 0, G_OPTION_ARG_INT, &cli->max_clients,
          "Refuse connections beyond N clients (default 256)", "N" },
        { "client-queue-max", 0, 0, G_OPTION_ARG_INT64, &cli->queue_max,
          "Disconnect a client that leaves more than BYTES unread (default 16 MiB)", "BYTES" },
        { "connect-timeout", 0, 0, G_OPTION_ARG_INT, &cli->connect_timeout,
          "Seconds to wait for QEMU's greeting (default 10)", "SECONDS" },
        { "hotplug-bus", 0, 0, G_OPTION_ARG_STRING_ARRAY, &cli->hotplug_buses,
          "Place PCI devices plugged without bus/addr on this bus (a pci-bridge or "
          "pcie-root-port id; repeatable, tried in order)",
          "ID" },
        { "unplug-timeout", 0, 0, G_OPTION_ARG_INT, &cli->unplug_timeout,
          "Seconds a blockdev-del (chardev-remove, netdev_del, object-del) of a device being "
          "unplugged waits for its DEVICE_DELETED (default 10)",
          "SECONDS" },
        { "state", 0, 0, G_OPTION_ARG_FILENAME, &cli->state,
          "Keep the device manager's table in FILE, written atomically after every change and "
          "reconciled with QEMU at start",
          "FILE" },
        { "state-reset", 0, 0, G_OPTION_ARG_NONE, &cli->state_reset,
          "If the --state file is unusable, move it aside (FILE.bad-TIME) and rebuild the table "
          "from what QEMU has, instead of refusing to start",
          NULL },
        { "trace", 0, 0, G_OPTION_ARG_FILENAME, &cli->trace,
          "Write every message that crosses the proxy to FILE, one JSON object per line "
          "(read it with: qmproxy trace FILE)",
          "FILE" },
        { "trace-filter", 0, 0, G_OPTION_ARG_STRING, &cli->trace_filter,
          "all (default) or hotplug: only hot-plug commands, their replies and events", "WHICH" },
        { "trace-max-size", 0, 0, G_OPTION_ARG_STRING, &cli->trace_max,
          "Rotate the trace (FILE -> FILE.1) when it reaches SIZE (K, M, G suffixes)", "SIZE" },
        { "verbose", 'v', 0, G_OPTION_ARG_NONE, &cli->verbose, "Log every step (debug messages)",
          NULL },
        { "version", 'V', 0, G_OPTION_ARG_NONE, &cli->version, "Print the version and exit", NULL },
        { NULL },
    };
    GArray *out = g_array_new(TRUE, TRUE, sizeof(GOptionEntry));

    for (guint i = 0; all[i].long_name; i++) {
        gboolean daemon_only = !strcmp(all[i].long_name, "upstream") ||
                               !strcmp(all[i].long_name, "listen") ||
                               !strcmp(all[i].long_name, "print-policy");
        gboolean wrap_only =
            !strcmp(all[i].long_name, "qemu") || !strcmp(all[i].long_name, "monitor");

        if ((wrap && !daemon_only) || (!wrap && !wrap_only)) {
            g_array_append_val(out, all[i]);
        }
    }
    return (GOptionEntry *)(void *)g_array_free(out, FALSE);
}

#define POLICY_GROUP "policy "

/* A [policy NAME] group of the config file: allow = and deny = lists. */
static gboolean config_policy(Cli *cli, GKeyFile *kf, const char *group, GError **error)
{
    const char *name = group + strlen(POLICY_GROUP);
    g_auto(GStrv) allow = g_key_file_get_string_list(kf, group, "allow", NULL, NULL);
    g_auto(GStrv) deny = g_key_file_get_string_list(kf, group, "deny", NULL, NULL);
    g_auto(GStrv) keys = g_key_file_get_keys(kf, group, NULL, NULL);

    for (guint i = 0; keys && keys[i]; i++) {
        if (strcmp(keys[i], "allow") != 0 && strcmp(keys[i], "deny") != 0) {
            g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                        "[%s]: unknown key '%s' (allow and deny are)", group, keys[i]);
            return FALSE;
        }
    }
    for (guint i = 0; allow && allow[i]; i++) {
        g_strstrip(allow[i]);
    }
    for (guint i = 0; deny && deny[i]; i++) {
        g_strstrip(deny[i]);
    }
    if (cli_policy(cli, name, NULL)) {
        g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                    "[%s]: there is a policy of that name already", group);
        return FALSE;
    }
    CorePolicy *p =
        core_policy_new(name, (const char *const *)allow, (const char *const *)deny, error);
    if (!p) {
        return FALSE;
    }
    g_ptr_array_add(cli->policies, p);
    return TRUE;
}

/* The config file as "--key=value" words (a list key gives one per item),
 * and its policies. */
static gboolean config_words(Cli *cli, const char *path, gboolean required, GPtrArray *words,
                             GError **error)
{
    g_autoptr(GKeyFile) kf = g_key_file_new();
    g_autoptr(GError) local = NULL;

    if (!g_key_file_load_from_file(kf, path, G_KEY_FILE_NONE, &local)) {
        if (!required && g_error_matches(local, G_FILE_ERROR, G_FILE_ERROR_NOENT)) {
            return TRUE;
        }
        g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_FAILED, "%s: %s", path, local->message);
        return FALSE;
    }
    g_auto(GStrv) groups = g_key_file_get_groups(kf, NULL);
    for (guint i = 0; groups[i]; i++) {
        if (g_str_has_prefix(groups[i], POLICY_GROUP) &&
            !config_policy(cli, kf, groups[i], error)) {
            g_prefix_error(error, "%s: ", path);
            return FALSE;
        }
    }
    g_auto(GStrv) keys = g_key_file_get_keys(kf, "qmproxy", NULL, NULL);
    for (guint i = 0; keys && keys[i]; i++) {
        g_auto(GStrv) values = g_key_file_get_string_list(kf, "qmproxy", keys[i], NULL, NULL);

        for (guint k = 0; values && values[k]; k++) {
            g_ptr_array_add(words, g_strdup_printf("--%s=%s", keys[i], g_strstrip(values[k])));
        }
    }
    return TRUE;
}

const CorePolicy *cli_policy(Cli *cli, const char *name, GError **error)
{
    if (strcmp(name, "full") == 0) {
        return core_policy_full();
    }
    if (strcmp(name, "read-only") == 0) {
        return core_policy_read_only();
    }
    for (guint i = 0; cli->policies && i < cli->policies->len; i++) {
        if (strcmp(core_policy_name(g_ptr_array_index(cli->policies, i)), name) == 0) {
            return g_ptr_array_index(cli->policies, i);
        }
    }
    g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                "no policy named '%s' (full, read-only, or a [policy %s] group in the config file)",
                name, name);
    return NULL;
}

/* --config is needed before parsing: find it among the words. */
static const char *find_config(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (g_str_has_prefix(argv[i], "--config=")) {
            return argv[i] + strlen("--config=");
        }
        if (strcmp(argv[i], "--config") == 0 && i + 1 < argc) {
            return argv[i + 1];
        }
    }
    return NULL;
}

static void free_words(GPtrArray *words)
{
    for (guint i = 0; i < words->len; i++) {
        g_free(g_ptr_array_index(words, i));
    }
}

gboolean cli_parse(Cli *cli, gboolean wrap, int argc, char **argv, GError **error)
{
    g_autofree GOptionEntry *entries = entries_for(cli, wrap);
    g_autoptr(GOptionContext) ctx =
        g_option_context_new(wrap ? "-- QEMU [QEMU ARGUMENTS...]" : "- share one QEMU QMP socket");
    /* GOption rearranges what it parses: free the words from a copy */
    g_autoptr(GPtrArray) words = g_ptr_array_new();
    const char *config = find_config(argc, argv);

    cli->max_clients = 256;
    cli->connect_timeout = 10;
    cli->unplug_timeout = 10;
    cli->queue_max = 16 << 20;

    g_ptr_array_add(words, g_strdup(argv[0]));
    if (!config) {
        config = g_getenv("QMPROXY_CONFIG");
    }
    cli->policies = g_ptr_array_new_with_free_func((GDestroyNotify)core_policy_free);
    if (!config_words(cli, config ? config : DEFAULT_CONFIG, config != NULL, words, error)) {
        free_words(words);
        return FALSE;
    }
    const char *env = g_getenv("QMPROXY_OPTIONS");
    if (env && *env) {
        g_auto(GStrv) env_words = NULL;
        g_autoptr(GError) local = NULL;

        if (!g_shell_parse_argv(env, NULL, &env_words, &local)) {
            g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_FAILED, "$QMPROXY_OPTIONS: %s",
                        local->message);
            free_words(words);
            return FALSE;
        }
        for (guint i = 0; env_words[i]; i++) {
            g_ptr_array_add(words, g_strdup(env_words[i]));
        }
    }
    for (int i = 1; i < argc; i++) {
        g_ptr_array_add(words, g_strdup(argv[i]));
    }
    g_option_context_add_main_entries(ctx, entries, NULL);
    g_option_context_set_description(
        ctx, wrap ? "The proxy stands in front of QEMU's first QMP monitor on a unix socket it "
                    "listens on or on a passed descriptor (-qmp unix:PATH,server=on,..., or "
                    "-chardev socket,id=ID,path=PATH|fd=N with -mon chardev=ID,mode=control), or "
                    "the one --monitor names; other monitors stay QEMU's. With none, QEMU runs "
                    "as if started directly. QEMU keeps the wrapper's pid (with -daemonize, the "
                    "wrapper exits once QEMU has daemonized and the proxy serves).\n\n"
                    "Example:\n  qmproxy wrap --trace /tmp/vm.jsonl -- qemu-system-x86_64 "
                    "-qmp unix:/run/vm/qmp.sock,server=on,wait=off ...\n"
                  : "Example:\n  qmproxy --upstream /run/vm/qmp.sock --listen "
                    "/run/vm/qmp-proxy.sock\n\n"
                    "Reading a trace: qmproxy trace [--summary | --chrome OUT.json | --follow] "
                    "FILE\n"
                    "Running QEMU behind it: qmproxy wrap [OPTIONS] -- QEMU ARGS...\n"
                    "SIGHUP reopens the trace file (for logrotate).\n");

    int n = (int)words->len;
    g_ptr_array_add(words, NULL);
    g_auto(GStrv) keep = g_memdup2(words->pdata, sizeof(char *) * words->len);
    char **v = (char **)words->pdata;
    gboolean ok = g_option_context_parse(ctx, &n, &v, error);

    if (ok && n > 1) {
        g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE, "unexpected argument '%s'",
                    v[1]);
        ok = FALSE;
    }
    return ok;
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

/* A size in bytes, with an optional K, M or G (powers of 1024). */
static gboolean parse_size(const char *opt, const char *text, guint64 *out, GError **error)
{
    char *end;
    /* strtoull takes "-5" and " 5" too, and wraps the former around */
    guint64 n = g_ascii_isdigit(*text) ? g_ascii_strtoull(text, &end, 10) : 0;
    guint shift = 0;

    if (!g_ascii_isdigit(*text)) {
        end = (char *)text;
    }

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

/* A --listen-also path: %n is the guest's name, %% a %. */
static char *expand_listen(const char *tmpl, const char *guest, GError **error)
{
    g_autoptr(GString) out = g_string_new(NULL);

    for (const char *p = tmpl; *p; p++) {
        if (*p != '%') {
            g_string_append_c(out, *p);
        } else if (p[1] == '%') {
            g_string_append_c(out, *++p);
        } else if (p[1] == 'n' && guest && *guest && !strchr(guest, '/')) {
            g_string_append(out, guest);
            p++;
        } else {
            const char *why = p[1] != 'n' ? "only %n (QEMU's -name) and %% may follow a %"
                              : !guest    ? "%n needs QEMU's -name NAME (qmproxy wrap)"
                              : !*guest   ? "%n: QEMU's -name is empty"
                                          : "%n: QEMU's -name has a '/', which a file name cannot";

            g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE, "--listen-also %s: %s",
                        tmpl, why);
            return NULL;
        }
    }
    return g_string_free(g_steal_pointer(&out), FALSE);
}

gboolean cli_app_options(Cli *cli, const char *guest, AppOptions *opts, GError **error)
{
    guint64 n;

    memset(opts, 0, sizeof(*opts));
    opts->listen_fd = -1;
    opts->client_fd = -1;
    g_clear_pointer(&cli->listen_also_at, g_strfreev);
    g_clear_pointer(&cli->listen_also_policy, g_free);
    g_autoptr(GPtrArray) at = g_ptr_array_new_with_free_func(g_free);
    g_autoptr(GPtrArray) held = g_ptr_array_new();
    for (guint i = 0; cli->listen_also && cli->listen_also[i]; i++) {
        const char *spec = cli->listen_also[i];
        const char *colon = strrchr(spec, ':');
        /* PATH:POLICY, where POLICY is no path's last part */
        gboolean named = colon && !strchr(colon, '/');
        g_autofree char *tmpl = named ? g_strndup(spec, (gsize)(colon - spec)) : g_strdup(spec);
        const CorePolicy *policy = named ? cli_policy(cli, colon + 1, error) : core_policy_full();
        char *path = NULL;

        if (!policy) {
            g_prefix_error(error, "--listen-also %s: ", spec);
            return FALSE;
        }
        if (!(path = expand_listen(tmpl, guest, error))) {
            return FALSE;
        }
        g_ptr_array_add(at, path);
        g_ptr_array_add(held, (gpointer)policy);
    }
    g_ptr_array_add(at, NULL);
    cli->listen_also_at = (char **)g_ptr_array_free(g_steal_pointer(&at), FALSE);
    cli->listen_also_policy = (const CorePolicy **)g_ptr_array_free(g_steal_pointer(&held), FALSE);
    opts->listen_also = cli->listen_also_at;
    opts->listen_also_policy = cli->listen_also_policy;
    if (cli->listen_policy &&
        !(opts->core.listen_policy = cli_policy(cli, cli->listen_policy, error))) {
        g_prefix_error(error, "--listen-policy: ");
        return FALSE;
    }
    if (!cli->peer_rules) {
        cli->peer_rules = g_array_new(FALSE, FALSE, sizeof(CorePeerRule));
    }
    g_array_set_size(cli->peer_rules, 0);
    for (guint k = 0; k < 2; k++) {
        char **rules = k ? cli->policy_gids : cli->policy_uids;
        const char *opt = k ? "--policy-gid" : "--policy-uid";

        for (guint i = 0; rules && rules[i]; i++) {
            g_auto(GStrv) parts = g_strsplit(rules[i], ":", 2);
            CorePeerRule rule = { .gid = k == 1 };

            if (!parts[1]) {
                g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                            "%s %s: expected ID:POLICY", opt, rules[i]);
                return FALSE;
            }
            if (!parse_uint(opt, parts[0], 10, G_MAXUINT32 - 1, &n, error) ||
                !(rule.policy = cli_policy(cli, parts[1], error))) {
                g_prefix_error(error, "%s %s: ", opt, rules[i]);
                return FALSE;
            }
            rule.id = (guint32)n;
            g_array_append_val(cli->peer_rules, rule);
        }
    }
    opts->core.peer_rules = cli->peer_rules;
    opts->core.upstream_path = cli->upstream;
    opts->core.listen_path = cli->listen;
    opts->core.socket_mode = 0600;
    if (cli->socket_mode) {
        if (!parse_uint("--socket-mode", cli->socket_mode, 8, 0777, &n, error)) {
            return FALSE;
        }
        opts->core.socket_mode = (guint)n;
    }
    if (!cli->uids) {
        cli->uids = g_array_new(FALSE, FALSE, sizeof(uid_t));
    }
    for (guint i = 0; cli->allow_uids && cli->allow_uids[i]; i++) {
        if (!parse_uint("--allow-uid", cli->allow_uids[i], 10, G_MAXUINT32 - 1, &n, error)) {
            return FALSE;
        }
        uid_t uid = (uid_t)n;
        g_array_append_val(cli->uids, uid);
    }
    opts->core.allow_uids = cli->uids;
    if (cli->max_clients < 1) {
        g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                    "--max-clients must be at least 1");
        return FALSE;
    }
    if (cli->queue_max < 4096) {
        g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                    "--client-queue-max must be at least 4096");
        return FALSE;
    }
    if (cli->connect_timeout < 1 || cli->unplug_timeout < 1) {
        g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE, "%s must be at least 1",
                    cli->connect_timeout < 1 ? "--connect-timeout" : "--unplug-timeout");
        return FALSE;
    }
    opts->core.max_clients = (guint)cli->max_clients;
    opts->core.client_queue_max = (gsize)cli->queue_max;
    opts->core.connect_timeout = (guint)cli->connect_timeout;
    opts->unplug_timeout = (guint)cli->unplug_timeout;
    opts->hotplug_buses = cli->hotplug_buses;
    if (cli->trace_filter && strcmp(cli->trace_filter, "all") != 0 &&
        strcmp(cli->trace_filter, "hotplug") != 0) {
        g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                    "--trace-filter: '%s' is neither all nor hotplug", cli->trace_filter);
        return FALSE;
    }
    if ((cli->trace_filter || cli->trace_max) && !cli->trace) {
        g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                    "--trace-filter and --trace-max-size need --trace FILE");
        return FALSE;
    }
    if (cli->state_reset && !cli->state) {
        g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                    "--state-reset needs --state FILE");
        return FALSE;
    }
    opts->state_path = cli->state;
    opts->state_reset = cli->state_reset;
    opts->trace_path = cli->trace;
    opts->trace_filter =
        g_strcmp0(cli->trace_filter, "hotplug") == 0 ? TRACE_FILTER_HOTPLUG : TRACE_FILTER_ALL;
    if (cli->trace_max &&
        !parse_size("--trace-max-size", cli->trace_max, &opts->trace_max_size, error)) {
        return FALSE;
    }
    return TRUE;
}

void cli_printerr(const char *who, const char *message)
{
    g_autoptr(GString) text = g_string_new(message);

    /* GLib quotes names with U+201C and U+201D, which the C locale shows
     * as '?': an ASCII quote says the same anywhere */
    g_string_replace(text, "\u201c", "\"", 0);
    g_string_replace(text, "\u201d", "\"", 0);
    g_printerr("%s: %s\n", who, text->str);
}

void cli_clear(Cli *cli)
{
    g_free(cli->upstream);
    g_free(cli->listen);
    g_free(cli->socket_mode);
    g_strfreev(cli->allow_uids);
    g_strfreev(cli->hotplug_buses);
    g_free(cli->trace);
    g_free(cli->trace_filter);
    g_free(cli->trace_max);
    g_free(cli->state);
    g_free(cli->config);
    g_free(cli->qemu);
    g_strfreev(cli->listen_also);
    g_strfreev(cli->listen_also_at);
    g_free(cli->listen_also_policy);
    g_free(cli->listen_policy);
    g_strfreev(cli->policy_uids);
    g_strfreev(cli->policy_gids);
    if (cli->policies) {
        g_ptr_array_unref(cli->policies);
    }
    if (cli->peer_rules) {
        g_array_unref(cli->peer_rules);
    }
    g_free(cli->log);
    g_free(cli->monitor);
    if (cli->uids) {
        g_array_unref(cli->uids);
    }
}
