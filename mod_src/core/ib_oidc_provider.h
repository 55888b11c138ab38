/* What the module knows about an OpenID Provider in this process: its
 * discovery document and signing keys (JWKS), fetched with ib_http at start
 * (post_config, before the children fork) and again when an hour old or when
 * an ID token names a key ID the JWKS lacks (OIDC-2: at most one such
 * refetch per 10 s). A failed refresh keeps the copy in force. Snapshots are
 * reference-counted, so a thread verifying with the old keys is never left
 * with freed ones when another thread swaps in new ones. */
#ifndef IB_OIDC_PROVIDER_H
#define IB_OIDC_PROVIDER_H

#include <apr_pools.h>
#include <apr_tables.h>
#include <apr_thread_mutex.h>
#include <apr_time.h>

#include "ib_oidc.h"

#define IB_OIDC_PROVIDER_TTL apr_time_from_sec(3600)
#define IB_OIDC_REFETCH_GAP apr_time_from_sec(10)
#define IB_OIDC_FETCH_TIMEOUT apr_time_from_sec(10)

typedef struct ib_oidc_snapshot {
    apr_pool_t *pool;
    int refs;
    int retired;
    ib_oidc_discovery *discovery;
    apr_array_header_t *keys;      /* from ib_jwks_parse */
    apr_time_t fetched_at;
} ib_oidc_snapshot;

typedef struct ib_oidc_provider {
    const ib_oidc_conf *conf;
    apr_thread_mutex_t *lock;
    ib_oidc_snapshot *current;
    apr_time_t last_forced;
    int fetching;
} ib_oidc_provider;

ib_oidc_provider *ib_oidc_provider_make(apr_pool_t *pconf, const ib_oidc_conf *conf);

/* A snapshot to use (release it after), fetching when there is none, when it
 * is older than the TTL, or with `force` (unknown kid) when the last forced
 * fetch is IB_OIDC_REFETCH_GAP old. Messages are allocated in p. *fetch_err reports a failed fetch even
 * when an older snapshot is returned; the return value is non-NULL only when
 * no snapshot exists at all. */
const char *ib_oidc_provider_acquire(ib_oidc_provider *op, apr_pool_t *p, apr_time_t now,
                                     int force, ib_oidc_snapshot **out, const char **fetch_err);
void ib_oidc_provider_release(ib_oidc_provider *op, ib_oidc_snapshot *s);

#endif
