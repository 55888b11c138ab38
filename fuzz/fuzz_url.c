/* URL rules (ib_url): SP base URLs from the configuration
 * (ib_url_parse_base), IdP endpoints from configuration, metadata and
 * discovery (ib_url_check_idp_endpoint), and the one redirect-target
 * validator for return URLs, RelayState and post-logout targets
 * (ib_url_check_target), which decides open redirects.
 *
 * Input: the URL text. It is checked as a target against base
 * FZ_SP_BASE with the extra origin https://portal.fuzz.test.
 *
 * Invariants: a parsed base is normalised (lowercase scheme and host, no
 * trailing '/', url = origin + prefix) and parsing its url again gives the
 * same base; an accepted target is returned as given and is either a local
 * path ('/' not followed by '/' or '\', no space, control character or
 * backslash anywhere) or an absolute URL whose authority, as a browser
 * reads it (after "scheme://" up to the first '/', '?' or '#'), is
 * sp.fuzz.test or portal.fuzz.test on port 443 (given or implied). */
#include <ctype.h>
#include <string.h>
#include <strings.h>

#include <apr_strings.h>

#include "core/ib_url.h"
#include "fuzz_common.h"

static ib_base_url base;
static apr_array_header_t *origins;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fz_init();
    apr_pool_t *g = fz_global_pool();
    if (ib_url_parse_base(g, FZ_SP_BASE, &base) != NULL) {
        fz_fail("the fixture base URL does not parse", FZ_SP_BASE);
    }
    origins = apr_array_make(g, 1, sizeof(const char *));
    APR_ARRAY_PUSH(origins, const char *) = "https://portal.fuzz.test";
    return 0;
}

static void check_base(apr_pool_t *p, const char *text)
{
    ib_base_url b;
    if (ib_url_parse_base(p, text, &b) != NULL) {
        return;
    }
    FZ_CHECK(strcmp(b.scheme, "https") == 0 || strcmp(b.scheme, "http") == 0,
             "base: scheme not normalised", text);
    for (const char *c = b.host; *c; c++) {
        FZ_CHECK(!isupper((unsigned char)*c), "base: host not lowercase", text);
    }
    size_t n = strlen(b.prefix);
    FZ_CHECK(n == 0 || (b.prefix[0] == '/' && b.prefix[n - 1] != '/'),
             "base: prefix not '' or '/path' without trailing '/'", text);
    FZ_CHECK(strcmp(b.url, apr_pstrcat(p, b.origin, b.prefix, NULL)) == 0,
             "base: url is not origin + prefix", text);
    ib_base_url again;
    const char *err = ib_url_parse_base(p, b.url, &again);
    FZ_CHECK(err == NULL, "base: the normalised URL does not parse again", b.url);
    FZ_CHECK(strcmp(again.url, b.url) == 0 && strcmp(again.origin, b.origin) == 0
             && again.port == b.port && strcmp(again.host, b.host) == 0,
             "base: normalisation is not stable", b.url);
}

/* host[:port] as a browser reads it: host compared without case, the port
 * as a number (leading zeros allowed, as in the WHATWG URL parser), 443 when
 * absent. */
static int allowed_authority(const char *a, size_t n)
{
    static const char *const hosts[] = {"sp.fuzz.test", "portal.fuzz.test"};
    const char *colon = memchr(a, ':', n);
    size_t host_len = colon ? (size_t)(colon - a) : n;
    long port = 443;
    if (colon != NULL) {
        const char *d = colon + 1, *end = a + n;
        if (d == end) {
            return 0;
        }
        port = 0;
        for (; d < end; d++) {
            if (*d < '0' || *d > '9' || port > 65535) {
                return 0;
            }
            port = port * 10 + (*d - '0');
        }
    }
    for (size_t i = 0; i < sizeof(hosts) / sizeof(hosts[0]); i++) {
        if (strlen(hosts[i]) == host_len && strncasecmp(a, hosts[i], host_len) == 0) {
            return port == 443;
        }
    }
    return 0;
}

static void check_target(apr_pool_t *p, const char *text)
{
    const char *t = ib_url_check_target(p, text, &base, origins);
    if (t == NULL) {
        return;
    }
    FZ_CHECK(strcmp(t, text) == 0, "target: accepted, but not returned as given", text);
    for (const char *c = t; *c; c++) {
        FZ_CHECK((unsigned char)*c > 0x20 && *c != 0x7f && *c != '\\',
                 "target: accepted with a space, control character or backslash", text);
    }
    if (t[0] == '/') {
        FZ_CHECK(t[1] != '/' && t[1] != '\\', "target: accepted a protocol-relative URL", text);
        return;
    }
    FZ_CHECK(strncasecmp(t, "https://", 8) == 0, "target: accepted a non-https URL", text);
    const char *a = t + 8;
    size_t n = strcspn(a, "/?#");
    FZ_CHECK(allowed_authority(a, n), "target: accepted a URL to another origin", text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    apr_pool_t *p = fz_pool();
    const char *text = fz_cstr(data, size);
    check_base(p, text);
    ib_url_check_idp_endpoint(p, text);
    ib_url_host_is_loopback(text);
    check_target(p, text);
    fz_done();
    return 0;
}
