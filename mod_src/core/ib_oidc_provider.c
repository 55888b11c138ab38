#include <apr_allocator.h>
#include <apr_strings.h>

#include "ib_http.h"
#include "ib_jose.h"
#include "ib_oidc_provider.h"

#define DOC_MAX_BYTES (256 * 1024)

ib_oidc_provider *ib_oidc_provider_make(apr_pool_t *pconf, const ib_oidc_conf *conf)
{
    ib_oidc_provider *op = apr_pcalloc(pconf, sizeof(*op));
    op->conf = conf;
    apr_thread_mutex_create(&op->lock, APR_THREAD_MUTEX_DEFAULT, pconf);
    return op;
}

static const char *get_json(apr_pool_t *p, const char *url, const char *what, const char **body)
{
    ib_http_request req = {url, NULL, IB_OIDC_FETCH_TIMEOUT, DOC_MAX_BYTES, NULL, NULL};
    ib_http_response res;
    const char *err = ib_http_get(p, &req, &res);
    if (err == NULL && res.status != 200) {
        err = apr_psprintf(p, "HTTP status %ld", res.status);
    }
    if (err != NULL) {
        return apr_psprintf(p, "%s %s: %s", what, url, err);
    }
    *body = res.body;
    return NULL;
}

/* A snapshot in a pool of its own (its own allocator: made and destroyed by
 * whichever request thread happens to fetch or release last). */
static const char *fetch(apr_pool_t *errpool, const ib_oidc_conf *conf, apr_time_t now,
                         ib_oidc_snapshot **out)
{
    apr_allocator_t *allocator;
    apr_pool_t *p;
    apr_allocator_create(&allocator);
    apr_pool_create_unmanaged_ex(&p, NULL, allocator);
    apr_allocator_owner_set(allocator, p);
    ib_oidc_snapshot *s = apr_pcalloc(p, sizeof(*s));
    s->pool = p;
    s->fetched_at = now;
    const char *body = NULL, *jwks_err = NULL;
    const char *err = get_json(p, conf->discovery_url, "discovery", &body);
    if (err == NULL) {
        err = ib_oidc_discovery_parse(p, body, conf, &s->discovery);
    }
    if (err == NULL) {
        err = get_json(p, s->discovery->jwks_uri, "JWKS", &body);
    }
    if (err == NULL && (s->keys = NULL, ib_jwks_parse(p, body, &s->keys, &jwks_err) != 0
                        || s->keys == NULL)) {
        err = apr_psprintf(p, "JWKS %s: %s", s->discovery->jwks_uri,
                           jwks_err ? jwks_err : "unreadable");
    }
    if (err != NULL) {
        err = apr_pstrdup(errpool, err);
        apr_pool_destroy(p);
        return err;
    }
    *out = s;
    return NULL;
}

static void drop_locked(ib_oidc_snapshot *s)
{
    if (s != NULL && s->retired && s->refs == 0) {
        apr_pool_destroy(s->pool);
    }
}

const char *ib_oidc_provider_acquire(ib_oidc_provider *op, apr_pool_t *p, apr_time_t now,
                                     int force, ib_oidc_snapshot **out, const char **fetch_err)
{
    *fetch_err = NULL;
    apr_thread_mutex_lock(op->lock);
    ib_oidc_snapshot *cur = op->current;
    int stale = cur == NULL || now - cur->fetched_at >= IB_OIDC_PROVIDER_TTL;
    int forced = force && now - op->last_forced >= IB_OIDC_REFETCH_GAP;
    if (forced) {
        op->last_forced = now;
    }
    int go = (stale || forced) && !(op->fetching && cur != NULL);
    if (!go && force && op->fetching && cur != NULL) {
        /* Another request is refetching right now (an unknown kid after a key
         * rotation comes in bursts): the copy in force is the one that lacked
         * the key, so wait for the new one instead of answering with it. */
        apr_time_t deadline = apr_time_now() + 2 * IB_OIDC_FETCH_TIMEOUT + apr_time_from_sec(1);
        while (op->fetching && op->current == cur && apr_time_now() < deadline) {
            apr_thread_mutex_unlock(op->lock);
            apr_sleep(apr_time_from_msec(5));
            apr_thread_mutex_lock(op->lock);
        }
        cur = op->current;
    }
    if (!go && cur != NULL) {
        cur->refs++;
        apr_thread_mutex_unlock(op->lock);
        *out = cur;
        return NULL;
    }
    op->fetching++;
    apr_thread_mutex_unlock(op->lock);

    ib_oidc_snapshot *fresh = NULL;
    const char *err = fetch(p, op->conf, now, &fresh);

    apr_thread_mutex_lock(op->lock);
    op->fetching--;
    if (fresh != NULL) {
        if (op->current != NULL) {
            op->current->retired = 1;
            drop_locked(op->current);
        }
        op->current = fresh;
    }
    cur = op->current;
    if (cur != NULL) {
        cur->refs++;
    }
    apr_thread_mutex_unlock(op->lock);
    *fetch_err = err;
    *out = cur;
    return cur != NULL ? NULL : err;
}

void ib_oidc_provider_release(ib_oidc_provider *op, ib_oidc_snapshot *s)
{
    if (s == NULL) {
        return;
    }
    apr_thread_mutex_lock(op->lock);
    s->refs--;
    drop_locked(s);
    apr_thread_mutex_unlock(op->lock);
}
