/* Base64 and DEFLATE-free encodings through OpenSSL, so no module code
 * carries its own decoder. */
#ifndef IB_CODEC_H
#define IB_CODEC_H

#include <apr_pools.h>

/* Decodes Base64 (line breaks allowed) into pool memory, NUL-terminated.
 * Returns the byte count, or -1 on bad input or when it exceeds max_len. */
long ib_b64_decode(apr_pool_t *p, const char *in, apr_size_t max_len,
                   unsigned char **out);

/* Base64 of len bytes, one line. */
const char *ib_b64_encode(apr_pool_t *p, const unsigned char *data, apr_size_t len);

/* Base64url without padding (RFC 7515 section 2), strict: only A-Z a-z 0-9
 * '-' '_', no '=', no whitespace, no length of 1 mod 4, and the unused low
 * bits of the last character must be zero (one encoding per byte string).
 * Reads in_len bytes of in (need not be NUL-terminated); writes the bytes to
 * pool memory, NUL-terminated. Empty input decodes to 0 bytes. Returns the
 * byte count, or -1 on bad input or when it exceeds max_len. */
long ib_b64url_decode(apr_pool_t *p, const char *in, apr_size_t in_len,
                      apr_size_t max_len, unsigned char **out);

/* Base64url of len bytes, without padding. */
const char *ib_b64url_encode(apr_pool_t *p, const unsigned char *data, apr_size_t len);

/* Lowercase hex of len random bytes from OpenSSL's CSPRNG, or NULL. */
const char *ib_random_hex(apr_pool_t *p, apr_size_t len);

#endif
