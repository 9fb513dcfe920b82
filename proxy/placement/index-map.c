/* index-map.c - lowest-free index allocation in O(log n).
 *
 * A hierarchical bitmap: level 0 has a bit per index (1 = used); a bit of
 * level k+1 says that the 64-bit word below it is full. Finding the lowest
 * free index walks down from the top, taking the first word that is not
 * full at each level: three levels cover 2^18 indexes, which is more than
 * any block namespace needs (virtio-scsi with Kata's addressing takes 2^16). */
#include "index-map.h"

#define BITS 64
#define MAX_LEVELS 3

struct IndexMap {
    guint capacity;
    guint count;
    guint levels;
    guint64 *level[MAX_LEVELS]; /* level[0]: one bit per index */
    guint words[MAX_LEVELS];
};

IndexMap *index_map_new(guint capacity)
{
    IndexMap *map = g_new0(IndexMap, 1);
    guint n = MAX(capacity, 1);

    g_return_val_if_fail(capacity <= BITS * BITS * BITS, NULL);
    map->capacity = capacity;
    do {
        guint words = (n + BITS - 1) / BITS;

        map->words[map->levels] = words;
        map->level[map->levels] = g_new0(guint64, words);
        map->levels++;
        n = words;
    } while (n > 1);
    /* Indexes past the capacity, and at each upper level the words that
     * do not exist below, count as used (full), so they are never found.
     * No real word starts out full, so nothing needs propagating. */
    for (guint i = capacity; i < map->words[0] * BITS; i++) {
        map->level[0][i / BITS] |= G_GUINT64_CONSTANT(1) << (i % BITS);
    }
    for (guint l = 1; l < map->levels; l++) {
        for (guint b = map->words[l - 1]; b < map->words[l] * BITS; b++) {
            map->level[l][b / BITS] |= G_GUINT64_CONSTANT(1) << (b % BITS);
        }
    }
    return map;
}

void index_map_free(IndexMap *map)
{
    if (!map) {
        return;
    }
    for (guint l = 0; l < map->levels; l++) {
        g_free(map->level[l]);
    }
    g_free(map);
}

/* Sets bit @i of level 0 and propagates fullness upwards. */
static void mark_used(IndexMap *map, guint i)
{
    for (guint l = 0; l < map->levels; l++) {
        guint64 *word = &map->level[l][i / BITS];

        *word |= G_GUINT64_CONSTANT(1) << (i % BITS);
        if (*word != G_MAXUINT64) {
            return;
        }
        i /= BITS;
    }
}

/* Clears bit @i of level 0; a word that was full is not any more above. */
static void mark_free(IndexMap *map, guint i)
{
    for (guint l = 0; l < map->levels; l++) {
        guint64 *word = &map->level[l][i / BITS];
        gboolean was_full = *word == G_MAXUINT64;

        *word &= ~(G_GUINT64_CONSTANT(1) << (i % BITS));
        if (!was_full) {
            return;
        }
        i /= BITS;
    }
}

gboolean index_map_is_used(const IndexMap *map, guint index)
{
    return index >= map->capacity || (map->level[0][index / BITS] >> (index % BITS) & 1) != 0;
}

gboolean index_map_alloc(IndexMap *map, guint *index)
{
    guint i = 0;

    for (gint l = (gint)map->levels - 1; l >= 0; l--) {
        guint64 word = map->level[l][i];

        if (word == G_MAXUINT64) {
            return FALSE; /* only possible at the top: everything is used */
        }
        i = i * BITS + (guint)__builtin_ctzll(~word);
    }
    g_assert(i < map->capacity);
    mark_used(map, i);
    map->count++;
    *index = i;
    return TRUE;
}

gboolean index_map_reserve(IndexMap *map, guint index)
{
    if (index_map_is_used(map, index)) {
        return FALSE;
    }
    mark_used(map, index);
    map->count++;
    return TRUE;
}

gboolean index_map_release(IndexMap *map, guint index)
{
    if (index >= map->capacity || !index_map_is_used(map, index)) {
        return FALSE;
    }
    mark_free(map, index);
    map->count--;
    return TRUE;
}

guint index_map_count(const IndexMap *map)
{
    return map->count;
}

void index_map_scsi_address(guint index, guint *scsi_id, guint *lun)
{
    *scsi_id = index / 256;
    *lun = index % 256;
}

gboolean index_map_scsi_index(guint scsi_id, guint lun, guint max_scsi_id, guint *index)
{
    if (lun > 255 || scsi_id > max_scsi_id) {
        return FALSE;
    }
    *index = scsi_id * 256 + lun;
    return TRUE;
}

char *index_map_drive_name(guint index)
{
    /* bijective base 26: a..z, aa..zz, aaa.. */
    char letters[8];
    guint n = 0;
    guint64 i = (guint64)index + 1;

    while (i > 0) {
        i--;
        letters[n++] = (char)('a' + i % 26);
        i /= 26;
    }
    GString *name = g_string_new("vd");
    while (n > 0) {
        g_string_append_c(name, letters[--n]);
    }
    return g_string_free(name, FALSE);
}
