/* ib_conf (directives, sections, finalisation), ib_tenant (the registry and
 * request routing) and ib_conf_read_file (the CLI's tenant file reader). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h> /* before ib_clock.h, which uses struct tm without including it */
#include <sys/stat.h>
#include <unistd.h>

#include <apr_strings.h>

#include "core/ib_clock.h"
#include "core/ib_conf.h"
#include "core/ib_tenant.h"
#include "test_support.h"

#define LONG_AGO utc("2000-01-01T00:00:00Z")
#define FAR_AHEAD utc("2099-01-01T00:00:00Z")

#define GUID_A "67338f11-4996-4980-8339-535f76d0c8fb"
#define GUID_B "45880cf0-939f-4808-91b4-3348831d99b0"
#define GUID_C "99320fce-9f78-4461-95a9-3f49b69f0bb4"

#define BASE "https://saml.example.com"
#define CUSTOM_BASE "https://login.acme.example:8443/sso"

/* Per-test state, set up by conf_setup. */
static ib_registry *reg;
static ib_conf_ctx ctx;
static const char *kdir;              /* sp.key/sp.crt, sp2.*, idp.crt */
static apr_array_header_t *warnings;  /* const char * */

static void capture_warning(ib_conf_ctx *c, const char *message)
{
    (void)c;
    APR_ARRAY_PUSH(warnings, const char *) = apr_pstrdup(test_pool(), message);
}

static void conf_setup(void)
{
    kdir = fresh_dir();
    write_keypair_slot(kdir, "sp", "rsa2048", 0, LONG_AGO, FAR_AHEAD);
    write_keypair_slot(kdir, "sp2", "rsa2048", 1, LONG_AGO, FAR_AHEAD);
    write_keypair_slot(kdir, "idp", "rsa2048", 2, LONG_AGO, FAR_AHEAD);
    reg = ib_registry_make(test_pool());
    ib_conf_init(&ctx, test_pool(), reg);
    ctx.warn = capture_warning;
    warnings = apr_array_make(test_pool(), 4, sizeof(const char *));
}

static const char *K(const char *name)
{
    return path_in(kdir, name);
}

static int warned(const char *needle)
{
    for (int i = 0; i < warnings->nelts; i++) {
        if (strstr(APR_ARRAY_IDX(warnings, i, const char *), needle) != NULL) {
            return 1;
        }
    }
    return 0;
}

/* ---- building blocks for the direct API ---------------------------------- */

static void begin_tenant(const char *name, const char *signin_id)
{
    ck_assert_no_err(ib_conf_begin_tenant(&ctx, name));
    if (signin_id != NULL) {
        ck_assert_no_err(conf_dir(&ctx, "IdBrokerSignInID", signin_id, NULL));
    }
}

static void add_tenant_key(void)
{
    ck_assert_no_err(conf_dir(&ctx, "IdBrokerSPKey", K("sp.key"), K("sp.crt"), NULL));
}

static void add_idp(void)
{
    ck_assert_no_err(conf_dir(&ctx, "IdBrokerIdPEntityID", "https://idp.acme.example/", NULL));
    ck_assert_no_err(conf_dir(&ctx, "IdBrokerIdPSSOURL", "https://idp.acme.example/sso", NULL));
    ck_assert_no_err(conf_dir(&ctx, "IdBrokerIdPCert", K("idp.crt"), NULL));
}

/* An app section with a base URL and optionally a scope GUID, closed. */
static void add_app(const char *kind, const char *base, const char *guid)
{
    ck_assert_no_err(ib_conf_begin_app(&ctx, kind));
    ck_assert_no_err(conf_dir(&ctx, "IdBrokerSPBaseURL", base, NULL));
    if (guid != NULL) {
        ck_assert_no_err(conf_dir(&ctx, "IdBrokerSPEntityScope", guid, NULL));
    }
    ck_assert_no_err(ib_conf_end_app(&ctx));
}

/* A complete tenant with a tenant-level key and one primary app. */
static ib_tenant *simple_tenant(const char *name, const char *signin_id,
                                const char *base, const char *guid)
{
    begin_tenant(name, signin_id);
    add_tenant_key();
    add_app("primary", base, guid);
    ck_assert_no_err(ib_conf_end_tenant(&ctx));
    ib_tenant *t = apr_hash_get(reg->by_name, name, APR_HASH_KEY_STRING);
    ck_assert_ptr_nonnull(t);
    return t;
}

/* Opens tenant "acme" with sign-in ID and key, and a primary app with a base
 * URL, left open for the directive under test. */
static void open_primary_app(void)
{
    begin_tenant("acme", "acme");
    add_tenant_key();
    ck_assert_no_err(ib_conf_begin_app(&ctx, "primary"));
    ck_assert_no_err(conf_dir(&ctx, "IdBrokerSPBaseURL", BASE, NULL));
}

/* ---- a valid tenant in the registry -------------------------------------- */

/* acme: primary on BASE scoped GUID_A with an IdP, custom-domain on
 * CUSTOM_BASE scoped GUID_B; sign-in ID written in mixed case. */
static ib_tenant *acme_with_custom_domain(void)
{
    begin_tenant("acme", "AcMe-Corp");
    add_tenant_key();
    ck_assert_no_err(ib_conf_begin_app(&ctx, "primary"));
    ck_assert_no_err(conf_dir(&ctx, "IdBrokerSPBaseURL", BASE "/", NULL));
    ck_assert_no_err(conf_dir(&ctx, "IdBrokerSPEntityScope", GUID_A, NULL));
    add_idp();
    ck_assert_no_err(ib_conf_end_app(&ctx));
    add_app("custom-domain", CUSTOM_BASE, GUID_B);
    ck_assert_no_err(ib_conf_end_tenant(&ctx));
    ib_tenant *t = apr_hash_get(reg->by_name, "acme", APR_HASH_KEY_STRING);
    ck_assert_ptr_nonnull(t);
    return t;
}

START_TEST(test_valid_tenant_is_registered_by_name)
{
    ib_tenant *t = acme_with_custom_domain();
    ck_assert_str_eq(t->name, "acme");
    ck_assert_int_eq(reg->tenants->nelts, 1);
    ck_assert_ptr_eq(APR_ARRAY_IDX(reg->tenants, 0, ib_tenant *), t);
    ck_assert_ptr_nonnull(t->primary);
    ck_assert_ptr_nonnull(t->custom_domain);
    ck_assert_str_eq(t->primary->kind, IB_APP_PRIMARY);
    ck_assert_str_eq(t->custom_domain->kind, IB_APP_CUSTOM_DOMAIN);
    ck_assert_ptr_eq(t->primary->tenant, t);
    ck_assert_int_eq(reg->apps->nelts, 2);
    ck_assert_ptr_eq(APR_ARRAY_IDX(reg->apps, 0, ib_app *), t->primary);
    ck_assert_ptr_eq(APR_ARRAY_IDX(reg->apps, 1, ib_app *), t->custom_domain);
}
END_TEST

START_TEST(test_signin_id_is_registered_lowercase)
{
    ib_tenant *t = acme_with_custom_domain();
    ck_assert_str_eq(t->signin_id, "acme-corp");
    ck_assert_ptr_eq(apr_hash_get(reg->by_signin_id, "acme-corp", APR_HASH_KEY_STRING), t);
    ck_assert_ptr_null(apr_hash_get(reg->by_signin_id, "AcMe-Corp", APR_HASH_KEY_STRING));
}
END_TEST

START_TEST(test_scoped_apps_are_registered_by_guid)
{
    ib_tenant *t = acme_with_custom_domain();
    ck_assert_ptr_eq(apr_hash_get(reg->by_guid, GUID_A, APR_HASH_KEY_STRING), t->primary);
    ck_assert_ptr_eq(apr_hash_get(reg->by_guid, GUID_B, APR_HASH_KEY_STRING),
                     t->custom_domain);
    ck_assert_int_eq(apr_hash_count(reg->by_guid), 2);
}
END_TEST

START_TEST(test_generic_app_is_not_registered_by_guid)
{
    ib_tenant *t = simple_tenant("acme", "acme", BASE, NULL);
    ck_assert_ptr_null(t->primary->scope_guid);
    ck_assert_int_eq(apr_hash_count(reg->by_guid), 0);
}
END_TEST

START_TEST(test_apps_are_found_by_lowercase_host)
{
    ib_tenant *t = acme_with_custom_domain();
    const apr_array_header_t *on_primary = ib_registry_apps_on_host(reg, "saml.example.com");
    ck_assert_ptr_nonnull(on_primary);
    ck_assert_int_eq(on_primary->nelts, 1);
    ck_assert_ptr_eq(APR_ARRAY_IDX(on_primary, 0, const ib_app *), t->primary);
    const apr_array_header_t *on_custom = ib_registry_apps_on_host(reg, "login.acme.example");
    ck_assert_ptr_nonnull(on_custom);
    ck_assert_int_eq(on_custom->nelts, 1);
    ck_assert_ptr_eq(APR_ARRAY_IDX(on_custom, 0, const ib_app *), t->custom_domain);
    ck_assert_ptr_null(ib_registry_apps_on_host(reg, "other.example.com"));
    ck_assert_ptr_null(ib_registry_apps_on_host(reg, NULL));
}
END_TEST

START_TEST(test_app_for_path_on_default_port_accepts_port_zero)
{
    ib_tenant *t = acme_with_custom_domain();
    const apr_array_header_t *apps = ib_registry_apps_on_host(reg, "saml.example.com");
    const char *rest = NULL;
    ck_assert_ptr_eq(ib_registry_app_for_path(apps, 0, "/saml/metadata", NULL, &rest),
                     t->primary);
    ck_assert_str_eq(rest, "/saml/metadata");
    rest = NULL;
    ck_assert_ptr_eq(ib_registry_app_for_path(apps, 443, "/saml/acs", NULL, &rest),
                     t->primary);
    ck_assert_str_eq(rest, "/saml/acs");
    ck_assert_ptr_null(ib_registry_app_for_path(apps, 8443, "/saml/acs", NULL, &rest));
}
END_TEST

START_TEST(test_app_for_path_on_other_port_needs_that_port)
{
    ib_tenant *t = acme_with_custom_domain();
    const apr_array_header_t *apps = ib_registry_apps_on_host(reg, "login.acme.example");
    const char *rest = NULL;
    ck_assert_ptr_eq(ib_registry_app_for_path(apps, 8443, "/sso/saml/acs", NULL, &rest),
                     t->custom_domain);
    ck_assert_str_eq(rest, "/saml/acs");
    /* no port in the Host header means the default port: not this app */
    ck_assert_ptr_null(ib_registry_app_for_path(apps, 0, "/sso/saml/acs", NULL, &rest));
    ck_assert_ptr_null(ib_registry_app_for_path(apps, 443, "/sso/saml/acs", NULL, &rest));
}
END_TEST

START_TEST(test_app_for_path_requires_path_below_prefix)
{
    acme_with_custom_domain();
    const apr_array_header_t *apps = ib_registry_apps_on_host(reg, "login.acme.example");
    const char *rest = "untouched";
    ck_assert_ptr_null(ib_registry_app_for_path(apps, 8443, "/sso", NULL, &rest));
    ck_assert_ptr_null(ib_registry_app_for_path(apps, 8443, "/ssox/saml/acs", NULL, &rest));
    ck_assert_ptr_null(ib_registry_app_for_path(apps, 8443, "/saml/acs", NULL, &rest));
    ck_assert_ptr_null(ib_registry_app_for_path(apps, 8443, NULL, NULL, &rest));
    ck_assert_ptr_null(ib_registry_app_for_path(NULL, 8443, "/sso/saml/acs", NULL, &rest));
    ck_assert_str_eq(rest, "untouched");
}
END_TEST

START_TEST(test_app_for_path_selects_by_scope_guid_on_shared_host)
{
    ib_tenant *a = simple_tenant("a", "a", BASE, GUID_A);
    ib_tenant *b = simple_tenant("b", "b", BASE, GUID_B);
    const apr_array_header_t *apps = ib_registry_apps_on_host(reg, "saml.example.com");
    ck_assert_int_eq(apps->nelts, 2);
    const char *rest = NULL;
    ck_assert_ptr_eq(ib_registry_app_for_path(apps, 0, "/saml/acs", GUID_B, &rest),
                     b->primary);
    ck_assert_ptr_eq(ib_registry_app_for_path(apps, 0, "/saml/acs", GUID_A, &rest),
                     a->primary);
    ck_assert_ptr_null(ib_registry_app_for_path(apps, 0, "/saml/acs", GUID_C, &rest));
}
END_TEST

START_TEST(test_app_for_path_without_guid_takes_first_declared)
{
    ib_tenant *a = simple_tenant("a", "a", BASE, GUID_A);
    simple_tenant("b", "b", BASE, GUID_B);
    const apr_array_header_t *apps = ib_registry_apps_on_host(reg, "saml.example.com");
    const char *rest = NULL;
    ck_assert_ptr_eq(ib_registry_app_for_path(apps, 0, "/saml/metadata", NULL, &rest),
                     a->primary);
}
END_TEST

START_TEST(test_app_for_path_with_guid_skips_generic_app)
{
    simple_tenant("a", "a", BASE, NULL);
    const apr_array_header_t *apps = ib_registry_apps_on_host(reg, "saml.example.com");
    const char *rest = NULL;
    ck_assert_ptr_null(ib_registry_app_for_path(apps, 0, "/saml/acs", GUID_A, &rest));
}
END_TEST

/* ---- entity IDs and finalisation ---------------------------------------- */

START_TEST(test_generic_entity_id_defaults_to_base_origin)
{
    ib_tenant *t = simple_tenant("acme", "acme", "https://SAML.example.com:8443/sso/", NULL);
    ck_assert_str_eq(t->primary->generic_entity_id, "https://saml.example.com:8443");
    ck_assert_str_eq(t->primary->sp_entity_id, "https://saml.example.com:8443");
    ck_assert_str_eq(t->primary->sp_base.url, "https://saml.example.com:8443/sso");
}
END_TEST

START_TEST(test_scoped_entity_id_is_generic_slash_guid)
{
    ib_tenant *t = simple_tenant("acme", "acme", BASE "/sso", GUID_A);
    ck_assert_str_eq(t->primary->scope_guid, GUID_A);
    ck_assert_str_eq(t->primary->generic_entity_id, BASE);
    ck_assert_str_eq(t->primary->sp_entity_id, BASE "/" GUID_A);
}
END_TEST

START_TEST(test_explicit_generic_entity_id_is_scoped)
{
    begin_tenant("acme", "acme");
    add_tenant_key();
    ck_assert_no_err(ib_conf_begin_app(&ctx, "primary"));
    ck_assert_no_err(conf_dir(&ctx, "IdBrokerSPBaseURL", BASE, NULL));
    ck_assert_no_err(conf_dir(&ctx, "IdBrokerSPEntityID", "urn:acme:sp", NULL));
    ck_assert_no_err(conf_dir(&ctx, "IdBrokerSPEntityScope", GUID_A, NULL));
    ck_assert_no_err(ib_conf_end_app(&ctx));
    ck_assert_no_err(ib_conf_end_tenant(&ctx));
    ib_tenant *t = apr_hash_get(reg->by_name, "acme", APR_HASH_KEY_STRING);
    ck_assert_str_eq(t->primary->sp_entity_id, "urn:acme:sp/" GUID_A);
}
END_TEST

START_TEST(test_custom_domain_generic_defaults_to_primary_generic)
{
    ib_tenant *t = acme_with_custom_domain();
    ck_assert_str_eq(t->custom_domain->generic_entity_id, BASE);
    ck_assert_str_eq(t->custom_domain->sp_entity_id, BASE "/" GUID_B);
    ck_assert_str_eq(t->custom_domain->sp_base.url, CUSTOM_BASE);
}
END_TEST

START_TEST(test_custom_domain_inherits_explicit_primary_generic)
{
    begin_tenant("acme", "acme");
    add_tenant_key();
    ck_assert_no_err(ib_conf_begin_app(&ctx, "primary"));
    ck_assert_no_err(conf_dir(&ctx, "IdBrokerSPBaseURL", BASE, NULL));
    ck_assert_no_err(conf_dir(&ctx, "IdBrokerSPEntityID", "https://sp.acme.example/id", NULL));
    ck_assert_no_err(ib_conf_end_app(&ctx));
    add_app("custom-domain", CUSTOM_BASE, NULL);
    ck_assert_no_err(ib_conf_end_tenant(&ctx));
    ib_tenant *t = apr_hash_get(reg->by_name, "acme", APR_HASH_KEY_STRING);
    ck_assert_str_eq(t->custom_domain->sp_entity_id, "https://sp.acme.example/id");
}
END_TEST

START_TEST(test_custom_domain_may_precede_primary_in_the_tenant)
{
    begin_tenant("acme", "acme");
    add_tenant_key();
    add_app("custom-domain", CUSTOM_BASE, NULL);
    add_app("primary", BASE, NULL);
    ck_assert_no_err(ib_conf_end_tenant(&ctx));
    ib_tenant *t = apr_hash_get(reg->by_name, "acme", APR_HASH_KEY_STRING);
    ck_assert_str_eq(t->custom_domain->sp_entity_id, BASE);
}
END_TEST

START_TEST(test_scoped_generic_entity_id_must_not_end_with_slash)
{
    begin_tenant("acme", "acme");
    add_tenant_key();
    ck_assert_no_err(ib_conf_begin_app(&ctx, "primary"));
    ck_assert_no_err(conf_dir(&ctx, "IdBrokerSPBaseURL", BASE, NULL));
    ck_assert_no_err(conf_dir(&ctx, "IdBrokerSPEntityID", "https://sp.acme.example/", NULL));
    ck_assert_no_err(conf_dir(&ctx, "IdBrokerSPEntityScope", GUID_A, NULL));
    ck_assert_no_err(ib_conf_end_app(&ctx));
    ck_assert_err_has(ib_conf_end_tenant(&ctx), "must not end with '/'");
}
END_TEST

START_TEST(test_metadata_id_is_stable_and_starts_with_underscore)
{
    ib_tenant *t = simple_tenant("acme", "acme", BASE, GUID_A);
    const char *first = t->primary->metadata_id;
    ck_assert_int_eq(first[0], '_');
    ck_assert_uint_eq(strlen(first), 37);

    ib_registry *reg2 = ib_registry_make(test_pool());
    ib_conf_init(&ctx, test_pool(), reg2);
    reg = reg2;
    ib_tenant *again = simple_tenant("acme", "acme", BASE, GUID_A);
    ck_assert_str_eq(again->primary->metadata_id, first);
    ib_tenant *other = simple_tenant("beta", "beta", BASE, GUID_B);
    ck_assert_str_ne(other->primary->metadata_id, first);
}
END_TEST

START_TEST(test_apps_share_tenant_keys_unless_they_have_their_own)
{
    begin_tenant("acme", "acme");
    add_tenant_key();
    add_app("primary", BASE, NULL);
    ck_assert_no_err(ib_conf_begin_app(&ctx, "custom-domain"));
    ck_assert_no_err(conf_dir(&ctx, "IdBrokerSPBaseURL", CUSTOM_BASE, NULL));
    ck_assert_no_err(conf_dir(&ctx, "IdBrokerSPKey", K("sp2.key"), K("sp2.crt"), NULL));
    ck_assert_no_err(ib_conf_end_app(&ctx));
    ck_assert_no_err(ib_conf_end_tenant(&ctx));
    ib_tenant *t = apr_hash_get(reg->by_name, "acme", APR_HASH_KEY_STRING);
    ck_assert_ptr_eq(t->primary->sp_keys, t->sp_keys);
    ck_assert_int_eq(t->sp_keys->nelts, 1);
    ck_assert_int_eq(t->custom_domain->sp_keys->nelts, 1);
    const ib_sp_key *own = APR_ARRAY_IDX(t->custom_domain->sp_keys, 0, const ib_sp_key *);
    ck_assert_str_eq(own->key_path, K("sp2.key"));
}
END_TEST

START_TEST(test_app_with_own_key_needs_no_tenant_key)
{
    begin_tenant("acme", "acme");
    ck_assert_no_err(ib_conf_begin_app(&ctx, "primary"));
    ck_assert_no_err(conf_dir(&ctx, "IdBrokerSPBaseURL", BASE, NULL));
    ck_assert_no_err(conf_dir(&ctx, "IdBrokerSPKey", K("sp.key"), K("sp.crt"), NULL));
    ck_assert_no_err(ib_conf_end_app(&ctx));
    ck_assert_no_err(ib_conf_end_tenant(&ctx));
}
END_TEST

START_TEST(test_sp_key_activate_at_is_parsed)
{
    begin_tenant("acme", "acme");
    add_tenant_key();
    ck_assert_no_err(conf_dir(&ctx, "IdBrokerSPKey", K("sp2.key"), K("sp2.crt"),
                              "activate-at=2024-03-23T17:00:00Z", NULL));
    add_app("primary", BASE, NULL);
    ck_assert_no_err(ib_conf_end_tenant(&ctx));
    ib_tenant *t = apr_hash_get(reg->by_name, "acme", APR_HASH_KEY_STRING);
    ck_assert_int_eq(t->sp_keys->nelts, 2);
    const ib_sp_key *first = APR_ARRAY_IDX(t->sp_keys, 0, const ib_sp_key *);
    const ib_sp_key *second = APR_ARRAY_IDX(t->sp_keys, 1, const ib_sp_key *);
    ck_assert_int_eq(first->has_activate_at, 0);
    ck_assert_int_eq(second->has_activate_at, 1);
    ck_assert_int_eq(second->activate_at, apr_time_from_sec(1711213200));
}
END_TEST

START_TEST(test_tenant_defaults)
{
    ib_tenant *t = simple_tenant("acme", "acme", BASE, NULL);
    ck_assert_int_eq(t->sign_requests, 1);
    ck_assert_int_eq(t->sso_binding, IB_BINDING_POST);
    ck_assert_int_eq(t->response_signing, IB_SIGN_EITHER);
    ck_assert_str_eq(t->authn_class, IB_AUTHN_CLASS_UNSPECIFIED);
    ck_assert_int_eq(t->authn_comparison, IB_AUTHN_EXACT);
    ck_assert_int_eq(t->force_authn, 0);
    ck_assert_int_eq(t->send_nameid_policy, 0);
    ck_assert_int_eq(ib_app_has_idp(t->primary), 0);
}
END_TEST

START_TEST(test_tenant_directives_set_their_values)
{
    begin_tenant("acme", "acme");
    add_tenant_key();
    ck_assert_no_err(conf_dir(&ctx, "IdBrokerSignRequests", "off", NULL));
    ck_assert_no_err(conf_dir(&ctx, "IdBrokerSSOBinding", "Redirect", NULL));
    ck_assert_no_err(conf_dir(&ctx, "IdBrokerResponseSigning", "both", NULL));
    ck_assert_no_err(conf_dir(&ctx, "IdBrokerAuthnContext", "PasswordProtectedTransport",
                              "minimum", NULL));
    ck_assert_no_err(conf_dir(&ctx, "IdBrokerForceAuthn", "On", NULL));
    ck_assert_no_err(conf_dir(&ctx, "IdBrokerSendNameIDPolicy", "ON", NULL));
    add_app("primary", BASE, NULL);
    ck_assert_no_err(ib_conf_end_tenant(&ctx));
    ib_tenant *t = apr_hash_get(reg->by_name, "acme", APR_HASH_KEY_STRING);
    ck_assert_int_eq(t->sign_requests, 0);
    ck_assert_int_eq(t->sso_binding, IB_BINDING_REDIRECT);
    ck_assert_int_eq(t->response_signing, IB_SIGN_BOTH);
    ck_assert_str_eq(t->authn_class,
                     "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport");
    ck_assert_int_eq(t->authn_comparison, IB_AUTHN_MINIMUM);
    ck_assert_int_eq(t->force_authn, 1);
    ck_assert_int_eq(t->send_nameid_policy, 1);
}
END_TEST

START_TEST(test_authn_context_keeps_full_uri)
{
    begin_tenant("acme", "acme");
    ck_assert_no_err(conf_dir(&ctx, "IdBrokerAuthnContext",
                              "urn:federation:authentication:windows", NULL));
    ck_assert_str_eq(ctx.tenant->authn_class, "urn:federation:authentication:windows");
    ck_assert_int_eq(ctx.tenant->authn_comparison, IB_AUTHN_EXACT);
}
END_TEST

START_TEST(test_directive_names_are_case_insensitive)
{
    begin_tenant("acme", NULL);
    ck_assert_no_err(conf_dir(&ctx, "idbrokersigninid", "acme", NULL));
    ck_assert_str_eq(ctx.tenant->signin_id, "acme");
    ck_assert_int_eq(ib_conf_is_tenant_directive("IDBROKERSPKEY"), 1);
    ck_assert_int_eq(ib_conf_is_tenant_directive("AuthType"), 0);
}
END_TEST

START_TEST(test_complete_idp_connection_is_recorded)
{
    ib_tenant *t = acme_with_custom_domain();
    ck_assert_int_eq(ib_app_has_idp(t->primary), 1);
    ck_assert_str_eq(t->primary->idp_entity_id, "https://idp.acme.example/");
    ck_assert_str_eq(t->primary->idp_sso_url, "https://idp.acme.example/sso");
    ck_assert_ptr_null(t->primary->idp_slo_url);
    ck_assert_int_eq(t->primary->idp_certs->nelts, 1);
    ck_assert_int_eq(ib_app_has_idp(t->custom_domain), 0);
}
END_TEST

START_TEST(test_idp_cert_may_repeat)
{
    write_keypair_slot(kdir, "idp2", "ec256", 0, LONG_AGO, FAR_AHEAD);
    open_primary_app();
    add_idp();
    ck_assert_no_err(conf_dir(&ctx, "IdBrokerIdPCert", K("idp2.crt"), NULL));
    ck_assert_int_eq(ctx.app->idp_certs->nelts, 2);
    ck_assert_no_err(ib_conf_end_app(&ctx));
}
END_TEST

START_TEST(test_app_without_idp_warns_but_is_accepted)
{
    simple_tenant("acme", "acme", BASE, NULL);
    ck_assert(warned("no IdP connection configured yet"));
}
END_TEST

START_TEST(test_expired_idp_cert_warns)
{
    write_keypair(kdir, "old-idp", "rsa2048", LONG_AGO, utc("2010-01-01T00:00:00Z"));
    open_primary_app();
    ck_assert_no_err(conf_dir(&ctx, "IdBrokerIdPCert", K("old-idp.crt"), NULL));
    ck_assert(warned("expired at 2010-01-01T00:00:00Z"));
}
END_TEST

START_TEST(test_no_active_sp_key_warns)
{
    write_keypair(kdir, "late", "rsa2048", LONG_AGO, FAR_AHEAD);
    begin_tenant("acme", "acme");
    ck_assert_no_err(conf_dir(&ctx, "IdBrokerSPKey", K("late.key"), K("late.crt"),
                              "activate-at=2090-01-01T00:00:00Z", NULL));
    add_app("primary", BASE, NULL);
    ck_assert_no_err(ib_conf_end_tenant(&ctx));
    ck_assert(warned("no SP key is active now"));
}
END_TEST

START_TEST(test_active_key_warning_follows_pinned_clock)
{
    write_keypair(kdir, "late", "rsa2048", LONG_AGO, FAR_AHEAD);
    ib_clock_pin(utc("2091-01-01T00:00:00Z"));
    begin_tenant("acme", "acme");
    ck_assert_no_err(conf_dir(&ctx, "IdBrokerSPKey", K("late.key"), K("late.crt"),
                              "activate-at=2090-01-01T00:00:00Z", NULL));
    add_app("primary", BASE, NULL);
    ck_assert_no_err(ib_conf_end_tenant(&ctx));
    ck_assert(!warned("no SP key is active now"));
}
END_TEST

START_TEST(test_two_tenants_coexist)
{
    simple_tenant("acme", "acme", BASE, GUID_A);
    simple_tenant("beta", "beta", "https://beta.example.com", NULL);
    ck_assert_int_eq(reg->tenants->nelts, 2);
    ck_assert_int_eq(apr_hash_count(reg->by_signin_id), 2);
    ck_assert_ptr_nonnull(ib_registry_apps_on_host(reg, "beta.example.com"));
}
END_TEST

/* ---- errors: tenant level ------------------------------------------------ */

START_TEST(test_missing_signin_id_is_refused)
{
    begin_tenant("acme", NULL);
    add_tenant_key();
    add_app("primary", BASE, NULL);
    ck_assert_err_has(ib_conf_end_tenant(&ctx), "tenant 'acme' has no IdBrokerSignInID");
    ck_assert_ptr_null(apr_hash_get(reg->by_name, "acme", APR_HASH_KEY_STRING));
    ck_assert_int_eq(reg->tenants->nelts, 0);
}
END_TEST

START_TEST(test_signin_id_with_invalid_characters_is_refused)
{
    static const char *const bad[] = {"acme_corp", "acme/corp", "acme.corp", "acme corp"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ib_conf_init(&ctx, test_pool(), reg); /* a fresh tenant each time */
        begin_tenant("acme", NULL);
        ck_assert_err_has(conf_dir(&ctx, "IdBrokerSignInID", bad[i], NULL),
                          "may contain only letters, digits and '-'");
    }
}
END_TEST

START_TEST(test_signin_id_longer_than_64_is_refused)
{
    begin_tenant("acme", NULL);
    char id[66];
    memset(id, 'a', 65);
    id[65] = '\0';
    ck_assert_err_has(conf_dir(&ctx, "IdBrokerSignInID", id, NULL), "1 to 64 characters");
}
END_TEST

START_TEST(test_duplicate_signin_id_ignoring_case_is_refused)
{
    simple_tenant("acme", "acme", BASE, NULL);
    begin_tenant("other", NULL);
    const char *err = conf_dir(&ctx, "IdBrokerSignInID", "ACME", NULL);
    ck_assert_err_has(err, "is already used by tenant 'acme'");
    ck_assert_err_has(err, "ignoring case");
}
END_TEST

START_TEST(test_duplicate_tenant_name_is_refused)
{
    simple_tenant("acme", "acme", BASE, NULL);
    ck_assert_err_has(ib_conf_begin_tenant(&ctx, "acme"),
                      "tenant 'acme' is already defined at");
}
END_TEST

START_TEST(test_invalid_tenant_name_is_refused)
{
    ck_assert_err_has(ib_conf_begin_tenant(&ctx, "ac me"),
                      "tenant name 'ac me' may contain only");
    ck_assert_err_has(ib_conf_begin_tenant(&ctx, NULL), "needs a name");
    ck_assert_err_has(ib_conf_begin_tenant(&ctx, ""), "needs a name");
}
END_TEST

START_TEST(test_nested_tenant_is_refused)
{
    begin_tenant("acme", "acme");
    ck_assert_err_has(ib_conf_begin_tenant(&ctx, "inner"), "cannot be nested");
}
END_TEST

START_TEST(test_tenant_without_primary_app_is_refused)
{
    begin_tenant("acme", "acme");
    add_tenant_key();
    add_app("custom-domain", CUSTOM_BASE, NULL);
    ck_assert_err_has(ib_conf_end_tenant(&ctx), "has no <IdBrokerApp primary> section");
}
END_TEST

START_TEST(test_end_tenant_without_begin_is_refused)
{
    ck_assert_err_has(ib_conf_end_tenant(&ctx), "</IdBrokerTenant> without <IdBrokerTenant>");
}
END_TEST

START_TEST(test_end_tenant_with_open_app_is_refused)
{
    open_primary_app();
    ck_assert_err_has(ib_conf_end_tenant(&ctx), "<IdBrokerApp primary> is not closed");
}
END_TEST

START_TEST(test_no_sp_key_is_refused)
{
    begin_tenant("acme", "acme");
    add_app("primary", BASE, NULL);
    ck_assert_err_has(ib_conf_end_tenant(&ctx),
                      "the primary app of tenant 'acme' has no SP signing key");
}
END_TEST

START_TEST(test_sp_key_errors_name_the_directive)
{
    begin_tenant("acme", "acme");
    const char *err = conf_dir(&ctx, "IdBrokerSPKey", K("sp.key"), K("sp2.crt"), NULL);
    ck_assert_err_has(err, "IdBrokerSPKey: ");
    ck_assert_err_has(err, "does not belong");
}
END_TEST

START_TEST(test_bad_activate_at_is_refused)
{
    begin_tenant("acme", "acme");
    ck_assert_err_has(conf_dir(&ctx, "IdBrokerSPKey", K("sp.key"), K("sp.crt"),
                               "activate-at=2024-03-23 17:00:00", NULL),
                      "activate-at '2024-03-23 17:00:00' is not a UTC instant");
    ck_assert_err_has(conf_dir(&ctx, "IdBrokerSPKey", K("sp.key"), K("sp.crt"),
                               "activate-at=2024-03-23T17:00:00+01:00", NULL),
                      "is not a UTC instant");
}
END_TEST

START_TEST(test_unknown_sp_key_option_is_refused)
{
    begin_tenant("acme", "acme");
    ck_assert_err_has(conf_dir(&ctx, "IdBrokerSPKey", K("sp.key"), K("sp.crt"),
                               "activate=2024-03-23T17:00:00Z", NULL),
                      "unknown option 'activate=2024-03-23T17:00:00Z'");
}
END_TEST

START_TEST(test_failed_tenant_is_not_registered)
{
    begin_tenant("acme", "acme");
    add_app("primary", BASE, GUID_A);
    ck_assert_ptr_nonnull(ib_conf_end_tenant(&ctx)); /* no SP key */
    ck_assert_ptr_null(apr_hash_get(reg->by_name, "acme", APR_HASH_KEY_STRING));
    ck_assert_ptr_null(apr_hash_get(reg->by_signin_id, "acme", APR_HASH_KEY_STRING));
    ck_assert_ptr_null(apr_hash_get(reg->by_guid, GUID_A, APR_HASH_KEY_STRING));
    ck_assert_ptr_null(ib_registry_apps_on_host(reg, "saml.example.com"));
    /* and the context is usable for the next tenant */
    simple_tenant("acme", "acme", BASE, GUID_A);
}
END_TEST

/* ---- errors: apps --------------------------------------------------------- */

START_TEST(test_uppercase_scope_guid_is_refused)
{
    open_primary_app();
    ck_assert_err_has(conf_dir(&ctx, "IdBrokerSPEntityScope",
                               "67338F11-4996-4980-8339-535F76D0C8FB", NULL),
                      "is not a lowercase GUID");
}
END_TEST

START_TEST(test_duplicate_guid_across_tenants_is_refused)
{
    simple_tenant("acme", "acme", BASE, GUID_A);
    begin_tenant("beta", "beta");
    ck_assert_no_err(ib_conf_begin_app(&ctx, "primary"));
    ck_assert_no_err(conf_dir(&ctx, "IdBrokerSPBaseURL", BASE, NULL));
    const char *err = conf_dir(&ctx, "IdBrokerSPEntityScope", GUID_A, NULL);
    ck_assert_err_has(err, "is already used by the primary app of tenant 'acme'");
    ck_assert_err_has(err, "needs its own GUID");
}
END_TEST

START_TEST(test_duplicate_guid_within_one_tenant_is_refused)
{
    begin_tenant("acme", "acme");
    add_tenant_key();
    add_app("primary", BASE, GUID_A);
    ck_assert_no_err(ib_conf_begin_app(&ctx, "custom-domain"));
    ck_assert_no_err(conf_dir(&ctx, "IdBrokerSPBaseURL", CUSTOM_BASE, NULL));
    ck_assert_err_has(conf_dir(&ctx, "IdBrokerSPEntityScope", GUID_A, NULL),
                      "is already used by the primary app of tenant 'acme'");
}
END_TEST

START_TEST(test_missing_sp_base_url_is_refused)
{
    begin_tenant("acme", "acme");
    ck_assert_no_err(ib_conf_begin_app(&ctx, "primary"));
    ck_assert_err_has(ib_conf_end_app(&ctx),
                      "the primary app of tenant 'acme' has no IdBrokerSPBaseURL");
}
END_TEST

START_TEST(test_bad_sp_base_url_names_the_directive)
{
    begin_tenant("acme", "acme");
    ck_assert_no_err(ib_conf_begin_app(&ctx, "primary"));
    const char *err = conf_dir(&ctx, "IdBrokerSPBaseURL", "http://saml.example.com", NULL);
    ck_assert_err_has(err, "IdBrokerSPBaseURL: ");
    ck_assert_err_has(err, "must use https");
}
END_TEST

START_TEST(test_incomplete_idp_connection_lists_missing_directives)
{
    open_primary_app();
    ck_assert_no_err(conf_dir(&ctx, "IdBrokerIdPEntityID", "https://idp.acme.example/", NULL));
    const char *err = ib_conf_end_app(&ctx);
    ck_assert_err_has(err, "incomplete IdP connection");
    ck_assert_err_has(err, "missing: IdBrokerIdPSSOURL IdBrokerIdPCert");
    ck_assert_ptr_null(strstr(err, "IdBrokerIdPEntityID"));
}
END_TEST

START_TEST(test_idp_slo_url_alone_lists_all_required_directives)
{
    open_primary_app();
    ck_assert_no_err(conf_dir(&ctx, "IdBrokerIdPSLOURL", "https://idp.acme.example/slo", NULL));
    ck_assert_err_has(ib_conf_end_app(&ctx),
                      "missing: IdBrokerIdPEntityID IdBrokerIdPSSOURL IdBrokerIdPCert");
}
END_TEST

START_TEST(test_idp_cert_alone_lists_entity_id_and_sso_url)
{
    open_primary_app();
    ck_assert_no_err(conf_dir(&ctx, "IdBrokerIdPCert", K("idp.crt"), NULL));
    const char *err = ib_conf_end_app(&ctx);
    ck_assert_err_has(err, "missing: IdBrokerIdPEntityID IdBrokerIdPSSOURL");
    ck_assert_ptr_null(strstr(err, "IdBrokerIdPCert"));
}
END_TEST

START_TEST(test_idp_cert_with_private_key_is_refused)
{
    open_primary_app();
    const char *err = conf_dir(&ctx, "IdBrokerIdPCert", K("idp.key"), NULL);
    ck_assert_err_has(err, "IdBrokerIdPCert: ");
    ck_assert_err_has(err, "private key");
}
END_TEST

START_TEST(test_plain_http_idp_sso_url_is_refused)
{
    open_primary_app();
    const char *err = conf_dir(&ctx, "IdBrokerIdPSSOURL", "http://idp.acme.example/sso", NULL);
    ck_assert_err_has(err, "IdBrokerIdPSSOURL: ");
    ck_assert_err_has(err, "must use https");
}
END_TEST

START_TEST(test_non_uri_entity_ids_are_refused)
{
    open_primary_app();
    ck_assert_err_has(conf_dir(&ctx, "IdBrokerSPEntityID", "saml.example.com", NULL),
                      "must be an absolute URI");
    ck_assert_err_has(conf_dir(&ctx, "IdBrokerIdPEntityID", "https://idp/\"x\"", NULL),
                      "contains a space, quote, angle bracket or control character");
}
END_TEST

START_TEST(test_tenant_only_directive_inside_app_is_refused)
{
    open_primary_app();
    ck_assert_err_has(conf_dir(&ctx, "IdBrokerSSOBinding", "post", NULL),
                      "IdBrokerSSOBinding applies to the whole tenant; move it out of "
                      "<IdBrokerApp primary> into <IdBrokerTenant acme>");
}
END_TEST

START_TEST(test_app_only_directive_at_tenant_level_is_refused)
{
    begin_tenant("acme", "acme");
    ck_assert_err_has(conf_dir(&ctx, "IdBrokerSPBaseURL", BASE, NULL),
                      "IdBrokerSPBaseURL belongs inside an <IdBrokerApp primary> or "
                      "<IdBrokerApp custom-domain> section");
}
END_TEST

START_TEST(test_directive_outside_tenant_is_refused)
{
    ck_assert_err_has(conf_dir(&ctx, "IdBrokerSignInID", "acme", NULL),
                      "IdBrokerSignInID belongs inside an <IdBrokerTenant NAME> section");
}
END_TEST

START_TEST(test_unknown_directive_is_refused)
{
    begin_tenant("acme", "acme");
    ck_assert_err_has(conf_dir(&ctx, "IdBrokerBogus", "x", NULL),
                      "unknown directive 'IdBrokerBogus'");
}
END_TEST

START_TEST(test_tenant_directive_given_twice_is_refused)
{
    begin_tenant("acme", "acme");
    ck_assert_no_err(conf_dir(&ctx, "IdBrokerSSOBinding", "post", NULL));
    ck_assert_err_has(conf_dir(&ctx, "idbrokerssobinding", "redirect", NULL),
                      "IdBrokerSSOBinding is given twice in this IdBrokerTenant section");
}
END_TEST

START_TEST(test_app_directive_given_twice_is_refused)
{
    open_primary_app();
    ck_assert_err_has(conf_dir(&ctx, "IdBrokerSPBaseURL", "https://other.example.com", NULL),
                      "IdBrokerSPBaseURL is given twice in this IdBrokerApp section");
}
END_TEST

START_TEST(test_same_directive_in_both_apps_is_not_twice)
{
    begin_tenant("acme", "acme");
    add_tenant_key();
    add_app("primary", BASE, NULL);
    add_app("custom-domain", CUSTOM_BASE, NULL);
    ck_assert_no_err(ib_conf_end_tenant(&ctx));
}
END_TEST

START_TEST(test_repeatable_directives_may_repeat)
{
    begin_tenant("acme", "acme");
    add_tenant_key();
    ck_assert_no_err(conf_dir(&ctx, "IdBrokerSPKey", K("sp2.key"), K("sp2.crt"), NULL));
    ck_assert_int_eq(ctx.tenant->sp_keys->nelts, 2);
}
END_TEST

START_TEST(test_wrong_argument_count_is_refused)
{
    begin_tenant("acme", NULL);
    ck_assert_err_has(conf_dir(&ctx, "IdBrokerSignInID", NULL),
                      "IdBrokerSignInID takes 1 argument, got 0");
    ck_assert_err_has(conf_dir(&ctx, "IdBrokerSignInID", "a", "b", NULL),
                      "IdBrokerSignInID takes 1 argument, got 2");
    ck_assert_err_has(conf_dir(&ctx, "IdBrokerSPKey", K("sp.key"), NULL),
                      "IdBrokerSPKey takes 2 to 3 arguments, got 1");
    ck_assert_err_has(conf_dir(&ctx, "IdBrokerAuthnContext", "a", "exact", "x", NULL),
                      "IdBrokerAuthnContext takes 1 to 2 arguments, got 3");
}
END_TEST

START_TEST(test_bad_on_off_is_refused)
{
    begin_tenant("acme", "acme");
    ck_assert_err_has(conf_dir(&ctx, "IdBrokerSignRequests", "yes", NULL),
                      "IdBrokerSignRequests takes On or Off, not 'yes'");
    ck_assert_err_has(conf_dir(&ctx, "IdBrokerForceAuthn", "1", NULL),
                      "IdBrokerForceAuthn takes On or Off, not '1'");
}
END_TEST

START_TEST(test_bad_response_signing_is_refused)
{
    begin_tenant("acme", "acme");
    ck_assert_err_has(conf_dir(&ctx, "IdBrokerResponseSigning", "sometimes", NULL),
                      "IdBrokerResponseSigning takes either, response, assertion or both, "
                      "not 'sometimes'");
}
END_TEST

START_TEST(test_bad_sso_binding_is_refused)
{
    begin_tenant("acme", "acme");
    ck_assert_err_has(conf_dir(&ctx, "IdBrokerSSOBinding", "artifact", NULL),
                      "IdBrokerSSOBinding takes post or redirect, not 'artifact'");
}
END_TEST

START_TEST(test_bad_authn_context_comparison_is_refused)
{
    begin_tenant("acme", "acme");
    ck_assert_err_has(conf_dir(&ctx, "IdBrokerAuthnContext", "unspecified", "maximum", NULL),
                      "the comparison is exact or minimum, not 'maximum'");
}
END_TEST

START_TEST(test_bad_authn_context_class_is_refused)
{
    begin_tenant("acme", "acme");
    ck_assert_err_has(conf_dir(&ctx, "IdBrokerAuthnContext", "Password-Protected", NULL),
                      "is neither a URI nor a SAML 2.0 class name");
}
END_TEST

START_TEST(test_unknown_app_kind_is_refused)
{
    begin_tenant("acme", "acme");
    ck_assert_err_has(ib_conf_begin_app(&ctx, "secondary"),
                      "<IdBrokerApp secondary>: the app is 'primary' or 'custom-domain'");
    ck_assert_err_has(ib_conf_begin_app(&ctx, NULL), "the app is 'primary' or");
}
END_TEST

START_TEST(test_second_primary_app_is_refused)
{
    begin_tenant("acme", "acme");
    add_app("primary", BASE, NULL);
    ck_assert_err_has(ib_conf_begin_app(&ctx, "Primary"),
                      "tenant 'acme' already has a primary app");
}
END_TEST

START_TEST(test_nested_app_is_refused)
{
    open_primary_app();
    ck_assert_err_has(ib_conf_begin_app(&ctx, "custom-domain"), "cannot be nested");
}
END_TEST

START_TEST(test_app_outside_tenant_is_refused)
{
    ck_assert_err_has(ib_conf_begin_app(&ctx, "primary"),
                      "<IdBrokerApp> belongs inside an <IdBrokerTenant NAME> section");
    ck_assert_err_has(ib_conf_end_app(&ctx), "</IdBrokerApp> without <IdBrokerApp>");
}
END_TEST

START_TEST(test_custom_domain_with_primary_base_url_is_refused)
{
    begin_tenant("acme", "acme");
    add_tenant_key();
    add_app("primary", BASE, NULL);
    add_app("custom-domain", "https://SAML.example.com:443/", NULL);
    ck_assert_err_has(ib_conf_end_tenant(&ctx),
                      "the custom-domain app needs its own IdBrokerSPBaseURL "
                      "(both apps use https://saml.example.com)");
}
END_TEST

/* ---- ib_conf_read_file ----------------------------------------------------- */

/* Body lines of a complete tenant using keys in the conf file's directory. */
#define SIMPLE_BODY                                    \
    "    IdBrokerSignInID acme\n"                      \
    "    IdBrokerSPKey sp.key sp.crt\n"                \
    "    <IdBrokerApp primary>\n"                      \
    "        IdBrokerSPBaseURL https://saml.example.com\n" \
    "    </IdBrokerApp>\n"

static const char *read_conf(const char *path)
{
    return ib_conf_read_file(&ctx, path);
}

START_TEST(test_read_file_registers_a_valid_tenant)
{
    const char *path = write_tenant_conf(kdir, "acme.conf", "acme", SIMPLE_BODY);
    ck_assert_no_err(read_conf(path));
    ib_tenant *t = apr_hash_get(reg->by_name, "acme", APR_HASH_KEY_STRING);
    ck_assert_ptr_nonnull(t);
    ck_assert_str_eq(t->file, path);
    ck_assert_int_eq(t->line, 1);
    ck_assert_str_eq(t->primary->sp_entity_id, BASE);
    ck_assert_int_eq(t->primary->line, 4);
}
END_TEST

START_TEST(test_read_file_resolves_relative_key_paths_against_conf_dir)
{
    const char *tdir = path_in(kdir, "tenant");
    ck_assert_int_eq(mkdir(tdir, 0700), 0);
    ck_assert_int_eq(mkdir(path_in(tdir, "keys"), 0700), 0);
    write_keypair(path_in(tdir, "keys"), "sp", "rsa2048", LONG_AGO, FAR_AHEAD);
    write_keypair_slot(path_in(tdir, "keys"), "idp", "rsa2048", 2, LONG_AGO, FAR_AHEAD);
    const char *path = write_tenant_conf(tdir, "acme.conf", "acme",
                                         "IdBrokerSignInID acme\n"
                                         "IdBrokerSPKey keys/sp.key keys/sp.crt\n"
                                         "<IdBrokerApp primary>\n"
                                         "IdBrokerSPBaseURL https://saml.example.com\n"
                                         "IdBrokerIdPEntityID https://idp.example/\n"
                                         "IdBrokerIdPSSOURL https://idp.example/sso\n"
                                         "IdBrokerIdPCert keys/idp.crt\n"
                                         "</IdBrokerApp>\n");
    ck_assert_int_eq(chdir("/"), 0); /* the process's cwd must not matter */
    ck_assert_no_err(read_conf(path));
    ib_tenant *t = apr_hash_get(reg->by_name, "acme", APR_HASH_KEY_STRING);
    const ib_sp_key *k = APR_ARRAY_IDX(t->sp_keys, 0, const ib_sp_key *);
    ck_assert_str_eq(k->key_path, apr_pstrcat(test_pool(), tdir, "/keys/sp.key", NULL));
    ck_assert_str_eq(k->cert->path, apr_pstrcat(test_pool(), tdir, "/keys/sp.crt", NULL));
    const ib_cert *idp = APR_ARRAY_IDX(t->primary->idp_certs, 0, const ib_cert *);
    ck_assert_str_eq(idp->path, apr_pstrcat(test_pool(), tdir, "/keys/idp.crt", NULL));
}
END_TEST

START_TEST(test_read_file_keeps_absolute_key_paths)
{
    const char *other = fresh_dir();
    const char *body = apr_psprintf(test_pool(),
                                    "IdBrokerSignInID acme\n"
                                    "IdBrokerSPKey %s %s\n"
                                    "<IdBrokerApp primary>\n"
                                    "IdBrokerSPBaseURL https://saml.example.com\n"
                                    "</IdBrokerApp>\n", K("sp.key"), K("sp.crt"));
    ck_assert_no_err(read_conf(write_tenant_conf(other, "acme.conf", "acme", body)));
    ib_tenant *t = apr_hash_get(reg->by_name, "acme", APR_HASH_KEY_STRING);
    ck_assert_str_eq(APR_ARRAY_IDX(t->sp_keys, 0, const ib_sp_key *)->key_path, K("sp.key"));
}
END_TEST

START_TEST(test_read_file_reports_file_and_line_of_error)
{
    const char *path = write_tenant_conf(kdir, "acme.conf", "acme",
                                         "    IdBrokerSignInID acme\n"
                                         "\n"
                                         "    IdBrokerSSOBinding artifact\n" SIMPLE_BODY);
    const char *err = read_conf(path);
    ck_assert_err_has(err, apr_pstrcat(test_pool(), path, ":4: ", NULL));
    ck_assert_err_has(err, "IdBrokerSSOBinding takes post or redirect, not 'artifact'");
    ck_assert_int_eq(strncmp(err, path, strlen(path)), 0);
}
END_TEST

START_TEST(test_read_file_reports_line_of_failing_section_end)
{
    const char *path = write_tenant_conf(kdir, "acme.conf", "acme",
                                         "IdBrokerSignInID acme\n"
                                         "<IdBrokerApp primary>\n"
                                         "</IdBrokerApp>\n");
    const char *err = read_conf(path);
    ck_assert_err_has(err, apr_pstrcat(test_pool(), path, ":4: ", NULL));
    ck_assert_err_has(err, "has no IdBrokerSPBaseURL");
}
END_TEST

START_TEST(test_read_file_ignores_comments_and_blank_lines)
{
    const char *path = write_text_file(kdir, "acme.conf",
                                       "# a tenant file\n"
                                       "\n"
                                       "   # IdBrokerSignInID not-this-one\n"
                                       "<IdBrokerTenant acme>\n"
                                       "  # IdBrokerSSOBinding artifact\n"
                                       "  #<IdBrokerApp bogus>\n"
                                       "\t\n" SIMPLE_BODY
                                       "</IdBrokerTenant>\n"
                                       "# trailing comment\n");
    ck_assert_no_err(read_conf(path));
    ib_tenant *t = apr_hash_get(reg->by_name, "acme", APR_HASH_KEY_STRING);
    ck_assert_ptr_nonnull(t);
    ck_assert_int_eq(t->line, 4);
    ck_assert_int_eq(t->sso_binding, IB_BINDING_POST);
}
END_TEST

START_TEST(test_read_file_accepts_quoted_arguments)
{
    const char *sdir = path_in(kdir, "my keys");
    ck_assert_int_eq(mkdir(sdir, 0700), 0);
    write_keypair(sdir, "sp", "rsa2048", LONG_AGO, FAR_AHEAD);
    const char *path = write_tenant_conf(kdir, "acme.conf", "acme",
                                         "IdBrokerSignInID \"acme\"\n"
                                         "IdBrokerSPKey \"my keys/sp.key\" 'my keys/sp.crt'\n"
                                         "IdBrokerAuthnContext \"urn:example:mfa\" minimum\n"
                                         "<IdBrokerApp primary>\n"
                                         "IdBrokerSPBaseURL \"https://saml.example.com\"\n"
                                         "</IdBrokerApp>\n");
    ck_assert_no_err(read_conf(path));
    ib_tenant *t = apr_hash_get(reg->by_name, "acme", APR_HASH_KEY_STRING);
    ck_assert_str_eq(t->signin_id, "acme");
    ck_assert_str_eq(t->authn_class, "urn:example:mfa");
    ck_assert_str_eq(APR_ARRAY_IDX(t->sp_keys, 0, const ib_sp_key *)->key_path,
                     apr_pstrcat(test_pool(), sdir, "/sp.key", NULL));
}
END_TEST

START_TEST(test_read_file_joins_backslash_continued_lines)
{
    const char *path = write_tenant_conf(kdir, "acme.conf", "acme",
                                         "IdBrokerSignInID acme\n"
                                         "IdBrokerSPKey sp.key \\\n"
                                         "              sp2.crt \\\n"
                                         "   activate-at=2024-03-23T17:00:00Z\n"
                                         "<IdBrokerApp primary>\n"
                                         "IdBrokerSPBaseURL https://saml.example.com\n"
                                         "</IdBrokerApp>\n");
    const char *err = read_conf(path);
    /* the joined directive was applied: the key does not match sp2.crt */
    ck_assert_err_has(err, apr_pstrcat(test_pool(), path, ":3: ", NULL));
    ck_assert_err_has(err, "does not belong");
}
END_TEST

START_TEST(test_read_file_continued_directive_is_applied)
{
    const char *path = write_tenant_conf(kdir, "acme.conf", "acme",
                                         "IdBrokerSignInID acme\n"
                                         "IdBrokerSPKey sp.key \\\n"
                                         "    sp.crt \\\n"
                                         "    activate-at=2024-03-23T17:00:00Z\n"
                                         "<IdBrokerApp primary>\n"
                                         "IdBrokerSPBaseURL https://saml.example.com\n"
                                         "</IdBrokerApp>\n");
    ck_assert_no_err(read_conf(path));
    ib_tenant *t = apr_hash_get(reg->by_name, "acme", APR_HASH_KEY_STRING);
    const ib_sp_key *k = APR_ARRAY_IDX(t->sp_keys, 0, const ib_sp_key *);
    ck_assert_int_eq(k->has_activate_at, 1);
    ck_assert_int_eq(k->activate_at, apr_time_from_sec(1711213200));
}
END_TEST

START_TEST(test_read_file_counts_lines_after_continuation)
{
    const char *path = write_tenant_conf(kdir, "acme.conf", "acme",
                                         "IdBrokerSignInID \\\n"
                                         "    acme\n"
                                         "IdBrokerSPKey sp.key sp.crt\n"
                                         "IdBrokerForceAuthn maybe\n");
    const char *err = read_conf(path);
    ck_assert_err_has(err, apr_pstrcat(test_pool(), path, ":5: ", NULL));
    ck_assert_err_has(err, "IdBrokerForceAuthn takes On or Off, not 'maybe'");
}
END_TEST

START_TEST(test_read_file_reports_unclosed_tenant)
{
    const char *path = write_text_file(kdir, "acme.conf",
                                       "<IdBrokerTenant acme>\n" SIMPLE_BODY);
    const char *err = read_conf(path);
    ck_assert_err_has(err, "<IdBrokerTenant acme> is not closed");
    ck_assert_int_eq(strncmp(err, path, strlen(path)), 0);
    ck_assert_ptr_null(apr_hash_get(reg->by_name, "acme", APR_HASH_KEY_STRING));
}
END_TEST

START_TEST(test_read_file_reports_unclosed_app_at_tenant_end)
{
    const char *path = write_text_file(kdir, "acme.conf",
                                       "<IdBrokerTenant acme>\n"
                                       "IdBrokerSignInID acme\n"
                                       "IdBrokerSPKey sp.key sp.crt\n"
                                       "<IdBrokerApp primary>\n"
                                       "IdBrokerSPBaseURL https://saml.example.com\n"
                                       "</IdBrokerTenant>\n");
    const char *err = read_conf(path);
    ck_assert_err_has(err, apr_pstrcat(test_pool(), path, ":6: ", NULL));
    ck_assert_err_has(err, "<IdBrokerApp primary> is not closed");
}
END_TEST

START_TEST(test_read_file_refuses_unknown_section)
{
    const char *path = write_text_file(kdir, "acme.conf", "\n<VirtualHost *:443>\n");
    const char *err = read_conf(path);
    ck_assert_err_has(err, apr_pstrcat(test_pool(), path, ":2: ", NULL));
    ck_assert_err_has(err, "unknown section <VirtualHost>");
}
END_TEST

START_TEST(test_read_file_refuses_section_without_closing_bracket)
{
    const char *path = write_text_file(kdir, "acme.conf", "<IdBrokerTenant acme\n");
    ck_assert_err_has(read_conf(path), "lacks its closing '>'");
}
END_TEST

START_TEST(test_read_file_section_names_are_case_insensitive)
{
    const char *path = write_text_file(kdir, "acme.conf",
                                       "<idbrokertenant acme>\n"
                                       "IdBrokerSignInID acme\n"
                                       "IdBrokerSPKey sp.key sp.crt\n"
                                       "<IDBROKERAPP primary>\n"
                                       "IdBrokerSPBaseURL https://saml.example.com\n"
                                       "</idbrokerapp>\n"
                                       "</IdBrokerTENANT>\n");
    ck_assert_no_err(read_conf(path));
    ck_assert_ptr_nonnull(apr_hash_get(reg->by_name, "acme", APR_HASH_KEY_STRING));
}
END_TEST

START_TEST(test_read_file_reads_two_tenants)
{
    const char *path = write_text_file(kdir, "all.conf",
                                       "<IdBrokerTenant acme>\n" SIMPLE_BODY
                                       "</IdBrokerTenant>\n"
                                       "<IdBrokerTenant beta>\n"
                                       "IdBrokerSignInID beta\n"
                                       "IdBrokerSPKey sp2.key sp2.crt\n"
                                       "<IdBrokerApp primary>\n"
                                       "IdBrokerSPBaseURL https://beta.example.com\n"
                                       "</IdBrokerApp>\n"
                                       "</IdBrokerTenant>\n");
    ck_assert_no_err(read_conf(path));
    ck_assert_int_eq(reg->tenants->nelts, 2);
    ib_tenant *beta = apr_hash_get(reg->by_name, "beta", APR_HASH_KEY_STRING);
    ck_assert_ptr_nonnull(beta);
    ck_assert_int_eq(beta->line, 8);
}
END_TEST

START_TEST(test_read_file_refuses_duplicate_signin_id_in_second_file)
{
    ck_assert_no_err(read_conf(write_tenant_conf(kdir, "acme.conf", "acme", SIMPLE_BODY)));
    const char *second = write_tenant_conf(kdir, "acme2.conf", "acme2",
                                           "IdBrokerSignInID ACME\n");
    const char *err = read_conf(second);
    ck_assert_err_has(err, apr_pstrcat(test_pool(), second, ":2: ", NULL));
    ck_assert_err_has(err, "is already used by tenant 'acme'");
}
END_TEST

START_TEST(test_read_file_reports_missing_file)
{
    const char *missing = path_in(kdir, "missing.conf");
    const char *err = read_conf(missing);
    ck_assert_err_has(err, missing);
    ck_assert_err_has(err, "cannot open the file");
}
END_TEST

START_TEST(test_read_file_handles_crlf_line_ends)
{
    const char *path = write_text_file(kdir, "acme.conf",
                                       "<IdBrokerTenant acme>\r\n"
                                       "IdBrokerSignInID acme\r\n"
                                       "IdBrokerSPKey sp.key sp.crt\r\n"
                                       "<IdBrokerApp primary>\r\n"
                                       "IdBrokerSPBaseURL https://saml.example.com\r\n"
                                       "</IdBrokerApp>\r\n"
                                       "</IdBrokerTenant>\r\n");
    ck_assert_no_err(read_conf(path));
    ib_tenant *t = apr_hash_get(reg->by_name, "acme", APR_HASH_KEY_STRING);
    ck_assert_str_eq(t->signin_id, "acme");
}
END_TEST

START_TEST(test_read_file_passes_warnings_with_position)
{
    const char *path = write_tenant_conf(kdir, "acme.conf", "acme", SIMPLE_BODY);
    ck_assert_no_err(read_conf(path));
    ck_assert(warned("tenant 'acme', primary app: no IdP connection configured yet"));
}
END_TEST

/* ---- known core bugs (opt-in, see conf_suite) ----------------------------- */

START_TEST(test_two_tenants_may_share_a_generic_base_url)
{
    /* EID-6: one IdP app shared by several tenants needs the generic entity
     * ID, so two unscoped tenants on one SP host are legitimate; the ACS
     * tells them apart by the pending request, not by the URL. */
    simple_tenant("a", "a", BASE, NULL);
    begin_tenant("b", "b");
    add_tenant_key();
    add_app("primary", "https://SAML.example.com/", NULL);
    ck_assert_ptr_null(ib_conf_end_tenant(&ctx));
}
END_TEST

START_TEST(test_regression_continuation_at_end_of_file_is_reported)
{
    /* ib_conf_file.c: a last line ending in a backslash stays in `pending` and is
     * dropped without a word when the file ends. */
    const char *path = write_text_file(kdir, "acme.conf",
                                       "<IdBrokerTenant acme>\n" SIMPLE_BODY
                                       "</IdBrokerTenant>\n"
                                       "IdBrokerBogus \\\n");
    ck_assert_ptr_nonnull(read_conf(path));
}
END_TEST

Suite *conf_suite(void)
{
    Suite *s = suite_create("conf");

    TCase *tc = test_tcase("registry");
    tcase_add_checked_fixture(tc, conf_setup, NULL);
    tcase_add_test(tc, test_valid_tenant_is_registered_by_name);
    tcase_add_test(tc, test_signin_id_is_registered_lowercase);
    tcase_add_test(tc, test_scoped_apps_are_registered_by_guid);
    tcase_add_test(tc, test_generic_app_is_not_registered_by_guid);
    tcase_add_test(tc, test_apps_are_found_by_lowercase_host);
    tcase_add_test(tc, test_app_for_path_on_default_port_accepts_port_zero);
    tcase_add_test(tc, test_app_for_path_on_other_port_needs_that_port);
    tcase_add_test(tc, test_app_for_path_requires_path_below_prefix);
    tcase_add_test(tc, test_app_for_path_selects_by_scope_guid_on_shared_host);
    tcase_add_test(tc, test_app_for_path_without_guid_takes_first_declared);
    tcase_add_test(tc, test_app_for_path_with_guid_skips_generic_app);
    tcase_add_test(tc, test_two_tenants_coexist);
    suite_add_tcase(s, tc);

    tc = test_tcase("finalize");
    tcase_add_checked_fixture(tc, conf_setup, NULL);
    tcase_add_test(tc, test_generic_entity_id_defaults_to_base_origin);
    tcase_add_test(tc, test_scoped_entity_id_is_generic_slash_guid);
    tcase_add_test(tc, test_explicit_generic_entity_id_is_scoped);
    tcase_add_test(tc, test_custom_domain_generic_defaults_to_primary_generic);
    tcase_add_test(tc, test_custom_domain_inherits_explicit_primary_generic);
    tcase_add_test(tc, test_custom_domain_may_precede_primary_in_the_tenant);
    tcase_add_test(tc, test_scoped_generic_entity_id_must_not_end_with_slash);
    tcase_add_test(tc, test_metadata_id_is_stable_and_starts_with_underscore);
    tcase_add_test(tc, test_apps_share_tenant_keys_unless_they_have_their_own);
    tcase_add_test(tc, test_app_with_own_key_needs_no_tenant_key);
    tcase_add_test(tc, test_sp_key_activate_at_is_parsed);
    tcase_add_test(tc, test_tenant_defaults);
    tcase_add_test(tc, test_tenant_directives_set_their_values);
    tcase_add_test(tc, test_authn_context_keeps_full_uri);
    tcase_add_test(tc, test_directive_names_are_case_insensitive);
    tcase_add_test(tc, test_complete_idp_connection_is_recorded);
    tcase_add_test(tc, test_idp_cert_may_repeat);
    tcase_add_test(tc, test_app_without_idp_warns_but_is_accepted);
    tcase_add_test(tc, test_expired_idp_cert_warns);
    tcase_add_test(tc, test_no_active_sp_key_warns);
    tcase_add_test(tc, test_active_key_warning_follows_pinned_clock);
    suite_add_tcase(s, tc);

    tc = test_tcase("tenant_errors");
    tcase_add_checked_fixture(tc, conf_setup, NULL);
    tcase_add_test(tc, test_missing_signin_id_is_refused);
    tcase_add_test(tc, test_signin_id_with_invalid_characters_is_refused);
    tcase_add_test(tc, test_signin_id_longer_than_64_is_refused);
    tcase_add_test(tc, test_duplicate_signin_id_ignoring_case_is_refused);
    tcase_add_test(tc, test_duplicate_tenant_name_is_refused);
    tcase_add_test(tc, test_invalid_tenant_name_is_refused);
    tcase_add_test(tc, test_nested_tenant_is_refused);
    tcase_add_test(tc, test_tenant_without_primary_app_is_refused);
    tcase_add_test(tc, test_end_tenant_without_begin_is_refused);
    tcase_add_test(tc, test_end_tenant_with_open_app_is_refused);
    tcase_add_test(tc, test_no_sp_key_is_refused);
    tcase_add_test(tc, test_sp_key_errors_name_the_directive);
    tcase_add_test(tc, test_bad_activate_at_is_refused);
    tcase_add_test(tc, test_unknown_sp_key_option_is_refused);
    tcase_add_test(tc, test_failed_tenant_is_not_registered);
    tcase_add_test(tc, test_tenant_only_directive_inside_app_is_refused);
    tcase_add_test(tc, test_app_only_directive_at_tenant_level_is_refused);
    tcase_add_test(tc, test_directive_outside_tenant_is_refused);
    tcase_add_test(tc, test_unknown_directive_is_refused);
    tcase_add_test(tc, test_tenant_directive_given_twice_is_refused);
    tcase_add_test(tc, test_app_directive_given_twice_is_refused);
    tcase_add_test(tc, test_same_directive_in_both_apps_is_not_twice);
    tcase_add_test(tc, test_repeatable_directives_may_repeat);
    tcase_add_test(tc, test_wrong_argument_count_is_refused);
    tcase_add_test(tc, test_bad_on_off_is_refused);
    tcase_add_test(tc, test_bad_response_signing_is_refused);
    tcase_add_test(tc, test_bad_sso_binding_is_refused);
    tcase_add_test(tc, test_bad_authn_context_comparison_is_refused);
    tcase_add_test(tc, test_bad_authn_context_class_is_refused);
    suite_add_tcase(s, tc);

    tc = test_tcase("app_errors");
    tcase_add_checked_fixture(tc, conf_setup, NULL);
    tcase_add_test(tc, test_uppercase_scope_guid_is_refused);
    tcase_add_test(tc, test_duplicate_guid_across_tenants_is_refused);
    tcase_add_test(tc, test_duplicate_guid_within_one_tenant_is_refused);
    tcase_add_test(tc, test_missing_sp_base_url_is_refused);
    tcase_add_test(tc, test_bad_sp_base_url_names_the_directive);
    tcase_add_test(tc, test_incomplete_idp_connection_lists_missing_directives);
    tcase_add_test(tc, test_idp_slo_url_alone_lists_all_required_directives);
    tcase_add_test(tc, test_idp_cert_alone_lists_entity_id_and_sso_url);
    tcase_add_test(tc, test_idp_cert_with_private_key_is_refused);
    tcase_add_test(tc, test_plain_http_idp_sso_url_is_refused);
    tcase_add_test(tc, test_non_uri_entity_ids_are_refused);
    tcase_add_test(tc, test_unknown_app_kind_is_refused);
    tcase_add_test(tc, test_second_primary_app_is_refused);
    tcase_add_test(tc, test_nested_app_is_refused);
    tcase_add_test(tc, test_app_outside_tenant_is_refused);
    tcase_add_test(tc, test_custom_domain_with_primary_base_url_is_refused);
    suite_add_tcase(s, tc);

    tc = test_tcase("read_file");
    tcase_add_checked_fixture(tc, conf_setup, NULL);
    tcase_add_test(tc, test_read_file_registers_a_valid_tenant);
    tcase_add_test(tc, test_read_file_resolves_relative_key_paths_against_conf_dir);
    tcase_add_test(tc, test_read_file_keeps_absolute_key_paths);
    tcase_add_test(tc, test_read_file_reports_file_and_line_of_error);
    tcase_add_test(tc, test_read_file_reports_line_of_failing_section_end);
    tcase_add_test(tc, test_read_file_ignores_comments_and_blank_lines);
    tcase_add_test(tc, test_read_file_accepts_quoted_arguments);
    tcase_add_test(tc, test_read_file_joins_backslash_continued_lines);
    tcase_add_test(tc, test_read_file_continued_directive_is_applied);
    tcase_add_test(tc, test_read_file_counts_lines_after_continuation);
    tcase_add_test(tc, test_read_file_reports_unclosed_tenant);
    tcase_add_test(tc, test_read_file_reports_unclosed_app_at_tenant_end);
    tcase_add_test(tc, test_read_file_refuses_unknown_section);
    tcase_add_test(tc, test_read_file_refuses_section_without_closing_bracket);
    tcase_add_test(tc, test_read_file_section_names_are_case_insensitive);
    tcase_add_test(tc, test_read_file_reads_two_tenants);
    tcase_add_test(tc, test_read_file_refuses_duplicate_signin_id_in_second_file);
    tcase_add_test(tc, test_read_file_reports_missing_file);
    tcase_add_test(tc, test_read_file_handles_crlf_line_ends);
    tcase_add_test(tc, test_read_file_passes_warnings_with_position);
    suite_add_tcase(s, tc);

    /* Defects found in review, fixed; kept so they stay fixed. */
    tc = test_tcase("regressions");
    tcase_add_checked_fixture(tc, conf_setup, NULL);
    tcase_add_test(tc, test_two_tenants_may_share_a_generic_base_url);
    tcase_add_test(tc, test_regression_continuation_at_end_of_file_is_reported);
    suite_add_tcase(s, tc);
    return s;
}
