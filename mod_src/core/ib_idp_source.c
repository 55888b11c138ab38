#include <string.h>

#include <apr_allocator.h>
#include <apr_atomic.h>
#include <apr_file_io.h>
#include <apr_strings.h>
#include <openssl/evp.h>

#include "ib_idp_source.h"

static volatile apr_uint32_t view_serial;

static int has_cert(const apr_array_header_t *certs, const ib_cert *c)
{
    for (int i = 0; i < certs->nelts; i++) {
        if (strcmp(APR_ARRAY_IDX(certs, i, const ib_cert *)->sha256_hex, c->sha256_hex) == 0) {
            return 1;
        }
    }
    return 0;
}

/* The endpoint for the binding the tenant uses, else the other one: lasso
 * is told the same URL for both (ib_saml.c). */
static const char *endpoint(int post_first, const char *post, const char *redirect)
{
    return post_first ? (post ? post : redirect) : (redirect ? redirect : post);
}

const ib_idp *ib_idp_view_make(apr_pool_t *p, const ib_app *app, const ib_idp_md *md,
                               const char *from, apr_time_t now)
{
    const ib_tenant *t = app->tenant;
    ib_idp *v = apr_pcalloc(p, sizeof(*v));
    apr_array_header_t *certs = apr_array_make(p, 4, sizeof(ib_cert *));
    for (int i = 0; i < app->idp_certs->nelts; i++) {
        APR_ARRAY_PUSH(certs, ib_cert *) = APR_ARRAY_IDX(app->idp_certs, i, ib_cert *);
    }
    v->entity_id = app->idp_entity_id;
    v->sso_url = app->idp_sso_url;
    v->slo_url = app->idp_slo_url;
    if (md != NULL) {
        /* Pinned values win: the operator's word over the document's. */
        v->entity_id = v->entity_id ? v->entity_id : apr_pstrdup(p, md->entity_id);
        if (v->sso_url == NULL) {
            v->sso_url = endpoint(t->sso_binding == IB_BINDING_POST, md->sso_post, md->sso_redirect);
        }
        if (v->slo_url == NULL) {
            v->slo_url = endpoint(t->slo_binding == IB_SLO_POST, md->slo_post, md->slo_redirect);
        }
        for (int i = 0; i < md->certs->nelts; i++) {
            ib_cert *c = APR_ARRAY_IDX(md->certs, i, ib_cert *);
            if (!has_cert(certs, c)) {
                APR_ARRAY_PUSH(certs, ib_cert *) = c;
            }
        }
        v->valid_until = md->valid_until;
    }
    v->certs = certs;
    v->from = from;
    v->loaded_at = now;
    v->serial = apr_atomic_inc32(&view_serial) + 1;
    return v;
}

const ib_idp *ib_app_idp(const ib_app *app)
{
    ib_idp_source *src = app->md_source;
    if (src == NULL) {
        return &app->pinned;
    }
    if (src->lock) {
        apr_thread_mutex_lock(src->lock);
    }
    const ib_idp *v = src->view;
    if (src->lock) {
        apr_thread_mutex_unlock(src->lock);
    }
    return v ? v : &app->pinned;
}

ib_idp_md_rules ib_idp_source_rules(const ib_app *app, apr_time_t now, int enforce_valid_until)
{
    ib_idp_md_rules r = {app->idp_entity_id, app->md_source->signer, now, enforce_valid_until};
    return r;
}

static const char *short_hash(apr_pool_t *p, const char *text)
{
    unsigned char d[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    EVP_Digest(text, strlen(text), d, &n, EVP_sha256(), NULL);
    return apr_psprintf(p, "%02x%02x%02x%02x%02x%02x", d[0], d[1], d[2], d[3], d[4], d[5]);
}

static int same_file(const apr_finfo_t *a, const apr_finfo_t *b)
{
    return a->inode == b->inode && a->device == b->device && a->mtime == b->mtime
           && a->size == b->size;
}

/* Called with the lock held. The copy on disk was checked by whoever wrote
 * it, but it is checked again here: the file could have been replaced by
 * other means. validUntil is not enforced for a copy already accepted once:
 * the last good copy stays in force while refreshes fail (the fetcher logs
 * it). */
static const char *load_locked(const ib_app *app, apr_time_t now, int *changed)
{
    ib_idp_source *src = app->md_source;
    apr_pool_t *tmp;
    apr_pool_create(&tmp, src->pool);
    apr_finfo_t fi;
    const char *err = NULL;
    apr_status_t rv = apr_stat(&fi, src->path, APR_FINFO_IDENT | APR_FINFO_MTIME | APR_FINFO_SIZE, tmp);
    if (rv != APR_SUCCESS) {
        memset(&fi, 0, sizeof(fi));
    }
    if (src->tried_any && same_file(&fi, &src->tried)) {
        apr_pool_destroy(tmp);
        return NULL;
    }
    src->tried = fi;
    src->tried_any = 1;
    if (rv != APR_SUCCESS) {
        err = apr_psprintf(tmp, "no metadata copy at %s yet", src->path);
    } else if (fi.size > IB_IDP_MD_MAX_BYTES) {
        err = apr_psprintf(tmp, "%s is larger than %d bytes", src->path, IB_IDP_MD_MAX_BYTES);
    }
    char *data = NULL;
    apr_size_t len = 0;
    if (err == NULL) {
        apr_file_t *f;
        len = (apr_size_t)fi.size;
        data = apr_palloc(tmp, len + 1);
        rv = apr_file_open(&f, src->path, APR_FOPEN_READ | APR_FOPEN_BINARY, 0, tmp);
        if (rv == APR_SUCCESS) {
            rv = apr_file_read_full(f, data, len, &len);
            apr_file_close(f);
        }
        if (rv != APR_SUCCESS) {
            err = apr_psprintf(tmp, "cannot read %s", src->path);
        }
    }
    ib_idp_md *md = NULL;
    if (err == NULL) {
        ib_idp_md_rules rules = ib_idp_source_rules(app, now, 0);
        err = ib_idp_md_parse(src->pool, data, len, &rules, &md);
        if (err != NULL) {
            err = apr_psprintf(tmp, "%s: %s", src->path, err);
        }
    }
    if (err == NULL) {
        src->view = ib_idp_view_make(src->pool, app, md, src->path, now);
        *changed = 1;
        src->last_error = NULL;
    } else {
        src->last_error = apr_pstrdup(src->pool, err);
    }
    apr_pool_destroy(tmp);
    return src->last_error;
}

const char *ib_idp_source_sync(const ib_app *app, apr_time_t now, int *changed)
{
    ib_idp_source *src = app->md_source;
    *changed = 0;
    if (src == NULL || src->pool == NULL) {
        return NULL;
    }
    if (src->lock) {
        apr_thread_mutex_lock(src->lock);
    }
    const char *err = load_locked(app, now, changed);
    if (src->lock) {
        apr_thread_mutex_unlock(src->lock);
    }
    return err;
}

const char *ib_idp_source_start(apr_pool_t *pconf, ib_app *app, const char *state_dir,
                                apr_time_t now)
{
    ib_idp_source *src = app->md_source;
    if (src->url != NULL) {
        const char *base = apr_psprintf(pconf, "%s/idp-%s-%s-%s", state_dir, app->tenant->name,
                                        app->kind, short_hash(pconf, src->url));
        src->path = apr_pstrcat(pconf, base, ".xml", NULL);
        src->state_path = apr_pstrcat(pconf, base, ".state.json", NULL);
    } else {
        src->path = src->file;
    }
    /* Its own allocator: request threads of different apps, and the
     * watchdog, allocate here concurrently (each under its source's lock),
     * which a shared allocator without a mutex would not survive. */
    apr_allocator_t *allocator;
    apr_allocator_create(&allocator);
    apr_pool_create_ex(&src->pool, pconf, NULL, allocator);
    apr_allocator_owner_set(allocator, src->pool);
    apr_thread_mutex_create(&src->lock, APR_THREAD_MUTEX_DEFAULT, pconf);
    src->view = NULL;
    src->tried_any = 0;
    int changed;
    return ib_idp_source_sync(app, now, &changed);
}
