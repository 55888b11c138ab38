#include <httpd.h>

#include <apr_pools.h>
#include <http_log.h>

#include "core/ib_expiry.h"
#include "ib_monitor.h"

APLOG_USE_MODULE(auth_idbroker);

void ib_monitor_log(server_rec *s, const ib_registry *reg, apr_time_t now)
{
    /* An unmanaged pool of its own: no parent pool is shared with another
     * thread, so a watchdog may call this while requests are served. */
    apr_pool_t *p;
    apr_status_t rv = apr_pool_create_unmanaged_ex(&p, NULL, NULL);
    if (rv != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_ERR, rv, s,
                     "mod_auth_idbroker: cert-expiry: cannot create a pool");
        return;
    }
    const apr_array_header_t *findings = ib_expiry_check(p, reg, now);
    for (int i = 0; i < findings->nelts; i++) {
        const ib_expiry_finding *f = &APR_ARRAY_IDX(findings, i, ib_expiry_finding);
        ap_log_error(APLOG_MARK, f->level == IB_EXPIRY_ERROR ? APLOG_ERR : APLOG_WARNING,
                     0, s, "mod_auth_idbroker: cert-expiry tenant=%s app=%s: %s",
                     f->tenant, f->app, f->message);
    }
    apr_pool_destroy(p);
}
