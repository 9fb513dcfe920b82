/* fuzz-framer.c - libFuzzer target for the framer, parser, writer and the
 * id splicing the router relies on.
 *
 * Besides not crashing or leaking, every value must survive a round trip:
 * what the writer prints reads back as the same value, and an object
 * with its id replaced or removed parses back to the same object with the
 * new id (or none). Build with -Dfuzzing=true (clang). */
#include "framer.h"
#include "message.h"
#include "writer.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static double as_double(QmpValue *v)
{
    switch (qmp_value_type(v)) {
    case QMP_VALUE_INT:
        return (double)qmp_value_get_int(v);
    case QMP_VALUE_UINT:
        return (double)qmp_value_get_uint(v);
    default:
        return qmp_value_get_double(v);
    }
}

/* Equality up to what printing changes: numbers compare by value (QEMU
 * prints 1.0 as "1" and -0.0 as "-0", which read back as integers) and members by
 * name (two keys in one QDict bucket swap places when re-read, in QEMU
 * too). */
static gboolean same(QmpValue *a, QmpValue *b)
{
    QmpValueType ta = qmp_value_type(a), tb = qmp_value_type(b);

    if (ta >= QMP_VALUE_INT && ta <= QMP_VALUE_DOUBLE) {
        return tb >= QMP_VALUE_INT && tb <= QMP_VALUE_DOUBLE && as_double(a) == as_double(b);
    }
    if (ta != tb) {
        return FALSE;
    }
    if (ta == QMP_VALUE_LIST) {
        if (qmp_value_list_length(a) != qmp_value_list_length(b)) {
            return FALSE;
        }
        for (guint i = 0; i < qmp_value_list_length(a); i++) {
            if (!same(qmp_value_list_get(a, i), qmp_value_list_get(b, i))) {
                return FALSE;
            }
        }
        return TRUE;
    }
    if (ta == QMP_VALUE_DICT) {
        if (qmp_value_dict_size(a) != qmp_value_dict_size(b)) {
            return FALSE;
        }
        for (guint i = 0; i < qmp_value_dict_size(a); i++) {
            QmpValue *item;
            const char *key = qmp_value_dict_nth(a, i, &item);
            QmpValue *other = qmp_value_dict_get(b, key);

            if (!other || !same(item, other)) {
                return FALSE;
            }
        }
        return TRUE;
    }
    return qmp_value_equal(a, b);
}

static void check_round_trip(QmpValue *value)
{
    for (int pretty = 0; pretty <= 1; pretty++) {
        g_autofree char *text = qmp_json_to_string(value, pretty);
        g_autoptr(QmpValue) again = qmp_json_parse(text, strlen(text));

        if (!again) {
            /* inf and nan: QEMU prints them as bare words too */
            g_assert_true(strstr(text, "inf") || strstr(text, "nan"));
            continue;
        }
        g_assert_true(same(value, again));
    }
}

static void check_splice(QmpValue *msg, const char *raw, gsize raw_len)
{
    static const char *const ids[] = { "12345", "\"x\"", NULL };

    for (guint i = 0; i < G_N_ELEMENTS(ids); i++) {
        if (!ids[i] && !qmp_value_dict_get(msg, "id")) {
            continue; /* removal needs an id to remove */
        }
        if (!ids[i] && qmp_value_dict_size(msg) == 1) {
            continue; /* never asked of a lone id: requests have more */
        }
        g_autoptr(GString) out = qmp_message_with_id(raw, raw_len, msg, ids[i]);
        g_autoptr(QmpValue) again = qmp_json_parse(out->str, out->len);

        g_assert_nonnull(again);
        g_assert_cmpint(qmp_value_type(again), ==, QMP_VALUE_DICT);
        QmpValue *id = qmp_value_dict_get(again, "id");
        if (ids[i]) {
            g_autofree char *text = qmp_json_to_string(id, FALSE);
            g_assert_cmpstr(text, ==, ids[i]);
        } else {
            g_assert_null(id);
        }
        for (guint k = 0; k < qmp_value_dict_size(msg); k++) {
            QmpValue *item;
            const char *key = qmp_value_dict_nth(msg, k, &item);

            if (strcmp(key, "id") != 0) {
                g_assert_true(same(item, qmp_value_dict_get(again, key)));
            }
        }
    }
}

typedef struct {
    guint seen;
    guint stop_every; /* 0: never ask the framer to stop */
} Fuzz;

static gboolean on_value(QmpValue *value, const char *raw, gsize raw_len, const char *error,
                         gpointer user_data)
{
    Fuzz *fz = user_data;
    QmpRequest req;
    g_autofree char *problem = NULL;
    gboolean go_on = !fz->stop_every || ++fz->seen % fz->stop_every != 0;

    if (!value) {
        g_assert_nonnull(error);
        return go_on;
    }
    /* tokens only or the text as sent, @raw reads back as the same value */
    g_autoptr(QmpValue) again = qmp_json_parse(raw, raw_len);
    g_assert_nonnull(again);
    g_assert_true(same(value, again));
    check_round_trip(value);
    if (qmp_value_type(value) == QMP_VALUE_DICT && qmp_value_dict_size(value) > 0) {
        check_splice(value, raw, raw_len);
    }
    if (!qmp_request_check(value, TRUE, &req, &problem)) {
        g_assert_nonnull(problem);
    } else {
        g_assert_nonnull(req.command);
    }
    return go_on;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* the first byte picks how the input is split across reads, whether
     * the text is kept, and how often the framer is asked to stop */
    gsize step = size ? (data[0] % 16) + 1 : 1;
    Fuzz fz = { 0, size ? (data[0] >> 5) % 4 : 0 };
    QmpFramerFlags flags = size && (data[0] & 0x10) ? QMP_FRAMER_KEEP_TEXT : 0;
    g_autoptr(QmpFramer) f = qmp_framer_new(flags, on_value, &fz);

    for (gsize off = 1; off < size;) {
        gsize n = MIN(step, size - off);

        /* after a stop, what was not taken is fed again, as QmpConn does */
        off += qmp_framer_feed(f, (const char *)data + off, n);
    }
    return 0;
}
