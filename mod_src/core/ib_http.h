/* Outbound HTTP(S) GET with libcurl, for metadata (and later discovery and
 * JWKS): TLS always verified, no redirects followed, only http and https,
 * a time limit and a size cap. Safe to call from any thread once
 * ib_http_global_init has run (single-threaded, at startup). */
#ifndef IB_HTTP_H
#define IB_HTTP_H

#include <apr_pools.h>
#include <apr_time.h>

typedef struct ib_http_request {
    const char *url;
    const char *ca_file;           /* NULL = the system's CA store */
    apr_interval_time_t timeout;   /* whole transfer, connect included */
    apr_size_t max_bytes;
    const char *if_none_match;     /* ETag of the copy held, or NULL */
    const char *if_modified_since; /* Last-Modified of the copy held, or NULL */
    const char *form_body;         /* non-NULL: POST application/x-www-form-urlencoded */
    const char *basic_user;        /* HTTP Basic credentials (form-urlencoded first, */
    const char *basic_password;    /* as OAuth 2.0 client_secret_basic asks) */
    const char *bearer;            /* Authorization: Bearer (userinfo) */
} ib_http_request;

typedef struct ib_http_response {
    long status;                   /* 304 when the copy held is current */
    char *body;                    /* NUL-terminated, in the pool */
    apr_size_t len;
    const char *etag;
    const char *last_modified;
} ib_http_response;

void ib_http_global_init(void);

/* GET, or POST with form_body. NULL when an HTTP status arrived (any status: the caller judges it), or why
 * none did: DNS, connect, TLS, timeout, size. */
const char *ib_http_get(apr_pool_t *p, const ib_http_request *req, ib_http_response *out);

#endif
