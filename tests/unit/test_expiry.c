/* ib_expiry: certificate expiry findings (IDPCERT-2, SPKEY-8, LOG-5). */
#include <stdio.h>
#include <string.h>

#include <apr_strings.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "core/ib_clock.h"
#include "core/ib_conf.h"
#include "core/ib_expiry.h"
#include "test_support.h"

#define LONG_AGO utc("2000-01-01T00:00:00Z")
#define FAR_AHEAD utc("2099-01-01T00:00:00Z")
#define NOW utc("2030-06-01T00:00:00Z")
#define DAY apr_time_from_sec(86400)
#define SECOND apr_time_from_sec(1)

/* ---- a tenant built through ib_conf, as httpd and the CLI build it -------- */

typedef struct {
    const char *dir;
    ib_registry *reg;
    ib_conf_ctx ctx;
} builder;

static void begin_tenant(builder *b)
{
    ib_clock_pin(NOW);
    b->dir = fresh_dir();
    b->reg = ib_registry_make(test_pool());
    ib_conf_init(&b->ctx, test_pool(), b->reg);
    ck_assert_no_err(ib_conf_begin_tenant(&b->ctx, "acme"));
    ck_assert_no_err(conf_dir(&b->ctx, "IdBrokerSignInID", "acme", NULL));
}

static void end_tenant(builder *b)
{
    ck_assert_no_err(ib_conf_end_tenant(&b->ctx));
}

static void begin_app(builder *b, const char *kind, const char *base)
{
    ck_assert_no_err(ib_conf_begin_app(&b->ctx, kind));
    ck_assert_no_err(conf_dir(&b->ctx, "IdBrokerSPBaseURL", base, NULL));
}

static void end_app(builder *b)
{
    ck_assert_no_err(ib_conf_end_app(&b->ctx));
}

static const char *key_path(builder *b, const char *name)
{
    return path_in(b->dir, apr_pstrcat(test_pool(), name, ".key", NULL));
}

static const char *crt_path(builder *b, const char *name)
{
    return path_in(b->dir, apr_pstrcat(test_pool(), name, ".crt", NULL));
}

/* IdBrokerSPKey NAME.key NAME.crt [activate-at=...] in the open section
 * (tenant or app), with a certificate valid LONG_AGO..not_after. */
static void sp_key(builder *b, const char *name, apr_time_t not_after,
                   const char *activate_at)
{
    write_keypair(b->dir, name, "rsa2048", LONG_AGO, not_after);
    const char *opt = activate_at ? apr_pstrcat(test_pool(), "activate-at=",
                                                activate_at, NULL) : NULL;
    ck_assert_no_err(conf_dir(&b->ctx, "IdBrokerSPKey", key_path(b, name),
                              crt_path(b, name), opt, NULL));
}

static void decrypt_key(builder *b, const char *name, apr_time_t not_after)
{
    write_keypair(b->dir, name, "rsa2048", LONG_AGO, not_after);
    ck_assert_no_err(conf_dir(&b->ctx, "IdBrokerSPDecryptionKey", key_path(b, name),
                              crt_path(b, name), NULL));
}

/* A complete IdP connection in the open app, its first cert NAME.crt. */
static void idp(builder *b, const char *name, apr_time_t not_after)
{
    write_keypair_slot(b->dir, name, "rsa2048", 1, LONG_AGO, not_after);
    ck_assert_no_err(conf_dir(&b->ctx, "IdBrokerIdPEntityID",
                              "https://idp.example.test/entity", NULL));
    ck_assert_no_err(conf_dir(&b->ctx, "IdBrokerIdPSSOURL",
                              "https://idp.example.test/sso", NULL));
    ck_assert_no_err(conf_dir(&b->ctx, "IdBrokerIdPCert", crt_path(b, name), NULL));
}

/* The usual tenant: one long-lived tenant key, a primary app with an IdP
 * connection whose one cert expires at idp_not_after. */
static const ib_registry *tenant_with_idp_cert(builder *b, apr_time_t idp_not_after)
{
    begin_tenant(b);
    sp_key(b, "sp", FAR_AHEAD, NULL);
    begin_app(b, "primary", "https://saml.example.com");
    idp(b, "idp", idp_not_after);
    end_app(b);
    end_tenant(b);
    return b->reg;
}

/* ---- reading findings ----------------------------------------------------- */

static const apr_array_header_t *check_at(const ib_registry *reg, apr_time_t now)
{
    const apr_array_header_t *f = ib_expiry_check(test_pool(), reg, now);
    ck_assert_ptr_nonnull(f);
    return f;
}

static const ib_expiry_finding *finding(const apr_array_header_t *f, int i)
{
    ck_assert_int_gt(f->nelts, i);
    return &APR_ARRAY_IDX(f, i, ib_expiry_finding);
}

/* The one finding whose message contains needle. */
static const ib_expiry_finding *finding_with(const apr_array_header_t *f,
                                             const char *needle)
{
    const ib_expiry_finding *hit = NULL;
    for (int i = 0; i < f->nelts; i++) {
        const ib_expiry_finding *x = &APR_ARRAY_IDX(f, i, ib_expiry_finding);
        if (strstr(x->message, needle) != NULL) {
            ck_assert_msg(hit == NULL, "two findings contain \"%s\"", needle);
            hit = x;
        }
    }
    ck_assert_msg(hit != NULL, "no finding contains \"%s\"", needle);
    return hit;
}

static int count_with(const apr_array_header_t *f, const char *needle)
{
    int n = 0;
    for (int i = 0; i < f->nelts; i++) {
        n += strstr(APR_ARRAY_IDX(f, i, ib_expiry_finding).message, needle) != NULL;
    }
    return n;
}

#define ck_assert_has(haystack, needle)                                          \
    ck_assert_msg(strstr((haystack), (needle)) != NULL,                          \
                  "expected \"%s\" in \"%s\"", (needle), (haystack))

/* Fingerprints computed here with OpenSSL directly, not with ib_keys. */
static void fingerprint(const char *crt, const EVP_MD *md, char *out)
{
    FILE *f = fopen(crt, "r");
    ck_assert_ptr_nonnull(f);
    X509 *x = PEM_read_X509(f, NULL, NULL, NULL);
    fclose(f);
    ck_assert_ptr_nonnull(x);
    unsigned char d[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    ck_assert_int_eq(X509_digest(x, md, d, &n), 1);
    X509_free(x);
    for (unsigned int i = 0; i < n; i++) {
        sprintf(out + 2 * i, "%02X", d[i]);
    }
}

static void assert_cert_details(const char *message, const char *crt, const char *cn)
{
    char sha256[2 * 32 + 1];
    char sha1[2 * 20 + 1];
    fingerprint(crt, EVP_sha256(), sha256);
    fingerprint(crt, EVP_sha1(), sha1);
    ck_assert_has(message, sha256);
    ck_assert_has(message, sha1);
    ck_assert_has(message, crt);
    ck_assert_has(message, apr_pstrcat(test_pool(), "CN=", cn, NULL));
}

static const char *date(apr_time_t t)
{
    char *buf = apr_palloc(test_pool(), IB_UTC_TIME_LEN);
    ib_time_format_utc(t, buf);
    return buf;
}

/* ---- IdP certificates (IDPCERT-2) ----------------------------------------- */

START_TEST(idp_cert_with_31_days_left_draws_nothing)
{
    builder b;
    const ib_registry *reg = tenant_with_idp_cert(&b, NOW + 31 * DAY);
    ck_assert_int_eq(check_at(reg, NOW)->nelts, 0);
}
END_TEST

START_TEST(idp_cert_with_29_days_left_draws_a_warning_with_fingerprints_and_date)
{
    builder b;
    const ib_registry *reg = tenant_with_idp_cert(&b, NOW + 29 * DAY);
    const apr_array_header_t *f = check_at(reg, NOW);
    ck_assert_int_eq(f->nelts, 1);
    const ib_expiry_finding *w = finding(f, 0);
    ck_assert_int_eq(w->level, IB_EXPIRY_WARNING);
    ck_assert_str_eq(w->tenant, "acme");
    ck_assert_str_eq(w->app, "primary");
    ck_assert_has(w->message, "IdP certificate expires at 2030-06-30T00:00:00Z");
    ck_assert_has(w->message, "in 29 days");
    assert_cert_details(w->message, crt_path(&b, "idp"), "idp");
}
END_TEST

START_TEST(idp_cert_warning_starts_at_exactly_30_days)
{
    builder b;
    const ib_registry *reg = tenant_with_idp_cert(&b, NOW + 30 * DAY);
    ck_assert_int_eq(check_at(reg, NOW - SECOND)->nelts, 0);
    ck_assert_int_eq(check_at(reg, NOW)->nelts, 1);
}
END_TEST

START_TEST(expired_idp_cert_draws_an_error)
{
    builder b;
    const ib_registry *reg = tenant_with_idp_cert(&b, NOW - DAY);
    const apr_array_header_t *f = check_at(reg, NOW);
    ck_assert_int_eq(f->nelts, 1);
    const ib_expiry_finding *e = finding(f, 0);
    ck_assert_int_eq(e->level, IB_EXPIRY_ERROR);
    ck_assert_str_eq(e->app, "primary");
    ck_assert_has(e->message, "expired at 2030-05-31T00:00:00Z; it verifies nothing");
    assert_cert_details(e->message, crt_path(&b, "idp"), "idp");
}
END_TEST

START_TEST(idp_cert_is_valid_through_its_not_after_second)
{
    builder b;
    const ib_registry *reg = tenant_with_idp_cert(&b, NOW);
    ck_assert_int_eq(finding(check_at(reg, NOW), 0)->level, IB_EXPIRY_WARNING);
    ck_assert_int_eq(finding(check_at(reg, NOW + SECOND), 0)->level, IB_EXPIRY_ERROR);
}
END_TEST

START_TEST(each_app_reports_its_own_idp_certs)
{
    builder b;
    begin_tenant(&b);
    sp_key(&b, "sp", FAR_AHEAD, NULL);
    begin_app(&b, "primary", "https://saml.example.com");
    idp(&b, "idp-primary", NOW + 10 * DAY);
    write_keypair_slot(b.dir, "idp-next", "rsa2048", 2, LONG_AGO, FAR_AHEAD);
    ck_assert_no_err(conf_dir(&b.ctx, "IdBrokerIdPCert", crt_path(&b, "idp-next"), NULL));
    end_app(&b);
    begin_app(&b, "custom-domain", "https://portal.example.com");
    idp(&b, "idp-custom", NOW - DAY);
    end_app(&b);
    end_tenant(&b);

    const apr_array_header_t *f = check_at(b.reg, NOW);
    ck_assert_int_eq(f->nelts, 2);
    const ib_expiry_finding *p = finding_with(f, crt_path(&b, "idp-primary"));
    ck_assert_str_eq(p->app, "primary");
    ck_assert_int_eq(p->level, IB_EXPIRY_WARNING);
    const ib_expiry_finding *c = finding_with(f, crt_path(&b, "idp-custom"));
    ck_assert_str_eq(c->app, "custom-domain");
    ck_assert_int_eq(c->level, IB_EXPIRY_ERROR);
}
END_TEST

/* ---- SP keys (SPKEY-8) ---------------------------------------------------- */

START_TEST(active_sp_key_near_expiry_without_successor_draws_a_rotation_warning)
{
    builder b;
    begin_tenant(&b);
    sp_key(&b, "sp", NOW + 20 * DAY, NULL);
    begin_app(&b, "primary", "https://saml.example.com");
    end_app(&b);
    end_tenant(&b);

    const apr_array_header_t *f = check_at(b.reg, NOW);
    ck_assert_int_eq(f->nelts, 2);
    const ib_expiry_finding *cert = finding_with(f, "the certificate of the active SP "
                                                    "signing key");
    ck_assert_int_eq(cert->level, IB_EXPIRY_WARNING);
    ck_assert_has(cert->message, key_path(&b, "sp"));
    assert_cert_details(cert->message, crt_path(&b, "sp"), "sp");

    const ib_expiry_finding *w = finding_with(f, "no successor");
    ck_assert_int_eq(w->level, IB_EXPIRY_WARNING);
    ck_assert_str_eq(w->tenant, "acme");
    ck_assert_str_eq(w->app, "primary");
    ck_assert_has(w->message, key_path(&b, "sp"));
    ck_assert_has(w->message, date(NOW + 20 * DAY));
    ck_assert_has(w->message, "add IdBrokerSPKey NEW.key NEW.crt activate-at=");
    ck_assert_has(w->message, "publish the new metadata to the IdP");
}
END_TEST

START_TEST(active_sp_key_near_expiry_with_successor_draws_no_rotation_warning)
{
    builder b;
    begin_tenant(&b);
    sp_key(&b, "sp", NOW + 20 * DAY, NULL);
    sp_key(&b, "next", FAR_AHEAD, "2030-06-15T00:00:00Z");
    begin_app(&b, "primary", "https://saml.example.com");
    end_app(&b);
    end_tenant(&b);

    const apr_array_header_t *f = check_at(b.reg, NOW);
    ck_assert_int_eq(count_with(f, "no successor"), 0);
    ck_assert_int_eq(f->nelts, 1);   /* the expiring cert itself, still reported */
    ck_assert_has(finding(f, 0)->message, key_path(&b, "sp"));
}
END_TEST

START_TEST(successor_activating_after_the_expiry_is_no_successor)
{
    builder b;
    begin_tenant(&b);
    sp_key(&b, "sp", NOW + 20 * DAY, NULL);
    sp_key(&b, "late", FAR_AHEAD, "2030-06-25T00:00:00Z");   /* 4 days without a key */
    begin_app(&b, "primary", "https://saml.example.com");
    end_app(&b);
    end_tenant(&b);

    ck_assert_int_eq(finding_with(check_at(b.reg, NOW), "no successor")->level,
                     IB_EXPIRY_WARNING);
}
END_TEST

START_TEST(no_active_sp_key_is_an_error)
{
    builder b;
    begin_tenant(&b);
    sp_key(&b, "later", FAR_AHEAD, "2030-07-01T00:00:00Z");
    begin_app(&b, "primary", "https://saml.example.com");
    end_app(&b);
    end_tenant(&b);

    const apr_array_header_t *f = check_at(b.reg, NOW);
    ck_assert_int_eq(f->nelts, 1);
    const ib_expiry_finding *e = finding(f, 0);
    ck_assert_int_eq(e->level, IB_EXPIRY_ERROR);
    ck_assert_str_eq(e->app, "primary");
    ck_assert_has(e->message, "no SP signing key is active");
    ck_assert_has(e->message, "SP-signed requests fail closed");
}
END_TEST

START_TEST(expired_only_sp_key_is_an_error_naming_the_key_file)
{
    builder b;
    begin_tenant(&b);
    sp_key(&b, "old", NOW - DAY, NULL);
    begin_app(&b, "primary", "https://saml.example.com");
    end_app(&b);
    end_tenant(&b);

    const apr_array_header_t *f = check_at(b.reg, NOW);
    ck_assert_int_eq(f->nelts, 2);
    const ib_expiry_finding *cert = finding_with(f, key_path(&b, "old"));
    ck_assert_int_eq(cert->level, IB_EXPIRY_ERROR);
    ck_assert_has(cert->message, "expired at 2030-05-31T00:00:00Z; it signs nothing");
    assert_cert_details(cert->message, crt_path(&b, "old"), "old");
    ck_assert_int_eq(finding_with(f, "no SP signing key is active")->level,
                     IB_EXPIRY_ERROR);
}
END_TEST

START_TEST(tenant_key_is_reported_once_for_two_apps)
{
    builder b;
    begin_tenant(&b);
    sp_key(&b, "shared", NOW + 10 * DAY, NULL);
    decrypt_key(&b, "enc", NOW - DAY);
    begin_app(&b, "primary", "https://saml.example.com");
    end_app(&b);
    begin_app(&b, "custom-domain", "https://portal.example.com");
    end_app(&b);
    end_tenant(&b);

    const apr_array_header_t *f = check_at(b.reg, NOW);
    ck_assert_int_eq(f->nelts, 3);
    for (int i = 0; i < f->nelts; i++) {
        ck_assert_str_eq(finding(f, i)->app, "primary,custom-domain");
    }
    ck_assert_int_eq(count_with(f, key_path(&b, "shared")), 2);   /* cert + rotation */
    ck_assert_int_eq(count_with(f, "no successor"), 1);
    const ib_expiry_finding *enc = finding_with(f, key_path(&b, "enc"));
    ck_assert_int_eq(enc->level, IB_EXPIRY_ERROR);
    ck_assert_has(enc->message, "SP decryption key");
}
END_TEST

START_TEST(app_level_key_is_reported_for_its_app_only)
{
    builder b;
    begin_tenant(&b);
    sp_key(&b, "shared", NOW + 10 * DAY, NULL);
    begin_app(&b, "primary", "https://saml.example.com");
    end_app(&b);
    begin_app(&b, "custom-domain", "https://portal.example.com");
    sp_key(&b, "own", NOW - DAY, NULL);
    end_app(&b);
    end_tenant(&b);

    const apr_array_header_t *f = check_at(b.reg, NOW);
    ck_assert_int_eq(f->nelts, 4);
    ck_assert_int_eq(count_with(f, key_path(&b, "shared")), 2);
    const char *shared_cert = apr_pstrcat(test_pool(), "certificate of the active SP "
                                          "signing key ", key_path(&b, "shared"), NULL);
    ck_assert_str_eq(finding_with(f, shared_cert)->app, "primary");
    ck_assert_str_eq(finding_with(f, key_path(&b, "own"))->app, "custom-domain");
    ck_assert_str_eq(finding_with(f, "no successor")->app, "primary");
    ck_assert_str_eq(finding_with(f, "no SP signing key is active")->app, "custom-domain");
}
END_TEST

START_TEST(decryption_key_near_expiry_draws_a_warning)
{
    builder b;
    begin_tenant(&b);
    sp_key(&b, "sp", FAR_AHEAD, NULL);
    decrypt_key(&b, "enc", NOW + 5 * DAY);
    begin_app(&b, "primary", "https://saml.example.com");
    end_app(&b);
    end_tenant(&b);

    const apr_array_header_t *f = check_at(b.reg, NOW);
    ck_assert_int_eq(f->nelts, 1);
    ck_assert_int_eq(finding(f, 0)->level, IB_EXPIRY_WARNING);
    ck_assert_has(finding(f, 0)->message, key_path(&b, "enc"));
    assert_cert_details(finding(f, 0)->message, crt_path(&b, "enc"), "enc");
}
END_TEST

Suite *expiry_suite(void)
{
    Suite *s = suite_create("expiry");
    TCase *tc = test_tcase("idp");
    tcase_add_test(tc, idp_cert_with_31_days_left_draws_nothing);
    tcase_add_test(tc, idp_cert_with_29_days_left_draws_a_warning_with_fingerprints_and_date);
    tcase_add_test(tc, idp_cert_warning_starts_at_exactly_30_days);
    tcase_add_test(tc, expired_idp_cert_draws_an_error);
    tcase_add_test(tc, idp_cert_is_valid_through_its_not_after_second);
    tcase_add_test(tc, each_app_reports_its_own_idp_certs);
    suite_add_tcase(s, tc);

    tc = test_tcase("sp-keys");
    tcase_add_test(tc, active_sp_key_near_expiry_without_successor_draws_a_rotation_warning);
    tcase_add_test(tc, active_sp_key_near_expiry_with_successor_draws_no_rotation_warning);
    tcase_add_test(tc, successor_activating_after_the_expiry_is_no_successor);
    tcase_add_test(tc, no_active_sp_key_is_an_error);
    tcase_add_test(tc, expired_only_sp_key_is_an_error_naming_the_key_file);
    tcase_add_test(tc, tenant_key_is_reported_once_for_two_apps);
    tcase_add_test(tc, app_level_key_is_reported_for_its_app_only);
    tcase_add_test(tc, decryption_key_near_expiry_draws_a_warning);
    suite_add_tcase(s, tc);
    return s;
}
