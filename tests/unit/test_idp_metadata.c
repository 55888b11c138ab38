/* IdP metadata (IDPCERT-7): ib_idp_md_parse (document hygiene, the pinned
 * metadata signer and signature wrapping, entity selection, endpoints,
 * signing certificates, validUntil/cacheDuration), ib_idp_md_refresh_delay,
 * ib_duration_parse_xsd, ib_idp_view_make, and ib_http_get against a
 * one-shot HTTP server on 127.0.0.1 run by a thread of the test.
 *
 * Signed documents are real signatures, made with the xmlsec1 command line
 * tool from a template (RSA PKCS#1 v1.5 signatures are deterministic), and
 * verified by the code under test with the pinned certificate. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <apr_strings.h>

#include "core/ib_clock.h"
#include "core/ib_http.h"
#include "core/ib_idp_metadata.h"
#include "core/ib_idp_source.h"
#include "core/ib_saml.h"
#include "test_support.h"

#define NS_MD "urn:oasis:names:tc:SAML:2.0:metadata"
#define NS_DS "http://www.w3.org/2000/09/xmldsig#"
#define NS_DECLS "xmlns:md=\"" NS_MD "\" xmlns:ds=\"" NS_DS "\""
#define PROTO_SAML2 "urn:oasis:names:tc:SAML:2.0:protocol"
#define PROTO_SAML11 "urn:oasis:names:tc:SAML:1.1:protocol"
#define B_POST "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"
#define B_REDIRECT "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect"
#define B_ARTIFACT "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Artifact"

#define C14N_EXC "http://www.w3.org/2001/10/xml-exc-c14n#"
#define ENVELOPED "http://www.w3.org/2000/09/xmldsig#enveloped-signature"
#define RSA_SHA256 "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
#define RSA_SHA1 "http://www.w3.org/2000/09/xmldsig#rsa-sha1"
#define DIGEST_SHA256 "http://www.w3.org/2001/04/xmlenc#sha256"
#define DIGEST_SHA1 "http://www.w3.org/2000/09/xmldsig#sha1"

#define IDP_ID "https://idp.example.test/adfs/services/trust"
#define OTHER_ID "https://other-idp.example.test/idp"
#define EVIL_ID "https://evil.example.test/idp"
#define SSO_POST "https://idp.example.test/adfs/ls/post"
#define SSO_REDIRECT "https://idp.example.test/adfs/ls/redirect"
#define SLO_POST "https://idp.example.test/adfs/ls/slo-post"
#define SLO_REDIRECT "https://idp.example.test/adfs/ls/slo-redirect"
#define OTHER_SSO "https://other-idp.example.test/sso"
#define EVIL_SSO "https://evil.example.test/sso"

#define NOW_TEXT "2024-04-01T10:00:00Z"
#define MIN_S(n) apr_time_from_sec((n) * 60)
#define HOUR_S(n) apr_time_from_sec((n) * 3600)

/* ---- keys ------------------------------------------------------------------ */

typedef struct {
    const char *signer_key;     /* the pinned metadata signer */
    const char *other_key;      /* a key nobody pinned */
    ib_cert *signer;
    const char *idp1_b64, *idp2_b64; /* IdP signing certificates, as metadata has them */
    ib_cert *idp1, *idp2;
} md_keys;

static const char *b64_of(const char *dir, const char *name)
{
    const char *crt = path_in(dir, apr_pstrcat(test_pool(), name, ".crt", NULL));
    const char *b64 = write_cert_b64(dir, apr_pstrcat(test_pool(), name, ".b64", NULL), crt, 64);
    return read_text_file(b64, NULL);
}

static ib_cert *cert_of(const char *dir, const char *name)
{
    ib_cert *c = NULL;
    ck_assert_no_err(ib_cert_load_file(test_pool(), path_in(dir, apr_pstrcat(test_pool(), name,
                                                                          ".crt", NULL)), &c));
    return c;
}

static md_keys make_keys(void)
{
    const char *dir = fresh_dir();
    apr_time_t from = utc("2020-01-01T00:00:00Z"), to = utc("2099-01-01T00:00:00Z");
    write_keypair_slot(dir, "signer", "rsa2048", 40, from, to);
    write_keypair_slot(dir, "other", "rsa2048", 41, from, to);
    /* Two IdP certificates over one key: different certificates all the same. */
    write_keypair(dir, "idp1", "rsa2048", from, to);
    write_keypair(dir, "idp2", "rsa2048", from, utc("2098-01-01T00:00:00Z"));
    md_keys k;
    k.signer_key = path_in(dir, "signer.key");
    k.other_key = path_in(dir, "other.key");
    k.signer = cert_of(dir, "signer");
    k.idp1_b64 = b64_of(dir, "idp1");
    k.idp2_b64 = b64_of(dir, "idp2");
    k.idp1 = cert_of(dir, "idp1");
    k.idp2 = cert_of(dir, "idp2");
    return k;
}

/* ---- building metadata ----------------------------------------------------- */

static const char *kd(const char *use, const char *b64)
{
    return apr_psprintf(test_pool(),
                        "<md:KeyDescriptor%s><ds:KeyInfo><ds:X509Data><ds:X509Certificate>%s"
                        "</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>",
                        use ? apr_psprintf(test_pool(), " use=\"%s\"", use) : "", b64);
}

static const char *ep(const char *kind, const char *binding, const char *location)
{
    return apr_psprintf(test_pool(), "<md:%s Binding=\"%s\" Location=\"%s\"/>", kind, binding,
                        location);
}

static const char *sso(const char *binding, const char *location)
{
    return ep("SingleSignOnService", binding, location);
}

static const char *slo(const char *binding, const char *location)
{
    return ep("SingleLogoutService", binding, location);
}

/* An IDPSSODescriptor; id NULL leaves out the ID attribute. */
static const char *role_with(const char *protocols, const char *id, const char *content)
{
    return apr_psprintf(test_pool(),
                        "<md:IDPSSODescriptor protocolSupportEnumeration=\"%s\"%s>%s"
                        "</md:IDPSSODescriptor>", protocols,
                        id ? apr_psprintf(test_pool(), " ID=\"%s\"", id) : "", content);
}

static const char *role(const char *content)
{
    return role_with(PROTO_SAML2, NULL, content);
}

/* What ADFS publishes: a signing key, SLO and SSO over both bindings. */
static const char *std_role_content(const md_keys *k)
{
    return apr_pstrcat(test_pool(), kd("signing", k->idp1_b64), slo(B_REDIRECT, SLO_REDIRECT),
                       sso(B_REDIRECT, SSO_REDIRECT), sso(B_POST, SSO_POST), NULL);
}

/* An EntityDescriptor; xml_id NULL leaves out the ID, attrs go into the
 * start tag, sig right after it. */
static const char *entity(const char *entity_id, const char *xml_id, const char *attrs,
                          const char *sig, const char *content)
{
    return apr_psprintf(test_pool(), "<md:EntityDescriptor " NS_DECLS "%s entityID=\"%s\"%s>%s%s"
                        "</md:EntityDescriptor>",
                        xml_id ? apr_psprintf(test_pool(), " ID=\"%s\"", xml_id) : "",
                        entity_id, attrs ? attrs : "", sig ? sig : "", content);
}

static const char *entities(const char *xml_id, const char *attrs, const char *sig,
                            const char *content)
{
    return apr_psprintf(test_pool(), "<md:EntitiesDescriptor " NS_DECLS "%s%s>%s%s"
                        "</md:EntitiesDescriptor>",
                        xml_id ? apr_psprintf(test_pool(), " ID=\"%s\"", xml_id) : "",
                        attrs ? attrs : "", sig ? sig : "", content);
}

static const char *std_entity(const md_keys *k, const char *sig)
{
    return entity(IDP_ID, "_md1", NULL, sig, role(std_role_content(k)));
}

static const char *idp_entity(const char *entity_id, const char *xml_id, const char *sso_url,
                              const char *b64)
{
    return entity(entity_id, xml_id, NULL, NULL,
                  role(apr_pstrcat(test_pool(), kd("signing", b64), sso(B_POST, sso_url), NULL)));
}

/* A signature template for xmlsec1: it fills DigestValue and SignatureValue. */
static const char *sig_template_with(const char *uri, const char *method, const char *digest)
{
    return apr_psprintf(test_pool(),
                        "<ds:Signature><ds:SignedInfo>"
                        "<ds:CanonicalizationMethod Algorithm=\"" C14N_EXC "\"/>"
                        "<ds:SignatureMethod Algorithm=\"%s\"/>"
                        "<ds:Reference URI=\"%s\"><ds:Transforms>"
                        "<ds:Transform Algorithm=\"" ENVELOPED "\"/>"
                        "<ds:Transform Algorithm=\"" C14N_EXC "\"/></ds:Transforms>"
                        "<ds:DigestMethod Algorithm=\"%s\"/><ds:DigestValue></ds:DigestValue>"
                        "</ds:Reference></ds:SignedInfo><ds:SignatureValue></ds:SignatureValue>"
                        "</ds:Signature>", method, uri, digest);
}

static const char *sig_template(const char *id)
{
    return sig_template_with(apr_pstrcat(test_pool(), "#", id, NULL), RSA_SHA256, DIGEST_SHA256);
}

/* Signs the first signature template in xml with the key. */
static const char *xmlsec_sign(const char *xml, const char *key_path)
{
    const char *dir = fresh_dir();
    const char *in = write_text_file(dir, "in.xml", xml);
    const char *out = path_in(dir, "out.xml");
    const char *errs = path_in(dir, "xmlsec1.err");
    const char *cmd = apr_psprintf(
        test_pool(),
        "xmlsec1 --sign --privkey-pem '%s' --id-attr:ID " NS_MD ":EntityDescriptor "
        "--id-attr:ID " NS_MD ":EntitiesDescriptor --id-attr:ID " NS_MD ":IDPSSODescriptor "
        "--output '%s' '%s' 2>'%s'", key_path, out, in, errs);
    int rc = system(cmd);
    ck_assert_msg(rc == 0, "xmlsec1 failed (%d): %s", rc, read_text_file(errs, NULL));
    return read_text_file(out, NULL);
}

/* The first ds:Signature element of a signed document, as text. */
static const char *signature_of(const char *signed_xml)
{
    const char *start = strstr(signed_xml, "<ds:Signature>");
    const char *end = strstr(signed_xml, "</ds:Signature>");
    ck_assert_ptr_nonnull(start);
    ck_assert_ptr_nonnull(end);
    return apr_pstrndup(test_pool(), start, (apr_size_t)(end - start) + strlen("</ds:Signature>"));
}

/* s with the first occurrence of from replaced by to. */
static const char *replace_once(const char *s, const char *from, const char *to)
{
    const char *at = strstr(s, from);
    ck_assert_msg(at != NULL, "'%s' not found", from);
    return apr_pstrcat(test_pool(), apr_pstrndup(test_pool(), s, (apr_size_t)(at - s)), to,
                       at + strlen(from), NULL);
}

/* The document without its XML declaration, to nest it in another one. */
static const char *without_decl(const char *xml)
{
    if (strncmp(xml, "<?xml", 5) == 0) {
        xml = strstr(xml, "?>") + 2;
        while (*xml == '\n') {
            xml++;
        }
    }
    return xml;
}

/* ---- parsing --------------------------------------------------------------- */

typedef struct {
    const char *entity_id;
    const ib_cert *signer;
    int enforce;
    apr_time_t now;
} parse_opts;

static const char *parse_len(const char *xml, apr_size_t len, parse_opts o, ib_idp_md **md)
{
    ib_saml_library_init();     /* xmlsec, for signature checks */
    ib_idp_md_rules rules = {o.entity_id, o.signer, o.now ? o.now : utc(NOW_TEXT), o.enforce};
    *md = NULL;
    return ib_idp_md_parse(test_pool(), xml, len, &rules, md);
}

static const char *parse_with(const char *xml, parse_opts o, ib_idp_md **md)
{
    return parse_len(xml, strlen(xml), o, md);
}

static ib_idp_md *parse_ok(const char *xml, parse_opts o)
{
    ib_idp_md *md;
    ck_assert_no_err(parse_with(xml, o, &md));
    ck_assert_ptr_nonnull(md);
    return md;
}

static void parse_refused(const char *xml, parse_opts o, const char *needle)
{
    ib_idp_md *md;
    const char *err = parse_with(xml, o, &md);
    ck_assert_err_has(err, needle);
    ck_assert_ptr_null(md);
}

static const parse_opts NO_RULES = {NULL, NULL, 0, 0};

static parse_opts pinned(const md_keys *k)
{
    parse_opts o = {NULL, k->signer, 0, 0};
    return o;
}

static void assert_certs(const ib_idp_md *md, const ib_cert *a, const ib_cert *b)
{
    ck_assert_int_eq(md->certs->nelts, b ? 2 : 1);
    ck_assert_str_eq(APR_ARRAY_IDX(md->certs, 0, ib_cert *)->sha256_hex, a->sha256_hex);
    if (b) {
        ck_assert_str_eq(APR_ARRAY_IDX(md->certs, 1, ib_cert *)->sha256_hex, b->sha256_hex);
    }
}

/* ---- accepted documents ------------------------------------------------------ */

START_TEST(test_unsigned_document_gives_entity_endpoints_and_certs)
{
    md_keys k = make_keys();
    ib_idp_md *md = parse_ok(std_entity(&k, NULL), NO_RULES);
    ck_assert_str_eq(md->entity_id, IDP_ID);
    ck_assert_str_eq(md->sso_post, SSO_POST);
    ck_assert_str_eq(md->sso_redirect, SSO_REDIRECT);
    ck_assert_str_eq(md->slo_redirect, SLO_REDIRECT);
    ck_assert_ptr_null(md->slo_post);
    assert_certs(md, k.idp1, NULL);
    ck_assert_int_eq(md->signature_verified, 0);
    ck_assert(md->valid_until == 0);
    ck_assert(md->cache_duration == 0);
}
END_TEST

START_TEST(test_signed_document_verifies_with_the_pinned_signer)
{
    md_keys k = make_keys();
    const char *signed_xml = xmlsec_sign(std_entity(&k, sig_template("_md1")), k.signer_key);
    ib_idp_md *md = parse_ok(signed_xml, pinned(&k));
    ck_assert_int_eq(md->signature_verified, 1);
    ck_assert_str_eq(md->entity_id, IDP_ID);
    ck_assert_str_eq(md->sso_post, SSO_POST);
    assert_certs(md, k.idp1, NULL);
}
END_TEST

START_TEST(test_signed_document_without_pinned_signer_is_read_unverified)
{
    md_keys k = make_keys();
    const char *signed_xml = xmlsec_sign(std_entity(&k, sig_template("_md1")), k.other_key);
    ib_idp_md *md = parse_ok(signed_xml, NO_RULES);
    ck_assert_int_eq(md->signature_verified, 0);
    ck_assert_str_eq(md->entity_id, IDP_ID);
}
END_TEST

START_TEST(test_signed_aggregate_root_verifies_and_entity_id_picks)
{
    md_keys k = make_keys();
    const char *doc = entities("_agg", NULL, sig_template("_agg"),
                               apr_pstrcat(test_pool(), idp_entity(OTHER_ID, "_e1", OTHER_SSO,
                                                                   k.idp2_b64),
                                           std_entity(&k, NULL), NULL));
    const char *signed_xml = xmlsec_sign(doc, k.signer_key);
    parse_opts o = pinned(&k);
    o.entity_id = IDP_ID;
    ib_idp_md *md = parse_ok(signed_xml, o);
    ck_assert_int_eq(md->signature_verified, 1);
    ck_assert_str_eq(md->entity_id, IDP_ID);
    ck_assert_str_eq(md->sso_post, SSO_POST);
    assert_certs(md, k.idp1, NULL);
    o.entity_id = OTHER_ID;
    md = parse_ok(signed_xml, o);
    ck_assert_str_eq(md->sso_post, OTHER_SSO);
    assert_certs(md, k.idp2, NULL);
}
END_TEST

START_TEST(test_byte_order_mark_and_leading_space_are_accepted)
{
    md_keys k = make_keys();
    const char *doc = apr_pstrcat(test_pool(), "\xEF\xBB\xBF<?xml version=\"1.0\" "
                                  "encoding=\"UTF-8\"?>\n", std_entity(&k, NULL), NULL);
    ck_assert_str_eq(parse_ok(doc, NO_RULES)->entity_id, IDP_ID);
    doc = apr_pstrcat(test_pool(), "\r\n\t ", std_entity(&k, NULL), NULL);
    ck_assert_str_eq(parse_ok(doc, NO_RULES)->entity_id, IDP_ID);
}
END_TEST

/* ---- the pinned signer ------------------------------------------------------------ */

START_TEST(test_signature_by_another_key_is_refused)
{
    md_keys k = make_keys();
    const char *signed_xml = xmlsec_sign(std_entity(&k, sig_template("_md1")), k.other_key);
    parse_refused(signed_xml, pinned(&k), "does not verify with the pinned certificate");
}
END_TEST

START_TEST(test_document_changed_after_signing_is_refused)
{
    md_keys k = make_keys();
    const char *signed_xml = xmlsec_sign(std_entity(&k, sig_template("_md1")), k.signer_key);
    parse_refused(replace_once(signed_xml, SSO_POST, EVIL_SSO), pinned(&k),
                  "does not verify with the pinned certificate");
    parse_refused(replace_once(signed_xml, k.idp1_b64, k.idp2_b64), pinned(&k),
                  "does not verify with the pinned certificate");
}
END_TEST

START_TEST(test_unsigned_document_with_pinned_signer_is_refused)
{
    md_keys k = make_keys();
    parse_refused(std_entity(&k, NULL), pinned(&k), "not signed");
}
END_TEST

/* Wrapping: an aggregate whose signed part is an inner entity, plus an
 * unsigned evil IdP next to it. Neither IdP may come out of it. */
START_TEST(test_unsigned_aggregate_around_a_signed_entity_is_refused)
{
    md_keys k = make_keys();
    const char *signed_entity = xmlsec_sign(std_entity(&k, sig_template("_md1")), k.signer_key);
    const char *doc = entities("_agg", NULL, NULL,
                               apr_pstrcat(test_pool(), without_decl(signed_entity),
                                           idp_entity(EVIL_ID, "_evil", EVIL_SSO, k.idp2_b64),
                                           NULL));
    parse_opts o = pinned(&k);
    o.entity_id = EVIL_ID;
    parse_refused(doc, o, "not signed");
    o.entity_id = IDP_ID;
    parse_refused(doc, o, "not signed");
    o.entity_id = NULL;
    parse_refused(doc, o, "not signed");
}
END_TEST

/* The same, with the inner entity's signature moved up to the root, where
 * it still references (and verifies over) the inner entity only. */
START_TEST(test_root_signature_over_an_inner_entity_is_refused)
{
    md_keys k = make_keys();
    const char *doc = entities("_agg", NULL, sig_template("_md1"),
                               apr_pstrcat(test_pool(), std_entity(&k, NULL),
                                           idp_entity(EVIL_ID, "_evil", EVIL_SSO, k.idp2_b64),
                                           NULL));
    const char *signed_xml = xmlsec_sign(doc, k.signer_key);
    parse_opts o = pinned(&k);
    o.entity_id = EVIL_ID;
    parse_refused(signed_xml, o, "references another element");
    o.entity_id = IDP_ID;
    parse_refused(signed_xml, o, "references another element");
}
END_TEST

/* A signature on the IdP role only: the document element is unsigned. */
START_TEST(test_signature_on_a_child_element_is_refused)
{
    md_keys k = make_keys();
    const char *doc = entity(IDP_ID, "_md1", NULL, NULL,
                             role_with(PROTO_SAML2, "_role",
                                       apr_pstrcat(test_pool(), sig_template("_role"),
                                                   std_role_content(&k), NULL)));
    parse_refused(xmlsec_sign(doc, k.signer_key), pinned(&k), "not signed");
}
END_TEST

/* A signature on the document element whose Reference names a child. */
START_TEST(test_root_signature_referencing_a_child_is_refused)
{
    md_keys k = make_keys();
    const char *doc = entity(IDP_ID, "_md1", NULL, sig_template("_role"),
                             role_with(PROTO_SAML2, "_role", std_role_content(&k)));
    parse_refused(xmlsec_sign(doc, k.signer_key), pinned(&k), "references another element");
}
END_TEST

START_TEST(test_root_signature_over_the_whole_document_uri_is_refused)
{
    md_keys k = make_keys();
    const char *doc = std_entity(&k, sig_template_with("", RSA_SHA256, DIGEST_SHA256));
    parse_refused(xmlsec_sign(doc, k.signer_key), pinned(&k), "references another element");
}
END_TEST

/* Classic XSW: the signed original tucked away inside, with the same ID,
 * under an evil document element that claims that ID's signature. */
START_TEST(test_signed_original_hidden_under_a_changed_root_is_refused)
{
    md_keys k = make_keys();
    const char *signed_xml = without_decl(xmlsec_sign(std_entity(&k, sig_template("_md1")),
                                                      k.signer_key));
    const char *evil = replace_once(signed_xml, SSO_POST, EVIL_SSO);
    evil = replace_once(evil, "<md:IDPSSODescriptor",
                        apr_pstrcat(test_pool(), "<md:Extensions>", signed_xml,
                                    "</md:Extensions><md:IDPSSODescriptor", NULL));
    ib_idp_md *md;
    const char *err = parse_with(evil, pinned(&k), &md);
    ck_assert_err_has(err, "metadata signature");
    ck_assert_ptr_null(md);
}
END_TEST

START_TEST(test_two_signatures_on_the_root_are_refused)
{
    md_keys k = make_keys();
    const char *signed_xml = xmlsec_sign(std_entity(&k, sig_template("_md1")), k.signer_key);
    const char *sig = signature_of(signed_xml);
    const char *doubled = replace_once(signed_xml, sig, apr_pstrcat(test_pool(), sig, sig, NULL));
    parse_refused(doubled, pinned(&k), "more than one signature");
    /* One valid, one by another key: refused all the same. */
    const char *other = signature_of(xmlsec_sign(std_entity(&k, sig_template("_md1")),
                                                 k.other_key));
    parse_refused(replace_once(signed_xml, sig, apr_pstrcat(test_pool(), other, sig, NULL)),
                  pinned(&k), "more than one signature");
}
END_TEST

START_TEST(test_sha1_digest_or_method_is_refused)
{
    md_keys k = make_keys();
    const char *doc = std_entity(&k, sig_template_with("#_md1", RSA_SHA256, DIGEST_SHA1));
    parse_refused(xmlsec_sign(doc, k.signer_key), pinned(&k), "digest");
    doc = std_entity(&k, sig_template_with("#_md1", RSA_SHA1, DIGEST_SHA256));
    parse_refused(xmlsec_sign(doc, k.signer_key), pinned(&k), "signature method");
}
END_TEST

/* ---- document hygiene ----------------------------------------------------------- */

START_TEST(test_doctype_and_entity_declarations_are_refused)
{
    md_keys k = make_keys();
    const char *good = std_entity(&k, NULL);
    parse_refused(apr_pstrcat(test_pool(), "<?xml version=\"1.0\"?><!DOCTYPE md:EntityDescriptor>",
                              good, NULL), NO_RULES, "DOCTYPE");
    parse_refused(apr_pstrcat(test_pool(), "<!DOCTYPE x [<!ENTITY e SYSTEM "
                              "\"file:///etc/passwd\">]>", good, NULL), NO_RULES, "DOCTYPE");
    /* An entity declaration is refused wherever it appears. */
    parse_refused(replace_once(good, "<md:IDPSSODescriptor",
                               "<!-- <!ENTITY x \"y\"> --><md:IDPSSODescriptor"),
                  NO_RULES, "entity declaration");
    /* Refused before the signature is even looked at. */
    parse_refused(apr_pstrcat(test_pool(), "<!DOCTYPE x>", good, NULL), pinned(&k), "DOCTYPE");
}
END_TEST

START_TEST(test_non_xml_empty_and_oversize_are_refused)
{
    ib_idp_md *md;
    parse_refused("hello, world", NO_RULES, "not UTF-8 XML");
    parse_refused("   ", NO_RULES, "not UTF-8 XML");
    parse_refused("{\"entityID\": \"x\"}", NO_RULES, "not UTF-8 XML");
    parse_refused("<md:EntityDescriptor xmlns:md=\"" NS_MD "\" entityID=\"x\">", NO_RULES,
                  "not well-formed");
    ck_assert_err_has(parse_len("", 0, NO_RULES, &md), "empty");
    apr_size_t big = IB_IDP_MD_MAX_BYTES + 1;
    char *huge = apr_palloc(test_pool(), big);
    memset(huge, ' ', big);
    huge[0] = '<';
    ck_assert_err_has(parse_len(huge, big, NO_RULES, &md), "larger than");
    ck_assert_ptr_null(md);
}
END_TEST

START_TEST(test_non_utf8_documents_are_refused)
{
    md_keys k = make_keys();
    const char *good = std_entity(&k, NULL);
    /* UTF-16 with a byte order mark, and without one. */
    apr_size_t n = strlen(good);
    char *u16 = apr_palloc(test_pool(), 2 * n + 2);
    u16[0] = '\xFF';
    u16[1] = '\xFE';
    for (apr_size_t i = 0; i < n; i++) {
        u16[2 + 2 * i] = good[i];
        u16[3 + 2 * i] = '\0';
    }
    ib_idp_md *md;
    ck_assert_ptr_nonnull(parse_len(u16, 2 * n + 2, NO_RULES, &md));
    ck_assert_ptr_null(md);
    ck_assert_ptr_nonnull(parse_len(u16 + 2, 2 * n, NO_RULES, &md));
    ck_assert_ptr_null(md);
    /* A Latin-1 declaration with a Latin-1 byte: not read as Latin-1. */
    const char *latin1 = apr_pstrcat(test_pool(), "<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?>",
                                     replace_once(good, "<md:IDPSSODescriptor",
                                                  "<md:Organization><md:OrganizationName "
                                                  "xml:lang=\"fr\">Soci\xE9t\xE9</md:OrganizationName>"
                                                  "</md:Organization><md:IDPSSODescriptor"), NULL);
    parse_refused(latin1, NO_RULES, "not well-formed");
    /* Invalid UTF-8 without any declaration. */
    parse_refused(replace_once(good, IDP_ID, "https://idp.example.test/\xC3\x28"), NO_RULES,
                  "not well-formed");
}
END_TEST

START_TEST(test_wrong_root_is_refused)
{
    md_keys k = make_keys();
    parse_refused("<html><body>maintenance</body></html>", NO_RULES, "not SAML 2.0 metadata");
    /* The right local name in another namespace. */
    const char *doc = replace_once(std_entity(&k, NULL), "xmlns:md=\"" NS_MD "\"",
                                   "xmlns:md=\"urn:example:not-metadata\"");
    parse_refused(doc, NO_RULES, "not SAML 2.0 metadata");
    /* A SAML Response is not metadata either. */
    parse_refused("<samlp:Response xmlns:samlp=\"urn:oasis:names:tc:SAML:2.0:protocol\" ID=\"_r\"/>",
                  NO_RULES, "not SAML 2.0 metadata");
}
END_TEST

/* ---- entity selection ------------------------------------------------------------ */

static const char *two_idps(const md_keys *k)
{
    return entities(NULL, NULL, NULL,
                    apr_pstrcat(test_pool(), idp_entity(IDP_ID, NULL, SSO_POST, k->idp1_b64),
                                idp_entity(OTHER_ID, NULL, OTHER_SSO, k->idp2_b64), NULL));
}

START_TEST(test_aggregate_with_two_idps_needs_an_entity_id)
{
    md_keys k = make_keys();
    parse_refused(two_idps(&k), NO_RULES, "holds 2 SAML 2.0 IdPs; set IdBrokerIdPEntityID");
}
END_TEST

START_TEST(test_entity_id_selects_the_right_idp)
{
    md_keys k = make_keys();
    parse_opts o = NO_RULES;
    o.entity_id = OTHER_ID;
    ib_idp_md *md = parse_ok(two_idps(&k), o);
    ck_assert_str_eq(md->entity_id, OTHER_ID);
    ck_assert_str_eq(md->sso_post, OTHER_SSO);
    ck_assert_ptr_null(md->sso_redirect);
    assert_certs(md, k.idp2, NULL);
    o.entity_id = IDP_ID;
    md = parse_ok(two_idps(&k), o);
    ck_assert_str_eq(md->sso_post, SSO_POST);
    assert_certs(md, k.idp1, NULL);
    /* A single-entity document must be the one asked for, too. */
    md = parse_ok(std_entity(&k, NULL), o);
    ck_assert_str_eq(md->entity_id, IDP_ID);
}
END_TEST

START_TEST(test_entity_id_absent_is_named_in_the_error)
{
    md_keys k = make_keys();
    parse_opts o = NO_RULES;
    o.entity_id = "https://missing.example.test/idp";
    parse_refused(two_idps(&k), o, "no SAML 2.0 IdP with entityID 'https://missing.example.test/idp'");
    parse_refused(std_entity(&k, NULL), o, "'https://missing.example.test/idp'");
}
END_TEST

START_TEST(test_only_saml2_idp_roles_count)
{
    md_keys k = make_keys();
    /* An SP entity and a SAML 1.1-only IdP next to the one SAML 2.0 IdP. */
    const char *sp = apr_psprintf(test_pool(),
                                  "<md:EntityDescriptor entityID=\"https://sp.example.test\">"
                                  "<md:SPSSODescriptor protocolSupportEnumeration=\"" PROTO_SAML2
                                  "\"><md:AssertionConsumerService Binding=\"" B_POST "\" "
                                  "Location=\"https://sp.example.test/acs\" index=\"0\"/>"
                                  "</md:SPSSODescriptor></md:EntityDescriptor>");
    const char *saml11 = entity(OTHER_ID, NULL, NULL, NULL,
                                role_with(PROTO_SAML11, NULL,
                                          apr_pstrcat(test_pool(), kd("signing", k.idp2_b64),
                                                      sso(B_POST, OTHER_SSO), NULL)));
    const char *doc = entities(NULL, NULL, NULL,
                               apr_pstrcat(test_pool(), sp, saml11, std_entity(&k, NULL), NULL));
    ib_idp_md *md = parse_ok(doc, NO_RULES);
    ck_assert_str_eq(md->entity_id, IDP_ID);
    /* Both protocols in the list is fine. */
    doc = entity(IDP_ID, NULL, NULL, NULL,
                 role_with(PROTO_SAML11 " " PROTO_SAML2, NULL, std_role_content(&k)));
    ck_assert_str_eq(parse_ok(doc, NO_RULES)->entity_id, IDP_ID);
    /* No SAML 2.0 IdP at all. */
    parse_refused(entities(NULL, NULL, NULL, apr_pstrcat(test_pool(), sp, saml11, NULL)),
                  NO_RULES, "holds no SAML 2.0 IdP");
    parse_opts o = NO_RULES;
    o.entity_id = OTHER_ID;
    parse_refused(entities(NULL, NULL, NULL, apr_pstrcat(test_pool(), sp, saml11, NULL)),
                  o, "no SAML 2.0 IdP with entityID '" OTHER_ID "'");
}
END_TEST

START_TEST(test_nested_aggregates_are_searched)
{
    md_keys k = make_keys();
    const char *inner = apr_psprintf(test_pool(), "<md:EntitiesDescriptor Name=\"inner\">%s"
                                     "</md:EntitiesDescriptor>", std_entity(&k, NULL));
    ib_idp_md *md = parse_ok(entities(NULL, NULL, NULL, inner), NO_RULES);
    ck_assert_str_eq(md->entity_id, IDP_ID);
}
END_TEST

START_TEST(test_idp_without_entity_id_is_refused)
{
    md_keys k = make_keys();
    const char *doc = replace_once(std_entity(&k, NULL), "entityID=\"" IDP_ID "\"", "");
    parse_refused(doc, NO_RULES, "no entityID");
}
END_TEST

/* ---- certificates ---------------------------------------------------------------- */

START_TEST(test_no_signing_certificate_is_refused)
{
    md_keys k = make_keys();
    const char *doc = entity(IDP_ID, NULL, NULL, NULL, role(sso(B_POST, SSO_POST)));
    parse_refused(doc, NO_RULES, "no signing certificate");
    /* An encryption key is not a signing key. */
    doc = entity(IDP_ID, NULL, NULL, NULL,
                 role(apr_pstrcat(test_pool(), kd("encryption", k.idp1_b64), sso(B_POST, SSO_POST),
                                  NULL)));
    parse_refused(doc, NO_RULES, "no signing certificate");
}
END_TEST

START_TEST(test_encryption_keys_are_ignored_and_certs_deduplicated)
{
    md_keys k = make_keys();
    const char *content = apr_pstrcat(test_pool(), kd("encryption", k.idp2_b64),
                                      kd("signing", k.idp1_b64), kd(NULL, k.idp1_b64),
                                      sso(B_POST, SSO_POST), NULL);
    ib_idp_md *md = parse_ok(entity(IDP_ID, NULL, NULL, NULL, role(content)), NO_RULES);
    assert_certs(md, k.idp1, NULL);
    /* A KeyDescriptor without use counts as signing. */
    content = apr_pstrcat(test_pool(), kd("signing", k.idp1_b64), kd(NULL, k.idp2_b64),
                          sso(B_POST, SSO_POST), NULL);
    md = parse_ok(entity(IDP_ID, NULL, NULL, NULL, role(content)), NO_RULES);
    assert_certs(md, k.idp1, k.idp2);
    /* A bad Base64 in an encryption key is never read. */
    content = apr_pstrcat(test_pool(), kd("encryption", "!!not base64!!"),
                          kd("signing", k.idp1_b64), sso(B_POST, SSO_POST), NULL);
    md = parse_ok(entity(IDP_ID, NULL, NULL, NULL, role(content)), NO_RULES);
    assert_certs(md, k.idp1, NULL);
}
END_TEST

START_TEST(test_bad_base64_certificate_is_refused)
{
    md_keys k = make_keys();
    const char *content = apr_pstrcat(test_pool(), kd("signing", "!!not base64!!"),
                                      sso(B_POST, SSO_POST), NULL);
    parse_refused(entity(IDP_ID, NULL, NULL, NULL, role(content)), NO_RULES,
                  "not a Base64 DER certificate");
    /* Base64 of something that is not a certificate. */
    content = apr_pstrcat(test_pool(), kd("signing", k.idp1_b64), kd("signing", "aGVsbG8gd29ybGQ="),
                          sso(B_POST, SSO_POST), NULL);
    parse_refused(entity(IDP_ID, NULL, NULL, NULL, role(content)), NO_RULES,
                  "not a Base64 DER certificate");
}
END_TEST

/* ---- endpoints ------------------------------------------------------------------- */

static const char *with_endpoints(const md_keys *k, const char *endpoints)
{
    return entity(IDP_ID, NULL, NULL, NULL,
                  role(apr_pstrcat(test_pool(), kd("signing", k->idp1_b64), endpoints, NULL)));
}

START_TEST(test_sso_only_redirect_or_only_post)
{
    md_keys k = make_keys();
    ib_idp_md *md = parse_ok(with_endpoints(&k, sso(B_REDIRECT, SSO_REDIRECT)), NO_RULES);
    ck_assert_str_eq(md->sso_redirect, SSO_REDIRECT);
    ck_assert_ptr_null(md->sso_post);
    ck_assert_ptr_null(md->slo_post);
    ck_assert_ptr_null(md->slo_redirect);
    md = parse_ok(with_endpoints(&k, apr_pstrcat(test_pool(), sso(B_ARTIFACT, "https://x.test/a"),
                                                 sso(B_POST, SSO_POST),
                                                 slo(B_POST, SLO_POST), NULL)), NO_RULES);
    ck_assert_str_eq(md->sso_post, SSO_POST);
    ck_assert_ptr_null(md->sso_redirect);
    ck_assert_str_eq(md->slo_post, SLO_POST);
    ck_assert_ptr_null(md->slo_redirect);
}
END_TEST

START_TEST(test_no_usable_sso_endpoint_is_refused)
{
    md_keys k = make_keys();
    parse_refused(with_endpoints(&k, sso(B_ARTIFACT, "https://x.test/a")), NO_RULES,
                  "no SingleSignOnService");
    parse_refused(with_endpoints(&k, slo(B_POST, SLO_POST)), NO_RULES, "no SingleSignOnService");
    /* No Binding attribute: not guessed. */
    parse_refused(with_endpoints(&k, "<md:SingleSignOnService Location=\"" SSO_POST "\"/>"),
                  NO_RULES, "no SingleSignOnService");
}
END_TEST

START_TEST(test_first_endpoint_per_binding_wins)
{
    md_keys k = make_keys();
    ib_idp_md *md = parse_ok(with_endpoints(&k, apr_pstrcat(test_pool(), sso(B_POST, SSO_POST),
                                                            sso(B_POST, OTHER_SSO), NULL)),
                             NO_RULES);
    ck_assert_str_eq(md->sso_post, SSO_POST);
}
END_TEST

START_TEST(test_plain_http_endpoint_is_refused_except_loopback)
{
    md_keys k = make_keys();
    parse_refused(with_endpoints(&k, sso(B_POST, "http://idp.example.test/sso")), NO_RULES,
                  "must use https");
    parse_refused(with_endpoints(&k, apr_pstrcat(test_pool(), sso(B_POST, SSO_POST),
                                                 slo(B_REDIRECT, "http://idp.example.test/slo"),
                                                 NULL)), NO_RULES, "SingleLogoutService Location");
    parse_refused(with_endpoints(&k, sso(B_POST, "javascript:alert(1)")), NO_RULES,
                  "SingleSignOnService Location");
    parse_refused(with_endpoints(&k, "<md:SingleSignOnService Binding=\"" B_POST "\"/>"), NO_RULES,
                  "SingleSignOnService Location");
    ib_idp_md *md = parse_ok(with_endpoints(&k, sso(B_POST, "http://127.0.0.1:8080/sso")),
                             NO_RULES);
    ck_assert_str_eq(md->sso_post, "http://127.0.0.1:8080/sso");
}
END_TEST

/* ---- validUntil and cacheDuration ------------------------------------------------ */

START_TEST(test_valid_until_in_the_past_with_and_without_enforcement)
{
    md_keys k = make_keys();
    const char *doc = entity(IDP_ID, NULL, " validUntil=\"2024-03-31T10:00:00Z\"", NULL,
                             role(std_role_content(&k)));
    ib_idp_md *md = parse_ok(doc, NO_RULES);
    ck_assert(md->valid_until == utc("2024-03-31T10:00:00Z"));
    parse_opts o = NO_RULES;
    o.enforce = 1;
    parse_refused(doc, o, "expired at 2024-03-31T10:00:00Z");
    /* Exactly now is expired; a second later is not. */
    o.now = utc("2024-03-31T10:00:00Z");
    parse_refused(doc, o, "expired");
    o.now = utc("2024-03-31T09:59:59Z");
    md = parse_ok(doc, o);
    ck_assert(md->valid_until == utc("2024-03-31T10:00:00Z"));
}
END_TEST

START_TEST(test_lifetime_is_the_stricter_of_root_and_entity)
{
    md_keys k = make_keys();
    const char *inner = entity(IDP_ID, NULL, " validUntil=\"2024-04-08T00:00:00Z\" "
                               "cacheDuration=\"PT6H\"", NULL, role(std_role_content(&k)));
    const char *doc = entities(NULL, " validUntil=\"2024-04-10T00:00:00Z\" cacheDuration=\"PT1H\"",
                               NULL, inner);
    ib_idp_md *md = parse_ok(doc, NO_RULES);
    ck_assert(md->valid_until == utc("2024-04-08T00:00:00Z"));
    ck_assert(md->cache_duration == HOUR_S(1));
    /* The other way round. */
    inner = entity(IDP_ID, NULL, " validUntil=\"2024-04-10T00:00:00Z\" cacheDuration=\"PT1H\"",
                   NULL, role(std_role_content(&k)));
    doc = entities(NULL, " validUntil=\"2024-04-08T00:00:00Z\" cacheDuration=\"P1D\"", NULL, inner);
    md = parse_ok(doc, NO_RULES);
    ck_assert(md->valid_until == utc("2024-04-08T00:00:00Z"));
    ck_assert(md->cache_duration == HOUR_S(1));
    /* Only on the root, and fractional seconds. */
    doc = entities(NULL, " validUntil=\"2024-04-08T00:00:00.500Z\" cacheDuration=\"PT30M\"", NULL,
                   std_entity(&k, NULL));
    md = parse_ok(doc, NO_RULES);
    ck_assert(md->valid_until == utc("2024-04-08T00:00:00Z") + 500000);
    ck_assert(md->cache_duration == MIN_S(30));
    /* On a single EntityDescriptor root. */
    doc = entity(IDP_ID, NULL, " cacheDuration=\"P1DT2H30M\"", NULL, role(std_role_content(&k)));
    md = parse_ok(doc, NO_RULES);
    ck_assert(md->cache_duration == HOUR_S(26) + MIN_S(30));
    ck_assert(md->valid_until == 0);
}
END_TEST

/* A group between the document element and the entity limits it too
 * (SAML metadata 2.3.1: validUntil applies to everything below). */
START_TEST(test_lifetime_of_an_intermediate_group_counts)
{
    md_keys k = make_keys();
    const char *inner = apr_psprintf(test_pool(), "<md:EntitiesDescriptor Name=\"inner\" "
                                     "validUntil=\"2024-03-31T00:00:00Z\" cacheDuration=\"PT5M\">"
                                     "%s</md:EntitiesDescriptor>", std_entity(&k, NULL));
    const char *doc = entities(NULL, " validUntil=\"2025-01-01T00:00:00Z\"", NULL, inner);
    ib_idp_md *md = parse_ok(doc, NO_RULES);
    ck_assert(md->valid_until == utc("2024-03-31T00:00:00Z"));
    ck_assert(md->cache_duration == MIN_S(5));
    parse_opts o = NO_RULES;
    o.enforce = 1;
    parse_refused(doc, o, "expired");
}
END_TEST

START_TEST(test_bad_lifetime_attributes_are_refused)
{
    md_keys k = make_keys();
    parse_refused(entity(IDP_ID, NULL, " validUntil=\"tomorrow\"", NULL, role(std_role_content(&k))),
                  NO_RULES, "validUntil 'tomorrow'");
    parse_refused(entity(IDP_ID, NULL, " validUntil=\"2024-04-08T00:00:00+02:00\"", NULL,
                         role(std_role_content(&k))), NO_RULES, "validUntil");
    parse_refused(entity(IDP_ID, NULL, " cacheDuration=\"6 hours\"", NULL,
                         role(std_role_content(&k))), NO_RULES, "cacheDuration '6 hours'");
}
END_TEST

/* ---- refresh delay ------------------------------------------------------------------ */

static ib_idp_md *md_life(apr_time_t valid_until, apr_interval_time_t cache)
{
    ib_idp_md *md = apr_pcalloc(test_pool(), sizeof(*md));
    md->valid_until = valid_until;
    md->cache_duration = cache;
    return md;
}

#define RMIN MIN_S(10)
#define RMAX HOUR_S(4)

START_TEST(test_refresh_delay_after_success)
{
    apr_time_t now = utc(NOW_TEXT);
    /* Nothing said: max. */
    ck_assert(ib_idp_md_refresh_delay(NULL, 0, now, RMIN, RMAX) == RMAX);
    ck_assert(ib_idp_md_refresh_delay(md_life(0, 0), 0, now, RMIN, RMAX) == RMAX);
    /* cacheDuration. */
    ck_assert(ib_idp_md_refresh_delay(md_life(0, HOUR_S(1)), 0, now, RMIN, RMAX) == HOUR_S(1));
    /* Three quarters of the time left until validUntil. */
    ck_assert(ib_idp_md_refresh_delay(md_life(now + HOUR_S(4), 0), 0, now, RMIN, RMAX)
              == HOUR_S(3));
    ck_assert(ib_idp_md_refresh_delay(md_life(now + HOUR_S(2), HOUR_S(3)), 0, now, RMIN, RMAX)
              == MIN_S(90));
    ck_assert(ib_idp_md_refresh_delay(md_life(now + HOUR_S(4), MIN_S(30)), 0, now, RMIN, RMAX)
              == MIN_S(30));
    /* validUntil far away: max. */
    ck_assert(ib_idp_md_refresh_delay(md_life(now + HOUR_S(240), 0), 0, now, RMIN, RMAX) == RMAX);
}
END_TEST

START_TEST(test_refresh_delay_is_clamped)
{
    apr_time_t now = utc(NOW_TEXT);
    ck_assert(ib_idp_md_refresh_delay(md_life(0, apr_time_from_sec(30)), 0, now, RMIN, RMAX)
              == RMIN);
    ck_assert(ib_idp_md_refresh_delay(md_life(0, HOUR_S(240)), 0, now, RMIN, RMAX) == RMAX);
    ck_assert(ib_idp_md_refresh_delay(md_life(now + MIN_S(4), 0), 0, now, RMIN, RMAX) == RMIN);
    /* validUntil already passed (a copy kept while refreshes fail): no time
     * is left, so the next fetch comes as early as allowed. */
    ck_assert(ib_idp_md_refresh_delay(md_life(now - HOUR_S(1), 0), 0, now, RMIN, RMAX) == RMIN);
    ck_assert(ib_idp_md_refresh_delay(md_life(now, HOUR_S(2)), 0, now, RMIN, RMAX) == RMIN);
}
END_TEST

START_TEST(test_refresh_delay_backs_off_on_failures)
{
    apr_time_t now = utc(NOW_TEXT);
    ib_idp_md *md = md_life(now + HOUR_S(100), HOUR_S(2));
    ck_assert(ib_idp_md_refresh_delay(md, 1, now, RMIN, RMAX) == RMIN);
    ck_assert(ib_idp_md_refresh_delay(md, 2, now, RMIN, RMAX) == MIN_S(20));
    ck_assert(ib_idp_md_refresh_delay(md, 3, now, RMIN, RMAX) == MIN_S(40));
    ck_assert(ib_idp_md_refresh_delay(md, 4, now, RMIN, RMAX) == MIN_S(80));
    ck_assert(ib_idp_md_refresh_delay(md, 5, now, RMIN, RMAX) == MIN_S(160));
    ck_assert(ib_idp_md_refresh_delay(md, 6, now, RMIN, RMAX) == RMAX);
    ck_assert(ib_idp_md_refresh_delay(md, 1000, now, RMIN, RMAX) == RMAX);
    ck_assert(ib_idp_md_refresh_delay(NULL, 3, now, RMIN, RMAX) == MIN_S(40));
    /* min == max: always that. */
    ck_assert(ib_idp_md_refresh_delay(NULL, 7, now, RMIN, RMIN) == RMIN);
    ck_assert(ib_idp_md_refresh_delay(md, 0, now, RMIN, RMIN) == RMIN);
}
END_TEST

/* ---- xsd:duration ----------------------------------------------------------------- */

static apr_interval_time_t duration_ok(const char *text)
{
    apr_interval_time_t d = -1;
    ck_assert_msg(ib_duration_parse_xsd(text, &d) == APR_SUCCESS, "'%s' refused", text);
    return d;
}

static void duration_bad(const char *text)
{
    apr_interval_time_t d = -1;
    ck_assert_msg(ib_duration_parse_xsd(text, &d) != APR_SUCCESS, "'%s' accepted as %lld", text,
                  (long long)d);
    ck_assert_msg(d == -1, "'%s' refused but *out was written", text);
}

START_TEST(test_duration_valid)
{
    ck_assert(duration_ok("PT6H") == HOUR_S(6));
    ck_assert(duration_ok("P1D") == HOUR_S(24));
    ck_assert(duration_ok("P1DT2H30M") == HOUR_S(26) + MIN_S(30));
    ck_assert(duration_ok("PT0.5S") == 500000);
    ck_assert(duration_ok("PT90.25S") == apr_time_from_sec(90) + 250000);
    ck_assert(duration_ok("P1Y2M") == apr_time_from_sec((365 + 60) * 86400LL));
    ck_assert(duration_ok("P1M") == apr_time_from_sec(30 * 86400LL));
    ck_assert(duration_ok("PT1M") == MIN_S(1));
    ck_assert(duration_ok("P1Y1M1DT1H1M1S")
              == apr_time_from_sec((365 + 30 + 1) * 86400LL + 3600 + 60 + 1));
    ck_assert(duration_ok("PT0S") == 0);
    ck_assert(duration_ok("PT36H") == HOUR_S(36));
    ck_assert(duration_ok("P100Y") == apr_time_from_sec(100 * 365 * 86400LL));
}
END_TEST

START_TEST(test_duration_invalid)
{
    duration_bad(NULL);
    duration_bad("");
    duration_bad("P");
    duration_bad("PT");
    duration_bad("P1DT");
    duration_bad("P1H");
    duration_bad("PT1D");
    duration_bad("PT1Y");
    duration_bad("-P1D");
    duration_bad("+P1D");
    duration_bad("P1.5D");
    duration_bad("PT1.5H");       /* a fraction only on seconds */
    duration_bad("PT1.5M");
    duration_bad("PT.5S");
    duration_bad("PT5.S");
    duration_bad("P1D1Y");        /* out of order */
    duration_bad("PT1S1M");
    duration_bad("PT1M1M");       /* repeated */
    duration_bad("P1DT1H1D");
    duration_bad("PTT1H");
    duration_bad("p1d");
    duration_bad("P1d");
    duration_bad(" PT6H");
    duration_bad("PT6H ");
    duration_bad("PT6");
    duration_bad("P T6H");
    duration_bad("6H");
    duration_bad("P101Y");        /* over 100 years */
    duration_bad("PT1234567890123S");   /* too many digits */
    /* Overlong text, valid in shape. */
    char longer[80];
    strcpy(longer, "PT");
    memset(longer + 2, '0', 70);
    strcpy(longer + 72, "1S");
    duration_bad(longer);
}
END_TEST

/* ---- the view ------------------------------------------------------------------------ */

typedef struct {
    ib_tenant *t;
    ib_app *app;
} app_fixture;

static app_fixture make_app(const char *pinned_entity, const char *pinned_sso,
                            const char *pinned_slo, const ib_cert *pinned_cert)
{
    app_fixture f;
    f.t = apr_pcalloc(test_pool(), sizeof(*f.t));
    f.t->name = "acme";
    f.t->sso_binding = IB_BINDING_POST;
    f.t->slo_binding = IB_SLO_POST;
    f.app = apr_pcalloc(test_pool(), sizeof(*f.app));
    f.app->tenant = f.t;
    f.app->kind = IB_APP_PRIMARY;
    f.app->idp_entity_id = pinned_entity;
    f.app->idp_sso_url = pinned_sso;
    f.app->idp_slo_url = pinned_slo;
    f.app->idp_certs = apr_array_make(test_pool(), 2, sizeof(ib_cert *));
    if (pinned_cert) {
        APR_ARRAY_PUSH(f.app->idp_certs, const ib_cert *) = pinned_cert;
    }
    return f;
}

static ib_idp_md *md_of(const char *entity_id, const char *sso_post, const char *sso_redirect,
                        const char *slo_post, const char *slo_redirect, const ib_cert *a,
                        const ib_cert *b)
{
    ib_idp_md *md = apr_pcalloc(test_pool(), sizeof(*md));
    md->entity_id = entity_id;
    md->sso_post = sso_post;
    md->sso_redirect = sso_redirect;
    md->slo_post = slo_post;
    md->slo_redirect = slo_redirect;
    md->certs = apr_array_make(test_pool(), 2, sizeof(ib_cert *));
    if (a) {
        APR_ARRAY_PUSH(md->certs, const ib_cert *) = a;
    }
    if (b) {
        APR_ARRAY_PUSH(md->certs, const ib_cert *) = b;
    }
    md->valid_until = utc("2024-05-01T00:00:00Z");
    return md;
}

static const char *cert_at(const ib_idp *v, int i)
{
    return APR_ARRAY_IDX(v->certs, i, const ib_cert *)->sha256_hex;
}

START_TEST(test_view_without_metadata_is_the_pinned_values)
{
    md_keys k = make_keys();
    app_fixture f = make_app(IDP_ID, SSO_POST, SLO_POST, k.idp1);
    const ib_idp *v = ib_idp_view_make(test_pool(), f.app, NULL, "configuration", utc(NOW_TEXT));
    ck_assert_str_eq(v->entity_id, IDP_ID);
    ck_assert_str_eq(v->sso_url, SSO_POST);
    ck_assert_str_eq(v->slo_url, SLO_POST);
    ck_assert_int_eq(v->certs->nelts, 1);
    ck_assert_str_eq(cert_at(v, 0), k.idp1->sha256_hex);
    ck_assert_str_eq(v->from, "configuration");
    ck_assert(v->loaded_at == utc(NOW_TEXT));
    ck_assert(v->valid_until == 0);
}
END_TEST

START_TEST(test_view_pinned_values_win_over_metadata)
{
    md_keys k = make_keys();
    app_fixture f = make_app(IDP_ID, "https://pinned.example.test/sso", NULL, NULL);
    ib_idp_md *md = md_of("https://md-says.example.test", SSO_POST, SSO_REDIRECT, SLO_POST,
                          SLO_REDIRECT, k.idp1, NULL);
    const ib_idp *v = ib_idp_view_make(test_pool(), f.app, md, "/state/md.xml", utc(NOW_TEXT));
    ck_assert_str_eq(v->entity_id, IDP_ID);
    ck_assert_str_eq(v->sso_url, "https://pinned.example.test/sso");
    ck_assert_str_eq(v->slo_url, SLO_POST);          /* not pinned: from metadata */
    ck_assert_str_eq(v->from, "/state/md.xml");
    ck_assert(v->valid_until == utc("2024-05-01T00:00:00Z"));
    /* Nothing pinned: all from metadata. */
    f = make_app(NULL, NULL, "https://pinned.example.test/slo", NULL);
    v = ib_idp_view_make(test_pool(), f.app, md, "/state/md.xml", utc(NOW_TEXT));
    ck_assert_str_eq(v->entity_id, "https://md-says.example.test");
    ck_assert_str_eq(v->sso_url, SSO_POST);
    ck_assert_str_eq(v->slo_url, "https://pinned.example.test/slo");
    ck_assert_int_eq(v->certs->nelts, 1);
}
END_TEST

START_TEST(test_view_certs_are_the_union_pinned_first)
{
    md_keys k = make_keys();
    app_fixture f = make_app(NULL, NULL, NULL, k.idp1);
    ib_idp_md *md = md_of(IDP_ID, SSO_POST, NULL, NULL, NULL, k.idp2, k.idp1);
    const ib_idp *v = ib_idp_view_make(test_pool(), f.app, md, "m", utc(NOW_TEXT));
    ck_assert_int_eq(v->certs->nelts, 2);
    ck_assert_str_eq(cert_at(v, 0), k.idp1->sha256_hex);
    ck_assert_str_eq(cert_at(v, 1), k.idp2->sha256_hex);
    /* The same certificate loaded twice (another ib_cert) is still one. */
    ib_cert *again = NULL;
    ck_assert_no_err(ib_cert_from_base64(test_pool(), "again", k.idp1_b64, &again));
    md = md_of(IDP_ID, SSO_POST, NULL, NULL, NULL, again, NULL);
    v = ib_idp_view_make(test_pool(), f.app, md, "m", utc(NOW_TEXT));
    ck_assert_int_eq(v->certs->nelts, 1);
    /* The app's pinned list is not changed by the merge. */
    ck_assert_int_eq(f.app->idp_certs->nelts, 1);
}
END_TEST

START_TEST(test_view_endpoint_follows_the_tenant_binding)
{
    app_fixture f = make_app(NULL, NULL, NULL, NULL);
    ib_idp_md *both = md_of(IDP_ID, SSO_POST, SSO_REDIRECT, SLO_POST, SLO_REDIRECT, NULL, NULL);
    ib_idp_md *post_only = md_of(IDP_ID, SSO_POST, NULL, SLO_POST, NULL, NULL, NULL);
    ib_idp_md *redirect_only = md_of(IDP_ID, NULL, SSO_REDIRECT, NULL, SLO_REDIRECT, NULL, NULL);
    ib_idp_md *no_slo = md_of(IDP_ID, SSO_POST, NULL, NULL, NULL, NULL, NULL);
    apr_time_t now = utc(NOW_TEXT);

    f.t->sso_binding = IB_BINDING_POST;
    f.t->slo_binding = IB_SLO_POST;
    const ib_idp *v = ib_idp_view_make(test_pool(), f.app, both, "m", now);
    ck_assert_str_eq(v->sso_url, SSO_POST);
    ck_assert_str_eq(v->slo_url, SLO_POST);
    v = ib_idp_view_make(test_pool(), f.app, redirect_only, "m", now);
    ck_assert_str_eq(v->sso_url, SSO_REDIRECT);
    ck_assert_str_eq(v->slo_url, SLO_REDIRECT);

    f.t->sso_binding = IB_BINDING_REDIRECT;
    f.t->slo_binding = IB_SLO_REDIRECT;
    v = ib_idp_view_make(test_pool(), f.app, both, "m", now);
    ck_assert_str_eq(v->sso_url, SSO_REDIRECT);
    ck_assert_str_eq(v->slo_url, SLO_REDIRECT);
    v = ib_idp_view_make(test_pool(), f.app, post_only, "m", now);
    ck_assert_str_eq(v->sso_url, SSO_POST);
    ck_assert_str_eq(v->slo_url, SLO_POST);

    f.t->slo_binding = IB_SLO_REDIRECT_UNSIGNED;
    v = ib_idp_view_make(test_pool(), f.app, both, "m", now);
    ck_assert_str_eq(v->slo_url, SLO_REDIRECT);
    v = ib_idp_view_make(test_pool(), f.app, no_slo, "m", now);
    ck_assert_ptr_null(v->slo_url);
}
END_TEST

START_TEST(test_view_serial_is_new_per_view)
{
    app_fixture f = make_app(IDP_ID, SSO_POST, NULL, NULL);
    const ib_idp *a = ib_idp_view_make(test_pool(), f.app, NULL, "configuration", utc(NOW_TEXT));
    const ib_idp *b = ib_idp_view_make(test_pool(), f.app, NULL, "configuration", utc(NOW_TEXT));
    ck_assert(a->serial != 0 && b->serial != 0 && a->serial != b->serial);
}
END_TEST

/* ---- ib_http_get --------------------------------------------------------------------- */

/* One connection on 127.0.0.1: reads the request head, then writes the
 * canned answer (or, with answer NULL, waits for the client to hang up). */
typedef struct {
    int listener;
    int port;
    const char *answer;
    char request[4096];
    pthread_t thread;
} one_shot;

static void *serve_one(void *arg)
{
    one_shot *s = arg;
    int c = accept(s->listener, NULL, NULL);
    if (c < 0) {
        return NULL;
    }
    size_t got = 0;
    while (got < sizeof(s->request) - 1 && strstr(s->request, "\r\n\r\n") == NULL) {
        struct pollfd pfd = {c, POLLIN, 0};
        if (poll(&pfd, 1, 5000) <= 0) {
            break;
        }
        ssize_t n = read(c, s->request + got, sizeof(s->request) - 1 - got);
        if (n <= 0) {
            break;
        }
        got += (size_t)n;
        s->request[got] = '\0';
    }
    if (s->answer != NULL) {
        size_t len = strlen(s->answer), off = 0;
        while (off < len) {
            ssize_t n = write(c, s->answer + off, len - off);
            if (n <= 0) {
                break;
            }
            off += (size_t)n;
        }
        shutdown(c, SHUT_WR);
    }
    /* Until the client closes (or 5 s): an answer without a length ends
     * with the connection, and a silent server must outlive the timeout. */
    char sink[256];
    struct pollfd pfd = {c, POLLIN, 0};
    while (poll(&pfd, 1, 5000) > 0 && read(c, sink, sizeof(sink)) > 0) {
    }
    close(c);
    return NULL;
}

static int listen_local(int *port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    ck_assert_int_ge(fd, 0);
    struct sockaddr_in a;
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    ck_assert_int_eq(listen(fd, 4), 0);
    socklen_t len = sizeof(a);
    ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    *port = ntohs(a.sin_port);
    return fd;
}

static one_shot *serve(const char *answer)
{
    one_shot *s = apr_pcalloc(test_pool(), sizeof(*s));
    s->answer = answer;
    s->listener = listen_local(&s->port);
    ck_assert_int_eq(pthread_create(&s->thread, NULL, serve_one, s), 0);
    return s;
}

static void served(one_shot *s)
{
    pthread_join(s->thread, NULL);
    close(s->listener);
}

static ib_http_request http_req(const char *url, apr_size_t max_bytes)
{
    ib_http_global_init();
    ib_http_request r = {url, NULL, apr_time_from_sec(5), max_bytes, NULL, NULL};
    return r;
}

static const char *local_url(const one_shot *s)
{
    return apr_psprintf(test_pool(), "http://127.0.0.1:%d/md.xml", s->port);
}

START_TEST(test_http_get_reads_body_and_validators)
{
    one_shot *s = serve("HTTP/1.1 200 OK\r\nContent-Type: application/samlmetadata+xml\r\n"
                        "ETag: \"v1-abc\"\r\nLast-Modified: Mon, 01 Apr 2024 10:00:00 GMT\r\n"
                        "Content-Length: 11\r\nConnection: close\r\n\r\n<md>hi</md>");
    ib_http_request req = http_req(local_url(s), 1000);
    req.if_none_match = "\"v0-old\"";
    req.if_modified_since = "Sun, 31 Mar 2024 10:00:00 GMT";
    ib_http_response res;
    const char *err = ib_http_get(test_pool(), &req, &res);
    served(s);
    ck_assert_no_err(err);
    ck_assert_int_eq(res.status, 200);
    ck_assert_uint_eq(res.len, 11);
    ck_assert_str_eq(res.body, "<md>hi</md>");
    ck_assert_str_eq(res.etag, "\"v1-abc\"");
    ck_assert_str_eq(res.last_modified, "Mon, 01 Apr 2024 10:00:00 GMT");
    ck_assert_msg(strstr(s->request, "GET /md.xml HTTP/1.1\r\n") == s->request, "%s", s->request);
    ck_assert_msg(strstr(s->request, "\r\nIf-None-Match: \"v0-old\"\r\n") != NULL, "%s",
                  s->request);
    ck_assert_msg(strstr(s->request, "\r\nIf-Modified-Since: Sun, 31 Mar 2024 10:00:00 GMT\r\n")
                  != NULL, "%s", s->request);
}
END_TEST

START_TEST(test_http_get_returns_any_status_and_follows_no_redirect)
{
    /* Were the redirect followed, the closed port 1 would make it fail. */
    one_shot *s = serve("HTTP/1.1 302 Found\r\nLocation: http://127.0.0.1:1/elsewhere\r\n"
                        "Content-Length: 0\r\nConnection: close\r\n\r\n");
    ib_http_request req = http_req(local_url(s), 1000);
    ib_http_response res;
    const char *err = ib_http_get(test_pool(), &req, &res);
    served(s);
    ck_assert_no_err(err);
    ck_assert_int_eq(res.status, 302);
    ck_assert_uint_eq(res.len, 0);
    ck_assert_str_eq(res.body, "");
    ck_assert_ptr_null(res.etag);

    s = serve("HTTP/1.1 304 Not Modified\r\nETag: \"v1\"\r\nConnection: close\r\n\r\n");
    req = http_req(local_url(s), 1000);
    req.if_none_match = "\"v1\"";
    err = ib_http_get(test_pool(), &req, &res);
    served(s);
    ck_assert_no_err(err);
    ck_assert_int_eq(res.status, 304);
    ck_assert_str_eq(res.etag, "\"v1\"");
}
END_TEST

START_TEST(test_http_get_refuses_an_oversize_answer)
{
    char *body = apr_palloc(test_pool(), 3001);
    memset(body, 'x', 3000);
    body[3000] = '\0';
    /* Announced by Content-Length. */
    one_shot *s = serve(apr_pstrcat(test_pool(), "HTTP/1.1 200 OK\r\nContent-Length: 3000\r\n"
                                    "Connection: close\r\n\r\n", body, NULL));
    ib_http_request req = http_req(local_url(s), 1000);
    ib_http_response res;
    const char *err = ib_http_get(test_pool(), &req, &res);
    served(s);
    ck_assert_err_has(err, "larger than 1000 bytes");
    /* Not announced: the connection just keeps sending. */
    s = serve(apr_pstrcat(test_pool(), "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n", body, NULL));
    req = http_req(local_url(s), 1000);
    err = ib_http_get(test_pool(), &req, &res);
    served(s);
    ck_assert_err_has(err, "larger than 1000 bytes");
    /* Exactly at the cap is fine. */
    s = serve(apr_pstrcat(test_pool(), "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n",
                          body + 2000, NULL));
    req = http_req(local_url(s), 1000);
    err = ib_http_get(test_pool(), &req, &res);
    served(s);
    ck_assert_no_err(err);
    ck_assert_uint_eq(res.len, 1000);
}
END_TEST

START_TEST(test_http_get_times_out)
{
    one_shot *s = serve(NULL);
    ib_http_request req = http_req(local_url(s), 1000);
    req.timeout = apr_time_from_msec(300);
    ib_http_response res;
    apr_time_t t0 = apr_time_now();
    const char *err = ib_http_get(test_pool(), &req, &res);
    apr_time_t took = apr_time_now() - t0;
    served(s);
    ck_assert_err_has(err, "imeout");
    ck_assert_msg(took < apr_time_from_sec(3), "took %lld us", (long long)took);
}
END_TEST

START_TEST(test_http_get_connection_refused)
{
    int port;
    int fd = listen_local(&port);
    close(fd);          /* nobody listens there now */
    ib_http_request req = http_req(apr_psprintf(test_pool(), "http://127.0.0.1:%d/md.xml", port),
                                   1000);
    ib_http_response res;
    const char *err = ib_http_get(test_pool(), &req, &res);
    ck_assert_err_has(err, "onnect");
    ck_assert_int_eq(res.status, 0);
    ck_assert_ptr_null(res.body);
}
END_TEST

START_TEST(test_http_get_only_http_and_https)
{
    ib_http_response res;
    const char *urls[] = {"file:///etc/passwd", "ftp://127.0.0.1:1/md.xml",
                          "gopher://127.0.0.1:1/", "dict://127.0.0.1:1/x"};
    for (size_t i = 0; i < sizeof(urls) / sizeof(urls[0]); i++) {
        ib_http_request req = http_req(urls[i], 1000);
        const char *err = ib_http_get(test_pool(), &req, &res);
        ck_assert_msg(err != NULL, "%s was fetched", urls[i]);
        ck_assert_ptr_null(res.body);
    }
    ib_http_request req = http_req("file:///etc/passwd", 1000);
    ck_assert_err_has(ib_http_get(test_pool(), &req, &res), "nsupported protocol");
}
END_TEST

START_TEST(test_https_to_a_plain_server_fails)
{
    one_shot *s = serve("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi");
    ib_http_request req = http_req(apr_psprintf(test_pool(), "https://127.0.0.1:%d/md.xml",
                                                s->port), 1000);
    ib_http_response res;
    const char *err = ib_http_get(test_pool(), &req, &res);
    served(s);
    ck_assert_ptr_nonnull(err);
    ck_assert_ptr_null(res.body);
}
END_TEST

/* ---- suite ------------------------------------------------------------------------------ */

Suite *idp_metadata_suite(void)
{
    Suite *s = suite_create("idp_metadata");

    TCase *tc = test_tcase("accepted");
    tcase_add_test(tc, test_unsigned_document_gives_entity_endpoints_and_certs);
    tcase_add_test(tc, test_signed_document_verifies_with_the_pinned_signer);
    tcase_add_test(tc, test_signed_document_without_pinned_signer_is_read_unverified);
    tcase_add_test(tc, test_signed_aggregate_root_verifies_and_entity_id_picks);
    tcase_add_test(tc, test_byte_order_mark_and_leading_space_are_accepted);
    suite_add_tcase(s, tc);

    tc = test_tcase("signer");
    tcase_add_test(tc, test_signature_by_another_key_is_refused);
    tcase_add_test(tc, test_document_changed_after_signing_is_refused);
    tcase_add_test(tc, test_unsigned_document_with_pinned_signer_is_refused);
    tcase_add_test(tc, test_unsigned_aggregate_around_a_signed_entity_is_refused);
    tcase_add_test(tc, test_root_signature_over_an_inner_entity_is_refused);
    tcase_add_test(tc, test_signature_on_a_child_element_is_refused);
    tcase_add_test(tc, test_root_signature_referencing_a_child_is_refused);
    tcase_add_test(tc, test_root_signature_over_the_whole_document_uri_is_refused);
    tcase_add_test(tc, test_signed_original_hidden_under_a_changed_root_is_refused);
    tcase_add_test(tc, test_two_signatures_on_the_root_are_refused);
    tcase_add_test(tc, test_sha1_digest_or_method_is_refused);
    suite_add_tcase(s, tc);

    tc = test_tcase("document");
    tcase_add_test(tc, test_doctype_and_entity_declarations_are_refused);
    tcase_add_test(tc, test_non_xml_empty_and_oversize_are_refused);
    tcase_add_test(tc, test_non_utf8_documents_are_refused);
    tcase_add_test(tc, test_wrong_root_is_refused);
    suite_add_tcase(s, tc);

    tc = test_tcase("entity");
    tcase_add_test(tc, test_aggregate_with_two_idps_needs_an_entity_id);
    tcase_add_test(tc, test_entity_id_selects_the_right_idp);
    tcase_add_test(tc, test_entity_id_absent_is_named_in_the_error);
    tcase_add_test(tc, test_only_saml2_idp_roles_count);
    tcase_add_test(tc, test_nested_aggregates_are_searched);
    tcase_add_test(tc, test_idp_without_entity_id_is_refused);
    suite_add_tcase(s, tc);

    tc = test_tcase("certs_endpoints");
    tcase_add_test(tc, test_no_signing_certificate_is_refused);
    tcase_add_test(tc, test_encryption_keys_are_ignored_and_certs_deduplicated);
    tcase_add_test(tc, test_bad_base64_certificate_is_refused);
    tcase_add_test(tc, test_sso_only_redirect_or_only_post);
    tcase_add_test(tc, test_no_usable_sso_endpoint_is_refused);
    tcase_add_test(tc, test_first_endpoint_per_binding_wins);
    tcase_add_test(tc, test_plain_http_endpoint_is_refused_except_loopback);
    suite_add_tcase(s, tc);

    tc = test_tcase("lifetime");
    tcase_add_test(tc, test_valid_until_in_the_past_with_and_without_enforcement);
    tcase_add_test(tc, test_lifetime_is_the_stricter_of_root_and_entity);
    tcase_add_test(tc, test_lifetime_of_an_intermediate_group_counts);
    tcase_add_test(tc, test_bad_lifetime_attributes_are_refused);
    tcase_add_test(tc, test_refresh_delay_after_success);
    tcase_add_test(tc, test_refresh_delay_is_clamped);
    tcase_add_test(tc, test_refresh_delay_backs_off_on_failures);
    tcase_add_test(tc, test_duration_valid);
    tcase_add_test(tc, test_duration_invalid);
    suite_add_tcase(s, tc);

    tc = test_tcase("view");
    tcase_add_test(tc, test_view_without_metadata_is_the_pinned_values);
    tcase_add_test(tc, test_view_pinned_values_win_over_metadata);
    tcase_add_test(tc, test_view_certs_are_the_union_pinned_first);
    tcase_add_test(tc, test_view_endpoint_follows_the_tenant_binding);
    tcase_add_test(tc, test_view_serial_is_new_per_view);
    suite_add_tcase(s, tc);

    tc = test_tcase("http");
    tcase_add_test(tc, test_http_get_reads_body_and_validators);
    tcase_add_test(tc, test_http_get_returns_any_status_and_follows_no_redirect);
    tcase_add_test(tc, test_http_get_refuses_an_oversize_answer);
    tcase_add_test(tc, test_http_get_times_out);
    tcase_add_test(tc, test_http_get_connection_refused);
    tcase_add_test(tc, test_http_get_only_http_and_https);
    tcase_add_test(tc, test_https_to_a_plain_server_fails);
    suite_add_tcase(s, tc);

    return s;
}
