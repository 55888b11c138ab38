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

/* Base64url: the Base64 alphabet with '-' for '+' and '_' for '/', padding
 * left out. Translated to Base64 and handed to the decoder above. */
static int b64url_value(char c)
{
    if (c >= 'A' && c <= 'Z') {
        return c - 'A';
    }
    if (c >= 'a' && c <= 'z') {
        return c - 'a' + 26;
    }
    if (c >= '0' && c <= '9') {
        return c - '0' + 52;
    }
    return c == '-' ? 62 : c == '_' ? 63 : -1;
}

long ib_b64url_decode(apr_pool_t *p, const char *in, apr_size_t in_len,
                      apr_size_t max_len, unsigned char **out)
{
    if (in_len == 0) {
        *out = apr_pcalloc(p, 1);
        return 0;
    }
    if (in_len % 4 == 1 || in_len > (apr_size_t)0x7ffffff0 || in_len / 4 * 3 > max_len + 3) {
        return -1;
    }
    for (apr_size_t i = 0; i < in_len; i++) {
        if (b64url_value(in[i]) < 0) {
            return -1;
        }
    }
    /* The bits of the last character past the data must be zero, or one
     * byte string would have several encodings. */
    int last = b64url_value(in[in_len - 1]);
    if ((in_len % 4 == 2 && (last & 0x0f) != 0) || (in_len % 4 == 3 && (last & 0x03) != 0)) {
        return -1;
    }
    apr_size_t pad = (4 - in_len % 4) % 4;
    char *b64 = apr_palloc(p, in_len + pad + 1);
    for (apr_size_t i = 0; i < in_len; i++) {
        b64[i] = in[i] == '-' ? '+' : in[i] == '_' ? '/' : in[i];
    }
    memset(b64 + in_len, '=', pad);
    b64[in_len + pad] = '\0';
    return ib_b64_decode(p, b64, max_len, out);
}

const char *ib_b64url_encode(apr_pool_t *p, const unsigned char *data, apr_size_t len)
{
    char *s = (char *)ib_b64_encode(p, data, len);
    char *w = s;
    for (const char *r = s; *r != '\0'; r++) {
        if (*r == '=') {
            break;
        }
        *w++ = *r == '+' ? '-' : *r == '/' ? '_' : *r;
    }
    *w = '\0';
    return s;
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
