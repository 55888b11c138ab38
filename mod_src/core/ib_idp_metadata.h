/* Reading an IdP's SAML metadata (IDPCERT-7): the one place that turns a
 * metadata document — fetched from a URL or read from a file — into the
 * entity ID, endpoints and signing certificates the SP trusts. Everything in
 * the document is hostile until proven otherwise: no DTDs, a size cap, and,
 * when a metadata-signing certificate is pinned, a signature on the document
 * element that must verify with exactly that certificate. */
#ifndef IB_IDP_METADATA_H
#define IB_IDP_METADATA_H

#include <apr_pools.h>
#include <apr_tables.h>
#include <apr_time.h>

#include "ib_keys.h"

#define IB_IDP_MD_MAX_BYTES (8 * 1024 * 1024)

typedef struct ib_idp_md_rules {
    const char *entity_id;     /* the IdP to pick; NULL = the document's only IdP */
    const ib_cert *signer;     /* pinned metadata signer; NULL = signature not required */
    apr_time_t now;
    int enforce_valid_until;   /* refuse a document whose validUntil has passed */
} ib_idp_md_rules;

typedef struct ib_idp_md {
    const char *entity_id;
    const char *sso_post, *sso_redirect;   /* NULL when the binding is not offered */
    const char *slo_post, *slo_redirect;
    apr_array_header_t *certs;  /* ib_cert*: signing keys (use="signing" or no use) */
    apr_time_t valid_until;     /* 0 = none; the earliest of document and entity */
    apr_interval_time_t cache_duration; /* 0 = none; the shortest given */
    int signature_verified;
} ib_idp_md;

/* Parses and checks one metadata document. Returns NULL or a specific reason
 * (for the log; it may quote entity IDs and URLs, never key material). */
const char *ib_idp_md_parse(apr_pool_t *p, const char *xml, apr_size_t len,
                            const ib_idp_md_rules *rules, ib_idp_md **out);

/* How long to wait before the next fetch (Shibboleth-style): after a good
 * fetch, the shorter of cacheDuration and three quarters of the time left
 * until validUntil, else max; after `failures` failed fetches in a row,
 * min doubled per failure. Always within [min, max]. */
apr_interval_time_t ib_idp_md_refresh_delay(const ib_idp_md *md, int failures,
                                            apr_time_t now, apr_interval_time_t min,
                                            apr_interval_time_t max);

#endif
