/* utf8.h - QEMU's "modified UTF-8": UTF-8 in which U+0000 is "\xC0\x80",
 * surrogates and noncharacters are invalid. */
#pragma once

#include <glib.h>

/* Decodes the sequence at @s (at most @n bytes); sets *@end past it and
 * returns the code point, or -1 if the sequence is invalid. */
int qmp_utf8_decode(const char *s, gsize n, const char **end);
/* Encodes @cp into @buf (5 bytes, NUL-terminated); -1 if @cp is invalid. */
int qmp_utf8_encode(char buf[5], int cp);
