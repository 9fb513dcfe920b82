/* json-internal.h - what the framer hands the parser: the tokens of one
 * complete JSON value, located in the message's raw text. */
#pragma once

#include "value.h"

typedef enum {
    QMP_TOKEN_LCURLY,
    QMP_TOKEN_RCURLY,
    QMP_TOKEN_LSQUARE,
    QMP_TOKEN_RSQUARE,
    QMP_TOKEN_COLON,
    QMP_TOKEN_COMMA,
    QMP_TOKEN_INTEGER,
    QMP_TOKEN_FLOAT,
    QMP_TOKEN_KEYWORD,
    QMP_TOKEN_STRING,
} QmpTokenType;

typedef struct {
    QmpTokenType type;
    gsize start; /* offset of the token's first byte in the raw text */
    gsize len;
} QmpToken;

/* Builds the value the tokens spell, recording each top-level member's
 * span; NULL with the message QEMU's parser gives ("JSON parse error, ..."). */
QmpValue *qmp_json_parse_tokens(const QmpToken *tokens, guint n, const char *raw,
                                char **error_message);
