#include <httpd.h>
#include <errno.h>
#include <unistd.h>

#include <apr_allocator.h>
#include <apr_file_info.h>
#include <apr_strings.h>
#include <http_log.h>
#include <mod_watchdog.h>
#include <unixd.h>

#include "core/ib_clock.h"
#include "core/ib_http.h"
#include "core/ib_idp_fetch.h"
#include "core/ib_idp_source.h"
#include "ib_idp_refresh.h"
#include "ib_monitor.h"

APLOG_USE_MODULE(auth_idbroker);

#define WATCHDOG_NAME "_idbroker_"
#define WATCHDOG_TICK apr_time_from_sec(1)
#define EXPIRY_CHECK_EVERY apr_time_from_sec(86400)
/* How long the watchdog waits for a fetched copy to be in force before it
 * records the fetch anyway (a parse of a large aggregate on a busy machine). */
#define IB_FETCH_PARSE_WAIT apr_time_from_sec(60)

typedef struct {
    server_rec *s;
    const ib_registry *reg;
    apr_pool_t *pool;              /* the watchdog's, set when it starts */
    ib_idp_fetch_state *states;    /* one per app (unused for non-URL apps) */
    apr_time_t next_expiry_check;
} refresher;

const char *ib_idp_state_dir(apr_pool_t *p, const ib_server_conf *sc)
{
    return sc->state_dir ? sc->state_dir : ap_runtime_dir_relative(p, "idbroker");
}

static const char *app_label(apr_pool_t *p, const ib_app *app)
{
    return apr_psprintf(p, "tenant=%s app=%s", app->tenant->name, app->kind);
}

/* The directory belongs to the user the children run as: they write the
 * copies (the watchdog runs in a child), and nobody else needs to. */
static int prepare_state_dir(apr_pool_t *p, server_rec *s, const char *dir)
{
    apr_status_t rv = apr_dir_make_recursive(dir, APR_FPROT_UREAD | APR_FPROT_UWRITE
                                             | APR_FPROT_UEXECUTE | APR_FPROT_GREAD
                                             | APR_FPROT_GEXECUTE, p);
    if (rv != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, rv, s, "mod_auth_idbroker: cannot create "
                     "IdBrokerStateDir %s", dir);
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    if (geteuid() == 0 && chown(dir, ap_unixd_config.user_id, ap_unixd_config.group_id) != 0) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, APR_FROM_OS_ERROR(errno), s,
                     "mod_auth_idbroker: cannot give IdBrokerStateDir %s to the httpd "
                     "user", dir);
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    return OK;
}

static void log_fetch(server_rec *s, apr_pool_t *p, const ib_app *app,
                      const ib_idp_fetch_state *st, int changed)
{
    char next[IB_UTC_TIME_LEN], since[IB_UTC_TIME_LEN];
    ib_time_format_utc(st->next_due, next);
    const char *who = app_label(p, app);
    if (st->ok) {
        ap_log_error(APLOG_MARK, changed ? APLOG_NOTICE : APLOG_INFO, 0, s,
                     "mod_auth_idbroker: idp-metadata %s: %s from %s; next refresh %s",
                     who, changed ? "new copy" : st->outcome, app->md_source->url, next);
        return;
    }
    const char *held = "no copy is held yet: sign-in through this app is unavailable";
    if (ib_app_idp(app) != &app->pinned) {
        ib_time_format_utc(ib_app_idp(app)->loaded_at, since);
        held = apr_psprintf(p, "the copy in force (loaded %s) stays", since);
    }
    ap_log_error(APLOG_MARK, APLOG_ERR, 0, s,
                 "mod_auth_idbroker: idp-metadata %s: refresh from %s failed (%d in a "
                 "row): %s; %s; next attempt %s", who, app->md_source->url, st->failures,
                 st->outcome, held, next);
}

/* A new copy on disk, in force in this process before the fetch is
 * recorded. Settles rather than syncs: a request may have noticed the new
 * file first and be parsing it in the background already. */
static void put_in_force(server_rec *s, apr_pool_t *p, const ib_app *app, apr_time_t now)
{
    int changed = 0;
    const char *err = ib_idp_source_settle(app, now, IB_FETCH_PARSE_WAIT, &changed);
    if (err != NULL) {
        ap_log_error(APLOG_MARK, APLOG_ERR, 0, s, "mod_auth_idbroker: idp-metadata %s: "
                     "copy refused, the one in force stays: %s", app_label(p, app), err);
    } else if (changed) {
        ap_log_error(APLOG_MARK, APLOG_INFO, 0, s, "mod_auth_idbroker: idp-metadata %s: "
                     "now using %s", app_label(p, app), ib_app_idp(app)->from);
    }
}

static void refresh_due(refresher *w, apr_time_t now)
{
    for (int i = 0; i < w->reg->apps->nelts; i++) {
        const ib_app *app = APR_ARRAY_IDX(w->reg->apps, i, const ib_app *);
        ib_idp_fetch_state *st = &w->states[i];
        if (app->md_source == NULL || app->md_source->url == NULL || now < st->next_due) {
            continue;
        }
        apr_pool_t *tmp;
        apr_pool_create(&tmp, w->pool);
        int changed = ib_idp_fetch_refresh(tmp, app, now, st);
        log_fetch(w->s, tmp, app, st, changed);
        /* Keep the validators beyond this pool: the next GET sends them. */
        st->etag = st->etag ? apr_pstrdup(w->pool, st->etag) : NULL;
        st->last_modified = st->last_modified ? apr_pstrdup(w->pool, st->last_modified) : NULL;
        st->outcome = st->outcome ? apr_pstrdup(w->pool, st->outcome) : NULL;
        if (changed) {
            put_in_force(w->s, tmp, app, now);
        }
        /* Saved only now: whoever reads "updated" in the state (the status
         * page, an operator, a test) finds this process using that copy. */
        ib_idp_fetch_state_save(tmp, app->md_source, st);
        apr_pool_destroy(tmp);
    }
}

static apr_status_t watchdog_tick(int state, void *data, apr_pool_t *pool)
{
    refresher *w = data;
    apr_time_t now = ib_now();
    if (state == AP_WATCHDOG_STATE_STARTING) {
        /* This thread (our watchdog instance's own) fetches, checks and
         * parses metadata copies and builds what a new view needs: all of
         * it background work, which request threads should not wait behind
         * on a busy machine. */
        ib_idp_source_lower_priority();
        /* The pool httpd passes is cleared between calls: keep state in one
         * of our own, with its own allocator (only this thread uses it). */
        apr_allocator_t *allocator;
        apr_allocator_create(&allocator);
        apr_pool_create_ex(&w->pool, NULL, NULL, allocator);
        apr_allocator_owner_set(allocator, w->pool);
        pool = w->pool;
        w->states = apr_pcalloc(pool, sizeof(*w->states) * (apr_size_t)w->reg->apps->nelts);
        for (int i = 0; i < w->reg->apps->nelts; i++) {
            const ib_app *app = APR_ARRAY_IDX(w->reg->apps, i, const ib_app *);
            if (app->md_source != NULL && app->md_source->url != NULL) {
                ib_idp_fetch_state_load(pool, app->md_source, &w->states[i]);
                w->states[i].next_due = now;   /* a fresh process looks at once */
            }
        }
        w->next_expiry_check = now + EXPIRY_CHECK_EVERY;
        return APR_SUCCESS;
    }
    if (state == AP_WATCHDOG_STATE_STOPPING && w->pool != NULL) {
        apr_pool_destroy(w->pool);
        w->pool = NULL;
    }
    if (state != AP_WATCHDOG_STATE_RUNNING || w->pool == NULL) {
        return APR_SUCCESS;
    }
    refresh_due(w, now);
    if (now >= w->next_expiry_check) {
        ib_monitor_log(w->s, w->reg, now);
        w->next_expiry_check = now + EXPIRY_CHECK_EVERY;
    }
    return APR_SUCCESS;
}

static int start_sources(apr_pool_t *pconf, server_rec *s, ib_server_conf *sc, int *urls)
{
    const char *dir = ib_idp_state_dir(pconf, sc);
    *urls = 0;
    for (int i = 0; i < sc->reg->apps->nelts; i++) {
        ib_app *app = APR_ARRAY_IDX(sc->reg->apps, i, ib_app *);
        if (app->md_source == NULL) {
            continue;
        }
        if (app->md_source->url != NULL && (*urls)++ == 0) {
            int rc = prepare_state_dir(pconf, s, dir);
            if (rc != OK) {
                return rc;
            }
            if (sc->state_dir == NULL) {
                ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s, "mod_auth_idbroker: IdP "
                             "metadata copies are kept in %s, which may not survive a "
                             "reboot; set IdBrokerStateDir to a persistent directory", dir);
            }
        }
        const char *err = ib_idp_source_start(pconf, app, dir, ib_now());
        if (err != NULL) {
            ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s, "mod_auth_idbroker: idp-metadata "
                         "%s: %s%s", app_label(pconf, app), err, app->md_source->url
                         ? "; the watchdog fetches it shortly" : "");
        }
    }
    return OK;
}

int ib_idp_refresh_post_config(apr_pool_t *pconf, server_rec *s, ib_server_conf *sc)
{
    ib_http_global_init();
    int urls = 0;
    int rc = start_sources(pconf, s, sc, &urls);
    if (rc != OK) {
        return rc;
    }
    APR_OPTIONAL_FN_TYPE(ap_watchdog_get_instance) *get_instance =
        APR_RETRIEVE_OPTIONAL_FN(ap_watchdog_get_instance);
    APR_OPTIONAL_FN_TYPE(ap_watchdog_register_callback) *register_callback =
        APR_RETRIEVE_OPTIONAL_FN(ap_watchdog_register_callback);
    ap_watchdog_t *wd;
    if (get_instance == NULL || register_callback == NULL
        || get_instance(&wd, WATCHDOG_NAME, 0, 1, pconf) != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, urls ? APLOG_EMERG : APLOG_WARNING, 0, s,
                     "mod_auth_idbroker: mod_watchdog is not available: IdP metadata "
                     "cannot be refreshed and the daily expiry check does not run");
        return urls ? HTTP_INTERNAL_SERVER_ERROR : OK;
    }
    refresher *w = apr_pcalloc(pconf, sizeof(*w));
    w->s = s;
    w->reg = sc->reg;
    register_callback(wd, WATCHDOG_TICK, w, watchdog_tick);
    return OK;
}

static void log_poll(request_rec *r, const ib_app *app, const char *err, int changed)
{
    if (err != NULL) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, "mod_auth_idbroker: idp-metadata %s: "
                      "copy refused, the one in force stays: %s", app_label(r->pool, app), err);
    } else if (changed) {
        const ib_idp *v = ib_app_idp(app);
        ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, "mod_auth_idbroker: idp-metadata %s: "
                      "now using %s (%d certificate(s))", app_label(r->pool, app), v->from,
                      v->certs->nelts);
    }
}

void ib_idp_sync_for_request(request_rec *r, const ib_app *app)
{
    if (app == NULL || app->md_source == NULL) {
        return;
    }
    int changed = 0;
    /* Never waits: a new copy is parsed in the background while this
     * request uses the view in force (what finished since is logged here). */
    const char *err = ib_idp_source_poll(app, ib_now(), &changed);
    log_poll(r, app, err, changed);
}

void ib_idp_settle_for_status(request_rec *r, const ib_app *app)
{
    if (app == NULL || app->md_source == NULL) {
        return;
    }
    int changed = 0;
    /* The operator asked what is in force: wait for a parse under way
     * rather than show the copy it is about to replace. */
    const char *err = ib_idp_source_settle(app, ib_now(), IB_STATUS_PARSE_WAIT, &changed);
    log_poll(r, app, err, changed);
}

void ib_idp_refresh_child_init(apr_pool_t *pchild, server_rec *s, const ib_server_conf *sc)
{
    for (int i = 0; i < sc->reg->apps->nelts; i++) {
        const ib_app *app = APR_ARRAY_IDX(sc->reg->apps, i, const ib_app *);
        if (app->md_source == NULL) {
            continue;
        }
        int changed = 0;
        const char *err = ib_idp_source_sync(app, ib_now(), &changed);
        if (err != NULL && changed == 0 && ib_app_idp(app) != &app->pinned) {
            ap_log_error(APLOG_MARK, APLOG_ERR, 0, s, "mod_auth_idbroker: idp-metadata %s: "
                         "copy refused, the one in force stays: %s", app_label(pchild, app), err);
        } else if (changed) {
            ap_log_error(APLOG_MARK, APLOG_INFO, 0, s, "mod_auth_idbroker: idp-metadata %s: "
                         "now using %s", app_label(pchild, app), ib_app_idp(app)->from);
        }
    }
}
