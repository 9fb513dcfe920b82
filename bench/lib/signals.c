/* signals.c - never leave QEMU or a proxy behind (signals.h). */
#include "signals.h"

#include <signal.h>

#define MAX_CHILDREN 8

static volatile sig_atomic_t stop_requested;
static volatile pid_t children[MAX_CHILDREN];

void bench_signals_add_child(GPid pid)
{
    for (guint i = 0; i < MAX_CHILDREN; i++) {
        if (children[i] == 0) {
            children[i] = pid;
            return;
        }
    }
}

void bench_signals_remove_child(GPid pid)
{
    for (guint i = 0; i < MAX_CHILDREN; i++) {
        if (children[i] == pid) {
            children[i] = 0;
        }
    }
}

/* A failed assertion (in a benchmark or in the harness) must not orphan
 * a paused QEMU that would then run forever. */
static void on_fatal_signal(int sig)
{
    for (guint i = 0; i < MAX_CHILDREN; i++) {
        if (children[i] > 0) {
            kill(children[i], SIGKILL);
        }
    }
    signal(sig, SIG_DFL);
    raise(sig);
}

/* The first ^C stops the run between steps so that cleanup still runs;
 * a second one gives up at once. */
static void on_interrupt(int sig)
{
    if (stop_requested) {
        on_fatal_signal(sig);
    }
    stop_requested = 1;
}

void bench_signals_install(void)
{
    static const int fatal[] = { SIGABRT, SIGSEGV, SIGBUS, SIGFPE, SIGTRAP, SIGILL };
    struct sigaction sa = { 0 };

    sa.sa_handler = on_interrupt;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sa.sa_handler = on_fatal_signal;
    for (guint i = 0; i < G_N_ELEMENTS(fatal); i++) {
        sigaction(fatal[i], &sa, NULL);
    }
    signal(SIGPIPE, SIG_IGN);
}

gboolean bench_signals_stop_requested(void)
{
    return stop_requested;
}

gboolean bench_signals_sleep_ms(guint ms)
{
    for (guint slept = 0; slept < ms && !stop_requested; slept += 10) {
        g_usleep(10000);
    }
    return !stop_requested;
}
