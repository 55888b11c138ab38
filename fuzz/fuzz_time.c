/* Time values (ib_clock): ib_time_parse_utc (activation instants in the
 * configuration), ib_time_parse_xsd (every SAML IssueInstant, NotBefore,
 * NotOnOrAfter and metadata validUntil) and ib_duration_parse_xsd
 * (metadata cacheDuration).
 *
 * Input: the text.
 *
 * Invariants: a UTC instant formats back to its text (years 1000..9999)
 * and re-parses to the same instant; an xsd:dateTime without fraction is
 * the same instant as the UTC form, a fraction adds less than a second;
 * a duration is between 0 and 100 years. */
#include <string.h>

#include "core/ib_clock.h"
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
    const char *text = fz_cstr(data, size);
    apr_time_t t = 0, x = 0;
    if (ib_time_parse_utc(text, &t) == APR_SUCCESS) {
        char buf[IB_UTC_TIME_LEN];
        ib_time_format_utc(t, buf);
        if (text[0] != '0') {
            FZ_CHECK(strcmp(buf, text) == 0, "utc: formats to another text", text);
        }
        apr_time_t back = 0;
        FZ_CHECK(ib_time_parse_utc(buf, &back) != APR_SUCCESS || back == t,
                 "utc: the formatted text is another instant", text);
    }
    if (ib_time_parse_xsd(text, &x) == APR_SUCCESS) {
        FZ_CHECK(strlen(text) >= 20 && text[strlen(text) - 1] == 'Z',
                 "xsd: accepted without the final Z", text);
        char whole[IB_UTC_TIME_LEN];
        memcpy(whole, text, 19);
        whole[19] = 'Z';
        whole[20] = '\0';
        FZ_CHECK(ib_time_parse_utc(whole, &t) == APR_SUCCESS && x >= t
                 && x < t + APR_USEC_PER_SEC,
                 "xsd: not the UTC instant plus a fraction below one second", text);
    }
    apr_interval_time_t d = -1;
    if (ib_duration_parse_xsd(text, &d) == APR_SUCCESS) {
        FZ_CHECK(d >= 0 && d <= apr_time_from_sec(100LL * 365 * 86400),
                 "duration: outside 0..100 years", text);
    }
    fz_done();
    return 0;
}
