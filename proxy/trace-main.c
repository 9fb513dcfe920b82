/* trace-main.c - the qmproxy-trace program ("qmproxy trace" runs it).
 *
 * The trace reader links json-glib and through it GIO, libmount and
 * more; kept out of the daemon, they cost it nothing (about 1.6 MB RSS). */
#include "trace-tool.h"

int main(int argc, char **argv)
{
    return trace_tool_main(argc, argv);
}
