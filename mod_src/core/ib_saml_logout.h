/* SAML single logout on lasso (SLO-1..13): LogoutRequests we send, the
 * LogoutResponses that come back, and LogoutRequests an IdP sends us. */
#ifndef IB_SAML_LOGOUT_H
#define IB_SAML_LOGOUT_H

#include "ib_saml.h"
#include "ib_store.h"

/* A message for the browser to carry: a 303 to url, or a POST form. */
typedef struct ib_saml_outgoing {
    const char *id;            /* the message ID */
    int redirect;
    const char *url;
    const char *field;         /* POST: "SAMLRequest" or "SAMLResponse" */
    const char *value;         /* POST: the Base64 message */
} ib_saml_outgoing;

/* A LogoutRequest for session s to the app's IdP SLO URL, carrying the NameID
 * exactly as received and the SessionIndex (SLO-5, SLO-6). */
const char *ib_saml_logout_request(apr_pool_t *p, ib_saml_sp *sp, apr_time_t now,
                                   const ib_session *s, const char *relay_state,
                                   ib_saml_outgoing *out);

typedef enum {
    IB_SLO_OK,             /* verified, Status Success */
    IB_SLO_STATUS_FAILED,  /* verified, another Status (logged; user is out anyway) */
    IB_SLO_INVALID         /* not from our IdP, bad or missing signature, malformed */
} ib_slo_verdict;

/* Checks a LogoutResponse: `message` is the POST field (Base64) or, for the
 * Redirect binding, the whole query string. Signature, Destination and
 * IssueInstant are checked as for ib_saml_idp_logout. *in_response_to is its
 * InResponseTo (to be matched to a pending logout by the caller). */
ib_slo_verdict ib_saml_logout_response(apr_pool_t *p, ib_saml_sp *sp, apr_time_t now,
                                       const char *message, int require_signed,
                                       const char **in_response_to, const char **reason);

/* What a verified IdP LogoutRequest asks for; every string is in the pool
 * given to ib_saml_idp_logout. */
typedef struct ib_slo_request {
    const char *id;            /* the LogoutRequest ID (replay cache key, with who.idp) */
    apr_time_t replay_until;   /* until when a copy would still pass the time checks */
    ib_session who;            /* tenant, idp, NameID value/Format/qualifiers (SLO-9) */
    apr_array_header_t *session_indexes; /* const char*: every SessionIndex; empty: all */
} ib_slo_request;

/* Ends the sessions an IdP LogoutRequest names; returns how many ended, or
 * -1 with *refused set when the request must not be honoured (a replay). */
typedef int ib_slo_end_sessions_fn(void *baton, const ib_slo_request *req,
                                   const char **refused);

/* Verifies an IdP-initiated LogoutRequest (signature, Destination = our
 * callback, IssueInstant/NotOnOrAfter against now and the tenant's clock
 * skew), lets `end` destroy the matching sessions, and builds the
 * LogoutResponse (same binding the IdP used; Success, or Responder when no
 * session matched). Returns NULL with *out filled, or an error (invalid or
 * replayed request: no response is sent). */
const char *ib_saml_idp_logout(apr_pool_t *p, ib_saml_sp *sp, apr_time_t now,
                               const char *message, int require_signed,
                               ib_slo_end_sessions_fn *end, void *baton,
                               ib_saml_outgoing *out);

/* How long after its IssueInstant a logout message is still taken (plus the
 * tenant's clock skew). */
#define IB_SLO_MAX_AGE apr_time_from_sec(300)

/* Whether a message string is a query (Redirect binding) rather than a POST value. */
int ib_saml_message_is_query(const char *message);

#endif
