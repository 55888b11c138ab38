/* URL rules in one place: the SP base URLs our endpoints live under, the IdP
 * endpoints we send browsers to, and the one validator of every redirect
 * target a browser or an IdP hands us. */
#ifndef IB_URL_H
#define IB_URL_H

#include <apr_network_io.h>
#include <apr_pools.h>
#include <apr_tables.h>

typedef struct ib_base_url {
    const char *url;      /* normalised: scheme://host[:port][/prefix], no trailing '/' */
    const char *scheme;   /* "https" or "http" */
    const char *host;     /* lowercase */
    apr_port_t port;      /* explicit or the scheme's default */
    const char *prefix;   /* "" or "/path" (no trailing '/') */
    const char *origin;   /* scheme://host[:port] */
} ib_base_url;

/* Parses an SP base URL (EP-4): absolute http(s), no userinfo, query or
 * fragment; plain http only on a loopback host (test fixtures). */
const char *ib_url_parse_base(apr_pool_t *p, const char *text, ib_base_url *out);

/* Checks an IdP endpoint URL (SSO, SLO): absolute https, or http on a
 * loopback host; no userinfo or fragment. */
const char *ib_url_check_idp_endpoint(apr_pool_t *p, const char *text);

/* 1 for "localhost", 127.0.0.0/8 and [::1]. */
int ib_url_host_is_loopback(const char *host);

/* The one redirect-target validator (return URLs, RelayState targets,
 * post-logout targets). Accepts a local path ("/..." but not "//" or "/\")
 * or an absolute http(s) URL whose origin is base's or one of `origins`
 * (const char *, normalised scheme://host[:port]). No userinfo, spaces,
 * backslashes or control characters anywhere. base NULL: local paths only.
 * Returns the target, or NULL. */
const char *ib_url_check_target(apr_pool_t *p, const char *target, const ib_base_url *base,
                                const apr_array_header_t *origins);

/* base->url + path, e.g. "/saml/acs". */
const char *ib_url_join(apr_pool_t *p, const ib_base_url *base, const char *path);

#endif
