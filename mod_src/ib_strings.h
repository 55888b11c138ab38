/* The texts users read on error pages, in every language the module speaks,
 * in one table (ib_strings.c). Callers of ib_error_page pass the English
 * title and message; the table knows each pair's class (the {{reason_class}}
 * of a tenant's template) and its translations. */
#ifndef IB_STRINGS_H
#define IB_STRINGS_H

#include <apr_pools.h>

/* The attribute error page's English key (ib_signin_attribute_error); its
 * list of attribute problems follows the message. */
#define IB_TEXT_ATTRIBUTE_TITLE "Sign-in Attribute Error"
#define IB_TEXT_ATTRIBUTE_MESSAGE \
    "Your identity provider signed you in, but these attributes could not be used. " \
    "Ask your administrator to check them:"

typedef struct {
    const char *lang;           /* "en", "de", ...: the html lang attribute */
    const char *page_class;     /* e.g. "expired"; "error" for texts not in the table */
    const char *title;
    const char *message;
    const char *txid_label;     /* "Transaction ID" */
    const char *support_label;  /* "Support" */
} ib_page_text;

/* The texts for an error page in the language the Accept-Language header
 * (may be NULL) prefers among those of the table, English otherwise. A
 * title/message pair the table does not know is shown as given, in English,
 * with the class of its title if the table knows that, else "error". */
void ib_page_text_for(apr_pool_t *p, const char *title, const char *message,
                      const char *accept_language, ib_page_text *out);

#endif
