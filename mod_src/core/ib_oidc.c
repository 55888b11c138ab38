#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <apr_strings.h>
#include <curl/curl.h>
#include <openssl/evp.h>

#include "ib_codec.h"
#include "ib_identity.h"
#include "ib_oidc.h"
#include "ib_url.h"

#define ENTRA_HOST "https://login.microsoftonline.com/"
#define ENTRA_TEMPLATE "https://login.microsoftonline.com/{tenantid}/v2.0"
#define MAX_DOC_BYTES (256 * 1024)

/* Percent-encoding for query strings and form bodies, by libcurl. */
static const char *esc(apr_pool_t *p, const char *s)
{
    char *e = curl_easy_escape(NULL, s ? s : "", 0);
    const char *out = apr_pstrdup(p, e ? e : "");
    curl_free(e);
    return out;
}

const char *ib_oidc_default_discovery_url(apr_pool_t *p, const char *issuer)
{
    apr_size_t n = strlen(issuer);
    while (n > 0 && issuer[n - 1] == '/') {
        n--;
    }
    return apr_pstrcat(p, apr_pstrndup(p, issuer, n), "/.well-known/openid-configuration",
                       NULL);
}

static int ends_with(const char *s, const char *suffix)
{
    apr_size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

/* https://login.microsoftonline.com/<tenant>/v2.0 with one non-empty
 * <tenant> path segment. */
static int is_entra_issuer(const char *issuer)
{
    apr_size_t host = strlen(ENTRA_HOST), suffix = strlen("/v2.0"), n = strlen(issuer);
    if (strncmp(issuer, ENTRA_HOST, host) != 0 || n <= host + suffix
        || !ends_with(issuer, "/v2.0")) {
        return 0;
    }
    const char *slash = strchr(issuer + host, '/');
    return slash == issuer + n - suffix;
}

/* 1 when the space-separated scope list holds `scope` as a whole token
 * (scope values are case-sensitive, RFC 6749 §3.3). */
static int has_scope(const char *scopes, const char *scope)
{
    apr_size_t n = strlen(scope);
    for (const char *s = scopes; s != NULL && *s;) {
        while (*s == ' ') {
            s++;
        }
        apr_size_t len = strcspn(s, " ");
        if (len == n && strncmp(s, scope, n) == 0) {
            return 1;
        }
        s += len;
    }
    return 0;
}

static int is_multi_tenant_entra(const char *issuer)
{
    return strcmp(issuer, ENTRA_HOST "organizations/v2.0") == 0
           || strcmp(issuer, ENTRA_HOST "common/v2.0") == 0;
}

const char *ib_oidc_conf_check(apr_pool_t *p, const ib_oidc_conf *c)
{
    if (c->issuer == NULL || c->client_id == NULL || c->client_secret == NULL) {
        return "an OIDC connection needs IdBrokerOIDCIssuer, IdBrokerOIDCClientID and "
               "IdBrokerOIDCClientSecret";
    }
    const char *err = ib_url_check_idp_endpoint(p, c->issuer);
    if (err != NULL) {
        return apr_pstrcat(p, "IdBrokerOIDCIssuer: ", err, NULL);
    }
    if (!has_scope(c->scopes, "openid")) {
        return "IdBrokerOIDCScopes must include openid";
    }
    switch (c->preset) {
    case IB_OIDC_GOOGLE:
        if (strcmp(c->issuer, "https://accounts.google.com") != 0) {
            return "the google preset's issuer is https://accounts.google.com (exactly)";
        }
        break;
    case IB_OIDC_ENTRA:
        if (!is_entra_issuer(c->issuer)) {
            return "the entra preset's issuer is https://login.microsoftonline.com/<tenant>/v2.0";
        }
        if (is_multi_tenant_entra(c->issuer) && c->entra_tenant == NULL) {
            return "an Entra organizations/common issuer needs IdBrokerOIDCEntraTenant "
                   "(the tenant ID whose users may sign in)";
        }
        break;
    case IB_OIDC_OKTA:
        if (strncmp(c->issuer, "https://", 8) != 0 || ends_with(c->issuer, "/")) {
            return "the okta preset's issuer is https://<org>.okta.com (or okta-eu.com, "
                   "oktapreview.com, a custom domain), without a trailing '/'";
        }
        break;
    case IB_OIDC_GENERIC:
        break;
    }
    return NULL;
}

const char *ib_oidc_expected_issuer(apr_pool_t *p, const ib_oidc_conf *c)
{
    if (c->preset == IB_OIDC_ENTRA && is_multi_tenant_entra(c->issuer)) {
        return apr_pstrcat(p, ENTRA_HOST, c->entra_tenant, "/v2.0", NULL);
    }
    return c->issuer;
}

static const char *str_field(apr_pool_t *p, const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(v) && v->valuestring[0] ? apr_pstrdup(p, v->valuestring) : NULL;
}

static const char *endpoint(apr_pool_t *p, const cJSON *o, const char *k, int required,
                            const char **out)
{
    *out = str_field(p, o, k);
    if (*out == NULL) {
        return required ? apr_psprintf(p, "the discovery document has no %s", k) : NULL;
    }
    const char *err = ib_url_check_idp_endpoint(p, *out);
    return err ? apr_psprintf(p, "discovery %s: %s", k, err) : NULL;
}

const char *ib_oidc_discovery_parse(apr_pool_t *p, const char *json, const ib_oidc_conf *conf,
                                    ib_oidc_discovery **out)
{
    if (json == NULL || strlen(json) > MAX_DOC_BYTES) {
        return "the discovery document is missing or too large";
    }
    cJSON *o = cJSON_Parse(json);
    if (!cJSON_IsObject(o)) {
        cJSON_Delete(o);
        return "the discovery document is not a JSON object";
    }
    ib_oidc_discovery *d = apr_pcalloc(p, sizeof(*d));
    const char *err = NULL;
    d->issuer = str_field(p, o, "issuer");
    int template = conf->preset == IB_OIDC_ENTRA && is_multi_tenant_entra(conf->issuer)
                   && d->issuer && strcmp(d->issuer, ENTRA_TEMPLATE) == 0;
    if (d->issuer == NULL || (!template && strcmp(d->issuer, conf->issuer) != 0)) {
        err = apr_psprintf(p, "the discovery document names issuer '%s', not '%s' "
                           "(compared exactly: case and trailing '/' count)",
                           d->issuer ? d->issuer : "", conf->issuer);
    }
    if (err == NULL) {
        err = endpoint(p, o, "authorization_endpoint", 1, &d->authorization_endpoint);
    }
    if (err == NULL) {
        err = endpoint(p, o, "token_endpoint", 1, &d->token_endpoint);
    }
    if (err == NULL) {
        err = endpoint(p, o, "jwks_uri", 1, &d->jwks_uri);
    }
    if (err == NULL) {
        err = endpoint(p, o, "userinfo_endpoint", 0, &d->userinfo_endpoint);
    }
    if (err == NULL) {
        err = endpoint(p, o, "end_session_endpoint", 0, &d->end_session_endpoint);
    }
    cJSON_Delete(o);
    if (err == NULL) {
        *out = d;
    }
    return err;
}

const char *ib_oidc_pkce_challenge(apr_pool_t *p, const char *verifier)
{
    unsigned char d[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    EVP_Digest(verifier, strlen(verifier), d, &n, EVP_sha256(), NULL);
    return ib_b64url_encode(p, d, n);
}

const char *ib_oidc_authorize_url(apr_pool_t *p, const ib_oidc_discovery *d,
                                  const ib_oidc_conf *conf, const char *redirect_uri,
                                  const char *state, const char *nonce, const char *challenge)
{
    const char *sep = strchr(d->authorization_endpoint, '?') ? "&" : "?";
    return apr_pstrcat(p, d->authorization_endpoint, sep,
                       "response_type=code&client_id=", esc(p, conf->client_id),
                       "&redirect_uri=", esc(p, redirect_uri),
                       "&scope=", esc(p, conf->scopes),
                       "&state=", esc(p, state), "&nonce=", esc(p, nonce),
                       "&code_challenge=", esc(p, challenge),
                       "&code_challenge_method=S256", NULL);
}

const char *ib_oidc_token_request_body(apr_pool_t *p, const ib_oidc_conf *conf,
                                       const char *code, const char *redirect_uri,
                                       const char *code_verifier)
{
    const char *body = apr_pstrcat(p, "grant_type=authorization_code&code=", esc(p, code),
                                   "&redirect_uri=", esc(p, redirect_uri),
                                   "&code_verifier=", esc(p, code_verifier), NULL);
    if (conf->client_secret_post) {
        body = apr_pstrcat(p, body, "&client_id=", esc(p, conf->client_id),
                           "&client_secret=", esc(p, conf->client_secret), NULL);
    }
    return body;
}

/* Text an OP sends that goes into our log: printable ASCII, bounded. */
static const char *loggable(apr_pool_t *p, const char *s)
{
    char *c = apr_pstrndup(p, s ? s : "", 200);
    for (char *q = c; *q; q++) {
        if ((unsigned char)*q < 0x20 || (unsigned char)*q > 0x7e) {
            *q = '?';
        }
    }
    return c;
}

const char *ib_oidc_token_response(apr_pool_t *p, long http_status, const char *json,
                                   const char **id_token, const char **access_token)
{
    cJSON *o = json && strlen(json) <= MAX_DOC_BYTES ? cJSON_Parse(json) : NULL;
    const char *err = NULL;
    if (!cJSON_IsObject(o)) {
        err = apr_psprintf(p, "the token endpoint answered HTTP %ld without a JSON object",
                           http_status);
    } else if (http_status != 200 || str_field(p, o, "error") != NULL) {
        const char *e = str_field(p, o, "error");
        const char *desc = str_field(p, o, "error_description");
        err = apr_psprintf(p, "the token endpoint refused the code: HTTP %ld, error=%s%s%s",
                           http_status, loggable(p, e ? e : "-"), desc ? ": " : "",
                           desc ? loggable(p, desc) : "");
    } else {
        *id_token = str_field(p, o, "id_token");
        *access_token = str_field(p, o, "access_token");
        const char *type = str_field(p, o, "token_type");
        if (*id_token == NULL) {
            err = "the token endpoint's answer has no id_token";
        } else if (*access_token != NULL && (type == NULL || strcasecmp(type, "Bearer") != 0)) {
            *access_token = NULL;   /* not a bearer token: no userinfo with it */
        }
    }
    cJSON_Delete(o);
    return err;
}

static int audience_has(const cJSON *aud, const char *client_id, int *count)
{
    *count = 0;
    if (cJSON_IsString(aud)) {
        *count = 1;
        return strcmp(aud->valuestring, client_id) == 0;
    }
    int found = 0;
    const cJSON *a;
    cJSON_ArrayForEach(a, aud) {
        (*count)++;
        found |= cJSON_IsString(a) && strcmp(a->valuestring, client_id) == 0;
    }
    return cJSON_IsArray(aud) && found;
}

static int time_claim(const cJSON *claims, const char *name, apr_time_t *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(claims, name);
    if (!cJSON_IsNumber(v) || v->valuedouble < 0 || v->valuedouble > 253402300799.0) {
        return 0;
    }
    *out = apr_time_from_sec((apr_time_t)v->valuedouble);
    return 1;
}

const char *ib_oidc_check_claims(apr_pool_t *p, const cJSON *claims, const ib_oidc_expect *e)
{
    const char *iss = str_field(p, claims, "iss");
    if (iss == NULL || strcmp(iss, e->issuer) != 0) {
        return apr_psprintf(p, "iss '%s' is not the issuer '%s' (compared exactly)",
                            loggable(p, iss), e->issuer);
    }
    int count = 0;
    if (!audience_has(cJSON_GetObjectItemCaseSensitive(claims, "aud"), e->client_id, &count)) {
        return "aud does not contain this connection's client ID";
    }
    const char *azp = str_field(p, claims, "azp");
    if ((count > 1 && azp == NULL) || (azp != NULL && strcmp(azp, e->client_id) != 0)) {
        return "azp is not this connection's client ID (required with several audiences)";
    }
    apr_time_t exp, iat, nbf;
    if (!time_claim(claims, "exp", &exp)) {
        return "the ID token has no valid exp";
    }
    if (e->now >= exp + e->skew) {
        return "the ID token has expired (exp); check the clocks of OP and server";
    }
    if (!time_claim(claims, "iat", &iat)) {
        return "the ID token has no valid iat";
    }
    if (iat > e->now + e->skew) {
        return "the ID token was issued in the future (iat); check the clocks";
    }
    if (cJSON_GetObjectItemCaseSensitive(claims, "nbf") != NULL
        && (!time_claim(claims, "nbf", &nbf) || nbf > e->now + e->skew)) {
        return "the ID token is not valid yet (nbf)";
    }
    const char *nonce = str_field(p, claims, "nonce");
    if (nonce == NULL || e->nonce == NULL || strcmp(nonce, e->nonce) != 0) {
        return "the nonce does not match the sign-in this browser started";
    }
    if (str_field(p, claims, "sub") == NULL) {
        return "the ID token has no sub";
    }
    if (e->entra_tenant != NULL) {
        const char *tid = str_field(p, claims, "tid");
        if (tid == NULL || strcmp(tid, e->entra_tenant) != 0) {
            return apr_psprintf(p, "tid '%s' is not the configured Entra tenant",
                                loggable(p, tid));
        }
    }
    return NULL;
}

const char *ib_oidc_merge_userinfo(apr_pool_t *p, cJSON *claims, const char *userinfo_json)
{
    cJSON *u = userinfo_json && strlen(userinfo_json) <= MAX_DOC_BYTES
               ? cJSON_Parse(userinfo_json) : NULL;
    if (!cJSON_IsObject(u)) {
        cJSON_Delete(u);
        return "the userinfo answer is not a JSON object (a signed userinfo is not supported)";
    }
    const char *sub = str_field(p, u, "sub");
    const char *id_sub = str_field(p, claims, "sub");
    if (sub == NULL || id_sub == NULL || strcmp(sub, id_sub) != 0) {
        cJSON_Delete(u);
        return "the userinfo sub is not the ID token's sub";
    }
    cJSON *c;
    cJSON_ArrayForEach(c, u) {
        /* claim names are case-sensitive: cJSON_HasObjectItem is not */
        if (c->string && cJSON_GetObjectItemCaseSensitive(claims, c->string) == NULL) {
            cJSON_AddItemToObject(claims, c->string, cJSON_Duplicate(c, 1));
        }
    }
    cJSON_Delete(u);
    return NULL;
}

static const char *scalar(apr_pool_t *p, const cJSON *v)
{
    if (cJSON_IsString(v)) {
        return apr_pstrdup(p, v->valuestring);
    }
    if (cJSON_IsBool(v)) {
        return cJSON_IsTrue(v) ? "true" : "false";
    }
    if (cJSON_IsNumber(v)) {
        /* Integers (within double's exact range) without a fraction; others
         * with the shortest of %.15g / %.17g that reads back the same. Not
         * apr_psprintf: it knows neither %lld nor %.17g's precision rules. */
        double d = v->valuedouble;
        char buf[64];
        if (d != d || d - d != 0) {
            return NULL;        /* NaN, or an overflow such as 1e999 read as inf */
        }
        if (d > -9007199254740992.0 && d < 9007199254740992.0 && d == (double)(long long)d) {
            snprintf(buf, sizeof(buf), "%lld", (long long)d);
        } else {
            snprintf(buf, sizeof(buf), "%.15g", d);
            if (strtod(buf, NULL) != d) {
                snprintf(buf, sizeof(buf), "%.17g", d);
            }
        }
        return apr_pstrdup(p, buf);
    }
    return NULL;
}

apr_array_header_t *ib_oidc_claims_to_attrs(apr_pool_t *p, const cJSON *claims)
{
    apr_array_header_t *attrs = apr_array_make(p, 16, sizeof(ib_raw_attr));
    const cJSON *c;
    cJSON_ArrayForEach(c, claims) {
        if (c->string == NULL) {
            continue;
        }
        ib_raw_attr a = {apr_pstrdup(p, c->string), apr_array_make(p, 1, sizeof(const char *))};
        if (cJSON_IsArray(c)) {
            const cJSON *v;
            cJSON_ArrayForEach(v, c) {
                const char *s = scalar(p, v);
                if (s != NULL) {
                    APR_ARRAY_PUSH(a.values, const char *) = s;
                }
            }
        } else {
            const char *s = scalar(p, c);
            if (s == NULL) {
                continue;       /* objects: address, _claim_sources, ... */
            }
            APR_ARRAY_PUSH(a.values, const char *) = s;
        }
        APR_ARRAY_PUSH(attrs, ib_raw_attr) = a;
    }
    return attrs;
}

const char *ib_oidc_end_session_url(apr_pool_t *p, const ib_oidc_discovery *d,
                                    const char *id_token, const char *post_logout_uri,
                                    const char *state)
{
    const char *sep = strchr(d->end_session_endpoint, '?') ? "&" : "?";
    const char *url = apr_pstrcat(p, d->end_session_endpoint, sep,
                                  "post_logout_redirect_uri=", esc(p, post_logout_uri),
                                  "&state=", esc(p, state), NULL);
    if (id_token != NULL) {
        url = apr_pstrcat(p, url, "&id_token_hint=", esc(p, id_token), NULL);
    }
    return url;
}
