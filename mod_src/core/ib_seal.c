#include <string.h>

#include <apr_file_info.h>
#include <apr_strings.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "ib_codec.h"
#include "ib_keys.h"
#include "ib_seal.h"

#define SEAL_PREFIX "ib1."
#define NONCE_BYTES 12
#define TAG_BYTES 16
#define EXPIRY_BYTES 8

static int valid_id(const char *id)
{
    size_t n = strlen(id);
    if (n == 0 || n > IB_SEAL_ID_MAX) {
        return 0;
    }
    for (const char *c = id; *c; c++) {
        if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9')
              || *c == '-' || *c == '_')) {
            return 0;
        }
    }
    return 1;
}

static int hex_value(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
           : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* 64 hex digits, or Base64 of exactly 32 bytes, or 32 raw bytes. */
static int decode_key(apr_pool_t *p, const char *data, apr_size_t len, unsigned char *out)
{
    apr_size_t n = len;
    while (n > 0 && (data[n - 1] == '\n' || data[n - 1] == '\r' || data[n - 1] == ' ')) {
        n--;
    }
    if (n == 2 * IB_SEAL_KEY_BYTES) {
        int ok = 1;
        for (apr_size_t i = 0; i < IB_SEAL_KEY_BYTES && ok; i++) {
            int hi = hex_value(data[2 * i]), lo = hex_value(data[2 * i + 1]);
            ok = hi >= 0 && lo >= 0;
            out[i] = (unsigned char)(hi << 4 | lo);
        }
        if (ok) {
            return 1;
        }
    }
    unsigned char *raw;
    if (n == 44 && ib_b64_decode(p, apr_pstrndup(p, data, n), IB_SEAL_KEY_BYTES, &raw)
                   == IB_SEAL_KEY_BYTES) {
        memcpy(out, raw, IB_SEAL_KEY_BYTES);
        return 1;
    }
    if (len == IB_SEAL_KEY_BYTES) {
        memcpy(out, data, IB_SEAL_KEY_BYTES);
        return 1;
    }
    return 0;
}

const char *ib_seal_key_load(apr_pool_t *p, const char *id, const char *path,
                             ib_seal_key **out)
{
    if (!valid_id(id)) {
        return apr_psprintf(p, "key ID '%s' must be 1-%d letters, digits, '-' or '_'", id,
                            IB_SEAL_ID_MAX);
    }
    apr_finfo_t fi;
    if (apr_stat(&fi, path, APR_FINFO_PROT, p) == APR_SUCCESS
        && (fi.protection & (APR_FPROT_WREAD | APR_FPROT_WWRITE)) != 0) {
        return apr_psprintf(p, "'%s' may be read by anyone; chmod 600 or 640 it", path);
    }
    char *data;
    apr_size_t len;
    const char *err = ib_read_small_file(p, path, &data, &len);
    if (err != NULL) {
        return err;
    }
    ib_seal_key *k = apr_pcalloc(p, sizeof(*k));
    k->id = apr_pstrdup(p, id);
    if (!decode_key(p, data, len, k->bytes)) {
        return apr_psprintf(p, "'%s' holds no 256-bit key: write 32 random bytes, 64 hex "
                            "digits or their Base64 (openssl rand -hex 32 > FILE)", path);
    }
    *out = k;
    return NULL;
}

static const char *aad(apr_pool_t *p, const char *id, const char *name)
{
    return apr_pstrcat(p, SEAL_PREFIX, id, ".", name, NULL);
}

const char *ib_seal(apr_pool_t *p, const ib_seal_key *key, const char *name,
                    const char *value, apr_time_t expiry)
{
    apr_size_t vlen = strlen(value);
    apr_size_t plen = EXPIRY_BYTES + vlen;
    unsigned char *plain = apr_palloc(p, plen);
    apr_uint64_t e = (apr_uint64_t)expiry;
    for (int i = 0; i < EXPIRY_BYTES; i++) {
        plain[i] = (unsigned char)(e >> (8 * (EXPIRY_BYTES - 1 - i)));
    }
    memcpy(plain + EXPIRY_BYTES, value, vlen);
    unsigned char *out = apr_palloc(p, NONCE_BYTES + plen + TAG_BYTES);
    if (RAND_bytes(out, NONCE_BYTES) != 1) {
        return NULL;
    }
    const char *ad = aad(p, key->id, name);
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    int n = 0, m = 0;
    int ok = ctx && EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, key->bytes, out) == 1
             && EVP_EncryptUpdate(ctx, NULL, &n, (const unsigned char *)ad, (int)strlen(ad)) == 1
             && EVP_EncryptUpdate(ctx, out + NONCE_BYTES, &n, plain, (int)plen) == 1
             && EVP_EncryptFinal_ex(ctx, out + NONCE_BYTES + n, &m) == 1
             && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, TAG_BYTES,
                                    out + NONCE_BYTES + plen) == 1;
    EVP_CIPHER_CTX_free(ctx);
    if (!ok) {
        return NULL;
    }
    return apr_pstrcat(p, SEAL_PREFIX, key->id, ".",
                       ib_b64_encode(p, out, NONCE_BYTES + plen + TAG_BYTES), NULL);
}

static const ib_seal_key *find_key(const apr_array_header_t *keys, const char *id, apr_size_t n)
{
    for (int i = 0; i < keys->nelts; i++) {
        const ib_seal_key *k = APR_ARRAY_IDX(keys, i, const ib_seal_key *);
        if (strlen(k->id) == n && strncmp(k->id, id, n) == 0) {
            return k;
        }
    }
    return NULL;
}

const char *ib_unseal(apr_pool_t *p, const apr_array_header_t *keys, const char *name,
                      const char *sealed, apr_time_t now, const char **value,
                      apr_time_t *expiry)
{
    if (strncmp(sealed, SEAL_PREFIX, strlen(SEAL_PREFIX)) != 0) {
        return "the entry is not sealed";
    }
    const char *id = sealed + strlen(SEAL_PREFIX);
    const char *dot = strchr(id, '.');
    const ib_seal_key *key = dot ? find_key(keys, id, (apr_size_t)(dot - id)) : NULL;
    if (key == NULL) {
        return "the entry is sealed with a key ID not configured (IdBrokerStoreKey)";
    }
    unsigned char *raw;
    long len = ib_b64_decode(p, dot + 1, strlen(dot + 1), &raw);
    if (len < NONCE_BYTES + EXPIRY_BYTES + TAG_BYTES) {
        return "the sealed entry is malformed";
    }
    apr_size_t clen = (apr_size_t)len - NONCE_BYTES - TAG_BYTES;
    unsigned char *plain = apr_palloc(p, clen + 1);
    unsigned char tag[TAG_BYTES];
    memcpy(tag, raw + NONCE_BYTES + clen, TAG_BYTES);
    const char *ad = aad(p, key->id, name);
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    int n = 0, m = 0;
    int ok = ctx && EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, key->bytes, raw) == 1
             && EVP_DecryptUpdate(ctx, NULL, &n, (const unsigned char *)ad, (int)strlen(ad)) == 1
             && EVP_DecryptUpdate(ctx, plain, &n, raw + NONCE_BYTES, (int)clen) == 1
             && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, TAG_BYTES, tag) == 1
             && EVP_DecryptFinal_ex(ctx, plain + n, &m) == 1;
    EVP_CIPHER_CTX_free(ctx);
    if (!ok) {
        return "the entry does not authenticate: forged, altered or moved from another key";
    }
    apr_uint64_t e = 0;
    for (int i = 0; i < EXPIRY_BYTES; i++) {
        e = (e << 8) | plain[i];
    }
    if ((apr_time_t)e <= now) {
        return "the entry has expired";
    }
    plain[clen] = '\0';
    if (strlen((const char *)plain + EXPIRY_BYTES) != clen - EXPIRY_BYTES) {
        return "the sealed entry is malformed";
    }
    *value = (const char *)plain + EXPIRY_BYTES;
    if (expiry != NULL) {
        *expiry = (apr_time_t)e;
    }
    return NULL;
}
