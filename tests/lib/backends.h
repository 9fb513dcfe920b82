/* backends.h - the vhost-user back ends the tests run against: Debian's
 * virtiofsd, DPDK's dpdk-testpmd, and tests/lib/vhost-user-stub.py for
 * what Debian ships no back end of (vhost-user-scsi). Each dies with the
 * test that started it. */
#pragma once

#include <glib.h>

#define TEST_VIRTIOFSD "/usr/lib/qemu/virtiofsd"

typedef struct {
    GPid pid;  /* 0 once it is gone */
    int input; /* its stdin, kept open (testpmd reads commands); -1 */
    char *socket;
} TestBackend;

/* Runs @argv (its output to @socket.log) and waits for it to create
 * @socket; @keep_stdin gives it a pipe for stdin that stays open. */
TestBackend *test_backend_start(const char *const *argv, const char *socket, gboolean keep_stdin);
/* virtiofsd serving directory @share (made if missing) on @socket; one
 * connection, then it exits. NULL when it is not installed. */
TestBackend *test_backend_virtiofsd(const char *socket, const char *share);
/* dpdk-testpmd serving one vhost-user port on @socket, forwarding nothing
 * until told (no core spins). NULL when it is not installed. */
TestBackend *test_backend_testpmd(const char *socket);
/* The stub, as vhost-user back end @kind ("scsi" or "null": see
 * vhost-user-stub.py), on @socket. */
TestBackend *test_backend_stub(const char *socket, const char *kind);
/* Kills it (SIGKILL) and reaps it, if that was not done yet. */
void test_backend_kill(TestBackend *b);
/* Kills it and removes its socket. */
void test_backend_free(TestBackend *b);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(TestBackend, test_backend_free)
