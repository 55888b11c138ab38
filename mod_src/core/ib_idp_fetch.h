/* Refreshing an app's IdP metadata from its URL (IDPCERT-7): one conditional
 * GET, the same checks as every load plus validUntil, and on a new good
 * document an atomic rename over the backing file, which every process then
 * loads (ib_idp_source.c). On any failure the backing file is untouched: the
 * last good copy stays in force. The fetcher's state (ETag, failures,
 * outcome, next refresh) is kept beside the backing file as JSON, so it
 * survives restarts and the status page can show it from any process. */
#ifndef IB_IDP_FETCH_H
#define IB_IDP_FETCH_H

#include "ib_idp_source.h"

typedef struct ib_idp_fetch_state {
    apr_time_t last_attempt;    /* 0 = never */
    apr_time_t last_success;
    apr_time_t last_change;     /* when the backing copy last changed */
    apr_time_t next_due;
    int failures;               /* in a row */
    int ok;                     /* outcome of the last attempt */
    const char *outcome;        /* "updated", "unchanged", "not modified" or the error */
    const char *etag;
    const char *last_modified;
} ib_idp_fetch_state;

/* The saved state, or a fresh one (due now) when none is readable. */
void ib_idp_fetch_state_load(apr_pool_t *p, const ib_idp_source *src, ib_idp_fetch_state *st);
const char *ib_idp_fetch_state_save(apr_pool_t *p, const ib_idp_source *src,
                                    const ib_idp_fetch_state *st);

/* One refresh at `now`; updates *st (strings in p), which the caller saves
 * (ib_idp_fetch_state_save) once a changed copy is in force. Returns 1
 * when the backing copy changed. */
int ib_idp_fetch_refresh(apr_pool_t *p, const ib_app *app, apr_time_t now,
                         ib_idp_fetch_state *st);

#endif
