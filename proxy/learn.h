/* learn.h - learning QEMU's existing devices at start-up. */
#pragma once

#include "proxy.h"

/* Called once everything is learnt, with the number of devices found. */
typedef void (*LearnDone)(Proxy *proxy, guint devices);

/* Asks QEMU (through the router, on nobody's behalf) what devices it has
 * and hands them to the device manager; then calls @done. */
void learn_start(Proxy *proxy, LearnDone done);
