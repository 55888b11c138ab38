/* Certificate expiry monitoring (IDPCERT-2, SPKEY-8, LOG-5): what an operator
 * must hear about the certificates of a configuration at one instant. A pure
 * function of (registry, now), so httpd logs the same findings at start,
 * reload and from a daily watchdog, and tests drive it with any clock. */
#ifndef IB_EXPIRY_H
#define IB_EXPIRY_H

#include <apr_pools.h>
#include <apr_tables.h>
#include <apr_time.h>

#include "ib_tenant.h"

/* A certificate that expires within this span of `now` draws a warning
 * (the Citrix console's "Certificate Expiring Soon", 30 days ahead). */
#define IB_EXPIRY_WARN_SPAN apr_time_from_sec(30 * 86400)

typedef enum { IB_EXPIRY_WARNING, IB_EXPIRY_ERROR } ib_expiry_level;

typedef struct ib_expiry_finding {
    ib_expiry_level level;
    const char *tenant;   /* tenant name */
    const char *app;      /* app kind; for keys the apps share, their kinds
                           * joined with ',' (e.g. "primary,custom-domain") */
    const char *message;  /* one line: which cert (subject, file, expiry date,
                           * SHA-256 and SHA-1), what it means, the fix */
} ib_expiry_finding;

/* The findings at `now`, in configuration order (per tenant: the primary
 * app's IdP certs, SP signing keys, decryption keys, then the custom-domain
 * app's). Keys an app takes from its tenant are reported once per tenant.
 * Elements are ib_expiry_finding, allocated with the array in p. */
apr_array_header_t *ib_expiry_check(apr_pool_t *p, const ib_registry *reg,
                                    apr_time_t now);

#endif
