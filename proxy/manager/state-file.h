/* state-file.h - the device table on disk: loaded once at start, written
 * atomically and durably after every change, off the main loop. */
#pragma once

#include "value.h"

/* Bumped when a change to the format would make an older proxy misread
 * the file; an older proxy refuses a newer file. */
#define STATE_FORMAT_VERSION 1

typedef struct StateFile StateFile;

/* The text to write: the whole table as it is when a write starts. */
typedef GString *(*StateSnapshot)(gpointer data);
/* A save is on disk (@error NULL) or failed. */
typedef void (*StateSaved)(gpointer data, const GError *error);

/* Reads @path: the state object, or NULL with @error when the file is
 * unusable (corrupt, truncated, empty, of a newer version). NULL without
 * an error when there is no file. */
QmpValue *state_file_load(const char *path, GError **error);
/* The file @path stands for: the target of a symbolic link, followed to
 * the end, so that a write replaces the target and never the link. */
char *state_file_resolve(const char *path, GError **error);
/* Renames a bad @path aside ("PATH.bad-TIME"); returns the new name. */
char *state_file_move_aside(const char *path, GError **error);

StateFile *state_file_new(const char *path, StateSnapshot snapshot, gpointer data);
/* Stops calling back; a write under way finishes on its own. */
void state_file_free(StateFile *sf);
/* Writes every change made so far; @done (may be NULL) is called from
 * the main loop once that is on disk or has failed. Writes in a row are
 * merged. */
void state_file_save(StateFile *sf, StateSaved done, gpointer data);
