#include <stdio.h>
#include <string.h>
#include <time.h>

#include "ib_clock.h"

static apr_time_t pinned_now;

apr_time_t ib_now(void)
{
    return pinned_now ? pinned_now : apr_time_now();
}

void ib_clock_pin(apr_time_t t)
{
    pinned_now = t;
}

apr_time_t ib_time_from_tm_utc(struct tm *tm)
{
    time_t secs = timegm(tm);
    return apr_time_from_sec(secs);
}

static int all_digits(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return 0;
        }
    }
    return 1;
}

static int field(const char *s, size_t n)
{
    int v = 0;
    for (size_t i = 0; i < n; i++) {
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

apr_status_t ib_time_parse_utc(const char *text, apr_time_t *out)
{
    /* Positions in "YYYY-MM-DDTHH:MM:SSZ". A fixed shape keeps the parser
     * trivially correct and rejects local times (no 'Z') outright. */
    if (text == NULL || strlen(text) != IB_UTC_TIME_LEN - 1
        || text[4] != '-' || text[7] != '-' || text[10] != 'T'
        || text[13] != ':' || text[16] != ':' || text[19] != 'Z'
        || !all_digits(text, 4) || !all_digits(text + 5, 2)
        || !all_digits(text + 8, 2) || !all_digits(text + 11, 2)
        || !all_digits(text + 14, 2) || !all_digits(text + 17, 2)) {
        return APR_EINVAL;
    }
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    tm.tm_year = field(text, 4) - 1900;
    tm.tm_mon = field(text + 5, 2) - 1;
    tm.tm_mday = field(text + 8, 2);
    tm.tm_hour = field(text + 11, 2);
    tm.tm_min = field(text + 14, 2);
    tm.tm_sec = field(text + 17, 2);
    if (tm.tm_mon < 0 || tm.tm_mon > 11 || tm.tm_mday < 1 || tm.tm_mday > 31
        || tm.tm_hour > 23 || tm.tm_min > 59 || tm.tm_sec > 59) {
        return APR_EINVAL;
    }
    struct tm check = tm;
    apr_time_t t = ib_time_from_tm_utc(&check);
    /* timegm normalises 31 February into March; such a date is a typo. */
    if (check.tm_mday != tm.tm_mday || check.tm_mon != tm.tm_mon
        || check.tm_year != tm.tm_year) {
        return APR_EINVAL;
    }
    *out = t;
    return APR_SUCCESS;
}

void ib_time_format_utc(apr_time_t t, char buf[IB_UTC_TIME_LEN])
{
    time_t secs = (time_t)apr_time_sec(t);
    struct tm tm;
    gmtime_r(&secs, &tm);
    strftime(buf, IB_UTC_TIME_LEN, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

apr_status_t ib_time_parse_xsd(const char *text, apr_time_t *out)
{
    if (text == NULL || strlen(text) < IB_UTC_TIME_LEN - 1 || strlen(text) > 40) {
        return APR_EINVAL;
    }
    char whole[IB_UTC_TIME_LEN];
    memcpy(whole, text, 19);
    whole[19] = 'Z';
    whole[20] = '\0';
    const char *rest = text + 19;
    apr_time_t frac = 0;
    if (*rest == '.') {
        apr_time_t scale = APR_USEC_PER_SEC;
        rest++;
        if (!(*rest >= '0' && *rest <= '9')) {
            return APR_EINVAL;
        }
        while (*rest >= '0' && *rest <= '9') {
            scale /= 10;
            frac += (*rest - '0') * scale;
            rest++;
        }
    }
    if (strcmp(rest, "Z") != 0 || ib_time_parse_utc(whole, out) != APR_SUCCESS) {
        return APR_EINVAL;
    }
    *out += frac;
    return APR_SUCCESS;
}

/* One "<digits>[.<digits>]<unit>" item of an xsd:duration; fractions only
 * where allow_fraction (the time part), and *fraction says there was one:
 * the caller accepts it on seconds only. */
static int duration_item(const char **s, double *value, char *unit, int allow_fraction,
                         int *fraction)
{
    const char *c = *s;
    double v = 0;
    int digits = 0;
    while (*c >= '0' && *c <= '9' && digits < 12) {
        v = v * 10 + (*c++ - '0');
        digits++;
    }
    if (digits == 0 || (*c >= '0' && *c <= '9')) {
        return 0;
    }
    *fraction = 0;
    if (*c == '.' && allow_fraction) {
        double scale = 0.1;
        *fraction = 1;
        c++;
        if (!(*c >= '0' && *c <= '9')) {
            return 0;
        }
        for (; *c >= '0' && *c <= '9'; c++, scale /= 10) {
            v += (*c - '0') * scale;
        }
    }
    *unit = *c;
    *value = v;
    *s = c + 1;
    return *unit != '\0';
}

apr_status_t ib_duration_parse_xsd(const char *text, apr_interval_time_t *out)
{
    /* PnYnMnDTnHnMnS; years count 365 days and months 30: metadata caching
     * needs no calendar precision. Negative durations make no sense here. */
    static const char date_units[] = "YMD", time_units[] = "HMS";
    static const double date_secs[] = {365 * 86400.0, 30 * 86400.0, 86400.0};
    static const double time_secs[] = {3600.0, 60.0, 1.0};
    if (text == NULL || *text != 'P' || strlen(text) > 64) {
        return APR_EINVAL;
    }
    const char *s = text + 1;
    double total = 0;
    int items = 0, next = 0, in_time = 0;
    while (*s != '\0') {
        if (*s == 'T' && !in_time) {
            in_time = 1;
            next = 0;
            s++;
            if (*s == '\0') {
                return APR_EINVAL;
            }
            continue;
        }
        double v;
        char unit;
        int fraction;
        if (!duration_item(&s, &v, &unit, in_time, &fraction) || (fraction && unit != 'S')) {
            return APR_EINVAL;
        }
        const char *units = in_time ? time_units : date_units;
        const double *secs = in_time ? time_secs : date_secs;
        const char *at = strchr(units + next, unit);
        if (at == NULL) {
            return APR_EINVAL;
        }
        next = (int)(at - units) + 1;
        total += v * secs[at - units];
        items++;
    }
    if (items == 0 || total > 100.0 * 365 * 86400) {
        return APR_EINVAL;
    }
    *out = (apr_interval_time_t)(total * APR_USEC_PER_SEC);
    return APR_SUCCESS;
}
