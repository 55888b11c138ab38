/* The one clock of the protocol core.
 *
 * Every decision that depends on "now" (key activation, certificate validity,
 * assertion conditions) asks ib_now(), so tests can move time to both sides of
 * a rotation instant without waiting. All time handling is UTC-only: the
 * conversion helpers use timegm/gmtime_r, which never consult /etc/localtime
 * (a measurable cost under httpd when TZ is unset, see STYLE.md). */
#ifndef IB_CLOCK_H
#define IB_CLOCK_H

#include <time.h>

#include <apr_time.h>

/* "YYYY-MM-DDTHH:MM:SSZ" plus the terminating NUL. */
#define IB_UTC_TIME_LEN 21

apr_time_t ib_now(void);

/* Test hook: pin the clock to t (0 restores the real clock). Only unit tests
 * and the CLI's --at option call it, before any request is served. */
void ib_clock_pin(apr_time_t t);

/* Parses exactly "YYYY-MM-DDTHH:MM:SSZ" (the form operators write for
 * activation instants); returns APR_SUCCESS or APR_EINVAL. */
apr_status_t ib_time_parse_utc(const char *text, apr_time_t *out);

/* Parses an xs:dateTime in UTC as SAML uses it: "YYYY-MM-DDTHH:MM:SS" with
 * optional fractional seconds and a mandatory 'Z'. */
apr_status_t ib_time_parse_xsd(const char *text, apr_time_t *out);

/* Parses an xsd:duration (e.g. "PT6H", "P1DT12H", "PT90.5S") as used by
 * metadata cacheDuration. Years count 365 days, months 30. */
apr_status_t ib_duration_parse_xsd(const char *text, apr_interval_time_t *out);

/* Formats t as "YYYY-MM-DDTHH:MM:SSZ" into buf (IB_UTC_TIME_LEN bytes). */
void ib_time_format_utc(apr_time_t t, char buf[IB_UTC_TIME_LEN]);

/* Seconds since the epoch <-> apr_time_t without any local-time lookup. */
apr_time_t ib_time_from_tm_utc(struct tm *tm);

#endif
