/* policy.h - what a client may ask: a command policy, by name (full,
 * read-only, or a named list of allow and deny patterns). */
#pragma once

#include <glib.h>

typedef struct CorePolicy CorePolicy;

/* The built-in policies: "full" allows everything, "read-only" what
 * cannot change the VM. Both live as long as the program. */
const CorePolicy *core_policy_full(void);
const CorePolicy *core_policy_read_only(void);
/* Policy @name allowing commands that match a pattern of @allow and none
 * of @deny (command names, '*' matching any run of characters); FALSE
 * with @error for a bad name or pattern. */
CorePolicy *core_policy_new(const char *name, const char *const *allow, const char *const *deny,
                            GError **error);
void core_policy_free(CorePolicy *policy);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(CorePolicy, core_policy_free)
const char *core_policy_name(const CorePolicy *policy);
/* Whether it allows everything (no check needed). */
gboolean core_policy_is_full(const CorePolicy *policy);
gboolean core_policy_allows(const CorePolicy *policy, const char *command);
/* Its patterns, for --print-policy: "allow: ...\ndeny: ...". */
char *core_policy_describe(const CorePolicy *policy);
