#include <string.h>

#include <apr_file_io.h>
#include <apr_lib.h>
#include <apr_strings.h>
#include <apr_tables.h>

#include "ib_pages.h"
#include "ib_status.h"
#include "ib_text.h"

#define MARKER_SHOWN_MAX 40     /* of an unknown marker, in the message */

const char *const ib_page_field_names[IB_PAGE_N_FIELDS] = {
    "title", "message", "txid", "time", "reason_class", "support", "details",
    "lang",
};

typedef struct {
    const char *text;           /* a literal piece, or NULL for a field */
    apr_size_t len;
    ib_page_field field;
} segment;

struct ib_page_template {
    apr_array_header_t *segments;   /* segment */
    unsigned used;                  /* bit per ib_page_field */
};

static int line_at(const char *text, apr_size_t off)
{
    int line = 1;
    for (apr_size_t i = 0; i < off; i++) {
        line += text[i] == '\n';
    }
    return line;
}

static void add_literal(ib_page_template *t, const char *text, apr_size_t len)
{
    if (len > 0) {
        segment *s = apr_array_push(t->segments);
        s->text = text;
        s->len = len;
        s->field = IB_PAGE_N_FIELDS;
    }
}

static int field_named(const char *name, apr_size_t len)
{
    for (int i = 0; i < IB_PAGE_N_FIELDS; i++) {
        if (strlen(ib_page_field_names[i]) == len
            && strncmp(ib_page_field_names[i], name, len) == 0) {
            return i;
        }
    }
    return -1;
}

static const char *known_list(apr_pool_t *p)
{
    const char *list = "";
    for (int i = 0; i < IB_PAGE_N_FIELDS; i++) {
        list = apr_pstrcat(p, list, i ? ", " : "", "{{", ib_page_field_names[i], "}}", NULL);
    }
    return list;
}

/* The marker as written, printable and short, for the message. */
static const char *shown(apr_pool_t *p, const char *s, apr_size_t len)
{
    char *out = apr_pstrndup(p, s, len > MARKER_SHOWN_MAX ? MARKER_SHOWN_MAX : len);
    for (char *c = out; *c; c++) {
        if ((unsigned char)*c < 0x20 || (unsigned char)*c >= 0x7f) {
            *c = '?';
        }
    }
    return len > MARKER_SHOWN_MAX ? apr_pstrcat(p, out, "...", NULL) : out;
}

const char *ib_page_template_parse(apr_pool_t *p, const char *name, const char *text,
                                   apr_size_t len, ib_page_template **out)
{
    apr_size_t bad;
    if (len > IB_PAGE_TEMPLATE_MAX) {
        return apr_psprintf(p, "%s: larger than %d bytes", name, IB_PAGE_TEMPLATE_MAX);
    }
    if (memchr(text, '\0', len) != NULL) {
        bad = (apr_size_t)((const char *)memchr(text, '\0', len) - text);
        return apr_psprintf(p, "%s:%d: contains a NUL byte", name, line_at(text, bad));
    }
    if (!ib_utf8_valid(text, len, &bad)) {
        return apr_psprintf(p, "%s:%d: is not UTF-8 (byte %" APR_SIZE_T_FMT ")", name,
                            line_at(text, bad), bad + 1);
    }
    if (len >= 3 && memcmp(text, "\xef\xbb\xbf", 3) == 0) {
        text += 3, len -= 3;    /* a byte order mark is not part of the page */
    }
    ib_page_template *t = apr_pcalloc(p, sizeof(*t));
    t->segments = apr_array_make(p, 16, sizeof(segment));
    apr_size_t i = 0, lit = 0;
    while (i + 1 < len) {
        if (text[i] != '{' || text[i + 1] != '{') {
            i++;
            continue;
        }
        const char *end = NULL;
        for (apr_size_t j = i + 2; j + 1 < len; j++) {
            if (text[j] == '}' && text[j + 1] == '}') {
                end = text + j;
                break;
            }
        }
        if (end == NULL) {
            return apr_psprintf(p, "%s:%d: '{{' without a closing '}}'; the markers are %s",
                                name, line_at(text, i), known_list(p));
        }
        const char *n = text + i + 2;
        const char *e = end;
        while (n < e && (*n == ' ' || *n == '\t')) {
            n++;
        }
        while (e > n && (e[-1] == ' ' || e[-1] == '\t')) {
            e--;
        }
        int f = field_named(n, (apr_size_t)(e - n));
        if (f < 0) {
            return apr_psprintf(p, "%s:%d: unknown marker {{%s}}; the markers are %s", name,
                                line_at(text, i), shown(p, text + i + 2,
                                                        (apr_size_t)(end - text) - i - 2),
                                known_list(p));
        }
        add_literal(t, text + lit, i - lit);
        segment *s = apr_array_push(t->segments);
        s->text = NULL;
        s->len = 0;
        s->field = (ib_page_field)f;
        t->used |= 1u << f;
        i = lit = (apr_size_t)(end - text) + 2;
    }
    add_literal(t, text + lit, len - lit);
    *out = t;
    return NULL;
}

const char *ib_page_template_load(apr_pool_t *p, const char *path, ib_page_template **out)
{
    apr_file_t *f;
    apr_status_t rv = apr_file_open(&f, path, APR_FOPEN_READ | APR_FOPEN_BINARY,
                                    APR_FPROT_OS_DEFAULT, p);
    if (rv != APR_SUCCESS) {
        char buf[120];
        return apr_psprintf(p, "cannot read '%s': %s", path,
                            apr_strerror(rv, buf, sizeof(buf)));
    }
    apr_size_t cap = IB_PAGE_TEMPLATE_MAX + 1, len = 0;
    char *text = apr_palloc(p, cap + 1);
    while (len < cap) {
        apr_size_t n = cap - len;
        rv = apr_file_read(f, text + len, &n);
        len += n;
        if (rv != APR_SUCCESS) {
            break;
        }
    }
    apr_file_close(f);
    if (rv != APR_SUCCESS && rv != APR_EOF) {
        char buf[120];
        return apr_psprintf(p, "cannot read '%s': %s", path,
                            apr_strerror(rv, buf, sizeof(buf)));
    }
    text[len] = '\0';
    return ib_page_template_parse(p, path, text, len, out);
}

int ib_page_template_uses(const ib_page_template *t, ib_page_field f)
{
    return (t->used >> f) & 1u;
}

const char *ib_page_details_html(apr_pool_t *p, const apr_array_header_t *details)
{
    if (details == NULL || details->nelts == 0) {
        return "";
    }
    const char *out = "<ul lang=\"en\">\n";
    for (int i = 0; i < details->nelts; i++) {
        const ib_page_detail *d = &APR_ARRAY_IDX(details, i, ib_page_detail);
        out = apr_pstrcat(p, out, "<li><code>", ib_html_escape(p, d->name), "</code>: ",
                          ib_html_escape(p, d->text), "</li>\n", NULL);
    }
    return apr_pstrcat(p, out, "</ul>\n", NULL);
}

const char *ib_page_details_text(apr_pool_t *p, const apr_array_header_t *details)
{
    const char *out = "";
    for (int i = 0; details != NULL && i < details->nelts; i++) {
        const ib_page_detail *d = &APR_ARRAY_IDX(details, i, ib_page_detail);
        out = apr_pstrcat(p, out, i ? "; " : "", d->name, ": ", d->text, NULL);
    }
    return out;
}

const char *ib_page_render_details(apr_pool_t *p, const ib_page_template *t,
                                   const char *const values[IB_PAGE_N_FIELDS],
                                   const apr_array_header_t *details)
{
    const char *escaped[IB_PAGE_N_FIELDS];
    apr_size_t total = 0;
    for (int i = 0; i < IB_PAGE_N_FIELDS; i++) {
        escaped[i] = i == IB_PAGE_DETAILS ? ib_page_details_html(p, details)
                                          : ib_html_escape(p, values[i]);
    }
    const segment *segs = (const segment *)t->segments->elts;
    for (int i = 0; i < t->segments->nelts; i++) {
        total += segs[i].text ? segs[i].len : strlen(escaped[segs[i].field]);
    }
    char *out = apr_palloc(p, total + 1), *o = out;
    for (int i = 0; i < t->segments->nelts; i++) {
        const char *s = segs[i].text ? segs[i].text : escaped[segs[i].field];
        apr_size_t n = segs[i].text ? segs[i].len : strlen(s);
        memcpy(o, s, n);
        o += n;
    }
    *o = '\0';
    return out;
}

const char *ib_page_render(apr_pool_t *p, const ib_page_template *t,
                           const char *const values[IB_PAGE_N_FIELDS])
{
    return ib_page_render_details(p, t, values, NULL);
}

static ib_tenant_pages *pages_of(apr_pool_t *p, ib_tenant *t)
{
    if (t->pages == NULL) {
        t->pages = apr_pcalloc(p, sizeof(*t->pages));
    }
    return t->pages;
}

const char *ib_pages_set_template(apr_pool_t *p, ib_tenant *t, const char *path)
{
    ib_page_template *tpl;
    const char *err = ib_page_template_load(p, path, &tpl);
    if (err != NULL) {
        return apr_pstrcat(p, "IdBrokerErrorTemplate: ", err, NULL);
    }
    ib_tenant_pages *pages = pages_of(p, t);
    pages->template_path = apr_pstrdup(p, path);
    pages->tpl = tpl;
    return NULL;
}

const char *ib_pages_set_support(apr_pool_t *p, ib_tenant *t, int argc,
                                 const char *const *argv)
{
    const char *text = "";
    for (int i = 0; i < argc; i++) {
        text = apr_pstrcat(p, text, i ? " " : "", argv[i], NULL);
    }
    apr_size_t n = strlen(text);
    if (n == 0 || n > IB_SUPPORT_CONTACT_MAX) {
        return apr_psprintf(p, "IdBrokerSupportContact takes 1 to %d characters of text",
                            IB_SUPPORT_CONTACT_MAX);
    }
    if (!ib_utf8_valid(text, n, NULL)) {
        return "IdBrokerSupportContact: the text is not UTF-8";
    }
    for (const char *c = text; *c; c++) {
        if ((unsigned char)*c < 0x20 || *c == 0x7f) {
            return "IdBrokerSupportContact: the text contains a control character";
        }
    }
    pages_of(p, t)->support = text;
    return NULL;
}
