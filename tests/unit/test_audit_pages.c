/* The core of the audit log and of tenant error pages, as a runner of its
 * own: ib_audit_line (reason codes for every reason text the module writes,
 * the kv and JSON lines, their escaping and length cap), ib_pages (template
 * markers, UTF-8, FILE:LINE messages, HTML escaping) and ib_text. */
#include <stdlib.h>
#include <string.h>

#include <apr_general.h>
#include <apr_strings.h>
#include <check.h>
#include <cjson/cJSON.h>

#include "core/ib_audit_line.h"
#include "core/ib_pages.h"
#include "core/ib_text.h"

static apr_pool_t *pool;

static void setup(void)
{
    apr_pool_create(&pool, NULL);
}

static void teardown(void)
{
    apr_pool_destroy(pool);
}

/* ---- reason codes ------------------------------------------------------- */

static const struct { const char *reason; const char *code; } reasons[] = {
    {"the assertion was already used (replay)", "replay"},
    {"the LogoutRequest _abc was already processed (replay)", "replay"},
    {"InResponseTo names no pending request (unknown, expired or already used)",
     "unknown-request"},
    {"state names no pending sign-in (unknown, expired or already used)", "unknown-request"},
    {"the LogoutResponse answers no pending logout (unknown, expired or used)",
     "unknown-request"},
    {"SubjectConfirmationData InResponseTo does not match the request", "unknown-request"},
    {"unsolicited Response (no InResponseTo): IdP-initiated sign-in is not supported",
     "unsolicited"},
    {"the sign-in state cookie is missing or wrong: the sign-in was not started in this "
     "browser", "state-mismatch"},
    {"RelayState does not match the pending request", "state-mismatch"},
    {"the redirect carries no valid state", "state-mismatch"},
    {"the nonce does not match the sign-in this browser started", "state-mismatch"},
    {"the Response signature does not verify", "bad-signature"},
    {"signature or message check failed in lasso: Signature element not found",
     "bad-signature"},
    {"neither the Response nor the Assertion is signed", "bad-signature"},
    {"the policy requires a signed Response", "bad-signature"},
    {"the LogoutResponse is not signed, or its signature does not verify", "bad-signature"},
    {"the ID token's key is unknown (kid1): JWKS refetched from https://x/jwks",
     "unknown-key"},
    {"the Response uses SHA-1, which this tenant does not allow (IdBrokerAllowSHA1)",
     "weak-algorithm"},
    {"the EncryptedAssertion could not be decrypted with the SP decryption key(s)",
     "decrypt-failed"},
    {"encrypted NameID received but no decryption key configured", "decrypt-failed"},
    {"the Assertion has expired (Conditions NotOnOrAfter)", "expired"},
    {"the ID token has expired (exp); check the clocks of OP and server", "expired"},
    {"the SubjectConfirmationData has expired or has no NotOnOrAfter", "expired"},
    {"the Assertion is not yet valid (Conditions NotBefore)", "not-yet-valid"},
    {"the ID token was issued in the future (iat); check the clocks", "not-yet-valid"},
    {"Issuer 'https://evil/' is not the configured IdP entity ID 'https://idp/'",
     "bad-issuer"},
    {"iss 'https://evil' is not the issuer 'https://op' (compared exactly)", "bad-issuer"},
    {"the Audience is not the SP entity ID 'https://sp'", "bad-audience"},
    {"aud does not contain this connection's client ID", "bad-audience"},
    {"tid 'x' is not the configured Entra tenant", "wrong-tenant"},
    {"Recipient 'https://x/acs' is not the ACS URL 'https://sp/saml/acs'", "wrong-endpoint"},
    {"the Response was posted to another app's ACS than its request named", "wrong-endpoint"},
    {"the pending request names a host that is not the app's portal", "wrong-endpoint"},
    {"the IdP answered urn:oasis:names:tc:SAML:2.0:status:Requester", "idp-error"},
    {"the provider answered error=server_error: the signature expired", "idp-error"},
    {"the token endpoint refused the code: HTTP 400, error=invalid_grant", "idp-error"},
    {"tenant=acme OpenID Provider: the discovery document names issuer 'x', not 'y'",
     "idp-unavailable"},
    {"the token endpoint could not be reached: timeout", "idp-unavailable"},
    {"no configured IdP certificate is valid now (expired or not yet valid)",
     "idp-cert-invalid"},
    {"session store shmcb failed to read a session: 70007", "store-down"},
    {"tenant acme has no IdP connection", "not-configured"},
    {"no tenant for this location (IdBrokerUseTenant or host)", "not-configured"},
    {"logout POST without a valid token or from another origin", "logout-token"},
    {"IdP logout skipped: no IdP logout URL", "idp-logout-skipped"},
    {"the SAMLResponse is not Base64, or decodes beyond the size limit", "malformed"},
    {"the SAMLResponse contains a DOCTYPE or entity declaration", "malformed"},
    {"the POST body is not a readable form or is larger than the limit", "malformed"},
    {"logout callback without SAMLRequest or SAMLResponse", "malformed"},
    {"the Assertion has no Subject", "malformed"},
    {"the random generator failed", "internal"},
    {"the session record could not be built (too large?)", "internal"},
    {"tenant=acme: no SP signing key is active (expired or not yet valid): refusing",
     "sp-key"},
    {"something nobody wrote yet", "other"},
};

START_TEST(reason_codes)
{
    const char *code = ib_audit_reason_code("rejected", "error", reasons[_i].reason);
    ck_assert_msg(code && strcmp(code, reasons[_i].code) == 0, "'%s': %s, not %s",
                  reasons[_i].reason, code ? code : "NULL", reasons[_i].code);
}
END_TEST

START_TEST(reason_codes_outcomes_and_classes)
{
    ck_assert_ptr_null(ib_audit_reason_code("success", NULL, "anything"));
    ck_assert_ptr_null(ib_audit_reason_code("redirect", NULL, "_request-id"));
    ck_assert_ptr_null(ib_audit_reason_code("sent-to-idp", NULL, NULL));
    ck_assert_str_eq(ib_audit_reason_code("attribute-error", NULL, "cip_upn: missing"),
                     "attribute-error");
    ck_assert_str_eq(ib_audit_reason_code("rejected", "cancelled",
                                          "the IdP answered x / AuthnFailed"), "cancelled");
    ck_assert_str_eq(ib_audit_reason_code("rejected", "expired",
                                          "the pending request has expired"), "expired");
    ck_assert_str_eq(ib_audit_reason_code("idp-failed", NULL, NULL), "idp-error");
    ck_assert_str_eq(ib_audit_reason_code("rejected", NULL, NULL), "other");
    ck_assert(ib_audit_outcome_is_detail("hint"));
    ck_assert(ib_audit_outcome_is_detail("sha1"));
    ck_assert(!ib_audit_outcome_is_detail("rejected"));
}
END_TEST

START_TEST(quoted_values_do_not_pick_the_code)
{
    /* An Issuer value chosen by the sender cannot make a bad issuer "replay". */
    ck_assert_str_eq(ib_audit_reason_code("rejected", NULL, "Issuer 'x (replay) signature "
                                          "expired' is not the configured IdP entity ID 'y'"),
                     "bad-issuer");
    ck_assert_str_eq(ib_audit_reason_code("rejected", NULL, "alg \"none expired\" is not "
                                          "allowed"), "other");
}
END_TEST

/* ---- lines ---------------------------------------------------------------- */

static ib_audit_record record(void)
{
    ib_audit_record rec = {apr_time_from_sec(1714557600) + 42000, "3d8f953d-5d7c-4408-96da-"
                           "17683e001717", "signin", "rejected", "acme", "primary", "saml",
                           "https://idp.example/e", "jane@example.test", "198.51.100.7",
                           "replay"};
    return rec;
}

START_TEST(kv_line)
{
    ib_audit_record rec = record();
    rec.tenant = NULL;
    ck_assert_str_eq(ib_audit_format_line(pool, &rec, IB_AUDIT_KV),
                     "time=2024-05-01T10:00:00.042Z txid=3d8f953d-5d7c-4408-96da-17683e001717 "
                     "event=signin outcome=rejected tenant=- app=primary protocol=saml "
                     "idp=\"https://idp.example/e\" user=\"jane@example.test\" "
                     "client=198.51.100.7 reason=replay\n");
}
END_TEST

START_TEST(kv_escaping)
{
    ib_audit_record rec = record();
    rec.user = "a\"b\\c\nd\te\x01 caf\xc3\xa9 \xff";
    rec.app = "two words";
    const char *line = ib_audit_format_line(pool, &rec, IB_AUDIT_KV);
    ck_assert_ptr_nonnull(strstr(line, " user=\"a\\\"b\\\\c\\nd\\te\\x01 caf\xc3\xa9 \\xff\" "));
    ck_assert_ptr_nonnull(strstr(line, " app=\"two words\" "));
    ck_assert_ptr_eq(strchr(line, '\n'), line + strlen(line) - 1);   /* one line */
}
END_TEST

START_TEST(json_line)
{
    ib_audit_record rec = record();
    rec.txid = NULL;
    rec.user = "bad \xff utf8 \"q\"\n";
    const char *line = ib_audit_format_line(pool, &rec, IB_AUDIT_JSON);
    ck_assert_int_eq(line[strlen(line) - 1], '\n');
    cJSON *o = cJSON_Parse(line);
    ck_assert_ptr_nonnull(o);
    ck_assert(cJSON_IsNull(cJSON_GetObjectItem(o, "txid")));
    ck_assert_str_eq(cJSON_GetObjectItem(o, "user")->valuestring,
                     "bad \xef\xbf\xbd utf8 \"q\"\n");
    ck_assert_str_eq(cJSON_GetObjectItem(o, "time")->valuestring, "2024-05-01T10:00:00.042Z");
    ck_assert_str_eq(o->child->string, "time");
    cJSON_Delete(o);
}
END_TEST

START_TEST(lines_stay_below_pipe_buf)
{
    char *huge = apr_palloc(pool, 20001);
    memset(huge, '\x01', 20000);        /* escapes to six bytes each in JSON */
    huge[20000] = '\0';
    ib_audit_record rec = {0, huge, huge, huge, huge, huge, huge, huge, huge, huge, huge};
    for (int f = IB_AUDIT_KV; f <= IB_AUDIT_JSON; f++) {
        const char *line = ib_audit_format_line(pool, &rec, (ib_audit_format)f);
        ck_assert_ptr_nonnull(line);
        ck_assert_uint_le(strlen(line), IB_AUDIT_LINE_MAX);
        ck_assert_ptr_nonnull(strstr(line, "..."));
    }
}
END_TEST

/* ---- templates -------------------------------------------------------------- */

static const char *render(const char *text, const char *const values[IB_PAGE_N_FIELDS])
{
    ib_page_template *t;
    const char *err = ib_page_template_parse(pool, "t.html", text, strlen(text), &t);
    ck_assert_msg(err == NULL, "%s", err);
    return ib_page_render(pool, t, values);
}

START_TEST(template_renders_escaped_values)
{
    const char *values[IB_PAGE_N_FIELDS] = {"<T&>", "it's \"so\"", "ID", "NOW", "expired", NULL};
    ck_assert_str_eq(render("<h1>{{title}}</h1>{{ message }}|{{txid}}{{time}}"
                            "{{reason_class}}[{{support}}]{{title}}", values),
                     "<h1>&lt;T&amp;&gt;</h1>it&#39;s &quot;so&quot;|IDNOWexpired[]"
                     "&lt;T&amp;&gt;");
    /* A value with a marker in it is text, not a marker. */
    const char *tricky[IB_PAGE_N_FIELDS] = {"{{support}}", NULL, NULL, NULL, NULL, "S"};
    ck_assert_str_eq(render("{{title}}", tricky), "{{support}}");
    ck_assert_str_eq(render("no markers { } }} {", values), "no markers { } }} {");
    ck_assert_str_eq(render("\xef\xbb\xbf{{txid}}", values), "ID");
}
END_TEST

/* {{details}}: the attribute error page's list. Each name and text is
 * escaped on its own (a name from the IdP may carry markup); the list's own
 * tags are not; no list at all renders as nothing. */
START_TEST(template_renders_the_details_list)
{
    apr_array_header_t *details = apr_array_make(pool, 2, sizeof(ib_page_detail));
    *(ib_page_detail *)apr_array_push(details) = (ib_page_detail){"cip_upn", "missing"};
    *(ib_page_detail *)apr_array_push(details) =
        (ib_page_detail){"<script>x</script>", "a&b {{title}}"};
    const char *values[IB_PAGE_N_FIELDS] = {"T", NULL, NULL, NULL, NULL, NULL, "ignored", "en"};
    ib_page_template *t;
    const char *text = "<h1>{{title}}</h1>{{ details }}<p>end</p>";
    ck_assert_ptr_null(ib_page_template_parse(pool, "t.html", text, strlen(text), &t));
    ck_assert(ib_page_template_uses(t, IB_PAGE_DETAILS));
    ck_assert_str_eq(ib_page_render_details(pool, t, values, details),
                     "<h1>T</h1><ul lang=\"en\">\n<li><code>cip_upn</code>: missing</li>\n"
                     "<li><code>&lt;script&gt;x&lt;/script&gt;</code>: a&amp;b {{title}}</li>\n"
                     "</ul>\n<p>end</p>");
    ck_assert_str_eq(ib_page_render(pool, t, values), "<h1>T</h1><p>end</p>");
    ck_assert_str_eq(ib_page_details_html(pool, NULL), "");
    ck_assert_str_eq(ib_page_details_text(pool, details),
                     "cip_upn: missing; <script>x</script>: a&b {{title}}");
}
END_TEST

START_TEST(template_errors_name_file_and_line)
{
    static const struct { const char *text; const char *message; } bad[] = {
        {"a\nb\n<p>{{nope}}</p>", "t.html:3: unknown marker {{nope}}; the markers are"},
        {"{{title}}\n{{txid", "t.html:2: '{{' without a closing '}}'"},
        {"ok\ncaf\xe9\n", "t.html:2: is not UTF-8"},
        {"\xed\xa0\x80", "t.html:1: is not UTF-8"},           /* a surrogate */
        {"{{ Title }}", "t.html:1: unknown marker {{ Title }}"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ib_page_template *t;
        const char *err = ib_page_template_parse(pool, "t.html", bad[i].text,
                                                 strlen(bad[i].text), &t);
        ck_assert_msg(err && strncmp(err, bad[i].message, strlen(bad[i].message)) == 0,
                      "%s: %s", bad[i].text, err ? err : "accepted");
    }
    ib_page_template *t;
    ck_assert_ptr_nonnull(ib_page_template_parse(pool, "t.html", "a\0b", 3, &t));
    char *big = apr_palloc(pool, IB_PAGE_TEMPLATE_MAX + 2);
    memset(big, 'x', IB_PAGE_TEMPLATE_MAX + 1);
    big[IB_PAGE_TEMPLATE_MAX + 1] = '\0';
    ck_assert_ptr_nonnull(ib_page_template_parse(pool, "t.html", big,
                                                 IB_PAGE_TEMPLATE_MAX + 1, &t));
    ck_assert_ptr_null(ib_page_template_parse(pool, "t.html", big, IB_PAGE_TEMPLATE_MAX, &t));
    ck_assert(!ib_page_template_uses(t, IB_PAGE_TXID));
}
END_TEST

START_TEST(utf8_and_cut)
{
    ck_assert_uint_eq(ib_utf8_char_len("\xc3\xa9", 2), 2);
    ck_assert_uint_eq(ib_utf8_char_len("\xc0\xaf", 2), 0);       /* overlong */
    ck_assert_uint_eq(ib_utf8_char_len("\xf4\x90\x80\x80", 4), 0); /* > U+10FFFF */
    ck_assert_uint_eq(ib_utf8_char_len("\xe2\x82", 2), 0);       /* cut short */
    ck_assert_str_eq(ib_text_cut(pool, "abcdef", 6), "abcdef");
    ck_assert_str_eq(ib_text_cut(pool, "abcdef", 4), "abcd...");
    ck_assert_str_eq(ib_text_cut(pool, "ab\xc3\xa9", 3), "ab...");   /* not mid-character */
}
END_TEST

int main(void)
{
    if (apr_initialize() != APR_SUCCESS) {
        return EXIT_FAILURE;
    }
    atexit(apr_terminate);
    Suite *s = suite_create("audit_pages");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_loop_test(tc, reason_codes, 0, sizeof(reasons) / sizeof(reasons[0]));
    tcase_add_test(tc, reason_codes_outcomes_and_classes);
    tcase_add_test(tc, quoted_values_do_not_pick_the_code);
    tcase_add_test(tc, kv_line);
    tcase_add_test(tc, kv_escaping);
    tcase_add_test(tc, json_line);
    tcase_add_test(tc, lines_stay_below_pipe_buf);
    tcase_add_test(tc, template_renders_escaped_values);
    tcase_add_test(tc, template_renders_the_details_list);
    tcase_add_test(tc, template_errors_name_file_and_line);
    tcase_add_test(tc, utf8_and_cut);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
