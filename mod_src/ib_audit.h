/* The audit log (docs/audit-log.md): IdBrokerAuditLog and IdBrokerTrustedProxy,
 * the log file or pipe opened by the parent, and the one line per sign-in,
 * sign-out or rejected attempt, written when the request is logged.
 *
 * ib_log_event (ib_web.c) and ib_error_page (ib_error.c) report to it; the
 * two reports of one failed attempt (page first or event first) make one
 * line. */
#ifndef IB_AUDIT_H
#define IB_AUDIT_H

#include <httpd.h>
#include <http_config.h>

#include "core/ib_tenant.h"

typedef struct ib_audit_conf ib_audit_conf;

/* Directive handlers (ib_config.c's table). */
const char *ib_audit_cmd_log(cmd_parms *cmd, void *mconfig, const char *target,
                             const char *option);
const char *ib_audit_cmd_trusted_proxy(cmd_parms *cmd, void *mconfig, const char *arg);

/* open_logs (the parent opens the file or pipe) and log_transaction. */
void ib_audit_register_hooks(apr_pool_t *p);

/* 1 when the connection's peer is listed in IdBrokerTrustedProxy. */
int ib_audit_peer_is_trusted_proxy(request_rec *r);

/* An event of ib_log_event. Details (ib_audit_outcome_is_detail) are skipped. */
void ib_audit_event(request_rec *r, const char *txid, const char *event, const char *outcome,
                    const ib_app *app, const char *user, const char *reason);

/* An error page: its Transaction ID, status, page class and reason. The
 * tenant and app are those the page was made for, when known (else NULL). */
void ib_audit_page(request_rec *r, const char *txid, int status, const char *page_class,
                   const ib_tenant *tenant, const ib_app *app, const char *reason);

/* The client's address for the audit log: the connection's peer, or, when
 * the peer is a trusted proxy, the right-most address of X-Forwarded-For
 * that is not one (docs/audit-log.md). */
const char *ib_audit_client_ip(request_rec *r);

#endif
