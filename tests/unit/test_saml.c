/* ib_saml_parse_response: decoding, size caps, DTD refusal and the shape
 * checks (one direct-child Assertion, unique IDs, signature placement and
 * algorithms) that run before lasso sees the message. No lasso server is
 * needed: signature values are never verified at this stage, so the
 * signatures below carry placeholder values. */
#include <stdlib.h>
#include <string.h>

#include <apr_strings.h>
#include <openssl/evp.h>

#include "core/ib_keys.h"
#include "core/ib_saml.h"
#include "core/ib_xml.h"
#include "test_support.h"

#define NS_SAMLP "urn:oasis:names:tc:SAML:2.0:protocol"
#define NS_SAML "urn:oasis:names:tc:SAML:2.0:assertion"
#define NS_DS "http://www.w3.org/2000/09/xmldsig#"
#define NS_DECLS "xmlns:samlp=\"" NS_SAMLP "\" xmlns:saml=\"" NS_SAML "\" xmlns:ds=\"" NS_DS "\""

#define IDP "http://adfs.example.com/adfs/services/trust"
#define ACS "https://saml.example.com/idbroker/saml/acs"
#define REQUEST_ID "_4f0e6a2b9c8d7e6f5a4b3c2d1e0f9a8b"

#define C14N_EXC "http://www.w3.org/2001/10/xml-exc-c14n#"
#define C14N_EXC_COMMENTS "http://www.w3.org/2001/10/xml-exc-c14n#WithComments"
#define C14N_INCLUSIVE "http://www.w3.org/TR/2001/REC-xml-c14n-20010315"
#define ENVELOPED "http://www.w3.org/2000/09/xmldsig#enveloped-signature"
#define XPATH_TRANSFORM "http://www.w3.org/TR/1999/REC-xpath-19991116"
#define RSA_SHA256 "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
#define RSA_SHA1 "http://www.w3.org/2000/09/xmldsig#rsa-sha1"
#define RSA_MD5 "http://www.w3.org/2001/04/xmldsig-more#rsa-md5"
#define DIGEST_SHA256 "http://www.w3.org/2001/04/xmlenc#sha256"
#define DIGEST_SHA1 "http://www.w3.org/2000/09/xmldsig#sha1"

/* ---- building Responses ---------------------------------------------------- */

static const char *transform(const char *alg)
{
    return apr_psprintf(test_pool(), "<ds:Transform Algorithm=\"%s\"/>", alg);
}

static const char *std_transforms(void)
{
    return apr_pstrcat(test_pool(), transform(ENVELOPED), transform(C14N_EXC), NULL);
}

/* A Reference; digest NULL leaves out DigestMethod. */
static const char *reference_with(const char *uri, const char *transforms, const char *digest)
{
    return apr_psprintf(test_pool(),
                        "<ds:Reference URI=\"%s\"><ds:Transforms>%s</ds:Transforms>%s"
                        "<ds:DigestValue>q83vEjRWeJq83vEjRWeJq83vEjRWeJq83vEjRWeJq80=</ds:DigestValue>"
                        "</ds:Reference>", uri, transforms,
                        digest ? apr_psprintf(test_pool(), "<ds:DigestMethod Algorithm=\"%s\"/>",
                                              digest) : "");
}

static const char *reference(const char *id)
{
    return reference_with(apr_pstrcat(test_pool(), "#", id, NULL), std_transforms(),
                          DIGEST_SHA256);
}

/* A ds:Signature; method NULL leaves out SignatureMethod. */
static const char *signature_with(const char *c14n, const char *method, const char *references)
{
    return apr_psprintf(test_pool(),
                        "<ds:Signature><ds:SignedInfo>"
                        "<ds:CanonicalizationMethod Algorithm=\"%s\"/>%s%s</ds:SignedInfo>"
                        "<ds:SignatureValue>c2lnbmF0dXJlIHZhbHVlIG5vdCBjaGVja2VkIGhlcmU=</ds:SignatureValue>"
                        "</ds:Signature>", c14n,
                        method ? apr_psprintf(test_pool(), "<ds:SignatureMethod Algorithm=\"%s\"/>",
                                              method) : "",
                        references);
}

/* A well-formed, allowed signature over the element with this ID. */
static const char *signature(const char *id)
{
    return signature_with(C14N_EXC, RSA_SHA256, reference(id));
}

/* An Assertion with ID id, sig placed after its Issuer, and subject_extra
 * inside its Subject. */
static const char *assertion_with(const char *id, const char *sig, const char *subject_extra)
{
    return apr_psprintf(test_pool(),
        "<saml:Assertion ID=\"%s\" Version=\"2.0\" IssueInstant=\"2024-04-01T10:00:00Z\">"
        "<saml:Issuer>" IDP "</saml:Issuer>%s"
        "<saml:Subject><saml:NameID>CORP\\jdoe</saml:NameID>%s"
        "<saml:SubjectConfirmation Method=\"urn:oasis:names:tc:SAML:2.0:cm:bearer\">"
        "<saml:SubjectConfirmationData InResponseTo=\"" REQUEST_ID "\" Recipient=\"" ACS "\" "
        "NotOnOrAfter=\"2024-04-01T10:05:00Z\"/></saml:SubjectConfirmation></saml:Subject>"
        "<saml:Conditions NotBefore=\"2024-04-01T09:59:00Z\" NotOnOrAfter=\"2024-04-01T11:00:00Z\">"
        "<saml:AudienceRestriction><saml:Audience>https://saml.example.com</saml:Audience>"
        "</saml:AudienceRestriction></saml:Conditions>"
        "<saml:AuthnStatement AuthnInstant=\"2024-04-01T10:00:00Z\" SessionIndex=\"_s1\">"
        "<saml:AuthnContext><saml:AuthnContextClassRef>"
        "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport"
        "</saml:AuthnContextClassRef></saml:AuthnContext></saml:AuthnStatement>"
        "<saml:AttributeStatement><saml:Attribute Name=\"cip_upn\">"
        "<saml:AttributeValue>jdoe@corp.example.com</saml:AttributeValue>"
        "</saml:Attribute></saml:AttributeStatement></saml:Assertion>",
        id, sig, subject_extra);
}

static const char *assertion(const char *id)
{
    return assertion_with(id, "", "");
}

/* A Response with ID id (NULL: no ID attribute), sig after its Issuer and
 * body after its Status. */
static const char *response_with(const char *id, const char *sig, const char *body)
{
    return apr_psprintf(test_pool(),
        "<samlp:Response " NS_DECLS "%s Version=\"2.0\" IssueInstant=\"2024-04-01T10:00:00Z\" "
        "Destination=\"" ACS "\" InResponseTo=\"" REQUEST_ID "\">"
        "<saml:Issuer>" IDP "</saml:Issuer>%s"
        "<samlp:Status><samlp:StatusCode Value=\"urn:oasis:names:tc:SAML:2.0:status:Success\"/>"
        "</samlp:Status>%s</samlp:Response>",
        id ? apr_psprintf(test_pool(), " ID=\"%s\"", id) : "", sig, body);
}

static const char *minimal_response(void)
{
    return response_with("_resp1", "", assertion("_assert1"));
}

/* ---- parsing ------------------------------------------------------------------ */

static const char *b64(const void *data, size_t len)
{
    char *out = apr_palloc(test_pool(), 4 * ((len + 2) / 3) + 1);
    EVP_EncodeBlock((unsigned char *)out, data, (int)len);
    return out;
}

typedef struct {
    ib_saml_verdict verdict;
    ib_saml_parsed *parsed;
    const char *in_response_to;
    const char *reason;
} parse_result;

static parse_result parse_field(const char *field, int allow_sha1)
{
    parse_result r = {IB_SAML_INTERNAL, NULL, NULL, NULL};
    r.verdict = ib_saml_parse_response(test_pool(), field, allow_sha1, &r.parsed,
                                       &r.in_response_to, &r.reason);
    return r;
}

static parse_result parse_bytes(const void *xml, size_t len, int allow_sha1)
{
    return parse_field(b64(xml, len), allow_sha1);
}

static parse_result parse_xml(const char *xml, int allow_sha1)
{
    return parse_bytes(xml, strlen(xml), allow_sha1);
}

static void assert_ok(parse_result r)
{
    ck_assert_msg(r.verdict == IB_SAML_OK, "verdict %d, reason: %s", (int)r.verdict,
                  r.reason ? r.reason : "(none)");
    ck_assert_ptr_nonnull(r.parsed);
    ck_assert_ptr_nonnull(r.in_response_to);
}

static void assert_malformed(parse_result r, const char *reason_part)
{
    ck_assert_msg(r.verdict == IB_SAML_MALFORMED, "verdict %d (want MALFORMED), reason: %s",
                  (int)r.verdict, r.reason ? r.reason : "(none)");
    ck_assert_err_has(r.reason, reason_part);
}

static void assert_xml_malformed(const char *xml, const char *reason_part)
{
    assert_malformed(parse_xml(xml, 0), reason_part);
}

/* ---- accepted shapes ------------------------------------------------------------ */

START_TEST(test_parse_minimal_response_is_ok_and_gives_in_response_to)
{
    parse_result r = parse_xml(minimal_response(), 0);
    assert_ok(r);
    ck_assert_str_eq(r.in_response_to, REQUEST_ID);
    ck_assert_ptr_null(r.reason);
}
END_TEST

START_TEST(test_parse_response_without_in_response_to_gives_empty_string)
{
    const char *xml = apr_psprintf(test_pool(),
        "<samlp:Response " NS_DECLS " ID=\"_r\" Version=\"2.0\" "
        "IssueInstant=\"2024-04-01T10:00:00Z\"><samlp:Status><samlp:StatusCode "
        "Value=\"urn:oasis:names:tc:SAML:2.0:status:Success\"/></samlp:Status>%s"
        "</samlp:Response>", assertion("_a"));
    parse_result r = parse_xml(xml, 0);
    assert_ok(r);
    ck_assert_str_eq(r.in_response_to, "");
}
END_TEST

START_TEST(test_parse_response_without_assertion_is_ok)
{
    /* An IdP error status carries no Assertion; the status is judged later. */
    parse_result r = parse_xml(response_with("_resp1", "", ""), 0);
    assert_ok(r);
    ck_assert_str_eq(r.in_response_to, REQUEST_ID);
}
END_TEST

START_TEST(test_parse_response_with_one_encrypted_assertion_is_ok)
{
    const char *enc = "<saml:EncryptedAssertion><xenc:EncryptedData "
                      "xmlns:xenc=\"http://www.w3.org/2001/04/xmlenc#\"/></saml:EncryptedAssertion>";
    assert_ok(parse_xml(response_with("_resp1", "", enc), 0));
}
END_TEST

START_TEST(test_parse_accepts_signed_response)
{
    assert_ok(parse_xml(response_with("_resp1", signature("_resp1"), assertion("_assert1")), 0));
}
END_TEST

START_TEST(test_parse_accepts_signed_assertion)
{
    const char *a = assertion_with("_assert1", signature("_assert1"), "");
    assert_ok(parse_xml(response_with("_resp1", "", a), 0));
}
END_TEST

START_TEST(test_parse_accepts_signed_response_and_assertion)
{
    const char *a = assertion_with("_assert1", signature("_assert1"), "");
    assert_ok(parse_xml(response_with("_resp1", signature("_resp1"), a), 0));
}
END_TEST

START_TEST(test_parse_accepts_base64_with_line_breaks)
{
    const char *flat = b64(minimal_response(), strlen(minimal_response()));
    size_t n = strlen(flat);
    char *wrapped = apr_palloc(test_pool(), n + n / 76 * 2 + 3);
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        wrapped[o++] = flat[i];
        if ((i + 1) % 76 == 0) {
            wrapped[o++] = '\r';
            wrapped[o++] = '\n';
        }
    }
    wrapped[o++] = '\r';
    wrapped[o++] = '\n';
    wrapped[o] = '\0';
    parse_result r = parse_field(wrapped, 0);
    assert_ok(r);
    ck_assert_str_eq(r.in_response_to, REQUEST_ID);
}
END_TEST

START_TEST(test_parse_accepts_decoded_size_at_the_limit)
{
    const char *xml = minimal_response();
    size_t n = strlen(xml);
    char *big = apr_palloc(test_pool(), IB_SAML_MAX_DECODED);
    memcpy(big, xml, n);
    memset(big + n, '\n', IB_SAML_MAX_DECODED - n); /* Misc after the root */
    assert_ok(parse_bytes(big, IB_SAML_MAX_DECODED, 0));
}
END_TEST

/* ---- decoding and size caps ------------------------------------------------------ */

START_TEST(test_parse_rejects_empty_input)
{
    assert_malformed(parse_field("", 0), "no SAMLResponse");
    assert_malformed(parse_field(NULL, 0), "no SAMLResponse");
}
END_TEST

START_TEST(test_parse_rejects_non_base64)
{
    assert_malformed(parse_field("<samlp:Response/>", 0), "not Base64");
    assert_malformed(parse_field("PHNhbWxwOlJlc3BvbnNl*", 0), "not Base64");
}
END_TEST

START_TEST(test_parse_rejects_decoded_size_beyond_limit)
{
    const char *xml = minimal_response();
    size_t n = strlen(xml);
    size_t total = IB_SAML_MAX_DECODED + 1;
    char *big = apr_palloc(test_pool(), total);
    memcpy(big, xml, n);
    memset(big + n, '\n', total - n);
    const char *field = b64(big, total);
    ck_assert_uint_le(strlen(field), IB_SAML_MAX_ENCODED); /* within the form cap */
    assert_malformed(parse_field(field, 0), "decodes beyond the size limit");
}
END_TEST

START_TEST(test_parse_rejects_encoded_size_beyond_limit)
{
    char *field = apr_palloc(test_pool(), IB_SAML_MAX_ENCODED + 2);
    memset(field, 'A', IB_SAML_MAX_ENCODED + 1);
    field[IB_SAML_MAX_ENCODED + 1] = '\0';
    assert_malformed(parse_field(field, 0), "larger than the limit");
}
END_TEST

START_TEST(test_parse_rejects_base64_with_text_after_a_dash)
{
    const char *field = apr_pstrcat(test_pool(), b64(minimal_response(),
                                                     strlen(minimal_response())),
                                    "-ignored-tail", NULL);
    assert_malformed(parse_field(field, 0), "not Base64");
}
END_TEST

/* ---- DTDs and encodings ----------------------------------------------------------- */

START_TEST(test_parse_rejects_doctype_without_entities)
{
    const char *xml = apr_pstrcat(test_pool(), "<!DOCTYPE samlp:Response>",
                                  minimal_response(), NULL);
    assert_xml_malformed(xml, "contains a DOCTYPE or entity declaration");
}
END_TEST

START_TEST(test_parse_rejects_doctype_with_external_subset)
{
    const char *xml = apr_pstrcat(test_pool(), "<?xml version=\"1.0\"?>\n"
                                  "<!DOCTYPE samlp:Response SYSTEM \"http://evil.example/x.dtd\">",
                                  minimal_response(), NULL);
    assert_xml_malformed(xml, "contains a DOCTYPE or entity declaration");
}
END_TEST

START_TEST(test_parse_rejects_doctype_with_entities)
{
    const char *xml =
        "<!DOCTYPE samlp:Response [<!ENTITY lol \"lol\"><!ENTITY lol2 \"&lol;&lol;&lol;\">]>"
        "<samlp:Response " NS_DECLS " ID=\"_r\" InResponseTo=\"&lol2;\"/>";
    assert_xml_malformed(xml, "contains a DOCTYPE or entity declaration");
}
END_TEST

START_TEST(test_parse_rejects_doctype_hidden_by_utf7_encoding)
{
    /* "+ADw-" is '<' and "+AD4-" is '>' in UTF-7: the byte scan cannot see
     * this DOCTYPE; the check after parsing must. */
    const char *xml = "<?xml version=\"1.0\" encoding=\"UTF-7\"?>"
                      "+ADw-!DOCTYPE samlp:Response+AD4-"
                      "<samlp:Response xmlns:samlp=\"" NS_SAMLP "\" ID=\"_r\"/>";
    assert_xml_malformed(xml, "DOCTYPE");
}
END_TEST

START_TEST(test_parse_rejects_utf16_with_bom)
{
    const char *xml = minimal_response();
    size_t n = strlen(xml);
    unsigned char *u16 = apr_palloc(test_pool(), 2 * n + 2);
    u16[0] = 0xFF;
    u16[1] = 0xFE;
    for (size_t i = 0; i < n; i++) {
        u16[2 + 2 * i] = (unsigned char)xml[i];
        u16[3 + 2 * i] = 0;
    }
    assert_malformed(parse_bytes(u16, 2 * n + 2, 0), "not UTF-8 XML");
}
END_TEST

START_TEST(test_parse_rejects_text_before_the_root)
{
    const char *xml = apr_pstrcat(test_pool(), "hello ", minimal_response(), NULL);
    assert_xml_malformed(xml, "not UTF-8 XML");
}
END_TEST

START_TEST(test_parse_rejects_not_well_formed_xml)
{
    const char *xml = minimal_response();
    char *cut = apr_pstrndup(test_pool(), xml, strlen(xml) - 5);
    assert_xml_malformed(cut, "not well-formed XML");
    assert_xml_malformed("<samlp:Response " NS_DECLS "><a></b></samlp:Response>",
                         "not well-formed XML");
}
END_TEST

START_TEST(test_parse_rejects_undeclared_entity_reference)
{
    assert_xml_malformed("<samlp:Response " NS_DECLS " ID=\"_r\">&xxe;</samlp:Response>",
                         "not well-formed XML");
}
END_TEST

/* ---- the document's shape ---------------------------------------------------------- */

START_TEST(test_parse_rejects_logout_response_root)
{
    assert_xml_malformed("<samlp:LogoutResponse " NS_DECLS " ID=\"_r\" Version=\"2.0\"/>",
                         "not a SAML 2.0 Response");
}
END_TEST

START_TEST(test_parse_rejects_response_in_another_namespace)
{
    assert_xml_malformed("<saml:Response " NS_DECLS " ID=\"_r\"/>", "not a SAML 2.0 Response");
    assert_xml_malformed("<Response ID=\"_r\"/>", "not a SAML 2.0 Response");
    assert_xml_malformed("<p:Response xmlns:p=\"urn:oasis:names:tc:SAML:1.0:protocol\" ID=\"_r\"/>",
                         "not a SAML 2.0 Response");
}
END_TEST

START_TEST(test_parse_rejects_two_assertions)
{
    const char *body = apr_pstrcat(test_pool(), assertion("_assert1"), assertion("_assert2"),
                                   NULL);
    assert_xml_malformed(response_with("_resp1", "", body), "more than one Assertion");
}
END_TEST

START_TEST(test_parse_rejects_assertion_beside_encrypted_assertion)
{
    const char *body = apr_pstrcat(test_pool(), assertion("_assert1"),
                                   "<saml:EncryptedAssertion/>", NULL);
    assert_xml_malformed(response_with("_resp1", "", body), "more than one Assertion");
}
END_TEST

START_TEST(test_parse_rejects_assertion_inside_extensions)
{
    const char *body = apr_pstrcat(test_pool(), "<samlp:Extensions>", assertion("_assert1"),
                                   "</samlp:Extensions>", NULL);
    assert_xml_malformed(response_with("_resp1", "", body),
                         "the Assertion is not a direct child of the Response");
}
END_TEST

START_TEST(test_parse_rejects_signed_assertion_wrapped_beside_unsigned_copy)
{
    /* XSW: the signed original moved into Extensions, an evil copy as the
     * direct child. Two Assertions: refused before anything is read. */
    const char *signed_a = assertion_with("_assert1", signature("_assert1"), "");
    const char *body = apr_pstrcat(test_pool(), "<samlp:Extensions>", signed_a,
                                   "</samlp:Extensions>", assertion("_evil"), NULL);
    assert_xml_malformed(response_with("_resp1", "", body), "more than one Assertion");
}
END_TEST

START_TEST(test_parse_rejects_duplicate_id)
{
    assert_xml_malformed(response_with("_same", "", assertion("_same")),
                         "the ID '_same' occurs twice");
}
END_TEST

START_TEST(test_parse_rejects_duplicate_id_on_unsigned_element)
{
    const char *body = apr_pstrcat(test_pool(), "<samlp:Extensions><x:e xmlns:x=\"urn:x\" "
                                   "ID=\"_assert1\"/></samlp:Extensions>",
                                   assertion_with("_assert1", signature("_assert1"), ""), NULL);
    assert_xml_malformed(response_with("_resp1", "", body), "occurs twice");
}
END_TEST

START_TEST(test_parse_rejects_nesting_beyond_depth_limit)
{
    const char *open = "", *close = "";
    for (int i = 0; i < 60; i++) {
        open = apr_pstrcat(test_pool(), open, "<x:e xmlns:x=\"urn:x\">", NULL);
        close = apr_pstrcat(test_pool(), close, "</x:e>", NULL);
    }
    const char *body = apr_pstrcat(test_pool(), "<samlp:Extensions>", open, close,
                                   "</samlp:Extensions>", assertion("_assert1"), NULL);
    assert_xml_malformed(response_with("_resp1", "", body), "nested too deeply or too large");
}
END_TEST

START_TEST(test_parse_rejects_more_than_20000_elements)
{
    size_t n = 20001;
    char *many = apr_palloc(test_pool(), 4 * n + 1);
    for (size_t i = 0; i < n; i++) {
        memcpy(many + 4 * i, "<e/>", 4);
    }
    many[4 * n] = '\0';
    const char *body = apr_pstrcat(test_pool(), "<samlp:Extensions><x:w xmlns:x=\"urn:x\" "
                                   "xmlns=\"urn:x\">", many, "</x:w></samlp:Extensions>",
                                   assertion("_assert1"), NULL);
    assert_xml_malformed(response_with("_resp1", "", body), "nested too deeply or too large");
}
END_TEST

/* ---- signature placement ------------------------------------------------------------- */

START_TEST(test_parse_rejects_signature_referencing_another_element)
{
    assert_xml_malformed(response_with("_resp1", signature("_assert1"), assertion("_assert1")),
                         "a signature references another element than the one it sits in");
}
END_TEST

START_TEST(test_parse_rejects_signature_over_whole_document)
{
    const char *sig = signature_with(C14N_EXC, RSA_SHA256,
                                     reference_with("", std_transforms(), DIGEST_SHA256));
    assert_xml_malformed(response_with("_resp1", sig, assertion("_assert1")),
                         "references another element");
}
END_TEST

START_TEST(test_parse_rejects_signature_with_two_references)
{
    const char *refs = apr_pstrcat(test_pool(), reference("_assert1"), reference("_assert1"),
                                   NULL);
    const char *a = assertion_with("_assert1", signature_with(C14N_EXC, RSA_SHA256, refs), "");
    assert_xml_malformed(response_with("_resp1", "", a),
                         "a signature must have exactly one Reference");
}
END_TEST

START_TEST(test_parse_rejects_signature_without_reference)
{
    const char *a = assertion_with("_assert1", signature_with(C14N_EXC, RSA_SHA256, ""), "");
    assert_xml_malformed(response_with("_resp1", "", a), "exactly one Reference");
}
END_TEST

START_TEST(test_parse_rejects_signature_inside_subject)
{
    const char *a = assertion_with("_assert1", "", signature("_assert1"));
    assert_xml_malformed(response_with("_resp1", "", a),
                         "a signature sits somewhere other than on the Response or the Assertion");
}
END_TEST

START_TEST(test_parse_rejects_signature_inside_extensions)
{
    const char *body = apr_pstrcat(test_pool(), "<samlp:Extensions>", signature("_resp1"),
                                   "</samlp:Extensions>", assertion("_assert1"), NULL);
    assert_xml_malformed(response_with("_resp1", "", body), "sits somewhere other than");
}
END_TEST

START_TEST(test_parse_rejects_two_signatures_on_one_element)
{
    const char *sigs = apr_pstrcat(test_pool(), signature("_assert1"), signature("_assert1"),
                                   NULL);
    const char *a = assertion_with("_assert1", sigs, "");
    assert_xml_malformed(response_with("_resp1", "", a),
                         "an element carries more than one signature");
}
END_TEST

START_TEST(test_parse_rejects_signature_on_response_without_id)
{
    assert_xml_malformed(response_with(NULL, signature("_resp1"), assertion("_assert1")),
                         "on an element without an ID");
}
END_TEST

START_TEST(test_parse_rejects_signature_without_signed_info)
{
    const char *sig = "<ds:Signature><ds:SignatureValue>AAAA</ds:SignatureValue></ds:Signature>";
    assert_xml_malformed(response_with("_resp1", sig, assertion("_assert1")),
                         "a signature without SignedInfo");
}
END_TEST

/* ---- signature algorithms -------------------------------------------------------------- */

START_TEST(test_parse_rejects_rsa_sha1_signature_method)
{
    const char *sig = signature_with(C14N_EXC, RSA_SHA1, reference("_resp1"));
    assert_xml_malformed(response_with("_resp1", sig, assertion("_assert1")),
                         "signature method '" RSA_SHA1 "' is not allowed");
}
END_TEST

START_TEST(test_parse_rejects_sha1_digest)
{
    const char *ref = reference_with("#_resp1", std_transforms(), DIGEST_SHA1);
    const char *sig = signature_with(C14N_EXC, RSA_SHA256, ref);
    assert_xml_malformed(response_with("_resp1", sig, assertion("_assert1")),
                         "digest '" DIGEST_SHA1 "' is not allowed");
}
END_TEST

START_TEST(test_parse_accepts_rsa_sha1_when_sha1_allowed)
{
    const char *sig = signature_with(C14N_EXC, RSA_SHA1, reference("_resp1"));
    assert_ok(parse_xml(response_with("_resp1", sig, assertion("_assert1")), 1));
}
END_TEST

START_TEST(test_parse_accepts_sha1_digest_when_sha1_allowed)
{
    const char *ref = reference_with("#_assert1", std_transforms(), DIGEST_SHA1);
    const char *a = assertion_with("_assert1", signature_with(C14N_EXC, RSA_SHA1, ref), "");
    assert_ok(parse_xml(response_with("_resp1", "", a), 1));
}
END_TEST

START_TEST(test_parse_rejects_md5_even_when_sha1_allowed)
{
    const char *sig = signature_with(C14N_EXC, RSA_MD5, reference("_resp1"));
    assert_malformed(parse_xml(response_with("_resp1", sig, assertion("_assert1")), 1),
                     "signature method '" RSA_MD5 "' is not allowed");
}
END_TEST

START_TEST(test_parse_rejects_missing_signature_method)
{
    const char *sig = signature_with(C14N_EXC, NULL, reference("_resp1"));
    assert_xml_malformed(response_with("_resp1", sig, assertion("_assert1")),
                         "signature method '' is not allowed");
}
END_TEST

START_TEST(test_parse_rejects_missing_digest_method)
{
    const char *ref = reference_with("#_resp1", std_transforms(), NULL);
    const char *sig = signature_with(C14N_EXC, RSA_SHA256, ref);
    assert_xml_malformed(response_with("_resp1", sig, assertion("_assert1")),
                         "digest '' is not allowed");
}
END_TEST

START_TEST(test_parse_rejects_c14n_with_comments)
{
    const char *sig = signature_with(C14N_EXC_COMMENTS, RSA_SHA256, reference("_resp1"));
    assert_xml_malformed(response_with("_resp1", sig, assertion("_assert1")),
                         "canonicalization '" C14N_EXC_COMMENTS "' is not allowed");
}
END_TEST

START_TEST(test_parse_rejects_inclusive_c14n)
{
    const char *sig = signature_with(C14N_INCLUSIVE, RSA_SHA256, reference("_resp1"));
    assert_xml_malformed(response_with("_resp1", sig, assertion("_assert1")),
                         "canonicalization '" C14N_INCLUSIVE "' is not allowed");
}
END_TEST

START_TEST(test_parse_rejects_xpath_transform)
{
    const char *transforms = apr_pstrcat(test_pool(), transform(ENVELOPED),
                                         "<ds:Transform Algorithm=\"" XPATH_TRANSFORM "\">"
                                         "<ds:XPath>not(ancestor-or-self::ds:Signature)</ds:XPath>"
                                         "</ds:Transform>", transform(C14N_EXC), NULL);
    const char *ref = reference_with("#_assert1", transforms, DIGEST_SHA256);
    const char *a = assertion_with("_assert1", signature_with(C14N_EXC, RSA_SHA256, ref), "");
    assert_xml_malformed(response_with("_resp1", "", a),
                         "transform '" XPATH_TRANSFORM "' is not allowed");
}
END_TEST

START_TEST(test_parse_rejects_with_comments_transform)
{
    const char *transforms = apr_pstrcat(test_pool(), transform(ENVELOPED),
                                         transform(C14N_EXC_COMMENTS), NULL);
    const char *ref = reference_with("#_resp1", transforms, DIGEST_SHA256);
    const char *sig = signature_with(C14N_EXC, RSA_SHA256, ref);
    assert_xml_malformed(response_with("_resp1", sig, assertion("_assert1")),
                         "transform '" C14N_EXC_COMMENTS "' is not allowed");
}
END_TEST

/* ---- decryption keys managers ------------------------------------------- */

static ib_sp_key *decryption_key(const char *dir, const char *name)
{
    write_keypair(dir, name, "rsa2048", utc("2020-01-01T00:00:00Z"), utc("2090-01-01T00:00:00Z"));
    ib_sp_key *k = NULL;
    ck_assert_no_err(ib_sp_key_load(test_pool(),
                                    apr_pstrcat(test_pool(), dir, "/", name, ".key", NULL),
                                    apr_pstrcat(test_pool(), dir, "/", name, ".crt", NULL), &k));
    return k;
}

/* A manager loads the system CA bundle when made (~15 ms): one handed back
 * is handed out again, to one taker at a time, and only for its own key. */
START_TEST(test_decryption_managers_are_kept_per_key_and_never_shared)
{
    ck_assert_no_err(ib_saml_library_init());
    const char *dir = fresh_dir();
    ib_sp_key *a = decryption_key(dir, "dec-a");
    ib_sp_key *b = decryption_key(dir, "dec-b");
    xmlSecKeysMngrPtr first = ib_xmlsec_decryption_mngr(a);
    xmlSecKeysMngrPtr second = ib_xmlsec_decryption_mngr(a);   /* first is in use */
    ck_assert_ptr_nonnull(first);
    ck_assert_ptr_nonnull(second);
    ck_assert_ptr_ne(first, second);
    ib_xmlsec_decryption_mngr_done(a, first);
    xmlSecKeysMngrPtr other = ib_xmlsec_decryption_mngr(b);
    ck_assert_ptr_ne(other, first);                              /* not b's */
    ck_assert_ptr_eq(ib_xmlsec_decryption_mngr(a), first);      /* kept for a */
    ib_xmlsec_decryption_mngr_done(a, first);
    ib_xmlsec_decryption_mngr_done(a, second);
    ib_xmlsec_decryption_mngr_done(b, other);
}
END_TEST

Suite *saml_suite(void)
{
    Suite *s = suite_create("saml");

    TCase *tc = test_tcase("accepted");
    tcase_add_test(tc, test_parse_minimal_response_is_ok_and_gives_in_response_to);
    tcase_add_test(tc, test_parse_response_without_in_response_to_gives_empty_string);
    tcase_add_test(tc, test_parse_response_without_assertion_is_ok);
    tcase_add_test(tc, test_parse_response_with_one_encrypted_assertion_is_ok);
    tcase_add_test(tc, test_parse_accepts_signed_response);
    tcase_add_test(tc, test_parse_accepts_signed_assertion);
    tcase_add_test(tc, test_parse_accepts_signed_response_and_assertion);
    tcase_add_test(tc, test_parse_accepts_base64_with_line_breaks);
    tcase_add_test(tc, test_parse_accepts_decoded_size_at_the_limit);
    suite_add_tcase(s, tc);

    tc = test_tcase("decoding");
    tcase_add_test(tc, test_parse_rejects_empty_input);
    tcase_add_test(tc, test_parse_rejects_non_base64);
    tcase_add_test(tc, test_parse_rejects_decoded_size_beyond_limit);
    tcase_add_test(tc, test_parse_rejects_encoded_size_beyond_limit);
    suite_add_tcase(s, tc);

    tc = test_tcase("dtd");
    tcase_add_test(tc, test_parse_rejects_doctype_without_entities);
    tcase_add_test(tc, test_parse_rejects_doctype_with_external_subset);
    tcase_add_test(tc, test_parse_rejects_doctype_with_entities);
    tcase_add_test(tc, test_parse_rejects_doctype_hidden_by_utf7_encoding);
    tcase_add_test(tc, test_parse_rejects_utf16_with_bom);
    tcase_add_test(tc, test_parse_rejects_text_before_the_root);
    tcase_add_test(tc, test_parse_rejects_not_well_formed_xml);
    tcase_add_test(tc, test_parse_rejects_undeclared_entity_reference);
    suite_add_tcase(s, tc);

    tc = test_tcase("shape");
    tcase_add_test(tc, test_parse_rejects_logout_response_root);
    tcase_add_test(tc, test_parse_rejects_response_in_another_namespace);
    tcase_add_test(tc, test_parse_rejects_two_assertions);
    tcase_add_test(tc, test_parse_rejects_assertion_beside_encrypted_assertion);
    tcase_add_test(tc, test_parse_rejects_assertion_inside_extensions);
    tcase_add_test(tc, test_parse_rejects_signed_assertion_wrapped_beside_unsigned_copy);
    tcase_add_test(tc, test_parse_rejects_duplicate_id);
    tcase_add_test(tc, test_parse_rejects_duplicate_id_on_unsigned_element);
    tcase_add_test(tc, test_parse_rejects_nesting_beyond_depth_limit);
    tcase_add_test(tc, test_parse_rejects_more_than_20000_elements);
    suite_add_tcase(s, tc);

    tc = test_tcase("signature_placement");
    tcase_add_test(tc, test_parse_rejects_signature_referencing_another_element);
    tcase_add_test(tc, test_parse_rejects_signature_over_whole_document);
    tcase_add_test(tc, test_parse_rejects_signature_with_two_references);
    tcase_add_test(tc, test_parse_rejects_signature_without_reference);
    tcase_add_test(tc, test_parse_rejects_signature_inside_subject);
    tcase_add_test(tc, test_parse_rejects_signature_inside_extensions);
    tcase_add_test(tc, test_parse_rejects_two_signatures_on_one_element);
    tcase_add_test(tc, test_parse_rejects_signature_on_response_without_id);
    tcase_add_test(tc, test_parse_rejects_signature_without_signed_info);
    suite_add_tcase(s, tc);

    tc = test_tcase("signature_algorithms");
    tcase_add_test(tc, test_parse_rejects_rsa_sha1_signature_method);
    tcase_add_test(tc, test_parse_rejects_sha1_digest);
    tcase_add_test(tc, test_parse_accepts_rsa_sha1_when_sha1_allowed);
    tcase_add_test(tc, test_parse_accepts_sha1_digest_when_sha1_allowed);
    tcase_add_test(tc, test_parse_rejects_md5_even_when_sha1_allowed);
    tcase_add_test(tc, test_parse_rejects_missing_signature_method);
    tcase_add_test(tc, test_parse_rejects_missing_digest_method);
    tcase_add_test(tc, test_parse_rejects_c14n_with_comments);
    tcase_add_test(tc, test_parse_rejects_inclusive_c14n);
    tcase_add_test(tc, test_parse_rejects_xpath_transform);
    tcase_add_test(tc, test_parse_rejects_with_comments_transform);
    suite_add_tcase(s, tc);

    /* Defects found in review, fixed; kept so they stay fixed. */
    tc = test_tcase("decryption");
    tcase_add_test(tc, test_decryption_managers_are_kept_per_key_and_never_shared);
    suite_add_tcase(s, tc);

    tc = test_tcase("regressions");
    tcase_add_test(tc, test_parse_rejects_base64_with_text_after_a_dash);
    suite_add_tcase(s, tc);
    return s;
}
