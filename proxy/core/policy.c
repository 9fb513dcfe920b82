/* policy.c - command policies.
 *
 * QEMU's schema says nothing of which commands only read (no feature,
 * no flag: the research for issue 17 went through 7.2's whole schema), so
 * "read-only" is a fixed rule over names: every query-* and x-query-*
 * command, the proxy's own __org.qmproxy_query-*, and the reads that are
 * not named so (qom-list, qom-get, qom-list-types, qom-list-properties,
 * device-list-properties, trace-event-get-state,
 * x-debug-query-block-graph, qmp_capabilities); less the few query
 * commands that change something: query-rx-filter (re-arms
 * NIC_RX_FILTER_CHANGED for every client), query-sev-attestation-report
 * (drives the SEV firmware), x-query-profile (resets the counters it
 * reports) and x-query-virtio-queue-element (can mark a device broken). A
 * deny wins over an allow. */
#include "policy.h"

#include "core.h"

#include <string.h>

struct CorePolicy {
    char *name;
    GPtrArray *allow; /* of GPatternSpec */
    GPtrArray *deny;
    char **allow_text, **deny_text;
    gboolean full;
};

static const char *const read_only_allow[] = {
    "query-*",
    "x-query-*",
    "__org.qmproxy_query-*",
    "qmp_capabilities",
    "qom-list",
    "qom-get",
    "qom-list-types",
    "qom-list-properties",
    "device-list-properties",
    "trace-event-get-state",
    "x-debug-query-block-graph",
    NULL,
};
static const char *const read_only_deny[] = {
    "query-rx-filter",
    "query-sev-attestation-report",
    "x-query-profile",
    "x-query-virtio-queue-element",
    NULL,
};

/* Names as QAPI spells them (letters, digits, '-', '_', '.'), and '*'. */
static gboolean pattern_ok(const char *p)
{
    if (!*p) {
        return FALSE;
    }
    for (; *p; p++) {
        if (!g_ascii_isalnum(*p) && !strchr("-_.*", *p)) {
            return FALSE;
        }
    }
    return TRUE;
}

static gboolean name_ok(const char *name)
{
    for (const char *p = name; *p; p++) {
        if (!g_ascii_isalnum(*p) && !strchr("-_", *p)) {
            return FALSE;
        }
    }
    return *name != 0;
}

static GPtrArray *compile(const char *const *patterns)
{
    GPtrArray *specs = g_ptr_array_new_with_free_func((GDestroyNotify)g_pattern_spec_free);

    for (guint i = 0; patterns && patterns[i]; i++) {
        g_ptr_array_add(specs, g_pattern_spec_new(patterns[i]));
    }
    return specs;
}

CorePolicy *core_policy_new(const char *name, const char *const *allow, const char *const *deny,
                            GError **error)
{
    if (!name_ok(name)) {
        g_set_error(error, CORE_ERROR, CORE_ERROR_INVALID,
                    "policy name '%s': use letters, digits, '-' and '_'", name);
        return NULL;
    }
    for (guint k = 0; k < 2; k++) {
        const char *const *list = k ? deny : allow;

        for (guint i = 0; list && list[i]; i++) {
            if (!pattern_ok(list[i])) {
                g_set_error(error, CORE_ERROR, CORE_ERROR_INVALID,
                            "policy %s: '%s' is not a command name or pattern (letters, digits, "
                            "'-', '_', '.', and '*' for any run of them)",
                            name, list[i]);
                return NULL;
            }
        }
    }
    CorePolicy *p = g_new0(CorePolicy, 1);
    p->name = g_strdup(name);
    p->allow = compile(allow);
    p->deny = compile(deny);
    p->allow_text = g_strdupv((char **)allow);
    p->deny_text = g_strdupv((char **)deny);
    return p;
}

void core_policy_free(CorePolicy *p)
{
    if (p) {
        g_free(p->name);
        g_ptr_array_unref(p->allow);
        g_ptr_array_unref(p->deny);
        g_strfreev(p->allow_text);
        g_strfreev(p->deny_text);
        g_free(p);
    }
}

const CorePolicy *core_policy_full(void)
{
    static CorePolicy *full;

    if (g_once_init_enter(&full)) {
        CorePolicy *p = core_policy_new("full", (const char *const[]){ "*", NULL }, NULL, NULL);

        p->full = TRUE;
        g_once_init_leave(&full, p);
    }
    return full;
}

const CorePolicy *core_policy_read_only(void)
{
    static CorePolicy *ro;

    if (g_once_init_enter(&ro)) {
        g_once_init_leave(&ro, core_policy_new("read-only", read_only_allow, read_only_deny, NULL));
    }
    return ro;
}

const char *core_policy_name(const CorePolicy *p)
{
    return p->name;
}

gboolean core_policy_is_full(const CorePolicy *p)
{
    return p->full;
}

static gboolean matches(GPtrArray *specs, const char *command)
{
    for (guint i = 0; i < specs->len; i++) {
        if (g_pattern_spec_match_string(g_ptr_array_index(specs, i), command)) {
            return TRUE;
        }
    }
    return FALSE;
}

gboolean core_policy_allows(const CorePolicy *p, const char *command)
{
    return p->full || (matches(p->allow, command) && !matches(p->deny, command));
}

char *core_policy_describe(const CorePolicy *p)
{
    g_autofree char *allow = p->allow_text ? g_strjoinv(" ", p->allow_text) : g_strdup("");
    g_autofree char *deny = p->deny_text ? g_strjoinv(" ", p->deny_text) : g_strdup("");

    return g_strdup_printf("allow: %s\ndeny: %s", allow, *deny ? deny : "(none)");
}
