/* Single logout messages from the IdP: ib_saml_logout_response (the answer
 * to our LogoutRequest) and ib_saml_idp_logout (an IdP-initiated
 * LogoutRequest), as the logout callback hands them over: the POST field
 * (Base64) or, for the HTTP-Redirect binding, the whole query string.
 * Decoding and signature checking are lasso's; the module's own parts are
 * the binding pre-check (ib_saml_message_is_query, the Signature/SigAlg
 * query scan), Destination, IssueInstant/NotOnOrAfter, the SessionIndex
 * list and the LogoutResponse it builds.
 *
 * Input: byte 0 chooses, the rest is the message:
 *   bit 0     0 LogoutResponse, 1 LogoutRequest
 *   bit 1     require_signed (IdBrokerRequireSignedLogout)
 *   bits 2-3  0 the rest verbatim (a query string or a POST value),
 *             1 XML -> Base64 (HTTP-POST),
 *             2 XML -> DEFLATE + Base64 + URL-encoding (HTTP-Redirect),
 *             3 as 2, plus RelayState, SigAlg and a bogus Signature.
 *
 * Invariants: the module classifies a message as a query exactly when lasso
 * does not read it as Base64 (lasso's is_base64 comes first in
 * lasso_node_init_from_message_with_format); otherwise the module would
 * judge a POST message's signature and Destination by query rules. And
 * nothing may make lasso end the process: lasso 2.8 calls g_error (always
 * fatal) on a LogoutRequest without exactly one BaseID/NameID/EncryptedID,
 * which the module's pre-check in ib_saml_logout.c must keep from lasso;
 * fuzz_common.c turns any fatal GLib message into an abort() named as a
 * crash (regression-lasso-gerror-* in the corpus). */
#include <ctype.h>
#include <string.h>

#include <apr_strings.h>

#include "core/ib_codec.h"
#include "core/ib_saml_logout.h"
#include "fuzz_common.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fz_init_saml();
    fz_saml_sp();
    return 0;
}

/* lasso 2.8 lib/xml/xml.c is_base64(), applied when message[0] != 0. */
static int lasso_reads_base64(const char *m)
{
    const char *c = m;
    if (*c == '\0') {
        return 0;
    }
    while (*c != 0 && (isalnum((unsigned char)*c) || *c == '+' || *c == '/' || *c == '\n'
                       || *c == '\r')) {
        c++;
    }
    while (*c == '=' || *c == '\n' || *c == '\r') {
        c++;
    }
    return *c == '\0';
}

static int end_sessions(void *baton, const ib_slo_request *req, const char **refused)
{
    (void)baton;
    FZ_CHECK(req->id != NULL && *req->id != '\0', "idp_logout: a request without an ID", NULL);
    FZ_CHECK(req->who.name_id != NULL && req->session_indexes != NULL,
             "idp_logout: a request without NameID or SessionIndex list", NULL);
    FZ_CHECK(req->replay_until > FZ_NOW - IB_SLO_MAX_AGE - apr_time_from_sec(600),
             "idp_logout: replay_until before the oldest acceptable instant", NULL);
    for (int i = 0; i < req->session_indexes->nelts; i++) {
        FZ_CHECK(APR_ARRAY_IDX(req->session_indexes, i, const char *) != NULL,
                 "idp_logout: a NULL SessionIndex", NULL);
    }
    if (strstr(req->who.name_id, "refuse") != NULL) {
        *refused = "refused by the fuzz harness";
        return -1;
    }
    return strstr(req->who.name_id, "nobody") != NULL ? 0 : 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) {
        return 0;
    }
    apr_pool_t *p = fz_pool();
    int request = data[0] & 1, require_signed = (data[0] >> 1) & 1, enc = (data[0] >> 2) & 3;
    const char *field = request ? "SAMLRequest" : "SAMLResponse";
    const char *xml = fz_bytes(data + 1, size - 1);
    const char *message;
    switch (enc) {
    case 0:
        message = fz_cstr(data + 1, size - 1);
        break;
    case 1:
        message = ib_b64_encode(p, (const unsigned char *)xml, size - 1);
        break;
    case 2:
        message = apr_pstrcat(p, field, "=", fz_redirect_encode(p, xml, size - 1), NULL);
        break;
    default:
        message = apr_pstrcat(p, field, "=", fz_redirect_encode(p, xml, size - 1),
                              "&RelayState=fuzz&SigAlg=http%3A%2F%2Fwww.w3.org%2F2001%2F04"
                              "%2Fxmldsig-more%23rsa-sha256&Signature=c2lnbmF0dXJl", NULL);
        break;
    }
    int is_query = ib_saml_message_is_query(message);
    if (*message != '\0') {
        FZ_CHECK(!(is_query && lasso_reads_base64(message)),
                 "ib_saml_message_is_query calls a message a query that lasso decodes as "
                 "Base64 (a POST value)", message);
    }
    if (request) {
        ib_saml_outgoing out;
        memset(&out, 0, sizeof(out));
        const char *err = ib_saml_idp_logout(p, fz_saml_sp(), FZ_NOW, message, require_signed,
                                             end_sessions, NULL, &out);
        fz_trace("idp_logout", err ? err : "OK");
        if (err == NULL) {
            FZ_CHECK(out.url != NULL && (out.redirect || out.value != NULL),
                     "idp_logout: success without a LogoutResponse to send", NULL);
        }
    } else {
        const char *irt = NULL, *reason = NULL;
        ib_slo_verdict v = ib_saml_logout_response(p, fz_saml_sp(), FZ_NOW, message,
                                                   require_signed, &irt, &reason);
        FZ_CHECK(irt != NULL, "logout_response: in_response_to left NULL", NULL);
        fz_trace("logout_response", v == IB_SLO_OK ? "OK" : reason);
        FZ_CHECK(v == IB_SLO_OK || reason != NULL, "logout_response: refusal without reason",
                 NULL);
    }
    fz_done();
    return 0;
}
