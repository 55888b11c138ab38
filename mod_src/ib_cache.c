#include <httpd.h>
#include <string.h>

#include <apr_strings.h>
#include <ap_provider.h>
#include <http_log.h>
#include <util_mutex.h>

#include "core/ib_store.h"
#include "ib_cache.h"

APLOG_USE_MODULE(auth_idbroker);

#define DEFAULT_PROVIDER "shmcb"
#define CACHE_NAMESPACE "mod_auth_idbroker"

static struct ap_socache_hints cache_hints = {64, 1024, 60};

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

static apr_status_t get_unlocked(ib_cache *c, server_rec *s, apr_pool_t *p,
                                 const char *key, const char **value)
{
    unsigned int len = IB_SESSION_MAX_BYTES;
    unsigned char *buf = apr_palloc(p, len + 1);
    apr_status_t rv = c->provider->retrieve(c->instance, s, (const unsigned char *)key,
                                            (unsigned int)strlen(key), buf, &len, p);
    if (rv == APR_SUCCESS) {
        buf[len] = '\0';
        *value = (const char *)buf;
    }
    return rv;
}

static apr_status_t put_unlocked(ib_cache *c, server_rec *s, apr_pool_t *p,
                                 const char *key, const char *value, apr_time_t expiry)
{
    return c->provider->store(c->instance, s, (const unsigned char *)key,
                              (unsigned int)strlen(key), expiry,
                              (unsigned char *)value, (unsigned int)strlen(value), p);
}

apr_status_t ib_cache_get(ib_cache *c, server_rec *s, apr_pool_t *p, const char *key,
                          const char **value)
{
    int locked = needs_lock(c);
    if (locked) lock(c);
    apr_status_t rv = get_unlocked(c, s, p, key, value);
    if (locked) unlock(c);
    return rv;
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
    int locked = needs_lock(c);
    if (locked) lock(c);
    apr_status_t rv = c->provider->remove(c->instance, s, (const unsigned char *)key,
                                          (unsigned int)strlen(key), p);
    if (locked) unlock(c);
    return rv;
}

apr_status_t ib_cache_take(ib_cache *c, server_rec *s, apr_pool_t *p, const char *key,
                           const char **value)
{
    lock(c);
    apr_status_t rv = get_unlocked(c, s, p, key, value);
    if (rv == APR_SUCCESS) {
        c->provider->remove(c->instance, s, (const unsigned char *)key,
                            (unsigned int)strlen(key), p);
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
               : c->provider->remove(c->instance, s, (const unsigned char *)key,
                                     (unsigned int)strlen(key), p);
    if (rv == APR_NOTFOUND || (value == NULL && rv != APR_SUCCESS)) {
        rv = APR_SUCCESS;   /* removing what is not there is done */
    }
    unlock(c);
    return rv;
}
