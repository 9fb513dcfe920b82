/* utf8.c - modified UTF-8 as QEMU's JSON parser and writer treat it. */
#include "utf8.h"

static gboolean codepoint_valid(int cp)
{
    if (cp < 0 || cp > 0x10FFFF) {
        return FALSE;
    }
    if ((cp >= 0xFDD0 && cp <= 0xFDEF) || (cp & 0xFFFE) == 0xFFFE) {
        return FALSE; /* noncharacters */
    }
    return cp < 0xD800 || cp > 0xDFFF;
}

int qmp_utf8_decode(const char *s, gsize n, const char **end)
{
    static const int min_cp[] = { 0x80, 0x800, 0x10000, 0x200000, 0x4000000 };
    const guchar *p = (const guchar *)s;
    guint byte, len = 0;
    int cp;

    if (n == 0 || *p == 0) {
        *end = s;
        return -1;
    }
    byte = *p++;
    if (byte < 0x80) {
        *end = (const char *)p;
        return (int)byte;
    }
    if (byte >= 0xFE || !(byte & 0x40)) {
        /* impossible byte, or a continuation byte where a lead belongs */
        *end = (const char *)p;
        return -1;
    }
    guint mask = 0x80;
    for (; byte & mask; mask >>= 1) {
        len++;
    }
    cp = (int)(byte & (mask - 1));
    for (guint i = 1; i < len; i++) {
        guint c = i < n ? *p : 0;

        if ((c & 0xC0) != 0x80) {
            *end = (const char *)p;
            return -1;
        }
        p++;
        cp = (cp << 6) | (int)(c & 0x3F);
    }
    *end = (const char *)p;
    if (!codepoint_valid(cp)) {
        return -1;
    }
    if (cp < min_cp[len - 2] && !(cp == 0 && len == 2)) {
        return -1; /* overlong, except the modified-UTF-8 NUL */
    }
    return cp;
}

int qmp_utf8_encode(char buf[5], int cp)
{
    if (!codepoint_valid(cp)) {
        return -1;
    }
    if (cp > 0 && cp <= 0x7F) {
        buf[0] = (char)cp;
        buf[1] = 0;
        return 1;
    }
    if (cp <= 0x7FF) {
        buf[0] = (char)(0xC0 | (cp >> 6));
        buf[1] = (char)(0x80 | (cp & 0x3F));
        buf[2] = 0;
        return 2;
    }
    if (cp <= 0xFFFF) {
        buf[0] = (char)(0xE0 | (cp >> 12));
        buf[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        buf[2] = (char)(0x80 | (cp & 0x3F));
        buf[3] = 0;
        return 3;
    }
    buf[0] = (char)(0xF0 | (cp >> 18));
    buf[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    buf[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    buf[3] = (char)(0x80 | (cp & 0x3F));
    buf[4] = 0;
    return 4;
}
