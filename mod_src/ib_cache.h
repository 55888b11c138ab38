/* The module's one door to httpd's socache (sessions, pending requests,
 * replay records). shmcb by default; any provider by IdBrokerSessionCache. */
#ifndef IB_CACHE_H
#define IB_CACHE_H

#include <apr_global_mutex.h>
#include <ap_socache.h>
#include <httpd.h>

#include "core/ib_store.h"

typedef struct ib_cache {
    const char *provider_name;
    const char *args;
    const ap_socache_provider_t *provider;
    ap_socache_instance_t *instance;
    apr_global_mutex_t *mutex;
    apr_array_header_t *seal_keys; /* ib_seal_key*; the first seals; empty = plain */
    ib_session_memo *memo;         /* per process (child_init); NULL: none */
} ib_cache;

/* Decoded sessions each process keeps (ib_session_memo): up to twice this
 * many, about 1 KiB each. */
#define IB_CACHE_MEMO_SETS 4096

#define IB_CACHE_MUTEX_TYPE "idbroker-cache"

/* "shmcb", "shmcb:/path(bytes)", "redis:host:port", ... (config time). */
const char *ib_cache_configure(apr_pool_t *p, ib_cache *c, const char *spec);
/* IdBrokerStoreKey ID FILE (config time): a key that seals entries. */
const char *ib_cache_add_seal_key(apr_pool_t *p, ib_cache *c, const char *id, const char *path);
void ib_cache_pre_config(apr_pool_t *pconf);
apr_status_t ib_cache_post_config(ib_cache *c, apr_pool_t *pconf, apr_pool_t *ptemp,
                                  server_rec *s);
void ib_cache_child_init(ib_cache *c, apr_pool_t *p, server_rec *s);

/* APR_SUCCESS, APR_NOTFOUND or an error. *value is NUL-terminated. With
 * seal keys, an entry that does not open (forged, moved, expired) is logged
 * and reads as APR_NOTFOUND. */
apr_status_t ib_cache_get(ib_cache *c, server_rec *s, apr_pool_t *p, const char *key,
                          const char **value);
/* A session record: like ib_cache_get then ib_session_decode (an entry that
 * does not decode reads as APR_NOTFOUND), but the decoding is remembered
 * per process for the exact stored bytes (ib_session_memo). The store is
 * read every time. */
apr_status_t ib_cache_get_session(ib_cache *c, server_rec *s, apr_pool_t *p, const char *key,
                                  ib_session *out);
apr_status_t ib_cache_put(ib_cache *c, server_rec *s, apr_pool_t *p, const char *key,
                          const char *value, apr_time_t expiry);
apr_status_t ib_cache_remove(ib_cache *c, server_rec *s, apr_pool_t *p, const char *key);
/* Reads and deletes in one step: single-use records (pending requests). */
apr_status_t ib_cache_take(ib_cache *c, server_rec *s, apr_pool_t *p, const char *key,
                           const char **value);
/* Read-modify-write under the cache lock: update(old or NULL) gives the new
 * value, or NULL to delete. */
typedef const char *ib_cache_update_fn(apr_pool_t *p, const char *old, void *baton);
apr_status_t ib_cache_update(ib_cache *c, server_rec *s, apr_pool_t *p, const char *key,
                             ib_cache_update_fn *update, void *baton, apr_time_t expiry);

/* The answer when the store fails (not a miss): a 503 page with a
 * transaction ID and a log line naming the backend, so an outage is never a
 * redirect loop and never access. `what` says what was being done. */
int ib_cache_unavailable(request_rec *r, const ib_cache *c, apr_status_t rv, const char *what);

/* 1 when rv means the store failed, not merely that the key is absent. */
int ib_cache_failed(apr_status_t rv);

/* Stores only when absent; APR_EEXIST otherwise (the replay cache). */
apr_status_t ib_cache_add(ib_cache *c, server_rec *s, apr_pool_t *p, const char *key,
                          const char *value, apr_time_t expiry);

#endif
