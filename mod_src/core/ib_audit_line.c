#include <string.h>
#include <strings.h>

#include <apr_lib.h>
#include <apr_strings.h>
#include <cjson/cJSON.h>

#include "ib_audit_line.h"
#include "ib_text.h"

/* ---- reason codes ------------------------------------------------------- */

/* Outcomes that end an attempt well (or are no attempt's end): no code. */
static const char *const good_outcomes[] = {
    "success", "redirect", "handoff", "sent-to-idp", "idp-initiated", "no-session",
};

static const char *const detail_outcomes[] = {"hint", "sha1", "replay-unchecked"};

/* Reason texts (ib_saml_response.c, ib_oidc.c, the handlers) to codes: the
 * first rule whose fragment occurs in the lowercased text wins, so the more
 * specific rules come first. Values the texts quote ('...' or "...", e.g.
 * an Issuer) are left out first: what a sender put there cannot pick the
 * code. A text with "answered" is an IdP's own error, whatever follows.
 * The codes are documented in docs/audit-log.md and must keep their meaning;
 * tests/integration/test_audit.py checks those of the failures it provokes. */
static const struct { const char *fragment; const char *code; } rules[] = {
    {"answered", "idp-error"},          /* first: what follows is the IdP's */
    {"session store", "store-down"},
    {"replay cache", "store-down"},
    {"(replay)", "replay"},
    {"already processed", "replay"},
    {"no pending", "unknown-request"},
    {"does not match the request", "unknown-request"},
    {"unsolicited", "unsolicited"},
    {"no idp connection", "not-configured"},
    {"no tenant for this location", "not-configured"},
    {"openid provider", "idp-unavailable"},
    {"could not be reached", "idp-unavailable"},
    {"certificate is valid now", "idp-cert-invalid"},
    {"sp signing key", "sp-key"},
    {"sha-1", "weak-algorithm"},
    {"key is unknown", "unknown-key"},
    {"key id is not in", "unknown-key"},
    {"signature", "bad-signature"},
    {"signed", "bad-signature"},
    {"decrypt", "decrypt-failed"},
    {"expired", "expired"},
    {"took too long", "expired"},
    {"not yet valid", "not-yet-valid"},
    {"not valid yet", "not-yet-valid"},
    {"in the future", "not-yet-valid"},
    {"issuer", "bad-issuer"},
    {"audience", "bad-audience"},
    {"aud does not", "bad-audience"},
    {"azp is not", "bad-audience"},
    {"entra tenant", "wrong-tenant"},
    {"recipient", "wrong-endpoint"},
    {"destination", "wrong-endpoint"},
    {"another app", "wrong-endpoint"},
    {"app's portal", "wrong-endpoint"},
    {"valid token or from another origin", "logout-token"},
    {"nonce", "state-mismatch"},
    {"state", "state-mismatch"},
    {"logout skipped", "idp-logout-skipped"},
    {"refused the code", "idp-error"},
    {"userinfo", "idp-error"},
    {"random generator", "internal"},
    {"could not be built", "internal"},
    {"lasso could not", "internal"},
    {"base64", "malformed"},
    {"well-formed", "malformed"},
    {"doctype", "malformed"},
    {"utf-8", "malformed"},
    {"not a saml", "malformed"},
    {"readable form", "malformed"},
    {"larger than", "malformed"},
    {"could not be read", "malformed"},
    {"more than one", "malformed"},
    {"direct child", "malformed"},
    {"sits somewhere", "malformed"},
    {"without samlrequest", "malformed"},
    {"no samlresponse", "malformed"},
    {"authorization code", "malformed"},
    {"json", "malformed"},
    {"has no", "malformed"},
};

/* Error-page classes (ib_strings.c) that say more than the reason text. */
static const struct { const char *page_class; const char *code; } class_codes[] = {
    {"cancelled", "cancelled"},
    {"expired", "expired"},
    {"not-configured", "not-configured"},
};

static int in_list(const char *s, const char *const *list, size_t n)
{
    for (size_t i = 0; s != NULL && i < n; i++) {
        if (strcmp(s, list[i]) == 0) {
            return 1;
        }
    }
    return 0;
}

int ib_audit_outcome_is_detail(const char *outcome)
{
    return in_list(outcome, detail_outcomes, sizeof(detail_outcomes) / sizeof(detail_outcomes[0]));
}

/* reason, lowercased, without quoted values: a quote opens after a space,
 * '(' or '=' (so "app's" is no quote) and closes at the same character. */
static void unquoted_lower(const char *reason, char *out, apr_size_t size)
{
    apr_size_t o = 0;
    char quote = 0;
    for (const char *c = reason; *c && o + 1 < size; c++) {
        if (quote) {
            if (*c == quote) {
                quote = 0;
                out[o++] = *c;
            }
            continue;
        }
        if ((*c == '\'' || *c == '"') && (c == reason || c[-1] == ' ' || c[-1] == '('
                                         || c[-1] == '=')) {
            quote = *c;
        }
        out[o++] = (char)apr_tolower(*c);
    }
    out[o] = '\0';
}

const char *ib_audit_reason_code(const char *outcome, const char *page_class,
                                 const char *reason)
{
    if (in_list(outcome, good_outcomes, sizeof(good_outcomes) / sizeof(good_outcomes[0]))) {
        return NULL;
    }
    if (outcome != NULL && strcmp(outcome, "attribute-error") == 0) {
        return "attribute-error";
    }
    for (size_t i = 0; page_class != NULL && i < sizeof(class_codes) / sizeof(class_codes[0]); i++) {
        if (strcmp(page_class, class_codes[i].page_class) == 0) {
            return class_codes[i].code;
        }
    }
    if (reason != NULL) {
        char lower[512];
        unquoted_lower(reason, lower, sizeof(lower));
        for (size_t i = 0; i < sizeof(rules) / sizeof(rules[0]); i++) {
            if (strstr(lower, rules[i].fragment) != NULL) {
                return rules[i].code;
            }
        }
    }
    if (outcome != NULL && strcmp(outcome, "idp-failed") == 0) {
        return "idp-error";
    }
    return "other";
}

/* ---- formats ------------------------------------------------------------ */

#define N_FIELDS 11

static void fields_of(const ib_audit_record *rec, const char *time, const char *v[N_FIELDS])
{
    const char *all[N_FIELDS] = {time, rec->txid, rec->event, rec->outcome, rec->tenant,
                                 rec->app, rec->protocol, rec->idp, rec->user, rec->client,
                                 rec->reason};
    memcpy(v, all, sizeof(all));
}

static const char *const names[N_FIELDS] = {
    "time", "txid", "event", "outcome", "tenant", "app", "protocol", "idp", "user",
    "client", "reason",
};

/* Free-form values, quoted in kv whatever they hold. */
#define QUOTED_FIELD(i) ((i) == 7 || (i) == 8)

static int bare_ok(const char *s)
{
    if (*s == '\0') {
        return 0;
    }
    for (const char *c = s; *c; c++) {
        if (!apr_isalnum(*c) && !strchr("._:/@+-", *c)) {
            return 0;
        }
    }
    return 1;
}

/* "..." with \" \\ \n \r \t and \xHH for other control bytes and bytes
 * that are not UTF-8; well-formed UTF-8 passes as it is. */
static const char *kv_quote(apr_pool_t *p, const char *s)
{
    apr_size_t n = strlen(s);
    char *out = apr_palloc(p, 4 * n + 3), *o = out;
    *o++ = '"';
    for (apr_size_t i = 0; i < n;) {
        unsigned char c = (unsigned char)s[i];
        apr_size_t len = ib_utf8_char_len(s + i, n - i);
        if (c == '"' || c == '\\') {
            *o++ = '\\', *o++ = (char)c;
        } else if (c == '\n') {
            *o++ = '\\', *o++ = 'n';
        } else if (c == '\r') {
            *o++ = '\\', *o++ = 'r';
        } else if (c == '\t') {
            *o++ = '\\', *o++ = 't';
        } else if (c < 0x20 || c == 0x7f || len == 0) {
            o += apr_snprintf(o, 5, "\\x%02x", c);
        } else {
            memcpy(o, s + i, len);
            o += len;
            i += len;
            continue;
        }
        i++;
    }
    *o++ = '"';
    *o = '\0';
    return out;
}

/* JSON strings must be UTF-8: bytes that are not become U+FFFD. */
static const char *utf8_clean(apr_pool_t *p, const char *s)
{
    apr_size_t n = strlen(s);
    if (ib_utf8_valid(s, n, NULL)) {
        return s;
    }
    char *out = apr_palloc(p, 3 * n + 1), *o = out;
    for (apr_size_t i = 0; i < n;) {
        apr_size_t len = ib_utf8_char_len(s + i, n - i);
        if (len == 0) {
            memcpy(o, "\xef\xbf\xbd", 3);
            o += 3;
            i++;
        } else {
            memcpy(o, s + i, len);
            o += len;
            i += len;
        }
    }
    *o = '\0';
    return out;
}

static const char *format_kv(apr_pool_t *p, const char *const v[N_FIELDS])
{
    const char *line = "";
    for (int i = 0; i < N_FIELDS; i++) {
        const char *val = v[i] == NULL ? "-"
                          : !QUOTED_FIELD(i) && bare_ok(v[i]) ? v[i] : kv_quote(p, v[i]);
        line = apr_pstrcat(p, line, i ? " " : "", names[i], "=", val, NULL);
    }
    return apr_pstrcat(p, line, "\n", NULL);
}

static const char *format_json(apr_pool_t *p, const char *const v[N_FIELDS])
{
    cJSON *o = cJSON_CreateObject();
    if (o == NULL) {
        return NULL;
    }
    for (int i = 0; i < N_FIELDS; i++) {
        if (v[i] == NULL) {
            cJSON_AddNullToObject(o, names[i]);
        } else {
            cJSON_AddStringToObject(o, names[i], utf8_clean(p, v[i]));
        }
    }
    char *text = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (text == NULL) {
        return NULL;
    }
    const char *line = apr_pstrcat(p, text, "\n", NULL);
    cJSON_free(text);
    return line;
}

const char *ib_audit_format_line(apr_pool_t *p, const ib_audit_record *rec,
                                 ib_audit_format format)
{
    apr_time_exp_t tm;
    apr_time_exp_gmt(&tm, rec->time);
    const char *time = apr_psprintf(p, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
                                    tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                                    tm.tm_min, tm.tm_sec, tm.tm_usec / 1000);
    const char *v[N_FIELDS];
    fields_of(rec, time, v);
    /* Escaping grows a value at most sixfold (JSON \u00XX): 11 fields of
     * 48 bytes always fit; longer values are cut only when needed. */
    static const apr_size_t caps[] = {512, 160, 48};
    for (size_t attempt = 0; attempt < sizeof(caps) / sizeof(caps[0]); attempt++) {
        const char *cut[N_FIELDS];
        for (int i = 0; i < N_FIELDS; i++) {
            cut[i] = v[i] ? ib_text_cut(p, v[i], caps[attempt]) : NULL;
        }
        const char *line = format == IB_AUDIT_JSON ? format_json(p, cut) : format_kv(p, cut);
        if (line != NULL && strlen(line) <= IB_AUDIT_LINE_MAX) {
            return line;
        }
    }
    return NULL;
}
