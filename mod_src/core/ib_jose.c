/* JWKS parsing and compact JWS verification (see ib_jose.h). */
#include <string.h>
#include <strings.h>

#include <apr_hash.h>
#include <apr_strings.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/rsa.h>

#include "ib_codec.h"
#include "ib_jose.h"

/* ---- the algorithms --------------------------------------------------------- */

typedef enum { FAM_RSA_PKCS1, FAM_RSA_PSS, FAM_ECDSA } alg_family;

typedef struct {
    unsigned bit;
    const char *name;
    const char *md;        /* OpenSSL digest name */
    alg_family family;
    const char *crv;       /* ES: the JWK curve */
    const char *group;     /* ES: the OpenSSL group name */
    unsigned field_bytes;  /* ES: length of r, s, x and y */
} alg_info;

static const alg_info ALGS[] = {
    { IB_JWS_RS256, "RS256", "SHA256", FAM_RSA_PKCS1, NULL, NULL, 0 },
    { IB_JWS_RS384, "RS384", "SHA384", FAM_RSA_PKCS1, NULL, NULL, 0 },
    { IB_JWS_RS512, "RS512", "SHA512", FAM_RSA_PKCS1, NULL, NULL, 0 },
    { IB_JWS_PS256, "PS256", "SHA256", FAM_RSA_PSS, NULL, NULL, 0 },
    { IB_JWS_PS384, "PS384", "SHA384", FAM_RSA_PSS, NULL, NULL, 0 },
    { IB_JWS_PS512, "PS512", "SHA512", FAM_RSA_PSS, NULL, NULL, 0 },
    { IB_JWS_ES256, "ES256", "SHA256", FAM_ECDSA, "P-256", "prime256v1", 32 },
    { IB_JWS_ES384, "ES384", "SHA384", FAM_ECDSA, "P-384", "secp384r1", 48 },
    { IB_JWS_ES512, "ES512", "SHA512", FAM_ECDSA, "P-521", "secp521r1", 66 },
};
#define N_ALGS (sizeof(ALGS) / sizeof(ALGS[0]))

static const alg_info *alg_by_name(const char *name)
{
    for (size_t i = 0; name != NULL && i < N_ALGS; i++) {
        if (strcmp(ALGS[i].name, name) == 0) {
            return &ALGS[i];
        }
    }
    return NULL;
}

static const alg_info *alg_by_crv(const char *crv)
{
    for (size_t i = 0; i < N_ALGS; i++) {
        if (ALGS[i].crv != NULL && strcmp(ALGS[i].crv, crv) == 0) {
            return &ALGS[i];
        }
    }
    return NULL;
}

unsigned ib_jws_alg_from_name(const char *name)
{
    const alg_info *a = alg_by_name(name);
    return a != NULL ? a->bit : 0;
}

const char *ib_jws_alg_name(unsigned alg)
{
    for (size_t i = 0; i < N_ALGS; i++) {
        if (ALGS[i].bit == alg) {
            return ALGS[i].name;
        }
    }
    return NULL;
}

/* ---- helpers ---------------------------------------------------------------- */

/* A value from the token or the JWKS, fit for a log line: at most 40
 * characters, anything outside printable ASCII (and '"', '\\') as '?'. */
static const char *shown(apr_pool_t *p, const char *s)
{
    size_t n = strlen(s);
    int cut = n > 40;
    if (cut) {
        n = 40;
    }
    char *out = apr_palloc(p, n + 4);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        out[i] = (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') ? (char)c : '?';
    }
    strcpy(out + n, cut ? "..." : "");
    return out;
}

static apr_status_t delete_json(void *data)
{
    cJSON_Delete(data);
    return APR_SUCCESS;
}

static apr_status_t free_pkey(void *data)
{
    EVP_PKEY_free(data);
    return APR_SUCCESS;
}

/* Whether an object has two members of one name (cJSON would silently use
 * the first; other parsers take the last). */
static int has_duplicate_member(apr_pool_t *p, const cJSON *obj)
{
    apr_hash_t *seen = apr_hash_make(p);
    for (const cJSON *c = obj->child; c != NULL; c = c->next) {
        const char *name = c->string != NULL ? c->string : "";
        if (apr_hash_get(seen, name, APR_HASH_KEY_STRING) != NULL) {
            return 1;
        }
        apr_hash_set(seen, name, APR_HASH_KEY_STRING, "");
    }
    return 0;
}

/* Parses len bytes (NUL-terminated at len) as one JSON object, the whole
 * text, owned by p. Returns NULL or why not. */
static const char *parse_object(apr_pool_t *p, const unsigned char *buf, long len,
                                const char *what, cJSON **out)
{
    *out = NULL;
    if (strlen((const char *)buf) != (size_t)len) {
        return apr_psprintf(p, "%s holds a NUL byte", what);
    }
    const char *end = NULL;
    cJSON *j = cJSON_ParseWithOpts((const char *)buf, &end, 1);
    if (j == NULL) {
        return apr_psprintf(p, "%s is not valid JSON", what);
    }
    apr_pool_cleanup_register(p, j, delete_json, apr_pool_cleanup_null);
    if (!cJSON_IsObject(j)) {
        return apr_psprintf(p, "%s is not a JSON object", what);
    }
    if (has_duplicate_member(p, j)) {
        return apr_psprintf(p, "%s has a duplicate member", what);
    }
    *out = j;
    return NULL;
}

static const char *get_string(const cJSON *obj, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* ---- JWK -> EVP_PKEY ---------------------------------------------------------- */

static EVP_PKEY *pkey_fromdata(const char *type, OSSL_PARAM_BLD *bld)
{
    EVP_PKEY *pkey = NULL;
    OSSL_PARAM *params = OSSL_PARAM_BLD_to_param(bld);
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, type, NULL);
    if (params == NULL || ctx == NULL || EVP_PKEY_fromdata_init(ctx) != 1
        || EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) != 1) {
        EVP_PKEY_free(pkey);
        pkey = NULL;
    }
    EVP_PKEY_CTX_free(ctx);
    OSSL_PARAM_free(params);
    return pkey;
}

/* A member holding base64url of at most max bytes; NULL and *why on failure. */
static long get_b64url(apr_pool_t *p, const cJSON *k, const char *name, apr_size_t max,
                       unsigned char **out, const char **why)
{
    const char *s = get_string(k, name);
    if (s == NULL) {
        *why = apr_psprintf(p, "no \"%s\" string", name);
        return -1;
    }
    long n = ib_b64url_decode(p, s, strlen(s), max, out);
    if (n <= 0) {
        *why = apr_psprintf(p, "\"%s\" is not base64url of 1..%lu bytes", name,
                            (unsigned long)max);
        return -1;
    }
    return n;
}

static const char *rsa_key(apr_pool_t *p, const cJSON *k, ib_jwk *jwk)
{
    const char *why = NULL;
    unsigned char *nb, *eb;
    long nlen = get_b64url(p, k, "n", IB_JWK_RSA_MAX_BITS / 8 + 1, &nb, &why);
    if (nlen < 0) {
        return why;
    }
    long elen = get_b64url(p, k, "e", 8, &eb, &why);
    if (elen < 0) {
        return why;
    }
    BIGNUM *n = BN_bin2bn(nb, (int)nlen, NULL);
    BIGNUM *e = BN_bin2bn(eb, (int)elen, NULL);
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    if (n == NULL || e == NULL || bld == NULL) {
        why = "out of memory";
    } else if ((jwk->bits = BN_num_bits(n)) < IB_JWK_RSA_MIN_BITS) {
        why = apr_psprintf(p, "RSA key of %d bits (%d minimum)", jwk->bits,
                           IB_JWK_RSA_MIN_BITS);
    } else if (jwk->bits > IB_JWK_RSA_MAX_BITS) {
        why = apr_psprintf(p, "RSA key of %d bits (%d maximum)", jwk->bits,
                           IB_JWK_RSA_MAX_BITS);
    } else if (!BN_is_odd(n)) {
        why = "RSA modulus is even";
    } else if (!BN_is_odd(e) || BN_is_one(e)) {
        why = "RSA exponent is not an odd number above 1";
    } else if (OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n) != 1
               || OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e) != 1
               || (jwk->pkey = pkey_fromdata("RSA", bld)) == NULL) {
        why = "OpenSSL refuses the RSA key";
    }
    OSSL_PARAM_BLD_free(bld);
    BN_free(n);
    BN_free(e);
    return why;
}

static const char *ec_key(apr_pool_t *p, const cJSON *k, ib_jwk *jwk, const alg_info **fit)
{
    const char *crv = get_string(k, "crv");
    if (crv == NULL) {
        return "no \"crv\" string";
    }
    const alg_info *a = alg_by_crv(crv);
    if (a == NULL) {
        return apr_psprintf(p, "curve \"%s\" is not supported", shown(p, crv));
    }
    *fit = a;
    jwk->crv = a->crv;
    jwk->bits = a->field_bytes == 66 ? 521 : (int)a->field_bytes * 8;

    const char *why = NULL;
    unsigned char *x, *y;
    long xlen = get_b64url(p, k, "x", a->field_bytes, &x, &why);
    if (xlen < 0) {
        return why;
    }
    long ylen = get_b64url(p, k, "y", a->field_bytes, &y, &why);
    if (ylen < 0) {
        return why;
    }
    if (xlen != (long)a->field_bytes || ylen != (long)a->field_bytes) {
        return apr_psprintf(p, "%s coordinates must be %u bytes each", a->crv,
                            a->field_bytes);
    }
    unsigned char *pub = apr_palloc(p, 1 + 2 * a->field_bytes);
    pub[0] = 0x04; /* uncompressed point */
    memcpy(pub + 1, x, a->field_bytes);
    memcpy(pub + 1 + a->field_bytes, y, a->field_bytes);

    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    if (bld == NULL
        || OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, a->group, 0) != 1
        || OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, pub,
                                            1 + 2 * a->field_bytes) != 1
        || (jwk->pkey = pkey_fromdata("EC", bld)) == NULL) {
        why = apr_psprintf(p, "the point is not on %s", a->crv);
    } else {
        /* fromdata already refuses points off the curve; the full public
         * check adds the point at infinity and the subgroup. */
        EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, jwk->pkey, NULL);
        if (ctx == NULL || EVP_PKEY_public_check(ctx) != 1) {
            why = apr_psprintf(p, "the point is not a valid %s public key", a->crv);
        }
        EVP_PKEY_CTX_free(ctx);
    }
    OSSL_PARAM_BLD_free(bld);
    return why;
}

/* One JWKS entry into *jwk, or the reason it is skipped. */
static const char *jwk_build(apr_pool_t *p, const cJSON *k, ib_jwk *jwk)
{
    memset(jwk, 0, sizeof(*jwk));
    if (!cJSON_IsObject(k)) {
        return "not an object";
    }
    const cJSON *kid = cJSON_GetObjectItemCaseSensitive(k, "kid");
    if (kid != NULL && !cJSON_IsString(kid)) {
        return "\"kid\" is not a string";
    }
    jwk->kid = kid != NULL ? apr_pstrdup(p, kid->valuestring) : NULL;

    const char *kty = get_string(k, "kty");
    if (kty == NULL) {
        return "no \"kty\" string";
    }
    const cJSON *use = cJSON_GetObjectItemCaseSensitive(k, "use");
    if (use != NULL && !(cJSON_IsString(use) && strcmp(use->valuestring, "sig") == 0)) {
        return "\"use\" is not \"sig\"";
    }
    const cJSON *ops = cJSON_GetObjectItemCaseSensitive(k, "key_ops");
    if (ops != NULL) {
        int verify = 0;
        const cJSON *op;
        if (cJSON_IsArray(ops)) {
            cJSON_ArrayForEach(op, ops) {
                verify |= cJSON_IsString(op) && strcmp(op->valuestring, "verify") == 0;
            }
        }
        if (!verify) {
            return "\"key_ops\" lacks \"verify\"";
        }
    }
    const cJSON *alg = cJSON_GetObjectItemCaseSensitive(k, "alg");
    const alg_info *a = NULL;
    if (alg != NULL) {
        if (!cJSON_IsString(alg)) {
            return "\"alg\" is not a string";
        }
        if ((a = alg_by_name(alg->valuestring)) == NULL) {
            return apr_psprintf(p, "alg \"%s\" is not allowed", shown(p, alg->valuestring));
        }
        jwk->alg = a->name;
    }

    const char *why;
    if (strcmp(kty, "RSA") == 0) {
        jwk->kty = "RSA";
        if (a != NULL && a->family == FAM_ECDSA) {
            return apr_psprintf(p, "alg %s does not fit an RSA key", a->name);
        }
        why = rsa_key(p, k, jwk);
    } else if (strcmp(kty, "EC") == 0) {
        jwk->kty = "EC";
        const alg_info *fit = NULL;
        why = ec_key(p, k, jwk, &fit);
        if (why == NULL && a != NULL && a != fit) {
            why = apr_psprintf(p, "alg %s does not fit a %s key", a->name, fit->crv);
        }
    } else {
        return apr_psprintf(p, "kty \"%s\" is not supported", shown(p, kty));
    }
    if (jwk->pkey != NULL) {
        apr_pool_cleanup_register(p, jwk->pkey, free_pkey, apr_pool_cleanup_null);
    }
    ERR_clear_error();
    return why;
}

int ib_jwks_parse(apr_pool_t *p, const char *json, apr_array_header_t **keys,
                  const char **err)
{
    *keys = NULL;
    *err = NULL;
    if (json == NULL) {
        *err = "JWKS: no document";
        return -1;
    }
    if (strnlen(json, IB_JWKS_MAX_BYTES + 1) > IB_JWKS_MAX_BYTES) {
        *err = apr_psprintf(p, "JWKS: larger than %d bytes", IB_JWKS_MAX_BYTES);
        return -1;
    }
    const char *end = NULL;
    cJSON *doc = cJSON_ParseWithOpts(json, &end, 1);
    if (doc == NULL) {
        *err = "JWKS: not valid JSON";
        return -1;
    }
    apr_pool_cleanup_register(p, doc, delete_json, apr_pool_cleanup_null);
    const cJSON *list = cJSON_IsObject(doc) ? cJSON_GetObjectItemCaseSensitive(doc, "keys")
                                            : NULL;
    if (!cJSON_IsArray(list)) {
        *err = "JWKS: not an object with a \"keys\" array";
    } else if (cJSON_GetArraySize(list) > IB_JWKS_MAX_KEYS) {
        *err = apr_psprintf(p, "JWKS: %d keys, more than %d", cJSON_GetArraySize(list),
                            IB_JWKS_MAX_KEYS);
    }
    if (*err != NULL) {
        apr_pool_cleanup_run(p, doc, delete_json);
        return -1;
    }

    apr_array_header_t *found = apr_array_make(p, 4, sizeof(ib_jwk));
    const char *skipped = "";
    int i = 0;
    const cJSON *k;
    cJSON_ArrayForEach(k, list) {
        ib_jwk jwk;
        const char *why = jwk_build(p, k, &jwk);
        if (why == NULL) {
            APR_ARRAY_PUSH(found, ib_jwk) = jwk;
        } else {
            const char *kid = cJSON_IsObject(k) ? get_string(k, "kid") : NULL;
            skipped = apr_psprintf(p, "%s; key %d%s%s%s: %s", skipped, i,
                                   kid != NULL ? " (kid \"" : "",
                                   kid != NULL ? shown(p, kid) : "",
                                   kid != NULL ? "\")" : "", why);
        }
        i++;
    }
    apr_pool_cleanup_run(p, doc, delete_json);
    if (found->nelts == 0) {
        *err = apr_psprintf(p, "JWKS: no usable signature key%s", skipped);
        return -1;
    }
    *keys = found;
    return 0;
}

/* ---- JWS ---------------------------------------------------------------------- */

const char *ib_jws_status_name(ib_jws_status status)
{
    switch (status) {
    case IB_JWS_OK: return "ok";
    case IB_JWS_MALFORMED: return "malformed";
    case IB_JWS_ALG_REFUSED: return "alg refused";
    case IB_JWS_CRIT_REFUSED: return "crit refused";
    case IB_JWS_UNKNOWN_KID: return "unknown kid";
    case IB_JWS_NO_KEY: return "no suitable key";
    case IB_JWS_BAD_SIGNATURE: return "bad signature";
    case IB_JWS_ERROR: return "error";
    }
    return "unknown";
}

static int key_fits(const ib_jwk *k, const alg_info *a)
{
    if (k->alg != NULL && strcmp(k->alg, a->name) != 0) {
        return 0;
    }
    if (a->family == FAM_ECDSA) {
        return strcmp(k->kty, "EC") == 0 && k->crv != NULL && strcmp(k->crv, a->crv) == 0;
    }
    return strcmp(k->kty, "RSA") == 0;
}

/* 1: the signature verifies; 0: it does not; -1: OpenSSL failure. */
static int verify_with(const alg_info *a, EVP_PKEY *pkey, const unsigned char *tbs,
                       size_t tbs_len, const unsigned char *sig, size_t sig_len)
{
    unsigned char *der = NULL;
    if (a->family == FAM_ECDSA) {
        /* JWS: r||s, each field_bytes big-endian; OpenSSL wants DER. */
        ECDSA_SIG *es = ECDSA_SIG_new();
        BIGNUM *r = BN_bin2bn(sig, (int)a->field_bytes, NULL);
        BIGNUM *s = BN_bin2bn(sig + a->field_bytes, (int)a->field_bytes, NULL);
        if (es == NULL || r == NULL || s == NULL || ECDSA_SIG_set0(es, r, s) != 1) {
            ECDSA_SIG_free(es);
            BN_free(r);
            BN_free(s);
            return -1;
        }
        int der_len = i2d_ECDSA_SIG(es, &der);
        ECDSA_SIG_free(es);
        if (der_len <= 0) {
            return -1;
        }
        sig = der;
        sig_len = (size_t)der_len;
    } else if (sig_len != (size_t)EVP_PKEY_get_size(pkey)) {
        return 0; /* an RSA signature is exactly as long as the modulus */
    }

    int rc = -1;
    EVP_PKEY_CTX *pctx = NULL;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    if (md != NULL && EVP_DigestVerifyInit_ex(md, &pctx, a->md, NULL, NULL, pkey, NULL) == 1
        && (a->family != FAM_RSA_PSS
            || (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) == 1
                && EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) == 1
                && EVP_PKEY_CTX_set_rsa_mgf1_md_name(pctx, a->md, NULL) == 1))) {
        rc = EVP_DigestVerify(md, sig, sig_len, tbs, tbs_len) == 1 ? 1 : 0;
    }
    EVP_MD_CTX_free(md);
    OPENSSL_free(der);
    ERR_clear_error();
    return rc;
}

#define FAIL(status, ...)                                                      \
    do {                                                                       \
        *err = apr_psprintf(p, __VA_ARGS__);                                   \
        return (status);                                                       \
    } while (0)

ib_jws_status ib_jws_verify(apr_pool_t *p, const char *compact,
                            const apr_array_header_t *keys,
                            const ib_jws_policy *policy, ib_jws **out,
                            const char **err)
{
    *out = NULL;
    *err = NULL;
    if (compact == NULL) {
        FAIL(IB_JWS_MALFORMED, "JWS: no token");
    }
    size_t len = strnlen(compact, IB_JWS_MAX_BYTES + 1);
    if (len > IB_JWS_MAX_BYTES) {
        FAIL(IB_JWS_MALFORMED, "JWS: larger than %d bytes", IB_JWS_MAX_BYTES);
    }
    int dots = 0;
    const char *dot[2] = { NULL, NULL };
    for (size_t i = 0; i < len; i++) {
        if (compact[i] == '.') {
            if (dots < 2) {
                dot[dots] = compact + i;
            }
            dots++;
        }
    }
    if (dots != 2) {
        FAIL(IB_JWS_MALFORMED, "JWS: %d parts, not the 3 of the compact serialization",
             dots + 1);
    }
    const char *h64 = compact, *p64 = dot[0] + 1, *s64 = dot[1] + 1;
    size_t h_len = (size_t)(dot[0] - h64), p_len = (size_t)(dot[1] - p64);
    size_t s_len = len - (size_t)(s64 - compact);

    unsigned char *hb, *pb, *sb;
    long hn = ib_b64url_decode(p, h64, h_len, IB_JWS_MAX_BYTES, &hb);
    if (hn <= 0) {
        FAIL(IB_JWS_MALFORMED, "JWS: the header is not base64url");
    }
    long pn = ib_b64url_decode(p, p64, p_len, IB_JWS_MAX_BYTES, &pb);
    if (pn < 0) {
        FAIL(IB_JWS_MALFORMED, "JWS: the payload is not base64url");
    }
    long sn = ib_b64url_decode(p, s64, s_len, IB_JWS_MAX_BYTES, &sb);
    if (sn < 0) {
        FAIL(IB_JWS_MALFORMED, "JWS: the signature is not base64url");
    }

    cJSON *header;
    const char *why = parse_object(p, hb, hn, "the header", &header);
    if (why != NULL) {
        FAIL(IB_JWS_MALFORMED, "JWS: %s", why);
    }

    const char *alg_name = get_string(header, "alg");
    if (alg_name == NULL) {
        FAIL(IB_JWS_MALFORMED, "JWS: the header has no \"alg\" string");
    }
    if (strcasecmp(alg_name, "none") == 0) {
        FAIL(IB_JWS_ALG_REFUSED, "JWS: alg none is refused (unsigned token)");
    }
    if (strncasecmp(alg_name, "HS", 2) == 0) {
        FAIL(IB_JWS_ALG_REFUSED, "JWS: HMAC algorithms are refused (alg \"%s\")",
             shown(p, alg_name));
    }
    const alg_info *a = alg_by_name(alg_name);
    if (a == NULL) {
        FAIL(IB_JWS_ALG_REFUSED, "JWS: alg \"%s\" is not supported", shown(p, alg_name));
    }
    unsigned allowed = (policy != NULL && policy->algs != 0) ? policy->algs : IB_JWS_ALL_ALGS;
    if ((allowed & a->bit) == 0) {
        FAIL(IB_JWS_ALG_REFUSED, "JWS: alg %s is not allowed here", a->name);
    }
    if (cJSON_GetObjectItemCaseSensitive(header, "crit") != NULL) {
        FAIL(IB_JWS_CRIT_REFUSED, "JWS: a \"crit\" header is refused (no extension "
             "is understood)");
    }
    const cJSON *kid_item = cJSON_GetObjectItemCaseSensitive(header, "kid");
    if (kid_item != NULL && !cJSON_IsString(kid_item)) {
        FAIL(IB_JWS_MALFORMED, "JWS: the header \"kid\" is not a string");
    }
    const char *kid = kid_item != NULL ? kid_item->valuestring : NULL;

    /* The candidate keys. "jwk", "jku", "x5u" and "x5c" in the header play
     * no part: keys come from the caller's JWKS only. */
    apr_array_header_t *cand = apr_array_make(p, 4, sizeof(const ib_jwk *));
    int with_kid = 0;
    const ib_jwk *mismatch = NULL;
    for (int i = 0; keys != NULL && i < keys->nelts; i++) {
        const ib_jwk *k = &APR_ARRAY_IDX(keys, i, ib_jwk);
        if (kid != NULL && (k->kid == NULL || strcmp(k->kid, kid) != 0)) {
            continue;
        }
        with_kid++;
        if (key_fits(k, a)) {
            APR_ARRAY_PUSH(cand, const ib_jwk *) = k;
        } else {
            mismatch = k;
        }
    }
    if (kid != NULL && with_kid == 0) {
        FAIL(IB_JWS_UNKNOWN_KID, "JWS: no key with kid \"%s\"", shown(p, kid));
    }
    if (cand->nelts == 0) {
        if (mismatch != NULL && kid != NULL) {
            FAIL(IB_JWS_NO_KEY, "JWS: the key of kid \"%s\" (%s%s%s%s%s) does not fit alg %s",
                 shown(p, kid), mismatch->kty, mismatch->crv ? " " : "",
                 mismatch->crv ? mismatch->crv : "", mismatch->alg ? ", alg " : "",
                 mismatch->alg ? mismatch->alg : "", a->name);
        }
        FAIL(IB_JWS_NO_KEY, "JWS: no key fits alg %s", a->name);
    }
    if (a->family == FAM_ECDSA && (size_t)sn != 2 * a->field_bytes) {
        FAIL(IB_JWS_BAD_SIGNATURE, "JWS: an %s signature is %u bytes (raw r||s), not %ld",
             a->name, 2 * a->field_bytes, sn);
    }

    for (int i = 0; i < cand->nelts; i++) {
        const ib_jwk *k = APR_ARRAY_IDX(cand, i, const ib_jwk *);
        int rc = verify_with(a, k->pkey, (const unsigned char *)compact,
                             (size_t)(dot[1] - compact), sb, (size_t)sn);
        if (rc < 0) {
            FAIL(IB_JWS_ERROR, "JWS: OpenSSL failed verifying an %s signature", a->name);
        }
        if (rc == 1) {
            cJSON *claims;
            if ((why = parse_object(p, pb, pn, "the payload", &claims)) != NULL) {
                FAIL(IB_JWS_MALFORMED, "JWS: %s", why);
            }
            ib_jws *jws = apr_pcalloc(p, sizeof(*jws));
            jws->alg = a->bit;
            jws->alg_name = a->name;
            jws->kid = kid != NULL ? apr_pstrdup(p, kid) : NULL;
            jws->header = header;
            jws->payload = (const char *)pb;
            jws->payload_len = (apr_size_t)pn;
            jws->claims = claims;
            jws->key = k;
            *out = jws;
            return IB_JWS_OK;
        }
    }
    int candidates = cand->nelts;
    FAIL(IB_JWS_BAD_SIGNATURE, "JWS: the %s signature does not verify (%d key%s tried)",
         a->name, candidates, candidates == 1 ? "" : "s");
}
