/* Response validation. Two stages: ib_saml_parse_response decides whether
 * the document is safe to look at (shape, DTDs, signature placement and
 * algorithms); ib_saml_validate_response has xmlsec verify the signatures
 * with the pinned IdP keys, on the document already parsed, then applies every rule of RESP-1..7 to the one
 * Assertion the shape check allowed. Because exactly one Assertion exists,
 * as a direct child of the Response, and each signature must reference its
 * own parent by ID, the element read is the element signed: the XML
 * signature wrapping family has nowhere to put a second copy. */
#include <string.h>

#include <apr_strings.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <xmlsec/crypto.h>
#include <xmlsec/keysmngr.h>
#include <xmlsec/xmlenc.h>
#include <xmlsec/xmlsec.h>

#include "ib_clock.h"
#include "ib_codec.h"
#include "ib_saml.h"
#include "ib_xml.h"

const ib_app *ib_saml_sp_app(const ib_saml_sp *sp);

#define NS_XENC "http://www.w3.org/2001/04/xmlenc#"
#define STATUS_SUCCESS "urn:oasis:names:tc:SAML:2.0:status:Success"
#define STATUS_AUTHN_FAILED "urn:oasis:names:tc:SAML:2.0:status:AuthnFailed"
#define STATUS_REQUEST_DENIED "urn:oasis:names:tc:SAML:2.0:status:RequestDenied"
#define CM_BEARER "urn:oasis:names:tc:SAML:2.0:cm:bearer"
#define MAX_DEPTH 48
#define MAX_ELEMENTS 20000
#define DEFAULT_REPLAY_WINDOW apr_time_from_sec(3600)

struct ib_saml_parsed {
    xmlDocPtr doc;
    const char *encoded;      /* the form value as received */
    xmlNodePtr response;
    xmlNodePtr assertion;
    int response_signed;
    int response_verified;    /* before decryption, which changes what it covers */
    int assertion_signed;
    int used_sha1;
};

static apr_status_t free_doc(void *d)
{
    xmlFreeDoc(d);
    return APR_SUCCESS;
}

/* ---- shape checks -------------------------------------------------------- */

typedef struct {
    apr_pool_t *p;
    apr_hash_t *ids;
    int elements;
    int assertions;
    int signatures;
    const char *error;
} walk_state;

static void walk(walk_state *w, xmlNodePtr n, int depth)
{
    for (; n != NULL && w->error == NULL; n = n->next) {
        if (n->type == XML_ENTITY_REF_NODE || n->type == XML_DTD_NODE) {
            w->error = "the document uses entities or a DTD";
            return;
        }
        if (n->type != XML_ELEMENT_NODE) {
            continue;
        }
        if (depth > MAX_DEPTH || ++w->elements > MAX_ELEMENTS) {
            w->error = "the document is nested too deeply or too large";
            return;
        }
        if (ib_xml_is_el(n, NS_SAML, "Assertion") || ib_xml_is_el(n, NS_SAML, "EncryptedAssertion")) {
            w->assertions++;
        }
        if (ib_xml_is_el(n, NS_DS, "Signature")) {
            w->signatures++;
        }
        const char *id = ib_xml_attr(w->p, n, "ID");
        if (id != NULL) {
            if (apr_hash_get(w->ids, id, APR_HASH_KEY_STRING) != NULL) {
                w->error = apr_psprintf(w->p, "the ID '%s' occurs twice", id);
                return;
            }
            apr_hash_set(w->ids, id, APR_HASH_KEY_STRING, n);
        }
        walk(w, n->children, depth + 1);
    }
}

static const char *check_shape(apr_pool_t *p, ib_saml_parsed *r, int allow_sha1)
{
    xmlNodePtr root = xmlDocGetRootElement(r->doc);
    if (!ib_xml_is_el(root, NS_SAMLP, "Response")) {
        return "the message is not a SAML 2.0 Response";
    }
    walk_state w = {p, apr_hash_make(p), 0, 0, 0, NULL};
    walk(&w, root, 0);
    if (w.error != NULL) {
        return w.error;
    }
    r->response = root;
    if (w.assertions == 0) {
        return NULL; /* a failure status carries none; checked later */
    }
    if (w.assertions > 1) {
        return "the Response holds more than one Assertion";
    }
    r->assertion = ib_xml_child(root, NS_SAML, "Assertion");
    if (r->assertion == NULL && ib_xml_child(root, NS_SAML, "EncryptedAssertion") == NULL) {
        return "the Assertion is not a direct child of the Response";
    }
    int sigs_seen = 0;
    xmlNodePtr holders[2] = {root, r->assertion};
    for (int i = 0; i < 2; i++) {
        int here = 0;
        for (xmlNodePtr c = holders[i] ? holders[i]->children : NULL; c; c = c->next) {
            if (ib_xml_is_el(c, NS_DS, "Signature")) {
                here++;
                const char *err = ib_dsig_check_shape(p, c, allow_sha1, &r->used_sha1);
                if (err != NULL) {
                    return err;
                }
            }
        }
        if (here > 1) {
            return "an element carries more than one signature";
        }
        sigs_seen += here;
        if (i == 0) {
            r->response_signed = here;
        } else {
            r->assertion_signed = here;
        }
    }
    if (sigs_seen != w.signatures) {
        return "a signature sits somewhere other than on the Response or the Assertion";
    }
    return NULL;
}

ib_saml_verdict ib_saml_parse_response(apr_pool_t *p, const char *saml_response,
                                       int allow_sha1, ib_saml_parsed **out,
                                       const char **in_response_to,
                                       const char **reason)
{
    if (saml_response == NULL || *saml_response == '\0') {
        *reason = "no SAMLResponse in the POST";
        return IB_SAML_MALFORMED;
    }
    if (strlen(saml_response) > IB_SAML_MAX_ENCODED) {
        *reason = "the SAMLResponse is larger than the limit";
        return IB_SAML_MALFORMED;
    }
    unsigned char *xml;
    long len = ib_b64_decode(p, saml_response, IB_SAML_MAX_DECODED, &xml);
    if (len <= 0) {
        *reason = "the SAMLResponse is not Base64, or decodes beyond the size limit";
        return IB_SAML_MALFORMED;
    }
    /* Refuse DTDs before the parser sees them: no entity expansion, no
     * external fetches, whatever the parser's defaults (SEC-7). */
    if (memmem(xml, (size_t)len, "<!DOCTYPE", 9) || memmem(xml, (size_t)len, "<!ENTITY", 8)) {
        *reason = "the SAMLResponse contains a DOCTYPE or entity declaration";
        return IB_SAML_MALFORMED;
    }
    /* UTF-8 only, no BOM: another encoding could hide a DOCTYPE from the
     * scan above. */
    long start = 0;
    while (start < len && (xml[start] == ' ' || xml[start] == '\t' || xml[start] == '\r'
                           || xml[start] == '\n')) {
        start++;
    }
    if (start >= len || xml[start] != '<') {
        *reason = "the SAMLResponse is not UTF-8 XML";
        return IB_SAML_MALFORMED;
    }
    ib_saml_parsed *r = apr_pcalloc(p, sizeof(*r));
    r->encoded = saml_response;
    r->doc = xmlReadMemory((const char *)xml, (int)len, "SAMLResponse", NULL,
                           XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
    if (r->doc == NULL) {
        *reason = "the SAMLResponse is not well-formed XML";
        return IB_SAML_MALFORMED;
    }
    apr_pool_cleanup_register(p, r->doc, free_doc, apr_pool_cleanup_null);
    if (r->doc->intSubset != NULL || r->doc->extSubset != NULL) {
        *reason = "the SAMLResponse contains a DOCTYPE";
        return IB_SAML_MALFORMED;
    }
    const char *err = check_shape(p, r, allow_sha1);
    if (err != NULL) {
        *reason = err;
        return IB_SAML_MALFORMED;
    }
    const char *irt = ib_xml_attr(p, r->response, "InResponseTo");
    *in_response_to = irt ? irt : "";
    *out = r;
    return IB_SAML_OK;
}

/* ---- EncryptedAssertion (RESP-8) ---------------------------------------- */

/* xmlsec finds the key that unwraps the EncryptedKey in a keys manager
 * holding only k. */
static int decrypt_with(xmlNodePtr data, const ib_sp_key *k)
{
    xmlSecKeysMngrPtr mngr = ib_xmlsec_decryption_mngr(k);
    xmlSecEncCtxPtr ctx = mngr != NULL ? xmlSecEncCtxCreate(mngr) : NULL;
    int rc = -1;
    if (ctx != NULL) {
        rc = xmlSecEncCtxDecrypt(ctx, data);
        if (rc == 0 && !ctx->resultReplaced) {
            rc = -1; /* decrypted bytes, but not an element in place */
        }
        xmlSecEncCtxDestroy(ctx);
    }
    if (mngr != NULL) {
        ib_xmlsec_decryption_mngr_done(k, mngr);
    }
    return rc;
}

/* Decrypts the one EncryptedAssertion in place, so the rules below read
 * the Assertion as any other; then checks the shape again. */
static const char *decrypt_assertion(apr_pool_t *p, ib_saml_parsed *r, const ib_app *app)
{
    xmlNodePtr enc = ib_xml_child(r->response, NS_SAML, "EncryptedAssertion");
    xmlNodePtr data = ib_xml_child(enc, NS_XENC, "EncryptedData");
    if (data == NULL) {
        return "the EncryptedAssertion has no EncryptedData";
    }
    int done = 0;
    for (int i = 0; i < app->decrypt_keys->nelts && !done; i++) {
        done = decrypt_with(data, APR_ARRAY_IDX(app->decrypt_keys, i, const ib_sp_key *)) == 0;
    }
    xmlNodePtr assertion = done ? ib_xml_child(enc, NS_SAML, "Assertion") : NULL;
    if (assertion == NULL) {
        return "the EncryptedAssertion could not be decrypted with the SP decryption key(s)";
    }
    xmlUnlinkNode(assertion);
    xmlReplaceNode(enc, assertion);
    xmlFreeNode(enc);
    return check_shape(p, r, app->tenant->allow_sha1);
}

/* ---- rules --------------------------------------------------------------- */

static ib_saml_verdict check_status(apr_pool_t *p, ib_saml_parsed *r, const char **reason)
{
    xmlNodePtr code = ib_xml_child(ib_xml_child(r->response, NS_SAMLP, "Status"), NS_SAMLP, "StatusCode");
    const char *value = ib_xml_attr(p, code, "Value");
    if (value == NULL) {
        *reason = "the Response has no StatusCode";
        return IB_SAML_REJECTED;
    }
    if (strcmp(value, STATUS_SUCCESS) == 0) {
        return IB_SAML_OK;
    }
    const char *second = ib_xml_attr(p, ib_xml_child(code, NS_SAMLP, "StatusCode"), "Value");
    *reason = apr_psprintf(p, "the IdP answered %s%s%s", value, second ? " / " : "",
                           second ? second : "");
    if (second && (strcmp(second, STATUS_AUTHN_FAILED) == 0
                   || strcmp(second, STATUS_REQUEST_DENIED) == 0)) {
        return IB_SAML_USER_CANCELLED;
    }
    return IB_SAML_IDP_STATUS;
}

static const char *check_signature_policy(const ib_saml_parsed *r, ib_sign_policy policy)
{
    switch (policy) {
    case IB_SIGN_RESPONSE:
        return r->response_signed ? NULL : "the policy requires a signed Response";
    case IB_SIGN_ASSERTION:
        return r->assertion_signed ? NULL : "the policy requires a signed Assertion";
    case IB_SIGN_BOTH:
        return r->response_signed && r->assertion_signed
               ? NULL : "the policy requires both Response and Assertion signed";
    case IB_SIGN_EITHER:
    default:
        return r->response_signed || r->assertion_signed
               ? NULL : "neither the Response nor the Assertion is signed";
    }
}

/* One signature (already shape-checked: on its parent, one Reference to the
 * parent's ID, allowed algorithms), verified by xmlsec with the public key of
 * each IdP certificate valid now in turn, never with a key from the
 * message's KeyInfo (RESP-2, RESP-3). The keys are loaded once per
 * certificate per process (ib_dsig_verify_with_x509). */
static const char *verify_one(apr_pool_t *p, const ib_app *app, xmlNodePtr holder,
                              const char *what, apr_time_t now)
{
    const apr_array_header_t *certs = ib_app_idp(app)->certs;
    xmlNodePtr sig = ib_xml_child(holder, NS_DS, "Signature");
    int valid = 0;
    for (int i = 0; i < certs->nelts; i++) {
        const ib_cert *c = APR_ARRAY_IDX(certs, i, const ib_cert *);
        if (!ib_cert_valid_at(c, now)) {
            continue;
        }
        valid++;
        if (ib_dsig_verify_with_x509(p, sig, c) == NULL) {
            return NULL;
        }
    }
    if (valid == 0) {
        return "no configured IdP certificate is valid now (expired or not yet valid)";
    }
    return apr_psprintf(p, "the %s signature does not verify with any configured IdP "
                        "certificate valid now", what);
}

static const char *verify_signatures(apr_pool_t *p, const ib_app *app, ib_saml_parsed *r,
                                     apr_time_t now)
{
    const char *err = NULL;
    if (r->response_signed && !r->response_verified) {
        err = verify_one(p, app, r->response, "Response", now);
        r->response_verified = err == NULL;
    }
    if (err == NULL && r->assertion_signed) {
        err = verify_one(p, app, r->assertion, "Assertion", now);
    }
    return err;
}

static const char *time_attr(apr_pool_t *p, const xmlNode *n, const char *name,
                             apr_time_t *out, int *present)
{
    const char *v = ib_xml_attr(p, n, name);
    *present = v != NULL;
    if (v != NULL && ib_time_parse_xsd(v, out) != APR_SUCCESS) {
        return apr_psprintf(p, "%s '%s' is not a UTC dateTime", name, v);
    }
    return NULL;
}

static const char *check_issuer(apr_pool_t *p, const xmlNode *holder, int required,
                                const char *expected)
{
    xmlNodePtr issuer = ib_xml_child(holder, NS_SAML, "Issuer");
    if (issuer == NULL) {
        return required ? "the Assertion has no Issuer" : NULL;
    }
    const char *v = ib_xml_trimmed(p, ib_xml_text(p, issuer));
    if (strcmp(v, expected) != 0) {
        const char *hint = "";
        if (strncmp(v, "http:", 5) == 0 && strncmp(expected, "https:", 6) == 0
            && strcmp(v + 5, expected + 6) == 0) {
            hint = " (they differ only in http/https: ADFS's default identifier is http)";
        }
        return apr_psprintf(p, "Issuer '%s' is not the configured IdP entity ID '%s'%s",
                            v, expected, hint);
    }
    return NULL;
}

static const char *check_subject(apr_pool_t *p, xmlNodePtr subject,
                                 const ib_saml_expect *e, ib_saml_assertion *out)
{
    if (subject == NULL) {
        return "the Assertion has no Subject";
    }
    if (ib_xml_child(subject, NS_SAML, "EncryptedID") != NULL) {
        return "encrypted NameID received but no decryption key configured";
    }
    xmlNodePtr nid = ib_xml_child(subject, NS_SAML, "NameID");
    if (nid != NULL) {
        out->name_id = ib_xml_trimmed(p, ib_xml_text(p, nid));
        out->name_id_format = ib_xml_attr(p, nid, "Format");
        out->name_qualifier = ib_xml_attr(p, nid, "NameQualifier");
        out->sp_name_qualifier = ib_xml_attr(p, nid, "SPNameQualifier");
    }
    const char *why = "the Subject has no bearer SubjectConfirmation";
    for (xmlNodePtr sc = subject->children; sc; sc = sc->next) {
        const char *method = ib_xml_attr(p, sc, "Method");
        if (!ib_xml_is_el(sc, NS_SAML, "SubjectConfirmation") || !method || strcmp(method, CM_BEARER)) {
            continue;
        }
        xmlNodePtr d = ib_xml_child(sc, NS_SAML, "SubjectConfirmationData");
        const char *recipient = ib_xml_attr(p, d, "Recipient");
        const char *irt = ib_xml_attr(p, d, "InResponseTo");
        apr_time_t until = 0;
        int has_until = 0;
        const char *err = time_attr(p, d, "NotOnOrAfter", &until, &has_until);
        if (err != NULL) {
            return err;
        }
        if (recipient == NULL || strcmp(recipient, e->acs_url) != 0) {
            why = apr_psprintf(p, "Recipient '%s' is not the ACS URL '%s'",
                               recipient ? recipient : "", e->acs_url);
        } else if (irt == NULL || strcmp(irt, e->request_id) != 0) {
            why = "SubjectConfirmationData InResponseTo does not match the request";
        } else if (!has_until || e->now >= until + e->skew) {
            why = "the SubjectConfirmationData has expired or has no NotOnOrAfter";
        } else {
            out->not_on_or_after = until;
            return NULL;
        }
    }
    return why;
}

static const char *check_conditions(apr_pool_t *p, xmlNodePtr cond, const ib_saml_expect *e,
                                    const char *audience, ib_saml_assertion *out)
{
    if (cond == NULL) {
        return "the Assertion has no Conditions (an Audience is required)";
    }
    apr_time_t nb = 0, noa = 0;
    int has_nb, has_noa;
    const char *err = time_attr(p, cond, "NotBefore", &nb, &has_nb);
    if (err == NULL) {
        err = time_attr(p, cond, "NotOnOrAfter", &noa, &has_noa);
    }
    if (err != NULL) {
        return err;
    }
    if (has_nb && e->now + e->skew < nb) {
        return "the Assertion is not yet valid (Conditions NotBefore)";
    }
    if (has_noa && e->now >= noa + e->skew) {
        return "the Assertion has expired (Conditions NotOnOrAfter)";
    }
    if (has_noa && noa < out->not_on_or_after) {
        out->not_on_or_after = noa;
    }
    int restrictions = 0;
    for (xmlNodePtr ar = cond->children; ar; ar = ar->next) {
        if (!ib_xml_is_el(ar, NS_SAML, "AudienceRestriction")) {
            continue;
        }
        restrictions++;
        int ours = 0;
        for (xmlNodePtr a = ar->children; a; a = a->next) {
            if (ib_xml_is_el(a, NS_SAML, "Audience") && strcmp(ib_xml_trimmed(p, ib_xml_text(p, a)), audience) == 0) {
                ours = 1;
            }
        }
        if (!ours) {
            return apr_psprintf(p, "the Audience is not the SP entity ID '%s'", audience);
        }
    }
    return restrictions ? NULL : "the Assertion has no AudienceRestriction";
}

static const char *check_authn(apr_pool_t *p, xmlNodePtr assertion, const ib_tenant *t,
                               ib_saml_assertion *out)
{
    xmlNodePtr st = ib_xml_child(assertion, NS_SAML, "AuthnStatement");
    if (st == NULL) {
        /* Web SSO profile 4.1.4.2: a sign-in assertion states the sign-in. */
        return "the Assertion has no AuthnStatement";
    }
    out->session_index = ib_xml_attr(p, st, "SessionIndex");
    out->authn_class = ib_xml_trimmed(p, ib_xml_text(p, ib_xml_child(ib_xml_child(st, NS_SAML, "AuthnContext"),
                                                 NS_SAML, "AuthnContextClassRef")));
    if (t->authn_comparison == IB_AUTHN_EXACT
        && strcmp(t->authn_class, IB_AUTHN_CLASS_UNSPECIFIED) != 0
        && (out->authn_class == NULL || strcmp(out->authn_class, t->authn_class) != 0)) {
        return apr_psprintf(p, "the authentication context '%s' is not the required '%s'",
                            out->authn_class ? out->authn_class : "", t->authn_class);
    }
    return NULL;
}

static const char *read_attributes(apr_pool_t *p, xmlNodePtr assertion, ib_saml_assertion *out)
{
    out->attributes = apr_array_make(p, 12, sizeof(ib_raw_attr));
    for (xmlNodePtr st = assertion->children; st; st = st->next) {
        if (!ib_xml_is_el(st, NS_SAML, "AttributeStatement")) {
            continue;
        }
        for (xmlNodePtr a = st->children; a; a = a->next) {
            if (ib_xml_is_el(a, NS_SAML, "EncryptedAttribute")) {
                return "encrypted attribute received but no decryption key configured";
            }
            if (!ib_xml_is_el(a, NS_SAML, "Attribute") || ib_xml_attr(p, a, "Name") == NULL) {
                continue;
            }
            ib_raw_attr *ra = apr_array_push(out->attributes);
            ra->name = ib_xml_attr(p, a, "Name");
            ra->values = apr_array_make(p, 1, sizeof(const char *));
            for (xmlNodePtr v = a->children; v; v = v->next) {
                if (ib_xml_is_el(v, NS_SAML, "AttributeValue")) {
                    APR_ARRAY_PUSH(ra->values, const char *) = ib_xml_trimmed(p, ib_xml_text(p, v));
                }
            }
        }
    }
    return NULL;
}

ib_saml_verdict ib_saml_validate_response(apr_pool_t *p, ib_saml_sp *sp,
                                          ib_saml_parsed *r,
                                          const ib_saml_expect *e,
                                          ib_saml_assertion *out,
                                          const char **reason)
{
    const ib_app *app = ib_saml_sp_app(sp);
    memset(out, 0, sizeof(*out));
    ib_saml_verdict v = check_status(p, r, reason);
    if (v != IB_SAML_OK) {
        return v;
    }
    int encrypted = r->assertion == NULL
                    && ib_xml_child(r->response, NS_SAML, "EncryptedAssertion") != NULL;
    if (encrypted && app->decrypt_keys->nelts > 0) {
        /* A Response signature covers the EncryptedAssertion: check it
         * before the decrypted Assertion takes its place. */
        const char *derr = r->response_signed ? verify_signatures(p, app, r, e->now) : NULL;
        if (derr == NULL) {
            derr = decrypt_assertion(p, r, app);
        }
        if (derr != NULL) {
            *reason = derr;
            return IB_SAML_REJECTED;
        }
    }
    if (r->assertion == NULL) {
        *reason = ib_xml_child(r->response, NS_SAML, "EncryptedAssertion")
                  ? "encrypted assertion received but no decryption key configured"
                  : "the Response carries no Assertion";
        return ib_xml_child(r->response, NS_SAML, "EncryptedAssertion")
               ? IB_SAML_ENCRYPTED_NO_KEY : IB_SAML_REJECTED;
    }
    const char *irt = ib_xml_attr(p, r->response, "InResponseTo");
    const char *dest = ib_xml_attr(p, r->response, "Destination");
    const char *err = NULL;
    if (irt == NULL || strcmp(irt, e->request_id) != 0) {
        err = "the Response InResponseTo does not match the pending request";
    } else if (dest == NULL && r->response_signed) {
        /* SAML Bindings 3.5.5.2: a signed POST message must say where it goes. */
        err = "the signed Response has no Destination";
    } else if (dest != NULL && strcmp(dest, e->acs_url) != 0) {
        err = apr_psprintf(p, "Destination '%s' is not the ACS URL '%s'", dest, e->acs_url);
    }
    if (err == NULL) {
        err = check_signature_policy(r, app->tenant->response_signing);
    }
    if (err == NULL) {
        err = check_issuer(p, r->response, 0, ib_app_idp(app)->entity_id);
    }
    if (err == NULL) {
        err = check_issuer(p, r->assertion, 1, ib_app_idp(app)->entity_id);
    }
    if (err == NULL) {
        err = verify_signatures(p, app, r, e->now);
    }
    if (err == NULL) {
        out->assertion_id = ib_xml_attr(p, r->assertion, "ID");
        err = out->assertion_id ? check_subject(p, ib_xml_child(r->assertion, NS_SAML, "Subject"), e, out)
                                : "the Assertion has no ID";
    }
    if (err == NULL) {
        err = check_conditions(p, ib_xml_child(r->assertion, NS_SAML, "Conditions"), e,
                               app->sp_entity_id, out);
    }
    if (err == NULL) {
        err = check_authn(p, r->assertion, app->tenant, out);
    }
    if (err == NULL) {
        err = read_attributes(p, r->assertion, out);
        if (err != NULL) {
            *reason = err;
            return IB_SAML_ENCRYPTED_NO_KEY;
        }
    }
    if (err != NULL) {
        *reason = err;
        return IB_SAML_REJECTED;
    }
    if (strstr(err ? err : "", "decryption") != NULL) {
        return IB_SAML_ENCRYPTED_NO_KEY;
    }
    if (out->not_on_or_after == 0) {
        out->not_on_or_after = e->now + DEFAULT_REPLAY_WINDOW;
    }
    out->used_sha1 = r->used_sha1;
    return IB_SAML_OK;
}
