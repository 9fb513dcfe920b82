/* socat.c - socat as a relay in front of QEMU (socat.h). */
#include "socat.h"

#include "error.h"
#include "signals.h"

#include <signal.h>
#include <sys/wait.h>

struct BenchSocat {
    char *path;
    GPid pid;
};

BenchSocat *bench_socat_start(const char *dir, const char *upstream, GError **error)
{
    g_autofree char *socat = g_find_program_in_path("socat");
    g_autoptr(BenchSocat) s = g_new0(BenchSocat, 1);

    if (!socat) {
        g_set_error(error, BENCH_ERROR, 0, "socat is not installed");
        return NULL;
    }
    s->path = g_build_filename(dir, "socat.sock", NULL);
    g_autofree char *listen = g_strdup_printf("UNIX-LISTEN:%s,fork", s->path);
    g_autofree char *connect = g_strdup_printf("UNIX-CONNECT:%s", upstream);
    const char *const argv[] = { socat, listen, connect, NULL };

    if (!g_spawn_async(NULL, (char **)argv, NULL, G_SPAWN_DO_NOT_REAP_CHILD, NULL, NULL, &s->pid,
                       error)) {
        return NULL;
    }
    bench_signals_add_child(s->pid);
    for (guint waited = 0; !g_file_test(s->path, G_FILE_TEST_EXISTS); waited += 10) {
        if (waited > 5000 || bench_signals_stop_requested()) {
            g_set_error(error, BENCH_ERROR, 0, "socat did not create %s", s->path);
            return NULL;
        }
        g_usleep(10000);
    }
    return g_steal_pointer(&s);
}

const char *bench_socat_path(BenchSocat *s)
{
    return s->path;
}

GPid bench_socat_pid(BenchSocat *s)
{
    return s->pid;
}

void bench_socat_stop(BenchSocat *s)
{
    if (!s) {
        return;
    }
    if (s->pid) {
        g_autofree char *path = g_strdup_printf("/proc/%d/task/%d/children", s->pid, s->pid);
        g_autofree char *children = NULL;

        bench_signals_remove_child(s->pid);
        /* its relays first: they are not told when it goes */
        if (g_file_get_contents(path, &children, NULL, NULL)) {
            g_auto(GStrv) pids = g_strsplit(g_strstrip(children), " ", -1);

            for (guint i = 0; pids[i]; i++) {
                if (*pids[i]) {
                    kill((pid_t)g_ascii_strtoll(pids[i], NULL, 10), SIGTERM);
                }
            }
        }
        kill(s->pid, SIGTERM);
        waitpid(s->pid, NULL, 0);
        g_spawn_close_pid(s->pid);
    }
    g_free(s->path);
    g_free(s);
}
