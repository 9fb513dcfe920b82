/* test-qemu-args.c - QEMU's command line as qmproxy wrap reads it: which
 * monitors are QMP and frontable, by QEMU's option rules (implied keys,
 * ",," in values, bare and "no" flags, compat_monitorN numbering), and
 * the argument rewritten to a private path. */
#include "qemu-args.h"

#include <string.h>

/* @args as QEMU's argv (a program name first). */
static GPtrArray *monitors_of(const char *const *args)
{
    g_autoptr(GPtrArray) argv = g_ptr_array_new();

    g_ptr_array_add(argv, "qemu-system-x86_64");
    for (guint i = 0; args[i]; i++) {
        g_ptr_array_add(argv, (char *)args[i]);
    }
    g_ptr_array_add(argv, NULL);
    return qemu_args_monitors((char *const *)argv->pdata);
}

static const QemuMonitor *nth(GPtrArray *ms, guint i)
{
    g_assert_cmpuint(i, <, ms->len);
    return g_ptr_array_index(ms, i);
}

static void test_qmp_forms(void)
{
    const char *const args[] = {
        "-monitor", "stdio",                                  /* compat_monitor0, HMP */
        "-qmp",     "unix:/run/a,,b.sock,server=on,wait=off", /* ",," is a comma */
        "-qmp",     "unix:/run/c.sock,server,nowait",         /* old flags */
        "-qmp",     "unix:/run/d.sock",                       /* QEMU connects out */
        "-qmp",     "unix:/run/e.sock,server=on,abstract=on", /* no file */
        "--qmp",    "tcp:localhost:4444,server=on",           /* not unix */
        "-qmp",     "unix:path=/run/f.sock,noserver",         /* server=off */
        NULL,
    };
    g_autoptr(GPtrArray) ms = monitors_of(args);

    g_assert_cmpuint(ms->len, ==, 6);
    g_assert_cmpint(nth(ms, 0)->kind, ==, QEMU_MONITOR_PATH);
    g_assert_cmpstr(nth(ms, 0)->path, ==, "/run/a,b.sock");
    g_assert_cmpstr(nth(ms, 0)->chardev, ==, "compat_monitor1");
    g_assert_cmpint(nth(ms, 1)->kind, ==, QEMU_MONITOR_PATH);
    g_assert_cmpstr(nth(ms, 1)->path, ==, "/run/c.sock");
    g_assert_cmpstr(nth(ms, 1)->chardev, ==, "compat_monitor2");
    for (guint i = 2; i < 6; i++) {
        g_assert_cmpint(nth(ms, i)->kind, ==, QEMU_MONITOR_OTHER);
    }
    g_assert_cmpstr(nth(ms, 5)->chardev, ==, "compat_monitor6");
}

static void test_chardev_mon(void)
{
    const char *const args[] = {
        "-chardev", "socket,id=hmp,path=/run/h.sock,server=on",
        "-mon",     "chardev=hmp,mode=readline", /* HMP: not QMP */
        "-chardev", "socket,id=cm,fd=27,server=on,wait=off",
        "-mon",     "chardev=cm,id=monitor,mode=control",
        "-mon",     "q,mode=control,pretty=on", /* implied chardev= */
        "-chardev", "socket,path=/run/q.sock,id=q,server=on,wait=off",
        "-chardev", "pty,id=p",
        "-mon",     "p,mode=control",
        NULL,
    };
    g_autoptr(GPtrArray) ms = monitors_of(args);

    g_assert_cmpuint(ms->len, ==, 3);
    g_assert_cmpint(nth(ms, 0)->kind, ==, QEMU_MONITOR_FD);
    g_assert_cmpint(nth(ms, 0)->fd, ==, 27);
    g_assert_cmpstr(nth(ms, 0)->chardev, ==, "cm");
    g_assert_cmpstr(nth(ms, 0)->mon, ==, "monitor");
    g_assert_cmpuint(nth(ms, 0)->arg, ==, 6);
    g_assert_cmpint(nth(ms, 1)->kind, ==, QEMU_MONITOR_PATH);
    g_assert_cmpstr(nth(ms, 1)->path, ==, "/run/q.sock");
    g_assert_cmpuint(nth(ms, 1)->arg, ==, 12);
    g_assert_cmpint(nth(ms, 2)->kind, ==, QEMU_MONITOR_OTHER);
}

static char *rewritten(const char *opt, const char *value, const char *path)
{
    const char *const args[] = { opt, value, "-mon", "chardev=m,mode=control", NULL };
    const char *const argv[] = { "qemu", opt, value, "-mon", "chardev=m,mode=control", NULL };
    g_autoptr(GPtrArray) ms = monitors_of(args);

    g_assert_cmpuint(ms->len, >=, 1);
    g_assert_cmpint(nth(ms, 0)->kind, !=, QEMU_MONITOR_OTHER);
    return qemu_args_listen_at((char *const *)argv, nth(ms, 0), path);
}

static void test_listen_at(void)
{
    static const char *const cases[][4] = {
        { "-qmp", "unix:/run/a.sock,server=on,wait=off", "/tmp/p.sock",
          "unix:/tmp/p.sock,server=on,wait=off" },
        { "-qmp", "unix:path=/run/a,,x,server,nowait", "/tmp/p,q.sock",
          "unix:path=/tmp/p,,q.sock,server,nowait" },
        { "-chardev", "socket,id=m,path=/run/a.sock,server=on,wait=off", "/tmp/p.sock",
          "socket,id=m,path=/tmp/p.sock,server=on,wait=off" },
        /* a descriptor's monitor: QEMU listens on the private path */
        { "-chardev", "socket,id=m,fd=27,server=on,wait=off", "/tmp/p.sock",
          "socket,id=m,path=/tmp/p.sock,server=on,wait=off" },
        { "-chardev", "socket,id=m,fd=3", "/tmp/p.sock",
          "socket,id=m,path=/tmp/p.sock,server=on,wait=off" },
    };

    for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autofree char *got = rewritten(cases[i][0], cases[i][1], cases[i][2]);

        g_assert_cmpstr(got, ==, cases[i][3]);
    }
}

static void test_name_daemonize(void)
{
    const char *const a[] = { "q", "-name", "guest=vm,,1,debug-threads=on", "-daemonize", NULL };
    const char *const b[] = { "q", "-name", "plain", "--daemonize", NULL };
    const char *const c[] = { "q", "-S", NULL };
    g_autofree char *na = qemu_args_name((char *const *)a);
    g_autofree char *nb = qemu_args_name((char *const *)b);
    g_autofree char *nc = qemu_args_name((char *const *)c);

    g_assert_cmpstr(na, ==, "vm,1");
    g_assert_cmpstr(nb, ==, "plain");
    g_assert_null(nc);
    g_assert_true(qemu_args_daemonize((char *const *)a));
    g_assert_true(qemu_args_daemonize((char *const *)b));
    g_assert_false(qemu_args_daemonize((char *const *)c));
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/qemu-args/qmp-forms", test_qmp_forms);
    g_test_add_func("/qemu-args/chardev-mon", test_chardev_mon);
    g_test_add_func("/qemu-args/listen-at", test_listen_at);
    g_test_add_func("/qemu-args/name-daemonize", test_name_daemonize);
    return g_test_run();
}
