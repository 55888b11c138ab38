/* The audit log's lines (docs/audit-log.md): one per sign-in, sign-out and
 * rejected attempt, as key=value pairs or as a JSON object. Only the fields
 * below are ever written: no message contents, tokens or cookie values. */
#ifndef IB_AUDIT_LINE_H
#define IB_AUDIT_LINE_H

#include <apr_pools.h>
#include <apr_time.h>

typedef enum { IB_AUDIT_KV, IB_AUDIT_JSON } ib_audit_format;

/* NULL fields are written as - (kv) or null (json). */
typedef struct {
    apr_time_t time;
    const char *txid;       /* the Transaction ID of the error page and log line */
    const char *event;      /* signin-start, signin, logout */
    const char *outcome;    /* success, rejected, redirect, ... */
    const char *tenant;
    const char *app;        /* primary, custom-domain */
    const char *protocol;   /* saml, oidc */
    const char *idp;        /* IdP entity ID or OpenID Provider issuer */
    const char *user;       /* UPN when known, else the NameID / sub */
    const char *client;     /* client IP (trusted proxies honoured) */
    const char *reason;     /* a code of ib_audit_reason_code() */
} ib_audit_record;

/* Lines are kept below PIPE_BUF (Linux: 4096), so one write() of a line to
 * an O_APPEND file or a pipe is atomic among processes. */
#define IB_AUDIT_LINE_MAX 4000

/* One '\n'-terminated line of at most IB_AUDIT_LINE_MAX bytes (long values
 * are cut, marked with "..."). */
const char *ib_audit_format_line(apr_pool_t *p, const ib_audit_record *rec,
                                 ib_audit_format format);

/* The short, stable reason code for an outcome, the class of the error page
 * shown (or NULL) and the reason text of the error log: NULL for outcomes
 * that are no failure (success, redirect, ...), else one of the codes listed
 * in docs/audit-log.md ("other" when no rule matches). */
const char *ib_audit_reason_code(const char *outcome, const char *page_class,
                                 const char *reason);

/* 1 for outcomes that are a step of a sign-in or sign-out rather than its
 * end (hint, sha1, replay-unchecked): the error log has them, the audit log
 * does not. */
int ib_audit_outcome_is_detail(const char *outcome);

#endif
