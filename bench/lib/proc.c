/* proc.c - what /proc says of a process and of the machine (proc.h). */
#include "proc.h"

#include <string.h>

gboolean bench_proc_mem(GPid pid, BenchProcMem *m)
{
    g_autofree char *path = g_strdup_printf("/proc/%d/status", (int)pid);
    g_autofree char *text = NULL;
    static const struct {
        const char *key;
        gsize offset;
    } keys[] = {
        { "VmRSS:", G_STRUCT_OFFSET(BenchProcMem, rss_kb) },
        { "VmHWM:", G_STRUCT_OFFSET(BenchProcMem, hwm_kb) },
        { "RssAnon:", G_STRUCT_OFFSET(BenchProcMem, anon_kb) },
        { "RssFile:", G_STRUCT_OFFSET(BenchProcMem, file_kb) },
    };

    memset(m, 0, sizeof(*m));
    if (!g_file_get_contents(path, &text, NULL, NULL)) {
        return FALSE;
    }
    for (guint i = 0; i < G_N_ELEMENTS(keys); i++) {
        const char *at = strstr(text, keys[i].key);

        if (!at) {
            return FALSE;
        }
        G_STRUCT_MEMBER(guint64, m, keys[i].offset) =
            g_ascii_strtoull(at + strlen(keys[i].key), NULL, 10);
    }
    return TRUE;
}

gboolean bench_proc_cpu_split(GPid pid, guint64 *utime, guint64 *stime)
{
    g_autofree char *path = g_strdup_printf("/proc/%d/stat", (int)pid);
    g_autofree char *text = NULL;

    if (!g_file_get_contents(path, &text, NULL, NULL)) {
        return FALSE;
    }
    /* the command name may hold spaces and parentheses: skip past it */
    const char *p = strrchr(text, ')');
    if (!p) {
        return FALSE;
    }
    g_auto(GStrv) fields = g_strsplit(p + 2, " ", 16);
    /* fields[0] is the state (field 3), so utime (14) and stime (15) */
    if (g_strv_length(fields) < 13) {
        return FALSE;
    }
    *utime = g_ascii_strtoull(fields[11], NULL, 10);
    *stime = g_ascii_strtoull(fields[12], NULL, 10);
    return TRUE;
}

gboolean bench_proc_cpu_ticks(GPid pid, guint64 *ticks)
{
    guint64 utime, stime;

    if (!bench_proc_cpu_split(pid, &utime, &stime)) {
        return FALSE;
    }
    *ticks = utime + stime;
    return TRUE;
}

guint bench_proc_count_sockets(GPid pid)
{
    g_autofree char *path = g_strdup_printf("/proc/%d/fd", (int)pid);
    g_autoptr(GDir) dir = g_dir_open(path, 0, NULL);
    const char *name;
    guint n = 0;

    while (dir && (name = g_dir_read_name(dir))) {
        g_autofree char *fd_path = g_build_filename(path, name, NULL);
        g_autofree char *target = g_file_read_link(fd_path, NULL);

        n += target && g_str_has_prefix(target, "socket:");
    }
    return n;
}

double bench_proc_load_average(void)
{
    g_autofree char *text = NULL;

    if (!g_file_get_contents("/proc/loadavg", &text, NULL, NULL)) {
        return 0;
    }
    return g_ascii_strtod(text, NULL);
}

/* The CPU time of @pid's threads, from their schedstat (nanoseconds,
 * where stat counts ticks of 10 ms). */
static guint64 task_ns(GPid pid)
{
    g_autofree char *path = g_strdup_printf("/proc/%d/task", (int)pid);
    g_autoptr(GDir) dir = g_dir_open(path, 0, NULL);
    const char *name;
    guint64 ns = 0;

    while (dir && (name = g_dir_read_name(dir))) {
        g_autofree char *stat = g_build_filename(path, name, "schedstat", NULL);
        g_autofree char *text = NULL;

        if (g_file_get_contents(stat, &text, NULL, NULL)) {
            ns += g_ascii_strtoull(text, NULL, 10);
        }
    }
    return ns;
}

guint64 bench_proc_cpu_ns_with_children(GPid pid)
{
    g_autofree char *path = g_strdup_printf("/proc/%d/task/%d/children", (int)pid, (int)pid);
    g_autofree char *children = NULL;
    guint64 ns = task_ns(pid);

    if (g_file_get_contents(path, &children, NULL, NULL)) {
        g_auto(GStrv) pids = g_strsplit(g_strstrip(children), " ", -1);

        for (guint i = 0; pids[i]; i++) {
            if (*pids[i]) {
                ns += bench_proc_cpu_ns_with_children((GPid)g_ascii_strtoll(pids[i], NULL, 10));
            }
        }
    }
    return ns;
}
