/* main.c - the qmproxy-trace program ("qmproxy trace" runs it): the
 * command line, and --follow. The reader links json-glib and through it
 * GIO, libmount and more; kept out of the daemon, they cost it nothing
 * (about 1.6 MB RSS). */
#include "trace-reader.h"

#include <errno.h>
#include <glib-unix.h>
#include <locale.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define FOLLOW_POLL_MS 200

/* ---- --follow ---- */

typedef struct {
    Reader *reader;
    GMainLoop *loop;
    int status;
} Follow;

static gboolean follow_stop(gpointer user_data)
{
    g_main_loop_quit(((Follow *)user_data)->loop);
    return G_SOURCE_CONTINUE;
}

static gboolean follow_tick(gpointer user_data)
{
    Follow *f = user_data;
    Reader *r = f->reader;
    g_autoptr(GError) error = NULL;

    if (r->fd >= 0 && reader_read(r, &error) && reader_replaced(r)) {
        /* What was cut off in the old file will never be finished. */
        reader_finish(r);
        close(r->fd);
        r->fd = -1;
        g_printerr("%s: replaced or truncated; reading it from the start\n", r->path);
    }
    /* A failed reopen (the new file not there yet) is tried again next time. */
    if (!error && r->fd < 0 && reader_open(r, NULL)) {
        reader_read(r, &error);
    }
    fflush(stdout);
    if (error) {
        g_printerr("qmproxy trace: %s\n", error->message);
        f->status = 1;
        g_main_loop_quit(f->loop);
    }
    return G_SOURCE_CONTINUE;
}

static int follow(Reader *r)
{
    g_autoptr(GMainLoop) loop = g_main_loop_new(NULL, FALSE);
    Follow f = { .reader = r, .loop = loop };
    guint sources[] = {
        g_unix_signal_add(SIGINT, follow_stop, &f),
        g_unix_signal_add(SIGTERM, follow_stop, &f),
        g_timeout_add(FOLLOW_POLL_MS, follow_tick, &f),
    };

    follow_tick(&f);
    if (f.status == 0) {
        g_main_loop_run(loop);
    }
    for (guint i = 0; i < G_N_ELEMENTS(sources); i++) {
        g_source_remove(sources[i]);
    }
    return f.status;
}

/* ---- the command line ---- */

static const char description[] =
    "Reads a trace written by \"qmproxy --trace FILE\" (docs/trace-format.md).\n"
    "\n"
    "Without options, prints a timeline, one line per record:\n"
    "  time of day (UTC, HH:MM:SS.uuuuuu, from the record's \"time\"),\n"
    "  +delta from the previous record (ms, from \"mono_us\"),\n"
    "  client (#number exe[pid]; - for QEMU's own messages),\n"
    "  direction: C->P client to proxy, P->Q proxy to QEMU, Q->P QEMU to proxy,\n"
    "             P->C proxy to client (arrows when the locale is UTF-8),\n"
    "  kind, command or event name, id=the client's id (JSON), latency of\n"
    "  replies, error class and text, command arguments or event data, and\n"
    "  (by_proxy) on the QMP the proxy sent QEMU itself (device manager).\n"
    "A header line (a proxy started or reopened the file) is shown as a rule.\n"
    "Colours are used only when standard output is a terminal and NO_COLOR is unset.\n"
    "\n"
    "--summary prints these tables:\n"
    "  commands: count, errors, commands without a reply, p50/p99/max latency\n"
    "    (nearest rank) from the proxy>client replies' latency_us, or from the\n"
    "    qemu>proxy ones when the trace has no proxy>client records;\n"
    "  commands the proxy made itself (by_proxy: the device manager's\n"
    "    blockdev-add, device_add, ...), the same figures from the qemu>proxy\n"
    "    replies, when the trace has any;\n"
    "  devices (by device_add's \"id\"): driver, client (\"N via proxy\" when\n"
    "    the proxy sent device_add, or device_del, for client N's request), plug\n"
    "    time (device_add to its reply), unplug time (device_del to QEMU's\n"
    "    DEVICE_DELETED for that id),\n"
    "    state: plugged, add pending, add failed, unplug requested or removed;\n"
    "  clients: number, exe, pid, uid, commands, errors, events received.\n"
    "\n"
    "--chrome OUT.json writes the Chrome Analysis Event format, for\n"
    "https://ui.perfetto.dev or chrome://tracing: one track per client with a\n"
    "span per command, one track per device from device_add to DEVICE_DELETED\n"
    "(or to the end of the trace), QEMU's events as instants, and the commands\n"
    "the proxy made itself on tracks of their own, one per client they served.\n"
    "It can be combined with --summary.\n"
    "\n"
    "--follow prints the timeline and keeps reading as the file grows (every\n"
    "200 ms); when the file is replaced (rotated) or truncated it is read again\n"
    "from the start. Stop it with Ctrl-C (SIGINT) or SIGTERM.\n"
    "\n"
    "A line that cannot be used (not JSON, not an object, a member missing or\n"
    "of the wrong type, a last line cut short) is reported on standard error as\n"
    "FILE:LINE: REASON and skipped; members this reader does not know are\n"
    "ignored, and records of a later format version are read as version 1.\n"
    "\n"
    "Exit status: 0 when FILE was read, even if some lines were skipped;\n"
    "1 when FILE cannot be opened or read, or OUT.json cannot be written;\n"
    "2 for bad usage.\n";

/* After the whole file is read: the summary and/or the Chrome file. */
static int report(Analysis *t, const char *path, const Style *style, gboolean summary,
                  const char *chrome)
{
    g_autoptr(GError) error = NULL;
    guint n = 0;

    analysis_run(t);
    if (summary) {
        summary_print(t, path, style);
    }
    if (chrome && !chrome_write(t, chrome, &n, &error)) {
        g_printerr("qmproxy trace: cannot write %s: %s\n", chrome, error->message);
        return 1;
    }
    if (chrome) {
        g_print("%s: %u trace events (open it in https://ui.perfetto.dev or chrome://tracing)\n",
                chrome, n);
    }
    return 0;
}

static int run(const char *path, const Style *style, gboolean summary, const char *chrome,
               gboolean follow_mode)
{
    gboolean timeline_only = !summary && !chrome;
    Timeline timeline = { .style = style };
    g_autoptr(GError) error = NULL;
    Analysis trace;
    Reader reader;
    int status = 1;

    analysis_init(&trace);
    reader_init(&reader, path, timeline_only ? timeline_print : analysis_add_record,
                timeline_only ? (gpointer)&timeline : (gpointer)&trace);
    if (!reader_open(&reader, &error)) {
        g_printerr("qmproxy trace: %s\n", error->message);
    } else if (follow_mode) {
        status = follow(&reader);
    } else if (!reader_read(&reader, &error)) {
        g_printerr("qmproxy trace: %s\n", error->message);
    } else {
        reader_finish(&reader);
        if (reader.bad) {
            g_printerr("%s: %u of %u lines could not be read and were skipped\n", path, reader.bad,
                       reader.line);
        }
        status = timeline_only ? 0 : report(&trace, path, style, summary, chrome);
    }
    reader_clear(&reader);
    analysis_clear(&trace);
    return status;
}

int main(int argc, char **argv)
{
    gboolean summary = FALSE, follow_mode = FALSE;
    g_autofree char *chrome = NULL;
    GOptionEntry entries[] = {
        { "summary", 's', 0, G_OPTION_ARG_NONE, &summary,
          "Per-command, per-device and per-client tables instead of the timeline", NULL },
        { "chrome", 'c', 0, G_OPTION_ARG_FILENAME, &chrome,
          "Write the Chrome Analysis Event format (Perfetto UI, chrome://tracing) to OUT.json",
          "OUT.json" },
        { "follow", 'f', 0, G_OPTION_ARG_NONE, &follow_mode,
          "Print the timeline and keep reading as FILE grows", NULL },
        { NULL },
    };
    g_autoptr(GOptionContext) ctx = g_option_context_new("FILE - read a qmproxy trace");
    g_autoptr(GError) error = NULL;
    Style style;

    setlocale(LC_ALL, "");
    g_set_prgname("qmproxy trace");
    g_option_context_add_main_entries(ctx, entries, NULL);
    g_option_context_set_description(ctx, description);
    if (!g_option_context_parse(ctx, &argc, &argv, &error)) {
        g_printerr("qmproxy trace: %s (see qmproxy trace --help)\n", error->message);
        return 2;
    }
    if (argc != 2) {
        g_printerr("qmproxy trace: %s (see qmproxy trace --help)\n",
                   argc < 2 ? "no trace FILE given" : "only one trace FILE can be read");
        return 2;
    }
    if (follow_mode && (summary || chrome)) {
        g_printerr("qmproxy trace: --follow prints the timeline; it cannot be combined with "
                   "--summary or --chrome\n");
        return 2;
    }
    style.color = isatty(STDOUT_FILENO) && !g_getenv("NO_COLOR");
    style.utf8 = g_get_charset(NULL);
    return run(argv[1], &style, summary, chrome, follow_mode);
}
