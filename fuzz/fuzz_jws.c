/* ID tokens: ib_jws_verify (compact JWS: parts, base64url, header JSON,
 * alg/crit/kid rules, key choice, RSA PKCS#1 / PSS and ECDSA verification,
 * payload JSON) against a fixed JWKS (one RSA and one P-256 key, parsed by
 * ib_jwks_parse), then, for verified tokens, what the OIDC callback does
 * with the claims: ib_oidc_check_claims, ib_oidc_claims_to_attrs and
 * ib_identity_build.
 *
 * Input: byte 0 chooses, the rest is the token material.
 *   bit 0 = 0: the rest is a compact JWS, verified as is (mutations mostly
 *              stop at the signature: the claims code is reached through
 *              the other mode);
 *   bit 0 = 1: the rest is HEADER-JSON '\n' PAYLOAD-JSON; the harness
 *              base64url-encodes both and signs them with the fixture key
 *              the header's alg names (RS/PS 256/384/512 with the RSA key,
 *              ES256 with the EC key, anything else RS256), so mutations of
 *              the JSON reach payload parsing and the claims rules.
 *   bit 1: policy allows RS256 only; bit 2: the expectation names an Entra
 *   tenant (tid rule); bit 3: the JWKS passed has the RSA key only. */
#include <string.h>

#include <apr_strings.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include "core/ib_codec.h"
#include "core/ib_identity.h"
#include "core/ib_jose.h"
#include "core/ib_oidc.h"
#include "fuzz_common.h"
#include "fuzz_keys.h"

#define ENTRA_TID "9f3a1c2e-5b7d-4e61-8a0f-2c4d6e8b1a3f"

static EVP_PKEY *rsa_key, *ec_key;
static apr_array_header_t *all_keys, *rsa_only;

static EVP_PKEY *load_key(const char *pem)
{
    BIO *b = BIO_new_mem_buf(pem, -1);
    EVP_PKEY *k = b ? PEM_read_bio_PrivateKey(b, NULL, NULL, NULL) : NULL;
    BIO_free(b);
    if (k == NULL) {
        fz_fail("cannot load a fixture key", NULL);
    }
    return k;
}

static const char *bn_b64u(apr_pool_t *p, EVP_PKEY *k, const char *param, int pad_to)
{
    BIGNUM *bn = NULL;
    if (EVP_PKEY_get_bn_param(k, param, &bn) != 1) {
        fz_fail("cannot read a fixture key parameter", param);
    }
    int n = pad_to ? pad_to : BN_num_bytes(bn);
    unsigned char *buf = apr_palloc(p, (apr_size_t)n);
    BN_bn2binpad(bn, buf, n);
    BN_free(bn);
    return ib_b64url_encode(p, buf, (apr_size_t)n);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fz_init();
    apr_pool_t *g = fz_global_pool();
    rsa_key = load_key(FZ_JWS_RSA_KEY_PEM);
    ec_key = load_key(FZ_JWS_EC_KEY_PEM);
    const char *rsa_jwk = apr_psprintf(g, "{\"kty\":\"RSA\",\"kid\":\"rsa1\",\"use\":\"sig\","
                                       "\"n\":\"%s\",\"e\":\"%s\"}",
                                       bn_b64u(g, rsa_key, OSSL_PKEY_PARAM_RSA_N, 0),
                                       bn_b64u(g, rsa_key, OSSL_PKEY_PARAM_RSA_E, 0));
    const char *ec_jwk = apr_psprintf(g, "{\"kty\":\"EC\",\"kid\":\"ec1\",\"crv\":\"P-256\","
                                      "\"x\":\"%s\",\"y\":\"%s\"}",
                                      bn_b64u(g, ec_key, OSSL_PKEY_PARAM_EC_PUB_X, 32),
                                      bn_b64u(g, ec_key, OSSL_PKEY_PARAM_EC_PUB_Y, 32));
    const char *err = NULL;
    if (ib_jwks_parse(g, apr_psprintf(g, "{\"keys\":[%s,%s]}", rsa_jwk, ec_jwk), &all_keys,
                      &err) != 0
        || ib_jwks_parse(g, apr_psprintf(g, "{\"keys\":[%s]}", rsa_jwk), &rsa_only, &err) != 0
        || all_keys->nelts != 2) {
        fz_fail("the fixture JWKS does not parse", err);
    }
    return 0;
}

/* Signs `input` for alg (RS/PS/ES 256/384/512); NULL if OpenSSL fails. */
static const char *sign(apr_pool_t *p, const char *alg, const char *input)
{
    const char *md = strstr(alg, "384") ? "SHA384" : strstr(alg, "512") ? "SHA512" : "SHA256";
    int es = strncmp(alg, "ES", 2) == 0, ps = strncmp(alg, "PS", 2) == 0;
    EVP_PKEY *k = es ? ec_key : rsa_key;
    if (es) {
        md = "SHA256"; /* the only EC key is P-256 */
    }
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    EVP_PKEY_CTX *pctx = NULL;
    size_t len = 0;
    unsigned char *sig = NULL;
    int ok = ctx && EVP_DigestSignInit_ex(ctx, &pctx, md, NULL, NULL, k, NULL) == 1
             && (!ps || (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) == 1
                         && EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) == 1))
             && EVP_DigestSign(ctx, NULL, &len, (const unsigned char *)input, strlen(input)) == 1
             && (sig = apr_palloc(p, len)) != NULL
             && EVP_DigestSign(ctx, sig, &len, (const unsigned char *)input, strlen(input)) == 1;
    EVP_MD_CTX_free(ctx);
    if (!ok) {
        return NULL;
    }
    if (es) {
        /* DER ECDSA-Sig-Value -> raw r||s (RFC 7518 3.4). */
        const unsigned char *q = sig;
        ECDSA_SIG *es_sig = d2i_ECDSA_SIG(NULL, &q, (long)len);
        if (es_sig == NULL) {
            return NULL;
        }
        unsigned char *raw = apr_palloc(p, 64);
        BN_bn2binpad(ECDSA_SIG_get0_r(es_sig), raw, 32);
        BN_bn2binpad(ECDSA_SIG_get0_s(es_sig), raw + 32, 32);
        ECDSA_SIG_free(es_sig);
        return ib_b64url_encode(p, raw, 64);
    }
    return ib_b64url_encode(p, sig, len);
}

static const char *const ALGS[] = {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512",
                                   "ES256"};

static const char *harness_token(apr_pool_t *p, const uint8_t *data, size_t size)
{
    const uint8_t *nl = memchr(data, '\n', size);
    size_t hlen = nl ? (size_t)(nl - data) : size;
    const char *header = fz_bytes(data, hlen);
    const char *payload = nl ? fz_bytes(nl + 1, size - hlen - 1) : "{}";
    size_t plen = nl ? size - hlen - 1 : 2;
    const char *alg = "RS256";
    for (size_t i = 0; i < sizeof(ALGS) / sizeof(ALGS[0]); i++) {
        if (memmem(header, hlen, ALGS[i], 5) != NULL) {
            alg = ALGS[i];
            break;
        }
    }
    const char *input = apr_pstrcat(p, ib_b64url_encode(p, (const unsigned char *)header, hlen),
                                    ".", ib_b64url_encode(p, (const unsigned char *)payload,
                                                          plen), NULL);
    const char *sig = sign(p, alg, input);
    return sig ? apr_pstrcat(p, input, ".", sig, NULL) : NULL;
}

static void use_claims(apr_pool_t *p, const ib_jws *jws, int entra)
{
    ib_oidc_expect e = {FZ_OP_ISSUER, FZ_CLIENT_ID, FZ_NONCE, entra ? ENTRA_TID : NULL,
                        FZ_NOW, apr_time_from_sec(120)};
    const char *why = ib_oidc_check_claims(p, jws->claims, &e);
    fz_trace("claims", why ? why : "OK");
    apr_array_header_t *attrs = ib_oidc_claims_to_attrs(p, jws->claims);
    FZ_CHECK(attrs != NULL, "claims_to_attrs: NULL", NULL);
    for (int i = 0; i < attrs->nelts; i++) {
        const ib_raw_attr *a = &APR_ARRAY_IDX(attrs, i, ib_raw_attr);
        FZ_CHECK(a->name != NULL && a->values != NULL, "claims_to_attrs: incomplete attr", NULL);
        for (int j = 0; j < a->values->nelts; j++) {
            FZ_CHECK(APR_ARRAY_IDX(a->values, j, const char *) != NULL,
                     "claims_to_attrs: NULL value", a->name);
        }
    }
    if (why == NULL) {
        ib_attr_names names;
        ib_attr_names_default(&names);
        ib_identity id;
        apr_array_header_t *problems, *hints;
        ib_identity_build(p, &names, attrs, 0, &id, &problems, &hints);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) {
        return 0;
    }
    apr_pool_t *p = fz_pool();
    const char *token = (data[0] & 1) ? harness_token(p, data + 1, size - 1)
                                      : fz_cstr(data + 1, size - 1);
    if (token != NULL) {
        ib_jws_policy policy = {(data[0] & 2) ? IB_JWS_RS256 : 0};
        ib_jws *jws = NULL;
        const char *err = NULL;
        ib_jws_status st = ib_jws_verify(p, token, (data[0] & 8) ? rsa_only : all_keys, &policy,
                                         &jws, &err);
        FZ_CHECK(ib_jws_status_name(st) != NULL, "jws: status without a name", NULL);
        fz_trace("jws", err ? err : "OK");
        if (st == IB_JWS_OK) {
            FZ_CHECK(jws != NULL && err == NULL && jws->claims != NULL && jws->header != NULL
                     && jws->key != NULL && jws->payload != NULL,
                     "jws: OK with missing parts", NULL);
            FZ_CHECK(strlen(jws->payload) == jws->payload_len, "jws: payload length", NULL);
            FZ_CHECK((jws->alg & (policy.algs ? policy.algs : IB_JWS_ALL_ALGS)) != 0,
                     "jws: verified with an alg outside the policy", jws->alg_name);
            use_claims(p, jws, (data[0] & 4) != 0);
        } else {
            FZ_CHECK(jws == NULL && err != NULL, "jws: refusal without a reason", NULL);
        }
    }
    fz_done();
    return 0;
}
