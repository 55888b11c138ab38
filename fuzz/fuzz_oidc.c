/* OpenID Connect JSON from the OP: the discovery document
 * (ib_oidc_discovery_parse), the token endpoint's answer
 * (ib_oidc_token_response), ID token claims (ib_oidc_check_claims, here on
 * claims JSON directly; fuzz_jws reaches them through a signed token) and
 * userinfo (ib_oidc_merge_userinfo), plus what is built from them
 * (authorization and end-session URLs, claims as attributes).
 *
 * Input: byte 0 chooses, the rest is the JSON text.
 *   bits 0-1: 0 discovery, 1 token response, 2 claims, 3 userinfo;
 *   bit 2: discovery for an Entra organizations issuer (the {tenantid}
 *          template) instead of a generic one; token response with HTTP 400
 *          instead of 200; claims checked with an Entra tenant (tid).
 *
 * Invariants: a parsed discovery document names the configured issuer (or
 * Entra's template) and has authorization, token and JWKS endpoints that
 * pass ib_url_check_idp_endpoint; a token answer is accepted only with
 * HTTP 200 and an id_token; accepted claims carry the expected iss, nonce,
 * a sub and an exp after now - skew; merged userinfo keeps the ID token's
 * sub. */
#include <string.h>

#include <apr_strings.h>

#include "core/ib_identity.h"
#include "core/ib_oidc.h"
#include "core/ib_url.h"
#include "fuzz_common.h"

#define ENTRA_ORGS "https://login.microsoftonline.com/organizations/v2.0"
#define ENTRA_TID "9f3a1c2e-5b7d-4e61-8a0f-2c4d6e8b1a3f"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fz_init();
    return 0;
}

static void discovery(apr_pool_t *p, const char *json, int entra)
{
    ib_oidc_conf conf;
    memset(&conf, 0, sizeof(conf));
    conf.preset = entra ? IB_OIDC_ENTRA : IB_OIDC_GENERIC;
    conf.issuer = entra ? ENTRA_ORGS : FZ_OP_ISSUER;
    conf.client_id = FZ_CLIENT_ID;
    conf.client_secret = "secret";
    conf.scopes = "openid profile email";
    conf.entra_tenant = entra ? ENTRA_TID : NULL;
    FZ_CHECK(ib_oidc_conf_check(p, &conf) == NULL, "oidc: the fixture conf is refused", NULL);
    ib_oidc_discovery *d = NULL;
    const char *err = ib_oidc_discovery_parse(p, json, &conf, &d);
    if (err != NULL) {
        return;
    }
    FZ_CHECK(d != NULL && d->issuer != NULL, "discovery: parsed without issuer", NULL);
    FZ_CHECK(strcmp(d->issuer, conf.issuer) == 0
             || (entra && strcmp(d->issuer,
                                 "https://login.microsoftonline.com/{tenantid}/v2.0") == 0),
             "discovery: accepted another issuer", d->issuer);
    const char *required[] = {d->authorization_endpoint, d->token_endpoint, d->jwks_uri};
    for (int i = 0; i < 3; i++) {
        FZ_CHECK(required[i] != NULL && ib_url_check_idp_endpoint(p, required[i]) == NULL,
                 "discovery: a required endpoint missing or not a valid URL", required[i]);
    }
    const char *optional[] = {d->userinfo_endpoint, d->end_session_endpoint};
    for (int i = 0; i < 2; i++) {
        FZ_CHECK(optional[i] == NULL || ib_url_check_idp_endpoint(p, optional[i]) == NULL,
                 "discovery: an optional endpoint that is not a valid URL", optional[i]);
    }
    const char *url = ib_oidc_authorize_url(p, d, &conf, FZ_SP_BASE "/oidc/callback", "st",
                                            FZ_NONCE, ib_oidc_pkce_challenge(p, "verifier"));
    FZ_CHECK(strncmp(url, d->authorization_endpoint, strlen(d->authorization_endpoint)) == 0,
             "discovery: authorize URL does not start with the endpoint", url);
    if (d->end_session_endpoint != NULL) {
        ib_oidc_end_session_url(p, d, "a.b.c", FZ_SP_BASE "/", "st");
    }
    ib_oidc_expected_issuer(p, &conf);
}

static void token_response(apr_pool_t *p, const char *json, long status)
{
    const char *id_token = NULL, *access_token = NULL;
    const char *err = ib_oidc_token_response(p, status, json, &id_token, &access_token);
    if (err == NULL) {
        FZ_CHECK(status == 200 && id_token != NULL && *id_token != '\0',
                 "token: accepted without HTTP 200 and an id_token", NULL);
    }
}

static void claims(apr_pool_t *p, const char *json, int entra)
{
    cJSON *c = cJSON_Parse(json);
    if (c == NULL) {
        return;
    }
    ib_oidc_expect e = {FZ_OP_ISSUER, FZ_CLIENT_ID, FZ_NONCE, entra ? ENTRA_TID : NULL, FZ_NOW,
                        apr_time_from_sec(120)};
    const char *err = ib_oidc_check_claims(p, c, &e);
    if (err == NULL) {
        const cJSON *iss = cJSON_GetObjectItemCaseSensitive(c, "iss");
        const cJSON *nonce = cJSON_GetObjectItemCaseSensitive(c, "nonce");
        const cJSON *exp = cJSON_GetObjectItemCaseSensitive(c, "exp");
        FZ_CHECK(cJSON_IsString(iss) && strcmp(iss->valuestring, FZ_OP_ISSUER) == 0,
                 "claims: accepted another iss", NULL);
        FZ_CHECK(cJSON_IsString(nonce) && strcmp(nonce->valuestring, FZ_NONCE) == 0,
                 "claims: accepted another nonce", NULL);
        FZ_CHECK(cJSON_IsString(cJSON_GetObjectItemCaseSensitive(c, "sub")),
                 "claims: accepted without sub", NULL);
        FZ_CHECK(cJSON_IsNumber(exp) && exp->valuedouble + 120 > (double)FZ_NOW_SEC,
                 "claims: accepted an expired token", NULL);
    }
    apr_array_header_t *attrs = ib_oidc_claims_to_attrs(p, c);
    ib_attr_names names;
    ib_attr_names_default(&names);
    ib_identity id;
    apr_array_header_t *problems, *hints;
    ib_identity_build(p, &names, attrs, 0, &id, &problems, &hints);
    cJSON_Delete(c);
}

static void userinfo(apr_pool_t *p, const char *json)
{
    cJSON *c = cJSON_Parse("{\"iss\":\"" FZ_OP_ISSUER "\",\"sub\":\"alice\",\"aud\":\""
                           FZ_CLIENT_ID "\",\"email\":\"alice@example.test\"}");
    const char *err = ib_oidc_merge_userinfo(p, c, json);
    const cJSON *sub = cJSON_GetObjectItemCaseSensitive(c, "sub");
    FZ_CHECK(cJSON_IsString(sub) && strcmp(sub->valuestring, "alice") == 0,
             "userinfo: the ID token's sub changed", NULL);
    if (err == NULL) {
        ib_oidc_claims_to_attrs(p, c);
    }
    cJSON_Delete(c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) {
        return 0;
    }
    apr_pool_t *p = fz_pool();
    const char *json = fz_cstr(data + 1, size - 1);
    int flag = (data[0] & 4) != 0;
    switch (data[0] & 3) {
    case 0:
        discovery(p, json, flag);
        break;
    case 1:
        token_response(p, json, flag ? 400 : 200);
        break;
    case 2:
        claims(p, json, flag);
        break;
    default:
        userinfo(p, json);
        break;
    }
    fz_done();
    return 0;
}
