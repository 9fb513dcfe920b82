/* wrap.h - "qmproxy wrap": running QEMU with the proxy in front of it. */
#pragma once

/* @argv: "wrap" [OPTIONS] -- QEMU [ARGS...]; or, when invoked under a name
 * ending in -qmproxy (@self), that name and QEMU's arguments. Returns
 * QEMU's exit status (128 + N if a signal N ended it). */
int wrap_main(int argc, char **argv, const char *self);
