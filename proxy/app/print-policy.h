/* print-policy.h - "qmproxy --print-policy": the policies and where they
 * apply, and, asked of QEMU, which of its commands each allows. */
#pragma once

#include "cli.h"

/* Prints to stdout; the exit status (1 when QEMU could not be asked). */
int print_policy(Cli *cli, const AppOptions *opts);
