/* A tenant's own error pages (IdBrokerErrorTemplate FILE) and support contact
 * (IdBrokerSupportContact TEXT). The template is read and checked when the
 * configuration is read: it must be UTF-8, at most IB_PAGE_TEMPLATE_MAX bytes,
 * and every {{...}} marker in it must be one of ib_page_field_names, so a
 * page can never show a raw marker. Values are HTML-escaped when substituted;
 * {{details}} is a list built here from escaped items. */
#ifndef IB_PAGES_H
#define IB_PAGES_H

#include <apr_pools.h>

#include "ib_tenant.h"

#define IB_PAGE_TEMPLATE_MAX (64 * 1024)
#define IB_SUPPORT_CONTACT_MAX 256

typedef enum {
    IB_PAGE_TITLE,          /* {{title}}: the page's short title */
    IB_PAGE_MESSAGE,        /* {{message}}: one sentence for the user */
    IB_PAGE_TXID,           /* {{txid}}: the Transaction ID, also in the error log */
    IB_PAGE_TIME,           /* {{time}}: when, as YYYY-MM-DDTHH:MM:SSZ */
    IB_PAGE_REASON_CLASS,   /* {{reason_class}}: a coarse token, e.g. expired */
    IB_PAGE_SUPPORT,        /* {{support}}: IdBrokerSupportContact, or empty */
    IB_PAGE_DETAILS,        /* {{details}}: the page's list (attribute problems), or empty */
    IB_PAGE_LANG,           /* {{lang}}: the language of title and message, e.g. "de" */
    IB_PAGE_N_FIELDS
} ib_page_field;

extern const char *const ib_page_field_names[IB_PAGE_N_FIELDS];

typedef struct ib_page_template ib_page_template;

/* What ib_tenant.pages points at; NULL there = the built-in page, no contact. */
typedef struct ib_tenant_pages ib_tenant_pages;
struct ib_tenant_pages {
    const char *template_path;      /* NULL = the built-in page */
    const ib_page_template *tpl;
    const char *support;            /* NULL = none */
};

/* Parses template text; `name` is used in messages ("NAME:LINE: ..."). */
const char *ib_page_template_parse(apr_pool_t *p, const char *name, const char *text,
                                   apr_size_t len, ib_page_template **out);

/* Reads and parses a template file. */
const char *ib_page_template_load(apr_pool_t *p, const char *path, ib_page_template **out);

/* 1 when the template uses the field. */
int ib_page_template_uses(const ib_page_template *t, ib_page_field f);

/* One item of a page's list: the attribute error page's "NAME: reason". */
typedef struct {
    const char *name;           /* shown as code, e.g. the attribute name */
    const char *text;           /* what is wrong with it */
} ib_page_detail;

/* The page: the template with each marker replaced by the HTML-escaped value
 * (NULL values render as nothing). {{details}} renders as nothing. */
const char *ib_page_render(apr_pool_t *p, const ib_page_template *t,
                           const char *const values[IB_PAGE_N_FIELDS]);

/* The same with {{details}} replaced by ib_page_details_html(details);
 * values[IB_PAGE_DETAILS] is not used. */
const char *ib_page_render_details(apr_pool_t *p, const ib_page_template *t,
                                   const char *const values[IB_PAGE_N_FIELDS],
                                   const apr_array_header_t *details);

/* The list as HTML, each name and text HTML-escaped on its own:
 * <ul lang="en">\n<li><code>NAME</code>: TEXT</li>\n...</ul>\n, "" when
 * details is NULL or empty. lang="en": the texts come from the core in
 * English whatever the page's language (technical detail for the
 * administrator), so screen readers read them as English. */
const char *ib_page_details_html(apr_pool_t *p, const apr_array_header_t *details);

/* The list as one line of plain text ("NAME: TEXT; NAME: TEXT"), for a
 * template without {{details}}: the caller puts it into {{message}}. */
const char *ib_page_details_text(apr_pool_t *p, const apr_array_header_t *details);

/* The directive setters' work (ib_conf.c calls them with the open tenant). */
const char *ib_pages_set_template(apr_pool_t *p, ib_tenant *t, const char *path);
const char *ib_pages_set_support(apr_pool_t *p, ib_tenant *t, int argc,
                                 const char *const *argv);

#endif
