#include <string.h>

#include <apr_file_io.h>
#include <apr_strings.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>

#include "ib_clock.h"
#include "ib_keys.h"

/* A certificate or key file larger than this is certainly not one. */

static apr_status_t free_x509(void *data)
{
    X509_free(data);
    return APR_SUCCESS;
}

static apr_status_t free_pkey(void *data)
{
    EVP_PKEY_free(data);
    return APR_SUCCESS;
}

const char *ib_read_small_file(apr_pool_t *p, const char *path,
                                   char **data, apr_size_t *len)
{
    apr_finfo_t finfo;
    apr_file_t *f;
    apr_status_t rv = apr_stat(&finfo, path, APR_FINFO_SIZE | APR_FINFO_TYPE, p);
    if (rv != APR_SUCCESS) {
        char buf[120];
        return apr_psprintf(p, "cannot read '%s': %s", path,
                            apr_strerror(rv, buf, sizeof(buf)));
    }
    if (finfo.filetype != APR_REG) {
        return apr_psprintf(p, "'%s' is not a regular file", path);
    }
    if (finfo.size > IB_KEY_FILE_MAX) {
        return apr_psprintf(p, "'%s' is %ld bytes; a key or certificate file is "
                            "at most %d bytes", path, (long)finfo.size, IB_KEY_FILE_MAX);
    }
    rv = apr_file_open(&f, path, APR_FOPEN_READ | APR_FOPEN_BINARY, 0, p);
    if (rv != APR_SUCCESS) {
        char buf[120];
        return apr_psprintf(p, "cannot open '%s': %s", path,
                            apr_strerror(rv, buf, sizeof(buf)));
    }
    *data = apr_palloc(p, (apr_size_t)finfo.size + 1);
    *len = 0;
    rv = apr_file_read_full(f, *data, (apr_size_t)finfo.size, len);
    apr_file_close(f);
    if (rv != APR_SUCCESS && rv != APR_EOF) {
        return apr_psprintf(p, "cannot read '%s'", path);
    }
    (*data)[*len] = '\0';
    return NULL;
}

static apr_time_t asn1_to_apr(const ASN1_TIME *t)
{
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    if (ASN1_TIME_to_tm(t, &tm) != 1) {
        return 0;
    }
    return ib_time_from_tm_utc(&tm);
}

static void hex_digest(const X509 *x, const EVP_MD *md, char *out, size_t outlen)
{
    unsigned char d[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    static const char hex[] = "0123456789ABCDEF";
    X509_digest(x, md, d, &n);
    size_t i;
    for (i = 0; i < n && 2 * i + 2 < outlen; i++) {
        out[2 * i] = hex[d[i] >> 4];
        out[2 * i + 1] = hex[d[i] & 0x0f];
    }
    out[2 * i] = '\0';
}

static ib_cert *wrap_x509(apr_pool_t *p, const char *path, X509 *x)
{
    ib_cert *c = apr_pcalloc(p, sizeof(*c));
    c->x509 = x;
    apr_pool_cleanup_register(p, x, free_x509, apr_pool_cleanup_null);
    c->path = apr_pstrdup(p, path);
    c->not_before = asn1_to_apr(X509_get0_notBefore(x));
    c->not_after = asn1_to_apr(X509_get0_notAfter(x));

    BIO *mem = BIO_new(BIO_s_mem());
    X509_NAME_print_ex(mem, X509_get_subject_name(x), 0, XN_FLAG_RFC2253);
    char *s;
    long n = BIO_get_mem_data(mem, &s);
    c->subject = apr_pstrndup(p, s, (apr_size_t)n);
    BIO_free(mem);

    int der_len = i2d_X509(x, NULL);
    unsigned char *der = apr_palloc(p, (apr_size_t)der_len);
    unsigned char *w = der;
    i2d_X509(x, &w);
    char *b64 = apr_palloc(p, (apr_size_t)(4 * ((der_len + 2) / 3) + 1));
    EVP_EncodeBlock((unsigned char *)b64, der, der_len);
    c->der_b64 = b64;

    hex_digest(x, EVP_sha256(), c->sha256_hex, sizeof(c->sha256_hex));
    hex_digest(x, EVP_sha1(), c->sha1_hex, sizeof(c->sha1_hex));
    return c;
}

/* Walks every PEM block with OpenSSL's reader: refuses private keys, counts
 * certificates, and keeps the first. */
static const char *load_pem_cert(apr_pool_t *p, const char *path,
                                 const char *data, apr_size_t len, X509 **out)
{
    BIO *bio = BIO_new_mem_buf(data, (int)len);
    int certs = 0;
    const char *err = NULL;
    X509 *first = NULL;
    for (;;) {
        char *name = NULL, *header = NULL;
        unsigned char *der = NULL;
        long der_len = 0;
        if (PEM_read_bio(bio, &name, &header, &der, &der_len) != 1) {
            ERR_clear_error();
            break;
        }
        if (strstr(name, "PRIVATE KEY") != NULL) {
            err = apr_psprintf(p, "'%s' contains a private key (%s); give the "
                               "certificate alone, never a key", path, name);
        } else if (strcmp(name, "CERTIFICATE") == 0
                   || strcmp(name, "X509 CERTIFICATE") == 0) {
            certs++;
            const unsigned char *r = der;
            X509 *x = d2i_X509(NULL, &r, der_len);
            if (x == NULL) {
                err = apr_psprintf(p, "'%s': PEM certificate block %d is not a "
                                   "valid X.509 certificate", path, certs);
            } else if (first == NULL) {
                first = x;
            } else {
                X509_free(x);
            }
        }
        OPENSSL_free(name);
        OPENSSL_free(header);
        OPENSSL_free(der);
        if (err != NULL) {
            break;
        }
    }
    BIO_free(bio);
    if (err == NULL && certs == 0) {
        err = apr_psprintf(p, "'%s' has no PEM CERTIFICATE block", path);
    } else if (err == NULL && certs > 1) {
        err = apr_psprintf(p, "'%s' holds %d certificates; put one certificate "
                           "in each file and list each file on its own line", path, certs);
    }
    if (err != NULL) {
        X509_free(first);
        return err;
    }
    *out = first;
    return NULL;
}

static X509 *parse_der_exact(const unsigned char *der, long len)
{
    const unsigned char *r = der;
    X509 *x = d2i_X509(NULL, &r, len);
    if (x != NULL && r != der + len) {
        X509_free(x); /* trailing bytes: not a single DER certificate */
        x = NULL;
    }
    ERR_clear_error();
    return x;
}

/* Bare Base64 (what IdP consoles show as "Base64" certificate downloads),
 * decoded with OpenSSL's Base64 BIO. */
static X509 *parse_bare_base64(apr_pool_t *p, const char *data, apr_size_t len)
{
    char *clean = apr_palloc(p, len + 1);
    apr_size_t n = 0;
    for (apr_size_t i = 0; i < len; i++) {
        char c = data[i];
        if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
            continue;
        }
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')
              || (c >= '0' && c <= '9') || c == '+' || c == '/' || c == '=')) {
            return NULL;
        }
        clean[n++] = c;
    }
    if (n == 0) {
        return NULL;
    }
    BIO *b64 = BIO_new(BIO_f_base64());
    BIO *mem = BIO_new_mem_buf(clean, (int)n);
    BIO_set_flags(b64, BIO_FLAGS_BASE64_NO_NL);
    mem = BIO_push(b64, mem);
    unsigned char *der = apr_palloc(p, n);
    int got = BIO_read(mem, der, (int)n);
    BIO_free_all(mem);
    if (got <= 0) {
        return NULL;
    }
    return parse_der_exact(der, got);
}

const char *ib_cert_load_file(apr_pool_t *p, const char *path, ib_cert **out)
{
    char *data;
    apr_size_t len;
    const char *err = ib_read_small_file(p, path, &data, &len);
    if (err != NULL) {
        return err;
    }
    X509 *x = NULL;
    if (strstr(data, "-----BEGIN") != NULL) {
        err = load_pem_cert(p, path, data, len, &x);
        if (err != NULL) {
            return err;
        }
    } else {
        x = parse_der_exact((const unsigned char *)data, (long)len);
        if (x == NULL) {
            x = parse_bare_base64(p, data, len);
        }
        if (x == NULL) {
            return apr_psprintf(p, "'%s' is not a certificate in PEM, Base64 or "
                                "DER form", path);
        }
    }
    *out = wrap_x509(p, path, x);
    return NULL;
}

const char *ib_cert_from_base64(apr_pool_t *p, const char *label, const char *b64,
                                ib_cert **out)
{
    X509 *x = b64 ? parse_bare_base64(p, b64, strlen(b64)) : NULL;
    if (x == NULL) {
        return apr_psprintf(p, "%s is not a Base64 DER certificate", label);
    }
    *out = wrap_x509(p, label, x);
    return NULL;
}

static int pass_refused(char *buf, int size, int rwflag, void *u)
{
    return 0; /* encrypted keys would need a passphrase prompt at startup */
}

static const char *check_key_strength(apr_pool_t *p, const char *path, EVP_PKEY *k)
{
    int type = EVP_PKEY_get_base_id(k);
    if (type == EVP_PKEY_RSA) {
        if (EVP_PKEY_get_bits(k) < 2048) {
            return apr_psprintf(p, "'%s' is a %d-bit RSA key; use at least 2048 "
                                "bits", path, EVP_PKEY_get_bits(k));
        }
        return NULL;
    }
    if (type == EVP_PKEY_EC) {
        char curve[64] = "";
        size_t n = 0;
        EVP_PKEY_get_utf8_string_param(k, "group", curve, sizeof(curve), &n);
        if (strcmp(curve, "prime256v1") == 0 || strcmp(curve, "secp384r1") == 0
            || strcmp(curve, "secp521r1") == 0) {
            return NULL;
        }
        return apr_psprintf(p, "'%s' is an EC key on curve '%s'; use P-256, "
                            "P-384 or P-521", path, curve);
    }
    return apr_psprintf(p, "'%s' is neither an RSA nor an EC key", path);
}

const char *ib_sp_key_load(apr_pool_t *p, const char *key_path,
                           const char *cert_path, ib_sp_key **out)
{
    char *data;
    apr_size_t len;
    const char *err = ib_read_small_file(p, key_path, &data, &len);
    if (err != NULL) {
        return err;
    }
    if (strstr(data, "ENCRYPTED") != NULL) {
        return apr_psprintf(p, "'%s' is an encrypted private key; httpd cannot "
                            "ask for a passphrase, store it unencrypted with "
                            "mode 0600", key_path);
    }
    BIO *bio = BIO_new_mem_buf(data, (int)len);
    EVP_PKEY *pkey = PEM_read_bio_PrivateKey(bio, NULL, pass_refused, NULL);
    BIO_free(bio);
    ERR_clear_error();
    if (pkey == NULL) {
        return apr_psprintf(p, "'%s' is not a PEM private key", key_path);
    }
    apr_pool_cleanup_register(p, pkey, free_pkey, apr_pool_cleanup_null);
    err = check_key_strength(p, key_path, pkey);
    if (err != NULL) {
        return err;
    }
    ib_cert *cert;
    err = ib_cert_load_file(p, cert_path, &cert);
    if (err != NULL) {
        return err;
    }
    if (X509_check_private_key(cert->x509, pkey) != 1) {
        ERR_clear_error();
        return apr_psprintf(p, "the certificate '%s' does not belong to the key "
                            "'%s' (their public keys differ)", cert_path, key_path);
    }
    ib_sp_key *k = apr_pcalloc(p, sizeof(*k));
    k->pkey = pkey;
    k->key_path = apr_pstrdup(p, key_path);
    k->cert = cert;
    *out = k;
    return NULL;
}

int ib_cert_valid_at(const ib_cert *cert, apr_time_t now)
{
    return cert->not_before <= now && now <= cert->not_after; /* RFC 5280: inclusive */
}

static int key_activated(const ib_sp_key *k, apr_time_t now)
{
    return !k->has_activate_at || k->activate_at <= now;
}

const ib_sp_key *ib_sp_keys_active(const apr_array_header_t *keys, apr_time_t now)
{
    const ib_sp_key *best = NULL;
    apr_time_t best_at = 0;
    for (int i = 0; i < keys->nelts; i++) {
        const ib_sp_key *k = APR_ARRAY_IDX(keys, i, const ib_sp_key *);
        if (!key_activated(k, now) || !ib_cert_valid_at(k->cert, now)) {
            continue;
        }
        apr_time_t at = k->has_activate_at ? k->activate_at : 0;
        if (best == NULL || at >= best_at) {
            best = k;
            best_at = at;
        }
    }
    return best;
}

apr_array_header_t *ib_sp_keys_published(apr_pool_t *p,
                                         const apr_array_header_t *keys,
                                         apr_time_t now)
{
    apr_array_header_t *out = apr_array_make(p, keys->nelts, sizeof(const ib_sp_key *));
    const ib_sp_key *active = ib_sp_keys_active(keys, now);
    if (active != NULL) {
        APR_ARRAY_PUSH(out, const ib_sp_key *) = active;
    }
    for (int i = 0; i < keys->nelts; i++) {
        const ib_sp_key *k = APR_ARRAY_IDX(keys, i, const ib_sp_key *);
        if (k != active && !key_activated(k, now) && now <= k->cert->not_after) {
            APR_ARRAY_PUSH(out, const ib_sp_key *) = k;
        }
    }
    return out;
}

static const char *pem_text(apr_pool_t *p, BIO *bio)
{
    char *data;
    long n = BIO_get_mem_data(bio, &data);
    const char *s = apr_pstrmemdup(p, data, (apr_size_t)n);
    BIO_free(bio);
    return s;
}

const char *ib_pem_of_key(apr_pool_t *p, EVP_PKEY *key)
{
    BIO *bio = BIO_new(BIO_s_mem());
    PEM_write_bio_PrivateKey(bio, key, NULL, NULL, 0, NULL, NULL);
    return pem_text(p, bio);
}

const char *ib_pem_of_cert(apr_pool_t *p, X509 *cert)
{
    BIO *bio = BIO_new(BIO_s_mem());
    PEM_write_bio_X509(bio, cert);
    return pem_text(p, bio);
}
