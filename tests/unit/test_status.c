/* ib_status: the operator status document (JSON), its HTML rendering with
 * every value escaped, content negotiation, and that no private key
 * material ever reaches either form. Registries come from tenant conf files
 * read with ib_conf_read_file, as the CLI reads them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h> /* before ib_clock.h, which uses struct tm without including it */

#include <apr_strings.h>
#include <cjson/cJSON.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "core/ib_clock.h"
#include "core/ib_conf.h"
#include "core/ib_idp_fetch.h"
#include "core/ib_idp_source.h"
#include "core/ib_status.h"
#include "test_support.h"

#define LONG_AGO utc("2000-01-01T00:00:00Z")
#define FAR_AHEAD utc("2099-01-01T00:00:00Z")
#define NOW utc("2025-06-01T12:00:00Z")
#define NEXT_AT "2030-01-01T00:00:00Z"
#define BASE "https://saml.example.com"
#define IDP_ENTITY "https://idp.example.org/"
#define HOSTILE_CN "<img src=x onerror=alert(1)>"

static const char *kdir;   /* sp.*, sp2.*, idp.*, idp-old.*, enc.* */

static void status_setup(void)
{
    kdir = fresh_dir();
    write_keypair_slot(kdir, "sp", "rsa2048", 0, LONG_AGO, FAR_AHEAD);
    write_keypair_slot(kdir, "sp2", "rsa2048", 1, LONG_AGO, FAR_AHEAD);
    write_keypair_slot(kdir, "idp", "rsa2048", 2, LONG_AGO, FAR_AHEAD);
    write_keypair_slot(kdir, "idp-old", "ec256", 0, LONG_AGO, utc("2010-01-01T00:00:00Z"));
    write_keypair_slot(kdir, "enc", "rsa2048", 2, LONG_AGO, utc("2025-06-20T12:00:00Z"));
}

static const char *K(const char *name)
{
    return path_in(kdir, name);
}

/* ---- helpers ------------------------------------------------------------- */

/* The registry of one tenant conf file with body `body` (a printf format
 * whose every %s is the key directory). */
static ib_registry *registry_of(const char *body)
{
    ib_registry *reg = ib_registry_make(test_pool());
    ib_conf_ctx ctx;
    ib_conf_init(&ctx, test_pool(), reg);
    const char *text = apr_psprintf(test_pool(), body, kdir, kdir, kdir, kdir, kdir, kdir,
                                    kdir, kdir);
    const char *conf = write_tenant_conf(fresh_dir(), "acme.conf", "acme", text);
    ck_assert_no_err(ib_conf_read_file(&ctx, conf));
    return reg;
}

/* Tenant acme: key sp, key sp2 from NEXT_AT, decryption key enc, a primary
 * app with a pinned IdP (a valid and an expired certificate). */
#define TWO_KEYS_BODY                                                    \
    "    IdBrokerSignInID AcMe\n"                                        \
    "    IdBrokerSPKey %s/sp.key %s/sp.crt\n"                            \
    "    IdBrokerSPKey %s/sp2.key %s/sp2.crt activate-at=" NEXT_AT "\n"  \
    "    IdBrokerSPDecryptionKey %s/enc.key %s/enc.crt\n"                   \
    "    <IdBrokerApp primary>\n"                                        \
    "        IdBrokerSPBaseURL " BASE "\n"                               \
    "        IdBrokerIdPEntityID " IDP_ENTITY "\n"                       \
    "        IdBrokerIdPSSOURL https://idp.example.org/sso\n"            \
    "        IdBrokerIdPCert %s/idp.crt\n"                               \
    "        IdBrokerIdPCert %s/idp-old.crt\n"                           \
    "    </IdBrokerApp>\n"

/* Tenant acme with one key and a primary app whose IdP comes from metadata
 * (lines appended after the base URL). */
static ib_registry *registry_with_source(const char *source_lines)
{
    return registry_of(apr_pstrcat(test_pool(),
                                   "    IdBrokerSignInID acme\n"
                                   "    IdBrokerSPKey %s/sp.key %s/sp.crt\n"
                                   "    <IdBrokerApp primary>\n"
                                   "        IdBrokerSPBaseURL " BASE "\n",
                                   source_lines, "    </IdBrokerApp>\n", NULL));
}

/* The value at a path such as "tenants/0/apps/0/kind"; NULL when absent. */
static const cJSON *at(const cJSON *doc, const char *path)
{
    char *copy = apr_pstrdup(test_pool(), path);
    char *state;
    const cJSON *v = doc;
    for (char *step = apr_strtok(copy, "/", &state); step && v; step = apr_strtok(NULL, "/", &state)) {
        v = cJSON_IsArray(v) ? cJSON_GetArrayItem(v, atoi(step))
                             : cJSON_GetObjectItemCaseSensitive(v, step);
    }
    return v;
}

static const char *str_at(const cJSON *doc, const char *path)
{
    const cJSON *v = at(doc, path);
    ck_assert_msg(cJSON_IsString(v), "%s is not a string", path);
    return v->valuestring;
}

static int int_at(const cJSON *doc, const char *path)
{
    const cJSON *v = at(doc, path);
    ck_assert_msg(cJSON_IsNumber(v), "%s is not a number", path);
    return v->valueint;
}

static int bool_at(const cJSON *doc, const char *path)
{
    const cJSON *v = at(doc, path);
    ck_assert_msg(cJSON_IsBool(v), "%s is not a boolean", path);
    return cJSON_IsTrue(v);
}

static int null_at(const cJSON *doc, const char *path)
{
    return cJSON_IsNull(at(doc, path));
}

static int size_at(const cJSON *doc, const char *path)
{
    const cJSON *v = at(doc, path);
    ck_assert_msg(cJSON_IsArray(v), "%s is not an array", path);
    return cJSON_GetArraySize(v);
}

/* A certificate fingerprint computed here with OpenSSL, independently of
 * ib_keys: uppercase hex, no separators. */
static const char *fingerprint(const char *pem_path, const EVP_MD *md)
{
    FILE *f = fopen(pem_path, "r");
    ck_assert_ptr_nonnull(f);
    X509 *x = PEM_read_X509(f, NULL, NULL, NULL);
    fclose(f);
    ck_assert_ptr_nonnull(x);
    unsigned char d[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    ck_assert_int_eq(X509_digest(x, md, d, &n), 1);
    X509_free(x);
    char *hex = apr_palloc(test_pool(), 2 * n + 1);
    for (unsigned int i = 0; i < n; i++) {
        sprintf(hex + 2 * i, "%02X", d[i]);
    }
    return hex;
}

/* One app of the first tenant: "tenants/0/apps/N/" + rest. */
static const char *app_path(int n, const char *rest)
{
    return apr_psprintf(test_pool(), "tenants/0/apps/%d/%s", n, rest);
}

#define P(rest) app_path(0, rest)

/* IdP metadata with one signing certificate; entity_xml goes into the
 * entityID attribute as written (already XML-escaped). */
static const char *idp_metadata(const char *entity_xml, const char *cert_pem_path)
{
    ib_cert *cert;
    ck_assert_no_err(ib_cert_load_file(test_pool(), cert_pem_path, &cert));
    return apr_psprintf(test_pool(),
        "<?xml version=\"1.0\"?>\n"
        "<md:EntityDescriptor xmlns:md=\"urn:oasis:names:tc:SAML:2.0:metadata\" "
        "xmlns:ds=\"http://www.w3.org/2000/09/xmldsig#\" entityID=\"%s\">\n"
        " <md:IDPSSODescriptor protocolSupportEnumeration=\"urn:oasis:names:tc:SAML:2.0:protocol\">\n"
        "  <md:KeyDescriptor use=\"signing\"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>"
        "%s</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>\n"
        "  <md:SingleSignOnService Binding=\"urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST\" "
        "Location=\"https://idp.example.org/sso\"/>\n"
        " </md:IDPSSODescriptor>\n</md:EntityDescriptor>\n", entity_xml, cert->der_b64);
}

/* A registry whose one app takes its IdP from dir/idp.xml (*md), started. */
static ib_registry *registry_with_file_source(const char *dir, const char **md)
{
    *md = write_text_file(dir, "idp.xml", idp_metadata(IDP_ENTITY, K("idp.crt")));
    ib_registry *reg = registry_with_source(
        apr_psprintf(test_pool(), "        IdBrokerIdPMetadataFile %s\n", *md));
    ck_assert_no_err(ib_idp_source_start(test_pool(), APR_ARRAY_IDX(reg->apps, 0, ib_app *),
                                         dir, NOW));
    return reg;
}

/* ---- the JSON document ----------------------------------------------------- */

START_TEST(test_json_names_tenant_and_app)
{
    const cJSON *doc = ib_status_json(test_pool(), registry_of(TWO_KEYS_BODY), NOW);
    ck_assert_str_eq(str_at(doc, "generated_at"), "2025-06-01T12:00:00Z");
    ck_assert_int_eq(size_at(doc, "tenants"), 1);
    ck_assert_str_eq(str_at(doc, "tenants/0/name"), "acme");
    ck_assert_str_eq(str_at(doc, "tenants/0/signin_id"), "acme");
    ck_assert_int_eq(size_at(doc, "tenants/0/apps"), 1);
    ck_assert_str_eq(str_at(doc, P("kind")), "primary");
    ck_assert_str_eq(str_at(doc, P("sp_base_url")), BASE);
    ck_assert_str_eq(str_at(doc, P("sp_entity_id")), BASE);
    ck_assert(null_at(doc, P("metadata_source")));
}
END_TEST

START_TEST(test_json_shows_active_and_next_sp_key)
{
    const cJSON *doc = ib_status_json(test_pool(), registry_of(TWO_KEYS_BODY), NOW);
    ck_assert_str_eq(str_at(doc, P("sp_keys/active/sha256")), fingerprint(K("sp.crt"), EVP_sha256()));
    ck_assert_str_eq(str_at(doc, P("sp_keys/active/sha1")), fingerprint(K("sp.crt"), EVP_sha1()));
    ck_assert_str_eq(str_at(doc, P("sp_keys/active/subject")), "CN=sp");
    ck_assert_str_eq(str_at(doc, P("sp_keys/active/file")), K("sp.crt"));
    ck_assert_str_eq(str_at(doc, P("sp_keys/active/not_before")), "2000-01-01T00:00:00Z");
    ck_assert_str_eq(str_at(doc, P("sp_keys/active/not_after")), "2099-01-01T00:00:00Z");
    ck_assert(!bool_at(doc, P("sp_keys/active/expired")));
    ck_assert(null_at(doc, P("sp_keys/active/activate_at")));
    /* 2025-06-01T12:00Z to 2099-01-01T00:00Z: 26,876.5 days, rounded down. */
    ck_assert_int_eq(int_at(doc, P("sp_keys/active/expires_in_days")), 26876);

    ck_assert_int_eq(size_at(doc, P("sp_keys/next")), 1);
    ck_assert_str_eq(str_at(doc, P("sp_keys/next/0/sha256")), fingerprint(K("sp2.crt"), EVP_sha256()));
    ck_assert_str_eq(str_at(doc, P("sp_keys/next/0/activate_at")), NEXT_AT);
    ck_assert_str_eq(str_at(doc, P("sp_keys/next_rotation")), NEXT_AT);

    ck_assert_int_eq(size_at(doc, P("sp_keys/all")), 2);
    ck_assert_str_eq(str_at(doc, P("sp_keys/all/0/role")), "active");
    ck_assert_str_eq(str_at(doc, P("sp_keys/all/1/role")), "next");
}
END_TEST

START_TEST(test_json_after_the_instant_the_next_key_is_active)
{
    const cJSON *doc = ib_status_json(test_pool(), registry_of(TWO_KEYS_BODY),
                                      utc("2031-01-01T00:00:00Z"));
    ck_assert_str_eq(str_at(doc, P("sp_keys/active/sha256")), fingerprint(K("sp2.crt"), EVP_sha256()));
    ck_assert_str_eq(str_at(doc, P("sp_keys/active/activate_at")), NEXT_AT);
    ck_assert_int_eq(size_at(doc, P("sp_keys/next")), 0);
    ck_assert(null_at(doc, P("sp_keys/next_rotation")));
    ck_assert_str_eq(str_at(doc, P("sp_keys/all/0/role")), "superseded");
    ck_assert_str_eq(str_at(doc, P("sp_keys/all/1/role")), "active");
}
END_TEST

START_TEST(test_json_active_key_is_null_when_none_qualifies)
{
    /* Both certificates expired: SP signing fails closed, and the page says so. */
    const cJSON *doc = ib_status_json(test_pool(), registry_of(TWO_KEYS_BODY),
                                      utc("2100-01-01T00:00:00Z"));
    ck_assert(null_at(doc, P("sp_keys/active")));
    ck_assert_str_eq(str_at(doc, P("sp_keys/all/0/role")), "expired");
    ck_assert(bool_at(doc, P("sp_keys/all/0/expired")));
    ck_assert_int_eq(int_at(doc, P("sp_keys/all/0/expires_in_days")), -365);
}
END_TEST

START_TEST(test_json_lists_every_idp_cert_with_expiry)
{
    const cJSON *doc = ib_status_json(test_pool(), registry_of(TWO_KEYS_BODY), NOW);
    ck_assert(bool_at(doc, P("idp/configured")));
    ck_assert_str_eq(str_at(doc, P("idp/entity_id")), IDP_ENTITY);
    ck_assert_str_eq(str_at(doc, P("idp/sso_url")), "https://idp.example.org/sso");
    ck_assert(null_at(doc, P("idp/slo_url")));
    ck_assert_str_eq(str_at(doc, P("idp/from")), "configuration");
    ck_assert(null_at(doc, P("idp/valid_until")));
    ck_assert_int_eq(size_at(doc, P("idp/certs")), 2);

    ck_assert_str_eq(str_at(doc, P("idp/certs/0/sha256")), fingerprint(K("idp.crt"), EVP_sha256()));
    ck_assert_str_eq(str_at(doc, P("idp/certs/0/sha1")), fingerprint(K("idp.crt"), EVP_sha1()));
    ck_assert_str_eq(str_at(doc, P("idp/certs/0/origin")), "configuration");
    ck_assert(!bool_at(doc, P("idp/certs/0/expired")));

    ck_assert_str_eq(str_at(doc, P("idp/certs/1/subject")), "CN=idp-old");
    ck_assert_str_eq(str_at(doc, P("idp/certs/1/file")), K("idp-old.crt"));
    ck_assert_str_eq(str_at(doc, P("idp/certs/1/not_after")), "2010-01-01T00:00:00Z");
    ck_assert(bool_at(doc, P("idp/certs/1/expired")));
    ck_assert(!bool_at(doc, P("idp/certs/1/expires_soon")));
    ck_assert_int_lt(int_at(doc, P("idp/certs/1/expires_in_days")), -5000);
}
END_TEST

START_TEST(test_json_flags_a_cert_expiring_within_30_days)
{
    /* enc.crt expires 2025-06-20T12:00Z, 19 days after NOW. */
    const cJSON *doc = ib_status_json(test_pool(), registry_of(TWO_KEYS_BODY), NOW);
    ck_assert_int_eq(size_at(doc, P("decrypt_keys")), 1);
    ck_assert_str_eq(str_at(doc, P("decrypt_keys/0/sha256")), fingerprint(K("enc.crt"), EVP_sha256()));
    ck_assert(bool_at(doc, P("decrypt_keys/0/expires_soon")));
    ck_assert(!bool_at(doc, P("decrypt_keys/0/expired")));
    ck_assert_int_eq(int_at(doc, P("decrypt_keys/0/expires_in_days")), 19);
}
END_TEST

START_TEST(test_json_shows_metadata_file_source_and_its_certs)
{
    const char *dir = fresh_dir();
    const char *md;
    ib_registry *reg = registry_with_file_source(dir, &md);

    const cJSON *doc = ib_status_json(test_pool(), reg, NOW);
    ck_assert_str_eq(str_at(doc, P("metadata_source/file")), md);
    ck_assert_str_eq(str_at(doc, P("metadata_source/path")), md);
    ck_assert_ptr_null(at(doc, P("metadata_source/url")));
    ck_assert(null_at(doc, P("metadata_source/signer")));
    ck_assert(null_at(doc, P("metadata_source/state")));       /* no fetcher for a file */
    ck_assert(null_at(doc, P("metadata_source/last_error")));
    ck_assert(bool_at(doc, P("idp/configured")));
    ck_assert_str_eq(str_at(doc, P("idp/from")), md);
    ck_assert_str_eq(str_at(doc, P("idp/loaded_at")), "2025-06-01T12:00:00Z");
    ck_assert_str_eq(str_at(doc, P("idp/entity_id")), IDP_ENTITY);
    ck_assert_int_eq(size_at(doc, P("idp/certs")), 1);
    ck_assert_str_eq(str_at(doc, P("idp/certs/0/sha256")), fingerprint(K("idp.crt"), EVP_sha256()));
    ck_assert_str_eq(str_at(doc, P("idp/certs/0/origin")), "metadata");
}
END_TEST

/* The status page shows the copy on disk in whichever process answers:
 * settling waits for the parse a poll began in the background. */
START_TEST(test_settle_puts_a_replaced_copy_in_force_before_returning)
{
    const char *dir = fresh_dir();
    const char *md;
    ib_registry *reg = registry_with_file_source(dir, &md);
    ib_app *app = APR_ARRAY_IDX(reg->apps, 0, ib_app *);
    ck_assert_str_eq(ib_app_idp(app)->entity_id, IDP_ENTITY);

    const char *second = "https://idp.example.org/second-copy";
    write_text_file(dir, "idp.xml", idp_metadata(second, K("idp.crt")));
    int changed = 0;
    /* A request's poll starts the parse and returns at once... */
    ck_assert_no_err(ib_idp_source_poll(app, NOW, &changed));
    /* ...and settling waits for it and hands over its outcome, once. */
    ck_assert_no_err(ib_idp_source_settle(app, NOW, apr_time_from_sec(10), &changed));
    ck_assert_int_eq(changed, 1);
    ck_assert_str_eq(ib_app_idp(app)->entity_id, second);
    ck_assert_str_eq(str_at(ib_status_json(test_pool(), reg, NOW), P("idp/entity_id")), second);
    ck_assert_no_err(ib_idp_source_settle(app, NOW, apr_time_from_sec(10), &changed));
    ck_assert_int_eq(changed, 0);

    /* A refused copy: the one in force stays and the refusal is reported. */
    write_text_file(dir, "idp.xml", "<md:EntityDescriptor");
    ck_assert_err_has(ib_idp_source_settle(app, NOW, apr_time_from_sec(10), &changed),
                      "idp.xml");
    ck_assert_int_eq(changed, 0);
    ck_assert_str_eq(ib_app_idp(app)->entity_id, second);
}
END_TEST

START_TEST(test_json_shows_url_source_fetch_state)
{
    const char *state_dir = fresh_dir();
    ib_registry *reg = registry_with_source(
        "        IdBrokerIdPMetadataURL https://idp.example.org/metadata\n"
        "        IdBrokerIdPMetadataSigner %s/idp.crt\n"
        "        IdBrokerIdPMetadataRefresh 60 3600\n");
    ib_app *app = APR_ARRAY_IDX(reg->apps, 0, ib_app *);
    /* No copy fetched yet: the app has no IdP, and the source says why. */
    ck_assert_err_has(ib_idp_source_start(test_pool(), app, state_dir, NOW), "no metadata copy");

    const cJSON *doc = ib_status_json(test_pool(), reg, NOW);
    ck_assert_str_eq(str_at(doc, P("metadata_source/url")), "https://idp.example.org/metadata");
    ck_assert_ptr_null(at(doc, P("metadata_source/file")));
    ck_assert_str_eq(str_at(doc, P("metadata_source/path")), app->md_source->path);
    ck_assert_str_eq(str_at(doc, P("metadata_source/signer/sha256")),
                     fingerprint(K("idp.crt"), EVP_sha256()));
    ck_assert_int_eq(int_at(doc, P("metadata_source/min_refresh")), 60);
    ck_assert_int_eq(int_at(doc, P("metadata_source/max_refresh")), 3600);
    ck_assert(null_at(doc, P("metadata_source/state/last_attempt")));   /* never tried */
    ck_assert(!bool_at(doc, P("metadata_source/state/ok")));
    ck_assert_ptr_nonnull(strstr(str_at(doc, P("metadata_source/last_error")), "no metadata copy"));
    ck_assert(!bool_at(doc, P("idp/configured")));

    /* What the fetcher saved (any process's) is what the page shows. */
    ib_idp_fetch_state st = {0};
    st.last_attempt = utc("2025-06-01T11:00:00Z");
    st.last_success = utc("2025-06-01T10:00:00Z");
    st.last_change = utc("2025-05-01T00:00:00Z");
    st.next_due = utc("2025-06-01T11:02:00Z");
    st.failures = 2;
    st.ok = 0;
    st.outcome = "HTTP status 503";
    ck_assert_no_err(ib_idp_fetch_state_save(test_pool(), app->md_source, &st));
    doc = ib_status_json(test_pool(), reg, NOW);
    ck_assert_str_eq(str_at(doc, P("metadata_source/state/last_attempt")), "2025-06-01T11:00:00Z");
    ck_assert_str_eq(str_at(doc, P("metadata_source/state/last_success")), "2025-06-01T10:00:00Z");
    ck_assert_str_eq(str_at(doc, P("metadata_source/state/last_change")), "2025-05-01T00:00:00Z");
    ck_assert_str_eq(str_at(doc, P("metadata_source/state/next_refresh")), "2025-06-01T11:02:00Z");
    ck_assert_int_eq(int_at(doc, P("metadata_source/state/failures")), 2);
    ck_assert(!bool_at(doc, P("metadata_source/state/ok")));
    ck_assert_str_eq(str_at(doc, P("metadata_source/state/outcome")), "HTTP status 503");
}
END_TEST

START_TEST(test_json_of_an_empty_registry)
{
    const cJSON *doc = ib_status_json(test_pool(), ib_registry_make(test_pool()), NOW);
    ck_assert_int_eq(size_at(doc, "tenants"), 0);
    ck_assert_ptr_nonnull(strstr(ib_status_html(test_pool(), doc), "No tenant is configured"));
}
END_TEST

/* ---- HTML -------------------------------------------------------------------- */

START_TEST(test_html_escape_replaces_markup_characters)
{
    ck_assert_str_eq(ib_html_escape(test_pool(), "<a href=\"x\" title='y'>&amp;</a>"),
                     "&lt;a href=&quot;x&quot; title=&#39;y&#39;&gt;&amp;amp;&lt;/a&gt;");
    ck_assert_str_eq(ib_html_escape(test_pool(), "plain"), "plain");
    ck_assert_str_eq(ib_html_escape(test_pool(), ""), "");
    ck_assert_str_eq(ib_html_escape(test_pool(), NULL), "");
}
END_TEST

START_TEST(test_html_shows_the_same_facts_as_json)
{
    const cJSON *doc = ib_status_json(test_pool(), registry_of(TWO_KEYS_BODY), NOW);
    const char *html = ib_status_html(test_pool(), doc);
    const char *expected[] = {
        "<!DOCTYPE html>", "2025-06-01T12:00:00Z", "<code>acme</code>", BASE, IDP_ENTITY,
        fingerprint(K("sp.crt"), EVP_sha256()), fingerprint(K("sp.crt"), EVP_sha1()),
        fingerprint(K("sp2.crt"), EVP_sha256()), fingerprint(K("idp.crt"), EVP_sha256()),
        fingerprint(K("idp-old.crt"), EVP_sha1()), fingerprint(K("enc.crt"), EVP_sha256()),
        NEXT_AT, "CN=idp-old", "2010-01-01T00:00:00Z", K("idp-old.crt"),
        "<td>active</td>", "<td>next</td>",
    };
    for (size_t i = 0; i < sizeof(expected) / sizeof(expected[0]); i++) {
        ck_assert_msg(strstr(html, expected[i]) != NULL, "HTML lacks \"%s\"", expected[i]);
    }
}
END_TEST

START_TEST(test_html_escapes_hostile_entity_id_and_subject)
{
    /* Metadata is outside data: its entityID (here "<script>...") and a
     * certificate subject (CN "<img ...>") must reach the page as text. */
    const char *dir = fresh_dir();
    write_keypair_slot(dir, HOSTILE_CN, "ec256", 0, LONG_AGO, FAR_AHEAD);
    const char *md = write_text_file(dir, "idp.xml", idp_metadata(
        "https://idp.example.org/&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;",
        path_in(dir, HOSTILE_CN ".crt")));
    ib_registry *reg = registry_with_source(
        apr_psprintf(test_pool(), "        IdBrokerIdPMetadataFile %s\n", md));
    ck_assert_no_err(ib_idp_source_start(test_pool(), APR_ARRAY_IDX(reg->apps, 0, ib_app *),
                                         dir, NOW));
    const cJSON *doc = ib_status_json(test_pool(), reg, NOW);
    ck_assert_str_eq(str_at(doc, P("idp/entity_id")),
                     "https://idp.example.org/<script>alert(\"x\")</script>");
    ck_assert_ptr_nonnull(strstr(str_at(doc, P("idp/certs/0/subject")), "<img"));

    const char *html = ib_status_html(test_pool(), doc);
    ck_assert_ptr_null(strstr(html, "<script"));
    ck_assert_ptr_null(strstr(html, "<img"));
    ck_assert_ptr_null(strstr(html, "\"x\""));
    ck_assert_ptr_nonnull(strstr(html, "https://idp.example.org/&lt;script&gt;alert("
                                       "&quot;x&quot;)&lt;/script&gt;"));
    ck_assert_ptr_nonnull(strstr(html, "&lt;img src=x onerror=alert(1)"));
}
END_TEST

/* ---- no private key material ---------------------------------------------- */

static void assert_absent(const char *what, const char *text, const char *needle)
{
    ck_assert_msg(strstr(text, needle) == NULL, "the %s holds \"%s\"", what, needle);
}

START_TEST(test_output_holds_no_private_key_material)
{
    const cJSON *doc = ib_status_json(test_pool(), registry_of(TWO_KEYS_BODY), NOW);
    const char *outputs[][2] = {
        {"JSON", ib_status_json_text(test_pool(), doc)},
        {"HTML", ib_status_html(test_pool(), doc)},
    };
    for (size_t i = 0; i < 2; i++) {
        const char *what = outputs[i][0], *text = outputs[i][1];
        ck_assert_ptr_nonnull(text);
        assert_absent(what, text, "PRIVATE KEY");
        assert_absent(what, text, "-----BEGIN");
        assert_absent(what, text, ".key");   /* not even where the keys live */
        /* Nor any line of the Base64 body of a key file. */
        const char *keys[] = {"sp.key", "sp2.key", "enc.key"};
        for (size_t k = 0; k < sizeof(keys) / sizeof(keys[0]); k++) {
            char *pem = apr_pstrdup(test_pool(), read_text_file(K(keys[k]), NULL));
            char *state;
            for (char *line = apr_strtok(pem, "\n", &state); line;
                 line = apr_strtok(NULL, "\n", &state)) {
                if (strncmp(line, "-----", 5) != 0 && strlen(line) >= 16) {
                    assert_absent(what, text, line);
                }
            }
        }
    }
}
END_TEST

/* ---- content negotiation ------------------------------------------------------ */

START_TEST(test_wants_json_from_query_or_accept)
{
    static const struct {
        const char *query, *accept;
        int json;
    } cases[] = {
        {NULL, NULL, 0},
        {"json", NULL, 1},
        {"format=json", NULL, 1},
        {"x=1&format=json", NULL, 1},
        {"format=html", "application/json", 0},
        {"jsonx", NULL, 0},
        {"format=jsonp", NULL, 0},
        {NULL, "application/json", 1},
        {NULL, "Application/JSON; charset=utf-8", 1},
        {NULL, "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", 0},
        {NULL, "*/*", 0},
        {NULL, "application/json;q=0.9, text/html", 0},
        {NULL, "text/html;q=0.5, application/json", 1},
        {NULL, "application/*", 1},
        {NULL, "text/*;q=0.2, */*;q=0.1, application/json;q=0.3", 1},
        {NULL, "application/json;q=0, */*", 0},
        {NULL, "text/html; q=0.1, application/json; q=0.15", 1},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        ck_assert_msg(ib_status_wants_json(cases[i].query, cases[i].accept) == cases[i].json,
                      "query=%s accept=%s: expected %s", cases[i].query ? cases[i].query : "-",
                      cases[i].accept ? cases[i].accept : "-", cases[i].json ? "JSON" : "HTML");
    }
}
END_TEST

Suite *status_suite(void)
{
    Suite *s = suite_create("status");
    TCase *tc = test_tcase("json");
    tcase_add_checked_fixture(tc, status_setup, NULL);
    tcase_add_test(tc, test_json_names_tenant_and_app);
    tcase_add_test(tc, test_json_shows_active_and_next_sp_key);
    tcase_add_test(tc, test_json_after_the_instant_the_next_key_is_active);
    tcase_add_test(tc, test_json_active_key_is_null_when_none_qualifies);
    tcase_add_test(tc, test_json_lists_every_idp_cert_with_expiry);
    tcase_add_test(tc, test_json_flags_a_cert_expiring_within_30_days);
    tcase_add_test(tc, test_json_shows_metadata_file_source_and_its_certs);
    tcase_add_test(tc, test_settle_puts_a_replaced_copy_in_force_before_returning);
    tcase_add_test(tc, test_json_shows_url_source_fetch_state);
    tcase_add_test(tc, test_json_of_an_empty_registry);
    suite_add_tcase(s, tc);

    tc = test_tcase("html");
    tcase_add_checked_fixture(tc, status_setup, NULL);
    tcase_add_test(tc, test_html_escape_replaces_markup_characters);
    tcase_add_test(tc, test_html_shows_the_same_facts_as_json);
    tcase_add_test(tc, test_html_escapes_hostile_entity_id_and_subject);
    tcase_add_test(tc, test_output_holds_no_private_key_material);
    suite_add_tcase(s, tc);

    tc = test_tcase("negotiation");
    tcase_add_test(tc, test_wants_json_from_query_or_accept);
    suite_add_tcase(s, tc);
    return s;
}
