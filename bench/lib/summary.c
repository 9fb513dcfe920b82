/* summary.c - the figures of a run, the peak RSS table (summary.h). */
#include "summary.h"

typedef struct {
    char *figure;
    char *value;
    char *target; /* empty when the figure has none */
    const char *verdict;
} SummaryRow;

typedef struct {
    char *label;
    guint64 hwm_kb;
} PeakRow;

struct BenchSummary {
    GArray *rows;  /* of SummaryRow */
    GArray *peaks; /* of PeakRow */
    guint anomalies;
    gboolean errors;
};

static void summary_row_clear(gpointer data)
{
    SummaryRow *row = data;

    g_free(row->figure);
    g_free(row->value);
    g_free(row->target);
}

static void peak_row_clear(gpointer data)
{
    g_free(((PeakRow *)data)->label);
}

BenchSummary *bench_summary_new(void)
{
    BenchSummary *s = g_new0(BenchSummary, 1);

    s->rows = g_array_new(FALSE, TRUE, sizeof(SummaryRow));
    g_array_set_clear_func(s->rows, summary_row_clear);
    s->peaks = g_array_new(FALSE, TRUE, sizeof(PeakRow));
    g_array_set_clear_func(s->peaks, peak_row_clear);
    return s;
}

void bench_summary_free(BenchSummary *s)
{
    if (s) {
        g_array_unref(s->rows);
        g_array_unref(s->peaks);
        g_free(s);
    }
}

void bench_summary_add(BenchSummary *s, const char *figure, double value, int decimals,
                       const char *unit, double target)
{
    SummaryRow row = { 0 };

    row.figure = g_strdup(figure);
    row.value = g_strdup_printf("%.*f %s", decimals, value, unit);
    if (target < 0) {
        row.target = g_strdup("");
        row.verdict = "info";
    } else {
        row.target = g_strdup_printf("<= %.*f %s", decimals, target, unit);
        row.verdict = value <= target ? "PASS" : "MISS";
    }
    g_array_append_val(s->rows, row);
}

void bench_summary_add_min(BenchSummary *s, const char *figure, double value, int decimals,
                           const char *unit, double minimum)
{
    SummaryRow row = { 0 };

    row.figure = g_strdup(figure);
    row.value = g_strdup_printf("%.*f %s", decimals, value, unit);
    row.target = g_strdup_printf(">= %.*f %s", decimals, minimum, unit);
    row.verdict = value >= minimum ? "PASS" : "MISS";
    g_array_append_val(s->rows, row);
}

void bench_summary_error(BenchSummary *s, const char *figure, const char *why)
{
    SummaryRow row = { g_strdup(figure), g_strdup("not measured"), g_strdup(why), "ERROR" };

    g_array_append_val(s->rows, row);
    s->errors = TRUE;
}

gboolean bench_summary_has_errors(BenchSummary *s)
{
    return s->errors;
}

void bench_summary_add_peak(BenchSummary *s, const char *label, guint64 hwm_kb)
{
    PeakRow row = { g_strdup(label), hwm_kb };

    g_array_append_val(s->peaks, row);
}

void bench_summary_add_anomaly(BenchSummary *s)
{
    s->anomalies++;
}

guint bench_summary_anomalies(BenchSummary *s)
{
    return s->anomalies;
}

void bench_summary_print(BenchSummary *s)
{
    guint64 peak = 0;
    const char *peak_label = NULL;

    if (s->peaks->len) {
        g_print("\n== peak RSS (VmHWM) of each proxy over its whole run ==\n");
        for (guint i = 0; i < s->peaks->len; i++) {
            PeakRow *row = &g_array_index(s->peaks, PeakRow, i);

            g_print("  %-8s %8" G_GUINT64_FORMAT " KiB\n", row->label, row->hwm_kb);
            if (row->hwm_kb > peak) {
                peak = row->hwm_kb;
                peak_label = row->label;
            }
        }
        g_autofree char *figure = g_strdup_printf("peak RSS, any proxy (%s)", peak_label);
        bench_summary_add(s, figure, (double)peak, 0, "KiB", -1);
    }
    g_print("\n== summary ==\n");
    for (guint i = 0; i < s->rows->len; i++) {
        SummaryRow *row = &g_array_index(s->rows, SummaryRow, i);

        g_print("%-40s %16s  %-16s %s\n", row->figure, row->value, row->target, row->verdict);
    }
}
