/* qmp-json.h - QMP replies read with json-glib, for the tests of the
 * device manager: commands that must succeed or fail, members of the
 * answers, and the small raw images the devices are made from. */
#pragma once

#include "harness.h"

#include <json-glib/json-glib.h>

/* Parses @text or fails the test. */
JsonNode *test_json_parse(const char *text);
/* @text, the reply to @cmd, checked to be a success (returns its
 * "return") or an error (returns "Class: desc"); fails the test, naming
 * both, otherwise. */
JsonNode *test_qmp_reply(const char *cmd, const char *text, gboolean want_ok);
/* The "return" of the command made from @fmt; fails the test, naming the
 * command and the reply, if it is an error. */
JsonNode *test_qmp_ok(TestClient *c, const char *fmt, ...) G_GNUC_PRINTF(2, 3);
/* The error the command made from @fmt gets, as "Class: desc"; fails the
 * test if it succeeds. */
char *test_qmp_fails(TestClient *c, const char *fmt, ...) G_GNUC_PRINTF(2, 3);
gboolean test_json_has(JsonNode *n, const char *member);
/* A string member, NULL when absent. */
const char *test_json_str(JsonNode *n, const char *member);
/* An integer member, -1 when absent. */
gint64 test_json_int(JsonNode *n, const char *member);
/* A boolean member, which must be there. */
gboolean test_json_bool(JsonNode *n, const char *member);
/* A 1 MiB sparse raw image @name in @dir; returns its path. */
char *test_make_image(const char *dir, const char *name);

/* The device manager's @op (device-attach, query-device, ...) on device
 * @id: its return, or (test_dm_fails) its error as "Class: desc". */
JsonNode *test_dm(TestClient *c, const char *op, const char *id);
char *test_dm_fails(TestClient *c, const char *op, const char *id);
/* The query-devices entry for @id, or NULL. */
JsonNode *test_dm_entry(TestClient *c, const char *id);
/* A DeviceInfo's state and counts. */
void test_dm_assert_counts(JsonNode *info, const char *state, gint64 attach_count,
                           gint64 reference_count);
/* A DeviceInfo without address fields (QEMU does not have the device). */
void test_dm_assert_no_address(JsonNode *info);
/* What QEMU has: device ids under /machine/peripheral, block node names
 * (sets of strings). */
GHashTable *test_qemu_devices(TestClient *c);
gboolean test_qemu_has_device(TestClient *c, const char *id);
GHashTable *test_qemu_nodes(TestClient *c);
gboolean test_qemu_has_node(TestClient *c, const char *name);
/* Neither device @id nor its node drive-@id is in QEMU. */
void test_qemu_assert_gone(TestClient *c, const char *id);
/* qom-get of @property of /machine/peripheral/@id. */
JsonNode *test_qom_get(TestClient *c, const char *id, const char *property);
gint64 test_qom_int(TestClient *c, const char *id, const char *property);
char *test_qom_str(TestClient *c, const char *id, const char *property);
