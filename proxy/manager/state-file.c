/* state-file.c - the device table on disk.
 *
 * A crash may come at any instant, so the file is never written in
 * place: the new table goes to a temporary file in the same directory,
 * which is synced, renamed over the old one, and the directory synced.
 * A reader sees the old table or the new one, never a mix.
 *
 * fsync can take milliseconds, which the main loop must not spend: each
 * write runs on the file's one worker thread (a GThreadPool of one) and
 * reports back through an idle callback. Changes made while a write is
 * under way are merged into the next one, which snapshots the table when
 * it starts.
 *
 * (GLib's g_file_set_contents_full() with CONSISTENT | DURABLE syncs the
 * file and its directory as write_durably() does, but names its temporary
 * file FILE.XXXXXX: the clean-up of what a crash left could not tell that
 * from a user's FILE.backup. Ours are hidden: .FILE.XXXXXX.) */
#include "state-file.h"

#include "core.h"

#include "framer.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

typedef struct {
    StateSaved done;
    gpointer data;
} Waiter;

struct StateFile {
    gint refs; /* the owner's, and one per write under way */
    char *path;
    StateSnapshot snapshot;
    gpointer data;
    gboolean closed;
    gboolean writing;
    gboolean dirty;  /* changes made since the last write started */
    gboolean failed; /* the last write failed: the disk is behind */
    GArray *pending; /* of Waiter, for the next write */
    GThreadPool *worker;
};

typedef struct {
    StateFile *sf;
    GString *text;
    GArray *waiters;
    GError *error;
} Write;

static void state_file_unref(StateFile *sf)
{
    if (g_atomic_int_dec_and_test(&sf->refs)) {
        g_array_unref(sf->pending);
        g_free(sf->path);
        g_free(sf);
    }
}

/* The file's text; NULL with @error, or (no file) without. The messages
 * are ours: GLib's quote the path with typographic quotes, which the C
 * locale prints as '?'. */
static char *read_all(const char *path, gsize *len, GError **error)
{
    g_autoptr(GString) text = g_string_new(NULL);
    char buf[65536];
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    if (fd < 0) {
        if (errno != ENOENT) {
            g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(errno),
                        "cannot read state file %s: %s", path, g_strerror(errno));
        }
        return NULL;
    }
    for (;;) {
        ssize_t n = read(fd, buf, sizeof(buf));

        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            int err = errno;

            close(fd);
            g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(err),
                        "cannot read state file %s: %s", path, g_strerror(err));
            return NULL;
        }
        if (n == 0) {
            break;
        }
        g_string_append_len(text, buf, n);
    }
    close(fd);
    *len = text->len;
    return g_string_free(g_steal_pointer(&text), FALSE);
}

char *state_file_resolve(const char *path, GError **error)
{
    g_autofree char *at = g_strdup(path);

    /* as the kernel does, up to 40 links */
    for (guint hops = 0; hops < 40; hops++) {
        GStatBuf st;

        if (g_lstat(at, &st) < 0 || !S_ISLNK(st.st_mode)) {
            if (hops) {
                g_message("state file %s is a symbolic link: the table is written to %s", path, at);
            }
            return g_steal_pointer(&at);
        }
        g_autofree char *target = g_file_read_link(at, NULL);
        if (!target) {
            g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(errno),
                        "cannot read the symbolic link %s: %s", at, g_strerror(errno));
            return NULL;
        }
        if (!g_path_is_absolute(target)) {
            g_autofree char *dir = g_path_get_dirname(at);
            g_autofree char *relative = g_steal_pointer(&target);

            target = g_build_filename(dir, relative, NULL);
        }
        g_free(at);
        at = g_steal_pointer(&target);
    }
    g_set_error(error, CORE_ERROR, CORE_ERROR_INVALID,
                "state file %s: too many levels of symbolic links", path);
    return NULL;
}

QmpValue *state_file_load(const char *path, GError **error)
{
    GError *read_error = NULL;
    gsize len = 0;
    g_autofree char *text = read_all(path, &len, &read_error);

    if (!text) {
        if (read_error) {
            g_propagate_error(error, read_error);
        }
        return NULL;
    }
    if (len == 0) {
        g_set_error(error, CORE_ERROR, CORE_ERROR_INVALID, "state file %s is empty", path);
        return NULL;
    }
    g_autoptr(QmpValue) state = qmp_json_parse(text, len);
    QmpValue *version = state && qmp_value_type(state) == QMP_VALUE_DICT
                            ? qmp_value_dict_get(state, "version")
                            : NULL;
    QmpValue *devices = version ? qmp_value_dict_get(state, "devices") : NULL;
    if (!version || qmp_value_type(version) != QMP_VALUE_INT || qmp_value_get_int(version) < 1 ||
        !devices || qmp_value_type(devices) != QMP_VALUE_LIST) {
        g_set_error(error, CORE_ERROR, CORE_ERROR_INVALID,
                    "state file %s is corrupt or truncated (not a qmproxy device table)", path);
        return NULL;
    }
    if (qmp_value_get_int(version) > STATE_FORMAT_VERSION) {
        g_set_error(error, CORE_ERROR, CORE_ERROR_INVALID,
                    "state file %s has format version %" G_GINT64_FORMAT
                    ", written by a newer qmproxy (this one reads up to %d)",
                    path, qmp_value_get_int(version), STATE_FORMAT_VERSION);
        return NULL;
    }
    return g_steal_pointer(&state);
}

char *state_file_move_aside(const char *path, GError **error)
{
    g_autoptr(GDateTime) now = g_date_time_new_now_utc();
    g_autofree char *stamp = g_date_time_format(now, "%Y%m%dT%H%M%S");

    /* link() never replaces: an earlier bad file of the same second stays */
    for (guint n = 0; n < 1000; n++) {
        g_autofree char *aside = n ? g_strdup_printf("%s.bad-%s.%u", path, stamp, n)
                                   : g_strdup_printf("%s.bad-%s", path, stamp);

        if (link(path, aside) == 0) {
            unlink(path);
            return g_steal_pointer(&aside);
        }
        if (errno != EEXIST) {
            break;
        }
    }
    int saved = errno;
    g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(saved), "cannot move %s aside: %s",
                path, g_strerror(saved));
    return NULL;
}

/* Temporary files a crash left behind (".BASE.XXXXXX"). */
static void remove_leftovers(const char *path)
{
    g_autofree char *dir = g_path_get_dirname(path);
    g_autofree char *base = g_path_get_basename(path);
    g_autofree char *prefix = g_strdup_printf(".%s.", base);
    g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
    const char *name;

    while (d && (name = g_dir_read_name(d))) {
        if (g_str_has_prefix(name, prefix) && strlen(name) == strlen(prefix) + 6) {
            g_autofree char *leftover = g_build_filename(dir, name, NULL);

            g_message("removing %s, left by an interrupted write", leftover);
            unlink(leftover);
        }
    }
}

StateFile *state_file_new(const char *path, StateSnapshot snapshot, gpointer data)
{
    StateFile *sf = g_new0(StateFile, 1);

    remove_leftovers(path);
    sf->refs = 1;
    sf->path = g_strdup(path);
    sf->snapshot = snapshot;
    sf->data = data;
    sf->pending = g_array_new(FALSE, FALSE, sizeof(Waiter));
    return sf;
}

static gboolean write_durably(const char *path, const GString *text, GError **error);

void state_file_free(StateFile *sf)
{
    if (!sf) {
        return;
    }
    /* a clean stop leaves every change on disk: the write under way ends,
     * then what came after it is written here */
    if (sf->worker) {
        g_thread_pool_free(g_steal_pointer(&sf->worker), FALSE, TRUE);
    }
    /* (a write that was under way may have failed: it is not known yet) */
    if (sf->dirty || sf->failed || sf->writing) {
        g_autoptr(GString) text = sf->snapshot(sf->data);
        g_autoptr(GError) error = NULL;

        if (!write_durably(sf->path, text, &error)) {
            g_warning("%s", error->message);
        }
    }
    sf->closed = TRUE;
    state_file_unref(sf);
}

static gboolean write_durably(const char *path, const GString *text, GError **error)
{
    g_autofree char *dir = g_path_get_dirname(path);
    g_autofree char *base = g_path_get_basename(path);
    g_autofree char *tmp = g_strdup_printf("%s/.%s.XXXXXX", dir, base);
    const char *what = "create a temporary file for";
    int fd = g_mkstemp_full(tmp, O_WRONLY | O_CLOEXEC, 0600);
    gboolean created = fd >= 0;
    gsize off = 0;

    if (fd < 0) {
        goto fail;
    }
    what = "write";
    while (off < text->len) {
        ssize_t n = write(fd, text->str + off, text->len - off);

        if (n < 0 && errno != EINTR) {
            goto fail;
        }
        off += n > 0 ? (gsize)n : 0;
    }
    if (fsync(fd) < 0) {
        goto fail;
    }
    if (close(fd) < 0) {
        fd = -1;
        goto fail;
    }
    fd = -1;
    what = "replace";
    if (rename(tmp, path) < 0) {
        goto fail;
    }
    /* the rename itself must survive a crash; if that cannot be made sure
     * the new table is in place all the same: calling the save failed
     * would roll memory back to a table the file no longer holds */
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0 || fsync(dfd) < 0) {
        g_warning("cannot sync directory %s after replacing %s: %s", dir, path, g_strerror(errno));
    }
    if (dfd >= 0) {
        close(dfd);
    }
    return TRUE;

fail : {
    int saved = errno;

    if (fd >= 0) {
        close(fd);
    }
    if (created) {
        unlink(tmp);
    }
    g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(saved), "cannot %s %s: %s", what, path,
                g_strerror(saved));
    return FALSE;
}
}

static void start_write(StateFile *sf);

static gboolean write_done(gpointer data)
{
    Write *w = data;
    StateFile *sf = w->sf;

    sf->writing = FALSE;
    sf->failed = w->error != NULL;
    if (w->error && !sf->closed) {
        /* the waiters say what failed; a save nobody waits for is only logged */
        g_warning("%s", w->error->message);
    }
    for (guint i = 0; !sf->closed && i < w->waiters->len; i++) {
        Waiter *waiter = &g_array_index(w->waiters, Waiter, i);

        waiter->done(waiter->data, w->error);
    }
    /* a waiter may have started the next write already: never two at once,
     * or an older table could be renamed over a newer one */
    if (!sf->closed && sf->dirty && !sf->writing) {
        start_write(sf);
    }
    g_clear_error(&w->error);
    g_string_free(w->text, TRUE);
    g_array_unref(w->waiters);
    g_free(w);
    state_file_unref(sf);
    return G_SOURCE_REMOVE;
}

static void write_one(gpointer data, gpointer unused)
{
    Write *w = data;

    write_durably(w->sf->path, w->text, &w->error);
    g_idle_add(write_done, w);
}

static void start_write(StateFile *sf)
{
    Write *w = g_new0(Write, 1);

    if (!sf->worker) {
        sf->worker = g_thread_pool_new(write_one, NULL, 1, FALSE, NULL);
    }
    g_atomic_int_inc(&sf->refs);
    w->sf = sf;
    w->text = sf->snapshot(sf->data);
    w->waiters = sf->pending;
    sf->pending = g_array_new(FALSE, FALSE, sizeof(Waiter));
    sf->dirty = FALSE;
    sf->writing = TRUE;
    g_thread_pool_push(sf->worker, w, NULL);
}

void state_file_save(StateFile *sf, StateSaved done, gpointer data)
{
    if (done) {
        Waiter waiter = { done, data };

        g_array_append_val(sf->pending, waiter);
    }
    sf->dirty = TRUE;
    if (!sf->writing) {
        start_write(sf);
    }
}
