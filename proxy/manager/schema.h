/* schema.h - the proxy's own QMP commands, from schema/qmproxy.json: what
 * is checked against it and what it adds to QEMU's introspection. */
#pragma once

#include "value.h"

typedef struct Schema Schema;

/* Parses the schema built into the daemon. */
Schema *schema_load(GError **error);
void schema_free(Schema *schema);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(Schema, schema_free)

gboolean schema_has_command(const Schema *schema, const char *name);
/* Checks @args (NULL: none) of command @name as QEMU's argument visitor
 * does; FALSE with QEMU's message. */
gboolean schema_check_arguments(const Schema *schema, const char *name, QmpValue *args,
                                char **error);
/* What the schema adds to query-commands' list (CommandInfo) and to
 * query-qmp-schema's (SchemaInfo, as QEMU 7.2 writes it). */
QmpValue *schema_command_infos(const Schema *schema);
QmpValue *schema_infos(const Schema *schema);
