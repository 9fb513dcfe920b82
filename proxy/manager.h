/* manager.h - the device manager's commands (Kata's DeviceManager and
 * Device): devices made once per host device, reference and attach
 * counts, hot-plug on the first attach and unplug on the last detach. */
#pragma once

#include "proxy.h"

/* The capability a client enables to get the manager's events. */
#define MANAGER_CAPABILITY "__org.qmproxy_device-manager"

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
