/* fake-qemu.c - the tests' scripted QMP server (fake-qemu.h). */
#include "fake-qemu.h"

#include "harness.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

struct TestFakeQmp {
    int listen_fd;
    char *path;
    char *script; /* or: */
    TestFakeResponder responder;
    gpointer data;
    GThread *thread;
    GMutex lock;
    GPtrArray *received; /* of char *, every request read */
    guint without_id;
    int conn_fd;
    gint stop;
};

/* Sends all of @data; FALSE once the peer is gone. (The fake's thread and
 * test_fake_qmp_send() write under @lock: lines never interleave.) */
static gboolean send_all_unlocked(int fd, const char *data, gsize len)
{
    while (len) {
        ssize_t n = send(fd, data, len, MSG_NOSIGNAL);

        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return FALSE;
        }
        data += n;
        len -= (gsize)n;
    }
    return TRUE;
}

static gboolean send_all_locked(TestFakeQmp *fake, int fd, const char *data, gsize len)
{
    g_mutex_lock(&fake->lock);
    gboolean ok = send_all_unlocked(fd, data, len);
    g_mutex_unlock(&fake->lock);
    return ok;
}

/* Reads more into @in; FALSE on end of input or when told to stop. */
static gboolean read_more(TestFakeQmp *fake, int fd, GString *in)
{
    char buf[65536];

    for (;;) {
        struct pollfd pfd = { fd, POLLIN, 0 };

        if (g_atomic_int_get(&fake->stop)) {
            return FALSE;
        }
        if (poll(&pfd, 1, 100) <= 0) {
            continue;
        }
        ssize_t n = recv(fd, buf, sizeof(buf), 0);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return FALSE;
        }
        g_string_append_len(in, buf, n);
        return TRUE;
    }
}

static void keep(TestFakeQmp *fake, const char *text, gsize len, gboolean has_id)
{
    g_mutex_lock(&fake->lock);
    g_ptr_array_add(fake->received, g_strndup(text, len));
    fake->without_id += !has_id;
    g_mutex_unlock(&fake->lock);
}

static void run_script(TestFakeQmp *fake, int fd)
{
    g_auto(GStrv) steps = g_strsplit(fake->script, "\n", -1);
    g_autoptr(GString) in = g_string_new(NULL);
    g_autofree char *last_id = NULL;

    for (guint i = 0; steps[i]; i++) {
        const char *step = steps[i];

        if (g_str_has_prefix(step, "send ")) {
            g_autofree char *line = g_strconcat(step + 5, "\r\n", NULL);

            if (!send_all_locked(fake, fd, line, strlen(line))) {
                return;
            }
        } else if (g_str_has_prefix(step, "reply ")) {
            g_autoptr(GString) line = g_string_new(NULL);
            TestFakeRequest req = { .id = last_id };

            test_fake_reply(line, &req, step + 6);
            if (!send_all_locked(fake, fd, line->str, line->len)) {
                return;
            }
        } else if (strcmp(step, "recv") == 0) {
            gsize end;

            while (!(end = test_json_object_end(in->str, in->len))) {
                if (!read_more(fake, fd, in)) {
                    return;
                }
            }
            g_free(last_id);
            last_id = test_json_member(in->str, end, "id");
            keep(fake, in->str, end, last_id != NULL);
            g_string_erase(in, 0, (gssize)end);
        } else if (strcmp(step, "close") == 0) {
            return;
        } else if (strcmp(step, "hang") == 0) {
            while (!g_atomic_int_get(&fake->stop)) {
                g_usleep(10000);
            }
        }
    }
}

/* The string value of member @key, unquoted (commands are plain names). */
static char *string_member(const char *text, gsize len, const char *key)
{
    g_autofree char *json = test_json_member(text, len, key);
    gsize n = json ? strlen(json) : 0;

    if (n < 2 || (json[0] != '"' && json[0] != '\'')) {
        return NULL;
    }
    return g_strndup(json + 1, n - 2);
}

static void run_responder(TestFakeQmp *fake, int fd)
{
    g_autoptr(GString) in = g_string_new(NULL);
    g_autoptr(GString) out = g_string_new(NULL);
    g_autofree char *greeting = g_strconcat(TEST_FAKE_GREETING, "\r\n", NULL);

    if (!send_all_locked(fake, fd, greeting, strlen(greeting))) {
        return;
    }
    while (read_more(fake, fd, in)) {
        gsize done = 0, end;

        /* every request read at once is answered before the answers go */
        while ((end = test_json_object_end(in->str + done, in->len - done))) {
            const char *text = in->str + done;
            TestFakeRequest req = { text, end, string_member(text, end, "execute"),
                                    test_json_member(text, end, "id") };
            gboolean go_on;

            if (!req.command) {
                req.command = string_member(text, end, "exec-oob");
            }
            keep(fake, text, end, req.id != NULL);
            go_on = fake->responder(fake, &req, out, fake->data);
            g_free(req.command);
            g_free(req.id);
            if (!go_on) {
                return;
            }
            done += end;
        }
        g_string_erase(in, 0, (gssize)done);
        if (out->len && !send_all_locked(fake, fd, out->str, out->len)) {
            return;
        }
        g_string_truncate(out, 0);
    }
}

static gpointer fake_run(gpointer data)
{
    TestFakeQmp *fake = data;
    int fd = -1;

    while (fd < 0 && !g_atomic_int_get(&fake->stop)) {
        struct pollfd pfd = { fake->listen_fd, POLLIN, 0 };

        if (poll(&pfd, 1, 100) > 0) {
            fd = accept4(fake->listen_fd, NULL, NULL, SOCK_CLOEXEC);
        }
    }
    if (fd < 0) {
        return NULL;
    }
    g_mutex_lock(&fake->lock);
    fake->conn_fd = fd;
    g_mutex_unlock(&fake->lock);
    if (fake->script) {
        run_script(fake, fd);
    } else {
        run_responder(fake, fd);
    }
    g_mutex_lock(&fake->lock);
    close(fd);
    fake->conn_fd = -1;
    g_mutex_unlock(&fake->lock);
    return NULL;
}

static TestFakeQmp *fake_new(const char *path)
{
    TestFakeQmp *fake = g_new0(TestFakeQmp, 1);
    struct sockaddr_un addr = { .sun_family = AF_UNIX };

    g_assert_cmpuint(strlen(path), <, sizeof(addr.sun_path));
    g_mutex_init(&fake->lock);
    fake->received = g_ptr_array_new_with_free_func(g_free);
    fake->path = g_strdup(path);
    fake->conn_fd = -1;
    strcpy(addr.sun_path, path);
    fake->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    g_assert_cmpint(bind(fake->listen_fd, (struct sockaddr *)&addr, sizeof(addr)), ==, 0);
    g_assert_cmpint(listen(fake->listen_fd, 4), ==, 0);
    return fake;
}

TestFakeQmp *test_fake_qmp_start(const char *path, const char *script)
{
    TestFakeQmp *fake = fake_new(path);

    fake->script = g_strdup(script);
    fake->thread = g_thread_new("fake-qmp", fake_run, fake);
    return fake;
}

TestFakeQmp *test_fake_qmp_serve(const char *path, TestFakeResponder responder, gpointer data)
{
    TestFakeQmp *fake = fake_new(path);

    fake->responder = responder;
    fake->data = data;
    fake->thread = g_thread_new("fake-qmp", fake_run, fake);
    return fake;
}

void test_fake_qmp_send(TestFakeQmp *fake, const char *text)
{
    g_autofree char *line = g_strconcat(text, "\r\n", NULL);

    g_mutex_lock(&fake->lock);
    if (fake->conn_fd >= 0) {
        send_all_unlocked(fake->conn_fd, line, strlen(line));
    }
    g_mutex_unlock(&fake->lock);
}

gboolean test_fake_qmp_wait(TestFakeQmp *fake, const char *command, guint n, guint ms)
{
    for (guint waited = 0;; waited += 5) {
        g_autoptr(GPtrArray) got = test_fake_qmp_requests(fake, command);

        if (got->len >= n) {
            return TRUE;
        }
        if (waited >= ms) {
            return FALSE;
        }
        g_usleep(5000);
    }
}

char *test_fake_qmp_received(TestFakeQmp *fake)
{
    g_autoptr(GString) all = g_string_new(NULL);

    g_mutex_lock(&fake->lock);
    for (guint i = 0; i < fake->received->len; i++) {
        g_string_append(all, g_ptr_array_index(fake->received, i));
        g_string_append_c(all, '\n');
    }
    g_mutex_unlock(&fake->lock);
    return g_string_free(g_steal_pointer(&all), FALSE);
}

GPtrArray *test_fake_qmp_requests(TestFakeQmp *fake, const char *command)
{
    GPtrArray *found = g_ptr_array_new_with_free_func(g_free);

    g_mutex_lock(&fake->lock);
    for (guint i = 0; i < fake->received->len; i++) {
        const char *text = g_ptr_array_index(fake->received, i);
        g_autofree char *name = string_member(text, strlen(text), "execute");

        if (g_strcmp0(name, command) == 0) {
            g_ptr_array_add(found, g_strdup(text));
        }
    }
    g_mutex_unlock(&fake->lock);
    return found;
}

guint test_fake_qmp_without_id(TestFakeQmp *fake)
{
    g_mutex_lock(&fake->lock);
    guint n = fake->without_id;
    g_mutex_unlock(&fake->lock);
    return n;
}

void test_fake_qmp_free(TestFakeQmp *fake)
{
    if (!fake) {
        return;
    }
    g_atomic_int_set(&fake->stop, TRUE);
    g_mutex_lock(&fake->lock);
    if (fake->conn_fd >= 0) {
        shutdown(fake->conn_fd, SHUT_RDWR);
    }
    g_mutex_unlock(&fake->lock);
    g_thread_join(fake->thread);
    close(fake->listen_fd);
    g_unlink(fake->path);
    g_ptr_array_unref(fake->received);
    g_mutex_clear(&fake->lock);
    g_free(fake->path);
    g_free(fake->script);
    g_free(fake);
}

void test_fake_reply(GString *out, const TestFakeRequest *req, const char *members)
{
    /* QEMU's QDict order: "id" after "return", before "error" */
    if (!req->id) {
        g_string_append_printf(out, "{%s}\r\n", members);
    } else if (g_str_has_prefix(members, "\"error\"")) {
        g_string_append_printf(out, "{\"id\": %s, %s}\r\n", req->id, members);
    } else {
        g_string_append_printf(out, "{%s, \"id\": %s}\r\n", members, req->id);
    }
}

/* Where the JSON value at @s (@len bytes) ends. */
static gsize value_end(const char *s, gsize len)
{
    TestJsonScan scan = { 0 };

    for (gsize i = 0; i < len; i++) {
        char c = s[i];
        TestJsonByte kind = test_json_scan(&scan, c);

        if (kind == TEST_JSON_CLOSE && scan.depth == 0) {
            return i + 1;
        }
        if (kind != TEST_JSON_TEXT) {
            continue;
        }
        if (scan.depth < 0) {
            return i; /* a scalar ends at its container's end */
        }
        if (scan.depth == 0 && (c == '}' || c == ']')) {
            return i + 1;
        }
        if (scan.depth == 0 && (c == ',' || c == ' ' || c == '\r' || c == '\n' || c == '\t')) {
            return i;
        }
    }
    return len;
}

char *test_json_member(const char *obj, gsize len, const char *key)
{
    TestJsonScan scan = { 0 };
    gsize key_start = 0;
    gsize klen = strlen(key);

    for (gsize i = 0; i < len; i++) {
        TestJsonByte kind = test_json_scan(&scan, obj[i]);

        if (kind == TEST_JSON_OPEN) {
            key_start = i;
        }
        if (kind != TEST_JSON_CLOSE || scan.depth != 1 || i - key_start - 1 != klen ||
            memcmp(obj + key_start + 1, key, klen) != 0) {
            continue;
        }
        /* a key at the top level: followed by ':' */
        gsize j = i + 1;
        while (j < len && obj[j] == ' ') {
            j++;
        }
        if (j < len && obj[j] == ':') {
            for (j++; j < len && obj[j] == ' '; j++) {
            }
            return g_strndup(obj + j, value_end(obj + j, len - j));
        }
    }
    return NULL;
}
