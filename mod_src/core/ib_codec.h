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

/* Lowercase hex of len random bytes from OpenSSL's CSPRNG, or NULL. */
const char *ib_random_hex(apr_pool_t *p, apr_size_t len);

#endif
