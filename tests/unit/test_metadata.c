/* ib_metadata: the SP metadata document, read back with libxml2 + XPath. */
#include <string.h>
#include <time.h>

#include <apr_strings.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/xpath.h>
#include <libxml/xpathInternals.h>

#include "core/ib_clock.h"
#include "core/ib_conf.h"
#include "core/ib_metadata.h"
#include "test_support.h"

#define LONG_AGO utc("2000-01-01T00:00:00Z")
#define FAR_AHEAD utc("2099-01-01T00:00:00Z")
#define SWITCH_TEXT "2030-06-01T00:00:00Z"
#define SWITCH utc(SWITCH_TEXT)
#define DAY apr_time_from_sec(86400)

#define GUID_A "67338f11-4996-4980-8339-535f76d0c8fb"
#define GUID_B "45880cf0-939f-4808-91b4-3348831d99b0"

#define NS_MD "urn:oasis:names:tc:SAML:2.0:metadata"
#define NS_DS "http://www.w3.org/2000/09/xmldsig#"
#define POST "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"
#define REDIRECT "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect"

#define SPSSO "/md:EntityDescriptor/md:SPSSODescriptor"

/* ---- building an app through ib_conf ------------------------------------ */

typedef struct {
    const char *base;             /* primary SP base URL; default https://saml.example.com */
    const char *guid;             /* primary scope GUID, or NULL */
    const char *custom_base;      /* adds a custom-domain app when set */
    const char *custom_guid;
    const char *sign_requests;    /* On/Off, or NULL for the default */
    const char *response_signing; /* or NULL for the default */
    int rotation;                 /* adds "next", activating at SWITCH */
} app_opts;

static ib_tenant *build_tenant(const app_opts *o)
{
    const char *dir = fresh_dir();
    write_keypair_slot(dir, "old", "rsa2048", 0, LONG_AGO, FAR_AHEAD);
    write_keypair_slot(dir, "next", "rsa2048", 1, LONG_AGO, FAR_AHEAD);
    ib_registry *reg = ib_registry_make(test_pool());
    ib_conf_ctx ctx;
    ib_conf_init(&ctx, test_pool(), reg);

    ck_assert_no_err(ib_conf_begin_tenant(&ctx, "acme"));
    ck_assert_no_err(conf_dir(&ctx, "IdBrokerSignInID", "acme", NULL));
    ck_assert_no_err(conf_dir(&ctx, "IdBrokerSPKey", path_in(dir, "old.key"),
                              path_in(dir, "old.crt"), NULL));
    if (o->rotation) {
        ck_assert_no_err(conf_dir(&ctx, "IdBrokerSPKey", path_in(dir, "next.key"),
                                  path_in(dir, "next.crt"), "activate-at=" SWITCH_TEXT, NULL));
    }
    if (o->sign_requests != NULL) {
        ck_assert_no_err(conf_dir(&ctx, "IdBrokerSignRequests", o->sign_requests, NULL));
    }
    if (o->response_signing != NULL) {
        ck_assert_no_err(conf_dir(&ctx, "IdBrokerResponseSigning", o->response_signing, NULL));
    }
    ck_assert_no_err(ib_conf_begin_app(&ctx, "primary"));
    ck_assert_no_err(conf_dir(&ctx, "IdBrokerSPBaseURL",
                              o->base ? o->base : "https://saml.example.com", NULL));
    if (o->guid != NULL) {
        ck_assert_no_err(conf_dir(&ctx, "IdBrokerSPEntityScope", o->guid, NULL));
    }
    ck_assert_no_err(ib_conf_end_app(&ctx));
    if (o->custom_base != NULL) {
        ck_assert_no_err(ib_conf_begin_app(&ctx, "custom-domain"));
        ck_assert_no_err(conf_dir(&ctx, "IdBrokerSPBaseURL", o->custom_base, NULL));
        if (o->custom_guid != NULL) {
            ck_assert_no_err(conf_dir(&ctx, "IdBrokerSPEntityScope", o->custom_guid, NULL));
        }
        ck_assert_no_err(ib_conf_end_app(&ctx));
    }
    ck_assert_no_err(ib_conf_end_tenant(&ctx));
    ib_tenant *t = apr_hash_get(reg->by_name, "acme", APR_HASH_KEY_STRING);
    ck_assert_ptr_nonnull(t);
    return t;
}

static const ib_app *build_app(const app_opts *o)
{
    return build_tenant(o)->primary;
}

static const ib_sp_key *tenant_key(const ib_app *app, int i)
{
    ck_assert_int_gt(app->sp_keys->nelts, i);
    return APR_ARRAY_IDX(app->sp_keys, i, const ib_sp_key *);
}

/* ---- XML and XPath -------------------------------------------------------- */

static apr_status_t free_doc(void *doc)
{
    xmlFreeDoc(doc);
    return APR_SUCCESS;
}

static const char *metadata_text(const ib_app *app, apr_time_t now, apr_size_t *len)
{
    const char *xml = NULL;
    apr_size_t n = 0;
    ck_assert_no_err(ib_metadata_sp_xml(test_pool(), app, now, &xml, &n));
    ck_assert_ptr_nonnull(xml);
    ck_assert_uint_eq(strlen(xml), n);
    if (len != NULL) {
        *len = n;
    }
    return xml;
}

static xmlDocPtr metadata_doc(const ib_app *app, apr_time_t now)
{
    apr_size_t n;
    const char *xml = metadata_text(app, now, &n);
    xmlDocPtr doc = xmlReadMemory(xml, (int)n, "metadata.xml", NULL,
                                  XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
    ck_assert_msg(doc != NULL, "metadata is not well-formed XML:\n%s", xml);
    apr_pool_cleanup_register(test_pool(), doc, free_doc, apr_pool_cleanup_null);
    return doc;
}

/* Evaluates an XPath 1.0 expression with md: and ds: bound. */
static xmlXPathObjectPtr xp_eval(xmlDocPtr doc, const char *expr)
{
    xmlXPathContextPtr xc = xmlXPathNewContext(doc);
    ck_assert_ptr_nonnull(xc);
    xmlXPathRegisterNs(xc, BAD_CAST "md", BAD_CAST NS_MD);
    xmlXPathRegisterNs(xc, BAD_CAST "ds", BAD_CAST NS_DS);
    xmlXPathObjectPtr r = xmlXPathEvalExpression(BAD_CAST expr, xc);
    xmlXPathFreeContext(xc);
    ck_assert_msg(r != NULL, "bad XPath: %s", expr);
    return r;
}

static int xp_count(xmlDocPtr doc, const char *expr)
{
    xmlXPathObjectPtr r = xp_eval(doc, apr_psprintf(test_pool(), "count(%s)", expr));
    int n = (int)r->floatval;
    xmlXPathFreeObject(r);
    return n;
}

static const char *xp_string(xmlDocPtr doc, const char *expr)
{
    xmlXPathObjectPtr r = xp_eval(doc, apr_psprintf(test_pool(), "string(%s)", expr));
    const char *s = apr_pstrdup(test_pool(), (const char *)r->stringval);
    xmlXPathFreeObject(r);
    return s;
}

/* ---- document shape ------------------------------------------------------- */

START_TEST(test_metadata_is_one_entity_descriptor_with_one_spsso_descriptor)
{
    xmlDocPtr doc = metadata_doc(build_app(&(app_opts){0}), SWITCH);
    xmlNodePtr root = xmlDocGetRootElement(doc);
    ck_assert_str_eq((const char *)root->name, "EntityDescriptor");
    ck_assert_str_eq((const char *)root->ns->href, NS_MD);
    ck_assert_int_eq(xp_count(doc, "/md:EntityDescriptor"), 1);
    ck_assert_int_eq(xp_count(doc, SPSSO), 1);
    ck_assert_str_eq(xp_string(doc, SPSSO "/@protocolSupportEnumeration"),
                     "urn:oasis:names:tc:SAML:2.0:protocol");
}
END_TEST

START_TEST(test_metadata_starts_with_utf8_xml_declaration)
{
    const char *xml = metadata_text(build_app(&(app_opts){0}), SWITCH, NULL);
    ck_assert_int_eq(strncmp(xml, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>", 38), 0);
}
END_TEST

START_TEST(test_metadata_children_follow_schema_order)
{
    xmlDocPtr doc = metadata_doc(build_app(&(app_opts){.rotation = 1}), SWITCH - DAY);
    static const char *const want[] = {
        "KeyDescriptor", "KeyDescriptor", "SingleLogoutService", "SingleLogoutService",
        "NameIDFormat", "AssertionConsumerService",
    };
    size_t i = 0;
    xmlNodePtr sp = xmlFirstElementChild(xmlDocGetRootElement(doc));
    for (xmlNodePtr c = xmlFirstElementChild(sp); c != NULL; c = xmlNextElementSibling(c)) {
        ck_assert_uint_lt(i, sizeof(want) / sizeof(want[0]));
        ck_assert_str_eq((const char *)c->name, want[i]);
        i++;
    }
    ck_assert_uint_eq(i, sizeof(want) / sizeof(want[0]));
}
END_TEST

START_TEST(test_metadata_entity_id_is_generic_origin)
{
    xmlDocPtr doc = metadata_doc(build_app(&(app_opts){.base = "https://saml.example.com/sso"}),
                                 SWITCH);
    ck_assert_str_eq(xp_string(doc, "/md:EntityDescriptor/@entityID"),
                     "https://saml.example.com");
}
END_TEST

START_TEST(test_metadata_entity_id_of_scoped_app_ends_with_guid)
{
    xmlDocPtr doc = metadata_doc(build_app(&(app_opts){.guid = GUID_A}), SWITCH);
    ck_assert_str_eq(xp_string(doc, "/md:EntityDescriptor/@entityID"),
                     "https://saml.example.com/" GUID_A);
}
END_TEST

START_TEST(test_metadata_descriptor_id_is_stable_and_starts_with_underscore)
{
    const ib_app *app = build_app(&(app_opts){.guid = GUID_A});
    xmlDocPtr doc = metadata_doc(app, SWITCH);
    const char *id = xp_string(doc, SPSSO "/@ID");
    ck_assert_int_eq(id[0], '_');
    ck_assert_uint_gt(strlen(id), 1);
    ck_assert_str_eq(id, app->metadata_id);
    ck_assert_str_eq(xp_string(metadata_doc(app, SWITCH + 30 * DAY), SPSSO "/@ID"), id);
}
END_TEST

START_TEST(test_metadata_nameid_format_is_unspecified)
{
    xmlDocPtr doc = metadata_doc(build_app(&(app_opts){0}), SWITCH);
    ck_assert_int_eq(xp_count(doc, SPSSO "/md:NameIDFormat"), 1);
    ck_assert_str_eq(xp_string(doc, SPSSO "/md:NameIDFormat"),
                     "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified");
}
END_TEST

/* ---- keys ------------------------------------------------------------------ */

START_TEST(test_metadata_has_one_signing_key_descriptor_normally)
{
    xmlDocPtr doc = metadata_doc(build_app(&(app_opts){0}), SWITCH);
    ck_assert_int_eq(xp_count(doc, SPSSO "/md:KeyDescriptor"), 1);
    ck_assert_int_eq(xp_count(doc, SPSSO "/md:KeyDescriptor[@use='signing']"), 1);
}
END_TEST

START_TEST(test_metadata_x509_certificate_is_cert_der_b64)
{
    const ib_app *app = build_app(&(app_opts){0});
    xmlDocPtr doc = metadata_doc(app, SWITCH);
    const char *text = xp_string(doc, SPSSO "/md:KeyDescriptor/ds:KeyInfo/ds:X509Data/"
                                      "ds:X509Certificate");
    ck_assert_uint_gt(strlen(text), 100);
    ck_assert_str_eq(text, tenant_key(app, 0)->cert->der_b64);
}
END_TEST

START_TEST(test_metadata_advertises_next_key_before_activation)
{
    const ib_app *app = build_app(&(app_opts){.rotation = 1});
    xmlDocPtr doc = metadata_doc(app, SWITCH - DAY);
    ck_assert_int_eq(xp_count(doc, SPSSO "/md:KeyDescriptor[@use='signing']"), 2);
    ck_assert_str_eq(xp_string(doc, SPSSO "/md:KeyDescriptor[1]//ds:X509Certificate"),
                     tenant_key(app, 0)->cert->der_b64);
    ck_assert_str_eq(xp_string(doc, SPSSO "/md:KeyDescriptor[2]//ds:X509Certificate"),
                     tenant_key(app, 1)->cert->der_b64);
}
END_TEST

START_TEST(test_metadata_publishes_only_new_key_from_activation_instant)
{
    const ib_app *app = build_app(&(app_opts){.rotation = 1});
    xmlDocPtr doc = metadata_doc(app, SWITCH);
    ck_assert_int_eq(xp_count(doc, SPSSO "/md:KeyDescriptor"), 1);
    ck_assert_str_eq(xp_string(doc, SPSSO "/md:KeyDescriptor//ds:X509Certificate"),
                     tenant_key(app, 1)->cert->der_b64);
    xmlDocPtr later = metadata_doc(app, SWITCH + 30 * DAY);
    ck_assert_int_eq(xp_count(later, SPSSO "/md:KeyDescriptor"), 1);
}
END_TEST

START_TEST(test_metadata_key_rotation_follows_pinned_clock)
{
    const ib_app *app = build_app(&(app_opts){.rotation = 1});
    ib_clock_pin(SWITCH - 1);
    ck_assert_int_eq(xp_count(metadata_doc(app, ib_now()), SPSSO "/md:KeyDescriptor"), 2);
    ib_clock_pin(SWITCH);
    ck_assert_int_eq(xp_count(metadata_doc(app, ib_now()), SPSSO "/md:KeyDescriptor"), 1);
}
END_TEST

START_TEST(test_metadata_key_descriptors_are_distinct_certificates)
{
    xmlDocPtr doc = metadata_doc(build_app(&(app_opts){.rotation = 1}), SWITCH - DAY);
    ck_assert_str_ne(xp_string(doc, SPSSO "/md:KeyDescriptor[1]//ds:X509Certificate"),
                     xp_string(doc, SPSSO "/md:KeyDescriptor[2]//ds:X509Certificate"));
}
END_TEST

/* ---- endpoints ------------------------------------------------------------- */

START_TEST(test_metadata_acs_is_post_below_base_url_index_0_default)
{
    xmlDocPtr doc = metadata_doc(build_app(&(app_opts){.base = "https://saml.example.com/sso/"}),
                                 SWITCH);
    ck_assert_int_eq(xp_count(doc, SPSSO "/md:AssertionConsumerService"), 1);
    ck_assert_str_eq(xp_string(doc, SPSSO "/md:AssertionConsumerService/@Location"),
                     "https://saml.example.com/sso/saml/acs");
    ck_assert_str_eq(xp_string(doc, SPSSO "/md:AssertionConsumerService/@Binding"), POST);
    ck_assert_str_eq(xp_string(doc, SPSSO "/md:AssertionConsumerService/@index"), "0");
    ck_assert_str_eq(xp_string(doc, SPSSO "/md:AssertionConsumerService/@isDefault"), "true");
}
END_TEST

START_TEST(test_metadata_has_post_and_redirect_logout_endpoints)
{
    xmlDocPtr doc = metadata_doc(build_app(&(app_opts){.base = "https://saml.example.com:8443"}),
                                 SWITCH);
    const char *slo = "https://saml.example.com:8443/saml/logout/callback";
    ck_assert_int_eq(xp_count(doc, SPSSO "/md:SingleLogoutService"), 2);
    ck_assert_int_eq(xp_count(doc, SPSSO "/md:SingleLogoutService[@Binding='" POST "']"), 1);
    ck_assert_int_eq(xp_count(doc, SPSSO "/md:SingleLogoutService[@Binding='" REDIRECT "']"),
                     1);
    for (int i = 1; i <= 2; i++) {
        ck_assert_str_eq(xp_string(doc, apr_psprintf(test_pool(), SPSSO
                                                     "/md:SingleLogoutService[%d]/@Location",
                                                     i)), slo);
        ck_assert_str_eq(xp_string(doc, apr_psprintf(test_pool(), SPSSO
                                                     "/md:SingleLogoutService[%d]/"
                                                     "@ResponseLocation", i)), slo);
    }
}
END_TEST

START_TEST(test_metadata_endpoints_of_scoped_app_carry_no_guid)
{
    ib_tenant *t = build_tenant(&(app_opts){.guid = GUID_A,
                                            .custom_base = "https://login.acme.example",
                                            .custom_guid = GUID_B});
    const ib_app *apps[] = {t->primary, t->custom_domain};
    const char *guids[] = {GUID_A, GUID_B};
    for (int i = 0; i < 2; i++) {
        xmlDocPtr doc = metadata_doc(apps[i], SWITCH);
        /* the entity ID does carry it, so the check below is meaningful */
        ck_assert_ptr_nonnull(strstr(xp_string(doc, "/md:EntityDescriptor/@entityID"),
                                     guids[i]));
        ck_assert_int_eq(xp_count(doc, "//@Location"), 3);
        ck_assert_int_eq(xp_count(doc, "//@ResponseLocation"), 2);
        ck_assert_int_eq(xp_count(doc, "//@Location[contains(., '" GUID_A "')]"), 0);
        ck_assert_int_eq(xp_count(doc, "//@Location[contains(., '" GUID_B "')]"), 0);
        ck_assert_int_eq(xp_count(doc, "//@ResponseLocation[contains(., '" GUID_A "')]"), 0);
        ck_assert_int_eq(xp_count(doc, "//@ResponseLocation[contains(., '" GUID_B "')]"), 0);
    }
}
END_TEST

START_TEST(test_metadata_of_custom_domain_uses_its_own_base_url)
{
    ib_tenant *t = build_tenant(&(app_opts){.guid = GUID_A,
                                            .custom_base = "https://login.acme.example:8443/sso",
                                            .custom_guid = GUID_B});
    xmlDocPtr doc = metadata_doc(t->custom_domain, SWITCH);
    ck_assert_str_eq(xp_string(doc, "/md:EntityDescriptor/@entityID"),
                     "https://saml.example.com/" GUID_B);
    ck_assert_str_eq(xp_string(doc, SPSSO "/md:AssertionConsumerService/@Location"),
                     "https://login.acme.example:8443/sso/saml/acs");
    ck_assert_str_eq(xp_string(doc, SPSSO "/md:SingleLogoutService[1]/@Location"),
                     "https://login.acme.example:8443/sso/saml/logout/callback");
}
END_TEST

/* ---- signing flags --------------------------------------------------------- */

START_TEST(test_metadata_authn_requests_signed_by_default)
{
    xmlDocPtr doc = metadata_doc(build_app(&(app_opts){0}), SWITCH);
    ck_assert_str_eq(xp_string(doc, SPSSO "/@AuthnRequestsSigned"), "true");
}
END_TEST

START_TEST(test_metadata_authn_requests_unsigned_when_sign_requests_off)
{
    xmlDocPtr doc = metadata_doc(build_app(&(app_opts){.sign_requests = "Off"}), SWITCH);
    ck_assert_str_eq(xp_string(doc, SPSSO "/@AuthnRequestsSigned"), "false");
}
END_TEST

START_TEST(test_metadata_wants_assertions_signed_for_assertion_and_both)
{
    static const char *const policies[] = {"assertion", "both"};
    for (size_t i = 0; i < 2; i++) {
        xmlDocPtr doc = metadata_doc(build_app(&(app_opts){.response_signing = policies[i]}),
                                     SWITCH);
        ck_assert_msg(strcmp(xp_string(doc, SPSSO "/@WantAssertionsSigned"), "true") == 0,
                      "WantAssertionsSigned is not true for '%s'", policies[i]);
    }
}
END_TEST

START_TEST(test_metadata_does_not_want_assertions_signed_for_either_and_response)
{
    static const char *const policies[] = {NULL, "either", "response"};
    for (size_t i = 0; i < 3; i++) {
        xmlDocPtr doc = metadata_doc(build_app(&(app_opts){.response_signing = policies[i]}),
                                     SWITCH);
        ck_assert_msg(strcmp(xp_string(doc, SPSSO "/@WantAssertionsSigned"), "false") == 0,
                      "WantAssertionsSigned is not false for '%s'",
                      policies[i] ? policies[i] : "(default)");
    }
}
END_TEST

/* ---- determinism ----------------------------------------------------------- */

START_TEST(test_metadata_is_byte_identical_for_same_instant)
{
    const ib_app *app = build_app(&(app_opts){.guid = GUID_A, .rotation = 1});
    apr_size_t n1, n2;
    const char *a = metadata_text(app, SWITCH - DAY, &n1);
    const char *b = metadata_text(app, SWITCH - DAY, &n2);
    ck_assert_uint_eq(n1, n2);
    ck_assert_int_eq(memcmp(a, b, n1), 0);
}
END_TEST

START_TEST(test_metadata_changes_when_published_keys_change)
{
    const ib_app *app = build_app(&(app_opts){.rotation = 1});
    const char *before = metadata_text(app, SWITCH - DAY, NULL);
    const char *after = metadata_text(app, SWITCH, NULL);
    ck_assert_str_ne(before, after);
}
END_TEST

START_TEST(test_metadata_without_active_key_publishes_no_key)
{
    const char *dir = fresh_dir();
    write_keypair(dir, "dead", "rsa2048", LONG_AGO, utc("2010-01-01T00:00:00Z"));
    ib_registry *reg = ib_registry_make(test_pool());
    ib_conf_ctx ctx;
    ib_conf_init(&ctx, test_pool(), reg);
    ck_assert_no_err(ib_conf_begin_tenant(&ctx, "acme"));
    ck_assert_no_err(conf_dir(&ctx, "IdBrokerSignInID", "acme", NULL));
    ck_assert_no_err(conf_dir(&ctx, "IdBrokerSPKey", path_in(dir, "dead.key"),
                              path_in(dir, "dead.crt"), NULL));
    ck_assert_no_err(ib_conf_begin_app(&ctx, "primary"));
    ck_assert_no_err(conf_dir(&ctx, "IdBrokerSPBaseURL", "https://saml.example.com", NULL));
    ck_assert_no_err(ib_conf_end_app(&ctx));
    ck_assert_no_err(ib_conf_end_tenant(&ctx));
    ib_tenant *t = apr_hash_get(reg->by_name, "acme", APR_HASH_KEY_STRING);
    xmlDocPtr doc = metadata_doc(t->primary, SWITCH);
    ck_assert_int_eq(xp_count(doc, SPSSO "/md:KeyDescriptor"), 0);
    ck_assert_int_eq(xp_count(doc, SPSSO "/md:AssertionConsumerService"), 1);
}
END_TEST

Suite *metadata_suite(void)
{
    Suite *s = suite_create("metadata");

    TCase *tc = test_tcase("shape");
    tcase_add_test(tc, test_metadata_is_one_entity_descriptor_with_one_spsso_descriptor);
    tcase_add_test(tc, test_metadata_starts_with_utf8_xml_declaration);
    tcase_add_test(tc, test_metadata_children_follow_schema_order);
    tcase_add_test(tc, test_metadata_entity_id_is_generic_origin);
    tcase_add_test(tc, test_metadata_entity_id_of_scoped_app_ends_with_guid);
    tcase_add_test(tc, test_metadata_descriptor_id_is_stable_and_starts_with_underscore);
    tcase_add_test(tc, test_metadata_nameid_format_is_unspecified);
    suite_add_tcase(s, tc);

    tc = test_tcase("keys");
    tcase_add_test(tc, test_metadata_has_one_signing_key_descriptor_normally);
    tcase_add_test(tc, test_metadata_x509_certificate_is_cert_der_b64);
    tcase_add_test(tc, test_metadata_advertises_next_key_before_activation);
    tcase_add_test(tc, test_metadata_publishes_only_new_key_from_activation_instant);
    tcase_add_test(tc, test_metadata_key_rotation_follows_pinned_clock);
    tcase_add_test(tc, test_metadata_key_descriptors_are_distinct_certificates);
    tcase_add_test(tc, test_metadata_without_active_key_publishes_no_key);
    suite_add_tcase(s, tc);

    tc = test_tcase("endpoints");
    tcase_add_test(tc, test_metadata_acs_is_post_below_base_url_index_0_default);
    tcase_add_test(tc, test_metadata_has_post_and_redirect_logout_endpoints);
    tcase_add_test(tc, test_metadata_endpoints_of_scoped_app_carry_no_guid);
    tcase_add_test(tc, test_metadata_of_custom_domain_uses_its_own_base_url);
    suite_add_tcase(s, tc);

    tc = test_tcase("flags");
    tcase_add_test(tc, test_metadata_authn_requests_signed_by_default);
    tcase_add_test(tc, test_metadata_authn_requests_unsigned_when_sign_requests_off);
    tcase_add_test(tc, test_metadata_wants_assertions_signed_for_assertion_and_both);
    tcase_add_test(tc, test_metadata_does_not_want_assertions_signed_for_either_and_response);
    suite_add_tcase(s, tc);

    tc = test_tcase("determinism");
    tcase_add_test(tc, test_metadata_is_byte_identical_for_same_instant);
    tcase_add_test(tc, test_metadata_changes_when_published_keys_change);
    suite_add_tcase(s, tc);
    return s;
}
