/* taps.c - the taps on the core: what they want to see, and showing it
 * to them. A tap only observes; nothing it does changes what crosses. */
#include "core-internal.h"

typedef struct {
    const CoreTapOps *ops;
    gpointer data;
} Tap;

struct CoreTaps {
    GArray *taps; /* of Tap */
};

CoreTaps *core_taps_new(void)
{
    CoreTaps *taps = g_new0(CoreTaps, 1);

    taps->taps = g_array_new(FALSE, FALSE, sizeof(Tap));
    return taps;
}

void core_taps_free(CoreTaps *taps)
{
    if (taps) {
        g_array_unref(taps->taps);
        g_free(taps);
    }
}

void core_taps_add(CoreTaps *taps, const CoreTapOps *ops, gpointer data)
{
    Tap tap = { ops, data };

    g_array_append_val(taps->taps, tap);
}

gboolean core_taps_want(CoreTaps *taps, const char *name)
{
    for (guint i = 0; i < taps->taps->len; i++) {
        Tap *tap = &g_array_index(taps->taps, Tap, i);

        if (!tap->ops->wants || tap->ops->wants(tap->data, name)) {
            return TRUE;
        }
    }
    return FALSE;
}

void core_taps_show(CoreTaps *taps, const CoreCrossing *crossing)
{
    for (guint i = 0; i < taps->taps->len; i++) {
        Tap *tap = &g_array_index(taps->taps, Tap, i);

        if (!tap->ops->wants || tap->ops->wants(tap->data, crossing->name)) {
            tap->ops->crossing(tap->data, crossing);
        }
    }
}

void core_taps_classify_reply(CoreCrossing *c, const QmpValue *msg)
{
    QmpValue *err = qmp_value_type(msg) == QMP_VALUE_DICT ? qmp_value_dict_get(msg, "error") : NULL;

    c->kind = "reply";
    if (err && qmp_value_type(err) == QMP_VALUE_DICT) {
        c->kind = "error";
        c->error = qmp_value_dict_get_string(err, "desc");
        c->error_class = qmp_value_dict_get_string(err, "class");
    }
}
