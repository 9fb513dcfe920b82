/* log.c - the proxy's messages and where they go.
 *
 * One writer decides for every message: the log file if there is one,
 * the caller's stderr (under wrap: a runtime reads QEMU's stderr there,
 * so only warnings unless -v), and syslog once a daemonized wrap has no
 * caller left. Syslog is written on a non-blocking datagram socket, a
 * message dropped rather than the loop held when the log daemon lags;
 * with no /dev/log (no log daemon) nothing is sent. */
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define SYSLOG_PATH "/dev/log"
#define SYSLOG_DAEMON (3 << 3) /* the facility */

static struct {
    gboolean installed;
    int file;         /* the log file, or -1 */
    gboolean caller;  /* stderr is the caller's */
    gboolean verbose; /* ... and gets everything */
    int syslog;       /* the syslog socket, or -1 */
} sink = { FALSE, -1, FALSE, FALSE, -1 };

static void write_all(int fd, const char *text, gsize len)
{
    while (len > 0) {
        ssize_t n = write(fd, text, len);

        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return; /* a log that cannot be written is not worth stopping for */
        }
        text += n;
        len -= (gsize)n;
    }
}

static const char *field(const GLogField *fields, gsize n, const char *key)
{
    for (gsize i = 0; i < n; i++) {
        if (strcmp(fields[i].key, key) == 0) {
            return fields[i].value;
        }
    }
    return NULL;
}

/* The syslog severity of a GLib level, as GLib gives the journal. */
static int severity(GLogLevelFlags level)
{
    if (level & G_LOG_LEVEL_ERROR) {
        return 3;
    }
    if (level & (G_LOG_LEVEL_CRITICAL | G_LOG_LEVEL_WARNING)) {
        return 4;
    }
    if (level & G_LOG_LEVEL_MESSAGE) {
        return 5;
    }
    return level & G_LOG_LEVEL_INFO ? 6 : 7;
}

static void to_syslog(GLogLevelFlags level, const char *message)
{
    g_autofree char *line = g_strdup_printf("<%d>qmproxy[%d]: %s", SYSLOG_DAEMON + severity(level),
                                            (int)getpid(), message);

    send(sink.syslog, line, strlen(line), MSG_DONTWAIT | MSG_NOSIGNAL);
}

static GLogWriterOutput writer(GLogLevelFlags level, const GLogField *fields, gsize n,
                               gpointer data)
{
    const char *domain = field(fields, n, "GLIB_DOMAIN");
    gboolean warning = level & (G_LOG_LEVEL_ERROR | G_LOG_LEVEL_CRITICAL | G_LOG_LEVEL_WARNING);

    if (g_log_writer_default_would_drop(level, domain)) {
        return G_LOG_WRITER_HANDLED;
    }
    g_autofree char *line = g_log_writer_format_fields(level, fields, n, FALSE);
    g_autofree char *text = g_strconcat(line, "\n", NULL);

    if (sink.file >= 0) {
        write_all(sink.file, text, strlen(text));
    }
    if (sink.caller && (warning || sink.verbose)) {
        write_all(STDERR_FILENO, text, strlen(text));
    }
    if (sink.syslog >= 0) {
        const char *message = field(fields, n, "MESSAGE");

        to_syslog(level, message ? message : "");
    }
    return G_LOG_WRITER_HANDLED;
}

static void install(void)
{
    if (!sink.installed) {
        sink.installed = TRUE;
        g_log_set_writer_func(writer, NULL, NULL);
    }
}

gboolean log_open(const char *path, GError **error)
{
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0600);

    if (fd < 0) {
        int err = errno;

        g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(err), "cannot open log %s: %s",
                    path, g_strerror(err));
        return FALSE;
    }
    sink.file = fd;
    install();
    return TRUE;
}

void log_to_caller(gboolean verbose)
{
    sink.caller = TRUE;
    sink.verbose = verbose;
    install();
}

void log_detach(void)
{
    int null = open("/dev/null", O_RDWR | O_CLOEXEC);

    if (null >= 0) {
        dup2(null, STDOUT_FILENO);
        dup2(sink.file >= 0 ? sink.file : null, STDERR_FILENO);
        close(null);
    }
    sink.caller = FALSE;
    if (sink.file < 0) {
        struct sockaddr_un addr = { .sun_family = AF_UNIX, .sun_path = SYSLOG_PATH };
        int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);

        if (fd >= 0 && connect(fd, (struct sockaddr *)&addr, sizeof(addr)) == 0) {
            sink.syslog = fd;
        } else if (fd >= 0) {
            close(fd);
        }
    }
    install();
}
