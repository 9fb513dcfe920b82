/* cli.h - qmproxy's options, from the command line, a config file and
 * the environment, shared by the daemon and "qmproxy wrap". */
#pragma once

#include "app.h"

typedef struct {
    char *upstream;
    char *listen;
    char *socket_mode;
    char **allow_uids;
    char **hotplug_buses;
    gint max_clients;
    gint connect_timeout;
    gint unplug_timeout;
    gint64 queue_max;
    char *trace;
    char *trace_filter;
    char *trace_max;
    char *state;
    gboolean state_reset;
    char *config;
    char **listen_also;
    char *listen_policy;
    char **policy_uids, **policy_gids;
    gboolean print_policy;
    char *log;
    char *qemu;    /* wrap: the real QEMU */
    char *monitor; /* wrap: the QMP monitor to stand in front of */
    gboolean verbose;
    gboolean version;
    GArray *uids;          /* parsed allow_uids */
    char **listen_also_at; /* listen_also with %n filled in, without their policies */
    const CorePolicy **listen_also_policy;
    GPtrArray *policies; /* of CorePolicy: the config file's [policy NAME] groups */
    GArray *peer_rules;  /* of CorePeerRule, from policy_uids and policy_gids */
} Cli;

/* Policy @name: full, read-only or one of the config file's; NULL with
 * @error when there is none of that name. */
const CorePolicy *cli_policy(Cli *cli, const char *name, GError **error);

/* Parses @argc/@argv (program name first) after the config file
 * (--config FILE, $QMPROXY_CONFIG, or /etc/qmproxy.conf when it exists;
 * group [qmproxy], keys named as the long options) and $QMPROXY_OPTIONS,
 * in that order of precedence, last wins. @wrap: the options of "qmproxy
 * wrap" (no --upstream/--listen; --qemu). */
gboolean cli_parse(Cli *cli, gboolean wrap, int argc, char **argv, GError **error);
/* Checks the values and fills @opts (pointing into @cli). @guest: QEMU's
 * -name under wrap (%n in --listen-also), NULL for the daemon. */
gboolean cli_app_options(Cli *cli, const char *guest, AppOptions *opts, GError **error);
/* Prints "@who: @message" on stderr, legible in any locale. */
void cli_printerr(const char *who, const char *message);
void cli_clear(Cli *cli);
