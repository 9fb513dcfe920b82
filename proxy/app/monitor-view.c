/* monitor-view.c - query-chardev as QEMU would answer it without the
 * proxy in between. "qmproxy wrap" gives QEMU a private socket for the
 * monitor it fronts; QEMU names that socket in the monitor's chardev
 * filename, and a manager reading it back (libvirt reads query-chardev at
 * every start) would see a path it never chose. */
#include "monitor-view.h"

#include <string.h>

struct MonitorView {
    char *label;
    char *private_text;
    char *shown;
};

static void on_reply(gpointer data, CoreReply *reply)
{
    MonitorView *view = data;
    QmpValue *msg = core_reply_value(reply);
    QmpValue *list = msg ? qmp_value_dict_get(msg, "return") : NULL;

    if (!list || qmp_value_type(list) != QMP_VALUE_LIST) {
        return;
    }
    g_autoptr(QmpValue) shown = qmp_value_new_list();
    gboolean changed = FALSE;

    for (guint i = 0; i < qmp_value_list_length(list); i++) {
        QmpValue *info = qmp_value_list_get(list, i);
        const char *label = qmp_value_dict_get_string(info, "label");
        const char *filename = qmp_value_dict_get_string(info, "filename");

        if (g_strcmp0(label, view->label) == 0 && filename &&
            strstr(filename, view->private_text)) {
            g_autoptr(GString) text = g_string_new(filename);
            g_autoptr(QmpValue) name = NULL;

            g_string_replace(text, view->private_text, view->shown, 0);
            name = qmp_value_new_string(text->str);
            qmp_value_list_append(shown, qmp_value_dict_copy_replacing(info, "filename", name));
            changed = TRUE;
        } else {
            qmp_value_list_append(shown, qmp_value_ref(info));
        }
    }
    if (changed) {
        core_reply_set_return(reply, g_steal_pointer(&shown));
    }
}

static CoreVerdict on_request(gpointer data, CoreRequest *req)
{
    if (strcmp(core_request_command(req), "query-chardev") == 0) {
        core_request_on_reply(req, on_reply, data);
    }
    return CORE_PASS;
}

static const CoreLayerOps ops = { .request = on_request };

MonitorView *monitor_view_new(Core *core, const char *label, const char *private_text,
                              const char *shown)
{
    MonitorView *view = g_new0(MonitorView, 1);

    view->label = g_strdup(label);
    view->private_text = g_strdup(private_text);
    view->shown = g_strdup(shown);
    core_push_layer(core, &ops, view);
    return view;
}

void monitor_view_free(MonitorView *view)
{
    if (view) {
        g_free(view->label);
        g_free(view->private_text);
        g_free(view->shown);
        g_free(view);
    }
}
