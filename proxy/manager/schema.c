/* schema.c - reading schema/qmproxy.json (QEMU's QAPI schema language:
 * JSON with single quotes and '#' comments, which the protocol library's
 * framer reads once the comments are gone) and deriving from it the
 * argument checks and the introspection entries, so that nothing about
 * the proxy's commands is written down twice. */
#include "schema.h"

#include "core.h"
#include "framer.h"
#include "schema-names.h"

#include <string.h>

/* The type of commands without arguments or return value. */
#define EMPTY_TYPE "__org.qmproxy_q_empty"

struct Schema {
    GPtrArray *definitions; /* of QmpValue (the schema's top-level objects) */
};

static gboolean collect(QmpValue *value, const char *raw, gsize raw_len, const char *error,
                        gpointer user_data)
{
    GPtrArray *defs = user_data;

    if (value && qmp_value_type(value) == QMP_VALUE_DICT) {
        g_ptr_array_add(defs, qmp_value_ref(value));
    } else {
        g_ptr_array_add(defs, NULL); /* marks the error */
    }
    return TRUE;
}

Schema *schema_load(GError **error)
{
    g_autoptr(GString) text = g_string_new(NULL);
    g_auto(GStrv) lines = g_strsplit(qmproxy_schema, "\n", -1);
    g_autoptr(GPtrArray) defs = g_ptr_array_new_with_free_func((GDestroyNotify)qmp_value_unref);

    for (guint i = 0; lines[i]; i++) {
        const char *p = lines[i] + strspn(lines[i], " \t");

        if (*p != '#') {
            g_string_append(text, lines[i]);
        }
        g_string_append_c(text, '\n');
    }
    g_autoptr(QmpFramer) f = qmp_framer_new(0, collect, defs);
    qmp_framer_feed(f, text->str, text->len);
    for (guint i = 0; i < defs->len; i++) {
        if (!g_ptr_array_index(defs, i)) {
            g_set_error(error, CORE_ERROR, CORE_ERROR_INVALID,
                        "schema/qmproxy.json: definition %u is not an object", i + 1);
            return NULL;
        }
    }
    Schema *schema = g_new0(Schema, 1);
    schema->definitions = g_steal_pointer(&defs);
    return schema;
}

void schema_free(Schema *schema)
{
    if (schema) {
        g_ptr_array_unref(schema->definitions);
        g_free(schema);
    }
}

static QmpValue *find(const Schema *schema, const char *meta, const char *name)
{
    for (guint i = 0; i < schema->definitions->len; i++) {
        QmpValue *def = g_ptr_array_index(schema->definitions, i);

        if (g_strcmp0(qmp_value_dict_get_string(def, meta), name) == 0) {
            return def;
        }
    }
    return NULL;
}

gboolean schema_has_command(const Schema *schema, const char *name)
{
    return find(schema, "command", name) != NULL;
}

/* QEMU's name for a JSON type in its visitor messages. */
static const char *json_type_name(const Schema *schema, const char *type)
{
    if (strcmp(type, "str") == 0 || find(schema, "enum", type)) {
        return "string";
    }
    if (strcmp(type, "int") == 0) {
        return "integer";
    }
    if (strcmp(type, "bool") == 0) {
        return "boolean";
    }
    return type[0] == '[' ? "array" : "object";
}

static gboolean type_fits(const Schema *schema, const char *type, QmpValue *v)
{
    switch (qmp_value_type(v)) {
    case QMP_VALUE_STRING:
        return strcmp(type, "str") == 0 || find(schema, "enum", type);
    case QMP_VALUE_INT:
    case QMP_VALUE_UINT:
        return strcmp(type, "int") == 0;
    case QMP_VALUE_BOOL:
        return strcmp(type, "bool") == 0;
    case QMP_VALUE_LIST:
        return type[0] == '[';
    default:
        return FALSE;
    }
}

/* Whether @value is one of enum @type's values (TRUE for other types). */
static gboolean enum_has(const Schema *schema, const char *type, const char *value)
{
    QmpValue *def = find(schema, "enum", type);
    QmpValue *values = def ? qmp_value_dict_get(def, "data") : NULL;

    for (guint i = 0; values && i < qmp_value_list_length(values); i++) {
        if (g_strcmp0(qmp_value_get_string(qmp_value_list_get(values, i)), value) == 0) {
            return TRUE;
        }
    }
    return def == NULL;
}

gboolean schema_check_arguments(const Schema *schema, const char *name, QmpValue *args,
                                char **error)
{
    QmpValue *cmd = find(schema, "command", name);
    QmpValue *data = cmd ? qmp_value_dict_get(cmd, "data") : NULL;
    guint n = args ? qmp_value_dict_size(args) : 0;

    /* members in the order declared, as QEMU's visitor takes them */
    for (guint i = 0; data && i < qmp_value_dict_size(data); i++) {
        QmpValue *type;
        const char *member = qmp_value_dict_nth(data, i, &type);
        gboolean optional = member[0] == '*';
        const char *key = optional ? member + 1 : member;
        QmpValue *v = args ? qmp_value_dict_get(args, key) : NULL;
        const char *t = qmp_value_get_string(type);

        if (!v && !optional) {
            *error = g_strdup_printf("Parameter '%s' is missing", key);
            return FALSE;
        }
        if (v && t && !type_fits(schema, t, v)) {
            *error = g_strdup_printf("Invalid parameter type for '%s', expected: %s", key,
                                     json_type_name(schema, t));
            return FALSE;
        }
        if (v && t && !enum_has(schema, t, qmp_value_get_string(v))) {
            *error = g_strdup_printf("Parameter '%s' does not accept value '%s'", key,
                                     qmp_value_get_string(v));
            return FALSE;
        }
    }
    /* then the first left over, in QDict order */
    g_autoptr(GArray) order = n ? qmp_value_dict_qemu_order(args) : NULL;
    for (guint i = 0; i < n; i++) {
        const char *key = qmp_value_dict_nth(args, g_array_index(order, guint, i), NULL);
        g_autofree char *opt = g_strconcat("*", key, NULL);

        if (!data || (!qmp_value_dict_get(data, key) && !qmp_value_dict_get(data, opt))) {
            *error = g_strdup_printf("Parameter '%s' is unexpected", key);
            return FALSE;
        }
    }
    return TRUE;
}

QmpValue *schema_command_infos(const Schema *schema)
{
    QmpValue *list = qmp_value_new_list();

    for (guint i = 0; i < schema->definitions->len; i++) {
        const char *name =
            qmp_value_dict_get_string(g_ptr_array_index(schema->definitions, i), "command");
        if (name) {
            QmpValue *info = qmp_value_new_dict();

            qmp_value_dict_add(info, "name", qmp_value_new_string(name));
            qmp_value_list_append(list, info);
        }
    }
    return list;
}

static QmpValue *info_new(const char *name, const char *meta_type)
{
    QmpValue *info = qmp_value_new_dict();

    qmp_value_dict_add(info, "name", qmp_value_new_string(name));
    qmp_value_dict_add(info, "meta-type", qmp_value_new_string(meta_type));
    return info;
}

/* The introspection name of a type reference, adding array types. */
static const char *type_ref(QmpValue *ref, QmpValue *infos, GHashTable *arrays)
{
    if (qmp_value_type(ref) == QMP_VALUE_LIST) {
        const char *element = qmp_value_get_string(qmp_value_list_get(ref, 0));
        char *name = g_strdup_printf("[%s]", element);

        if (!g_hash_table_contains(arrays, name)) {
            QmpValue *info = info_new(name, "array");

            qmp_value_dict_add(info, "element-type", qmp_value_new_string(element));
            qmp_value_list_append(infos, info);
            g_hash_table_add(arrays, name);
            return name;
        }
        const char *known = g_hash_table_lookup(arrays, name);
        g_free(name);
        return known;
    }
    return qmp_value_get_string(ref);
}

static QmpValue *members_of(QmpValue *data)
{
    QmpValue *members = qmp_value_new_list();

    for (guint i = 0; data && i < qmp_value_dict_size(data); i++) {
        QmpValue *type;
        const char *name = qmp_value_dict_nth(data, i, &type);
        QmpValue *member = qmp_value_new_dict();

        qmp_value_dict_add(member, "name", qmp_value_new_string(name[0] == '*' ? name + 1 : name));
        qmp_value_dict_add(member, "type", qmp_value_ref(type));
        if (name[0] == '*') {
            /* QEMU marks an optional member with a null default */
            qmp_value_dict_add(member, "default", qmp_value_new_null());
        }
        qmp_value_list_append(members, member);
    }
    return members;
}

QmpValue *schema_infos(const Schema *schema)
{
    QmpValue *infos = qmp_value_new_list();
    g_autoptr(GHashTable) arrays = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    QmpValue *empty = info_new(EMPTY_TYPE, "object");

    qmp_value_dict_add(empty, "members", qmp_value_new_list());
    qmp_value_list_append(infos, empty);
    for (guint i = 0; i < schema->definitions->len; i++) {
        QmpValue *def = g_ptr_array_index(schema->definitions, i);
        const char *name;
        QmpValue *info;

        if ((name = qmp_value_dict_get_string(def, "enum"))) {
            QmpValue *values = qmp_value_dict_get(def, "data");
            QmpValue *members = qmp_value_new_list();

            info = info_new(name, "enum");
            for (guint k = 0; k < qmp_value_list_length(values); k++) {
                QmpValue *m = qmp_value_new_dict();

                qmp_value_dict_add(m, "name", qmp_value_ref(qmp_value_list_get(values, k)));
                qmp_value_list_append(members, m);
            }
            qmp_value_dict_add(info, "members", members);
            qmp_value_dict_add(info, "values", qmp_value_ref(values));
        } else if ((name = qmp_value_dict_get_string(def, "struct"))) {
            info = info_new(name, "object");
            qmp_value_dict_add(info, "members", members_of(qmp_value_dict_get(def, "data")));
        } else if ((name = qmp_value_dict_get_string(def, "command"))) {
            QmpValue *data = qmp_value_dict_get(def, "data");
            QmpValue *ret = qmp_value_dict_get(def, "returns");
            g_autofree char *arg_type = NULL;

            if (data) {
                /* arguments declared in place get an implicit type */
                arg_type = g_strdup_printf("__org.qmproxy_q_obj_%s-arg", name);
                QmpValue *args = info_new(arg_type, "object");
                qmp_value_dict_add(args, "members", members_of(data));
                qmp_value_list_append(infos, args);
            }
            info = info_new(name, "command");
            qmp_value_dict_add(info, "arg-type",
                               qmp_value_new_string(arg_type ? arg_type : EMPTY_TYPE));
            qmp_value_dict_add(
                info, "ret-type",
                qmp_value_new_string(ret ? type_ref(ret, infos, arrays) : EMPTY_TYPE));
        } else if ((name = qmp_value_dict_get_string(def, "event"))) {
            /* this schema's events carry a named struct */
            const char *data = qmp_value_dict_get_string(def, "data");

            info = info_new(name, "event");
            qmp_value_dict_add(info, "arg-type", qmp_value_new_string(data ? data : EMPTY_TYPE));
        } else {
            continue;
        }
        qmp_value_list_append(infos, info);
    }
    return infos;
}
