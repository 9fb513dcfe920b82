/* fixture.h - what the device manager's tests (test-manager,
 * test-manager-kinds) and the state file's (test-state, test-state-files)
 * set up alike: a real QEMU, a proxy in front of it that can be stopped
 * and started again on the same options, one negotiated client, and the
 * questions they all ask QEMU, the proxy and the state file. */
#pragma once

#include "qmp-json.h"

#include <json-glib/json-glib.h>

/* The device manager's vendor prefix, on its commands and events. */
#define DM "__org.qmproxy_"

typedef struct {
    TestQemu *qemu;
    TestProxy *proxy;
    TestClient *c;   /* a negotiated client of @proxy */
    const char *dir; /* the test's temporary directory (QEMU's) */
    char *state;     /* the --state file, or NULL */
    GPtrArray *opts; /* the proxy's options, NULL-terminated; borrowed strings */
} TestFixture;

/* A virtio-scsi controller, scsi0. */
extern const char *const test_fixture_scsi_args[];
/* scsi0 and two PCIe root ports, rp1 and rp2, to plug PCI devices into. */
extern const char *const test_fixture_ports_args[];
/* The proxy's --hotplug-bus for rp1 and rp2. */
extern const char *const test_fixture_ports_opts[];

/* QEMU with @qemu_args, the proxy with @opts, one negotiated client. */
void test_fixture_start_full(TestFixture *fx, const char *const *qemu_args,
                             const char *const *opts);
/* The same with test_fixture_ports_args and test_fixture_ports_opts. */
void test_fixture_start(TestFixture *fx);
/* QEMU with @qemu_args, the proxy with --state @state (NULL: state.json in
 * the test's directory) and then @opts (may be NULL), one client. */
void test_fixture_start_state_full(TestFixture *fx, const char *const *qemu_args, const char *state,
                                   const char *const *opts);
/* The same with test_fixture_scsi_args and no other option. */
void test_fixture_start_state(TestFixture *fx, const char *state);
/* Starts the proxy (again) with the fixture's options, and its client. */
void test_fixture_proxy_start(TestFixture *fx);
/* Stops the proxy with SIGTERM (it must exit 0, with no sanitizer report). */
void test_fixture_proxy_stop(TestFixture *fx);
/* Stops the proxy, then QEMU; frees what the fixture holds. */
void test_fixture_stop(TestFixture *fx);

/* A negotiated client of the proxy at @listen; @caps is
 * qmp_capabilities' arguments, or NULL. */
TestClient *test_fixture_client_at(const char *listen, const char *caps);
/* A negotiated client of the fixture's proxy. */
TestClient *test_fixture_client(TestFixture *fx, const char *caps);

/* device-new of @driver on @path, with @more arguments (", \"id\": ...",
 * or NULL); fails the test if it fails. */
JsonNode *test_fixture_dev_new(TestClient *c, const char *driver, const char *path,
                               const char *more);
/* device-new of a virtio-scsi disk on @path named @id. */
JsonNode *test_fixture_scsi_new(TestClient *c, const char *path, const char *id);
/* The same, which must fail: its error, as "Class: desc". */
char *test_fixture_scsi_new_fails(TestClient *c, const char *path, const char *id);
/* Sends @op on device @id, without waiting for the reply. */
void test_fixture_dev_send(TestClient *c, const char *op, const char *id);
/* The devices made with device-new (those with a "kind"), by id. */
GHashTable *test_fixture_managed_devices(TestClient *c);

/* QEMU's query-named-block-nodes entry for node @name, or NULL. */
JsonNode *test_fixture_qemu_node(TestClient *c, const char *name);
/* The bus QEMU put device @id on: the last part of its parent_bus. */
char *test_fixture_qom_bus(TestClient *c, const char *id);
/* The SCSI address in @info is the one QEMU has, on node drive-ID. */
void test_fixture_assert_scsi_address(TestClient *c, JsonNode *info);
/* The same, and QEMU has the node. */
void test_fixture_assert_scsi_node(TestClient *c, JsonNode *info);
/* Device @id is detached, once referenced, and not in QEMU. */
void test_fixture_assert_detached_clean(TestClient *c, const char *id);
/* Device @id of @driver on a file another process holds for writing:
 * the attach must fail in device_add and leave it detached and clean.
 * Returns the lock, to close to let it attach. */
int test_fixture_attach_locked(TestFixture *fx, const char *driver, const char *id);

/* The whole of file @path, which must be readable. */
char *test_fixture_read_file(const char *path);
/* The names in @dir starting with @prefix, sorted. */
GPtrArray *test_fixture_names_in(const char *dir, const char *prefix);
/* The state file @path, parsed; checked to be a version 1 table. */
JsonNode *test_fixture_load_state(const char *path);
/* Waits for the state file @path to say what query-devices says. */
void test_fixture_assert_file_matches(TestClient *c, const char *path);

/* g_test_init() for the tests test_fixture_add_isolated() registers,
 * which need QEMU. */
void test_fixture_init_isolated(int *argc, char ***argv);
/* Registers @test at @path, to run in a process of its own. */
void test_fixture_add_isolated(const char *path, void (*test)(void));
/* Skips the test, in its own process and in the one that started it. */
void test_fixture_skip(const char *reason);
