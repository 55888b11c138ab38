#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <apr_lib.h>
#include <apr_strings.h>

#include "ib_strings.h"

/* ---- the table ------------------------------------------------------------
 * One row per error page; one column per language, English first (it is the
 * key: the text callers pass). Adding a language: a code in `langs`, a
 * column in every row and in `labels`. */

#define N_LANGS 2
static const char *const langs[N_LANGS] = {"en", "de"};

static const struct {
    const char *txid[N_LANGS];
    const char *support[N_LANGS];
} labels = {
    {"Transaction ID", "Vorgangsnummer"},
    {"Support", "Support"},
};

static const struct {
    const char *page_class;
    const char *title[N_LANGS];
    const char *message[N_LANGS];
} pages[] = {
    {"error",
     {"Unable to Process Your Request", "Ihre Anfrage konnte nicht bearbeitet werden"},
     {"There was an unexpected error.", "Es ist ein unerwarteter Fehler aufgetreten."}},
    {"cancelled",
     {"Sign-in Was Cancelled", "Die Anmeldung wurde abgebrochen"},
     {"The sign-in was cancelled or refused at your identity provider. "
      "Go back to the site to start again.",
      "Die Anmeldung wurde bei Ihrem Identitätsanbieter abgebrochen oder abgelehnt. "
      "Kehren Sie zur Website zurück, um es erneut zu versuchen."}},
    {"expired",
     {"Sign-in Expired", "Die Anmeldung ist abgelaufen"},
     {"The sign-in took too long. Go back to the site to start again.",
      "Die Anmeldung hat zu lange gedauert. Kehren Sie zur Website zurück, um es erneut "
      "zu versuchen."}},
    {"not-configured",
     {"Sign-in Is Not Configured", "Die Anmeldung ist nicht eingerichtet"},
     {"Sign-in is not set up for this site yet.",
      "Die Anmeldung ist für diese Website noch nicht eingerichtet."}},
    {"unavailable",
     {"Sign-in Is Unavailable", "Die Anmeldung ist nicht verfügbar"},
     {"Sign-in is unavailable for a moment. Please try again shortly.",
      "Die Anmeldung ist kurzzeitig nicht verfügbar. Bitte versuchen Sie es gleich noch "
      "einmal."}},
    {"not-found",
     {"Not Found", "Nicht gefunden"},
     {"No SAML service provider is configured at this address.",
      "Unter dieser Adresse ist kein SAML-Dienstanbieter eingerichtet."}},
    {"logout-unconfirmed",
     {"Sign-out Could Not Be Confirmed", "Die Abmeldung konnte nicht bestätigt werden"},
     {"Use the sign-out button of the site to sign out.",
      "Melden Sie sich mit der Abmelde-Schaltfläche der Website ab."}},
    {"logout-unverified",
     {"Unable to Process Your Request", "Ihre Anfrage konnte nicht bearbeitet werden"},
     {"You are signed out of this site; the identity provider's answer could not be "
      "verified.",
      "Sie sind von dieser Website abgemeldet; die Antwort des Identitätsanbieters konnte "
      "nicht geprüft werden."}},
    {"attribute",
     {IB_TEXT_ATTRIBUTE_TITLE, "Attributfehler bei der Anmeldung"},
     {IB_TEXT_ATTRIBUTE_MESSAGE,
      "Ihr Identitätsanbieter hat Sie angemeldet, aber diese Attribute konnten nicht "
      "verwendet werden. Bitten Sie Ihre Administration, sie zu prüfen:"}},
    {"logout-refused",
     {"Unable to Process Your Request", "Ihre Anfrage konnte nicht bearbeitet werden"},
     {"The sign-out request could not be verified.",
      "Die Abmeldeanforderung konnte nicht geprüft werden."}},
};

#define N_PAGES (sizeof(pages) / sizeof(pages[0]))

/* ---- Accept-Language (RFC 9110 §12.5.4) ---------------------------------- */

/* The q value of one list element ("de-CH;q=0.7"), 1000 = 1.0. */
static int quality(const char *params)
{
    const char *q = params ? strstr(params, "q=") : NULL;
    if (q == NULL) {
        return 1000;
    }
    double v = strtod(q + 2, NULL);
    return v <= 0 ? 0 : v >= 1 ? 1000 : (int)(v * 1000 + 0.5);
}

/* Index in langs of the best match, 0 (English) when nothing matches. A
 * range matches a language when it is the language or starts with it and
 * '-' ("de-AT" matches de); "*" matches English. Equal q: the first wins. */
static int negotiate(apr_pool_t *p, const char *header)
{
    if (header == NULL) {
        return 0;
    }
    int best = 0, best_q = -1;
    char *list = apr_pstrdup(p, header), *state;
    for (char *el = apr_strtok(list, ",", &state); el; el = apr_strtok(NULL, ",", &state)) {
        char *params = strchr(el, ';');
        if (params != NULL) {
            *params++ = '\0';
        }
        char *range = el;
        while (apr_isspace(*range)) {
            range++;
        }
        apr_size_t n = strlen(range);
        while (n > 0 && apr_isspace(range[n - 1])) {
            range[--n] = '\0';
        }
        int q = quality(params);
        if (q == 0) {
            continue;
        }
        for (int i = 0; i < N_LANGS; i++) {
            apr_size_t l = strlen(langs[i]);
            int match = strcmp(range, "*") == 0 ? i == 0
                        : strncasecmp(range, langs[i], l) == 0 && (range[l] == '\0'
                                                                   || range[l] == '-');
            if (match && q > best_q) {
                best = i;
                best_q = q;
            }
        }
    }
    return best;
}

void ib_page_text_for(apr_pool_t *p, const char *title, const char *message,
                      const char *accept_language, ib_page_text *out)
{
    const char *cls = NULL;
    for (size_t i = 0; i < N_PAGES; i++) {
        if (strcmp(pages[i].title[0], title) != 0) {
            continue;
        }
        if (cls == NULL) {
            cls = pages[i].page_class;
        }
        if (strcmp(pages[i].message[0], message) == 0) {
            int l = negotiate(p, accept_language);
            out->lang = langs[l];
            out->page_class = pages[i].page_class;
            out->title = pages[i].title[l];
            out->message = pages[i].message[l];
            out->txid_label = labels.txid[l];
            out->support_label = labels.support[l];
            return;
        }
    }
    out->lang = langs[0];
    out->page_class = cls ? cls : "error";
    out->title = title;
    out->message = message;
    out->txid_label = labels.txid[0];
    out->support_label = labels.support[0];
}
