/* manager.h - the device manager's commands (Kata's DeviceManager and
 * Device): devices made once per host device, reference and attach
 * counts, hot-plug on the first attach and unplug on the last detach. */
#pragma once

#include "proxy.h"

/* The capability a client enables to get the manager's events. */
#define MANAGER_CAPABILITY "__org.qmproxy_device-manager"

typedef void (*ManagerReady)(Proxy *proxy);

Manager *manager_new(Proxy *proxy);
void manager_free(Manager *m);
/* Stops answering clients and sending to QEMU: the proxy is going away
 * and what is still in flight will complete with no reply. */
void manager_shutdown(Manager *m);
/* Runs the device-manager command @req (checked against the schema) for
 * @client; the answer goes to proxy_client_answer(@client, @slot), now
 * or once QEMU has done its part. */
void manager_execute(Manager *m, ProxyClient *client, gpointer slot, const QmpRequest *req);
/* The client is gone: what it asked for goes on, unanswered. */
void manager_forget_client(Manager *m, ProxyClient *client);
/* A QMP event from QEMU (after the core has seen it). */
void manager_event(Manager *m, QmpValue *event);
/* Loads the device table kept in @path (--state), which every change
 * is then written to. FALSE with @error when the file is unusable; with
 * @reset such a file is moved aside and the table starts empty. */
gboolean manager_open_state(Manager *m, const char *path, gboolean reset, GError **error);
/* Once the core has learnt what QEMU has: brings the loaded table in line
 * with it (finishing or undoing what was in flight), then calls @ready. */
void manager_reconcile(Manager *m, ManagerReady ready);
