/* qemu-args.h - reading QEMU's command line as QEMU reads it: its QMP
 * monitors, its name, whether it daemonizes; and pointing a monitor at
 * another socket. */
#pragma once

#include <glib.h>

typedef enum {
    QEMU_MONITOR_PATH,  /* a unix socket QEMU listens on, at @path */
    QEMU_MONITOR_FD,    /* a socket passed to QEMU as descriptor @fd */
    QEMU_MONITOR_OTHER, /* what the proxy cannot stand in front of (tcp, stdio, ...) */
} QemuMonitorKind;

typedef struct {
    QemuMonitorKind kind;
    char *chardev; /* its chardev's id (compat_monitorN for -qmp, as QEMU names it) */
    char *mon;     /* the -mon's id=, or NULL */
    guint arg;     /* index in the arguments of its socket's description */
    char *path;
    int fd;
} QemuMonitor;

/* The QMP monitors in @args (QEMU's arguments, its path first), in order. */
GPtrArray *qemu_args_monitors(char *const *args);
/* The guest's name (-name NAME or -name guest=NAME,...), or NULL. */
char *qemu_args_name(char *const *args);
/* Whether QEMU is told to -daemonize. */
gboolean qemu_args_daemonize(char *const *args);
/* @args[@m->arg] rewritten so that QEMU listens on unix socket @path
 * instead (a descriptor's monitor becomes a listening path). */
char *qemu_args_listen_at(char *const *args, const QemuMonitor *m, const char *path);
