/* X.509 certificates and SP signing keys: loading with the checks operators
 * need at config time (IDPCERT-1, SPKEY-8), and the rotation rule that picks
 * which SP key signs and which keys the metadata publishes. */
#ifndef IB_KEYS_H
#define IB_KEYS_H

#include <apr_pools.h>
#include <apr_tables.h>
#include <apr_time.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

typedef struct ib_cert {
    X509 *x509;
    const char *path;
    const char *subject;       /* one-line RFC 2253 form, for logs */
    apr_time_t not_before;
    apr_time_t not_after;
    const char *der_b64;       /* DER in Base64, one line: ds:X509Certificate */
    char sha256_hex[65];       /* fingerprints for logs and the status page */
    char sha1_hex[41];         /* IdP consoles show SHA-1 "thumbprints" */
} ib_cert;

typedef struct ib_sp_key {
    EVP_PKEY *pkey;
    const char *key_path;
    ib_cert *cert;
    int has_activate_at;
    apr_time_t activate_at;    /* meaningful only when has_activate_at */
} ib_sp_key;

/* Reads a regular file of at most IB_KEY_FILE_MAX bytes (keys, certs, secrets)
 * into pool memory, NUL-terminated. Returns NULL or a message naming it. */
#define IB_KEY_FILE_MAX (256 * 1024)
const char *ib_read_small_file(apr_pool_t *p, const char *path, char **data, apr_size_t *len);

/* Loads exactly one certificate from PEM, bare Base64 DER or binary DER.
 * Refuses files holding a private key or more than one certificate.
 * Returns NULL or an error message naming the file and the fix. */
const char *ib_cert_load_file(apr_pool_t *p, const char *path, ib_cert **out);

/* A certificate from the Base64 text of a ds:X509Certificate (line breaks
 * allowed); `label` says where it came from and becomes its path. */
const char *ib_cert_from_base64(apr_pool_t *p, const char *label, const char *b64,
                                ib_cert **out);

/* Loads an SP key pair: an unencrypted PEM private key (RSA >= 2048 bits or
 * EC P-256/P-384/P-521) and the certificate that matches it. */
const char *ib_sp_key_load(apr_pool_t *p, const char *key_path,
                           const char *cert_path, ib_sp_key **out);

/* 1 when now lies within the certificate's notBefore..notAfter. */
int ib_cert_valid_at(const ib_cert *cert, apr_time_t now);

/* The key that signs at `now` (SPKEY-2, SPKEY-8): among keys whose activation
 * instant has passed (no instant = active from the start) and whose
 * certificate is valid, the one activated last; a tie goes to the later entry
 * of the list. NULL when no key qualifies: SP signing must then fail closed. */
const ib_sp_key *ib_sp_keys_active(const apr_array_header_t *keys, apr_time_t now);

/* The keys the metadata advertises at `now`: the active key followed by every
 * key whose activation instant is still ahead and whose certificate has not
 * expired (the advertisement phase, MD-3), in list order. Elements are
 * const ib_sp_key pointers. */
apr_array_header_t *ib_sp_keys_published(apr_pool_t *p,
                                         const apr_array_header_t *keys,
                                         apr_time_t now);

/* PEM text of a private key / certificate, in pool memory (lasso and
 * xmlsec take keys as PEM buffers). */
const char *ib_pem_of_key(apr_pool_t *p, EVP_PKEY *key);
const char *ib_pem_of_cert(apr_pool_t *p, X509 *cert);

#endif
