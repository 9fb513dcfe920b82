/* backends.c - vhost-user back ends for the tests (see backends.h). */
#include "backends.h"

#include "harness.h"

#include <fcntl.h>
#include <glib/gstdio.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

TestBackend *test_backend_start(const char *const *argv, const char *socket, gboolean keep_stdin)
{
    TestBackend *b = g_new0(TestBackend, 1);
    g_autoptr(GError) error = NULL;
    g_autofree char *log = g_strconcat(socket, ".log", NULL);
    int log_fd = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

    g_assert_cmpint(log_fd, >=, 0);
    b->socket = g_strdup(socket);
    b->input = -1;
    g_spawn_async_with_pipes_and_fds(NULL, argv, NULL,
                                     G_SPAWN_DO_NOT_REAP_CHILD | G_SPAWN_SEARCH_PATH,
                                     test_die_with_parent, NULL, -1, log_fd, log_fd, NULL, NULL, 0,
                                     &b->pid, keep_stdin ? &b->input : NULL, NULL, NULL, &error);
    g_assert_no_error(error);
    close(log_fd);
    for (guint waited = 0; !g_file_test(socket, G_FILE_TEST_EXISTS); waited += 10) {
        if (waited >= 10000) {
            g_autofree char *text = NULL;

            g_file_get_contents(log, &text, NULL, NULL);
            g_error("%s did not create %s: %s", argv[0], socket, text ? text : "");
        }
        g_usleep(10000);
    }
    return b;
}

TestBackend *test_backend_virtiofsd(const char *socket, const char *share)
{
    g_autofree char *opt_socket = g_strconcat("--socket-path=", socket, NULL);
    g_autofree char *opt_source = g_strconcat("source=", share, NULL);
    const char *const argv[] = {
        TEST_VIRTIOFSD,         opt_socket, "-o", opt_source, "-o", "cache=auto",
        "--thread-pool-size=2", NULL
    };

    if (!g_file_test(TEST_VIRTIOFSD, G_FILE_TEST_IS_EXECUTABLE)) {
        return NULL;
    }
    g_mkdir(share, 0755);
    return test_backend_start(argv, socket, FALSE);
}

TestBackend *test_backend_testpmd(const char *socket)
{
    g_autofree char *bin = g_find_program_in_path("dpdk-testpmd");
    g_autofree char *vdev = g_strdup_printf("net_vhost0,iface=%s,client=0", socket);
    /* DPDK's run-time files are per prefix: one per test process */
    g_autofree char *prefix = g_strdup_printf("--file-prefix=qmproxy-%d", (int)getpid());

    if (!bin) {
        return NULL;
    }
    const char *const argv[] = { bin,
                                 "--no-huge",
                                 "-m",
                                 "256",
                                 "--no-pci",
                                 prefix,
                                 "-l",
                                 "0,1",
                                 "--vdev",
                                 vdev,
                                 "--",
                                 "-i",
                                 "--total-num-mbufs=4096",
                                 NULL };
    return test_backend_start(argv, socket, TRUE);
}

TestBackend *test_backend_stub(const char *socket, const char *kind)
{
    g_autofree char *script =
        g_build_filename(g_getenv("QMPROXY_TEST_LIB"), "vhost-user-stub.py", NULL);
    const char *const argv[] = { "python3", script, "--socket", socket, "--kind", kind, NULL };

    return test_backend_start(argv, socket, FALSE);
}

void test_backend_kill(TestBackend *b)
{
    if (b->pid) {
        kill(b->pid, SIGKILL);
        waitpid(b->pid, NULL, 0);
        g_spawn_close_pid(b->pid);
        b->pid = 0;
    }
}

void test_backend_free(TestBackend *b)
{
    if (!b) {
        return;
    }
    test_backend_kill(b);
    if (b->input >= 0) {
        close(b->input);
    }
    g_unlink(b->socket);
    g_free(b->socket);
    g_free(b);
}
