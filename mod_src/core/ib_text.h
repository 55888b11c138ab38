/* Small text helpers shared by the error-page templates (ib_pages.c) and the
 * audit log (ib_audit_line.c): UTF-8 checks and cutting. (HTML escaping is
 * ib_html_escape of ib_status.h.) */
#ifndef IB_TEXT_H
#define IB_TEXT_H

#include <apr_pools.h>

/* The length (1-4) of the well-formed UTF-8 sequence at s, of which `avail`
 * bytes may be read; 0 when the bytes there are not UTF-8 (overlong forms,
 * surrogates and values above U+10FFFF included). */
apr_size_t ib_utf8_char_len(const char *s, apr_size_t avail);

/* 1 when the n bytes at s are UTF-8 throughout; *bad gets the offset of the
 * first bad byte otherwise (bad may be NULL). NUL is valid UTF-8 here. */
int ib_utf8_valid(const char *s, apr_size_t n, apr_size_t *bad);

/* s cut to at most max bytes on a character boundary, with "..." appended
 * when it was cut (so at most max + 3 bytes); s itself when short enough. */
const char *ib_text_cut(apr_pool_t *p, const char *s, apr_size_t max);

#endif
