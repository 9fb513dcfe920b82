/* harness.h - real QEMU and a real qmproxy for tests, libqtest-style:
 * start them in a temporary directory, talk QMP, tear down. */
#pragma once

#include <glib.h>
#include <sys/types.h>

typedef struct {
    char *dir; /* temporary directory, removed on free */
    char *qmp; /* QEMU's QMP socket */
    GPid pid;
    gboolean exited;
} TestQemu;

typedef struct {
    char *listen; /* the proxy's socket */
    char *log;    /* its stderr */
    GPid pid;
    int status; /* wait status once reaped */
    gboolean exited;
} TestProxy;

typedef struct {
    int fd;
    GString *in;  /* bytes read and not yet consumed */
    gsize no_eol; /* bytes of @in known to hold no end of line */
} TestClient;

/* Skips the test (exit 77 under meson) when QEMU is not installed. */
void test_require_qemu(void);

/* Starts qemu-system-x86_64 (TCG, -S, -nodefaults) with @extra args
 * (NULL-terminated, may be NULL) and waits for its QMP socket. */
TestQemu *test_qemu_start(const char *const *extra);
/* The same, with a monitor that pretty-prints (-mon ...,pretty=on) when
 * @pretty. */
TestQemu *test_qemu_start_with(const char *const *extra, gboolean pretty);
void test_qemu_kill(TestQemu *q, int sig);
void test_qemu_free(TestQemu *q);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(TestQemu, test_qemu_free)

/* Starts qmproxy in front of @upstream with @extra options and waits until
 * its socket is there (one a killed proxy left: until it is taken over);
 * a client's greeting may still wait for reconciliation. */
TestProxy *test_proxy_start(const char *upstream, const char *dir, const char *const *extra);
/* Starts qmproxy without waiting; for tests of refusals. */
TestProxy *test_proxy_spawn(const char *upstream, const char *listen, const char *const *extra);
/* A child setup for g_spawn_*: the child gets SIGKILL when the test dies,
 * so that nothing a failed test started outlives it. */
void test_die_with_parent(gpointer unused);
/* Starts @argv (the program found on $PATH or given as a path) with its
 * stdout and stderr in @log, followed like a proxy (wait, log, free). */
TestProxy *test_spawn_logged(const char *const *argv, const char *log);
/* Waits up to @timeout_ms for the proxy to exit; FALSE on time-out. */
gboolean test_proxy_wait(TestProxy *p, guint timeout_ms);
/* The proxy's log so far. */
char *test_proxy_log(TestProxy *p);
void test_proxy_free(TestProxy *p);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(TestProxy, test_proxy_free)

/* Connects to a unix socket (retrying up to 5 s); NULL if it never works. */
TestClient *test_client_connect(const char *path);
/* A client on connected socket @fd (taken). */
TestClient *test_client_new(int fd);
void test_client_free(TestClient *c);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(TestClient, test_client_free)
void test_client_send(TestClient *c, const char *data);
void test_client_send_len(TestClient *c, const char *data, gsize len);
/* Sends @data with @fds as SCM_RIGHTS. */
void test_client_send_fds(TestClient *c, const char *data, const int *fds, guint n_fds);
/* Closes the sending side (the peer sees end of input). */
void test_client_shutdown(TestClient *c);
/* Reads one CRLF-terminated line (without it); NULL on EOF or after
 * @timeout_ms. */
char *test_client_recv_line(TestClient *c, guint timeout_ms);
/* Reads lines until one is not an event; events are appended to @events
 * when non-NULL. Fails the test on EOF or time-out. */
char *test_client_recv_reply(TestClient *c, GPtrArray *events);
/* Everything until the peer closes (at most @timeout_ms). */
char *test_client_recv_all(TestClient *c, guint timeout_ms);
/* Reads the greeting and negotiates; returns the greeting line. */
char *test_client_handshake(TestClient *c, const char *caps_json);
/* Sends @cmd and returns the reply line. */
char *test_client_cmd(TestClient *c, const char *cmd);
/* Reads what has arrived, without waiting; returns the complete lines
 * buffered (none consumed). */
guint test_client_lines_ready(TestClient *c);
/* Sends device_del for @id and waits for its reply ({"return": {}}) and
 * for QEMU's DEVICE_DELETED naming the device. */
void test_client_unplug(TestClient *c, const char *id);
/* TRUE when the peer has closed (EOF within @timeout_ms). */
gboolean test_client_wait_eof(TestClient *c, guint timeout_ms);

/* Removes a directory tree (a test's temporary directory). */
void test_rm_rf(const char *path);

/* Replaces event timestamps, which differ between runs, with zeros. */
char *test_mask_timestamps(const char *text);
/* Path of the qmproxy binary under test. */
const char *test_qmproxy_bin(void);

/* Where a scan of JSON text stands: nesting, and the string it is in. */
typedef struct {
    int depth;
    char quote; /* the quote of the string being read, or 0 */
    gboolean escaped;
} TestJsonScan;

typedef enum {
    TEST_JSON_TEXT,  /* a byte outside strings (depth already updated) */
    TEST_JSON_OPEN,  /* the quote that opens a string */
    TEST_JSON_IN,    /* a byte inside a string */
    TEST_JSON_CLOSE, /* the quote that closes it */
} TestJsonByte;

/* Takes the next byte @c of JSON text (QMP's: either quote opens a string). */
TestJsonByte test_json_scan(TestJsonScan *scan, char c);

/* Where the first complete JSON object in @s ends (one past its '}'),
 * counting braces outside strings, as a QMP peer frames input; 0 if the
 * object is not complete yet. Leading bytes before '{' are skipped. */
gsize test_json_object_end(const char *s, gsize len);
