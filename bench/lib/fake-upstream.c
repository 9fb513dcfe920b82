/* fake-upstream.c - a QEMU that answers at once (fake-upstream.h): the
 * tests' scripted server with a responder. */
#include "fake-upstream.h"

#include "fake-qemu.h"

/* QEMU's answer to a second qmp_capabilities, which the proxy relies on
 * to learn that QEMU accepted a client's arguments (see proxy/core/client.c). */
#define CAPS_ALREADY_DONE                                                                          \
    "\"error\": {\"class\": \"CommandNotFound\", \"desc\": \"Capabilities negotiation is already " \
    "complete, command ignored\"}"

struct BenchFakeUpstream {
    TestFakeQmp *fake;
    gint negotiated; /* the proxy's own qmp_capabilities came */
};

static gboolean fake_answer(TestFakeQmp *fake, const TestFakeRequest *req, GString *out,
                            gpointer data)
{
    BenchFakeUpstream *f = data;

    if (!g_atomic_int_get(&f->negotiated)) {
        g_atomic_int_set(&f->negotiated, TRUE);
        test_fake_reply(out, req, "\"return\": {}");
    } else if (g_strcmp0(req->command, "qmp_capabilities") == 0) {
        test_fake_reply(out, req, CAPS_ALREADY_DONE);
    } else {
        test_fake_reply(out, req, "\"return\": {}");
    }
    return TRUE;
}

BenchFakeUpstream *bench_fake_upstream_start(const char *path)
{
    BenchFakeUpstream *f = g_new0(BenchFakeUpstream, 1);

    f->fake = test_fake_qmp_serve(path, fake_answer, f);
    return f;
}

void bench_fake_upstream_stop(BenchFakeUpstream *f)
{
    if (f) {
        test_fake_qmp_free(f->fake);
        g_free(f);
    }
}
