/* ib_oidc: the OpenID Connect relying party's protocol side (OIDC-1..8):
 * connection settings and presets, discovery, PKCE, the authorization and
 * token requests, the token endpoint's answer, the ID token's claims rules,
 * userinfo merging, claims as raw attributes and the end_session URL.
 *
 * Expected values are written out here (RFC 7636's test vector, percent-
 * encodings by hand), not computed with the code under test. */
#include <string.h>

#include <apr_strings.h>
#include <cjson/cJSON.h>

#include "core/ib_identity.h"
#include "core/ib_oidc.h"
#include "test_support.h"

#define ISSUER "https://op.example"
#define CLIENT "rp-client"
#define NONCE "n-0S6_WzA2Mj"
#define NOW_SEC 1700000000
#define SKEW_SEC 120
#define ENTRA "https://login.microsoftonline.com/"
#define TID "9188040d-6c67-4c5b-b112-36a304b66dad"

/* ---- fixtures --------------------------------------------------------------- */

/* A complete, valid generic connection. */
static ib_oidc_conf conf_ok(void)
{
    ib_oidc_conf c;
    memset(&c, 0, sizeof(c));
    c.preset = IB_OIDC_GENERIC;
    c.issuer = ISSUER;
    c.client_id = CLIENT;
    c.client_secret = "s3cret";
    c.secret_source = "file test.secret";
    c.scopes = "openid profile email";
    c.redirect_path = "/oidc/callback";
    return c;
}

static ib_oidc_conf conf_preset(ib_oidc_preset preset, const char *issuer)
{
    ib_oidc_conf c = conf_ok();
    c.preset = preset;
    c.issuer = issuer;
    return c;
}

/* A discovery document naming `issuer` with all endpoints below `base`;
 * `extra` (may be "") is spliced in as further members. */
static const char *doc(const char *issuer, const char *base, const char *extra)
{
    return apr_psprintf(test_pool(),
                        "{\"issuer\":\"%s\",\"authorization_endpoint\":\"%s/authorize\","
                        "\"token_endpoint\":\"%s/token\",\"jwks_uri\":\"%s/jwks\"%s%s}",
                        issuer, base, base, base, *extra ? "," : "", extra);
}

static const char *parse(const char *json, const ib_oidc_conf *c, ib_oidc_discovery **d)
{
    *d = NULL;
    return ib_oidc_discovery_parse(test_pool(), json, c, d);
}

/* The value of query/form parameter `name` in `s` (after '?' or '&', or at
 * the start), exactly as written (still percent-encoded); NULL if absent. */
static const char *param(const char *s, const char *name)
{
    size_t n = strlen(name);
    const char *q = strchr(s, '?');
    const char *p = q ? q + 1 : s;
    while (p && *p) {
        if (strncmp(p, name, n) == 0 && p[n] == '=') {
            const char *v = p + n + 1;
            const char *end = strchr(v, '&');
            return end ? apr_pstrndup(test_pool(), v, (apr_size_t)(end - v))
                       : apr_pstrdup(test_pool(), v);
        }
        p = strchr(p, '&');
        if (p) {
            p++;
        }
    }
    return NULL;
}

static int count_char(const char *s, char c)
{
    int n = 0;
    for (; *s; s++) {
        n += *s == c;
    }
    return n;
}

static cJSON *json(const char *text)
{
    cJSON *o = cJSON_Parse(text);
    ck_assert_msg(o != NULL, "fixture is not JSON: %s", text);
    return o;
}

static ib_oidc_expect expect_ok(void)
{
    ib_oidc_expect e;
    memset(&e, 0, sizeof(e));
    e.issuer = ISSUER;
    e.client_id = CLIENT;
    e.nonce = NONCE;
    e.now = apr_time_from_sec(NOW_SEC);
    e.skew = apr_time_from_sec(SKEW_SEC);
    return e;
}

/* The claims of a valid ID token (issued now, valid 5 minutes), with the
 * members in `extra` replacing or joining them (JSON object text). */
static cJSON *claims_with(const char *extra)
{
    cJSON *c = json(apr_psprintf(test_pool(),
                                 "{\"iss\":\"" ISSUER "\",\"aud\":\"" CLIENT "\","
                                 "\"sub\":\"248289761001\",\"nonce\":\"" NONCE "\","
                                 "\"iat\":%d,\"exp\":%d}", NOW_SEC, NOW_SEC + 300));
    cJSON *x = json(extra);
    cJSON *m;
    cJSON_ArrayForEach(m, x) {
        cJSON_DeleteItemFromObjectCaseSensitive(c, m->string);
    }
    while (x->child) {
        cJSON *item = cJSON_DetachItemViaPointer(x, x->child);
        cJSON_AddItemToObject(c, item->string, item);
    }
    cJSON_Delete(x);
    return c;
}

/* Claims without member `name`. */
static cJSON *claims_without(const char *name)
{
    cJSON *c = claims_with("{}");
    cJSON_DeleteItemFromObjectCaseSensitive(c, name);
    return c;
}

static const char *check(cJSON *claims, const ib_oidc_expect *e)
{
    const char *err = ib_oidc_check_claims(test_pool(), claims, e);
    cJSON_Delete(claims);
    return err;
}

static const ib_raw_attr *attr(const apr_array_header_t *attrs, const char *name)
{
    for (int i = 0; i < attrs->nelts; i++) {
        const ib_raw_attr *a = &APR_ARRAY_IDX(attrs, i, ib_raw_attr);
        if (strcmp(a->name, name) == 0) {
            return a;
        }
    }
    return NULL;
}

static const char *value(const ib_raw_attr *a, int i)
{
    ck_assert_int_lt(i, a->values->nelts);
    return APR_ARRAY_IDX(a->values, i, const char *);
}

/* ---- ib_oidc_conf_check ------------------------------------------------------ */

START_TEST(test_conf_check_accepts_a_complete_generic_connection)
{
    ib_oidc_conf c = conf_ok();
    ck_assert_no_err(ib_oidc_conf_check(test_pool(), &c));
    c.issuer = "http://127.0.0.1:9000";   /* plain http on loopback: test OPs */
    ck_assert_no_err(ib_oidc_conf_check(test_pool(), &c));
}
END_TEST

START_TEST(test_conf_check_needs_issuer_client_and_secret)
{
    const char *need = "needs IdBrokerOIDCIssuer, IdBrokerOIDCClientID and "
                       "IdBrokerOIDCClientSecret";
    ib_oidc_conf c = conf_ok();
    c.issuer = NULL;
    ck_assert_err_has(ib_oidc_conf_check(test_pool(), &c), need);
    c = conf_ok();
    c.client_id = NULL;
    ck_assert_err_has(ib_oidc_conf_check(test_pool(), &c), need);
    c = conf_ok();
    c.client_secret = NULL;
    ck_assert_err_has(ib_oidc_conf_check(test_pool(), &c), need);
}
END_TEST

START_TEST(test_conf_check_issuer_must_be_an_https_url)
{
    ib_oidc_conf c = conf_ok();
    c.issuer = "http://op.example";
    ck_assert_err_has(ib_oidc_conf_check(test_pool(), &c), "IdBrokerOIDCIssuer: ");
    c.issuer = "op.example";
    ck_assert_err_has(ib_oidc_conf_check(test_pool(), &c), "IdBrokerOIDCIssuer: ");
}
END_TEST

START_TEST(test_conf_check_scopes_must_include_openid)
{
    ib_oidc_conf c = conf_ok();
    const char *refused[] = {"profile email", "", "openidx profile", "profile notopenid",
                             "openid_connect", "OPENID profile"};
    for (size_t i = 0; i < sizeof(refused) / sizeof(*refused); i++) {
        c.scopes = refused[i];
        const char *err = ib_oidc_conf_check(test_pool(), &c);
        ck_assert_msg(err != NULL && strstr(err, "must include openid"),
                      "scopes '%s' accepted (%s)", refused[i], err ? err : "no error");
    }
    const char *accepted[] = {"openid", "profile openid", "email openid profile",
                              "openid  profile"};
    for (size_t i = 0; i < sizeof(accepted) / sizeof(*accepted); i++) {
        c.scopes = accepted[i];
        const char *err = ib_oidc_conf_check(test_pool(), &c);
        ck_assert_msg(err == NULL, "scopes '%s' refused: %s", accepted[i], err);
    }
}
END_TEST

START_TEST(test_conf_check_google_issuer_is_exact)
{
    ib_oidc_conf c = conf_preset(IB_OIDC_GOOGLE, "https://accounts.google.com");
    ck_assert_no_err(ib_oidc_conf_check(test_pool(), &c));
    const char *refused[] = {"https://accounts.google.com/", "https://Accounts.google.com",
                             "https://accounts.google.com.evil.example",
                             "https://accounts.google.com/o/oauth2", ISSUER};
    for (size_t i = 0; i < sizeof(refused) / sizeof(*refused); i++) {
        c.issuer = refused[i];
        ck_assert_err_has(ib_oidc_conf_check(test_pool(), &c),
                          "google preset's issuer is https://accounts.google.com");
    }
}
END_TEST

START_TEST(test_conf_check_entra_issuer_form)
{
    const char *accepted[] = {ENTRA TID "/v2.0", ENTRA "contoso.onmicrosoft.com/v2.0"};
    for (size_t i = 0; i < sizeof(accepted) / sizeof(*accepted); i++) {
        ib_oidc_conf c = conf_preset(IB_OIDC_ENTRA, accepted[i]);
        const char *err = ib_oidc_conf_check(test_pool(), &c);
        ck_assert_msg(err == NULL, "'%s' refused: %s", accepted[i], err);
    }
    const char *refused[] = {
        ENTRA TID,                               /* v1 form, no /v2.0 */
        ENTRA TID "/v2.0/",                      /* trailing slash */
        "https://sts.windows.net/" TID "/",      /* v1 token issuer */
        "https://login.microsoftonline.com.evil.example/" TID "/v2.0",
        ENTRA "v2.0",                            /* no tenant at all */
        ENTRA "/v2.0",                           /* empty tenant */
        ENTRA TID "/extra/v2.0",                 /* more than one path segment */
    };
    for (size_t i = 0; i < sizeof(refused) / sizeof(*refused); i++) {
        ib_oidc_conf c = conf_preset(IB_OIDC_ENTRA, refused[i]);
        const char *err = ib_oidc_conf_check(test_pool(), &c);
        ck_assert_msg(err != NULL && strstr(err, "entra preset's issuer"),
                      "'%s' accepted (%s)", refused[i], err ? err : "no error");
    }
}
END_TEST

START_TEST(test_conf_check_entra_multi_tenant_needs_the_tenant)
{
    const char *issuers[] = {ENTRA "organizations/v2.0", ENTRA "common/v2.0"};
    for (size_t i = 0; i < 2; i++) {
        ib_oidc_conf c = conf_preset(IB_OIDC_ENTRA, issuers[i]);
        ck_assert_err_has(ib_oidc_conf_check(test_pool(), &c), "needs IdBrokerOIDCEntraTenant");
        c.entra_tenant = TID;
        ck_assert_no_err(ib_oidc_conf_check(test_pool(), &c));
    }
    /* a tenant-specific issuer needs none */
    ib_oidc_conf c = conf_preset(IB_OIDC_ENTRA, ENTRA TID "/v2.0");
    ck_assert_no_err(ib_oidc_conf_check(test_pool(), &c));
}
END_TEST

START_TEST(test_conf_check_okta_issuer)
{
    const char *accepted[] = {"https://acme.okta.com", "https://acme.okta-eu.com",
                              "https://acme.okta.com/oauth2/default", "https://login.acme.example"};
    for (size_t i = 0; i < sizeof(accepted) / sizeof(*accepted); i++) {
        ib_oidc_conf c = conf_preset(IB_OIDC_OKTA, accepted[i]);
        const char *err = ib_oidc_conf_check(test_pool(), &c);
        ck_assert_msg(err == NULL, "'%s' refused: %s", accepted[i], err);
    }
    const char *refused[] = {"https://acme.okta.com/", "https://acme.okta.com/oauth2/default/",
                             "http://127.0.0.1:9000"};
    for (size_t i = 0; i < sizeof(refused) / sizeof(*refused); i++) {
        ib_oidc_conf c = conf_preset(IB_OIDC_OKTA, refused[i]);
        const char *err = ib_oidc_conf_check(test_pool(), &c);
        ck_assert_msg(err != NULL && strstr(err, "okta preset's issuer"),
                      "'%s' accepted (%s)", refused[i], err ? err : "no error");
    }
}
END_TEST

/* ---- discovery ---------------------------------------------------------------- */

START_TEST(test_default_discovery_url)
{
    apr_pool_t *p = test_pool();
    ck_assert_str_eq(ib_oidc_default_discovery_url(p, "https://op.example"),
                     "https://op.example/.well-known/openid-configuration");
    ck_assert_str_eq(ib_oidc_default_discovery_url(p, "https://op.example/"),
                     "https://op.example/.well-known/openid-configuration");
    ck_assert_str_eq(ib_oidc_default_discovery_url(p, "https://op.example/tenant/v2.0"),
                     "https://op.example/tenant/v2.0/.well-known/openid-configuration");
    ck_assert_str_eq(ib_oidc_default_discovery_url(p, "https://op.example/tenant/"),
                     "https://op.example/tenant/.well-known/openid-configuration");
    ck_assert_str_eq(ib_oidc_default_discovery_url(p, "https://op.example//"),
                     "https://op.example/.well-known/openid-configuration");
}
END_TEST

START_TEST(test_discovery_parse_reads_the_endpoints)
{
    ib_oidc_conf c = conf_ok();
    ib_oidc_discovery *d;
    ck_assert_no_err(parse(doc(ISSUER, ISSUER "/oauth2", ""), &c, &d));
    ck_assert_ptr_nonnull(d);
    ck_assert_str_eq(d->issuer, ISSUER);
    ck_assert_str_eq(d->authorization_endpoint, ISSUER "/oauth2/authorize");
    ck_assert_str_eq(d->token_endpoint, ISSUER "/oauth2/token");
    ck_assert_str_eq(d->jwks_uri, ISSUER "/oauth2/jwks");
    ck_assert_ptr_null(d->userinfo_endpoint);
    ck_assert_ptr_null(d->end_session_endpoint);

    ck_assert_no_err(parse(doc(ISSUER, ISSUER, "\"userinfo_endpoint\":\"" ISSUER "/me\","
                                               "\"end_session_endpoint\":\"" ISSUER "/logout\""),
                           &c, &d));
    ck_assert_str_eq(d->userinfo_endpoint, ISSUER "/me");
    ck_assert_str_eq(d->end_session_endpoint, ISSUER "/logout");

    /* a loopback test OP over plain http */
    c.issuer = "http://127.0.0.1:9000";
    ck_assert_no_err(parse(doc(c.issuer, c.issuer, ""), &c, &d));
}
END_TEST

START_TEST(test_discovery_parse_issuer_is_compared_exactly)
{
    ib_oidc_conf c = conf_ok();
    ib_oidc_discovery *d;
    const char *other[] = {ISSUER "/", "https://OP.example", "https://op.example.evil",
                           "http://op.example", ""};
    for (size_t i = 0; i < sizeof(other) / sizeof(*other); i++) {
        const char *err = parse(doc(other[i], ISSUER, ""), &c, &d);
        ck_assert_msg(err != NULL && strstr(err, "compared exactly"), "issuer '%s' accepted (%s)",
                      other[i], err ? err : "no error");
        ck_assert_ptr_null(d);
    }
    /* and the other way round: a configured trailing '/' is kept */
    c.issuer = ISSUER "/";
    ck_assert_err_has(parse(doc(ISSUER, ISSUER, ""), &c, &d), "compared exactly");
    ck_assert_no_err(parse(doc(ISSUER "/", ISSUER, ""), &c, &d));
    /* no issuer member, or not a string */
    c = conf_ok();
    ck_assert_err_has(parse("{\"authorization_endpoint\":\"" ISSUER "/a\",\"token_endpoint\":\""
                            ISSUER "/t\",\"jwks_uri\":\"" ISSUER "/j\"}", &c, &d),
                      "names issuer ''");
    ck_assert_err_has(parse("{\"issuer\":1,\"authorization_endpoint\":\"" ISSUER "/a\","
                            "\"token_endpoint\":\"" ISSUER "/t\",\"jwks_uri\":\"" ISSUER "/j\"}",
                            &c, &d), "names issuer ''");
}
END_TEST

START_TEST(test_discovery_parse_entra_template)
{
    const char *tmpl = ENTRA "{tenantid}/v2.0";
    ib_oidc_discovery *d;
    /* accepted for the entra preset with an organizations/common issuer */
    const char *multi[] = {ENTRA "organizations/v2.0", ENTRA "common/v2.0"};
    for (size_t i = 0; i < 2; i++) {
        ib_oidc_conf c = conf_preset(IB_OIDC_ENTRA, multi[i]);
        c.entra_tenant = TID;
        ck_assert_no_err(parse(doc(tmpl, ENTRA "common/oauth2/v2.0", ""), &c, &d));
        ck_assert_ptr_nonnull(d);
        ck_assert_str_eq(d->issuer, tmpl);
    }
    /* not for a tenant-specific Entra issuer */
    ib_oidc_conf c = conf_preset(IB_OIDC_ENTRA, ENTRA TID "/v2.0");
    ck_assert_err_has(parse(doc(tmpl, ENTRA TID "/oauth2/v2.0", ""), &c, &d), "compared exactly");
    /* not for another preset with the same issuer */
    c = conf_preset(IB_OIDC_GENERIC, ENTRA "organizations/v2.0");
    ck_assert_err_has(parse(doc(tmpl, ENTRA "organizations/oauth2/v2.0", ""), &c, &d),
                      "compared exactly");
    /* not another template-like text */
    c = conf_preset(IB_OIDC_ENTRA, ENTRA "common/v2.0");
    c.entra_tenant = TID;
    ck_assert_err_has(parse(doc(ENTRA "{tenant}/v2.0", ENTRA "common/oauth2/v2.0", ""), &c, &d),
                      "compared exactly");
}
END_TEST

START_TEST(test_discovery_parse_needs_the_endpoints)
{
    ib_oidc_conf c = conf_ok();
    ib_oidc_discovery *d;
    const char *names[] = {"authorization_endpoint", "token_endpoint", "jwks_uri"};
    for (size_t i = 0; i < 3; i++) {
        cJSON *o = json(doc(ISSUER, ISSUER, ""));
        cJSON_DeleteItemFromObjectCaseSensitive(o, names[i]);
        char *text = cJSON_PrintUnformatted(o);
        const char *err = parse(apr_pstrdup(test_pool(), text), &c, &d);
        cJSON_free(text);
        cJSON_Delete(o);
        ck_assert_err_has(err, apr_pstrcat(test_pool(), "has no ", names[i], NULL));
        ck_assert_ptr_null(d);
    }
    /* an empty string is no endpoint either */
    ck_assert_err_has(parse("{\"issuer\":\"" ISSUER "\",\"authorization_endpoint\":\"\","
                            "\"token_endpoint\":\"" ISSUER "/t\",\"jwks_uri\":\"" ISSUER "/j\"}",
                            &c, &d), "has no authorization_endpoint");
}
END_TEST

START_TEST(test_discovery_parse_refuses_plain_http_endpoints)
{
    ib_oidc_conf c = conf_ok();
    ib_oidc_discovery *d;
    const char *names[] = {"authorization_endpoint", "token_endpoint", "jwks_uri",
                           "userinfo_endpoint", "end_session_endpoint"};
    for (size_t i = 0; i < 5; i++) {
        cJSON *o = json(doc(ISSUER, ISSUER, ""));
        cJSON_DeleteItemFromObjectCaseSensitive(o, names[i]);
        cJSON_AddStringToObject(o, names[i], "http://op.example/endpoint");
        char *text = cJSON_PrintUnformatted(o);
        const char *err = parse(apr_pstrdup(test_pool(), text), &c, &d);
        cJSON_free(text);
        cJSON_Delete(o);
        ck_assert_err_has(err, apr_pstrcat(test_pool(), "discovery ", names[i], ": ", NULL));
        ck_assert_err_has(err, "must use https");
        ck_assert_ptr_null(d);
    }
    /* relative, or with user:password@ */
    ck_assert_err_has(parse(doc(ISSUER, "/relative", ""), &c, &d), "discovery authorization_endpoint");
    ck_assert_err_has(parse(doc(ISSUER, "https://u:p@op.example", ""), &c, &d), "user:password@");
}
END_TEST

START_TEST(test_discovery_parse_refuses_what_is_not_a_json_object)
{
    ib_oidc_conf c = conf_ok();
    ib_oidc_discovery *d;
    const char *bad[] = {"", "not json", "<html>Moved</html>", "[]", "\"" ISSUER "\"", "null",
                         "{\"issuer\":\"" ISSUER "\""};
    for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
        const char *err = parse(bad[i], &c, &d);
        ck_assert_msg(err != NULL && strstr(err, "not a JSON object"), "'%s': %s", bad[i],
                      err ? err : "accepted");
        ck_assert_ptr_null(d);
    }
    ck_assert_err_has(parse(NULL, &c, &d), "missing or too large");
}
END_TEST

START_TEST(test_discovery_parse_size_limit)
{
    ib_oidc_conf c = conf_ok();
    ib_oidc_discovery *d;
    const char *base = doc(ISSUER, ISSUER, "");
    size_t limit = 256 * 1024;
    /* padded with whitespace to exactly the limit: accepted */
    char *at = apr_palloc(test_pool(), limit + 2);
    memset(at, ' ', limit + 1);
    memcpy(at, base, strlen(base));
    at[limit] = '\0';
    ck_assert_no_err(parse(at, &c, &d));
    /* one byte more: refused before parsing */
    at[limit] = ' ';
    at[limit + 1] = '\0';
    ck_assert_err_has(parse(at, &c, &d), "too large");
    ck_assert_ptr_null(d);
}
END_TEST

START_TEST(test_expected_issuer)
{
    apr_pool_t *p = test_pool();
    ib_oidc_conf c = conf_preset(IB_OIDC_ENTRA, ENTRA "common/v2.0");
    c.entra_tenant = TID;
    ck_assert_str_eq(ib_oidc_expected_issuer(p, &c), ENTRA TID "/v2.0");
    c.issuer = ENTRA "organizations/v2.0";
    ck_assert_str_eq(ib_oidc_expected_issuer(p, &c), ENTRA TID "/v2.0");
    /* tenant-specific Entra, and other presets: the configured issuer */
    c.issuer = ENTRA "contoso.onmicrosoft.com/v2.0";
    ck_assert_str_eq(ib_oidc_expected_issuer(p, &c), ENTRA "contoso.onmicrosoft.com/v2.0");
    c = conf_preset(IB_OIDC_GENERIC, ENTRA "common/v2.0");
    c.entra_tenant = TID;
    ck_assert_str_eq(ib_oidc_expected_issuer(p, &c), ENTRA "common/v2.0");
    c = conf_ok();
    ck_assert_str_eq(ib_oidc_expected_issuer(p, &c), ISSUER);
}
END_TEST

/* ---- the authorization request ------------------------------------------------ */

START_TEST(test_pkce_challenge_rfc7636_vector)
{
    /* RFC 7636 appendix B */
    ck_assert_str_eq(ib_oidc_pkce_challenge(test_pool(),
                                            "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
                     "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
    /* SHA-256 of the empty string, base64url without padding */
    ck_assert_str_eq(ib_oidc_pkce_challenge(test_pool(), ""),
                     "47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU");
}
END_TEST

START_TEST(test_authorize_url_encodes_its_parameters)
{
    ib_oidc_discovery d = {.issuer = ISSUER, .authorization_endpoint = ISSUER "/authorize"};
    ib_oidc_conf c = conf_ok();
    c.client_id = "client id+1@x";
    const char *url = ib_oidc_authorize_url(test_pool(), &d, &c,
                                            "https://rp.example/base/oidc/callback?a=1&b=2",
                                            "st&ate=1", "no nce", "E9Melhoa2Ow-cM");
    ck_assert_msg(strncmp(url, ISSUER "/authorize?", strlen(ISSUER "/authorize?")) == 0, "%s",
                  url);
    ck_assert_int_eq(count_char(url, '?'), 1);
    ck_assert_int_eq(count_char(url, ' '), 0);
    ck_assert_str_eq(param(url, "response_type"), "code");
    ck_assert_str_eq(param(url, "client_id"), "client%20id%2B1%40x");
    ck_assert_str_eq(param(url, "redirect_uri"),
                     "https%3A%2F%2Frp.example%2Fbase%2Foidc%2Fcallback%3Fa%3D1%26b%3D2");
    ck_assert_str_eq(param(url, "scope"), "openid%20profile%20email");
    ck_assert_str_eq(param(url, "state"), "st%26ate%3D1");
    ck_assert_str_eq(param(url, "nonce"), "no%20nce");
    ck_assert_str_eq(param(url, "code_challenge"), "E9Melhoa2Ow-cM");
    ck_assert_str_eq(param(url, "code_challenge_method"), "S256");
    /* the injected "ate=1" stays inside state */
    ck_assert_ptr_null(param(url, "ate"));
    ck_assert_ptr_null(param(url, "a"));
}
END_TEST

START_TEST(test_authorize_url_keeps_an_existing_query)
{
    ib_oidc_discovery d = {.issuer = ISSUER,
                           .authorization_endpoint = ISSUER "/authorize?p=B2C_1_signin"};
    ib_oidc_conf c = conf_ok();
    const char *url = ib_oidc_authorize_url(test_pool(), &d, &c, "https://rp.example/cb", "s",
                                            "n", "ch");
    ck_assert_msg(strncmp(url, ISSUER "/authorize?p=B2C_1_signin&response_type=code&",
                          strlen(ISSUER "/authorize?p=B2C_1_signin&response_type=code&")) == 0,
                  "%s", url);
    ck_assert_int_eq(count_char(url, '?'), 1);
    ck_assert_str_eq(param(url, "p"), "B2C_1_signin");
    ck_assert_str_eq(param(url, "client_id"), CLIENT);
}
END_TEST

/* ---- the token request and its answer ------------------------------------------ */

START_TEST(test_token_request_body_basic)
{
    ib_oidc_conf c = conf_ok();
    const char *body = ib_oidc_token_request_body(test_pool(), &c, "SplxlOBeZQQYbYS6WxSbIA",
                                                  "https://rp.example/oidc/callback",
                                                  "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk");
    ck_assert_str_eq(body, "grant_type=authorization_code&code=SplxlOBeZQQYbYS6WxSbIA"
                           "&redirect_uri=https%3A%2F%2Frp.example%2Foidc%2Fcallback"
                           "&code_verifier=dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk");
    /* client_secret_basic: no credentials in the body */
    ck_assert_ptr_null(strstr(body, "client_secret"));
    ck_assert_ptr_null(strstr(body, "s3cret"));
}
END_TEST

START_TEST(test_token_request_body_post_encodes_the_secret)
{
    ib_oidc_conf c = conf_ok();
    c.client_secret_post = 1;
    c.client_id = "id:1";
    c.client_secret = "a&b=c+d %/\xc3\xa9";
    const char *body = ib_oidc_token_request_body(test_pool(), &c, "co de+/=",
                                                  "http://127.0.0.1:8082/oidc/callback", "v");
    ck_assert_str_eq(param(body, "grant_type"), "authorization_code");
    ck_assert_str_eq(param(body, "code"), "co%20de%2B%2F%3D");
    ck_assert_str_eq(param(body, "redirect_uri"), "http%3A%2F%2F127.0.0.1%3A8082%2Foidc%2Fcallback");
    ck_assert_str_eq(param(body, "code_verifier"), "v");
    ck_assert_str_eq(param(body, "client_id"), "id%3A1");
    ck_assert_str_eq(param(body, "client_secret"), "a%26b%3Dc%2Bd%20%25%2F%C3%A9");
    /* the special characters split nothing: exactly six parameters */
    ck_assert_int_eq(count_char(body, '&'), 5);
    ck_assert_ptr_null(param(body, "c"));
}
END_TEST

START_TEST(test_token_response_with_an_id_token)
{
    const char *id = "x", *access = "x";
    ck_assert_no_err(ib_oidc_token_response(test_pool(), 200,
                                            "{\"access_token\":\"SlAV32hkKG\",\"token_type\":"
                                            "\"Bearer\",\"expires_in\":3600,\"id_token\":"
                                            "\"eyJ.eyJ.sig\"}", &id, &access));
    ck_assert_str_eq(id, "eyJ.eyJ.sig");
    ck_assert_str_eq(access, "SlAV32hkKG");
    /* token_type is case-insensitive (RFC 6749 §5.1) */
    ck_assert_no_err(ib_oidc_token_response(test_pool(), 200,
                                            "{\"access_token\":\"A\",\"token_type\":\"bearer\","
                                            "\"id_token\":\"I\"}", &id, &access));
    ck_assert_str_eq(access, "A");
    /* no access token at all */
    ck_assert_no_err(ib_oidc_token_response(test_pool(), 200, "{\"id_token\":\"I\"}", &id,
                                            &access));
    ck_assert_str_eq(id, "I");
    ck_assert_ptr_null(access);
}
END_TEST

START_TEST(test_token_response_non_bearer_drops_the_access_token)
{
    const char *types[] = {"{\"token_type\":\"DPoP\",", "{\"token_type\":\"mac\",", "{",
                           "{\"token_type\":7,"};
    for (size_t i = 0; i < sizeof(types) / sizeof(*types); i++) {
        const char *id = NULL, *access = "x";
        const char *body = apr_pstrcat(test_pool(), types[i],
                                       "\"access_token\":\"A\",\"id_token\":\"I\"}", NULL);
        ck_assert_no_err(ib_oidc_token_response(test_pool(), 200, body, &id, &access));
        ck_assert_str_eq(id, "I");
        ck_assert_msg(access == NULL, "%s: access token kept", body);
    }
}
END_TEST

START_TEST(test_token_response_error_is_sanitised)
{
    const char *id = NULL, *access = NULL;
    const char *err = ib_oidc_token_response(
        test_pool(), 400,
        "{\"error\":\"invalid_grant\\r\\nX-Forged: 1\",\"error_description\":"
        "\"code expired\\n2024-01-01 [crit] forged line\\u001b[31m\\u00e9\"}", &id, &access);
    ck_assert_err_has(err, "HTTP 400");
    ck_assert_err_has(err, "error=invalid_grant??X-Forged: 1");
    ck_assert_err_has(err, ": code expired?2024-01-01 [crit] forged line?[31m??");
    for (const char *q = err; *q; q++) {
        ck_assert_msg((unsigned char)*q >= 0x20 && (unsigned char)*q <= 0x7e,
                      "byte 0x%02x in '%s'", (unsigned char)*q, err);
    }
    ck_assert_ptr_null(id);
    /* an error member refuses even with HTTP 200; no description: none shown */
    err = ib_oidc_token_response(test_pool(), 200, "{\"error\":\"invalid_client\","
                                 "\"id_token\":\"I\"}", &id, &access);
    ck_assert_err_has(err, "HTTP 200, error=invalid_client");
    ck_assert_ptr_null(id);
    /* a non-200 without an error member */
    err = ib_oidc_token_response(test_pool(), 401, "{}", &id, &access);
    ck_assert_err_has(err, "HTTP 401, error=-");
    /* a long description is cut */
    char big[1000];
    memset(big, 'd', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    err = ib_oidc_token_response(test_pool(), 400,
                                 apr_psprintf(test_pool(), "{\"error\":\"e\",\"error_description"
                                              "\":\"%s\"}", big), &id, &access);
    ck_assert_ptr_nonnull(err);
    ck_assert_uint_lt(strlen(err), 400);
}
END_TEST

START_TEST(test_token_response_not_json)
{
    const char *id = NULL, *access = NULL;
    ck_assert_err_has(ib_oidc_token_response(test_pool(), 502, "<html>Bad Gateway</html>", &id,
                                             &access),
                      "HTTP 502 without a JSON object");
    ck_assert_err_has(ib_oidc_token_response(test_pool(), 200, "[\"id_token\"]", &id, &access),
                      "HTTP 200 without a JSON object");
    ck_assert_err_has(ib_oidc_token_response(test_pool(), 200, NULL, &id, &access),
                      "without a JSON object");
    ck_assert_ptr_null(id);
}
END_TEST

START_TEST(test_token_response_without_id_token)
{
    const char *id = NULL, *access = NULL;
    ck_assert_err_has(ib_oidc_token_response(test_pool(), 200,
                                             "{\"access_token\":\"A\",\"token_type\":\"Bearer\"}",
                                             &id, &access),
                      "has no id_token");
    ck_assert_err_has(ib_oidc_token_response(test_pool(), 200,
                                             "{\"id_token\":\"\",\"token_type\":\"Bearer\"}",
                                             &id, &access),
                      "has no id_token");
    ck_assert_err_has(ib_oidc_token_response(test_pool(), 200, "{\"id_token\":42}", &id, &access),
                      "has no id_token");
}
END_TEST

/* ---- the ID token's claims ------------------------------------------------------ */

START_TEST(test_claims_valid)
{
    ib_oidc_expect e = expect_ok();
    ck_assert_no_err(check(claims_with("{}"), &e));
    /* aud as an array with our client ID, azp ours */
    ck_assert_no_err(check(claims_with("{\"aud\":[\"" CLIENT "\"]}"), &e));
    ck_assert_no_err(check(claims_with("{\"aud\":[\"other\",\"" CLIENT "\"],\"azp\":\"" CLIENT
                                       "\"}"), &e));
    ck_assert_no_err(check(claims_with("{\"azp\":\"" CLIENT "\"}"), &e));
    /* nbf in the past, or now */
    ck_assert_no_err(check(claims_with(apr_psprintf(test_pool(), "{\"nbf\":%d}", NOW_SEC)), &e));
}
END_TEST

START_TEST(test_claims_iss_exact)
{
    ib_oidc_expect e = expect_ok();
    const char *other[] = {"{\"iss\":\"" ISSUER "/\"}", "{\"iss\":\"https://OP.example\"}",
                           "{\"iss\":\"https://op.example.evil\"}", "{\"iss\":\"\"}",
                           "{\"iss\":[\"" ISSUER "\"]}"};
    for (size_t i = 0; i < sizeof(other) / sizeof(*other); i++) {
        const char *err = check(claims_with(other[i]), &e);
        ck_assert_msg(err != NULL && strstr(err, "is not the issuer"), "%s: %s", other[i],
                      err ? err : "accepted");
    }
    ck_assert_err_has(check(claims_without("iss"), &e), "is not the issuer");
    /* a control character in a foreign iss does not reach the log */
    const char *err = check(claims_with("{\"iss\":\"evil\\nline\"}"), &e);
    ck_assert_err_has(err, "iss 'evil?line'");
}
END_TEST

START_TEST(test_claims_aud)
{
    ib_oidc_expect e = expect_ok();
    const char *bad[] = {"{\"aud\":\"other\"}", "{\"aud\":[\"other\"]}", "{\"aud\":[]}",
                         "{\"aud\":\"RP-CLIENT\"}", "{\"aud\":{\"x\":\"" CLIENT "\"}}",
                         "{\"aud\":7}"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
        const char *err = check(claims_with(bad[i]), &e);
        ck_assert_msg(err != NULL && strstr(err, "aud does not contain"), "%s: %s", bad[i],
                      err ? err : "accepted");
    }
    ck_assert_err_has(check(claims_without("aud"), &e), "aud does not contain");
}
END_TEST

START_TEST(test_claims_several_audiences_need_azp)
{
    ib_oidc_expect e = expect_ok();
    ck_assert_err_has(check(claims_with("{\"aud\":[\"" CLIENT "\",\"api\"]}"), &e),
                      "required with several audiences");
    ck_assert_err_has(check(claims_with("{\"aud\":[\"" CLIENT "\",\"api\"],\"azp\":\"api\"}"), &e),
                      "azp is not this connection's client ID");
}
END_TEST

START_TEST(test_claims_azp_mismatch)
{
    ib_oidc_expect e = expect_ok();
    ck_assert_err_has(check(claims_with("{\"azp\":\"other\"}"), &e),
                      "azp is not this connection's client ID");
}
END_TEST

START_TEST(test_claims_exp)
{
    ib_oidc_expect e = expect_ok();
    ck_assert_err_has(check(claims_without("exp"), &e), "no valid exp");
    ck_assert_err_has(check(claims_with("{\"exp\":\"1700000300\"}"), &e), "no valid exp");
    ck_assert_err_has(check(claims_with("{\"exp\":-1}"), &e), "no valid exp");
    /* expired exactly `skew` ago: refused */
    ck_assert_err_has(check(claims_with(apr_psprintf(test_pool(), "{\"exp\":%d}",
                                                     NOW_SEC - SKEW_SEC)), &e), "has expired");
    ck_assert_err_has(check(claims_with(apr_psprintf(test_pool(), "{\"exp\":%d}",
                                                     NOW_SEC - 3600)), &e), "has expired");
    /* expired, but within the skew: accepted */
    ck_assert_no_err(check(claims_with(apr_psprintf(test_pool(), "{\"exp\":%d}",
                                                    NOW_SEC - SKEW_SEC + 1)), &e));
    ck_assert_no_err(check(claims_with(apr_psprintf(test_pool(), "{\"exp\":%d}", NOW_SEC)), &e));
    /* no skew: exp = now is expired */
    e.skew = 0;
    ck_assert_err_has(check(claims_with(apr_psprintf(test_pool(), "{\"exp\":%d}", NOW_SEC)), &e),
                      "has expired");
}
END_TEST

START_TEST(test_claims_iat)
{
    ib_oidc_expect e = expect_ok();
    ck_assert_err_has(check(claims_without("iat"), &e), "no valid iat");
    ck_assert_err_has(check(claims_with("{\"iat\":null}"), &e), "no valid iat");
    ck_assert_err_has(check(claims_with(apr_psprintf(test_pool(), "{\"iat\":%d}",
                                                     NOW_SEC + SKEW_SEC + 1)), &e),
                      "issued in the future");
    ck_assert_no_err(check(claims_with(apr_psprintf(test_pool(), "{\"iat\":%d}",
                                                    NOW_SEC + SKEW_SEC)), &e));
    ck_assert_no_err(check(claims_with(apr_psprintf(test_pool(), "{\"iat\":%d}",
                                                    NOW_SEC - 86400)), &e));
}
END_TEST

START_TEST(test_claims_nbf)
{
    ib_oidc_expect e = expect_ok();
    ck_assert_err_has(check(claims_with(apr_psprintf(test_pool(), "{\"nbf\":%d}",
                                                     NOW_SEC + SKEW_SEC + 1)), &e),
                      "not valid yet (nbf)");
    ck_assert_no_err(check(claims_with(apr_psprintf(test_pool(), "{\"nbf\":%d}",
                                                    NOW_SEC + SKEW_SEC)), &e));
    /* present but not a number: refused, not ignored */
    ck_assert_err_has(check(claims_with("{\"nbf\":\"soon\"}"), &e), "not valid yet (nbf)");
}
END_TEST

START_TEST(test_claims_nonce)
{
    ib_oidc_expect e = expect_ok();
    const char *nonce_err = "nonce does not match";
    ck_assert_err_has(check(claims_without("nonce"), &e), nonce_err);
    ck_assert_err_has(check(claims_with("{\"nonce\":\"other\"}"), &e), nonce_err);
    ck_assert_err_has(check(claims_with("{\"nonce\":\"n-0s6_wza2mj\"}"), &e), nonce_err);
    ck_assert_err_has(check(claims_with("{\"nonce\":\"\"}"), &e), nonce_err);
    /* no nonce expected (no sign-in in flight): nothing matches */
    e.nonce = NULL;
    ck_assert_err_has(check(claims_with("{}"), &e), nonce_err);
}
END_TEST

START_TEST(test_claims_sub)
{
    ib_oidc_expect e = expect_ok();
    ck_assert_err_has(check(claims_without("sub"), &e), "has no sub");
    ck_assert_err_has(check(claims_with("{\"sub\":\"\"}"), &e), "has no sub");
    ck_assert_err_has(check(claims_with("{\"sub\":12}"), &e), "has no sub");
}
END_TEST

START_TEST(test_claims_entra_tid)
{
    ib_oidc_expect e = expect_ok();
    e.issuer = ENTRA TID "/v2.0";
    e.entra_tenant = TID;
    ck_assert_no_err(check(claims_with("{\"iss\":\"" ENTRA TID "/v2.0\",\"tid\":\"" TID "\"}"),
                           &e));
    ck_assert_err_has(check(claims_with("{\"iss\":\"" ENTRA TID "/v2.0\",\"tid\":"
                                        "\"72f988bf-86f1-41af-91ab-2d7cd011db47\"}"), &e),
                      "is not the configured Entra tenant");
    ck_assert_err_has(check(claims_with("{\"iss\":\"" ENTRA TID "/v2.0\"}"), &e),
                      "tid '' is not the configured Entra tenant");
    /* without a configured tenant, tid is not looked at */
    e.entra_tenant = NULL;
    ck_assert_no_err(check(claims_with("{\"iss\":\"" ENTRA TID "/v2.0\",\"tid\":\"x\"}"), &e));
}
END_TEST

/* ---- userinfo -------------------------------------------------------------------- */

START_TEST(test_merge_userinfo_sub_must_match)
{
    cJSON *c = json("{\"sub\":\"alice\",\"email\":\"a@x\"}");
    ck_assert_err_has(ib_oidc_merge_userinfo(test_pool(), c, "{\"sub\":\"mallory\","
                                             "\"phone_number\":\"1\"}"),
                      "userinfo sub is not the ID token's sub");
    ck_assert_err_has(ib_oidc_merge_userinfo(test_pool(), c, "{\"phone_number\":\"1\"}"),
                      "userinfo sub is not the ID token's sub");
    ck_assert_err_has(ib_oidc_merge_userinfo(test_pool(), c, "eyJhbGciOiJSUzI1NiJ9.e30.sig"),
                      "not a JSON object");
    ck_assert_err_has(ib_oidc_merge_userinfo(test_pool(), c, NULL), "not a JSON object");
    /* nothing merged by a refused answer */
    ck_assert_ptr_null(cJSON_GetObjectItemCaseSensitive(c, "phone_number"));
    cJSON_Delete(c);
}
END_TEST

START_TEST(test_merge_userinfo_id_token_claims_win)
{
    cJSON *c = json("{\"sub\":\"alice\",\"email\":\"id@x\",\"Nick\":\"A\"}");
    ck_assert_no_err(ib_oidc_merge_userinfo(test_pool(), c,
                                            "{\"sub\":\"alice\",\"email\":\"ui@x\","
                                            "\"phone_number\":\"+1 555\",\"groups\":[\"g1\"],"
                                            "\"nick\":\"b\"}"));
    ck_assert_str_eq(cJSON_GetObjectItemCaseSensitive(c, "email")->valuestring, "id@x");
    ck_assert_msg(cJSON_GetObjectItemCaseSensitive(c, "phone_number") != NULL,
                  "userinfo claim phone_number not added");
    ck_assert_str_eq(cJSON_GetObjectItemCaseSensitive(c, "phone_number")->valuestring, "+1 555");
    ck_assert(cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(c, "groups")));
    /* claim names are case-sensitive: "nick" is a new claim beside "Nick" */
    ck_assert_str_eq(cJSON_GetObjectItemCaseSensitive(c, "Nick")->valuestring, "A");
    const cJSON *nick = cJSON_GetObjectItemCaseSensitive(c, "nick");
    ck_assert_msg(nick != NULL, "userinfo claim 'nick' dropped because of 'Nick'");
    ck_assert_str_eq(nick->valuestring, "b");
    ck_assert_int_eq(cJSON_GetArraySize(c), 6);
    cJSON_Delete(c);
}
END_TEST

/* ---- claims as attributes -------------------------------------------------------- */

START_TEST(test_claims_to_attrs)
{
    cJSON *c = json("{\"sub\":\"alice\",\"age\":42,\"neg\":-7,\"ratio\":1.5,\"big\":1234567.5,"
                    "\"tenth\":0.1,\"updated_at\":5000000000,\"email_verified\":true,"
                    "\"admin\":false,\"groups\":[\"g1\",2,true,{\"x\":1},null,\"g2\"],"
                    "\"address\":{\"country\":\"DE\"},\"nothing\":null,\"empty\":[]}");
    apr_array_header_t *attrs = ib_oidc_claims_to_attrs(test_pool(), c);
    cJSON_Delete(c);
    const ib_raw_attr *a;
    struct { const char *name, *value; } one[] = {
        {"sub", "alice"}, {"age", "42"}, {"neg", "-7"}, {"ratio", "1.5"},
        {"big", "1234567.5"}, {"tenth", "0.1"}, {"updated_at", "5000000000"},
        {"email_verified", "true"}, {"admin", "false"},
    };
    for (size_t i = 0; i < sizeof(one) / sizeof(*one); i++) {
        a = attr(attrs, one[i].name);
        ck_assert_msg(a != NULL, "no attribute %s", one[i].name);
        ck_assert_int_eq(a->values->nelts, 1);
        ck_assert_str_eq(value(a, 0), one[i].value);
    }
    a = attr(attrs, "groups");
    ck_assert_ptr_nonnull(a);
    ck_assert_int_eq(a->values->nelts, 4);
    ck_assert_str_eq(value(a, 0), "g1");
    ck_assert_str_eq(value(a, 1), "2");
    ck_assert_str_eq(value(a, 2), "true");
    ck_assert_str_eq(value(a, 3), "g2");
    /* objects and null are skipped */
    ck_assert_ptr_null(attr(attrs, "address"));
    ck_assert_ptr_null(attr(attrs, "nothing"));
    /* an empty array gives no value */
    a = attr(attrs, "empty");
    ck_assert(a == NULL || a->values->nelts == 0);
}
END_TEST

/* ---- end_session ----------------------------------------------------------------- */

START_TEST(test_end_session_url)
{
    ib_oidc_discovery d = {.issuer = ISSUER, .end_session_endpoint = ISSUER "/session/end"};
    const char *url = ib_oidc_end_session_url(test_pool(), &d, "eyJ.eyJ.sig",
                                              "https://rp.example/bye?x=1&y=2", "s t&u");
    ck_assert_msg(strncmp(url, ISSUER "/session/end?", strlen(ISSUER "/session/end?")) == 0,
                  "%s", url);
    ck_assert_int_eq(count_char(url, '?'), 1);
    ck_assert_str_eq(param(url, "post_logout_redirect_uri"),
                     "https%3A%2F%2Frp.example%2Fbye%3Fx%3D1%26y%3D2");
    ck_assert_str_eq(param(url, "state"), "s%20t%26u");
    ck_assert_str_eq(param(url, "id_token_hint"), "eyJ.eyJ.sig");
    ck_assert_ptr_null(param(url, "u"));

    /* an existing query; no ID token: no hint */
    d.end_session_endpoint = ISSUER "/logout?tenant=acme";
    url = ib_oidc_end_session_url(test_pool(), &d, NULL, "https://rp.example/", "st");
    ck_assert_msg(strncmp(url, ISSUER "/logout?tenant=acme&post_logout_redirect_uri=",
                          strlen(ISSUER "/logout?tenant=acme&post_logout_redirect_uri=")) == 0,
                  "%s", url);
    ck_assert_int_eq(count_char(url, '?'), 1);
    ck_assert_str_eq(param(url, "tenant"), "acme");
    ck_assert_str_eq(param(url, "state"), "st");
    ck_assert_ptr_null(param(url, "id_token_hint"));
}
END_TEST

Suite *oidc_suite(void)
{
    Suite *s = suite_create("oidc");
    TCase *tc = test_tcase("conf");
    tcase_add_test(tc, test_conf_check_accepts_a_complete_generic_connection);
    tcase_add_test(tc, test_conf_check_needs_issuer_client_and_secret);
    tcase_add_test(tc, test_conf_check_issuer_must_be_an_https_url);
    tcase_add_test(tc, test_conf_check_scopes_must_include_openid);
    tcase_add_test(tc, test_conf_check_google_issuer_is_exact);
    tcase_add_test(tc, test_conf_check_entra_issuer_form);
    tcase_add_test(tc, test_conf_check_entra_multi_tenant_needs_the_tenant);
    tcase_add_test(tc, test_conf_check_okta_issuer);
    suite_add_tcase(s, tc);

    tc = test_tcase("discovery");
    tcase_add_test(tc, test_default_discovery_url);
    tcase_add_test(tc, test_discovery_parse_reads_the_endpoints);
    tcase_add_test(tc, test_discovery_parse_issuer_is_compared_exactly);
    tcase_add_test(tc, test_discovery_parse_entra_template);
    tcase_add_test(tc, test_discovery_parse_needs_the_endpoints);
    tcase_add_test(tc, test_discovery_parse_refuses_plain_http_endpoints);
    tcase_add_test(tc, test_discovery_parse_refuses_what_is_not_a_json_object);
    tcase_add_test(tc, test_discovery_parse_size_limit);
    tcase_add_test(tc, test_expected_issuer);
    suite_add_tcase(s, tc);

    tc = test_tcase("requests");
    tcase_add_test(tc, test_pkce_challenge_rfc7636_vector);
    tcase_add_test(tc, test_authorize_url_encodes_its_parameters);
    tcase_add_test(tc, test_authorize_url_keeps_an_existing_query);
    tcase_add_test(tc, test_token_request_body_basic);
    tcase_add_test(tc, test_token_request_body_post_encodes_the_secret);
    tcase_add_test(tc, test_token_response_with_an_id_token);
    tcase_add_test(tc, test_token_response_non_bearer_drops_the_access_token);
    tcase_add_test(tc, test_token_response_error_is_sanitised);
    tcase_add_test(tc, test_token_response_not_json);
    tcase_add_test(tc, test_token_response_without_id_token);
    tcase_add_test(tc, test_end_session_url);
    suite_add_tcase(s, tc);

    tc = test_tcase("claims");
    tcase_add_test(tc, test_claims_valid);
    tcase_add_test(tc, test_claims_iss_exact);
    tcase_add_test(tc, test_claims_aud);
    tcase_add_test(tc, test_claims_several_audiences_need_azp);
    tcase_add_test(tc, test_claims_azp_mismatch);
    tcase_add_test(tc, test_claims_exp);
    tcase_add_test(tc, test_claims_iat);
    tcase_add_test(tc, test_claims_nbf);
    tcase_add_test(tc, test_claims_nonce);
    tcase_add_test(tc, test_claims_sub);
    tcase_add_test(tc, test_claims_entra_tid);
    tcase_add_test(tc, test_merge_userinfo_sub_must_match);
    tcase_add_test(tc, test_merge_userinfo_id_token_claims_win);
    tcase_add_test(tc, test_claims_to_attrs);
    suite_add_tcase(s, tc);
    return s;
}
