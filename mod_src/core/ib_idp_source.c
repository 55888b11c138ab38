#include <string.h>

#include <apr_allocator.h>
#include <apr_atomic.h>
#include <apr_file_io.h>
#include <apr_strings.h>
#include <apr_thread_proc.h>
#include <openssl/evp.h>
#ifdef __linux__
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

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

static void lock(ib_idp_source *src);
static void unlock(ib_idp_source *src);

const ib_idp *ib_app_idp(const ib_app *app)
{
    ib_idp_source *src = app->md_source;
    if (src == NULL) {
        return &app->pinned;
    }
    lock(src);    /* held only to read or swap the pointer, never to parse */
    const ib_idp *v = src->view;
    unlock(src);
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

static void lock(ib_idp_source *src)
{
    if (src->lock) {
        apr_thread_mutex_lock(src->lock);
    }
}

static void unlock(ib_idp_source *src)
{
    if (src->lock) {
        apr_thread_mutex_unlock(src->lock);
    }
}

/* One look at the copy on disk: what was seen, and the pool its view (if
 * any) is made in. */
typedef struct {
    const ib_app *app;
    apr_finfo_t fi;
    apr_status_t stat_rv;
    apr_time_t now;
    apr_pool_t *vp;
    unsigned attempt;
} md_job;

/* With the lock held: stats the copy and, when it is not the one last looked
 * at, records it as looked at and prepares a job. The job's pool is a child
 * of src->pool (created here, under the lock, since src->pool's allocator
 * has no mutex) with an allocator of its own, so the parse can run without
 * the lock. Returns NULL when nothing changed. */
static md_job *begin_locked(const ib_app *app, apr_time_t now)
{
    ib_idp_source *src = app->md_source;
    apr_finfo_t fi;
    apr_status_t rv = apr_stat(&fi, src->path, APR_FINFO_IDENT | APR_FINFO_MTIME | APR_FINFO_SIZE,
                               src->pool);
    if (rv != APR_SUCCESS) {
        memset(&fi, 0, sizeof(fi));
    }
    if (src->tried_any && same_file(&fi, &src->tried)) {
        return NULL;
    }
    src->tried = fi;
    src->tried_any = 1;
    apr_allocator_t *allocator;
    apr_pool_t *vp;
    apr_allocator_create(&allocator);
    apr_pool_create_ex(&vp, src->pool, NULL, allocator);
    apr_allocator_owner_set(allocator, vp);
    md_job *job = apr_pcalloc(vp, sizeof(*job));
    job->app = app;
    job->fi = fi;
    job->stat_rv = rv;
    job->now = now;
    job->vp = vp;
    job->attempt = ++src->attempts;
    return job;
}

/* Without the lock: reads and checks the copy and makes its view in the
 * job's pool. The copy on disk was checked by whoever wrote it, but it is
 * checked again here: the file could have been replaced by other means.
 * validUntil is not enforced for a copy already accepted once: the last good
 * copy stays in force while refreshes fail (the fetcher logs it). */
static const char *parse_job(md_job *job, const ib_idp **view)
{
    const ib_app *app = job->app;
    ib_idp_source *src = app->md_source;
    apr_pool_t *p = job->vp;
    *view = NULL;
    if (job->stat_rv != APR_SUCCESS) {
        return apr_psprintf(p, "no metadata copy at %s yet", src->path);
    }
    if (job->fi.size > IB_IDP_MD_MAX_BYTES) {
        return apr_psprintf(p, "%s is larger than %d bytes", src->path, IB_IDP_MD_MAX_BYTES);
    }
    apr_file_t *f;
    apr_size_t len = (apr_size_t)job->fi.size;
    char *data = apr_palloc(p, len + 1);
    apr_status_t rv = apr_file_open(&f, src->path, APR_FOPEN_READ | APR_FOPEN_BINARY, 0, p);
    if (rv == APR_SUCCESS) {
        rv = apr_file_read_full(f, data, len, &len);
        apr_file_close(f);
    }
    if (rv != APR_SUCCESS) {
        return apr_psprintf(p, "cannot read %s", src->path);
    }
    ib_idp_md_rules rules = ib_idp_source_rules(app, job->now, 0);
    ib_idp_md *md = NULL;
    const char *err = ib_idp_md_parse(p, data, len, &rules, &md);
    if (err != NULL) {
        return apr_psprintf(p, "%s: %s", src->path, err);
    }
    *view = ib_idp_view_make(p, app, md, src->path, job->now);
    if (src->prepare != NULL) {
        src->prepare(src->prepare_baton, *view, job->now, 0);
    }
    return NULL;
}

/* With the lock held: puts the job's outcome in force, unless a later look
 * at the file began meanwhile (its outcome is the one that counts). The
 * job's pool lives on with the view; a refused copy's pool goes. Returns the
 * refusal (in src->pool) or NULL. */
static const char *finish_locked(md_job *job, const ib_idp *view, const char *err, int *changed)
{
    ib_idp_source *src = job->app->md_source;
    const char *refused = NULL;
    if (job->attempt == src->attempts) {
        if (view != NULL) {
            src->view = view;
            src->last_error = NULL;
            *changed = 1;
        } else {
            src->last_error = apr_pstrdup(src->pool, err);
            refused = src->last_error;
        }
    }
    if (view == NULL || src->view != view) {
        apr_pool_destroy(job->vp);
    }
    return refused;
}

const char *ib_idp_source_sync(const ib_app *app, apr_time_t now, int *changed)
{
    ib_idp_source *src = app->md_source;
    *changed = 0;
    if (src == NULL || src->pool == NULL) {
        return NULL;
    }
    lock(src);
    md_job *job = begin_locked(app, now);
    /* Counted as a parse, so requests polling meanwhile (they see the same
     * new file: the watchdog just wrote it) start no second one. */
    src->parsing += job != NULL;
    unlock(src);
    if (job == NULL) {
        return NULL;
    }
    /* Requests keep reading the view in force while this parses. */
    const ib_idp *view;
    apr_time_t job_now = job->now;    /* job's pool may go in finish_locked */
    const char *err = parse_job(job, &view);
    lock(src);
    const char *refused = finish_locked(job, view, err, changed);
    src->parsing--;
    int in_force = view != NULL && src->view == view;
    unlock(src);
    if (in_force && src->prepare != NULL) {
        src->prepare(src->prepare_baton, view, job_now, 1);
    }
    return refused;
}

void ib_idp_source_lower_priority(void)
{
#ifdef __linux__
    /* On Linux, nice values are per thread. Never raised again: that would
     * take a privilege the children do not have. */
    if (setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), IB_IDP_PARSE_NICE) != 0) {
        return;    /* best effort: the parse only competes on equal terms */
    }
#endif
}

#if APR_HAS_THREADS
static void *APR_THREAD_FUNC parse_in_background(apr_thread_t *thread, void *data)
{
    md_job *job = data;
    ib_idp_source *src = job->app->md_source;
    ib_idp_source_lower_priority();
    const ib_idp *view;
    apr_time_t job_now = job->now;    /* job's pool may go in finish_locked */
    const char *err = parse_job(job, &view);
    lock(src);
    int changed = 0;
    const char *refused = finish_locked(job, view, err, &changed);
    src->parsing--;
    src->report_changed |= changed;
    if (refused != NULL) {
        src->report_error = refused;
    }
    int in_force = view != NULL && src->view == view;
    unlock(src);
    /* A view in force stays allocated for the life of the process. */
    if (in_force && src->prepare != NULL) {
        src->prepare(src->prepare_baton, view, job_now, 1);
    }
    /* A plain return ends the detached thread as apr_thread_exit would
     * (APR 1.7: exit value unread, no pool destroyed), but unwinds this
     * frame: pthread_exit would leave its ASan redzones poisoned under the
     * thread's TLS destructors (a stack-buffer-underflow report). */
    (void)thread;
    return NULL;
}
#endif

/* With the lock held: what background parses finished since the last look
 * (a change, a refusal), handed over once. */
static const char *take_report_locked(ib_idp_source *src, int *changed)
{
    const char *reported = src->report_error;
    *changed = src->report_changed;
    src->report_error = NULL;
    src->report_changed = 0;
    return reported;
}

const char *ib_idp_source_poll(const ib_app *app, apr_time_t now, int *changed)
{
    ib_idp_source *src = app->md_source;
    *changed = 0;
    if (src == NULL || src->pool == NULL) {
        return NULL;
    }
#if APR_HAS_THREADS
    if (src->lock != NULL && src->thread_pool != NULL) {
        lock(src);
        const char *reported = take_report_locked(src, changed);
        md_job *job = src->parsing ? NULL : begin_locked(app, now);
        apr_thread_t *thread;
        if (job != NULL
            && apr_thread_create(&thread, src->thread_attr, parse_in_background, job,
                                 src->thread_pool) == APR_SUCCESS) {
            src->parsing++;
            job = NULL;
        } else if (job != NULL) {
            src->tried_any = 0;    /* no thread: the next request tries again */
            apr_pool_destroy(job->vp);
        }
        unlock(src);
        return reported;
    }
#endif
    return ib_idp_source_sync(app, now, changed);
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
    src->parsing = 0;
    src->report_changed = 0;
    src->report_error = NULL;
#if APR_HAS_THREADS
    /* Background parses' threads are made here: the creating request thread
     * and the exiting parse thread both add and remove child pools, so this
     * allocator has a mutex. */
    apr_allocator_t *thread_allocator;
    apr_thread_mutex_t *thread_allocator_lock;
    apr_allocator_create(&thread_allocator);
    apr_pool_create_ex(&src->thread_pool, pconf, NULL, thread_allocator);
    apr_allocator_owner_set(thread_allocator, src->thread_pool);
    apr_thread_mutex_create(&thread_allocator_lock, APR_THREAD_MUTEX_DEFAULT, src->thread_pool);
    apr_allocator_mutex_set(thread_allocator, thread_allocator_lock);
    apr_threadattr_create(&src->thread_attr, src->thread_pool);
    apr_threadattr_detach_set(src->thread_attr, 1);
#endif
    int changed;
    return ib_idp_source_sync(app, now, &changed);
}

const char *ib_idp_source_settle(const ib_app *app, apr_time_t now,
                                 apr_interval_time_t max_wait, int *changed)
{
    const char *reported = ib_idp_source_poll(app, now, changed);
    ib_idp_source *src = app->md_source;
    if (src == NULL || src->pool == NULL || src->lock == NULL) {
        return reported;     /* without a lock, poll parsed in this thread */
    }
    apr_time_t deadline = apr_time_now() + max_wait;
    for (;;) {
        lock(src);
        int busy = src->parsing;
        int later = 0;
        /* Taken under the same lock as the count: a parse reports before it
         * stops counting, so none that ended is missed. */
        const char *err = take_report_locked(src, &later);
        unlock(src);
        *changed |= later;
        reported = err != NULL ? err : reported;
        if (!busy || apr_time_now() >= deadline) {
            return reported;
        }
        apr_sleep(apr_time_from_msec(10));
    }
}
