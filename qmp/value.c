/* value.c - refcounted QMP values (null, bool, numbers, strings, lists,
 * dictionaries), with the member order QEMU writes them in. */
#include "value.h"

#include <stdarg.h>

#include <string.h>

typedef struct {
    char *key;
    QmpValue *value;
    QmpSpan span;
} DictEntry;

struct QmpValue {
    gint refcount;
    QmpValueType type;
    union {
        gboolean b;
        gint64 i;
        guint64 u;
        double d;
        char *s;
        GPtrArray *list; /* of QmpValue */
        GArray *entries; /* of DictEntry, in insertion order */
    };
};

static QmpValue *value_new(QmpValueType type)
{
    QmpValue *v = g_new0(QmpValue, 1);

    v->refcount = 1;
    v->type = type;
    return v;
}

QmpValue *qmp_value_new_null(void)
{
    return value_new(QMP_VALUE_NULL);
}

QmpValue *qmp_value_new_bool(gboolean b)
{
    QmpValue *v = value_new(QMP_VALUE_BOOL);

    v->b = !!b;
    return v;
}

QmpValue *qmp_value_new_int(gint64 i)
{
    QmpValue *v = value_new(QMP_VALUE_INT);

    v->i = i;
    return v;
}

QmpValue *qmp_value_new_uint(guint64 u)
{
    QmpValue *v = value_new(QMP_VALUE_UINT);

    v->u = u;
    return v;
}

QmpValue *qmp_value_new_double(double d)
{
    QmpValue *v = value_new(QMP_VALUE_DOUBLE);

    v->d = d;
    return v;
}

QmpValue *qmp_value_new_string_take(char *s)
{
    QmpValue *v = value_new(QMP_VALUE_STRING);

    v->s = s;
    return v;
}

QmpValue *qmp_value_new_string(const char *s)
{
    return qmp_value_new_string_take(g_strdup(s));
}

QmpValue *qmp_value_new_list(void)
{
    QmpValue *v = value_new(QMP_VALUE_LIST);

    v->list = g_ptr_array_new_with_free_func((GDestroyNotify)qmp_value_unref);
    return v;
}

static void dict_entry_clear(gpointer p)
{
    DictEntry *e = p;

    g_free(e->key);
    qmp_value_unref(e->value);
}

QmpValue *qmp_value_new_dict(void)
{
    QmpValue *v = value_new(QMP_VALUE_DICT);

    v->entries = g_array_new(FALSE, FALSE, sizeof(DictEntry));
    g_array_set_clear_func(v->entries, dict_entry_clear);
    return v;
}

static QmpValue *dict_of(const char *first_key, va_list ap)
{
    QmpValue *dict = qmp_value_new_dict();

    for (const char *key = first_key; key; key = va_arg(ap, const char *)) {
        QmpValue *item = va_arg(ap, QmpValue *);

        g_assert(qmp_value_dict_add(dict, key, item));
    }
    return dict;
}

QmpValue *qmp_value_new_dict_of(const char *first_key, ...)
{
    va_list ap;

    va_start(ap, first_key);
    QmpValue *dict = dict_of(first_key, ap);
    va_end(ap);
    return dict;
}

QmpValue *qmp_value_new_dict_va(const char *first_key, va_list ap)
{
    return dict_of(first_key, ap);
}

QmpValue *qmp_value_ref(QmpValue *v)
{
    g_atomic_int_inc(&v->refcount);
    return v;
}

void qmp_value_unref(QmpValue *v)
{
    if (!v || !g_atomic_int_dec_and_test(&v->refcount)) {
        return;
    }
    switch (v->type) {
    case QMP_VALUE_STRING:
        g_free(v->s);
        break;
    case QMP_VALUE_LIST:
        g_ptr_array_unref(v->list);
        break;
    case QMP_VALUE_DICT:
        g_array_unref(v->entries);
        break;
    default:
        break;
    }
    g_free(v);
}

QmpValueType qmp_value_type(const QmpValue *v)
{
    return v->type;
}

gboolean qmp_value_get_bool(const QmpValue *v)
{
    g_return_val_if_fail(v->type == QMP_VALUE_BOOL, FALSE);
    return v->b;
}

gint64 qmp_value_get_int(const QmpValue *v)
{
    g_return_val_if_fail(v->type == QMP_VALUE_INT, 0);
    return v->i;
}

guint64 qmp_value_get_uint(const QmpValue *v)
{
    g_return_val_if_fail(v->type == QMP_VALUE_UINT, 0);
    return v->u;
}

double qmp_value_get_double(const QmpValue *v)
{
    g_return_val_if_fail(v->type == QMP_VALUE_DOUBLE, 0);
    return v->d;
}

const char *qmp_value_get_string(const QmpValue *v)
{
    return v && v->type == QMP_VALUE_STRING ? v->s : NULL;
}

void qmp_value_list_append(QmpValue *list, QmpValue *item)
{
    g_return_if_fail(list->type == QMP_VALUE_LIST);
    g_ptr_array_add(list->list, item);
}

guint qmp_value_list_length(const QmpValue *list)
{
    g_return_val_if_fail(list->type == QMP_VALUE_LIST, 0);
    return list->list->len;
}

QmpValue *qmp_value_list_get(const QmpValue *list, guint i)
{
    g_return_val_if_fail(list->type == QMP_VALUE_LIST, NULL);
    return i < list->list->len ? g_ptr_array_index(list->list, i) : NULL;
}

/* Messages have a handful of members; a linear scan beats hashing. */
static DictEntry *dict_find(const QmpValue *dict, const char *key)
{
    for (guint i = 0; i < dict->entries->len; i++) {
        DictEntry *e = &g_array_index(dict->entries, DictEntry, i);

        if (strcmp(e->key, key) == 0) {
            return e;
        }
    }
    return NULL;
}

gboolean qmp_value_dict_add(QmpValue *dict, const char *key, QmpValue *item)
{
    g_return_val_if_fail(dict->type == QMP_VALUE_DICT, FALSE);
    if (dict_find(dict, key)) {
        qmp_value_unref(item);
        return FALSE;
    }
    DictEntry e = { g_strdup(key), item, { 0, 0, 0 } };
    g_array_append_val(dict->entries, e);
    return TRUE;
}

QmpValue *qmp_value_dict_get(const QmpValue *dict, const char *key)
{
    g_return_val_if_fail(dict->type == QMP_VALUE_DICT, NULL);
    DictEntry *e = dict_find(dict, key);

    return e ? e->value : NULL;
}

const char *qmp_value_dict_get_string(const QmpValue *dict, const char *key)
{
    return qmp_value_get_string(qmp_value_dict_get(dict, key));
}

guint qmp_value_dict_size(const QmpValue *dict)
{
    g_return_val_if_fail(dict->type == QMP_VALUE_DICT, 0);
    return dict->entries->len;
}

const char *qmp_value_dict_nth(const QmpValue *dict, guint i, QmpValue **item)
{
    g_return_val_if_fail(dict->type == QMP_VALUE_DICT && i < dict->entries->len, NULL);
    DictEntry *e = &g_array_index(dict->entries, DictEntry, i);

    if (item) {
        *item = e->value;
    }
    return e->key;
}

/* QEMU's QDict hashes keys with tdb_hash() into 512 buckets, inserts at
 * the head of a bucket's list and iterates bucket by bucket. Which error
 * qmp_dispatch() reports first, and the member order of everything QEMU
 * writes, follow from that. */
#define QDICT_BUCKETS 512

static guint qdict_bucket(const char *key)
{
    guint32 value = 0x238F13AFu * (guint32)strlen(key);

    for (guint i = 0; key[i]; i++) {
        value += (guint32)(guchar)key[i] << (i * 5 % 24);
    }
    return (1103515243u * value + 12345u) % QDICT_BUCKETS;
}

typedef struct {
    guint bucket;
    guint index;
} OrderKey;

static gint order_cmp(gconstpointer pa, gconstpointer pb)
{
    const OrderKey *a = pa, *b = pb;

    if (a->bucket != b->bucket) {
        return a->bucket < b->bucket ? -1 : 1;
    }
    /* later insertions come first within a bucket */
    return a->index > b->index ? -1 : a->index < b->index;
}

GArray *qmp_value_dict_qemu_order(const QmpValue *dict)
{
    guint n = dict->entries->len;
    g_autofree OrderKey *keys = g_new(OrderKey, n ? n : 1);
    GArray *order = g_array_sized_new(FALSE, FALSE, sizeof(guint), n);

    for (guint i = 0; i < n; i++) {
        keys[i].bucket = qdict_bucket(g_array_index(dict->entries, DictEntry, i).key);
        keys[i].index = i;
    }
    qsort(keys, n, sizeof(OrderKey), order_cmp);
    for (guint i = 0; i < n; i++) {
        g_array_append_val(order, keys[i].index);
    }
    return order;
}

void qmp_value_dict_set_span(QmpValue *dict, const char *key, const QmpSpan *span)
{
    DictEntry *e = dict_find(dict, key);

    if (e) {
        e->span = *span;
    }
}

gboolean qmp_value_dict_get_span(const QmpValue *dict, const char *key, QmpSpan *span)
{
    DictEntry *e = dict_find(dict, key);

    if (!e || e->span.value_end == 0) {
        return FALSE;
    }
    *span = e->span;
    return TRUE;
}

static gboolean number_equal(const QmpValue *a, const QmpValue *b)
{
    if (a->type == QMP_VALUE_DOUBLE || b->type == QMP_VALUE_DOUBLE) {
        return a->type == b->type && a->d == b->d;
    }
    if (a->type == QMP_VALUE_INT && b->type == QMP_VALUE_INT) {
        return a->i == b->i;
    }
    if (a->type == QMP_VALUE_UINT && b->type == QMP_VALUE_UINT) {
        return a->u == b->u;
    }
    const QmpValue *s = a->type == QMP_VALUE_INT ? a : b;
    const QmpValue *u = a->type == QMP_VALUE_INT ? b : a;
    return s->i >= 0 && (guint64)s->i == u->u;
}

static gboolean is_number(const QmpValue *v)
{
    return v->type == QMP_VALUE_INT || v->type == QMP_VALUE_UINT || v->type == QMP_VALUE_DOUBLE;
}

gboolean qmp_value_equal(const QmpValue *a, const QmpValue *b)
{
    if (is_number(a) && is_number(b)) {
        return number_equal(a, b);
    }
    if (a->type != b->type) {
        return FALSE;
    }
    switch (a->type) {
    case QMP_VALUE_NULL:
        return TRUE;
    case QMP_VALUE_BOOL:
        return a->b == b->b;
    case QMP_VALUE_STRING:
        return strcmp(a->s, b->s) == 0;
    case QMP_VALUE_LIST:
        if (a->list->len != b->list->len) {
            return FALSE;
        }
        for (guint i = 0; i < a->list->len; i++) {
            if (!qmp_value_equal(g_ptr_array_index(a->list, i), g_ptr_array_index(b->list, i))) {
                return FALSE;
            }
        }
        return TRUE;
    case QMP_VALUE_DICT:
        if (a->entries->len != b->entries->len) {
            return FALSE;
        }
        for (guint i = 0; i < a->entries->len; i++) {
            DictEntry *e = &g_array_index(a->entries, DictEntry, i);
            QmpValue *other = qmp_value_dict_get(b, e->key);

            if (!other || !qmp_value_equal(e->value, other)) {
                return FALSE;
            }
        }
        return TRUE;
    default:
        g_assert_not_reached();
    }
}

QmpValue *qmp_value_dict_copy_replacing(const QmpValue *dict, const char *key, QmpValue *value)
{
    QmpValue *copy = qmp_value_new_dict();

    for (guint i = 0; i < qmp_value_dict_size(dict); i++) {
        QmpValue *v;
        const char *k = qmp_value_dict_nth(dict, i, &v);

        qmp_value_dict_add(copy, k, qmp_value_ref(strcmp(k, key) == 0 ? value : v));
    }
    if (!qmp_value_dict_get(dict, key)) {
        qmp_value_dict_add(copy, key, qmp_value_ref(value));
    }
    return copy;
}
