/* ib_jose: JWKS parsing and compact JWS verification; ib_codec base64url.
 *
 * Keys are generated here with OpenSSL (cached on disk below the test root
 * so the forked test processes share them), JWKs are built from their
 * public parameters, and tokens are signed here with EVP: nothing of the
 * code under test is used to make the fixtures. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <apr_strings.h>
#include <cjson/cJSON.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include "core/ib_codec.h"
#include "core/ib_jose.h"
#include "test_support.h"

#define CLAIMS "{\"iss\":\"https://idp.example\",\"sub\":\"alice\",\"aud\":\"rp\"}"

/* ---- fixtures ----------------------------------------------------------------- */

/* Base64url without padding, written independently of ib_codec. */
static const char *b64u(const unsigned char *d, size_t n)
{
    static const char T[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    char *out = apr_palloc(test_pool(), n / 3 * 4 + 5);
    char *w = out;
    size_t i = 0;
    for (; i + 3 <= n; i += 3) {
        unsigned v = (unsigned)d[i] << 16 | (unsigned)d[i + 1] << 8 | d[i + 2];
        *w++ = T[v >> 18];
        *w++ = T[(v >> 12) & 63];
        *w++ = T[(v >> 6) & 63];
        *w++ = T[v & 63];
    }
    if (n - i == 1) {
        *w++ = T[d[i] >> 2];
        *w++ = T[(d[i] & 3) << 4];
    } else if (n - i == 2) {
        unsigned v = (unsigned)d[i] << 8 | d[i + 1];
        *w++ = T[v >> 10];
        *w++ = T[(v >> 4) & 63];
        *w++ = T[(v & 15) << 2];
    }
    *w = '\0';
    return out;
}

static const char *b64u_str(const char *s)
{
    return b64u((const unsigned char *)s, strlen(s));
}

static apr_status_t free_pkey(void *k)
{
    EVP_PKEY_free(k);
    return APR_SUCCESS;
}

static EVP_PKEY *generate(const char *type)
{
    if (strcmp(type, "rsa2048") == 0) {
        return EVP_RSA_gen(2048);
    }
    if (strcmp(type, "rsa1024") == 0) {
        return EVP_RSA_gen(1024);
    }
    return EVP_EC_gen(type); /* "P-256", "P-384", "P-521" */
}

/* The private key of (type, slot), generated once per run. */
static EVP_PKEY *key(const char *type, int slot)
{
    char path[256];
    snprintf(path, sizeof(path), "%s/jose-%s-%d.pem", test_root_dir(), type, slot);
    EVP_PKEY *k = NULL;
    FILE *f = fopen(path, "r");
    if (f != NULL) {
        k = PEM_read_PrivateKey(f, NULL, NULL, NULL);
        fclose(f);
        ck_assert_msg(k != NULL, "cannot read %s", path);
    } else {
        k = generate(type);
        ck_assert_msg(k != NULL, "cannot generate a %s key", type);
        char tmp[280];
        snprintf(tmp, sizeof(tmp), "%s.%ld", path, (long)getpid());
        f = fopen(tmp, "w");
        ck_assert_msg(f != NULL, "fopen %s: %s", tmp, strerror(errno));
        ck_assert_int_eq(PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL), 1);
        ck_assert_int_eq(fclose(f), 0);
        ck_assert_int_eq(rename(tmp, path), 0);
    }
    apr_pool_cleanup_register(test_pool(), k, free_pkey, apr_pool_cleanup_null);
    return k;
}

static const char *bn_b64u(EVP_PKEY *k, const char *param, int pad)
{
    BIGNUM *bn = NULL;
    ck_assert_int_eq(EVP_PKEY_get_bn_param(k, param, &bn), 1);
    int n = pad > 0 ? pad : BN_num_bytes(bn);
    unsigned char *buf = apr_palloc(test_pool(), (apr_size_t)n);
    ck_assert_int_eq(BN_bn2binpad(bn, buf, n), n);
    BN_free(bn);
    return b64u(buf, (size_t)n);
}

static int ec_field_bytes(EVP_PKEY *k)
{
    return (EVP_PKEY_get_bits(k) + 7) / 8;
}

static const char *ec_crv(EVP_PKEY *k)
{
    switch (EVP_PKEY_get_bits(k)) {
    case 256: return "P-256";
    case 384: return "P-384";
    default: return "P-521";
    }
}

/* The public JWK of k; kid NULL leaves it out; extra (NULL or members
 * without braces) is appended. */
static const char *jwk(EVP_PKEY *k, const char *kid, const char *extra)
{
    apr_pool_t *p = test_pool();
    const char *kid_m = kid ? apr_psprintf(p, "\"kid\":\"%s\",", kid) : "";
    const char *extra_m = extra ? apr_pstrcat(p, ",", extra, NULL) : "";
    if (EVP_PKEY_is_a(k, "RSA")) {
        return apr_psprintf(p, "{%s\"kty\":\"RSA\",\"n\":\"%s\",\"e\":\"%s\"%s}", kid_m,
                            bn_b64u(k, OSSL_PKEY_PARAM_RSA_N, 0),
                            bn_b64u(k, OSSL_PKEY_PARAM_RSA_E, 0), extra_m);
    }
    int fb = ec_field_bytes(k);
    return apr_psprintf(p, "{%s\"kty\":\"EC\",\"crv\":\"%s\",\"x\":\"%s\",\"y\":\"%s\"%s}",
                        kid_m, ec_crv(k), bn_b64u(k, OSSL_PKEY_PARAM_EC_PUB_X, fb),
                        bn_b64u(k, OSSL_PKEY_PARAM_EC_PUB_Y, fb), extra_m);
}

/* {"keys":[a, b, ...]} of a NULL-terminated list of JWK texts. */
static const char *jwks(const char *first, ...)
{
    const char *s = apr_pstrcat(test_pool(), "{\"keys\":[", first, NULL);
    va_list ap;
    va_start(ap, first);
    for (const char *j; (j = va_arg(ap, const char *)) != NULL;) {
        s = apr_pstrcat(test_pool(), s, ",", j, NULL);
    }
    va_end(ap);
    return apr_pstrcat(test_pool(), s, "]}", NULL);
}

static apr_array_header_t *parse_ok(const char *json)
{
    apr_array_header_t *keys = NULL;
    const char *err = NULL;
    ck_assert_int_eq(ib_jwks_parse(test_pool(), json, &keys, &err), 0);
    ck_assert_no_err(err);
    ck_assert_ptr_nonnull(keys);
    return keys;
}

static const char *parse_err(const char *json)
{
    apr_array_header_t *keys = (apr_array_header_t *)1;
    const char *err = NULL;
    ck_assert_int_eq(ib_jwks_parse(test_pool(), json, &keys, &err), -1);
    ck_assert_ptr_null(keys);
    ck_assert_ptr_nonnull(err);
    return err;
}

static const ib_jwk *key_at(const apr_array_header_t *keys, int i)
{
    return &APR_ARRAY_IDX(keys, i, ib_jwk);
}

enum { SIGN_DER = 1, SIGN_PSS_SALT_MAX = 2 };

/* The JWS signature of input under alg ("RS256" ... "ES512") with k. */
static const char *sign_b64u(const char *alg, EVP_PKEY *k, const char *input, int flags)
{
    const char *md = apr_psprintf(test_pool(), "SHA%s", alg + 2);
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    EVP_PKEY_CTX *pctx = NULL;
    ck_assert_int_eq(EVP_DigestSignInit_ex(ctx, &pctx, md, NULL, NULL, k, NULL), 1);
    if (alg[0] == 'P') {
        ck_assert_int_eq(EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING), 1);
        ck_assert_int_eq(EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, (flags & SIGN_PSS_SALT_MAX)
                                                                    ? RSA_PSS_SALTLEN_MAX
                                                                    : RSA_PSS_SALTLEN_DIGEST), 1);
        ck_assert_int_eq(EVP_PKEY_CTX_set_rsa_mgf1_md_name(pctx, md, NULL), 1);
    }
    size_t len = 0;
    ck_assert_int_eq(EVP_DigestSign(ctx, NULL, &len, (const unsigned char *)input,
                                    strlen(input)), 1);
    unsigned char *sig = apr_palloc(test_pool(), len);
    ck_assert_int_eq(EVP_DigestSign(ctx, sig, &len, (const unsigned char *)input,
                                    strlen(input)), 1);
    EVP_MD_CTX_free(ctx);
    if (alg[0] != 'E' || (flags & SIGN_DER)) {
        return b64u(sig, len);
    }
    const unsigned char *q = sig;
    ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &q, (long)len);
    ck_assert_ptr_nonnull(es);
    int fb = ec_field_bytes(k);
    unsigned char *raw = apr_palloc(test_pool(), 2 * (apr_size_t)fb);
    ck_assert_int_eq(BN_bn2binpad(ECDSA_SIG_get0_r(es), raw, fb), fb);
    ck_assert_int_eq(BN_bn2binpad(ECDSA_SIG_get0_s(es), raw + fb, fb), fb);
    ECDSA_SIG_free(es);
    return b64u(raw, 2 * (size_t)fb);
}

/* A compact JWS of the header and payload texts, signed under alg with k. */
static const char *jwt_flags(const char *alg, EVP_PKEY *k, const char *header,
                             const char *payload, int flags)
{
    const char *input = apr_pstrcat(test_pool(), b64u_str(header), ".", b64u_str(payload), NULL);
    return apr_pstrcat(test_pool(), input, ".", sign_b64u(alg, k, input, flags), NULL);
}

static const char *jwt(const char *alg, EVP_PKEY *k, const char *header, const char *payload)
{
    return jwt_flags(alg, k, header, payload, 0);
}

/* The usual header: {"alg":ALG,"typ":"JWT"[,"kid":KID]}. */
static const char *hdr(const char *alg, const char *kid)
{
    return kid ? apr_psprintf(test_pool(), "{\"alg\":\"%s\",\"typ\":\"JWT\",\"kid\":\"%s\"}",
                              alg, kid)
               : apr_psprintf(test_pool(), "{\"alg\":\"%s\",\"typ\":\"JWT\"}", alg);
}

static ib_jws_status verify(const char *tok, const apr_array_header_t *keys, unsigned algs,
                            ib_jws **out, const char **err)
{
    ib_jws_policy policy = { algs };
    *out = (ib_jws *)1;
    ib_jws_status st = ib_jws_verify(test_pool(), tok, keys, &policy, out, err);
    if (st != IB_JWS_OK) {
        ck_assert_ptr_null(*out);
        ck_assert_ptr_nonnull(*err);
    } else {
        ck_assert_ptr_nonnull(*out);
        ck_assert_ptr_null(*err);
    }
    return st;
}

/* Asserts the verification ends with status and an error holding needle. */
#define ck_assert_jws_fails(tok, keys, algs, status, needle)                   \
    do {                                                                       \
        ib_jws *o_;                                                            \
        const char *e_;                                                        \
        ib_jws_status s_ = verify((tok), (keys), (algs), &o_, &e_);            \
        ck_assert_msg(s_ == (status), "status %s (%s), expected %s",           \
                      ib_jws_status_name(s_), e_ ? e_ : "no error",            \
                      ib_jws_status_name(status));                             \
        ck_assert_err_has(e_, (needle));                                       \
    } while (0)

/* A JWKS of RSA (kid "rsa"), P-256 ("p256"), P-384 ("p384"), P-521 ("p521"). */
static apr_array_header_t *all_keys(void)
{
    return parse_ok(jwks(jwk(key("rsa2048", 0), "rsa", NULL), jwk(key("P-256", 0), "p256", NULL),
                         jwk(key("P-384", 0), "p384", NULL), jwk(key("P-521", 0), "p521", NULL),
                         NULL));
}

/* Replaces part i (0..2) of a compact token. */
static const char *with_part(const char *tok, int i, const char *part)
{
    char *copy = apr_pstrdup(test_pool(), tok);
    char *d1 = strchr(copy, '.');
    char *d2 = strchr(d1 + 1, '.');
    *d1 = *d2 = '\0';
    const char *parts[3] = { copy, d1 + 1, d2 + 1 };
    parts[i] = part;
    return apr_pstrcat(test_pool(), parts[0], ".", parts[1], ".", parts[2], NULL);
}

static const char *part(const char *tok, int i)
{
    char *copy = apr_pstrdup(test_pool(), tok);
    char *d1 = strchr(copy, '.');
    char *d2 = strchr(d1 + 1, '.');
    *d1 = *d2 = '\0';
    return i == 0 ? copy : i == 1 ? d1 + 1 : d2 + 1;
}

/* ---- base64url -------------------------------------------------------------- */

START_TEST(test_b64url_rfc4648_vectors)
{
    static const char *const plain[] = { "", "f", "fo", "foo", "foob", "fooba", "foobar" };
    static const char *const enc[] = { "", "Zg", "Zm8", "Zm9v", "Zm9vYg", "Zm9vYmE", "Zm9vYmFy" };
    for (int i = 0; i < 7; i++) {
        ck_assert_str_eq(ib_b64url_encode(test_pool(), (const unsigned char *)plain[i],
                                          strlen(plain[i])), enc[i]);
        unsigned char *out = NULL;
        ck_assert_int_eq(ib_b64url_decode(test_pool(), enc[i], strlen(enc[i]), 100, &out),
                         (long)strlen(plain[i]));
        ck_assert_str_eq((const char *)out, plain[i]);
    }
    /* The two letters that differ from Base64. */
    static const unsigned char bytes[] = { 0xfb, 0xff, 0xbf };
    ck_assert_str_eq(ib_b64url_encode(test_pool(), bytes, 3), "-_-_");
    ck_assert_str_eq(ib_b64url_encode(test_pool(), bytes, 2), "-_8");
    unsigned char *out;
    ck_assert_int_eq(ib_b64url_decode(test_pool(), "-_-_", 4, 10, &out), 3);
    ck_assert_mem_eq(out, bytes, 3);
    /* Reads exactly in_len bytes. */
    ck_assert_int_eq(ib_b64url_decode(test_pool(), "Zm9vYmFy.rest", 4, 10, &out), 3);
    ck_assert_str_eq((const char *)out, "foo");
}
END_TEST

START_TEST(test_b64url_is_strict)
{
    static const char *const bad[] = {
        "Zg==", "Zm8=",  /* padding */
        "+_8A", "-/8A",  /* the Base64 letters */
        "Zm 9v", "Zm9v\n", "\tZm9v", /* whitespace */
        "Z", "Zm9vY",    /* 1 mod 4 */
        "Zh", "Zm9",     /* non-zero bits after the data */
        "Zm.v", "Zm9v!", "Zm9\xc3\xa9",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        unsigned char *out = NULL;
        ck_assert_msg(ib_b64url_decode(test_pool(), bad[i], strlen(bad[i]), 100, &out) == -1,
                      "accepted \"%s\"", bad[i]);
    }
    unsigned char *out;
    ck_assert_int_eq(ib_b64url_decode(test_pool(), "Zm9vYmFy", 8, 5, &out), -1);
    ck_assert_int_eq(ib_b64url_decode(test_pool(), "Zm9vYmFy", 8, 6, &out), 6);
}
END_TEST

/* ---- JWKS ------------------------------------------------------------------- */

START_TEST(test_jwks_keeps_rsa_and_ec_keys)
{
    apr_array_header_t *keys = parse_ok(jwks(
        jwk(key("rsa2048", 0), "r1", "\"alg\":\"RS256\",\"use\":\"sig\""),
        jwk(key("P-256", 0), "e1", "\"key_ops\":[\"verify\"]"),
        jwk(key("P-384", 0), NULL, "\"alg\":\"ES384\""),
        jwk(key("P-521", 0), "e3", NULL), NULL));
    ck_assert_int_eq(keys->nelts, 4);

    const ib_jwk *k = key_at(keys, 0);
    ck_assert_str_eq(k->kty, "RSA");
    ck_assert_str_eq(k->kid, "r1");
    ck_assert_str_eq(k->alg, "RS256");
    ck_assert_ptr_null(k->crv);
    ck_assert_int_eq(k->bits, 2048);
    ck_assert_int_eq(EVP_PKEY_eq(k->pkey, key("rsa2048", 0)), 1);

    k = key_at(keys, 1);
    ck_assert_str_eq(k->kty, "EC");
    ck_assert_str_eq(k->crv, "P-256");
    ck_assert_ptr_null(k->alg);
    ck_assert_int_eq(EVP_PKEY_eq(k->pkey, key("P-256", 0)), 1);

    k = key_at(keys, 2);
    ck_assert_ptr_null(k->kid);
    ck_assert_str_eq(k->crv, "P-384");
    ck_assert_str_eq(k->alg, "ES384");
    ck_assert_int_eq(EVP_PKEY_eq(k->pkey, key("P-384", 0)), 1);

    k = key_at(keys, 3);
    ck_assert_str_eq(k->crv, "P-521");
    ck_assert_int_eq(k->bits, 521);
    ck_assert_int_eq(EVP_PKEY_eq(k->pkey, key("P-521", 0)), 1);
}
END_TEST

START_TEST(test_jwks_skips_rsa_1024)
{
    apr_array_header_t *keys = parse_ok(jwks(jwk(key("rsa1024", 0), "small", NULL),
                                             jwk(key("rsa2048", 0), "big", NULL), NULL));
    ck_assert_int_eq(keys->nelts, 1);
    ck_assert_str_eq(key_at(keys, 0)->kid, "big");

    const char *err = parse_err(jwks(jwk(key("rsa1024", 0), "small", NULL), NULL));
    ck_assert_err_has(err, "no usable signature key");
    ck_assert_err_has(err, "kid \"small\"");
    ck_assert_err_has(err, "1024 bits");
}
END_TEST

START_TEST(test_jwks_refuses_ec_point_off_the_curve)
{
    EVP_PKEY *k = key("P-256", 0);
    unsigned char y[32];
    BIGNUM *bn = NULL;
    ck_assert_int_eq(EVP_PKEY_get_bn_param(k, OSSL_PKEY_PARAM_EC_PUB_Y, &bn), 1);
    ck_assert_int_eq(BN_bn2binpad(bn, y, 32), 32);
    BN_free(bn);
    y[31] ^= 0x01;
    const char *bad = apr_psprintf(test_pool(),
                                   "{\"kid\":\"off\",\"kty\":\"EC\",\"crv\":\"P-256\","
                                   "\"x\":\"%s\",\"y\":\"%s\"}",
                                   bn_b64u(k, OSSL_PKEY_PARAM_EC_PUB_X, 32), b64u(y, 32));
    const char *err = parse_err(jwks(bad, NULL));
    ck_assert_err_has(err, "kid \"off\"");
    ck_assert_err_has(err, "not on P-256");

    /* Skipped next to a good key. */
    apr_array_header_t *keys = parse_ok(jwks(bad, jwk(k, "on", NULL), NULL));
    ck_assert_int_eq(keys->nelts, 1);
    ck_assert_str_eq(key_at(keys, 0)->kid, "on");

    /* The P-256 point given as P-384 coordinates does not fit either. */
    err = parse_err(jwks(apr_psprintf(test_pool(),
                                      "{\"kty\":\"EC\",\"crv\":\"P-384\",\"x\":\"%s\",\"y\":\"%s\"}",
                                      bn_b64u(k, OSSL_PKEY_PARAM_EC_PUB_X, 48),
                                      bn_b64u(k, OSSL_PKEY_PARAM_EC_PUB_Y, 48)), NULL));
    ck_assert_err_has(err, "P-384");
}
END_TEST

START_TEST(test_jwks_refuses_short_ec_coordinates)
{
    EVP_PKEY *k = key("P-256", 0);
    /* x with its first byte dropped: 31 bytes, not the full 32. */
    unsigned char x[32];
    BIGNUM *bn = NULL;
    ck_assert_int_eq(EVP_PKEY_get_bn_param(k, OSSL_PKEY_PARAM_EC_PUB_X, &bn), 1);
    ck_assert_int_eq(BN_bn2binpad(bn, x, 32), 32);
    BN_free(bn);
    const char *err = parse_err(jwks(apr_psprintf(test_pool(),
                                     "{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"%s\",\"y\":\"%s\"}",
                                     b64u(x + 1, 31), bn_b64u(k, OSSL_PKEY_PARAM_EC_PUB_Y, 32)),
                                     NULL));
    ck_assert_err_has(err, "32 bytes");
}
END_TEST

START_TEST(test_jwks_skips_keys_not_for_signatures)
{
    EVP_PKEY *r = key("rsa2048", 0), *e = key("P-256", 0);
    apr_array_header_t *keys = parse_ok(jwks(
        jwk(r, "enc", "\"use\":\"enc\""),
        jwk(e, "enc-ec", "\"use\":\"enc\""),
        jwk(r, "ops", "\"key_ops\":[\"encrypt\",\"wrapKey\"]"),
        jwk(r, "use-num", "\"use\":1"),
        jwk(r, "sig", "\"use\":\"sig\""), NULL));
    ck_assert_int_eq(keys->nelts, 1);
    ck_assert_str_eq(key_at(keys, 0)->kid, "sig");

    const char *err = parse_err(jwks(jwk(r, "enc", "\"use\":\"enc\""), NULL));
    ck_assert_err_has(err, "\"use\" is not \"sig\"");
}
END_TEST

START_TEST(test_jwks_skips_keys_with_a_refused_alg)
{
    EVP_PKEY *r = key("rsa2048", 0), *e = key("P-256", 0);
    apr_array_header_t *keys = parse_ok(jwks(
        jwk(r, "hs", "\"alg\":\"HS256\""),
        jwk(r, "none", "\"alg\":\"none\""),
        jwk(r, "oaep", "\"alg\":\"RSA-OAEP\""),
        jwk(r, "rsa-es", "\"alg\":\"ES256\""),
        jwk(e, "ec-rs", "\"alg\":\"RS256\""),
        jwk(e, "ec-384", "\"alg\":\"ES384\""),
        "{\"kty\":\"oct\",\"kid\":\"sym\",\"k\":\"c2VjcmV0\"}",
        "{\"kty\":\"OKP\",\"kid\":\"ed\",\"crv\":\"Ed25519\",\"x\":\"AAAA\"}",
        "{\"kty\":\"RSA\",\"kid\":7,\"n\":\"AQAB\",\"e\":\"AQAB\"}",
        "\"not an object\"",
        jwk(r, "ps", "\"alg\":\"PS512\""),
        jwk(e, "es", "\"alg\":\"ES256\""), NULL));
    ck_assert_int_eq(keys->nelts, 2);
    ck_assert_str_eq(key_at(keys, 0)->kid, "ps");
    ck_assert_str_eq(key_at(keys, 0)->alg, "PS512");
    ck_assert_str_eq(key_at(keys, 1)->kid, "es");
}
END_TEST

START_TEST(test_jwks_refuses_bad_documents)
{
    ck_assert_err_has(parse_err(NULL), "no document");
    ck_assert_err_has(parse_err("not json"), "not valid JSON");
    ck_assert_err_has(parse_err("[]"), "\"keys\" array");
    ck_assert_err_has(parse_err("{\"keys\":{}}"), "\"keys\" array");
    ck_assert_err_has(parse_err("{}"), "\"keys\" array");
    ck_assert_err_has(parse_err("{\"keys\":[]}"), "no usable signature key");
    const char *good = jwks(jwk(key("rsa2048", 0), "a", NULL), NULL);
    ck_assert_err_has(parse_err(apr_pstrcat(test_pool(), good, " {}", NULL)), "not valid JSON");
}
END_TEST

START_TEST(test_jwks_refuses_oversized_input)
{
    const char *one = jwk(key("rsa2048", 0), "a", NULL);

    /* 64 keys pass, 65 do not. */
    const char *s = one;
    for (int i = 1; i < 64; i++) {
        s = apr_pstrcat(test_pool(), s, ",", one, NULL);
    }
    const char *doc = apr_pstrcat(test_pool(), "{\"keys\":[", s, "]}", NULL);
    ck_assert_int_eq(parse_ok(doc)->nelts, 64);
    doc = apr_pstrcat(test_pool(), "{\"keys\":[", s, ",", one, "]}", NULL);
    ck_assert_err_has(parse_err(doc), "65 keys, more than 64");

    /* Over 256 KiB, even as valid JSON with one key. */
    apr_size_t pad_len = IB_JWKS_MAX_BYTES;
    char *pad = apr_palloc(test_pool(), pad_len + 1);
    memset(pad, 'x', pad_len);
    pad[pad_len] = '\0';
    doc = apr_pstrcat(test_pool(), "{\"keys\":[", one, "],\"pad\":\"", pad, "\"}", NULL);
    ck_assert_err_has(parse_err(doc), "larger than 262144 bytes");
}
END_TEST

/* ---- JWS: good tokens ------------------------------------------------------- */

START_TEST(test_jws_good_token_of_each_alg)
{
    static const struct { const char *alg, *type, *kid; } cases[] = {
        { "RS256", "rsa2048", "rsa" }, { "RS384", "rsa2048", "rsa" },
        { "RS512", "rsa2048", "rsa" }, { "PS256", "rsa2048", "rsa" },
        { "PS384", "rsa2048", "rsa" }, { "PS512", "rsa2048", "rsa" },
        { "ES256", "P-256", "p256" },  { "ES384", "P-384", "p384" },
        { "ES512", "P-521", "p521" },
    };
    apr_array_header_t *keys = all_keys();
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        for (int with_kid = 0; with_kid < 2; with_kid++) {
            const char *tok = jwt(cases[i].alg, key(cases[i].type, 0),
                                  hdr(cases[i].alg, with_kid ? cases[i].kid : NULL), CLAIMS);
            ib_jws *out;
            const char *err;
            ck_assert_msg(verify(tok, keys, 0, &out, &err) == IB_JWS_OK, "%s: %s",
                          cases[i].alg, err);
            ck_assert_str_eq(out->alg_name, cases[i].alg);
            ck_assert_uint_eq(out->alg, ib_jws_alg_from_name(cases[i].alg));
            ck_assert_str_eq(out->key->kid, cases[i].kid);
            if (with_kid) {
                ck_assert_str_eq(out->kid, cases[i].kid);
            } else {
                ck_assert_ptr_null(out->kid);
            }
            ck_assert_str_eq(out->payload, CLAIMS);
            ck_assert_uint_eq(out->payload_len, strlen(CLAIMS));
            ck_assert(cJSON_IsObject(out->claims));
            ck_assert_str_eq(cJSON_GetObjectItemCaseSensitive(out->claims, "sub")->valuestring,
                             "alice");
            ck_assert_str_eq(cJSON_GetObjectItemCaseSensitive(out->header, "typ")->valuestring,
                             "JWT");
        }
    }
}
END_TEST

START_TEST(test_jws_alg_names)
{
    ck_assert_uint_eq(ib_jws_alg_from_name("RS256"), IB_JWS_RS256);
    ck_assert_uint_eq(ib_jws_alg_from_name("ES512"), IB_JWS_ES512);
    ck_assert_uint_eq(ib_jws_alg_from_name("rs256"), 0);
    ck_assert_uint_eq(ib_jws_alg_from_name("none"), 0);
    ck_assert_uint_eq(ib_jws_alg_from_name("HS256"), 0);
    ck_assert_uint_eq(ib_jws_alg_from_name(NULL), 0);
    ck_assert_str_eq(ib_jws_alg_name(IB_JWS_PS384), "PS384");
    ck_assert_ptr_null(ib_jws_alg_name(IB_JWS_RS256 | IB_JWS_RS384));
    ck_assert_ptr_null(ib_jws_alg_name(0));
}
END_TEST

START_TEST(test_jws_kid_selects_among_two_keys)
{
    EVP_PKEY *k1 = key("rsa2048", 0), *k2 = key("rsa2048", 1);
    apr_array_header_t *keys = parse_ok(jwks(jwk(k1, "k1", NULL), jwk(k2, "k2", NULL), NULL));
    ib_jws *out;
    const char *err;

    ck_assert_int_eq(verify(jwt("RS256", k2, hdr("RS256", "k2"), CLAIMS), keys, 0, &out, &err),
                     IB_JWS_OK);
    ck_assert_str_eq(out->key->kid, "k2");
    ck_assert_int_eq(verify(jwt("RS256", k1, hdr("RS256", "k1"), CLAIMS), keys, 0, &out, &err),
                     IB_JWS_OK);
    ck_assert_str_eq(out->key->kid, "k1");

    /* The kid restricts: signed by k2 but naming k1. */
    ck_assert_jws_fails(jwt("RS256", k2, hdr("RS256", "k1"), CLAIMS), keys, 0,
                        IB_JWS_BAD_SIGNATURE, "does not verify (1 key tried)");

    /* Without a kid, every RSA key is tried. */
    ck_assert_int_eq(verify(jwt("RS256", k2, hdr("RS256", NULL), CLAIMS), keys, 0, &out, &err),
                     IB_JWS_OK);
    ck_assert_str_eq(out->key->kid, "k2");
    ck_assert_jws_fails(jwt("RS256", key("rsa2048", 2), hdr("RS256", NULL), CLAIMS), keys, 0,
                        IB_JWS_BAD_SIGNATURE, "2 keys tried");
}
END_TEST

START_TEST(test_jws_unknown_kid)
{
    EVP_PKEY *k = key("rsa2048", 0);
    apr_array_header_t *keys = parse_ok(jwks(jwk(k, "k1", NULL), jwk(k, NULL, NULL), NULL));
    ck_assert_jws_fails(jwt("RS256", k, hdr("RS256", "k9"), CLAIMS), keys, 0,
                        IB_JWS_UNKNOWN_KID, "no key with kid \"k9\"");
    /* Also with an empty key set. */
    ck_assert_jws_fails(jwt("RS256", k, hdr("RS256", "k1"), CLAIMS), NULL, 0,
                        IB_JWS_UNKNOWN_KID, "k1");
    /* No kid and no key at all is not an unknown kid. */
    ck_assert_jws_fails(jwt("RS256", k, hdr("RS256", NULL), CLAIMS), NULL, 0, IB_JWS_NO_KEY,
                        "no key fits alg RS256");
}
END_TEST

/* ---- JWS: tampering --------------------------------------------------------- */

START_TEST(test_jws_tampered_payload)
{
    apr_array_header_t *keys = all_keys();
    const char *other = b64u_str("{\"iss\":\"https://idp.example\",\"sub\":\"admin\",\"aud\":\"rp\"}");
    ck_assert_jws_fails(with_part(jwt("RS256", key("rsa2048", 0), hdr("RS256", "rsa"), CLAIMS),
                                  1, other),
                        keys, 0, IB_JWS_BAD_SIGNATURE, "RS256 signature does not verify");
    ck_assert_jws_fails(with_part(jwt("ES256", key("P-256", 0), hdr("ES256", "p256"), CLAIMS),
                                  1, other),
                        keys, 0, IB_JWS_BAD_SIGNATURE, "ES256 signature does not verify");
    ck_assert_jws_fails(with_part(jwt("PS256", key("rsa2048", 0), hdr("PS256", NULL), CLAIMS),
                                  1, other),
                        keys, 0, IB_JWS_BAD_SIGNATURE, "does not verify");
    /* The header is signed too: a changed typ breaks the signature. */
    ck_assert_jws_fails(with_part(jwt("RS256", key("rsa2048", 0), hdr("RS256", "rsa"), CLAIMS),
                                  0, b64u_str("{\"alg\":\"RS256\",\"typ\":\"at+jwt\",\"kid\":\"rsa\"}")),
                        keys, 0, IB_JWS_BAD_SIGNATURE, "does not verify");
}
END_TEST

START_TEST(test_jws_tampered_signature)
{
    apr_array_header_t *keys = all_keys();
    static const struct { const char *alg, *type, *kid; } cases[] = {
        { "RS256", "rsa2048", "rsa" }, { "PS256", "rsa2048", "rsa" },
        { "ES256", "P-256", "p256" }, { "ES384", "P-384", "p384" },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *tok = jwt(cases[i].alg, key(cases[i].type, 0), hdr(cases[i].alg, cases[i].kid),
                              CLAIMS);
        unsigned char *sig;
        const char *s = part(tok, 2);
        long n = ib_b64url_decode(test_pool(), s, strlen(s), 4096, &sig);
        ck_assert_int_gt(n, 0);
        sig[n / 2] ^= 0x40;
        ck_assert_jws_fails(with_part(tok, 2, b64u(sig, (size_t)n)), keys, 0,
                            IB_JWS_BAD_SIGNATURE, "does not verify");
        sig[n / 2] ^= 0x40;
        /* One byte short. */
        ck_assert_jws_fails(with_part(tok, 2, b64u(sig, (size_t)n - 1)), keys, 0,
                            IB_JWS_BAD_SIGNATURE, cases[i].alg);
        /* Empty. */
        ck_assert_jws_fails(with_part(tok, 2, ""), keys, 0, IB_JWS_BAD_SIGNATURE, cases[i].alg);
        /* Intact, it passes. */
        ib_jws *out;
        const char *err;
        ck_assert_int_eq(verify(with_part(tok, 2, b64u(sig, (size_t)n)), keys, 0, &out, &err),
                         IB_JWS_OK);
    }
}
END_TEST

START_TEST(test_jws_pss_salt_must_be_the_hash_length)
{
    apr_array_header_t *keys = all_keys();
    ck_assert_jws_fails(jwt_flags("PS256", key("rsa2048", 0), hdr("PS256", "rsa"), CLAIMS,
                                  SIGN_PSS_SALT_MAX),
                        keys, 0, IB_JWS_BAD_SIGNATURE, "PS256 signature does not verify");
}
END_TEST

/* ---- JWS: refused algorithms and headers ------------------------------------ */

START_TEST(test_jws_alg_none_is_refused)
{
    apr_array_header_t *keys = all_keys();
    static const char *const names[] = { "none", "None", "NONE", "nOnE" };
    for (int i = 0; i < 4; i++) {
        const char *h = apr_psprintf(test_pool(), "{\"alg\":\"%s\"}", names[i]);
        const char *tok = apr_pstrcat(test_pool(), b64u_str(h), ".", b64u_str(CLAIMS), ".", NULL);
        ck_assert_jws_fails(tok, keys, 0, IB_JWS_ALG_REFUSED, "alg none is refused");
        /* Naming a real key changes nothing. */
        h = apr_psprintf(test_pool(), "{\"alg\":\"%s\",\"kid\":\"rsa\"}", names[i]);
        tok = apr_pstrcat(test_pool(), b64u_str(h), ".", b64u_str(CLAIMS), ".", NULL);
        ck_assert_jws_fails(tok, keys, IB_JWS_ALL_ALGS, IB_JWS_ALG_REFUSED, "alg none is refused");
    }
    /* And with a signature of an RSA token pasted on. */
    const char *good = jwt("RS256", key("rsa2048", 0), hdr("RS256", "rsa"), CLAIMS);
    ck_assert_jws_fails(with_part(good, 0, b64u_str("{\"alg\":\"none\",\"kid\":\"rsa\"}")), keys, 0,
                        IB_JWS_ALG_REFUSED, "alg none is refused");
}
END_TEST

START_TEST(test_jws_hmac_with_the_rsa_public_key_is_refused)
{
    EVP_PKEY *k = key("rsa2048", 0);
    apr_array_header_t *keys = parse_ok(jwks(jwk(k, "rsa", NULL), NULL));

    /* The attacker's secret: the RSA public key as the IdP publishes it. */
    BIO *bio = BIO_new(BIO_s_mem());
    ck_assert_int_eq(PEM_write_bio_PUBKEY(bio, k), 1);
    char *pem;
    long pem_len = BIO_get_mem_data(bio, &pem);
    ck_assert_int_gt(pem_len, 0);

    static const char *const algs[] = { "HS256", "HS384", "HS512", "hs256" };
    for (int i = 0; i < 4; i++) {
        const char *input = apr_pstrcat(test_pool(), b64u_str(hdr(algs[i], "rsa")), ".",
                                        b64u_str(CLAIMS), NULL);
        unsigned char mac[EVP_MAX_MD_SIZE];
        size_t mac_len = 0;
        const char *md = apr_psprintf(test_pool(), "SHA%s", algs[i] + 2);
        ck_assert_ptr_nonnull(EVP_Q_mac(NULL, "HMAC", NULL, md, NULL, pem, (size_t)pem_len,
                                        (const unsigned char *)input, strlen(input), mac,
                                        sizeof(mac), &mac_len));
        const char *tok = apr_pstrcat(test_pool(), input, ".", b64u(mac, mac_len), NULL);
        ck_assert_jws_fails(tok, keys, 0, IB_JWS_ALG_REFUSED, "HMAC algorithms are refused");
        ck_assert_jws_fails(tok, keys, IB_JWS_ALL_ALGS, IB_JWS_ALG_REFUSED,
                            "HMAC algorithms are refused");
    }
    BIO_free(bio);
}
END_TEST

START_TEST(test_jws_unknown_or_disallowed_alg)
{
    apr_array_header_t *keys = all_keys();
    EVP_PKEY *r = key("rsa2048", 0);
    /* Signed as RS256 but labelled otherwise. */
    const char *input = apr_pstrcat(test_pool(), b64u_str("{\"alg\":\"RS1024\"}"), ".",
                                    b64u_str(CLAIMS), NULL);
    const char *tok = apr_pstrcat(test_pool(), input, ".", sign_b64u("RS256", r, input, 0), NULL);
    ck_assert_jws_fails(tok, keys, 0, IB_JWS_ALG_REFUSED, "alg \"RS1024\" is not supported");
    ck_assert_jws_fails(with_part(tok, 0, b64u_str("{\"alg\":\"EdDSA\"}")), keys, 0,
                        IB_JWS_ALG_REFUSED, "not supported");
    ck_assert_jws_fails(with_part(tok, 0, b64u_str("{\"alg\":\"rs256\"}")), keys, 0,
                        IB_JWS_ALG_REFUSED, "not supported");
    /* Control characters in the alg do not reach the message. */
    ck_assert_jws_fails(with_part(tok, 0, b64u_str("{\"alg\":\"X\\n\\u001b[31m\"}")), keys, 0,
                        IB_JWS_ALG_REFUSED, "alg \"X??[31m\"");

    /* The policy narrows the nine. */
    ib_jws *out;
    const char *err;
    const char *es = jwt("ES256", key("P-256", 0), hdr("ES256", "p256"), CLAIMS);
    const char *rs = jwt("RS256", r, hdr("RS256", "rsa"), CLAIMS);
    ck_assert_jws_fails(es, keys, IB_JWS_RS256, IB_JWS_ALG_REFUSED, "alg ES256 is not allowed");
    ck_assert_int_eq(verify(rs, keys, IB_JWS_RS256, &out, &err), IB_JWS_OK);
    ck_assert_int_eq(verify(es, keys, IB_JWS_RS256 | IB_JWS_ES256, &out, &err), IB_JWS_OK);
    /* A NULL policy is all nine. */
    ck_assert_int_eq(ib_jws_verify(test_pool(), es, keys, NULL, &out, &err), IB_JWS_OK);
}
END_TEST

START_TEST(test_jws_rs256_header_with_an_ec_kid_is_refused)
{
    apr_array_header_t *keys = all_keys();
    /* An RSA signature naming the EC key. */
    ck_assert_jws_fails(jwt("RS256", key("rsa2048", 0), hdr("RS256", "p256"), CLAIMS), keys, 0,
                        IB_JWS_NO_KEY, "the key of kid \"p256\" (EC P-256) does not fit alg RS256");
    /* An ES256 header naming the RSA key, and one naming the P-384 key. */
    ck_assert_jws_fails(jwt("ES256", key("P-256", 0), hdr("ES256", "rsa"), CLAIMS), keys, 0,
                        IB_JWS_NO_KEY, "(RSA) does not fit alg ES256");
    ck_assert_jws_fails(jwt("ES256", key("P-256", 0), hdr("ES256", "p384"), CLAIMS), keys, 0,
                        IB_JWS_NO_KEY, "(EC P-384) does not fit alg ES256");
    /* Without a kid, a set with only EC keys has nothing for RS256. */
    apr_array_header_t *ec_only = parse_ok(jwks(jwk(key("P-256", 0), "p256", NULL), NULL));
    ck_assert_jws_fails(jwt("RS256", key("rsa2048", 0), hdr("RS256", NULL), CLAIMS), ec_only, 0,
                        IB_JWS_NO_KEY, "no key fits alg RS256");
}
END_TEST

START_TEST(test_jws_es256_der_signature_is_refused)
{
    apr_array_header_t *keys = all_keys();
    ck_assert_jws_fails(jwt_flags("ES256", key("P-256", 0), hdr("ES256", "p256"), CLAIMS, SIGN_DER),
                        keys, 0, IB_JWS_BAD_SIGNATURE, "ES256 signature is 64 bytes (raw r||s)");
    ck_assert_jws_fails(jwt_flags("ES384", key("P-384", 0), hdr("ES384", NULL), CLAIMS, SIGN_DER),
                        keys, 0, IB_JWS_BAD_SIGNATURE, "96 bytes");
}
END_TEST

START_TEST(test_jws_alg_must_match_the_jwk_alg)
{
    EVP_PKEY *r = key("rsa2048", 0);
    apr_array_header_t *keys = parse_ok(jwks(jwk(r, "r", "\"alg\":\"RS384\""), NULL));
    ck_assert_jws_fails(jwt("RS256", r, hdr("RS256", "r"), CLAIMS), keys, 0, IB_JWS_NO_KEY,
                        "(RSA, alg RS384) does not fit alg RS256");
    ck_assert_jws_fails(jwt("PS384", r, hdr("PS384", "r"), CLAIMS), keys, 0, IB_JWS_NO_KEY,
                        "does not fit alg PS384");
    ck_assert_jws_fails(jwt("RS256", r, hdr("RS256", NULL), CLAIMS), keys, 0, IB_JWS_NO_KEY,
                        "no key fits alg RS256");
    ib_jws *out;
    const char *err;
    ck_assert_int_eq(verify(jwt("RS384", r, hdr("RS384", "r"), CLAIMS), keys, 0, &out, &err),
                     IB_JWS_OK);
}
END_TEST

START_TEST(test_jws_crit_header_is_refused)
{
    apr_array_header_t *keys = all_keys();
    const char *h = "{\"alg\":\"RS256\",\"kid\":\"rsa\",\"crit\":[\"exp\"],\"exp\":1}";
    ck_assert_jws_fails(jwt("RS256", key("rsa2048", 0), h, CLAIMS), keys, 0, IB_JWS_CRIT_REFUSED,
                        "\"crit\" header is refused");
    h = "{\"alg\":\"RS256\",\"kid\":\"rsa\",\"b64\":false,\"crit\":[\"b64\"]}";
    ck_assert_jws_fails(jwt("RS256", key("rsa2048", 0), h, CLAIMS), keys, 0, IB_JWS_CRIT_REFUSED,
                        "crit");
    h = "{\"alg\":\"RS256\",\"kid\":\"rsa\",\"crit\":[]}";
    ck_assert_jws_fails(jwt("RS256", key("rsa2048", 0), h, CLAIMS), keys, 0, IB_JWS_CRIT_REFUSED,
                        "crit");
}
END_TEST

START_TEST(test_jws_embedded_keys_are_ignored)
{
    apr_array_header_t *keys = all_keys();
    EVP_PKEY *evil = key("rsa2048", 2);
    const char *h = apr_psprintf(test_pool(),
                                 "{\"alg\":\"RS256\",\"jwk\":%s,\"jku\":\"https://evil.example/"
                                 "jwks\",\"x5u\":\"https://evil.example/c.pem\"}",
                                 jwk(evil, "evil", NULL));
    ck_assert_jws_fails(jwt("RS256", evil, h, CLAIMS), keys, 0, IB_JWS_BAD_SIGNATURE,
                        "does not verify (1 key tried)");
    h = apr_psprintf(test_pool(), "{\"alg\":\"RS256\",\"kid\":\"evil\",\"jwk\":%s}",
                     jwk(evil, "evil", NULL));
    ck_assert_jws_fails(jwt("RS256", evil, h, CLAIMS), keys, 0, IB_JWS_UNKNOWN_KID, "evil");
    /* Naming the real key's kid does not help the attacker either. */
    h = apr_psprintf(test_pool(), "{\"alg\":\"RS256\",\"kid\":\"rsa\",\"jwk\":%s}",
                     jwk(evil, "rsa", NULL));
    ck_assert_jws_fails(jwt("RS256", evil, h, CLAIMS), keys, 0, IB_JWS_BAD_SIGNATURE,
                        "does not verify");
}
END_TEST

/* ---- JWS: malformed tokens -------------------------------------------------- */

START_TEST(test_jws_wrong_number_of_parts)
{
    apr_array_header_t *keys = all_keys();
    const char *good = jwt("RS256", key("rsa2048", 0), hdr("RS256", "rsa"), CLAIMS);
    const char *two = apr_pstrcat(test_pool(), part(good, 0), ".", part(good, 1), NULL);
    ck_assert_jws_fails(two, keys, 0, IB_JWS_MALFORMED, "2 parts");
    ck_assert_jws_fails(apr_pstrcat(test_pool(), good, ".", NULL), keys, 0, IB_JWS_MALFORMED,
                        "4 parts");
    ck_assert_jws_fails(apr_pstrcat(test_pool(), good, ".", part(good, 2), NULL), keys, 0,
                        IB_JWS_MALFORMED, "4 parts");
    /* JWE compact serialization: five parts. */
    ck_assert_jws_fails("eyJhbGciOiJSU0EtT0FFUCJ9.a.b.c.d", keys, 0, IB_JWS_MALFORMED, "5 parts");
    ck_assert_jws_fails("", keys, 0, IB_JWS_MALFORMED, "1 parts");
    ck_assert_jws_fails(part(good, 0), keys, 0, IB_JWS_MALFORMED, "1 parts");
    ck_assert_jws_fails("..", keys, 0, IB_JWS_MALFORMED, "header is not base64url");
    ck_assert_jws_fails(NULL, keys, 0, IB_JWS_MALFORMED, "no token");
}
END_TEST

START_TEST(test_jws_non_base64url_characters)
{
    apr_array_header_t *keys = all_keys();
    const char *good = jwt("RS256", key("rsa2048", 0), hdr("RS256", "rsa"), CLAIMS);
    const char *h = part(good, 0), *pl = part(good, 1), *s = part(good, 2);
    ck_assert_jws_fails(with_part(good, 0, apr_pstrcat(test_pool(), h, "=", NULL)), keys, 0,
                        IB_JWS_MALFORMED, "header is not base64url");
    ck_assert_jws_fails(with_part(good, 1, apr_pstrcat(test_pool(), " ", pl, NULL)), keys, 0,
                        IB_JWS_MALFORMED, "payload is not base64url");
    ck_assert_jws_fails(with_part(good, 2, apr_pstrcat(test_pool(), s, "==", NULL)), keys, 0,
                        IB_JWS_MALFORMED, "signature is not base64url");

    /* Base64 '+' and '/' in place of '-' and '_'. */
    char *plus = apr_pstrdup(test_pool(), s);
    plus[3] = '+';
    ck_assert_jws_fails(with_part(good, 2, plus), keys, 0, IB_JWS_MALFORMED,
                        "signature is not base64url");
    char *slash = apr_pstrdup(test_pool(), pl);
    slash[5] = '/';
    ck_assert_jws_fails(with_part(good, 1, slash), keys, 0, IB_JWS_MALFORMED,
                        "payload is not base64url");
    char *nl = apr_pstrdup(test_pool(), s);
    nl[10] = '\n';
    ck_assert_jws_fails(with_part(good, 2, nl), keys, 0, IB_JWS_MALFORMED,
                        "signature is not base64url");
}
END_TEST

START_TEST(test_jws_header_must_be_a_clean_object)
{
    apr_array_header_t *keys = all_keys();
    EVP_PKEY *r = key("rsa2048", 0);
    ck_assert_jws_fails(jwt("RS256", r, "[\"RS256\"]", CLAIMS), keys, 0, IB_JWS_MALFORMED,
                        "header is not a JSON object");
    ck_assert_jws_fails(jwt("RS256", r, "{alg:RS256}", CLAIMS), keys, 0, IB_JWS_MALFORMED,
                        "header is not valid JSON");
    ck_assert_jws_fails(jwt("RS256", r, "{\"alg\":\"RS256\"} x", CLAIMS), keys, 0,
                        IB_JWS_MALFORMED, "header is not valid JSON");
    ck_assert_jws_fails(jwt("RS256", r, "{\"typ\":\"JWT\"}", CLAIMS), keys, 0, IB_JWS_MALFORMED,
                        "no \"alg\" string");
    ck_assert_jws_fails(jwt("RS256", r, "{\"alg\":256}", CLAIMS), keys, 0, IB_JWS_MALFORMED,
                        "no \"alg\" string");
    ck_assert_jws_fails(jwt("RS256", r, "{\"alg\":\"RS256\",\"kid\":1}", CLAIMS), keys, 0,
                        IB_JWS_MALFORMED, "\"kid\" is not a string");
    /* Two algs: cJSON would take the first, another parser the last. */
    ck_assert_jws_fails(jwt("RS256", r, "{\"alg\":\"RS256\",\"kid\":\"rsa\",\"alg\":\"none\"}",
                            CLAIMS),
                        keys, 0, IB_JWS_MALFORMED, "duplicate member");
    /* A NUL byte inside the header. */
    const char nul_hdr[] = "{\"alg\":\"RS256\"}\0junk";
    const char *input = apr_pstrcat(test_pool(),
                                    b64u((const unsigned char *)nul_hdr, sizeof(nul_hdr) - 1),
                                    ".", b64u_str(CLAIMS), NULL);
    const char *tok = apr_pstrcat(test_pool(), input, ".", sign_b64u("RS256", r, input, 0), NULL);
    ck_assert_jws_fails(tok, keys, 0, IB_JWS_MALFORMED, "NUL byte");
}
END_TEST

START_TEST(test_jws_payload_must_be_an_object)
{
    apr_array_header_t *keys = all_keys();
    static const char *const payloads[] = { "[1,2]", "\"alice\"", "42", "null", "true" };
    for (int i = 0; i < 5; i++) {
        ck_assert_jws_fails(jwt("RS256", key("rsa2048", 0), hdr("RS256", "rsa"), payloads[i]),
                            keys, 0, IB_JWS_MALFORMED, "payload is not a JSON object");
        ck_assert_jws_fails(jwt("ES256", key("P-256", 0), hdr("ES256", "p256"), payloads[i]),
                            keys, 0, IB_JWS_MALFORMED, "payload is not a JSON object");
    }
    ck_assert_jws_fails(jwt("RS256", key("rsa2048", 0), hdr("RS256", "rsa"), "not json"), keys,
                        0, IB_JWS_MALFORMED, "payload is not valid JSON");
    ck_assert_jws_fails(jwt("RS256", key("rsa2048", 0), hdr("RS256", "rsa"), ""), keys, 0,
                        IB_JWS_MALFORMED, "payload is not valid JSON");
    ck_assert_jws_fails(jwt("RS256", key("rsa2048", 0), hdr("RS256", "rsa"),
                            "{\"sub\":\"alice\",\"sub\":\"admin\"}"),
                        keys, 0, IB_JWS_MALFORMED, "payload has a duplicate member");
}
END_TEST

START_TEST(test_jws_size_cap)
{
    apr_array_header_t *keys = all_keys();
    EVP_PKEY *r = key("rsa2048", 0);
    /* A claim that puts the token just under, then just over 64 KiB. */
    const char *probe = jwt("RS256", r, hdr("RS256", "rsa"), "{\"x\":\"\"}");
    apr_size_t room = (IB_JWS_MAX_BYTES - strlen(probe)) / 4 * 3;
    char *fill = apr_palloc(test_pool(), room + 10);
    memset(fill, 'a', room + 9);
    fill[room] = '\0';
    const char *tok = jwt("RS256", r, hdr("RS256", "rsa"),
                          apr_psprintf(test_pool(), "{\"x\":\"%s\"}", fill));
    ck_assert_uint_le(strlen(tok), IB_JWS_MAX_BYTES);
    ck_assert_uint_gt(strlen(tok), IB_JWS_MAX_BYTES - 8);
    ib_jws *out;
    const char *err;
    ck_assert_int_eq(verify(tok, keys, 0, &out, &err), IB_JWS_OK);

    fill[room] = 'a';
    fill[room + 9] = '\0';
    tok = jwt("RS256", r, hdr("RS256", "rsa"), apr_psprintf(test_pool(), "{\"x\":\"%s\"}", fill));
    ck_assert_uint_gt(strlen(tok), IB_JWS_MAX_BYTES);
    ck_assert_jws_fails(tok, keys, 0, IB_JWS_MALFORMED, "larger than 65536 bytes");
}
END_TEST

Suite *jose_suite(void)
{
    Suite *s = suite_create("jose");
    TCase *tc = test_tcase("base64url");
    tcase_add_test(tc, test_b64url_rfc4648_vectors);
    tcase_add_test(tc, test_b64url_is_strict);
    suite_add_tcase(s, tc);

    tc = test_tcase("jwks");
    tcase_add_test(tc, test_jwks_keeps_rsa_and_ec_keys);
    tcase_add_test(tc, test_jwks_skips_rsa_1024);
    tcase_add_test(tc, test_jwks_refuses_ec_point_off_the_curve);
    tcase_add_test(tc, test_jwks_refuses_short_ec_coordinates);
    tcase_add_test(tc, test_jwks_skips_keys_not_for_signatures);
    tcase_add_test(tc, test_jwks_skips_keys_with_a_refused_alg);
    tcase_add_test(tc, test_jwks_refuses_bad_documents);
    tcase_add_test(tc, test_jwks_refuses_oversized_input);
    suite_add_tcase(s, tc);

    tc = test_tcase("jws");
    tcase_add_test(tc, test_jws_good_token_of_each_alg);
    tcase_add_test(tc, test_jws_alg_names);
    tcase_add_test(tc, test_jws_kid_selects_among_two_keys);
    tcase_add_test(tc, test_jws_unknown_kid);
    tcase_add_test(tc, test_jws_tampered_payload);
    tcase_add_test(tc, test_jws_tampered_signature);
    tcase_add_test(tc, test_jws_pss_salt_must_be_the_hash_length);
    tcase_add_test(tc, test_jws_alg_none_is_refused);
    tcase_add_test(tc, test_jws_hmac_with_the_rsa_public_key_is_refused);
    tcase_add_test(tc, test_jws_unknown_or_disallowed_alg);
    tcase_add_test(tc, test_jws_rs256_header_with_an_ec_kid_is_refused);
    tcase_add_test(tc, test_jws_es256_der_signature_is_refused);
    tcase_add_test(tc, test_jws_alg_must_match_the_jwk_alg);
    tcase_add_test(tc, test_jws_crit_header_is_refused);
    tcase_add_test(tc, test_jws_embedded_keys_are_ignored);
    tcase_add_test(tc, test_jws_wrong_number_of_parts);
    tcase_add_test(tc, test_jws_non_base64url_characters);
    tcase_add_test(tc, test_jws_header_must_be_a_clean_object);
    tcase_add_test(tc, test_jws_payload_must_be_an_object);
    tcase_add_test(tc, test_jws_size_cap);
    suite_add_tcase(s, tc);
    return s;
}
