/* message.h - QMP messages: checking requests the way QEMU's dispatcher
 * does, building QEMU's replies, and swapping the id in raw text. */
#pragma once

#include "value.h"

/* QEMU's error classes (qapi/error.json), as clients match them. */
#define QMP_CLASS_GENERIC "GenericError"
#define QMP_CLASS_COMMAND_NOT_FOUND "CommandNotFound"

typedef struct {
    const char *command; /* the execute or exec-oob name */
    gboolean oob;        /* exec-oob rather than execute */
    QmpValue *id;        /* borrowed; NULL when absent */
    QmpValue *arguments; /* borrowed; NULL when absent */
} QmpRequest;

/* The command {"execute": @command, "arguments": {...}} with the key and
 * value pairs that follow (values taken, up to a NULL key) as arguments;
 * no arguments member when there are none. Escaping is the writer's. */
QmpValue *qmp_command_new(const char *command, const char *first_key, ...);

/* QEMU runs a message at once, out of band, when it has exec-oob and no
 * execute, whether or not the client may use OOB (monitor/qmp.c). */
gboolean qmp_request_is_oob(const QmpValue *msg);
/* Checks @msg as qmp_dispatch() does before looking up the command; fills
 * @req, or returns FALSE with QEMU's message. @req->id is set whenever
 * @msg is an object, so that errors can echo it. */
gboolean qmp_request_check(const QmpValue *msg, gboolean allow_oob, QmpRequest *req,
                           char **error_message);

/* @raw (a reply whose "return" is a list) with @items appended to that
 * list, laid out as QEMU lays a list out; NULL if it has no such list. */
GString *qmp_message_extend_return(const char *raw, gsize raw_len, const QmpValue *msg,
                                   const QmpValue *items, gboolean pretty);
/* @text with every "\n" made "\r\n", as QEMU's monitor_puts() sends it. */
char *qmp_monitor_text(const char *text);

/* QEMU's error reply text, CRLF-terminated; @id may be NULL. */
GString *qmp_reply_error(const char *klass, const char *desc, const QmpValue *id, gboolean pretty);
/* QEMU's success reply text, CRLF-terminated; @ret is borrowed. */
GString *qmp_reply_return(const QmpValue *ret, const QmpValue *id, gboolean pretty);

/* @raw (the text @msg was parsed from) with its "id" member's value
 * replaced by @id_json, the member removed when @id_json is NULL, or the
 * member added first when @msg had none (a request: QEMU reads members in
 * any order). */
/* QEMU's reply @raw (parsed as @msg; compact or @pretty) with the id
 * member a client's request had (@id_json, written for that layout; NULL:
 * none): where QEMU puts an id, had the request gone to it with one. */
GString *qmp_reply_with_id(const char *raw, gsize raw_len, const QmpValue *msg, const char *id_json,
                           gboolean pretty);
GString *qmp_message_with_id(const char *raw, gsize raw_len, const QmpValue *msg,
                             const char *id_json);
