/* value.h - the QMP value model: what QEMU's QObject can hold.
 *
 * QEMU keeps signed, unsigned and floating-point numbers apart and
 * writes dictionary members in the order of its hash buckets; both show
 * in the bytes a client gets back, so the model keeps them too.
 */
#pragma once

#include <glib.h>
#include <stdarg.h>

typedef enum {
    QMP_VALUE_NULL,
    QMP_VALUE_BOOL,
    QMP_VALUE_INT,
    QMP_VALUE_UINT,
    QMP_VALUE_DOUBLE,
    QMP_VALUE_STRING,
    QMP_VALUE_LIST,
    QMP_VALUE_DICT,
} QmpValueType;

typedef struct QmpValue QmpValue;

/* Where a dictionary member stood in the text it was parsed from. */
typedef struct {
    gsize key_start;   /* first byte of the key token */
    gsize value_start; /* first byte of the value */
    gsize value_end;   /* one past the last byte of the value */
} QmpSpan;

QmpValue *qmp_value_new_null(void);
QmpValue *qmp_value_new_bool(gboolean b);
QmpValue *qmp_value_new_int(gint64 i);
QmpValue *qmp_value_new_uint(guint64 u);
QmpValue *qmp_value_new_double(double d);
/* Takes a copy of @s, which must be valid modified UTF-8. */
QmpValue *qmp_value_new_string(const char *s);
/* Takes ownership of @s. */
QmpValue *qmp_value_new_string_take(char *s);
QmpValue *qmp_value_new_list(void);
QmpValue *qmp_value_new_dict(void);
/* A dictionary of the key and value pairs that follow, the values taken,
 * up to a NULL key. */
QmpValue *qmp_value_new_dict_of(const char *first_key, ...) G_GNUC_NULL_TERMINATED;
/* The same from a va_list. */
QmpValue *qmp_value_new_dict_va(const char *first_key, va_list ap);

QmpValue *qmp_value_ref(QmpValue *v);
void qmp_value_unref(QmpValue *v);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(QmpValue, qmp_value_unref)

QmpValueType qmp_value_type(const QmpValue *v);
gboolean qmp_value_get_bool(const QmpValue *v);
gint64 qmp_value_get_int(const QmpValue *v);
guint64 qmp_value_get_uint(const QmpValue *v);
double qmp_value_get_double(const QmpValue *v);
/* NULL unless @v is a string. */
const char *qmp_value_get_string(const QmpValue *v);

/* Appends @item, taking ownership. */
void qmp_value_list_append(QmpValue *list, QmpValue *item);
guint qmp_value_list_length(const QmpValue *list);
QmpValue *qmp_value_list_get(const QmpValue *list, guint i);

/* Adds @key, taking ownership of @item; FALSE (and @item freed) if the key
 * exists already, which QEMU's parser reports as a duplicate key. */
gboolean qmp_value_dict_add(QmpValue *dict, const char *key, QmpValue *item);
QmpValue *qmp_value_dict_get(const QmpValue *dict, const char *key);
/* The string member @key, or NULL when absent or not a string. */
const char *qmp_value_dict_get_string(const QmpValue *dict, const char *key);
guint qmp_value_dict_size(const QmpValue *dict);
/* A new dictionary with @dict's members, in their order, but @key's value
 * replaced by @value (a reference is taken), or @key added last. */
QmpValue *qmp_value_dict_copy_replacing(const QmpValue *dict, const char *key, QmpValue *value);
/* The @i-th member in insertion order. */
const char *qmp_value_dict_nth(const QmpValue *dict, guint i, QmpValue **item);
/* The members' indexes in the order QEMU's QDict iterates them. */
GArray *qmp_value_dict_qemu_order(const QmpValue *dict);
/* Records / reads back where @key's member stood in its source text. */
void qmp_value_dict_set_span(QmpValue *dict, const char *key, const QmpSpan *span);
gboolean qmp_value_dict_get_span(const QmpValue *dict, const char *key, QmpSpan *span);

/* Structural equality as QEMU's qobject_is_equal() sees it. */
gboolean qmp_value_equal(const QmpValue *a, const QmpValue *b);
