/* JWKS documents: ib_jwks_parse (JSON, size and count caps, each JWK's kty,
 * use, key_ops, alg and kid rules, RSA n/e and EC x/y decoding, OpenSSL key
 * import and the EC public-key check), as fetched from an OP's jwks_uri.
 *
 * Input: the JWKS text.
 *
 * Invariants: success means at least one key, each RSA (2048..8192 bits) or
 * EC on P-256/384/521 with its public key; failure means a reason and no
 * keys. Each key must then be usable by ib_jws_verify without crashing (a
 * token with the key's kid and a bogus signature is checked against it). */
#include <string.h>

#include <apr_strings.h>
#include <openssl/evp.h>

#include "core/ib_codec.h"
#include "core/ib_jose.h"
#include "fuzz_common.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fz_init();
    return 0;
}

static const char *b64u(apr_pool_t *p, const char *s)
{
    return ib_b64url_encode(p, (const unsigned char *)s, strlen(s));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    apr_pool_t *p = fz_pool();
    apr_array_header_t *keys = NULL;
    const char *err = NULL;
    int rc = ib_jwks_parse(p, fz_cstr(data, size), &keys, &err);
    if (rc != 0) {
        FZ_CHECK(rc == -1 && keys == NULL && err != NULL, "jwks: failure without reason", NULL);
        fz_done();
        return 0;
    }
    FZ_CHECK(keys != NULL && keys->nelts > 0 && keys->nelts <= IB_JWKS_MAX_KEYS && err == NULL,
             "jwks: success without keys (or too many)", NULL);
    for (int i = 0; i < keys->nelts; i++) {
        const ib_jwk *k = &APR_ARRAY_IDX(keys, i, ib_jwk);
        FZ_CHECK(k->pkey != NULL && k->kty != NULL, "jwks: a key without EVP_PKEY or kty", NULL);
        if (strcmp(k->kty, "RSA") == 0) {
            FZ_CHECK(k->crv == NULL && k->bits >= IB_JWK_RSA_MIN_BITS
                     && k->bits <= IB_JWK_RSA_MAX_BITS
                     && EVP_PKEY_get_base_id(k->pkey) == EVP_PKEY_RSA,
                     "jwks: RSA key out of bounds", NULL);
        } else {
            FZ_CHECK(strcmp(k->kty, "EC") == 0 && k->crv != NULL
                     && EVP_PKEY_get_base_id(k->pkey) == EVP_PKEY_EC,
                     "jwks: a key neither RSA nor EC", k->kty);
        }
        FZ_CHECK(k->alg == NULL || ib_jws_alg_from_name(k->alg) != 0,
                 "jwks: a key with an alg outside the nine", k->alg);
        const char *alg = k->alg ? k->alg
                          : strcmp(k->kty, "RSA") == 0 ? "RS256"
                          : strcmp(k->crv, "P-256") == 0 ? "ES256"
                          : strcmp(k->crv, "P-384") == 0 ? "ES384" : "ES512";
        cJSON *h = cJSON_CreateObject();
        cJSON_AddStringToObject(h, "alg", alg);
        if (k->kid != NULL) {
            cJSON_AddStringToObject(h, "kid", k->kid);
        }
        char *hj = cJSON_PrintUnformatted(h);
        cJSON_Delete(h);
        const char *token = apr_pstrcat(p, b64u(p, hj), ".", b64u(p, "{\"sub\":\"x\"}"), ".",
                                        b64u(p, "not a signature"), NULL);
        cJSON_free(hj);
        ib_jws *jws = NULL;
        const char *why = NULL;
        ib_jws_status st = ib_jws_verify(p, token, keys, NULL, &jws, &why);
        FZ_CHECK(st != IB_JWS_OK, "jwks: a bogus signature verified", token);
    }
    fz_done();
    return 0;
}
