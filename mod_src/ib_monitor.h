/* Certificate expiry monitoring in httpd (IDPCERT-2, SPKEY-8, LOG-5): the
 * core's findings (core/ib_expiry.h) as error-log lines. Called at start and
 * on each reload from post_config; safe to call from a watchdog thread. */
#ifndef IB_MONITOR_H
#define IB_MONITOR_H

#include <apr_time.h>
#include <httpd.h>

#include "core/ib_tenant.h"

/* Logs each finding at `now` with s's error log: APLOG_WARNING for a cert
 * expiring within 30 days or an active SP key without successor, APLOG_ERR
 * for an expired cert or no active SP key. Each line reads
 * "mod_auth_idbroker: cert-expiry tenant=NAME app=KIND: ...". */
void ib_monitor_log(server_rec *s, const ib_registry *reg, apr_time_t now);

#endif
