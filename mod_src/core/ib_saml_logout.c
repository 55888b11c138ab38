#include <string.h>

#include <apr_lib.h>
#include <apr_strings.h>
#include <lasso/lasso.h>
#include <libxml/parser.h>
#include <zlib.h>
#include <lasso/xml/saml-2.0/saml2_assertion.h>
#include <lasso/xml/saml-2.0/saml2_authn_statement.h>
#include <lasso/xml/saml-2.0/saml2_name_id.h>
#include <lasso/xml/saml-2.0/saml2_subject.h>
#include <lasso/xml/saml-2.0/samlp2_logout_request.h>
#include <lasso/xml/saml-2.0/samlp2_status_response.h>

#include "ib_clock.h"
#include "ib_codec.h"
#include "ib_metadata.h"
#include "ib_saml_logout.h"
#include "ib_url.h"
#include "ib_xml.h"

const char *ib_saml_sp_take(apr_pool_t *p, ib_saml_sp *sp, apr_time_t now,
                            LassoServer **out, int *valid_idp_certs);
void ib_saml_sp_put(ib_saml_sp *sp, LassoServer *server);
const ib_app *ib_saml_sp_app(const ib_saml_sp *sp);

static char *gdup(const char *s)
{
    return s ? g_strdup(s) : NULL;
}

/* lasso builds and checks logout messages against a LassoSession holding the
 * sign-in assertion; we keep only what logout needs, so rebuild that much. */
static LassoSession *session_for(const char *idp, const char *name_id, const char *format,
                                 const char *nq, const char *spnq, const char *session_index)
{
    LassoSaml2NameID *nid = LASSO_SAML2_NAME_ID(lasso_saml2_name_id_new_with_string(
        (char *)name_id));
    nid->Format = gdup(format);
    nid->NameQualifier = gdup(nq);
    nid->SPNameQualifier = gdup(spnq);
    LassoSaml2Subject *subject = LASSO_SAML2_SUBJECT(lasso_saml2_subject_new());
    subject->NameID = nid;
    LassoSaml2Assertion *assertion = LASSO_SAML2_ASSERTION(lasso_saml2_assertion_new());
    assertion->Subject = subject;
    LassoSaml2AuthnStatement *st = LASSO_SAML2_AUTHN_STATEMENT(lasso_saml2_authn_statement_new());
    st->SessionIndex = gdup(session_index);
    assertion->AuthnStatement = g_list_append(NULL, st);
    LassoSession *session = lasso_session_new();
    lasso_session_add_assertion(session, idp, LASSO_NODE(assertion));
    g_object_unref(assertion);
    return session;
}

/* ---- reading a message as lasso will ------------------------------------------
 *
 * lasso_node_init_from_message_with_format (lasso 2.8) tries, in this order:
 * Base64 (the whole message made of Base64 characters and line breaks, '='
 * only at the end), then XML (the message, or what the Base64 decoded to,
 * contains '<'), then a query string ('&' or '='). The module must judge a
 * message by the same reading (signature rules, Destination), so it copies
 * the classification instead of guessing from "SAMLRequest=" substrings: a
 * POST value whose Base64 ends in "...SAMLRequest=" is Base64 to lasso. */
static int lasso_base64(const char *m)
{
    const char *c = m;
    while (*c != '\0' && (apr_isalnum(*c) || *c == '+' || *c == '/' || *c == '\n' || *c == '\r')) {
        c++;
    }
    while (*c == '=' || *c == '\n' || *c == '\r') {
        c++;
    }
    return m[0] != '\0' && *c == '\0';
}

int ib_saml_message_is_query(const char *message)
{
    return !lasso_base64(message) && strchr(message, '<') == NULL
           && (strchr(message, '&') != NULL || strchr(message, '=') != NULL);
}

/* lasso 2.8 ends the whole process (g_error: SIGTRAP) when a LogoutRequest
 * does not hold exactly one of BaseID, NameID and EncryptedID
 * (samlp2_logout_request.c, init_from_xml), in any binding, before any
 * signature is checked: one unauthenticated POST of SAMLRequest=PHgvPg==
 * ("<x/>") to the logout callback killed an httpd child (found by
 * fuzz/fuzz_saml_logout.c). So a LogoutRequest is decoded here as lasso
 * will decode it, and handed to lasso only when lasso's own parse of it
 * finds a NameID (which ib_saml_idp_logout requires anyway) and no BaseID or
 * EncryptedID. Whatever cannot be decoded the same way is refused:
 * refusing more than lasso would is safe, handing lasso a document other than
 * the one checked is not. */
static const char *check_request_xml(apr_pool_t *p, const char *xml, apr_size_t len)
{
    if (memchr(xml, '\0', len) != NULL || memmem(xml, len, "<!DOCTYPE", 9) != NULL
        || memmem(xml, len, "<!ENTITY", 8) != NULL) {
        return "the LogoutRequest holds a NUL byte, a DOCTYPE or an entity declaration";
    }
    xmlDocPtr doc = xmlReadMemory(xml, (int)len, "LogoutRequest", NULL,
                                  XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
    if (doc == NULL) {
        return "the LogoutRequest is not well-formed XML";
    }
    xmlNodePtr root = xmlDocGetRootElement(doc);
    const char *err = NULL;
    if (!ib_xml_is_el(root, NS_SAMLP, "LogoutRequest")) {
        err = "the message is not a SAML 2.0 LogoutRequest";
    } else {
        /* What LassoSamlp2LogoutRequest's init_from_xml does before its fatal
         * check: its parent class's parse (every rule lasso applies: element
         * order, namespaces, attribute values...), then the count. Done here
         * on a probe object, with a refusal instead of g_error. */
        LassoNode *probe = LASSO_NODE(lasso_samlp2_logout_request_new());
        LassoNodeClass *parent = g_type_class_peek_parent(LASSO_NODE_GET_CLASS(probe));
        LassoSamlp2LogoutRequest *req = LASSO_SAMLP2_LOGOUT_REQUEST(probe);
        parent->init_from_xml(probe, root);
        if ((req->BaseID != NULL) + (req->NameID != NULL) + (req->EncryptedID != NULL) != 1
            || req->NameID == NULL) {
            err = "lasso does not read exactly one NameID in the LogoutRequest";
        }
        g_object_unref(probe);
    }
    xmlFreeDoc(doc);
    (void)p;
    return err;
}

static int hex_digit(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
           : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* libxml2's xmlURIUnescapeString, which lasso applies to each query field:
 * %XX decoded, anything else (including '+') kept. */
static char *unescape(apr_pool_t *p, const char *s, apr_size_t n)
{
    char *out = apr_palloc(p, n + 1), *w = out;
    for (apr_size_t i = 0; i < n; i++) {
        int hi, lo;
        if (s[i] == '%' && i + 2 < n && (hi = hex_digit(s[i + 1])) >= 0
            && (lo = hex_digit(s[i + 2])) >= 0) {
            *w++ = (char)(hi << 4 | lo);
            i += 2;
        } else {
            *w++ = s[i];
        }
    }
    *w = '\0';
    return out;
}

/* Raw DEFLATE (the HTTP-Redirect binding), at most max bytes. */
static long inflate_raw(apr_pool_t *p, const unsigned char *in, apr_size_t in_len,
                        apr_size_t max, char **out)
{
    z_stream z;
    memset(&z, 0, sizeof(z));
    if (inflateInit2(&z, -MAX_WBITS) != Z_OK) {
        return -1;
    }
    unsigned char *buf = apr_palloc(p, max + 1);
    z.next_in = (Bytef *)in;
    z.avail_in = (uInt)in_len;
    z.next_out = buf;
    z.avail_out = (uInt)max;
    int rc = inflate(&z, Z_FINISH);
    long n = rc == Z_STREAM_END && z.avail_in == 0 ? (long)z.total_out : -1;
    inflateEnd(&z);
    if (n >= 0) {
        buf[n] = '\0';
        *out = (char *)buf;
    }
    return n;
}

static const char *check_logout_request(apr_pool_t *p, const char *message)
{
    if (strlen(message) > IB_SAML_MAX_ENCODED) {
        return "the LogoutRequest is larger than the limit";
    }
    if (lasso_base64(message)) {
        unsigned char *xml;
        long n = ib_b64_decode(p, message, IB_SAML_MAX_DECODED, &xml);
        if (n <= 0 || strchr((const char *)xml, '<') == NULL) {
            return "the LogoutRequest is not Base64 of XML";
        }
        return check_request_xml(p, (const char *)xml, (apr_size_t)n);
    }
    if (strchr(message, '<') != NULL) {
        return check_request_xml(p, message, strlen(message));
    }
    if (!ib_saml_message_is_query(message)) {
        return "the LogoutRequest is neither a POST value nor a query string";
    }
    /* lasso splits at '&' and ';', unescapes each field, takes the last
     * SAMLRequest or SAMLResponse, and inflates its Base64 value. */
    const char *value = NULL;
    int fields = 0;
    for (const char *f = message; ; f++) {
        apr_size_t n = strcspn(f, "&;");
        const char *field = unescape(p, f, n);
        const char *eq = strchr(field, '=');
        if (eq != NULL && ((eq - field == 11 && strncmp(field, "SAMLRequest", 11) == 0)
                           || (eq - field == 12 && strncmp(field, "SAMLResponse", 12) == 0))) {
            value = eq + 1;
            fields++;
        } else if (eq != NULL && eq - field == 12 && strncmp(field, "SAMLEncoding", 12) == 0) {
            return "the LogoutRequest names a SAMLEncoding";
        }
        f += n;
        if (*f == '\0') {
            break;
        }
    }
    if (fields != 1) {
        return "the query does not hold exactly one SAMLRequest";
    }
    unsigned char *deflated;
    char *xml;
    long n = ib_b64_decode(p, value, IB_SAML_MAX_ENCODED, &deflated);
    long m = n > 0 ? inflate_raw(p, deflated, (apr_size_t)n, IB_SAML_MAX_DECODED, &xml) : -1;
    if (m <= 0) {
        return "the SAMLRequest is not Base64 of DEFLATE data";
    }
    return check_request_xml(p, xml, (apr_size_t)m);
}

static void fill_outgoing(apr_pool_t *p, LassoProfile *profile, const char *field,
                          ib_saml_outgoing *out)
{
    out->redirect = profile->msg_body == NULL;
    out->url = apr_pstrdup(p, profile->msg_url);
    out->field = field;
    out->value = profile->msg_body ? apr_pstrdup(p, profile->msg_body) : NULL;
}

const char *ib_saml_logout_request(apr_pool_t *p, ib_saml_sp *sp, apr_time_t now,
                                   const ib_session *s, const char *relay_state,
                                   ib_saml_outgoing *out)
{
    const ib_app *app = ib_saml_sp_app(sp);
    const ib_tenant *t = app->tenant;
    int sign = t->slo_binding != IB_SLO_REDIRECT_UNSIGNED;
    const ib_sp_key *key = ib_sp_keys_active(app->sp_keys, now);
    if (sign && (key == NULL || EVP_PKEY_get_base_id(key->pkey) != EVP_PKEY_RSA)) {
        return "no RSA SP signing key is active: refusing to send an unsigned LogoutRequest";
    }
    LassoServer *server;
    int valid;
    const char *err = ib_saml_sp_take(p, sp, now, &server, &valid);
    if (err != NULL) {
        return err;
    }
    LassoLogout *logout = lasso_logout_new(server);
    LassoProfile *profile = LASSO_PROFILE(logout);
    profile->session = session_for(ib_app_idp(app)->entity_id, s->name_id, s->name_id_format,
                                   s->name_qualifier, s->sp_name_qualifier, s->session_index);
    LassoHttpMethod method = t->slo_binding == IB_SLO_POST ? LASSO_HTTP_METHOD_POST
                                                           : LASSO_HTTP_METHOD_REDIRECT;
    /* Before init_request: lasso decides there whether the request is signed. */
    lasso_profile_set_signature_hint(profile, sign ? LASSO_PROFILE_SIGNATURE_HINT_FORCE
                                                   : LASSO_PROFILE_SIGNATURE_HINT_FORBID);
    int rc = lasso_logout_init_request(logout, (char *)ib_app_idp(app)->entity_id, method);
    if (rc == 0) {
        g_free(profile->msg_relayState);
        profile->msg_relayState = gdup(relay_state);
        rc = lasso_logout_build_request_msg(logout);
    }
    if (rc == 0) {
        out->id = apr_pstrdup(p, LASSO_SAMLP2_REQUEST_ABSTRACT(profile->request)->ID);
        fill_outgoing(p, profile, "SAMLRequest", out);
    } else {
        err = apr_psprintf(p, "lasso could not build the LogoutRequest: %s", lasso_strerror(rc));
    }
    g_object_unref(logout);
    ib_saml_sp_put(sp, server);
    return err;
}

static int status_failure(int rc)
{
    return rc == LASSO_PROFILE_ERROR_STATUS_NOT_SUCCESS
           || rc == LASSO_PROFILE_ERROR_REQUEST_DENIED   /* lasso 2.8: Responder/RequestDenied */
           || rc == LASSO_LOGOUT_ERROR_REQUEST_DENIED
           || rc == LASSO_LOGOUT_ERROR_UNKNOWN_PRINCIPAL;
}

/* lasso's MAYBE verify hint refuses a missing signature just as FORCE does, so
 * with IdBrokerRequireSignedLogout Off lasso is told to IGNORE and we judge:
 * an unsigned message passes, a signature that is there must verify. */
static LassoProfileSignatureVerifyHint verify_hint(int require_signed)
{
    return require_signed ? LASSO_PROFILE_SIGNATURE_VERIFY_HINT_FORCE
                          : LASSO_PROFILE_SIGNATURE_VERIFY_HINT_IGNORE;
}

static int query_has(const char *query, const char *name)
{
    size_t n = strlen(name);
    for (const char *q = query; q != NULL; q = strchr(q, '&')) {
        q += *q == '&';
        if (strncmp(q, name, n) == 0 && q[n] == '=') {
            return 1;
        }
    }
    return 0;
}

static int signature_refused(const char *message, int require_signed, int signature_status)
{
    if (signature_status == 0) {
        return 0;
    }
    if (require_signed) {
        return 1;
    }
    int is_unsigned = ib_saml_message_is_query(message)
                      ? !query_has(message, "Signature") && !query_has(message, "SigAlg")
                      : signature_status == LASSO_DS_ERROR_SIGNATURE_NOT_FOUND;
    return !is_unsigned;
}

/* A value from the message for the log: printable ASCII, at most 200 bytes. */
static const char *loggable(apr_pool_t *p, const char *s)
{
    size_t n = strlen(s);
    char *out = apr_pstrndup(p, s, n > 200 ? 200 : n);
    for (char *c = out; *c; c++) {
        if ((unsigned char)*c < 0x20 || (unsigned char)*c > 0x7e) {
            *c = '?';
        }
    }
    return out;
}

/* Whether the message came by POST with an XML signature that verified. */
static int signed_post(LassoProfile *profile, const char *message)
{
    return !ib_saml_message_is_query(message)
           && lasso_profile_get_signature_status(profile) == 0;
}

/* Destination, when present, must be our callback, so a message the IdP
 * addressed to another SP (or another app of ours) cannot be replayed here;
 * a signed POST message must carry it (SAML Bindings 3.5.5.2). */
static const char *check_destination(apr_pool_t *p, const ib_app *app, const char *what,
                                     const char *destination, int is_signed_post)
{
    if (destination == NULL) {
        return is_signed_post ? apr_psprintf(p, "the signed %s has no Destination", what)
                              : NULL;
    }
    const char *callback = ib_url_join(p, &app->sp_base, IB_PATH_SLO);
    if (strcmp(destination, callback) != 0) {
        return apr_psprintf(p, "the %s Destination '%s' is not the logout callback '%s'", what,
                            loggable(p, destination), callback);
    }
    return NULL;
}

/* IssueInstant must lie in [now - (IB_SLO_MAX_AGE + skew), now + skew] and a
 * NotOnOrAfter (LogoutRequest only; NULL otherwise) must not have passed,
 * give or take the skew. *until: the last instant at which a copy of the
 * message would still pass these checks (how long to remember its ID). */
static const char *check_times(apr_pool_t *p, const char *what, apr_time_t now,
                               apr_interval_time_t skew, const char *issue_instant,
                               const char *not_on_or_after, apr_time_t *until)
{
    apr_time_t ii, noa;
    if (issue_instant == NULL || ib_time_parse_xsd(issue_instant, &ii) != APR_SUCCESS) {
        return apr_psprintf(p, "the %s has no readable IssueInstant", what);
    }
    if (ii > now + skew) {
        return apr_psprintf(p, "the %s is issued in the future (IssueInstant %s)", what,
                            loggable(p, issue_instant));
    }
    if (ii < now - IB_SLO_MAX_AGE - skew) {
        return apr_psprintf(p, "the %s is too old (IssueInstant %s, more than %d s before now "
                            "plus the clock skew)", what, loggable(p, issue_instant),
                            (int)apr_time_sec(IB_SLO_MAX_AGE));
    }
    *until = ii + IB_SLO_MAX_AGE + skew;
    if (not_on_or_after != NULL) {
        if (ib_time_parse_xsd(not_on_or_after, &noa) != APR_SUCCESS) {
            return apr_psprintf(p, "the %s has an unreadable NotOnOrAfter", what);
        }
        if (now >= noa + skew) {
            return apr_psprintf(p, "the %s has expired (NotOnOrAfter %s)", what,
                                loggable(p, not_on_or_after));
        }
        if (noa + skew < *until) {
            *until = noa + skew;
        }
    }
    return NULL;
}

ib_slo_verdict ib_saml_logout_response(apr_pool_t *p, ib_saml_sp *sp, apr_time_t now,
                                       const char *message, int require_signed,
                                       const char **in_response_to, const char **reason)
{
    LassoServer *server;
    int valid;
    *in_response_to = "";
    const char *err = ib_saml_sp_take(p, sp, now, &server, &valid);
    if (err != NULL) {
        *reason = err;
        return IB_SLO_INVALID;
    }
    LassoLogout *logout = lasso_logout_new(server);
    LassoProfile *profile = LASSO_PROFILE(logout);
    profile->session = lasso_session_new();
    lasso_profile_set_signature_verify_hint(profile, verify_hint(require_signed));
    int rc = lasso_logout_process_response_msg(logout, (gchar *)message);
    ib_slo_verdict v = IB_SLO_OK;
    if (rc != 0 && !status_failure(rc)) {
        *reason = apr_psprintf(p, "LogoutResponse refused by lasso: %s", lasso_strerror(rc));
        v = IB_SLO_INVALID;
    } else if (signature_refused(message, require_signed,
                                 lasso_profile_get_signature_status(profile))) {
        *reason = "the LogoutResponse is not signed, or its signature does not verify";
        v = IB_SLO_INVALID;
    } else if (!LASSO_IS_SAMLP2_STATUS_RESPONSE(profile->response)) {
        *reason = "the LogoutResponse could not be read";
        v = IB_SLO_INVALID;
    } else {
        LassoSamlp2StatusResponse *resp = LASSO_SAMLP2_STATUS_RESPONSE(profile->response);
        const ib_app *app = ib_saml_sp_app(sp);
        apr_time_t until;
        const char *bad = check_destination(p, app, "LogoutResponse", resp->Destination,
                                            signed_post(profile, message));
        if (bad == NULL) {
            bad = check_times(p, "LogoutResponse", now, app->tenant->clock_skew,
                              resp->IssueInstant, NULL, &until);
        }
        if (bad != NULL) {
            *reason = bad;         /* the pending logout stays for a good answer */
            v = IB_SLO_INVALID;
        } else {
            *in_response_to = resp->InResponseTo ? apr_pstrdup(p, resp->InResponseTo) : "";
            if (status_failure(rc)) {
                *reason = apr_psprintf(p, "the IdP answered the logout with a failure "
                                       "status: %s", lasso_strerror(rc));
                v = IB_SLO_STATUS_FAILED;
            }
        }
    }
    g_object_unref(logout);
    ib_saml_sp_put(sp, server);
    return v;
}

/* Every SessionIndex of the request, once each: lasso keeps the first in
 * req->SessionIndex and the others aside (SAML core 3.7.1: any number). */
static apr_array_header_t *session_indexes(apr_pool_t *p, LassoSamlp2LogoutRequest *req)
{
    apr_array_header_t *out = apr_array_make(p, 2, sizeof(const char *));
    GList *all = lasso_samlp2_logout_request_get_session_indexes(req);
    for (GList *it = all; it != NULL; it = it->next) {
        const char *si = it->data;
        int seen = si == NULL;
        for (int i = 0; !seen && i < out->nelts; i++) {
            seen = strcmp(APR_ARRAY_IDX(out, i, const char *), si) == 0;
        }
        if (!seen) {
            APR_ARRAY_PUSH(out, const char *) = apr_pstrdup(p, si);
        }
    }
    g_list_free_full(all, g_free);
    if (out->nelts == 0 && req->SessionIndex != NULL) {
        APR_ARRAY_PUSH(out, const char *) = apr_pstrdup(p, req->SessionIndex);
    }
    return out;
}

static const char *pdup(apr_pool_t *p, const char *s)
{
    return s ? apr_pstrdup(p, s) : NULL;
}

const char *ib_saml_idp_logout(apr_pool_t *p, ib_saml_sp *sp, apr_time_t now,
                               const char *message, int require_signed,
                               ib_slo_end_sessions_fn *end, void *baton,
                               ib_saml_outgoing *out)
{
    const ib_app *app = ib_saml_sp_app(sp);
    const char *err = check_logout_request(p, message);
    if (err != NULL) {
        return apr_pstrcat(p, "LogoutRequest refused: ", err, NULL);
    }
    LassoServer *server;
    int valid;
    err = ib_saml_sp_take(p, sp, now, &server, &valid);
    if (err != NULL) {
        return err;
    }
    LassoLogout *logout = lasso_logout_new(server);
    LassoProfile *profile = LASSO_PROFILE(logout);
    lasso_profile_set_signature_verify_hint(profile, verify_hint(require_signed));
    int rc = lasso_logout_process_request_msg(logout, (gchar *)message);
    LassoSamlp2LogoutRequest *req = rc == 0 && LASSO_IS_SAMLP2_LOGOUT_REQUEST(profile->request)
                                    ? LASSO_SAMLP2_LOGOUT_REQUEST(profile->request) : NULL;
    LassoSamlp2RequestAbstract *ra = req ? LASSO_SAMLP2_REQUEST_ABSTRACT(req) : NULL;
    ib_slo_request what;
    memset(&what, 0, sizeof(what));
    if (rc != 0 || req == NULL) {
        err = apr_psprintf(p, "LogoutRequest refused: %s", rc ? lasso_strerror(rc)
                                                             : "unreadable request");
    } else if (signature_refused(message, require_signed,
                                 lasso_profile_get_signature_status(profile))) {
        err = "the LogoutRequest is not signed, or its signature does not verify";
    } else if (req->NameID == NULL || req->NameID->content == NULL) {
        err = "the LogoutRequest carries no NameID";
    } else if (ra->ID == NULL || *ra->ID == '\0') {
        err = "the LogoutRequest has no ID";
    } else if ((err = check_destination(p, app, "LogoutRequest", ra->Destination,
                                        signed_post(profile, message))) == NULL) {
        err = check_times(p, "LogoutRequest", now, app->tenant->clock_skew, ra->IssueInstant,
                          req->NotOnOrAfter, &what.replay_until);
    }
    int ended = 0;
    if (err == NULL) {
        /* Copies: the callback may keep them longer than lasso's objects live. */
        what.id = apr_pstrdup(p, ra->ID);
        what.who.tenant = app->tenant->name;
        what.who.idp = ib_app_idp(app)->entity_id;
        what.who.name_id = apr_pstrdup(p, req->NameID->content);
        what.who.name_id_format = pdup(p, req->NameID->Format);
        what.who.name_qualifier = pdup(p, req->NameID->NameQualifier);
        what.who.sp_name_qualifier = pdup(p, req->NameID->SPNameQualifier);
        what.who.session_index = pdup(p, req->SessionIndex);
        what.session_indexes = session_indexes(p, req);
        const char *refused = NULL;
        ended = end(baton, &what, &refused);
        if (ended < 0) {
            err = refused ? refused : "the LogoutRequest was refused";
        }
    }
    if (err == NULL) {
        if (ended > 0) {
            /* lasso answers Success only when a session matches the request; it
             * wants a SessionIndex in that session even when the IdP sent none
             * (then it compares none: every session of the user ends). It
             * compares the request's first SessionIndex only; the others were
             * matched by `end`. */
            profile->session = session_for(ib_app_idp(app)->entity_id, req->NameID->content,
                                           req->NameID->Format, req->NameID->NameQualifier,
                                           req->NameID->SPNameQualifier,
                                           req->SessionIndex ? req->SessionIndex : "*");
        }
        /* Before validate_request: it builds the response and its signature setup. */
        lasso_profile_set_signature_hint(profile, LASSO_PROFILE_SIGNATURE_HINT_FORCE);
        lasso_logout_validate_request(logout); /* sets Success or Responder */
        rc = lasso_logout_build_response_msg(logout);
        if (rc == 0) {
            out->id = "";
            fill_outgoing(p, profile, "SAMLResponse", out);
        } else {
            err = apr_psprintf(p, "lasso could not build the LogoutResponse: %s",
                               lasso_strerror(rc));
        }
    }
    g_object_unref(logout);
    ib_saml_sp_put(sp, server);
    return err;
}
