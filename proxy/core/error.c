/* error.c - the proxy's own error domain (CORE_ERROR), for what is
 * neither a file's nor GLib's. At the bottom of the core: every file may
 * report with it. */
#include "core-internal.h"

G_DEFINE_QUARK(qmproxy - error - quark, core_error)
