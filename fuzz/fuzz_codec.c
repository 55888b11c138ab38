/* The encodings under every parser: ib_b64_decode (Base64 with line
 * breaks: SAML POST values, metadata certificates, SIDs, sealed entries)
 * and ib_b64url_decode (strict base64url: JWS parts, JWK numbers).
 *
 * Input: byte 0 picks max_len (0..255, or unlimited when 255), the rest is
 * the encoded text (ib_b64url_decode also sees the same bytes with their
 * length, NULs included).
 *
 * Invariants: a decode never returns more than max_len bytes and
 * NUL-terminates; base64url is strict, so a successful decode re-encodes to
 * exactly the input (one encoding per byte string, ib_codec.h). Base64 is
 * not strict (line breaks, unused low bits), so only the bounds are checked;
 * its result is re-encoded and decoded again, which must give the same bytes. */
#include <string.h>

#include "core/ib_codec.h"
#include "fuzz_common.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fz_init();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) {
        return 0;
    }
    apr_pool_t *p = fz_pool();
    apr_size_t max = data[0] == 255 ? 1 << 20 : data[0];
    const char *in = fz_bytes(data + 1, size - 1);
    size_t in_len = size - 1;

    unsigned char *out = NULL;
    long n = ib_b64url_decode(p, in, in_len, max, &out);
    if (n >= 0) {
        FZ_CHECK((apr_size_t)n <= max, "b64url: decoded beyond max_len", NULL);
        FZ_CHECK(out[n] == '\0', "b64url: result not NUL-terminated", NULL);
        const char *again = ib_b64url_encode(p, out, (apr_size_t)n);
        FZ_CHECK(strlen(again) == in_len && memcmp(again, in, in_len) == 0,
                 "b64url: decode then encode does not give the input back", in);
    }

    const char *text = fz_cstr(data + 1, size - 1);
    n = ib_b64_decode(p, text, max, &out);
    if (n >= 0) {
        FZ_CHECK((apr_size_t)n <= max, "b64: decoded beyond max_len", NULL);
        FZ_CHECK(n > 0, "b64: success with nothing decoded", text);
        FZ_CHECK(out[n] == '\0', "b64: result not NUL-terminated", NULL);
        unsigned char *back = NULL;
        long m = ib_b64_decode(p, ib_b64_encode(p, out, (apr_size_t)n), max, &back);
        FZ_CHECK(m == n && memcmp(back, out, (size_t)n) == 0,
                 "b64: encode then decode does not give the bytes back", text);
    }
    fz_done();
    return 0;
}
