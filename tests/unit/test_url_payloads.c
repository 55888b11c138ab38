/* ib_url_check_target against the shared payload lists of tests/data:
 * open_redirects.txt (every line must be refused) and allowed_redirects.txt
 * (every line must come back unchanged). The integration test
 * tests/integration/test_open_redirects.py sends the same lists through the
 * module's HTTP entry points; the file format is described at the top of
 * open_redirects.txt. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <apr_hash.h>
#include <apr_strings.h>

#include "core/ib_url.h"
#include "test_support.h"

#define MIN_PAYLOADS 300
#define LONG_LEN 1100

/* The tenant the payloads are materialised for, as in test_redirect.c. */
#define BASE_URL "https://trusted.example"
#define ALLOWED_ORIGIN "https://portal.example.test"

typedef struct {
    const char *category;
    const char *text;     /* materialised; may hold a NUL (len says how long) */
    apr_size_t len;
    int line;
} payload;

/* tests/data from the source tree: $srcdir (set by `make check`), the
 * current directory, or its parent (build-asan/ inside the repository,
 * whose mirror copies no test data). */
static const char *data_path(const char *file)
{
    const char *dirs[] = {getenv("IB_TEST_DATA_DIR"), NULL, "tests/data", "../tests/data"};
    const char *srcdir = getenv("srcdir");
    dirs[1] = srcdir ? apr_pstrcat(test_pool(), srcdir, "/tests/data", NULL) : NULL;
    for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
        if (dirs[i] == NULL) {
            continue;
        }
        const char *p = apr_pstrcat(test_pool(), dirs[i], "/", file, NULL);
        FILE *f = fopen(p, "rb");
        if (f != NULL) {
            fclose(f);
            return p;
        }
    }
    ck_abort_msg("tests/data/%s not found (set IB_TEST_DATA_DIR)", file);
    return NULL;
}

static const char *placeholder_value(const char *name, apr_size_t n)
{
    static const struct {
        const char *name, *value;
    } table[] = {
        {"ORIGIN", BASE_URL}, {"TRUSTED", "trusted.example"}, {"HOST", "trusted.example"},
        {"PORT", "443"}, {"SCHEME", "https"}, {"ALT", "http"},
        {"TAB", "\t"}, {"LF", "\n"}, {"CR", "\r"}, {"VT", "\v"}, {"FF", "\f"},
        {"SP", " "}, {"NUL", ""}, {"DEL", "\x7f"}, {"ESC", "\x1b"},
    };
    for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
        if (strlen(table[i].name) == n && strncmp(table[i].name, name, n) == 0) {
            return table[i].value;
        }
    }
    if (n == 4 && strncmp(name, "LONG", 4) == 0) {
        char *a = apr_palloc(test_pool(), LONG_LEN + 1);
        memset(a, 'a', LONG_LEN);
        a[LONG_LEN] = '\0';
        return a;
    }
    return NULL;
}

/* The payload with its placeholders replaced; {NUL} becomes a real NUL byte
 * (which a C caller such as the module's glue truncates at). */
static payload materialise(const char *category, const char *line, int lineno)
{
    apr_size_t cap = strlen(line) + LONG_LEN + 64, n = 0;
    char *out = apr_palloc(test_pool(), cap + 1);
    for (const char *s = line; *s;) {
        const char *close = *s == '{' ? strchr(s, '}') : NULL;
        if (close == NULL) {
            ck_assert_msg(n < cap, "payload on line %d too long", lineno);
            out[n++] = *s++;
            continue;
        }
        const char *v = placeholder_value(s + 1, (apr_size_t)(close - s - 1));
        ck_assert_msg(v != NULL, "line %d: unknown placeholder %.*s", lineno,
                      (int)(close - s + 1), s);
        apr_size_t vl = strlen(v);
        ck_assert_msg(n + vl + 1 < cap, "payload on line %d too long", lineno);
        if (strncmp(s, "{NUL}", 5) == 0) {
            out[n++] = '\0';
        } else {
            memcpy(out + n, v, vl);
            n += vl;
        }
        s = close + 1;
    }
    out[n] = '\0';
    payload p = {category, out, n, lineno};
    return p;
}

static apr_array_header_t *load(const char *file)
{
    char *text = apr_pstrdup(test_pool(), read_text_file(data_path(file), NULL));
    apr_array_header_t *out = apr_array_make(test_pool(), 512, sizeof(payload));
    const char *category = NULL;
    int lineno = 0;
    char *state = NULL;
    /* strtok_r would merge empty lines and lose the numbering: split by hand. */
    for (char *line = text; line != NULL; line = state) {
        char *nl = strchr(line, '\n');
        state = nl ? nl + 1 : NULL;
        if (nl) {
            *nl = '\0';
        }
        lineno++;
        if (*line == '\0' || *line == '#') {
            continue;
        }
        if (*line == '[') {
            category = apr_pstrndup(test_pool(), line + 1, strcspn(line + 1, "]"));
            continue;
        }
        ck_assert_msg(category != NULL, "%s:%d: payload before any [category]", file, lineno);
        APR_ARRAY_PUSH(out, payload) = materialise(category, line, lineno);
    }
    return out;
}

static const char *check(const char *target)
{
    ib_base_url base;
    memset(&base, 0, sizeof(base));
    ck_assert_ptr_null(ib_url_parse_base(test_pool(), BASE_URL, &base));
    apr_array_header_t *origins = apr_array_make(test_pool(), 1, sizeof(const char *));
    APR_ARRAY_PUSH(origins, const char *) = ALLOWED_ORIGIN;
    return ib_url_check_target(test_pool(), target, &base, origins);
}

/* Printable form for failure messages. */
static const char *shown(const payload *p)
{
    char *out = apr_palloc(test_pool(), p->len * 4 + 1), *o = out;
    for (apr_size_t i = 0; i < p->len; i++) {
        unsigned char c = (unsigned char)p->text[i];
        if (c < 0x20 || c == 0x7f) {
            o += sprintf(o, "\\x%02x", c);
        } else {
            *o++ = (char)c;
        }
    }
    *o = '\0';
    return out;
}

START_TEST(test_payload_list_is_large_distinct_and_categorised)
{
    apr_array_header_t *list = load("open_redirects.txt");
    ck_assert_int_ge(list->nelts, MIN_PAYLOADS);
    apr_hash_t *seen = apr_hash_make(test_pool());
    apr_hash_t *per_category = apr_hash_make(test_pool());
    for (int i = 0; i < list->nelts; i++) {
        const payload *p = &APR_ARRAY_IDX(list, i, payload);
        const char *dup = apr_hash_get(seen, p->text, (apr_ssize_t)p->len);
        ck_assert_msg(dup == NULL, "line %d repeats line %s: %s", p->line, dup, shown(p));
        apr_hash_set(seen, p->text, (apr_ssize_t)p->len, apr_itoa(test_pool(), p->line));
        apr_hash_set(per_category, p->category, APR_HASH_KEY_STRING, p->category);
    }
    /* The tricks issue 9 names, each with its own section. */
    const char *required[] = {"backslash", "slashes", "scheme-confusion",
                              "whitespace-control", "userinfo", "idn-homoglyph",
                              "percent-encoding", "script-schemes", "nul-bytes",
                              "host-affix", "ports", "ip-hosts", "unicode-slashes",
                              "header-splitting"};
    for (size_t i = 0; i < sizeof(required) / sizeof(required[0]); i++) {
        ck_assert_msg(apr_hash_get(per_category, required[i], APR_HASH_KEY_STRING) != NULL,
                      "no [%s] section", required[i]);
    }
}
END_TEST

/* All accepted payloads in one message, so a regression shows its extent. */
START_TEST(test_every_open_redirect_payload_is_refused)
{
    apr_array_header_t *list = load("open_redirects.txt");
    const char *accepted = "";
    int bad = 0;
    for (int i = 0; i < list->nelts; i++) {
        const payload *p = &APR_ARRAY_IDX(list, i, payload);
        const char *got = check(p->text);
        if (got != NULL) {
            bad++;
            accepted = apr_psprintf(test_pool(), "%s\n  line %d [%s]: %s", accepted, p->line,
                                    p->category, shown(p));
        }
    }
    ck_assert_msg(bad == 0, "%d of %d payloads accepted:%s", bad, list->nelts, accepted);
}
END_TEST

START_TEST(test_every_allowed_target_passes_unchanged)
{
    apr_array_header_t *list = load("allowed_redirects.txt");
    ck_assert_int_ge(list->nelts, 10);
    for (int i = 0; i < list->nelts; i++) {
        const payload *p = &APR_ARRAY_IDX(list, i, payload);
        const char *got = check(p->text);
        ck_assert_msg(got != NULL && strcmp(got, p->text) == 0, "line %d [%s] refused: %s",
                      p->line, p->category, shown(p));
    }
}
END_TEST

/* Called from url_suite (test_url.c). */
void url_payload_tcases(Suite *s);

void url_payload_tcases(Suite *s)
{
    TCase *tc = test_tcase("payload_lists");
    tcase_add_test(tc, test_payload_list_is_large_distinct_and_categorised);
    tcase_add_test(tc, test_every_open_redirect_payload_is_refused);
    tcase_add_test(tc, test_every_allowed_target_passes_unchanged);
    suite_add_tcase(s, tc);
}
