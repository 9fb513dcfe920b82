/* fake-qemu.h - the tests' one scripted QMP server, for what a real QEMU
 * cannot do on demand: die mid-command, send garbage or nothing, hold an
 * answer until told, answer at once as fast as it can, or refuse just
 * what a test needs refused. It listens on a unix socket, takes one
 * connection, and frames what it reads as QEMU does (JSON objects, no
 * newlines promised). Two ways to drive it:
 *
 *   a script: one step a line, "send TEXT" (CRLF added), "recv" (read one
 *   request), "reply MEMBERS" (answer the last one read, with its id: see
 *   test_fake_reply()), "close", "hang" (keep the connection, send
 *   nothing);
 *
 *   a responder: it greets as QEMU 7.2 with OOB, and every request it
 *   reads goes to a function that writes the answer (and any event).
 *
 * It runs in a thread of its own. */
#pragma once

#include <glib.h>

/* The greeting of a QEMU 7.2 with OOB. */
#define TEST_FAKE_GREETING                                                                         \
    "{\"QMP\": {\"version\": {\"qemu\": {\"micro\": 0, \"minor\": 2, \"major\": 7}, \"package\": " \
    "\"\"}, \"capabilities\": [\"oob\"]}}"

typedef struct TestFakeQmp TestFakeQmp;

/* A request the responder got: its text, its command, its id's text
 * (NULL when it has none). */
typedef struct {
    const char *text;
    gsize len;
    char *command;
    char *id;
} TestFakeRequest;

/* Writes the answer to @req into @out (replies and events, each line
 * CRLF-terminated; see test_fake_reply()); FALSE closes the connection
 * at once instead, as a QEMU dying mid-command. Runs on the fake's
 * thread; @out goes out once every request read at once is answered. */
typedef gboolean (*TestFakeResponder)(TestFakeQmp *fake, const TestFakeRequest *req, GString *out,
                                      gpointer data);

/* A fake on @path driven by @script. */
TestFakeQmp *test_fake_qmp_start(const char *path, const char *script);
/* A fake on @path answering with @responder. */
TestFakeQmp *test_fake_qmp_serve(const char *path, TestFakeResponder responder, gpointer data);
/* Sends @text (CRLF added) now, unasked: an event. */
void test_fake_qmp_send(TestFakeQmp *fake, const char *text);
/* Waits up to @ms until the fake has read @n requests for @command. */
gboolean test_fake_qmp_wait(TestFakeQmp *fake, const char *command, guint n, guint ms);
/* Every request the fake read, one a line, as sent. */
char *test_fake_qmp_received(TestFakeQmp *fake);
/* The requests for @command it read, as sent (of char *). */
GPtrArray *test_fake_qmp_requests(TestFakeQmp *fake, const char *command);
/* How many requests it read that had no id. */
guint test_fake_qmp_without_id(TestFakeQmp *fake);
void test_fake_qmp_free(TestFakeQmp *fake);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(TestFakeQmp, test_fake_qmp_free)

/* Appends QEMU's reply to @req with @members ("\"return\": {}", or
 * "\"error\": {...}"), its id where QEMU puts it, or none without one. */
void test_fake_reply(GString *out, const TestFakeRequest *req, const char *members);
/* The text of member @key of the JSON object @obj (@len bytes), located
 * at its top level; NULL when absent. */
char *test_json_member(const char *obj, gsize len, const char *key);
