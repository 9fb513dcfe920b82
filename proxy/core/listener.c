/* listener.c - the unix socket clients connect to.
 *
 * Created with a restrictive mode (QMP is root-equivalent over the VM);
 * a stale socket file left by a dead process is replaced, a live listener
 * is never stolen from. Each peer's credentials come from SO_PEERCRED and
 * are checked before it sees a single byte. */
#include "core-internal.h"

#include <errno.h>
#include <fcntl.h>
#include <glib-unix.h>
#include <glib/gstdio.h>
#include <stddef.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

/* While out of descriptors the listener is not watched (accept() would
 * fail at once, every time); it is tried again this often. */
#define EMFILE_RETRY_MS 250

struct CoreListener {
    char *path;
    gboolean passed; /* passed by whoever started us, who owns the file */
    dev_t dev;       /* the socket file we made, to remove only it */
    ino_t ino;
    int fd;
    guint watch;
    guint retry;              /* out of descriptors: the timer that watches again */
    gboolean retry_logged;    /* once per episode, until the backlog is empty */
    GArray *allow_uids;       /* of uid_t; empty or NULL: anyone */
    guint *numbers;           /* the core's client numbers, shared by its listeners */
    const CorePolicy *policy; /* what its clients may do; NULL: all */
    CoreAccepted accepted;
    gpointer accepted_data;
};

static gboolean fill_addr(struct sockaddr_un *addr, const char *path, GError **error)
{
    memset(addr, 0, sizeof(*addr));
    addr->sun_family = AF_UNIX;
    if (strlen(path) >= sizeof(addr->sun_path)) {
        g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_NAMETOOLONG,
                    "listen socket path %s is too long (at most %zu bytes)", path,
                    sizeof(addr->sun_path) - 1);
        return FALSE;
    }
    strcpy(addr->sun_path, path);
    return TRUE;
}

/* Removes a socket file nobody listens on; refuses anything else. */
static gboolean clear_stale(const char *path, GError **error)
{
    struct sockaddr_un addr;
    GStatBuf st;

    if (g_lstat(path, &st) < 0) {
        return TRUE; /* nothing there */
    }
    if (!S_ISSOCK(st.st_mode)) {
        g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_EXIST,
                    "%s exists and is not a socket; refusing to replace it", path);
        return FALSE;
    }
    if (!fill_addr(&addr, path, error)) {
        return FALSE;
    }
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(errno), "socket: %s",
                    g_strerror(errno));
        return FALSE;
    }
    int rc = connect(fd, (struct sockaddr *)&addr, sizeof(addr));
    int err = errno;
    close(fd);
    if (rc == 0 || err == EAGAIN) {
        g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_EXIST,
                    "another process is listening on %s; refusing to take it over", path);
        return FALSE;
    }
    if (err != ECONNREFUSED) {
        g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(err), "cannot check %s: %s", path,
                    g_strerror(err));
        return FALSE;
    }
    g_message("replacing stale socket %s", path);
    if (g_unlink(path) < 0 && errno != ENOENT) {
        g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(errno), "cannot remove %s: %s",
                    path, g_strerror(errno));
        return FALSE;
    }
    return TRUE;
}

CoreListener *core_listener_new(const char *path, guint mode, const CorePolicy *policy,
                                GError **error)
{
    struct sockaddr_un addr;

    if (!fill_addr(&addr, path, error) || !clear_stale(path, error)) {
        return NULL;
    }
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(errno), "socket: %s",
                    g_strerror(errno));
        return NULL;
    }
    /* bind() creates the file with the mode the umask leaves: exactly the
     * one asked for. A chmod() by path afterwards could follow a symlink
     * put in its place meanwhile, in a directory others can write to. */
    mode_t old = umask(~mode & 0777);
    int rc = bind(fd, (struct sockaddr *)&addr, sizeof(addr));
    int err = errno;
    umask(old);
    GStatBuf st;
    if (rc == 0 && g_lstat(path, &st) < 0) {
        rc = -1;
        err = errno;
    }
    if (rc < 0 || listen(fd, 64) < 0) {
        err = rc < 0 ? err : errno;
        g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(err), "cannot listen on %s: %s",
                    path, g_strerror(err));
        if (rc == 0) {
            g_unlink(path);
        }
        close(fd);
        return NULL;
    }

    CoreListener *l = g_new0(CoreListener, 1);
    l->path = g_strdup(path);
    l->policy = policy;
    l->dev = st.st_dev;
    l->ino = st.st_ino;
    l->fd = fd;
    return l;
}

static char *peer_exe(pid_t pid)
{
    g_autofree char *link = g_strdup_printf("/proc/%d/exe", (int)pid);
    g_autofree char *target = g_file_read_link(link, NULL);
    g_autofree char *comm_path = g_strdup_printf("/proc/%d/comm", (int)pid);
    g_autofree char *comm = NULL;

    if (target) {
        return g_path_get_basename(target);
    }
    /* another user's process: comm is still readable */
    if (g_file_get_contents(comm_path, &comm, NULL, NULL)) {
        return g_strdup(g_strstrip(comm));
    }
    return g_strdup("?");
}

void core_peer_free(CorePeer *peer)
{
    if (peer) {
        g_free(peer->exe);
        g_free(peer);
    }
}

static gboolean uid_allowed(GArray *allow_uids, uid_t uid)
{
    if (!allow_uids || allow_uids->len == 0) {
        return TRUE;
    }
    for (guint i = 0; i < allow_uids->len; i++) {
        if (g_array_index(allow_uids, uid_t, i) == uid) {
            return TRUE;
        }
    }
    return FALSE;
}

CorePeer *core_peer_new(int fd)
{
    struct ucred cred;
    socklen_t len = sizeof(cred);

    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0) {
        return NULL;
    }
    CorePeer *peer = g_new0(CorePeer, 1);
    peer->pid = cred.pid;
    peer->uid = cred.uid;
    peer->gid = cred.gid;
    peer->exe = peer_exe(cred.pid);
    return peer;
}

static void accept_one(CoreListener *l, int fd)
{
    guint number = (*l->numbers)++;
    g_autoptr(CorePeer) peer = core_peer_new(fd);

    if (!peer) {
        g_warning("client %u: SO_PEERCRED failed (%s); refused", number, g_strerror(errno));
        close(fd);
        return;
    }
    if (!uid_allowed(l->allow_uids, peer->uid)) {
        g_message("client %u refused: pid %d uid %u gid %u (%s) is not an allowed uid", number,
                  (int)peer->pid, (unsigned)peer->uid, (unsigned)peer->gid, peer->exe);
        close(fd);
        return;
    }
    l->accepted(l->accepted_data, number, fd, g_steal_pointer(&peer), l->policy);
}

static gboolean on_accept(int fd, GIOCondition cond, gpointer user_data);

static gboolean retry_accept(gpointer user_data)
{
    CoreListener *l = user_data;

    l->retry = 0;
    l->watch = g_unix_fd_add(l->fd, G_IO_IN, on_accept, l);
    return G_SOURCE_REMOVE;
}

static gboolean on_accept(int fd, GIOCondition cond, gpointer user_data)
{
    CoreListener *l = user_data;

    for (;;) {
        int cfd = accept4(fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);

        if (cfd >= 0) {
            accept_one(l, cfd);
            continue;
        }
        if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
            /* the connection stays in the backlog: stop polling a socket
             * that is always readable, and look again in a while */
            if (!l->retry_logged) {
                g_warning("cannot accept clients on %s: %s; they wait until descriptors are "
                          "freed (trying every %d ms)",
                          l->path, g_strerror(errno), EMFILE_RETRY_MS);
                l->retry_logged = TRUE;
            }
            l->watch = 0;
            l->retry = g_timeout_add(EMFILE_RETRY_MS, retry_accept, l);
            return G_SOURCE_REMOVE;
        }
        if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED) {
            g_warning("accept on %s failed: %s", l->path, g_strerror(errno));
        }
        if (errno == EAGAIN && l->retry_logged) {
            /* the episode is over once no client waits any more */
            g_message("accepting clients on %s again: none is waiting", l->path);
            l->retry_logged = FALSE;
        }
        break;
    }
    return G_SOURCE_CONTINUE;
}

void core_listener_start(CoreListener *l, GArray *allow_uids, guint *numbers, CoreAccepted accepted,
                         gpointer data)
{
    l->allow_uids = allow_uids;
    l->numbers = numbers;
    l->accepted = accepted;
    l->accepted_data = data;
    l->watch = g_unix_fd_add(l->fd, G_IO_IN, on_accept, l);
}

/* systemd's first passed descriptor (sd_listen_fds(3)) */
#define LISTEN_FDS_START 3

CoreListener *core_listener_new_fd(int fd, GError **error)
{
    struct sockaddr_un addr = { 0 };
    socklen_t len = sizeof(addr);
    int listening = 0;
    socklen_t optlen = sizeof(listening);

    if (getsockname(fd, (struct sockaddr *)&addr, &len) < 0 || addr.sun_family != AF_UNIX ||
        getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &optlen) < 0 || !listening) {
        g_set_error(error, CORE_ERROR, CORE_ERROR_INVALID,
                    "descriptor %d is not a listening unix socket", fd);
        return NULL;
    }
    g_unix_set_fd_nonblocking(fd, TRUE, NULL);
    fcntl(fd, F_SETFD, FD_CLOEXEC);

    CoreListener *l = g_new0(CoreListener, 1);
    l->passed = TRUE;
    /* an unnamed socket's path is empty: say which descriptor it is */
    l->path = len > offsetof(struct sockaddr_un, sun_path) && addr.sun_path[0]
                  ? g_strndup(addr.sun_path, sizeof(addr.sun_path))
                  : g_strdup_printf("descriptor %d", fd);
    l->fd = fd;
    return l;
}

/* systemd's first passed descriptor (sd_listen_fds(3)) */
#define LISTEN_FDS_START 3

CoreListener *core_listener_new_activated(GError **error)
{
    g_autofree char *pid = g_strdup(g_getenv("LISTEN_PID"));
    g_autofree char *fds = g_strdup(g_getenv("LISTEN_FDS"));

    if (!pid || !fds || g_ascii_strtoull(pid, NULL, 10) != (guint64)getpid()) {
        return NULL;
    }
    /* not for the children (QEMU under wrap) */
    g_unsetenv("LISTEN_PID");
    g_unsetenv("LISTEN_FDS");
    g_unsetenv("LISTEN_FDNAMES");
    if (strcmp(fds, "1") != 0) {
        g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
                    "systemd passed %s sockets; qmproxy listens on one", fds);
        return NULL;
    }
    CoreListener *l = core_listener_new_fd(LISTEN_FDS_START, NULL);
    if (!l) {
        g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
                    "the socket systemd passed is not a listening unix socket");
    }
    return l;
}

void core_listener_set_policy(CoreListener *l, const CorePolicy *policy)
{
    l->policy = policy;
}

const char *core_listener_path(CoreListener *l)
{
    return l->path;
}

void core_listener_free(CoreListener *l)
{
    if (!l) {
        return;
    }
    g_clear_handle_id(&l->watch, g_source_remove);
    g_clear_handle_id(&l->retry, g_source_remove);
    close(l->fd);
    /* a passed socket outlives us (systemd's: the next proxy takes it
     * over); and whatever another process put at our path is not ours to
     * remove */
    GStatBuf st;
    if (!l->passed && g_lstat(l->path, &st) == 0 && S_ISSOCK(st.st_mode) && st.st_dev == l->dev &&
        st.st_ino == l->ino) {
        g_unlink(l->path);
    }
    g_free(l->path);
    g_free(l);
}
