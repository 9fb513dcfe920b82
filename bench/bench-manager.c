/* bench-manager.c - what the device manager's API costs: attach and
 * detach of a virtio-scsi disk with __org.qmproxy_device-attach/-detach,
 * against the same QMP sequence the proxy sends, sent straight to an
 * identical QEMU and sent as plain QMP through the proxy (the proxy's
 * transport alone). With --state, also the API through a proxy that
 * persists its state (--state FILE).
 *
 * Run on demand, not as a meson test: ./build/bench/bench-manager [--quick].
 * Every figure is measured on this machine in this run; those with a
 * target end in PASS or MISSED, and nothing is tuned to make them pass. */
#include "harness.h"
#include "lib/proc.h"
#include "lib/qmp.h"
#include "lib/signals.h"
#include "lib/stats.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define QEMU_BIN "qemu-system-x86_64"
#define REPLY_TIMEOUT_MS 30000
#define WARMUP 20
#define BLOCK 5
#define FILE_SIZE (1024 * 1024)

typedef enum { RUN_DIRECT, RUN_PLAIN, RUN_API, RUN_STATE, N_RUNS } Run;

static const char *const run_names[N_RUNS] = { "direct to QEMU", "plain QMP via proxy",
                                               "API via proxy", "API via proxy --state" };
static const char *const id_prefix[N_RUNS] = { "dir", "pla", NULL, NULL };

typedef struct {
    TestQemu *qemu;
    TestProxy *proxy; /* NULL for the direct run */
    TestClient *c;
    GArray *attach, *detach, *both; /* microseconds, gint64 */
    GArray *deleted;                /* device_del sent to DEVICE_DELETED (plain QMP) */
    guint next_id;
} Path;

static struct {
    char *dir;
    Path path[N_RUNS];
    gboolean enabled[N_RUNS];
    gint cycles;
    gboolean quick;
} B;

/* ---- never leave a paused QEMU or a proxy behind ------------------------ */

/* Stops a proxy with SIGTERM; says so when it does not end cleanly. */
static void stop_proxy(TestProxy *p, const char *label)
{
    kill(p->pid, SIGTERM);
    if (!test_proxy_wait(p, 10000)) {
        g_print("  WARNING: proxy (%s) did not exit within 10 s of SIGTERM; killed\n", label);
        kill(p->pid, SIGKILL);
        waitpid(p->pid, &p->status, 0);
        p->exited = TRUE;
    } else if (!WIFEXITED(p->status) || WEXITSTATUS(p->status) != 0) {
        g_print("  WARNING: proxy (%s) ended with wait status %d on SIGTERM\n", label, p->status);
    }
}

/* Prints the proxy's log lines that are more than routine. */
static void show_proxy_log(TestProxy *p, const char *label)
{
    g_autofree char *log = test_proxy_log(p);
    g_auto(GStrv) lines = g_strsplit(log, "\n", -1);

    for (guint i = 0; lines[i]; i++) {
        if (strstr(lines[i], "WARNING") || strstr(lines[i], "CRITICAL") ||
            strstr(lines[i], "ERROR") || strstr(lines[i], "Sanitizer")) {
            g_print("  proxy log (%s): %s\n", label, lines[i]);
        }
    }
}

static void cleanup(void)
{
    for (guint r = 0; r < N_RUNS; r++) {
        Path *p = &B.path[r];

        g_clear_pointer(&p->c, test_client_free);
        if (p->proxy && r != RUN_PLAIN) { /* the plain run shares the API's proxy and QEMU */
            stop_proxy(p->proxy, run_names[r]);
            show_proxy_log(p->proxy, run_names[r]);
            test_proxy_free(p->proxy);
        }
        if (p->qemu && r != RUN_PLAIN) {
            test_qemu_free(p->qemu);
        }
        p->proxy = NULL;
        p->qemu = NULL;
    }
    if (B.dir) {
        test_rm_rf(B.dir);
        g_clear_pointer(&B.dir, g_free);
    }
}

static G_NORETURN G_GNUC_PRINTF(1, 2) void fail(const char *fmt, ...)
{
    va_list ap;
    g_autofree char *msg = NULL;

    va_start(ap, fmt);
    msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    g_print("\nFAILED: %s\n", msg);
    cleanup();
    exit(1);
}

/* ---- a blocking QMP client ---------------------------------------------- */

static gboolean is_event(const char *line)
{
    return g_str_has_prefix(line, "{\"timestamp\"");
}

static gboolean is_deleted(const char *line, const char *id)
{
    g_autofree char *want = g_strdup_printf("\"device\": \"%s\"", id);

    return is_event(line) && strstr(line, "\"DEVICE_DELETED\"") && strstr(line, want);
}

static char *recv_line(Path *p, const char *cmd)
{
    char *line = test_client_recv_line(p->c, REPLY_TIMEOUT_MS);

    if (!line) {
        fail("%s: nothing within %d s after\n  -> %s", run_names[p - B.path],
             REPLY_TIMEOUT_MS / 1000, cmd);
    }
    return line;
}

/* Sends @cmd and returns its reply, which must be a success; events that
 * come first are skipped, and one reporting @deleted_id's DEVICE_DELETED
 * sets *@deleted. */
static char *execute(Path *p, const char *cmd, const char *deleted_id, gboolean *deleted)
{
    test_client_send(p->c, cmd);
    for (;;) {
        char *line = recv_line(p, cmd);

        if (!is_event(line)) {
            if (!g_str_has_prefix(line, "{\"return\"")) {
                fail("%s:\n  -> %s\n  <- %s", run_names[p - B.path], cmd, line);
            }
            return line;
        }
        if (deleted_id && is_deleted(line, deleted_id)) {
            *deleted = TRUE;
        }
        g_free(line);
    }
}

static void connect_path(Path *p, const char *socket, const char *caps)
{
    p->c = test_client_connect(socket);
    if (!p->c) {
        fail("cannot connect to %s", socket);
    }
    g_autofree char *greeting = recv_line(p, "(connecting; waiting for the greeting)");
    if (!g_str_has_prefix(greeting, "{\"QMP\": ")) {
        fail("%s greeted with: %s", socket, greeting);
    }
    g_free(execute(p, strstr(greeting, "\"oob\"") ? caps : BENCH_QMP_CAPS_PLAIN, NULL, NULL));
}

/* ---- one attach+detach cycle -------------------------------------------- */

static void record(Path *p, gint64 t0, gint64 t1, gint64 t2)
{
    gint64 a = t1 - t0, d = t2 - t1, both = t2 - t0;

    g_array_append_val(p->attach, a);
    g_array_append_val(p->detach, d);
    g_array_append_val(p->both, both);
}

/* The sequence proxy/manager.c sends for a virtio-scsi device, as plain
 * QMP: blockdev-add, device_add; device_del, its reply and DEVICE_DELETED,
 * blockdev-del. */
static void plain_cycle(Path *p, const char *file, gboolean timed)
{
    g_autofree char *id = g_strdup_printf("%s%u", id_prefix[p - B.path], p->next_id++);
    g_autofree char *add = g_strdup_printf(
        "{\"execute\": \"blockdev-add\", \"arguments\": {\"driver\": \"file\", \"node-name\": "
        "\"drive-%s\", \"read-only\": false, \"filename\": \"%s\"}}",
        id, file);
    g_autofree char *dev = g_strdup_printf(
        "{\"execute\": \"device_add\", \"arguments\": {\"driver\": \"scsi-hd\", \"id\": \"%s\", "
        "\"bus\": \"scsi0.0\", \"scsi-id\": 0, \"lun\": 0, \"drive\": \"drive-%s\"}}",
        id, id);
    g_autofree char *del =
        g_strdup_printf("{\"execute\": \"device_del\", \"arguments\": {\"id\": \"%s\"}}", id);
    g_autofree char *bdel = g_strdup_printf(
        "{\"execute\": \"blockdev-del\", \"arguments\": {\"node-name\": \"drive-%s\"}}", id);
    gboolean deleted = FALSE;

    gint64 t0 = g_get_monotonic_time();
    g_free(execute(p, add, NULL, NULL));
    g_free(execute(p, dev, NULL, NULL));
    gint64 t1 = g_get_monotonic_time();
    g_free(execute(p, del, id, &deleted));
    while (!deleted) {
        g_autofree char *line = recv_line(p, del);

        if (!is_event(line)) {
            fail("%s: unexpected reply while waiting for DEVICE_DELETED of %s: %s",
                 run_names[p - B.path], id, line);
        }
        deleted = is_deleted(line, id);
    }
    gint64 gone = g_get_monotonic_time() - t1;
    g_free(execute(p, bdel, NULL, NULL));
    gint64 t2 = g_get_monotonic_time();
    if (timed) {
        record(p, t0, t1, t2);
        g_array_append_val(p->deleted, gone);
    }
}

static char *manager_cmd(const char *name, const char *id)
{
    return g_strdup_printf("{\"execute\": \"__org.qmproxy_device-%s\", \"arguments\": {\"id\": "
                           "\"%s\"}}",
                           name, id);
}

/* device-new and device-remove untimed; device-attach and device-detach
 * timed. */
static void api_cycle(Path *p, const char *file, gboolean timed)
{
    g_autofree char *create =
        g_strdup_printf("{\"execute\": \"__org.qmproxy_device-new\", \"arguments\": {\"driver\": "
                        "\"virtio-scsi\", \"path\": \"%s\"}}",
                        file);
    g_autofree char *reply = execute(p, create, NULL, NULL);
    const char *at = strstr(reply, "\"id\": \"");

    if (!at) {
        fail("%s: no id in the reply\n  -> %s\n  <- %s", run_names[p - B.path], create, reply);
    }
    at += strlen("\"id\": \"");
    g_autofree char *id = g_strndup(at, strcspn(at, "\""));
    g_autofree char *attach = manager_cmd("attach", id);
    g_autofree char *detach = manager_cmd("detach", id);
    g_autofree char *drop = manager_cmd("remove", id);

    gint64 t0 = g_get_monotonic_time();
    g_free(execute(p, attach, NULL, NULL));
    gint64 t1 = g_get_monotonic_time();
    g_free(execute(p, detach, NULL, NULL));
    gint64 t2 = g_get_monotonic_time();
    g_free(execute(p, drop, NULL, NULL));
    if (timed) {
        record(p, t0, t1, t2);
    }
}

/* Events meant for the other client of the same proxy wait unread: read
 * them before the clock starts. */
static void drain(Path *p)
{
    for (guint n = test_client_lines_ready(p->c); n > 0; n--) {
        g_free(test_client_recv_line(p->c, 0));
    }
}

static void cycle(Run r, guint n, gboolean timed)
{
    g_autofree char *file = g_strdup_printf("%s/disk-%u-%u.raw", B.dir, r, n);

    if (bench_signals_stop_requested()) {
        fail("interrupted");
    }
    drain(&B.path[r]);

    if (r == RUN_DIRECT || r == RUN_PLAIN) {
        plain_cycle(&B.path[r], file, timed);
    } else {
        api_cycle(&B.path[r], file, timed);
    }
}

/* ---- set-up, figures ---------------------------------------------------- */

static void create_files(guint per_run)
{
    for (guint r = 0; r < N_RUNS; r++) {
        for (guint n = 0; B.enabled[r] && n < per_run; n++) {
            g_autofree char *file = g_strdup_printf("%s/disk-%u-%u.raw", B.dir, r, n);
            int fd = open(file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

            if (fd < 0 || ftruncate(fd, FILE_SIZE) != 0) {
                fail("cannot create %s: %s", file, g_strerror(errno));
            }
            close(fd);
        }
    }
}

static void start_path(Run r, const char *const *proxy_extra)
{
    static const char *const qemu_extra[] = { "-device", "virtio-scsi-pci,id=scsi0", NULL };
    Path *p = &B.path[r];

    p->qemu = test_qemu_start(qemu_extra);
    bench_signals_add_child(p->qemu->pid);
    if (proxy_extra) {
        g_autofree char *dir = g_build_filename(B.dir, r == RUN_STATE ? "state" : "api", NULL);

        g_mkdir(dir, 0700);
        p->proxy = test_proxy_start(p->qemu->qmp, dir, proxy_extra);
        bench_signals_add_child(p->proxy->pid);
    }
    connect_path(p, p->proxy ? p->proxy->listen : p->qemu->qmp, BENCH_QMP_CAPS_OOB);
}

static gboolean proxy_has_state_option(void)
{
    const char *argv[] = { test_qmproxy_bin(), "--help", NULL };
    g_autofree char *out = NULL;

    if (!g_spawn_sync(NULL, (char **)argv, NULL, G_SPAWN_STDERR_TO_DEV_NULL, NULL, NULL, &out, NULL,
                      NULL, NULL)) {
        return FALSE;
    }
    return strstr(out, "--state") != NULL;
}

typedef struct {
    double p50, p90, mean;
} Stats;

static Stats stats_of(GArray *v)
{
    g_autoptr(GArray) s = g_array_copy(v);
    Stats st = { 0 };
    double sum = 0;

    if (s->len == 0) {
        return st;
    }
    bench_stats_sort((gint64 *)s->data, s->len);
    for (guint i = 0; i < s->len; i++) {
        sum += (double)g_array_index(s, gint64, i);
    }
    st.p50 = (double)bench_stats_percentile((gint64 *)s->data, s->len, 50);
    st.p90 = (double)bench_stats_percentile((gint64 *)s->data, s->len, 90);
    st.mean = sum / s->len;
    return st;
}

static void print_ratio(const char *what, double num, double den, double num_mean, double den_mean,
                        double target)
{
    double ratio = num / den;

    g_print("  %-44s %6.3f  (means: %.3f)  target <= %.2f  %s\n", what, ratio, num_mean / den_mean,
            target, ratio <= target ? "PASS" : "MISSED");
}

int main(int argc, char **argv)
{
    gboolean want_state = FALSE;
    gint cycles = 0;
    g_autoptr(GError) error = NULL;
    GOptionEntry entries[] = {
        { "quick", 0, 0, G_OPTION_ARG_NONE, &B.quick, "50 cycles instead of 300", NULL },
        { "cycles", 0, 0, G_OPTION_ARG_INT, &cycles, "Timed cycles per run", "N" },
        { "state", 0, 0, G_OPTION_ARG_NONE, &want_state,
          "Also the API through a proxy started with --state FILE", NULL },
        { NULL },
    };
    g_autoptr(GOptionContext) ctx = g_option_context_new("- device-manager attach/detach cost");
    gint64 started = g_get_monotonic_time();

    g_option_context_add_main_entries(ctx, entries, NULL);
    if (!g_option_context_parse(ctx, &argc, &argv, &error) || cycles < 0) {
        g_printerr("bench-manager: %s (see --help)\n", error ? error->message : "bad --cycles");
        return 2;
    }
    B.cycles = cycles ? cycles : B.quick ? 50 : 300;
    g_setenv("QMPROXY_BIN", QMPROXY_BIN, FALSE);
    if (!g_file_test(test_qmproxy_bin(), G_FILE_TEST_IS_EXECUTABLE)) {
        g_printerr("bench-manager: %s is not an executable; build qmproxy first\n",
                   test_qmproxy_bin());
        return 1;
    }
    g_autofree char *qemu = g_find_program_in_path(QEMU_BIN);
    if (!qemu) {
        g_print("bench-manager: " QEMU_BIN " is not installed; nothing to measure\n");
        return 0;
    }
    bench_signals_install();
    B.dir = g_dir_make_tmp("qmproxy-bench-manager-XXXXXX", &error);
    g_assert_no_error(error);

    g_print("qmproxy device-manager benchmark (%s run)\n", B.quick ? "quick" : "full");
    g_print("  proxy: %s\n  qemu:  %s (q35, TCG, paused with -S, virtio-scsi-pci scsi0)\n",
            test_qmproxy_bin(), qemu);
    g_print("  %ld CPU(s) online, load average %.2f\n", sysconf(_SC_NPROCESSORS_ONLN),
            bench_proc_load_average());

    B.enabled[RUN_DIRECT] = B.enabled[RUN_PLAIN] = B.enabled[RUN_API] = TRUE;
    if (want_state && !proxy_has_state_option()) {
        g_print("  state: option not available\n");
    } else if (want_state) {
        B.enabled[RUN_STATE] = TRUE;
    }
    for (guint r = 0; r < N_RUNS; r++) {
        B.path[r].attach = g_array_new(FALSE, FALSE, sizeof(gint64));
        B.path[r].detach = g_array_new(FALSE, FALSE, sizeof(gint64));
        B.path[r].both = g_array_new(FALSE, FALSE, sizeof(gint64));
        B.path[r].deleted = g_array_new(FALSE, FALSE, sizeof(gint64));
    }
    create_files(WARMUP + (guint)B.cycles);

    /* QEMU takes one client per QMP socket: the direct client gets a QEMU
     * of its own; plain QMP via the proxy shares the API's proxy */
    start_path(RUN_DIRECT, NULL);
    const char *const api_extra[] = { NULL };
    start_path(RUN_API, api_extra);
    B.path[RUN_PLAIN].qemu = B.path[RUN_API].qemu;
    B.path[RUN_PLAIN].proxy = B.path[RUN_API].proxy;
    connect_path(&B.path[RUN_PLAIN], B.path[RUN_API].proxy->listen, BENCH_QMP_CAPS_OOB);
    if (B.enabled[RUN_STATE]) {
        g_autofree char *state = g_build_filename(B.dir, "state.json", NULL);
        const char *const state_extra[] = { "--state", state, NULL };

        start_path(RUN_STATE, state_extra);
    }

    g_print("  %d warm-up then %d timed cycles per run; the runs take turns in blocks of %d "
            "cycles, in reversed order every other round\n",
            WARMUP, B.cycles, BLOCK);
    g_print("  each cycle: a fresh 1 MiB sparse raw file; device-new/-remove are not timed\n");
    for (guint n = 0; n < WARMUP; n++) {
        for (guint r = 0; r < N_RUNS; r++) {
            if (B.enabled[r]) {
                cycle(r, n, FALSE);
            }
        }
    }
    for (guint done = 0, round = 0; done < (guint)B.cycles; done += BLOCK, round++) {
        for (guint k = 0; k < N_RUNS; k++) {
            Run r = round % 2 ? N_RUNS - 1 - k : k;

            for (guint n = done; B.enabled[r] && n < done + BLOCK && n < (guint)B.cycles; n++) {
                cycle(r, WARMUP + n, TRUE);
            }
        }
    }

    g_print("\n  %-22s %5s %27s %27s %27s\n", "", "", "attach", "detach", "attach+detach");
    g_print("  %-22s %5s", "run", "n");
    for (guint i = 0; i < 3; i++) {
        g_print(" %9s %8s %8s", "p50", "p90", "mean");
    }
    g_print("   (microseconds)\n");
    Stats st[N_RUNS][3];
    memset(st, 0, sizeof(st));
    for (guint r = 0; r < N_RUNS; r++) {
        GArray *v[3] = { B.path[r].attach, B.path[r].detach, B.path[r].both };

        if (!B.enabled[r]) {
            continue;
        }
        g_print("  %-22s %5u", run_names[r], v[0]->len);
        for (guint i = 0; i < 3; i++) {
            st[r][i] = stats_of(v[i]);
            g_print(" %9.0f %8.0f %8.0f", st[r][i].p50, st[r][i].p90, st[r][i].mean);
        }
        g_print("\n");
    }

    g_print("  QEMU sends DEVICE_DELETED p50 %.0f us after device_del (direct), which is most of a "
            "detach\n",
            stats_of(B.path[RUN_DIRECT].deleted).p50);
    g_print("  the API adds p50 %+.0f us to attach, %+.0f us to detach, %+.0f us to attach+detach "
            "(vs direct)\n",
            st[RUN_API][0].p50 - st[RUN_DIRECT][0].p50, st[RUN_API][1].p50 - st[RUN_DIRECT][1].p50,
            st[RUN_API][2].p50 - st[RUN_DIRECT][2].p50);

    g_print("\n");
    print_ratio("attach+detach p50, API / direct:", st[RUN_API][2].p50, st[RUN_DIRECT][2].p50,
                st[RUN_API][2].mean, st[RUN_DIRECT][2].mean, 1.05);
    g_print("    of which transport (plain QMP via proxy / direct): %.3f; the API over plain QMP "
            "via proxy: %.3f\n",
            st[RUN_PLAIN][2].p50 / st[RUN_DIRECT][2].p50,
            st[RUN_API][2].p50 / st[RUN_PLAIN][2].p50);
    g_print("    attach p50 API / direct: %.3f; detach p50 API / direct: %.3f\n",
            st[RUN_API][0].p50 / st[RUN_DIRECT][0].p50, st[RUN_API][1].p50 / st[RUN_DIRECT][1].p50);
    if (B.enabled[RUN_STATE]) {
        print_ratio("attach p50, with --state / without:", st[RUN_STATE][0].p50, st[RUN_API][0].p50,
                    st[RUN_STATE][0].mean, st[RUN_API][0].mean, 1.1);
        g_print("    detach p50 with --state / without: %.3f\n",
                st[RUN_STATE][1].p50 / st[RUN_API][1].p50);
    }

    cleanup();
    for (guint r = 0; r < N_RUNS; r++) {
        g_array_unref(B.path[r].attach);
        g_array_unref(B.path[r].detach);
        g_array_unref(B.path[r].both);
        g_array_unref(B.path[r].deleted);
    }
    g_print("\n  whole run: %.1f s\n", (g_get_monotonic_time() - started) / 1e6);
    return 0;
}
