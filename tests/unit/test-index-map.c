/* test-index-map.c - the block index map: lowest free index, reuse,
 * reservations, limits, Kata's SCSI addresses and drive names, and
 * 100,000 random operations checked against a plain model. */
#include "index-map.h"

static void test_lowest_free_and_reuse(void)
{
    g_autoptr(IndexMap) m = index_map_new(1000);
    guint i;

    for (guint want = 0; want < 3; want++) {
        g_assert_true(index_map_alloc(m, &i));
        g_assert_cmpuint(i, ==, want);
    }
    /* the middle one goes; the next allocation takes its place */
    g_assert_true(index_map_release(m, 1));
    g_assert_true(index_map_alloc(m, &i));
    g_assert_cmpuint(i, ==, 1);
    g_assert_true(index_map_alloc(m, &i));
    g_assert_cmpuint(i, ==, 3);
    g_assert_cmpuint(index_map_count(m), ==, 4);
    g_assert_false(index_map_release(m, 999));
}

static void test_reserve(void)
{
    g_autoptr(IndexMap) m = index_map_new(300);
    guint i;

    g_assert_true(index_map_reserve(m, 0));
    g_assert_true(index_map_reserve(m, 2));
    g_assert_false(index_map_reserve(m, 2));
    g_assert_false(index_map_reserve(m, 300));
    g_assert_true(index_map_alloc(m, &i));
    g_assert_cmpuint(i, ==, 1);
    g_assert_true(index_map_alloc(m, &i));
    g_assert_cmpuint(i, ==, 3);
}

static void test_full(void)
{
    /* capacities around word boundaries, where the summary bits live */
    const guint caps[] = { 1, 63, 64, 65, 4095, 4096, 4097, 65536 };

    for (guint c = 0; c < G_N_ELEMENTS(caps); c++) {
        g_autoptr(IndexMap) m = index_map_new(caps[c]);
        guint i;

        for (guint want = 0; want < caps[c]; want++) {
            g_assert_true(index_map_alloc(m, &i));
            g_assert_cmpuint(i, ==, want);
        }
        g_assert_false(index_map_alloc(m, &i));
        g_assert_true(index_map_release(m, caps[c] / 2));
        g_assert_true(index_map_alloc(m, &i));
        g_assert_cmpuint(i, ==, caps[c] / 2);
        g_assert_false(index_map_alloc(m, &i));
    }
}

static void test_scsi_address(void)
{
    guint id, lun, index;

    index_map_scsi_address(0, &id, &lun);
    g_assert_cmpuint(id, ==, 0);
    g_assert_cmpuint(lun, ==, 0);
    index_map_scsi_address(257, &id, &lun);
    g_assert_cmpuint(id, ==, 1);
    g_assert_cmpuint(lun, ==, 1);
    g_assert_true(index_map_scsi_index(255, 255, 255, &index));
    g_assert_cmpuint(index, ==, 65535);
    g_assert_false(index_map_scsi_index(256, 0, 255, &index));
    g_assert_false(index_map_scsi_index(0, 256, 255, &index));
}

static void test_drive_name(void)
{
    const struct {
        guint index;
        const char *name;
    } cases[] = { { 0, "vda" },     { 1, "vdb" },       { 25, "vdz" },      { 26, "vdaa" },
                  { 27, "vdab" },   { 51, "vdaz" },     { 52, "vdba" },     { 701, "vdzz" },
                  { 702, "vdaaa" }, { 18277, "vdzzz" }, { 18278, "vdaaaa" } };

    for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autofree char *name = index_map_drive_name(cases[i].index);
        g_assert_cmpstr(name, ==, cases[i].name);
    }
}

/* The model: a plain array of flags, lowest free found by a scan. */
static void test_random_against_model(void)
{
    const guint cap = 5000;
    g_autoptr(IndexMap) m = index_map_new(cap);
    g_autofree gboolean *used = g_new0(gboolean, cap);
    g_autoptr(GRand) rand = g_rand_new_with_seed(20261125);
    guint count = 0;

    for (guint op = 0; op < 100000; op++) {
        guint r = g_rand_int_range(rand, 0, 10);
        guint i = g_rand_int_range(rand, 0, (gint32)cap + 10);

        if (r < 5) {
            guint lowest = 0, got;

            while (lowest < cap && used[lowest]) {
                lowest++;
            }
            gboolean ok = index_map_alloc(m, &got);
            g_assert_cmpint(ok, ==, lowest < cap);
            if (ok) {
                g_assert_cmpuint(got, ==, lowest);
                used[got] = TRUE;
                count++;
            }
        } else if (r < 8) {
            gboolean expect = i < cap && used[i];

            g_assert_cmpint(index_map_release(m, i), ==, expect);
            if (expect) {
                used[i] = FALSE;
                count--;
            }
        } else {
            gboolean expect = i < cap && !used[i];

            g_assert_cmpint(index_map_reserve(m, i), ==, expect);
            if (expect) {
                used[i] = TRUE;
                count++;
            }
        }
        g_assert_cmpuint(index_map_count(m), ==, count);
        g_assert_cmpint(index_map_is_used(m, i), ==, i >= cap || used[i]);
    }
}

/* Kata's reason for the map: restarting containers forever never walks
 * past the first addresses. */
static void test_cycles_stay_low(void)
{
    g_autoptr(IndexMap) m = index_map_new(65536);
    guint a, b;

    for (guint cycle = 0; cycle < 100000; cycle++) {
        g_assert_true(index_map_alloc(m, &a));
        g_assert_true(index_map_alloc(m, &b));
        g_assert_cmpuint(MAX(a, b), <=, 1);
        index_map_release(m, a);
        index_map_release(m, b);
    }
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/index-map/lowest-free-and-reuse", test_lowest_free_and_reuse);
    g_test_add_func("/index-map/reserve", test_reserve);
    g_test_add_func("/index-map/full", test_full);
    g_test_add_func("/index-map/scsi-address", test_scsi_address);
    g_test_add_func("/index-map/drive-name", test_drive_name);
    g_test_add_func("/index-map/random-against-model", test_random_against_model);
    g_test_add_func("/index-map/cycles-stay-low", test_cycles_stay_low);
    return g_test_run();
}
