/* SAML 2.0 SP protocol on lasso: per-app lasso servers, AuthnRequests
 * (AREQ-1..11) and Response validation (RESP-1..11, SEC-7). */
#ifndef IB_SAML_H
#define IB_SAML_H

#include <apr_pools.h>
#include <apr_tables.h>
#include <apr_thread_mutex.h>
#include <apr_time.h>

#include "ib_identity.h"
#include "ib_tenant.h"

/* Once per process, before any other ib_saml call. */
const char *ib_saml_library_init(void);

/* The lasso side of one app: a small pool of LassoServer objects, each used
 * by one thread at a time, rebuilt when the IdP view, the signing key or
 * the set of valid IdP certificates changes (so a rotation needs no
 * reload). They are kept, never made per request, and built ahead
 * (ib_saml_sp_prepare). */
typedef struct ib_saml_sp ib_saml_sp;

ib_saml_sp *ib_saml_sp_make(apr_pool_t *p, const ib_app *app);

/* Builds ahead the LassoServers that requests on `view` will take, so that
 * none builds one: IB_SAML_PREPARE_START the sign-in start's (keyless, about
 * a millisecond each: as many as the pool holds for the view in force, 1 to
 * IB_SAML_PREPARE_MAX), IB_SAML_PREPARE_FULL one for logout once this
 * process has had a logout (lasso loads the system CA bundle for each
 * KeyDescriptor of a full server, 50-100 ms each on 2 cores). At child_init
 * the start servers of the view in force; in the thread that parsed a new
 * view, its start servers before it goes in force and the logout one after
 * (so the swap waits for nothing slow). Servers for a view not yet in force
 * stay pooled until it is. Thread-safe; failures are left for the requests
 * to report. */
#define IB_SAML_PREPARE_MAX 4
#define IB_SAML_PREPARE_START 1
#define IB_SAML_PREPARE_FULL 2
void ib_saml_sp_prepare(ib_saml_sp *sp, const ib_idp *view, apr_time_t now, int what);

typedef struct ib_authn_request {
    const char *request_id;    /* the AuthnRequest ID (InResponseTo later) */
    int redirect;              /* 1: send the browser to url; 0: POST form */
    const char *url;           /* redirect: full URL; POST: the form action */
    const char *saml_request;  /* POST: the Base64 SAMLRequest field */
} ib_authn_request;

/* A config-time check of the app's SP keys against what can sign its
 * AuthnRequests: XML signatures (HTTP-POST) are made with RSA keys only,
 * while HTTP-Redirect requests are signed with RSA or EC keys. Returns NULL
 * or a message for the operator. */
const char *ib_saml_sp_key_check(apr_pool_t *p, const ib_app *app);

/* Builds an AuthnRequest to the app's IdP (lasso makes the message, always
 * unsigned), signed with the key active at `now` when the tenant signs
 * requests: HTTP-POST with an XML signature in lasso's form made by xmlsec
 * (RSA-SHA256), HTTP-Redirect with a query-string signature made with
 * OpenSSL (RSA-SHA256, or ECDSA with r || s as XML Signature defines it),
 * both with keys loaded once. acs_url is the ACS on the host the user
 * arrived on (AREQ-5); relay_state is our opaque handle (AREQ-8). */
const char *ib_saml_authn_request(apr_pool_t *p, ib_saml_sp *sp, apr_time_t now,
                                  const char *acs_url, const char *relay_state,
                                  ib_authn_request *out);

/* ---- Responses ---------------------------------------------------------- */

#define IB_SAML_MAX_ENCODED (512 * 1024)  /* the SAMLResponse form field */
#define IB_SAML_MAX_DECODED (256 * 1024)  /* SEC-7 */

typedef enum {
    IB_SAML_OK = 0,
    IB_SAML_MALFORMED,        /* not a SAML Response we can read safely */
    IB_SAML_REJECTED,         /* a rule failed: generic error page (ERR-1) */
    IB_SAML_IDP_STATUS,       /* the IdP answered with a non-Success status */
    IB_SAML_USER_CANCELLED,   /* AuthnFailed / RequestDenied (ERR-7) */
    IB_SAML_ENCRYPTED_NO_KEY, /* RESP-8 */
    IB_SAML_INTERNAL
} ib_saml_verdict;

/* A Response decoded and checked for shape, before anything is trusted. */
typedef struct ib_saml_parsed ib_saml_parsed;

/* Decodes and parses the SAMLResponse field: size caps, no DTD, exactly one
 * Assertion as a direct child of the Response, unique IDs, every signature
 * referencing its own parent with allowed algorithms. *in_response_to gets
 * the Response's InResponseTo ("" when absent). */
ib_saml_verdict ib_saml_parse_response(apr_pool_t *p, const char *saml_response,
                                       int allow_sha1, ib_saml_parsed **out,
                                       const char **in_response_to,
                                       const char **reason);

typedef struct ib_saml_expect {
    const char *request_id;
    const char *acs_url;
    apr_time_t now;
    apr_interval_time_t skew;
} ib_saml_expect;

typedef struct ib_saml_assertion {
    const char *assertion_id;
    apr_time_t not_on_or_after;   /* for the replay cache */
    const char *name_id;          /* NULL when the assertion had none */
    const char *name_id_format;
    const char *name_qualifier;
    const char *sp_name_qualifier;
    const char *session_index;
    const char *authn_class;
    apr_array_header_t *attributes; /* ib_raw_attr */
    int used_sha1;
} ib_saml_assertion;

/* Verifies signatures (lasso, pinned IdP certificates only) and every rule
 * of RESP-1..7 against what the pending request expects. */
ib_saml_verdict ib_saml_validate_response(apr_pool_t *p, ib_saml_sp *sp,
                                          ib_saml_parsed *parsed,
                                          const ib_saml_expect *expect,
                                          ib_saml_assertion *out,
                                          const char **reason);

#endif
