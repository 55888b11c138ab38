/* JOSE for the OpenID Connect relying party: JSON Web Key Sets (RFC 7517)
 * and compact JSON Web Signatures (RFC 7515) with the asymmetric algorithms
 * of RFC 7518 only, on OpenSSL 3 and cJSON.
 *
 * What is refused, always: alg "none", every HMAC algorithm (HS*: the
 * RSA-public-key-as-HMAC-secret confusion), any other alg outside the nine
 * below, a "crit" header, keys carried or pointed to by the token itself
 * ("jwk", "jku", "x5u", "x5c" are ignored: keys come from the JWKS the caller
 * fetched, never from the token), RSA keys under 2048 bits, EC points off
 * their curve, and ECDSA signatures not in the raw r||s form of JWS.
 *
 * No httpd header here (mod_src/core rule). */
#ifndef IB_JOSE_H
#define IB_JOSE_H

#include <apr_pools.h>
#include <apr_tables.h>
#include <cjson/cJSON.h>
#include <openssl/types.h>

/* Size caps: a JWKS document, its number of keys, a compact JWS. */
#define IB_JWKS_MAX_BYTES (256 * 1024)
#define IB_JWKS_MAX_KEYS 64
#define IB_JWS_MAX_BYTES (64 * 1024)

/* RSA keys outside [2048, 8192] bits are skipped. */
#define IB_JWK_RSA_MIN_BITS 2048
#define IB_JWK_RSA_MAX_BITS 8192

/* The signature algorithms, as bits for ib_jws_policy.algs. */
enum {
    IB_JWS_RS256 = 1u << 0,
    IB_JWS_RS384 = 1u << 1,
    IB_JWS_RS512 = 1u << 2,
    IB_JWS_PS256 = 1u << 3,
    IB_JWS_PS384 = 1u << 4,
    IB_JWS_PS512 = 1u << 5,
    IB_JWS_ES256 = 1u << 6,
    IB_JWS_ES384 = 1u << 7,
    IB_JWS_ES512 = 1u << 8,
    IB_JWS_ALL_ALGS = (1u << 9) - 1
};

/* "RS256" -> IB_JWS_RS256 (exact, case-sensitive); 0 for anything else,
 * including "none" and the HS* algorithms. */
unsigned ib_jws_alg_from_name(const char *name);

/* IB_JWS_RS256 -> "RS256"; NULL unless alg is exactly one known bit. */
const char *ib_jws_alg_name(unsigned alg);

/* One usable signature key of a JWKS. */
typedef struct {
    const char *kid; /* NULL when the JWK has none */
    const char *kty; /* "RSA" or "EC" */
    const char *alg; /* the JWK's "alg" (one of the nine), NULL when absent */
    const char *crv; /* EC: "P-256", "P-384" or "P-521"; NULL for RSA */
    int bits;        /* RSA modulus / EC field size */
    EVP_PKEY *pkey;  /* public key; freed by a cleanup of the parse pool */
} ib_jwk;

/* Parses a JWKS ({"keys": [...]}) into *keys, an array of ib_jwk by value
 * (APR_ARRAY_IDX(keys, i, ib_jwk)) in document order, all in p (the
 * EVP_PKEYs are freed by a cleanup of p).
 *
 * Kept: kty "RSA" (n, e; 2048..8192 bits) and kty "EC" (crv P-256, P-384 or
 * P-521; x and y of the full field length; the point on the curve). Skipped:
 * other ktys (oct, OKP, ...), "use" other than "sig", "key_ops" without
 * "verify", an "alg" outside the nine or not fitting the key (RS/PS for RSA,
 * ES256/384/512 for P-256/384/521), a non-string "kid", bad or missing
 * members. Private members (d, p, q, ...) are ignored; only the public key is
 * built.
 *
 * Returns 0 with *err NULL and *keys non-empty; or -1 with *err set and
 * *keys NULL: input not JSON, not an object, no "keys" array, over
 * IB_JWKS_MAX_BYTES or IB_JWKS_MAX_KEYS entries, or no usable key at all
 * (the message then says why each key was skipped). */
int ib_jwks_parse(apr_pool_t *p, const char *json, apr_array_header_t **keys,
                  const char **err);

/* What ib_jws_verify accepts. */
typedef struct {
    /* IB_JWS_* bits; 0 means all nine. Never more than the nine. */
    unsigned algs;
} ib_jws_policy;

/* A verified compact JWS. */
typedef struct {
    unsigned alg;         /* IB_JWS_* bit of the header alg */
    const char *alg_name; /* "RS256", ... */
    const char *kid;      /* the header kid, NULL when absent */
    cJSON *header;        /* the header object; deleted by a cleanup of p */
    const char *payload;  /* the decoded payload bytes, NUL-terminated */
    apr_size_t payload_len;
    cJSON *claims;        /* the payload, a JSON object; deleted by a cleanup of p */
    const ib_jwk *key;    /* the key whose signature matched (an element of
                           * the keys array given to ib_jws_verify) */
} ib_jws;

typedef enum {
    IB_JWS_OK = 0,
    IB_JWS_MALFORMED,     /* size, not three parts, bad base64url or JSON,
                           * header or payload not an object, duplicate
                           * header member, kid not a string */
    IB_JWS_ALG_REFUSED,   /* none, HS*, unknown alg, alg outside the policy */
    IB_JWS_CRIT_REFUSED,  /* a "crit" header member */
    IB_JWS_UNKNOWN_KID,   /* the header kid names no key of the set: the IdP
                           * may have rotated, refetch the JWKS once and retry */
    IB_JWS_NO_KEY,        /* no key fits the alg: the kid's key has another
                           * kty, curve or alg, or (no kid) the set has no key
                           * of the kty / curve the alg needs */
    IB_JWS_BAD_SIGNATURE, /* no candidate key verifies the signature (also a
                           * signature of the wrong length or form) */
    IB_JWS_ERROR          /* OpenSSL or allocation failure */
} ib_jws_status;

/* Verifies the compact JWS `compact` (header.payload.signature) against the
 * keys (ib_jwk elements, as ib_jwks_parse gives) under policy (NULL: all nine
 * algs).
 *
 * Key choice: with a header "kid", only the keys with that kid (none:
 * IB_JWS_UNKNOWN_KID); without one, every key. Of those, only keys that fit
 * the alg: kty RSA for RS* / PS*, kty EC with P-256 / P-384 / P-521 for ES256
 * / ES384 / ES512, and the key's "alg", when set, equal to the header alg
 * (none left: IB_JWS_NO_KEY). The candidates are tried in order; the first
 * that verifies wins. PS* is RSA-PSS with MGF1 of the same hash and a salt as
 * long as the hash; ES* signatures are raw r||s of twice the field length.
 *
 * The payload is decoded and parsed only after the signature verified. On
 * IB_JWS_OK *out is set and *err NULL; otherwise *out is NULL and *err says
 * why (header values quoted in it are sanitised). Claims (iss, aud, exp,
 * nonce, ...) are the caller's business. */
ib_jws_status ib_jws_verify(apr_pool_t *p, const char *compact,
                            const apr_array_header_t *keys,
                            const ib_jws_policy *policy, ib_jws **out,
                            const char **err);

/* A short name for a status, for logs: "ok", "malformed", ... */
const char *ib_jws_status_name(ib_jws_status status);

#endif
