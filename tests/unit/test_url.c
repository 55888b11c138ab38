/* ib_url: SP base URLs and IdP endpoint URLs. */
#include <stdlib.h>
#include <string.h>

#include <apr_strings.h>

#include "core/ib_url.h"
#include "test_support.h"

static ib_base_url parse_ok(const char *text)
{
    ib_base_url b;
    memset(&b, 0, sizeof(b));
    ck_assert_no_err(ib_url_parse_base(test_pool(), text, &b));
    return b;
}

static const char *parse_err(const char *text)
{
    ib_base_url b;
    memset(&b, 0, sizeof(b));
    return ib_url_parse_base(test_pool(), text, &b);
}

/* ---- ib_url_parse_base: accepted forms ---------------------------------- */

START_TEST(test_base_url_normalises_host_case_and_trailing_slash)
{
    ib_base_url b = parse_ok("https://SAML.Example.com/");
    ck_assert_str_eq(b.url, "https://saml.example.com");
    ck_assert_str_eq(b.origin, "https://saml.example.com");
    ck_assert_str_eq(b.prefix, "");
    ck_assert_str_eq(b.host, "saml.example.com");
    ck_assert_str_eq(b.scheme, "https");
    ck_assert_uint_eq(b.port, 443);
}
END_TEST

START_TEST(test_base_url_without_path_has_empty_prefix)
{
    ib_base_url b = parse_ok("https://saml.example.com");
    ck_assert_str_eq(b.url, "https://saml.example.com");
    ck_assert_str_eq(b.prefix, "");
}
END_TEST

START_TEST(test_base_url_lowercases_scheme)
{
    ib_base_url b = parse_ok("HTTPS://saml.example.com");
    ck_assert_str_eq(b.scheme, "https");
    ck_assert_str_eq(b.url, "https://saml.example.com");
    ck_assert_uint_eq(b.port, 443);
}
END_TEST

START_TEST(test_base_url_keeps_non_default_port_in_origin)
{
    ib_base_url b = parse_ok("https://saml.example.com:8443/");
    ck_assert_uint_eq(b.port, 8443);
    ck_assert_str_eq(b.origin, "https://saml.example.com:8443");
    ck_assert_str_eq(b.url, "https://saml.example.com:8443");
    ck_assert_str_eq(b.host, "saml.example.com");
}
END_TEST

START_TEST(test_base_url_drops_default_port_443)
{
    ib_base_url b = parse_ok("https://saml.example.com:443/sso");
    ck_assert_uint_eq(b.port, 443);
    ck_assert_str_eq(b.origin, "https://saml.example.com");
    ck_assert_str_eq(b.url, "https://saml.example.com/sso");
}
END_TEST

START_TEST(test_base_url_drops_default_port_80_for_http)
{
    ib_base_url b = parse_ok("http://localhost:80/");
    ck_assert_uint_eq(b.port, 80);
    ck_assert_str_eq(b.origin, "http://localhost");
}
END_TEST

START_TEST(test_base_url_keeps_port_443_for_http)
{
    ib_base_url b = parse_ok("http://127.0.0.1:443");
    ck_assert_str_eq(b.origin, "http://127.0.0.1:443");
}
END_TEST

START_TEST(test_base_url_path_prefix_loses_trailing_slash)
{
    ib_base_url b = parse_ok("https://saml.example.com/sso/");
    ck_assert_str_eq(b.prefix, "/sso");
    ck_assert_str_eq(b.url, "https://saml.example.com/sso");
    ck_assert_str_eq(b.origin, "https://saml.example.com");
}
END_TEST

START_TEST(test_base_url_keeps_nested_prefix)
{
    ib_base_url b = parse_ok("https://apps.example.com/tenants/acme///");
    ck_assert_str_eq(b.prefix, "/tenants/acme");
    ck_assert_str_eq(b.url, "https://apps.example.com/tenants/acme");
}
END_TEST

START_TEST(test_base_url_allows_http_on_loopback_ip)
{
    ib_base_url b = parse_ok("http://127.0.0.1:8080");
    ck_assert_str_eq(b.scheme, "http");
    ck_assert_uint_eq(b.port, 8080);
    ck_assert_str_eq(b.origin, "http://127.0.0.1:8080");
    ck_assert_str_eq(b.url, "http://127.0.0.1:8080");
}
END_TEST

START_TEST(test_base_url_allows_http_on_localhost)
{
    ib_base_url b = parse_ok("http://LocalHost:8080/sso");
    ck_assert_str_eq(b.host, "localhost");
    ck_assert_str_eq(b.url, "http://localhost:8080/sso");
}
END_TEST

START_TEST(test_base_url_brackets_ipv6_host_in_origin)
{
    ib_base_url b = parse_ok("http://[::1]:8443/");
    ck_assert_str_eq(b.host, "::1");
    ck_assert_str_eq(b.origin, "http://[::1]:8443");
}
END_TEST

START_TEST(test_url_join_appends_endpoint_path)
{
    ib_base_url b = parse_ok("https://saml.example.com/sso/");
    ck_assert_str_eq(ib_url_join(test_pool(), &b, "/saml/acs"),
                     "https://saml.example.com/sso/saml/acs");
    ib_base_url r = parse_ok("https://saml.example.com:8443");
    ck_assert_str_eq(ib_url_join(test_pool(), &r, "/saml/metadata"),
                     "https://saml.example.com:8443/saml/metadata");
}
END_TEST

/* ---- ib_url_parse_base: refused forms ----------------------------------- */

START_TEST(test_base_url_rejects_http_on_public_host)
{
    const char *err = parse_err("http://saml.example.com/");
    ck_assert_err_has(err, "must use https");
    ck_assert_err_has(err, "loopback");
}
END_TEST

START_TEST(test_base_url_rejects_userinfo)
{
    ck_assert_err_has(parse_err("https://user:secret@saml.example.com/"),
                      "must not contain user:password@");
    ck_assert_err_has(parse_err("https://user@saml.example.com/"),
                      "must not contain user:password@");
}
END_TEST

START_TEST(test_base_url_rejects_query)
{
    ck_assert_err_has(parse_err("https://saml.example.com/?tenant=acme"),
                      "must not contain a ?query");
}
END_TEST

START_TEST(test_base_url_rejects_fragment)
{
    ck_assert_err_has(parse_err("https://saml.example.com/#top"),
                      "must not contain a #fragment");
}
END_TEST

START_TEST(test_base_url_rejects_space)
{
    ck_assert_err_has(parse_err("https://saml.example.com/my app"),
                      "contains a space, backslash or control character");
}
END_TEST

START_TEST(test_base_url_rejects_backslash)
{
    ck_assert_err_has(parse_err("https://saml.example.com\\@evil.example/"),
                      "contains a space, backslash or control character");
}
END_TEST

START_TEST(test_base_url_rejects_control_character)
{
    ck_assert_err_has(parse_err("https://saml.example.com/\tx"),
                      "contains a space, backslash or control character");
    ck_assert_err_has(parse_err("https://saml.example.com/\x7f"),
                      "contains a space, backslash or control character");
}
END_TEST

START_TEST(test_base_url_rejects_ftp_scheme)
{
    ck_assert_err_has(parse_err("ftp://saml.example.com/"), "must use https");
}
END_TEST

START_TEST(test_base_url_rejects_relative_urls)
{
    ck_assert_err_has(parse_err("saml.example.com"), "is not an absolute URL");
    ck_assert_err_has(parse_err("/sso"), "is not an absolute URL");
    ck_assert_err_has(parse_err("//saml.example.com/sso"), "is not an absolute URL");
    ck_assert_err_has(parse_err("https:///sso"), "is not an absolute URL");
}
END_TEST

START_TEST(test_base_url_rejects_empty)
{
    ck_assert_err_has(parse_err(""), "is empty");
    ck_assert_err_has(parse_err(NULL), "is empty");
}
END_TEST

START_TEST(test_base_url_rejects_over_long_url)
{
    char *text = apr_pstrcat(test_pool(), "https://saml.example.com/",
                             apr_pstrndup(test_pool(),
                                          "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
                                          64), NULL);
    while (strlen(text) <= 1024) {
        text = apr_pstrcat(test_pool(), text, "aaaaaaaaaaaaaaaa", NULL);
    }
    ck_assert_err_has(parse_err(text), "longer than 1024 characters");
}
END_TEST

START_TEST(test_base_url_rejects_prefix_containing_saml)
{
    ck_assert_err_has(parse_err("https://saml.example.com/saml"),
                      "has a path the module cannot use");
    ck_assert_err_has(parse_err("https://saml.example.com/sso/saml/"),
                      "has a path the module cannot use");
    ck_assert_err_has(parse_err("https://saml.example.com/saml/acs"),
                      "has a path the module cannot use");
}
END_TEST

START_TEST(test_base_url_rejects_dot_segments_and_double_slash)
{
    ck_assert_err_has(parse_err("https://saml.example.com/a/../b"),
                      "has a path the module cannot use");
    ck_assert_err_has(parse_err("https://saml.example.com/a//b"),
                      "has a path the module cannot use");
}
END_TEST

/* ---- loopback ----------------------------------------------------------- */

START_TEST(test_loopback_hosts_are_recognised)
{
    ck_assert_int_eq(ib_url_host_is_loopback("localhost"), 1);
    ck_assert_int_eq(ib_url_host_is_loopback("LOCALHOST"), 1);
    ck_assert_int_eq(ib_url_host_is_loopback("127.0.0.1"), 1);
    ck_assert_int_eq(ib_url_host_is_loopback("127.1.2.3"), 1);
    ck_assert_int_eq(ib_url_host_is_loopback("::1"), 1);
    ck_assert_int_eq(ib_url_host_is_loopback("[::1]"), 1);
}
END_TEST

START_TEST(test_public_hosts_are_not_loopback)
{
    ck_assert_int_eq(ib_url_host_is_loopback(NULL), 0);
    ck_assert_int_eq(ib_url_host_is_loopback("example.com"), 0);
    ck_assert_int_eq(ib_url_host_is_loopback("128.0.0.1"), 0);
    ck_assert_int_eq(ib_url_host_is_loopback("10.127.0.1"), 0);
    ck_assert_int_eq(ib_url_host_is_loopback("localhost.example.com"), 0);
    ck_assert_int_eq(ib_url_host_is_loopback("::2"), 0);
}
END_TEST

/* ---- ib_url_check_idp_endpoint ------------------------------------------ */

START_TEST(test_idp_endpoint_accepts_https_with_path_and_query)
{
    ck_assert_no_err(ib_url_check_idp_endpoint(test_pool(),
                                               "https://idp.example.com/adfs/ls"));
    ck_assert_no_err(ib_url_check_idp_endpoint(test_pool(),
                                               "https://idp.example.com/sso?tenant=acme"));
    ck_assert_no_err(ib_url_check_idp_endpoint(test_pool(),
                                               "https://IDP.example.com:8443/saml2"));
}
END_TEST

START_TEST(test_idp_endpoint_allows_http_on_loopback)
{
    ck_assert_no_err(ib_url_check_idp_endpoint(test_pool(), "http://127.0.0.1:9000/sso"));
    ck_assert_no_err(ib_url_check_idp_endpoint(test_pool(), "http://localhost/sso"));
}
END_TEST

START_TEST(test_idp_endpoint_rejects_http_on_public_host)
{
    const char *err = ib_url_check_idp_endpoint(test_pool(), "http://idp.example.com/sso");
    ck_assert_err_has(err, "must use https");
    ck_assert_err_has(err, "IdP endpoint URL");
}
END_TEST

START_TEST(test_idp_endpoint_rejects_fragment)
{
    ck_assert_err_has(ib_url_check_idp_endpoint(test_pool(), "https://idp.example.com/sso#x"),
                      "#fragment");
}
END_TEST

START_TEST(test_idp_endpoint_rejects_userinfo)
{
    ck_assert_err_has(ib_url_check_idp_endpoint(test_pool(),
                                                "https://admin:pw@idp.example.com/sso"),
                      "user:password@");
}
END_TEST

START_TEST(test_idp_endpoint_rejects_relative_and_other_schemes)
{
    ck_assert_err_has(ib_url_check_idp_endpoint(test_pool(), "/adfs/ls"),
                      "is not an absolute URL");
    ck_assert_err_has(ib_url_check_idp_endpoint(test_pool(), "ftp://idp.example.com/"),
                      "must use https");
    ck_assert_err_has(ib_url_check_idp_endpoint(test_pool(), "javascript://idp.example.com/"),
                      "must use https");
}
END_TEST

START_TEST(test_idp_endpoint_rejects_space_and_empty)
{
    ck_assert_err_has(ib_url_check_idp_endpoint(test_pool(), "https://idp.example.com/a b"),
                      "contains a space");
    ck_assert_err_has(ib_url_check_idp_endpoint(test_pool(), ""), "is empty");
}
END_TEST

/* ---- known core bugs (opt-in, see url_suite) ------------------------------ */

START_TEST(test_regression_hostname_starting_with_127_is_not_loopback)
{
    /* ib_url.c ib_url_host_is_loopback: strncmp(host, "127.", 4) matches
     * DNS names such as 127.attacker.example, so plain http is accepted for
     * a public host (SP base URL and IdP SSO/SLO URLs alike). */
    ck_assert_int_eq(ib_url_host_is_loopback("127.attacker.example"), 0);
    ck_assert_err_has(parse_err("http://127.attacker.example/"), "must use https");
}
END_TEST

START_TEST(test_regression_port_above_65535_is_refused)
{
    /* apr_uri_parse does not range-check the port; ib_url_parse_base stores
     * it in an apr_port_t, so :99999 silently becomes :34463. */
    ck_assert_ptr_nonnull(parse_err("https://saml.example.com:99999/"));
}
END_TEST

START_TEST(test_regression_port_zero_is_refused)
{
    ck_assert_ptr_nonnull(parse_err("https://saml.example.com:0/"));
}
END_TEST

void url_payload_tcases(Suite *s); /* test_url_payloads.c: tests/data lists */

Suite *url_suite(void)
{
    Suite *s = suite_create("url");

    TCase *tc = test_tcase("base_accepts");
    tcase_add_test(tc, test_base_url_normalises_host_case_and_trailing_slash);
    tcase_add_test(tc, test_base_url_without_path_has_empty_prefix);
    tcase_add_test(tc, test_base_url_lowercases_scheme);
    tcase_add_test(tc, test_base_url_keeps_non_default_port_in_origin);
    tcase_add_test(tc, test_base_url_drops_default_port_443);
    tcase_add_test(tc, test_base_url_drops_default_port_80_for_http);
    tcase_add_test(tc, test_base_url_keeps_port_443_for_http);
    tcase_add_test(tc, test_base_url_path_prefix_loses_trailing_slash);
    tcase_add_test(tc, test_base_url_keeps_nested_prefix);
    tcase_add_test(tc, test_base_url_allows_http_on_loopback_ip);
    tcase_add_test(tc, test_base_url_allows_http_on_localhost);
    tcase_add_test(tc, test_base_url_brackets_ipv6_host_in_origin);
    tcase_add_test(tc, test_url_join_appends_endpoint_path);
    suite_add_tcase(s, tc);

    tc = test_tcase("base_rejects");
    tcase_add_test(tc, test_base_url_rejects_http_on_public_host);
    tcase_add_test(tc, test_base_url_rejects_userinfo);
    tcase_add_test(tc, test_base_url_rejects_query);
    tcase_add_test(tc, test_base_url_rejects_fragment);
    tcase_add_test(tc, test_base_url_rejects_space);
    tcase_add_test(tc, test_base_url_rejects_backslash);
    tcase_add_test(tc, test_base_url_rejects_control_character);
    tcase_add_test(tc, test_base_url_rejects_ftp_scheme);
    tcase_add_test(tc, test_base_url_rejects_relative_urls);
    tcase_add_test(tc, test_base_url_rejects_empty);
    tcase_add_test(tc, test_base_url_rejects_over_long_url);
    tcase_add_test(tc, test_base_url_rejects_prefix_containing_saml);
    tcase_add_test(tc, test_base_url_rejects_dot_segments_and_double_slash);
    suite_add_tcase(s, tc);

    tc = test_tcase("loopback");
    tcase_add_test(tc, test_loopback_hosts_are_recognised);
    tcase_add_test(tc, test_public_hosts_are_not_loopback);
    suite_add_tcase(s, tc);

    tc = test_tcase("idp_endpoint");
    tcase_add_test(tc, test_idp_endpoint_accepts_https_with_path_and_query);
    tcase_add_test(tc, test_idp_endpoint_allows_http_on_loopback);
    tcase_add_test(tc, test_idp_endpoint_rejects_http_on_public_host);
    tcase_add_test(tc, test_idp_endpoint_rejects_fragment);
    tcase_add_test(tc, test_idp_endpoint_rejects_userinfo);
    tcase_add_test(tc, test_idp_endpoint_rejects_relative_and_other_schemes);
    tcase_add_test(tc, test_idp_endpoint_rejects_space_and_empty);
    suite_add_tcase(s, tc);

    /* Defects found in review, fixed; kept so they stay fixed. */
    tc = test_tcase("regressions");
    tcase_add_test(tc, test_regression_hostname_starting_with_127_is_not_loopback);
    tcase_add_test(tc, test_regression_port_above_65535_is_refused);
    tcase_add_test(tc, test_regression_port_zero_is_refused);
    suite_add_tcase(s, tc);

    url_payload_tcases(s);
    return s;
}
