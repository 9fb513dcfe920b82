/* trace-reader.h - what the trace reader's files share ("qmproxy trace",
 * the qmproxy-trace program): a trace's records as read (reader.c), their
 * rendering (output.c), the timeline (timeline.c), commands matched with
 * replies and devices with their plug and unplug (analysis.c), and the
 * summary and Chrome views of that (summary.c, chrome.c). */
#pragma once

#include <glib.h>
#include <json-glib/json-glib.h>
#include <sys/types.h>

#define TRACE_ERROR (g_quark_from_static_string("qmproxy-trace-error"))

typedef enum {
    DIR_NONE,
    DIR_C2P,
    DIR_P2Q,
    DIR_Q2P,
    DIR_P2C,
} Dir;

typedef struct {
    const char *name, *arrow, *ascii;
} ReaderDir;
extern const ReaderDir reader_dirs[];

typedef enum {
    KIND_HEADER,
    KIND_GREETING,
    KIND_COMMAND,
    KIND_REPLY,
    KIND_ERROR,
    KIND_EVENT,
    KIND_INVALID,
    KIND_OTHER, /* a kind from a later version: shown, not analysed */
} Kind;

extern const char *const reader_kind_names[];

/* One line of the trace. Strings and nodes point into @obj. */
typedef struct {
    JsonObject *obj;
    Kind kind;
    const char *kind_name;
    Dir dir;
    GDateTime *when;
    gint64 mono_us;
    gint64 client; /* 0: none */
    gint64 pid, uid;
    const char *exe;
    const char *name;
    JsonNode *id;
    gint64 latency_us;  /* -1: none */
    gint64 upstream_id; /* -1: none */
    gboolean by_proxy;  /* a command the proxy made itself, or its reply */
    const char *error, *klass;
    const char *refused_by; /* the policy that refused the command, on its error */
    JsonObject *msg;
} Record;

void reader_record_free(Record *r);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(Record, reader_record_free)

typedef struct {
    gboolean color; /* ANSI escapes */
    gboolean utf8;  /* arrows and µ; otherwise ASCII */
} Style;

typedef void (*RecordFunc)(Record *record, gpointer user_data);

typedef struct {
    const char *path;
    int fd;
    dev_t dev;
    ino_t ino;
    goffset offset;
    GString *pending;
    guint line;
    guint bad;
    JsonParser *parser;
    RecordFunc func;
    gpointer user_data;
} Reader;

typedef struct {
    const char *name;      /* NULL for invalid input */
    gint64 client;         /* 0: none; for by_proxy, the client that caused it */
    gboolean by_proxy;     /* made by the proxy itself (device manager) */
    const Record *request; /* the command (or invalid input); NULL if not in the trace */
    const Record *reply;   /* its reply or error; NULL if not in the trace */
} Command;

typedef struct {
    const char *id;
    const char *driver; /* NULL when its device_add is not in the trace */
    gint64 client;
    const Command *add, *del;
    const Record *deleted; /* the DEVICE_DELETED event */
} Device;

typedef struct {
    gint64 number;
    const char *exe;
    gint64 pid, uid;
    guint commands, errors, events;
    guint refused; /* commands its socket's or its own policy refused */
} Client;

typedef struct {
    GPtrArray *records; /* Record, in file order */
    Dir request_dir, reply_dir;
    GPtrArray *commands; /* Command */
    GPtrArray *devices;  /* Device */
    GHashTable *clients; /* &Client.number -> Client */
    guint headers;
    const char *filter;
    gint64 start_us, end_us;
} Analysis;

/* ---- reader.c: records, read line by line, judged one by one ---- */

gboolean reader_get_str(JsonObject *o, const char *name, gboolean required, const char **out,
                        GError **error);
void reader_init(Reader *r, const char *path, RecordFunc func, gpointer user_data);
void reader_clear(Reader *r);
gboolean reader_open(Reader *r, GError **error);
gboolean reader_read(Reader *r, GError **error);
void reader_finish(Reader *r);
gboolean reader_replaced(Reader *r);

/* ---- output.c ---- */

void output_pad(GString *s, const char *text, guint width, gboolean right);
char *output_us(gint64 us, const Style *style);
char *output_json(JsonNode *node);
const char *output_msg_string(const Record *r, const char *outer, const char *inner);

/* ---- timeline.c ---- */

/* Where the timeline is: the gap to the previous line is shown. */
typedef struct {
    const Style *style;
    gint64 prev_us;
    gboolean have_prev;
} Timeline;

void timeline_print(Record *record, gpointer user_data);

/* ---- analysis.c ---- */

void analysis_init(Analysis *t);
void analysis_clear(Analysis *t);
void analysis_add_record(Record *record, gpointer user_data);
void analysis_run(Analysis *t);
GList *analysis_clients_sorted(const Analysis *t);
gint64 analysis_command_start(const Command *c);
gint64 analysis_command_latency(const Command *c);
gboolean analysis_command_failed(const Command *c);
const char *analysis_command_name(const Command *c);
gboolean analysis_device_by_proxy(const Device *d);
const char *analysis_device_state(const Device *d);
gint64 analysis_device_unplug_us(const Device *d);

/* Orders two gint64s given by their addresses (a GCompareFunc). */
gint analysis_compare_int64(gconstpointer a, gconstpointer b);

/* ---- summary.c, chrome.c ---- */

void summary_print(const Analysis *t, const char *path, const Style *style);
gboolean chrome_write(const Analysis *t, const char *out, guint *n_events, GError **error);
