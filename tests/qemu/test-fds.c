/* test-fds.c - file descriptors passed with getfd and add-fd (SCM_RIGHTS)
 * reach QEMU with the command they came with, and only that client's. */
#include "fixture.h"
#include "harness.h"

#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static TestQemu *qemu;
static TestProxy *proxy;

static TestClient *negotiated(void)
{
    TestClient *c = test_fixture_client_at(proxy->listen, NULL);
    return c;
}

/* Whether QEMU holds a descriptor for the pipe @fd belongs to. */
static gboolean qemu_holds(int fd)
{
    struct stat want;
    g_autofree char *dir = g_strdup_printf("/proc/%d/fd", (int)qemu->pid);
    g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
    const char *name;

    g_assert_cmpint(fstat(fd, &want), ==, 0);
    while (d && (name = g_dir_read_name(d))) {
        g_autofree char *path = g_build_filename(dir, name, NULL);
        struct stat st;

        if (stat(path, &st) == 0 && st.st_ino == want.st_ino && st.st_dev == want.st_dev) {
            return TRUE;
        }
    }
    return FALSE;
}

static void test_getfd_closefd(void)
{
    g_autoptr(TestClient) c = negotiated();
    int p[2];

    g_assert_cmpint(pipe(p), ==, 0);
    test_client_send_fds(c, "{\"execute\": \"getfd\", \"arguments\": {\"fdname\": \"fd0\"}}", &p[1],
                         1);
    g_autofree char *r1 = test_client_recv_reply(c, NULL);
    g_assert_cmpstr(r1, ==, "{\"return\": {}}");
    g_assert_true(qemu_holds(p[1]));

    g_autofree char *r2 =
        test_client_cmd(c, "{\"execute\": \"closefd\", \"arguments\": {\"fdname\": \"fd0\"}}");
    g_assert_cmpstr(r2, ==, "{\"return\": {}}");
    g_assert_false(qemu_holds(p[1]));
    g_autofree char *r3 =
        test_client_cmd(c, "{\"execute\": \"closefd\", \"arguments\": {\"fdname\": \"fd0\"}}");
    g_assert_nonnull(strstr(r3, "File descriptor named 'fd0' not found"));
    close(p[0]);
    close(p[1]);
}

static void test_getfd_without_fd(void)
{
    g_autoptr(TestClient) c = negotiated();
    g_autofree char *r =
        test_client_cmd(c, "{\"execute\": \"getfd\", \"arguments\": {\"fdname\": \"x\"}}");

    g_assert_nonnull(strstr(r, "No file descriptor supplied via SCM_RIGHTS"));
}

static void test_add_fd_query_fdsets(void)
{
    g_autoptr(TestClient) c = negotiated();
    int p[2];

    g_assert_cmpint(pipe(p), ==, 0);
    test_client_send_fds(
        c, "{\"execute\": \"add-fd\", \"arguments\": {\"fdset-id\": 7, \"opaque\": \"t\"}}", &p[0],
        1);
    g_autofree char *r1 = test_client_recv_reply(c, NULL);
    g_assert_true(g_str_has_prefix(r1, "{\"return\": {\"fd\": "));
    g_assert_nonnull(strstr(r1, "\"fdset-id\": 7"));
    g_assert_true(qemu_holds(p[0]));

    g_autofree char *r2 = test_client_cmd(c, "{\"execute\": \"query-fdsets\"}");
    g_assert_nonnull(strstr(r2, "\"fdset-id\": 7"));
    g_assert_nonnull(strstr(r2, "\"opaque\": \"t\""));
    g_autofree char *r3 =
        test_client_cmd(c, "{\"execute\": \"remove-fd\", \"arguments\": {\"fdset-id\": 7}}");
    g_assert_cmpstr(r3, ==, "{\"return\": {}}");
    close(p[0]);
    close(p[1]);
}

static void test_fds_stay_with_their_client(void)
{
    g_autoptr(TestClient) a = negotiated();
    g_autoptr(TestClient) b = negotiated();
    int p[2];

    g_assert_cmpint(pipe(p), ==, 0);
    /* a sends a descriptor with a command that does not take it: QEMU
     * would keep it for a's next getfd, never hand it to b */
    test_client_send_fds(a, "{\"execute\": \"query-status\"}", &p[0], 1);
    g_free(test_client_recv_reply(a, NULL));
    g_autofree char *rb =
        test_client_cmd(b, "{\"execute\": \"getfd\", \"arguments\": {\"fdname\": \"b\"}}");
    g_assert_nonnull(strstr(rb, "No file descriptor supplied via SCM_RIGHTS"));
    g_autofree char *ra =
        test_client_cmd(a, "{\"execute\": \"getfd\", \"arguments\": {\"fdname\": \"a\"}}");
    g_assert_cmpstr(ra, ==, "{\"return\": {}}");
    g_assert_true(qemu_holds(p[0]));
    g_free(test_client_cmd(a, "{\"execute\": \"closefd\", \"arguments\": {\"fdname\": \"a\"}}"));
    close(p[0]);
    close(p[1]);
}

static void test_concurrent_getfd(void)
{
    g_autoptr(TestClient) a = negotiated();
    g_autoptr(TestClient) b = negotiated();

    /* QEMU keeps only the latest batch of descriptors: two clients'
     * getfd at once must not swap or drop each other's */
    for (int round = 0; round < 10; round++) {
        int pa[2], pb[2];

        g_assert_cmpint(pipe(pa), ==, 0);
        g_assert_cmpint(pipe(pb), ==, 0);
        test_client_send_fds(a, "{\"execute\": \"getfd\", \"arguments\": {\"fdname\": \"fa\"}}",
                             &pa[1], 1);
        test_client_send_fds(b, "{\"execute\": \"getfd\", \"arguments\": {\"fdname\": \"fb\"}}",
                             &pb[1], 1);
        g_autofree char *ra = test_client_recv_reply(a, NULL);
        g_autofree char *rb = test_client_recv_reply(b, NULL);
        g_assert_cmpstr(ra, ==, "{\"return\": {}}");
        g_assert_cmpstr(rb, ==, "{\"return\": {}}");
        g_assert_true(qemu_holds(pa[1]));
        g_assert_true(qemu_holds(pb[1]));
        /* each name holds its own client's pipe */
        g_free(test_client_cmd(a, "{\"execute\": \"closefd\", \"arguments\": {\"fdname\": "
                                  "\"fa\"}}"));
        g_assert_false(qemu_holds(pa[1]));
        g_assert_true(qemu_holds(pb[1]));
        g_free(test_client_cmd(b, "{\"execute\": \"closefd\", \"arguments\": {\"fdname\": "
                                  "\"fb\"}}"));
        for (int i = 0; i < 2; i++) {
            close(pa[i]);
            close(pb[i]);
        }
    }
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    test_require_qemu();

    qemu = test_qemu_start(NULL);
    proxy = test_proxy_start(qemu->qmp, qemu->dir, NULL);
    g_test_add_func("/fds/getfd-closefd", test_getfd_closefd);
    g_test_add_func("/fds/getfd-without-fd", test_getfd_without_fd);
    g_test_add_func("/fds/add-fd-query-fdsets", test_add_fd_query_fdsets);
    g_test_add_func("/fds/stay-with-their-client", test_fds_stay_with_their_client);
    g_test_add_func("/fds/concurrent-getfd", test_concurrent_getfd);
    int rc = g_test_run();

    test_proxy_free(proxy);
    test_qemu_free(qemu);
    return rc;
}
