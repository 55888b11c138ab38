/* Attribute rules shared by SAML and OIDC (ATTR-1..14, AAD-1..6): which
 * attributes make the normalised identity, how SID and GUID values are
 * decoded to their canonical strings, and what counts as an attribute error.
 * Values never appear in error reports, only attribute names and reasons. */
#ifndef IB_IDENTITY_H
#define IB_IDENTITY_H

#include <apr_pools.h>
#include <apr_tables.h>

typedef enum {
    IB_ATTR_UPN, IB_ATTR_SID, IB_ATTR_OID, IB_ATTR_EMAIL,
    IB_ATTR_DISPLAY_NAME, IB_ATTR_FIRST_NAME, IB_ATTR_LAST_NAME,
    IB_ATTR_FOREST, IB_ATTR_DOMAIN,
    IB_ATTR_COUNT
} ib_attr_id;

/* The identity's field names, which are also the default attribute names
 * (ATTR-1) and the names the portal sees. */
extern const char *const ib_attr_field_names[IB_ATTR_COUNT];

#define IB_ATTR_DIRECTORY "cip_directory"
#define IB_ATTR_FED_UPN "cip_fed_upn"
#define IB_DIRECTORY_AZUREAD "azuread"

/* Per-connection attribute names; NULL = the field is not used (ATTR-1). */
typedef struct ib_attr_names {
    const char *name[IB_ATTR_COUNT];
} ib_attr_names;

void ib_attr_names_default(ib_attr_names *names);

/* One attribute as received: Name and its values (const char *). */
typedef struct ib_raw_attr {
    const char *name;
    apr_array_header_t *values;
} ib_raw_attr;

typedef struct ib_identity {
    const char *field[IB_ATTR_COUNT]; /* canonical values; "" when absent */
    int azuread;                      /* cip_directory=azuread mode (AAD-1) */
    const char *fed_upn;              /* cip_fed_upn in that mode */
} ib_identity;

typedef struct ib_attr_problem {
    const char *name;    /* the attribute name as configured/received */
    const char *reason;  /* "missing", "not a SID", "multi-valued", ... */
} ib_attr_problem;

/* Builds the identity from received attributes. Problems (attribute
 * errors, ATTR-3/4/11, AAD-2/3/6) go to *problems (ib_attr_problem);
 * hints for the log (ignored namespaced names, empty display names) go to
 * *hints (const char *). Returns 1 when the identity is usable. */
int ib_identity_build(apr_pool_t *p, const ib_attr_names *names,
                      const apr_array_header_t *raw, int admin_flow,
                      ib_identity *out, apr_array_header_t **problems,
                      apr_array_header_t **hints);

/* A SID given as "S-1-..." or as Base64 of the binary SID, as "S-1-..."
 * (NULL when neither). */
const char *ib_sid_canonical(apr_pool_t *p, const char *value);

/* A GUID given as a string (optionally in braces, any case) or as Base64 of
 * its 16 bytes in Microsoft's mixed-endian layout, as a lowercase string
 * (NULL when neither). */
const char *ib_guid_canonical(apr_pool_t *p, const char *value);

/* 1 for "local@domain" with exactly one '@' and both parts non-empty. */
int ib_is_user_at_domain(const char *value);

#endif
