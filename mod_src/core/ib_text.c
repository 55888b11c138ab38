#include <string.h>

#include <apr_strings.h>

#include "ib_text.h"

apr_size_t ib_utf8_char_len(const char *s, apr_size_t avail)
{
    const unsigned char *u = (const unsigned char *)s;
    if (avail == 0) {
        return 0;
    }
    if (u[0] < 0x80) {
        return 1;
    }
    apr_size_t n;
    unsigned long cp, min;
    if (u[0] >= 0xc2 && u[0] <= 0xdf) {
        n = 2, cp = u[0] & 0x1f, min = 0x80;
    } else if (u[0] >= 0xe0 && u[0] <= 0xef) {
        n = 3, cp = u[0] & 0x0f, min = 0x800;
    } else if (u[0] >= 0xf0 && u[0] <= 0xf4) {
        n = 4, cp = u[0] & 0x07, min = 0x10000;
    } else {
        return 0;
    }
    if (avail < n) {
        return 0;
    }
    for (apr_size_t i = 1; i < n; i++) {
        if ((u[i] & 0xc0) != 0x80) {
            return 0;
        }
        cp = (cp << 6) | (u[i] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
        return 0;
    }
    return n;
}

int ib_utf8_valid(const char *s, apr_size_t n, apr_size_t *bad)
{
    apr_size_t i = 0;
    while (i < n) {
        apr_size_t len = ib_utf8_char_len(s + i, n - i);
        if (len == 0) {
            if (bad != NULL) {
                *bad = i;
            }
            return 0;
        }
        i += len;
    }
    return 1;
}

const char *ib_text_cut(apr_pool_t *p, const char *s, apr_size_t max)
{
    apr_size_t n = strlen(s);
    if (n <= max) {
        return s;
    }
    apr_size_t i = 0;
    while (i < max) {
        apr_size_t len = ib_utf8_char_len(s + i, n - i);
        if (len == 0) {
            len = 1;                    /* a stray byte: its own unit */
        }
        if (i + len > max) {
            break;
        }
        i += len;
    }
    return apr_pstrcat(p, apr_pstrndup(p, s, i), "...", NULL);
}
