/* trace-tool.h - "qmproxy trace": reading trace files. */
#pragma once

/* Runs "qmproxy trace ARGS..." (@argv[0] is "trace"); returns the exit status. */
int trace_tool_main(int argc, char **argv);
