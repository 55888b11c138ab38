#include <string.h>

#include <openssl/evp.h>
#include <openssl/rand.h>

#include "ib_codec.h"

/* OpenSSL's decoder stops quietly at '-' and skips some bytes; we and lasso
 * must read the same message, so anything outside the alphabet is refused. */
static int is_b64_char(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')
           || c == '+' || c == '/' || c == '=';
}

static int is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

long ib_b64_decode(apr_pool_t *p, const char *in, apr_size_t max_len,
                   unsigned char **out)
{
    size_t n = strlen(in), data = 0;
    for (size_t i = 0; i < n; i++) {
        if (is_b64_char(in[i])) {
            data++;
        } else if (!is_space(in[i])) {
            return -1;
        }
    }
    if (data == 0 || data / 4 * 3 > max_len + 3 || n > (size_t)0x7fffffff) {
        return -1;
    }
    unsigned char *buf = apr_palloc(p, n + 1);
    EVP_ENCODE_CTX *ctx = EVP_ENCODE_CTX_new();
    int len = 0, tail = 0;
    EVP_DecodeInit(ctx);
    int ok = EVP_DecodeUpdate(ctx, buf, &len, (const unsigned char *)in, (int)n) >= 0
             && EVP_DecodeFinal(ctx, buf + len, &tail) == 1;
    EVP_ENCODE_CTX_free(ctx);
    if (!ok || (apr_size_t)(len + tail) > max_len) {
        return -1;
    }
    buf[len + tail] = '\0';
    *out = buf;
    return len + tail;
}

const char *ib_b64_encode(apr_pool_t *p, const unsigned char *data, apr_size_t len)
{
    char *out = apr_palloc(p, 4 * ((len + 2) / 3) + 1);
    EVP_EncodeBlock((unsigned char *)out, data, (int)len);
    return out;
}

const char *ib_random_hex(apr_pool_t *p, apr_size_t len)
{
    static const char hex[] = "0123456789abcdef";
    unsigned char buf[64];
    if (len > sizeof(buf) || RAND_bytes(buf, (int)len) != 1) {
        return NULL;
    }
    char *out = apr_palloc(p, 2 * len + 1);
    for (apr_size_t i = 0; i < len; i++) {
        out[2 * i] = hex[buf[i] >> 4];
        out[2 * i + 1] = hex[buf[i] & 15];
    }
    out[2 * len] = '\0';
    return out;
}
