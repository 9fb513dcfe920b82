/* log.h - where the proxy's messages go: stderr (GLib's default), a
 * file (--log), the caller's stderr while "qmproxy wrap" starts, and
 * syslog once a daemonized wrap has let go of the caller. */
#pragma once

#include <glib.h>

/* Appends every message to @path from now on (created 0600). */
gboolean log_open(const char *path, GError **error);
/* Under wrap: the caller's stderr (fd 2) gets warnings, or everything
 * with @verbose; what a file gets is not affected. */
void log_to_caller(gboolean verbose);
/* Lets go of the caller: stdout and stderr become /dev/null (or the log
 * file), and without a file messages go to syslog. */
void log_detach(void);
