/* index-map.h - block device indexes as Kata's BlockIndexMap hands them
 * out: always the lowest free one, freed ones reused, so that restarting
 * containers many times never exhausts SCSI ids/luns or vdX names. */
#pragma once

#include <glib.h>

typedef struct IndexMap IndexMap;

/* A map of indexes 0 .. @capacity-1 (at most 2^18), all free. */
IndexMap *index_map_new(guint capacity);
void index_map_free(IndexMap *map);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(IndexMap, index_map_free)

/* Takes the lowest free index; FALSE when every index is used. O(log n). */
gboolean index_map_alloc(IndexMap *map, guint *index);
/* Takes @index chosen by someone else; FALSE if used or out of range. */
gboolean index_map_reserve(IndexMap *map, guint index);
/* Gives @index back; FALSE if it was not taken. */
gboolean index_map_release(IndexMap *map, guint index);
gboolean index_map_is_used(const IndexMap *map, guint index);
guint index_map_count(const IndexMap *map);

/* Kata's SCSI address of @index: scsi-id = index / 256, lun = index % 256. */
void index_map_scsi_address(guint index, guint *scsi_id, guint *lun);
/* The index of a SCSI address; FALSE if Kata's scheme cannot express it
 * (lun above 255, or scsi-id above @max_scsi_id). */
gboolean index_map_scsi_index(guint scsi_id, guint lun, guint max_scsi_id, guint *index);
/* Kata's GetVirtDriveName: 0 -> "vda", 25 -> "vdz", 26 -> "vdaa", ... */
char *index_map_drive_name(guint index);
