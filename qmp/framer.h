/* framer.h - turns a QMP byte stream into complete JSON values exactly as
 * QEMU's json-lexer and json-streamer do, errors and recovery included. */
#pragma once

#include "value.h"

typedef struct QmpFramer QmpFramer;

/* Called once per complete value or error, from inside qmp_framer_feed().
 * On success @value is the parsed value and @raw/@raw_len its text (valid
 * only during the call); on failure @value and @raw are NULL and @error is
 * QEMU's message. Returns TRUE to go on, FALSE to stop after the byte that
 * completed it (see qmp_framer_feed()). The callback must not feed or free
 * the framer. */
typedef gboolean (*QmpFramerFunc)(QmpValue *value, const char *raw, gsize raw_len,
                                  const char *error, gpointer user_data);

typedef enum {
    /* @raw is exactly the text as sent, white space included (QEMU's
     * output, which the proxy passes on byte for byte). Without it @raw is
     * the value's tokens with nothing between them, and white space costs
     * no memory however much of it a message holds, as in QEMU's streamer. */
    QMP_FRAMER_KEEP_TEXT = 1 << 0,
} QmpFramerFlags;

/* QEMU's limits (qobject/json-streamer.c), per message. */
#define QMP_FRAMER_MAX_TOKEN_SIZE (64u << 20)
#define QMP_FRAMER_MAX_TOKEN_COUNT (2u << 20)
#define QMP_FRAMER_MAX_NESTING (1u << 10)

QmpFramer *qmp_framer_new(QmpFramerFlags flags, QmpFramerFunc func, gpointer user_data);
void qmp_framer_free(QmpFramer *framer);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(QmpFramer, qmp_framer_free)

/* Feeds up to @len bytes, any number of values may complete; returns how
 * many bytes were taken: all of them unless the callback asked to stop,
 * in which case the caller feeds the rest later. */
gsize qmp_framer_feed(QmpFramer *framer, const char *data, gsize len);
/* Parses @text, which must hold exactly one complete value (and white
 * space); NULL otherwise. */
QmpValue *qmp_json_parse(const char *text, gsize len);
/* Bytes held for a value still incomplete. */
gsize qmp_framer_pending(const QmpFramer *framer);
