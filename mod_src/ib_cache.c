#include <httpd.h>
#include <stdlib.h>
#include <string.h>

#include <apr_strings.h>
#include <ap_provider.h>
#include <http_log.h>
#include <util_mutex.h>

#include "core/ib_clock.h"
#include "core/ib_seal.h"
#include "core/ib_store.h"
#include "ib_cache.h"
#include "ib_error.h"

APLOG_USE_MODULE(auth_idbroker);

#define DEFAULT_PROVIDER "shmcb"
#define CACHE_NAMESPACE "mod_auth_idbroker"
/* Room for the largest record once sealed (Base64 plus nonce, tag, expiry). */
#define ENTRY_MAX (IB_SESSION_MAX_BYTES / 3 * 4 + 256)

/* shmcb sizes its index from these: one slot per (id + object) bytes. Our
 * entries are small (a 72-byte key; a session record ~700 bytes, a pending
 * sign-in ~400, replay and NameID-index entries ~100-200) and every sign-in
 * leaves four, so with 1024 the index filled at a quarter of the data and
 * shmcb evicted live sessions with most of the cache empty (bench part 4). */
static struct ap_socache_hints cache_hints = {72, 320, 60};

const char *ib_cache_configure(apr_pool_t *p, ib_cache *c, const char *spec)
{
    const char *colon = ap_strchr_c(spec, ':');
    c->provider_name = colon ? apr_pstrndup(p, spec, (apr_size_t)(colon - spec))
                             : apr_pstrdup(p, spec);
    c->args = colon ? apr_pstrdup(p, colon + 1) : NULL;
    c->provider = ap_lookup_provider(AP_SOCACHE_PROVIDER_GROUP, c->provider_name,
                                     AP_SOCACHE_PROVIDER_VERSION);
    if (c->provider == NULL) {
        return apr_psprintf(p, "IdBrokerSessionCache: no socache provider '%s'; load it "
                            "first (e.g. LoadModule socache_%s_module)", c->provider_name,
                            c->provider_name);
    }
    const char *err = c->provider->create(&c->instance, c->args, p, p);
    return err ? apr_psprintf(p, "IdBrokerSessionCache '%s': %s", spec, err) : NULL;
}

const char *ib_cache_add_seal_key(apr_pool_t *p, ib_cache *c, const char *id, const char *path)
{
    ib_seal_key *key;
    const char *err = ib_seal_key_load(p, id, path, &key);
    if (err != NULL) {
        return apr_pstrcat(p, "IdBrokerStoreKey: ", err, NULL);
    }
    if (c->seal_keys == NULL) {
        c->seal_keys = apr_array_make(p, 2, sizeof(ib_seal_key *));
    }
    for (int i = 0; i < c->seal_keys->nelts; i++) {
        if (strcmp(APR_ARRAY_IDX(c->seal_keys, i, ib_seal_key *)->id, id) == 0) {
            return apr_psprintf(p, "IdBrokerStoreKey: key ID '%s' is given twice", id);
        }
    }
    APR_ARRAY_PUSH(c->seal_keys, ib_seal_key *) = key;
    return NULL;
}

static int sealed(const ib_cache *c)
{
    return c->seal_keys != NULL && c->seal_keys->nelts > 0;
}

/* Stores that only this machine's httpd can reach; every other provider
 * (redis, memcache, ...) is shared over the network and must seal. */
static int node_local(const ib_cache *c)
{
    return strcmp(c->provider_name, "shmcb") == 0 || strcmp(c->provider_name, "dbm") == 0;
}

/* The key the provider sees. shmcb picks a subcache by the key's first byte
 * masked with the subcache count, which reaches 256 in large caches; the
 * store key's printable first character has 64 values (enough for redis and
 * memcache, which need text keys). For shmcb the first byte becomes the
 * hash's first byte itself (1..255; binary keys are fine there), so every
 * subcache is used. Sealing stays bound to the logical key. */
static const char *physical_key(const ib_cache *c, apr_pool_t *p, const char *key,
                                unsigned int *len)
{
    *len = (unsigned int)strlen(key);
    if (strcmp(c->provider_name, "shmcb") != 0 || *len < 10 || key[1] != '.') {
        return key;
    }
    const char *hex = strrchr(key, ':');
    unsigned v = hex ? (unsigned)strtoul(apr_pstrndup(p, hex + 1, 4), NULL, 16) : 0;
    char *k = apr_pstrdup(p, key);
    /* shmcb picks the subcache by the key's first byte: the hash's first
     * byte, except that keys keep no NUL; those take the second hash byte,
     * so no subcache gets twice its share (it would evict first). */
    unsigned first = v >> 8, second = v & 0xff;
    k[0] = (char)(first ? first : (second ? second : 1));
    return k;
}

static apr_status_t remove_key(ib_cache *c, server_rec *s, apr_pool_t *p, const char *key)
{
    unsigned int klen;
    const char *pkey = physical_key(c, p, key, &klen);
    return c->provider->remove(c->instance, s, (const unsigned char *)pkey, klen, p);
}

void ib_cache_pre_config(apr_pool_t *pconf)
{
    ap_mutex_register(pconf, IB_CACHE_MUTEX_TYPE, NULL, APR_LOCK_DEFAULT, 0);
}

apr_status_t ib_cache_post_config(ib_cache *c, apr_pool_t *pconf, apr_pool_t *ptemp,
                                  server_rec *s)
{
    if (c->provider == NULL) {
        const char *err = ib_cache_configure(pconf, c, DEFAULT_PROVIDER);
        if (err != NULL) {
            ap_log_error(APLOG_MARK, APLOG_EMERG, 0, s, "%s", err);
            return APR_EGENERAL;
        }
    }
    if (!node_local(c) && !sealed(c)) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, 0, s, "mod_auth_idbroker: IdBrokerSessionCache "
                     "%s is shared over the network: add IdBrokerStoreKey ID FILE (the same "
                     "key file on every node; openssl rand -hex 32 > FILE) so entries are "
                     "sealed", c->provider_name);
        return APR_EGENERAL;
    }
    apr_status_t rv = ap_global_mutex_create(&c->mutex, NULL, IB_CACHE_MUTEX_TYPE, NULL,
                                             s, pconf, 0);
    if (rv != APR_SUCCESS) {
        return rv;
    }
    rv = c->provider->init(c->instance, CACHE_NAMESPACE, &cache_hints, s, pconf);
    if (rv != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, rv, s,
                     "mod_auth_idbroker: cannot initialise the %s session cache",
                     c->provider_name);
    }
    return rv;
}

void ib_cache_child_init(ib_cache *c, apr_pool_t *p, server_rec *s)
{
    if (c->mutex != NULL) {
        apr_global_mutex_child_init(&c->mutex, apr_global_mutex_lockfile(c->mutex), p);
    }
    /* Per process: a memo made before the fork would be every child's copy. */
    c->memo = ib_session_memo_create(p, IB_CACHE_MEMO_SETS);
}

static void lock(ib_cache *c)
{
    apr_global_mutex_lock(c->mutex);
}

static void unlock(ib_cache *c)
{
    apr_global_mutex_unlock(c->mutex);
}

/* Providers not safe across processes (shmcb) need our lock for every call. */
static int needs_lock(const ib_cache *c)
{
    return (c->provider->flags & AP_SOCACHE_FLAG_NOTMPSAFE) != 0;
}

/* The stored bytes under key, NUL-terminated, in p. */
static apr_status_t read_raw(ib_cache *c, server_rec *s, apr_pool_t *p, const char *key,
                             const char **raw, unsigned int *raw_len)
{
    unsigned int len = ENTRY_MAX;
    unsigned char *buf = apr_palloc(p, len + 1);
    unsigned int klen;
    const char *pkey = physical_key(c, p, key, &klen);
    apr_status_t rv = c->provider->retrieve(c->instance, s, (const unsigned char *)pkey, klen,
                                            buf, &len, p);
    if (rv != APR_SUCCESS) {
        return rv;
    }
    buf[len] = '\0';
    *raw = (const char *)buf;
    *raw_len = len;
    return APR_SUCCESS;
}

/* The value in stored bytes: unsealed (and its expiry) for a sealed store,
 * as is otherwise. A seal that does not check is logged and read as absent. */
static apr_status_t open_raw(ib_cache *c, server_rec *s, apr_pool_t *p, const char *key,
                             const char *raw, apr_time_t now, const char **value,
                             apr_time_t *valid_until)
{
    *value = raw;
    *valid_until = 0;
    if (!sealed(c)) {
        return APR_SUCCESS;
    }
    const char *err = ib_unseal(p, c->seal_keys, key, raw, now, value, valid_until);
    if (err != NULL) {
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s, "mod_auth_idbroker: %s entry "
                     "refused (read as absent): %s", c->provider_name, err);
        return APR_NOTFOUND;
    }
    return APR_SUCCESS;
}

static apr_status_t get_unlocked(ib_cache *c, server_rec *s, apr_pool_t *p,
                                 const char *key, const char **value)
{
    const char *raw;
    unsigned int len;
    apr_time_t valid_until;
    apr_status_t rv = read_raw(c, s, p, key, &raw, &len);
    return rv == APR_SUCCESS ? open_raw(c, s, p, key, raw, ib_now(), value, &valid_until) : rv;
}

static apr_status_t put_unlocked(ib_cache *c, server_rec *s, apr_pool_t *p,
                                 const char *key, const char *value, apr_time_t expiry)
{
    if (sealed(c)) {
        value = ib_seal(p, APR_ARRAY_IDX(c->seal_keys, 0, const ib_seal_key *), key, value,
                        expiry);
        if (value == NULL) {
            return APR_EGENERAL;
        }
    }
    if (strlen(value) > ENTRY_MAX) {
        return APR_ENOSPC;  /* would be cut short on the way back */
    }
    unsigned int klen;
    const char *pkey = physical_key(c, p, key, &klen);
    apr_status_t rv = c->provider->store(c->instance, s, (const unsigned char *)pkey, klen,
                                         expiry,
                                         (unsigned char *)value, (unsigned int)strlen(value), p);
    /* A failed write is a failure, whatever status the provider passes on
     * (redis: APR_NOTFOUND for a dead server), never "absent" or "exists". */
    return rv == APR_SUCCESS || rv == APR_ENOSPC ? rv : APR_EGENERAL;
}

/* APR's redis and memcache clients mark a server dead after one failure
 * and then answer reads with "not found" without asking it, for seconds.
 * A miss from a network store is therefore checked with one throw-away
 * write: if that fails too, the store is down, not the key absent. Misses
 * are rare (a cookie or state that should exist), so this costs little. */
static apr_status_t confirm_miss(ib_cache *c, server_rec *s, apr_pool_t *p, apr_status_t rv)
{
    if (rv != APR_NOTFOUND || node_local(c)) {
        return rv;
    }
    /* Written like every other entry (sealed), so the store holds nothing
     * in the clear. put_unlocked turns any failed write into APR_EGENERAL:
     * mod_socache_redis passes on apr_redis's APR_NOTFOUND ("socket not in
     * poll list") for a dead server, even for a write. */
    apr_status_t probe = put_unlocked(c, s, p, "0.idb:p:probe", "1",
                                      apr_time_now() + apr_time_from_sec(60));
    return probe == APR_SUCCESS ? APR_NOTFOUND : APR_EGENERAL;
}

apr_status_t ib_cache_get(ib_cache *c, server_rec *s, apr_pool_t *p, const char *key,
                          const char **value)
{
    int locked = needs_lock(c);
    if (locked) lock(c);
    apr_status_t rv = confirm_miss(c, s, p, get_unlocked(c, s, p, key, value));
    if (locked) unlock(c);
    return rv;
}

apr_status_t ib_cache_get_session(ib_cache *c, server_rec *s, apr_pool_t *p, const char *key,
                                  ib_session *out)
{
    const char *raw;
    unsigned int len;
    int locked = needs_lock(c);
    if (locked) lock(c);
    apr_status_t rv = confirm_miss(c, s, p, read_raw(c, s, p, key, &raw, &len));
    if (locked) unlock(c);
    if (rv != APR_SUCCESS) {
        return rv;
    }
    apr_time_t now = ib_now();
    /* The record was read just now, from the store, like any other; only
     * its decoding is skipped when these are the very bytes decoded before
     * (a sealed entry's seal was checked then; its expiry is checked here). */
    if (c->memo != NULL && ib_session_memo_lookup(c->memo, p, key, raw, len, now, out)) {
        return APR_SUCCESS;
    }
    const char *json;
    apr_time_t valid_until;
    rv = open_raw(c, s, p, key, raw, now, &json, &valid_until);
    if (rv != APR_SUCCESS || !ib_session_decode(p, json, out)) {
        return APR_NOTFOUND;
    }
    if (c->memo != NULL) {
        ib_session_memo_store(c->memo, key, raw, len, valid_until, out);
    }
    return APR_SUCCESS;
}

apr_status_t ib_cache_put(ib_cache *c, server_rec *s, apr_pool_t *p, const char *key,
                          const char *value, apr_time_t expiry)
{
    int locked = needs_lock(c);
    if (locked) lock(c);
    apr_status_t rv = put_unlocked(c, s, p, key, value, expiry);
    if (locked) unlock(c);
    return rv;
}

apr_status_t ib_cache_remove(ib_cache *c, server_rec *s, apr_pool_t *p, const char *key)
{
    if (c->memo != NULL) {
        ib_session_memo_forget(c->memo, key);   /* memory only: reads compare bytes */
    }
    int locked = needs_lock(c);
    if (locked) lock(c);
    apr_status_t rv = remove_key(c, s, p, key);
    if (locked) unlock(c);
    return rv;
}

apr_status_t ib_cache_take(ib_cache *c, server_rec *s, apr_pool_t *p, const char *key,
                           const char **value)
{
    lock(c);
    apr_status_t rv = confirm_miss(c, s, p, get_unlocked(c, s, p, key, value));
    if (rv == APR_SUCCESS) {
        remove_key(c, s, p, key);
    }
    unlock(c);
    return rv;
}

apr_status_t ib_cache_add(ib_cache *c, server_rec *s, apr_pool_t *p, const char *key,
                          const char *value, apr_time_t expiry)
{
    const char *existing;
    lock(c);
    apr_status_t rv = get_unlocked(c, s, p, key, &existing);
    /* Only a hit means "already there". Providers disagree on how a miss
     * looks (mod_socache_dbm answers APR_EGENERAL); a provider that is
     * really failing fails the store below as well, and that error is
     * returned, so a miss is never mistaken for success. */
    if (rv == APR_SUCCESS) {
        rv = APR_EEXIST;
    } else {
        rv = put_unlocked(c, s, p, key, value, expiry);
    }
    unlock(c);
    return rv;
}

apr_status_t ib_cache_update(ib_cache *c, server_rec *s, apr_pool_t *p, const char *key,
                             ib_cache_update_fn *update, void *baton, apr_time_t expiry)
{
    const char *old = NULL;
    lock(c);
    /* A miss, however the provider reports it (see ib_cache_add), is an
     * absent record; a failing provider fails the write below. */
    apr_status_t rv = get_unlocked(c, s, p, key, &old);
    const char *value = update(p, rv == APR_SUCCESS ? old : NULL, baton);
    rv = value ? put_unlocked(c, s, p, key, value, expiry)
               : remove_key(c, s, p, key);
    if (rv == APR_NOTFOUND || (value == NULL && rv != APR_SUCCESS)) {
        rv = APR_SUCCESS;   /* removing what is not there is done */
    }
    unlock(c);
    return rv;
}

int ib_cache_failed(apr_status_t rv)
{
    return rv != APR_SUCCESS && rv != APR_NOTFOUND && rv != APR_EEXIST;
}

int ib_cache_unavailable(request_rec *r, const ib_cache *c, apr_status_t rv, const char *what)
{
    char msg[120];
    apr_table_setn(r->err_headers_out, "Retry-After", "5");
    return ib_error_page(r, HTTP_SERVICE_UNAVAILABLE, APLOG_ERR, "Sign-in Is Unavailable",
                         "Sign-in is unavailable for a moment. Please try again shortly.",
                         apr_psprintf(r->pool, "session store %s%s%s failed to %s: %s",
                                      c->provider_name, c->args ? ":" : "",
                                      c->args ? c->args : "", what,
                                      apr_strerror(rv, msg, sizeof(msg))));
}
