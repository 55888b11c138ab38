#include <string.h>

#include <apr_lib.h>
#include <apr_strings.h>

#include "ib_codec.h"
#include "ib_identity.h"

const char *const ib_attr_field_names[IB_ATTR_COUNT] = {
    "cip_upn", "cip_sid", "cip_oid", "cip_email",
    "displayName", "firstName", "lastName", "cip_forest", "cip_domain",
};

#define SID_MAX_SUBAUTHORITIES 15
#define GUID_BYTES 16
#define MS_CLAIMS_NS "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/"
#define ONMICROSOFT_SUFFIX ".onmicrosoft.com"

void ib_attr_names_default(ib_attr_names *names)
{
    for (int i = 0; i < IB_ATTR_COUNT; i++) {
        names->name[i] = ib_attr_field_names[i];
    }
}

static int is_sid_string(const char *s)
{
    /* ^S-1-[0-9]+(-[0-9]+){1,15}$ (ATTR-4); the authority may also be
     * 0x + 12 hex digits, the form of authorities >= 2^32 (MS-DTYP 2.4.2.1). */
    if (strncmp(s, "S-1-", 4) != 0) {
        return 0;
    }
    int groups = 0;
    const char *q = s + 4;
    if (q[0] == '0' && q[1] == 'x') {
        for (int i = 2; i < 14; i++) {
            if (!apr_isxdigit(q[i])) {
                return 0;
            }
        }
        if (q[14] != '-') {
            return 0;
        }
        q += 15;
        groups++;
    }
    while (*q) {
        const char *start = q;
        while (apr_isdigit(*q)) {
            q++;
        }
        if (q == start || q - start > 10) {
            return 0;
        }
        groups++;
        if (*q == '-') {
            q++;
            if (*q == '\0') {
                return 0;
            }
        } else if (*q != '\0') {
            return 0;
        }
    }
    return groups >= 2 && groups <= 1 + SID_MAX_SUBAUTHORITIES;
}

const char *ib_sid_canonical(apr_pool_t *p, const char *value)
{
    if (is_sid_string(value)) {
        return value;
    }
    unsigned char *b;
    long n = ib_b64_decode(p, value, 4096, &b);
    /* Binary SID: revision 1, sub-authority count c <= 15, length 8 + 4c. */
    if (n < 12 || b[0] != 1 || b[1] < 1 || b[1] > SID_MAX_SUBAUTHORITIES
        || n != 8 + 4 * b[1]) {
        return NULL;
    }
    apr_uint64_t authority = 0;
    for (int i = 2; i < 8; i++) {
        authority = (authority << 8) | b[i]; /* big-endian, 48 bits */
    }
    /* MS-DTYP 2.4.2.1: decimal below 2^32, else 0x and 12 hex digits. In
     * decimal a larger authority has up to 15 digits, which is_sid_string
     * (10 at most) refused: the canonical form did not read back as a SID
     * (found by fuzz/fuzz_identity.c). */
    char *s = authority < APR_UINT64_C(0x100000000)
              ? apr_psprintf(p, "S-1-%" APR_UINT64_T_FMT, authority)
              : apr_psprintf(p, "S-1-0x%02X%02X%02X%02X%02X%02X", b[2], b[3], b[4], b[5], b[6],
                             b[7]);
    for (int i = 0; i < b[1]; i++) {
        const unsigned char *sa = b + 8 + 4 * i; /* little-endian */
        unsigned long v = (unsigned long)sa[0] | ((unsigned long)sa[1] << 8)
                          | ((unsigned long)sa[2] << 16) | ((unsigned long)sa[3] << 24);
        s = apr_psprintf(p, "%s-%lu", s, v);
    }
    return s;
}

static int is_guid_string(const char *s)
{
    if (strlen(s) != 36) {
        return 0;
    }
    for (int i = 0; i < 36; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (s[i] != '-') {
                return 0;
            }
        } else if (!apr_isxdigit(s[i])) {
            return 0;
        }
    }
    return 1;
}

const char *ib_guid_canonical(apr_pool_t *p, const char *value)
{
    size_t n = strlen(value);
    const char *body = value;
    if (n == 38 && value[0] == '{' && value[37] == '}') {
        body = apr_pstrndup(p, value + 1, 36);
    }
    if (is_guid_string(body)) {
        char *lower = apr_pstrdup(p, body);
        for (char *c = lower; *c; c++) {
            *c = (char)apr_tolower(*c);
        }
        return lower;
    }
    unsigned char *b;
    if (ib_b64_decode(p, value, 4096, &b) != GUID_BYTES) {
        return NULL;
    }
    /* objectGUID bytes: Data1..Data3 little-endian, Data4 as is. */
    return apr_psprintf(p, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-"
                        "%02x%02x%02x%02x%02x%02x", b[3], b[2], b[1], b[0], b[5], b[4],
                        b[7], b[6], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]);
}

int ib_is_user_at_domain(const char *value)
{
    const char *at = strchr(value, '@');
    if (at == NULL || at == value || at[1] == '\0' || strchr(at + 1, '@') != NULL) {
        return 0;
    }
    for (const char *c = value; *c; c++) {
        if ((unsigned char)*c <= 0x20 || *c == 0x7f) {
            return 0;
        }
    }
    return 1;
}

/* ---- building the identity ---------------------------------------------- */

typedef struct {
    apr_pool_t *p;
    apr_array_header_t *problems;
    apr_array_header_t *hints;
} builder;

static void problem(builder *b, const char *name, const char *reason)
{
    ib_attr_problem *pr = apr_array_push(b->problems);
    pr->name = name;
    pr->reason = reason;
}

static const ib_raw_attr *find_attr(const apr_array_header_t *raw, const char *name)
{
    for (int i = 0; i < raw->nelts; i++) {
        const ib_raw_attr *a = &APR_ARRAY_IDX(raw, i, ib_raw_attr);
        if (strcmp(a->name, name) == 0) { /* exact, case-sensitive (ATTR-2) */
            return a;
        }
    }
    return NULL;
}

/* The non-empty values of an attribute (an empty AttributeValue counts as
 * missing, ATTR-11). */
static apr_array_header_t *present_values(apr_pool_t *p, const ib_raw_attr *a)
{
    apr_array_header_t *out = apr_array_make(p, 1, sizeof(const char *));
    for (int i = 0; a != NULL && i < a->values->nelts; i++) {
        const char *v = APR_ARRAY_IDX(a->values, i, const char *);
        if (v != NULL && *v != '\0') {
            APR_ARRAY_PUSH(out, const char *) = v;
        }
    }
    return out;
}

static int is_key_attr(ib_attr_id id)
{
    return id == IB_ATTR_UPN || id == IB_ATTR_SID || id == IB_ATTR_OID || id == IB_ATTR_EMAIL;
}

static const char *canonical(builder *b, ib_attr_id id, const char *name, const char *v)
{
    const char *out = v;
    const char *why = NULL;
    switch (id) {
    case IB_ATTR_SID:
        out = ib_sid_canonical(b->p, v);
        why = "not a SID (S-1-... string or Base64 binary SID)";
        break;
    case IB_ATTR_OID:
        out = ib_guid_canonical(b->p, v);
        why = "not a GUID (string or Base64 of 16 bytes)";
        break;
    case IB_ATTR_UPN:
    case IB_ATTR_EMAIL:
        out = ib_is_user_at_domain(v) ? v : NULL;
        why = "not of the form user@domain";
        break;
    default:
        break;
    }
    if (out == NULL) {
        problem(b, name, why);
    }
    return out;
}

static void read_field(builder *b, const ib_attr_names *names,
                       const apr_array_header_t *raw, ib_attr_id id, ib_identity *out)
{
    out->field[id] = "";
    const char *name = names->name[id];
    if (name == NULL) {
        return; /* not used by this connection */
    }
    apr_array_header_t *values = present_values(b->p, find_attr(raw, name));
    if (values->nelts == 0) {
        if (id == IB_ATTR_DISPLAY_NAME || id == IB_ATTR_FIRST_NAME || id == IB_ATTR_LAST_NAME) {
            APR_ARRAY_PUSH(b->hints, const char *) =
                apr_psprintf(b->p, "attribute %s is missing or empty; names may "
                             "not be displayed as expected", name);
        }
        return;
    }
    if (values->nelts > 1 && is_key_attr(id)) {
        problem(b, name, "multi-valued");
        return;
    }
    const char *v = canonical(b, id, name, APR_ARRAY_IDX(values, 0, const char *));
    if (v != NULL) {
        out->field[id] = v;
    }
}

/* ATTR-9: namespaced names that look like ours are never aliases. */
static void hint_namespaced(builder *b, const apr_array_header_t *raw)
{
    for (int i = 0; i < raw->nelts; i++) {
        const char *n = APR_ARRAY_IDX(raw, i, ib_raw_attr).name;
        const char *slash = strrchr(n, '/');
        if (slash == NULL || strncmp(n, MS_CLAIMS_NS, strlen(MS_CLAIMS_NS)) != 0) {
            continue;
        }
        for (int f = 0; f < IB_ATTR_COUNT; f++) {
            if (strcmp(slash + 1, ib_attr_field_names[f]) == 0) {
                APR_ARRAY_PUSH(b->hints, const char *) =
                    apr_psprintf(b->p, "attribute with namespace prefix found: %s "
                                 "is not %s; configure the short name at the IdP", n,
                                 ib_attr_field_names[f]);
            }
        }
    }
}

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcasecmp(s + n - m, suffix) == 0;
}

/* AAD-1..6: cip_directory switches to the Azure AD identity. Returns 1 when
 * the mode is on (problems recorded as needed). */
static int read_azuread_mode(builder *b, const apr_array_header_t *raw, int admin_flow,
                             ib_identity *out)
{
    const ib_raw_attr *dir = find_attr(raw, IB_ATTR_DIRECTORY);
    if (dir == NULL) {
        return 0;
    }
    apr_array_header_t *dv = present_values(b->p, dir);
    if (dv->nelts != 1 || strcmp(APR_ARRAY_IDX(dv, 0, const char *), IB_DIRECTORY_AZUREAD) != 0) {
        problem(b, IB_ATTR_DIRECTORY, "the only accepted value is 'azuread'");
        return 1;
    }
    out->azuread = 1;
    if (admin_flow) {
        problem(b, IB_ATTR_DIRECTORY, "Azure AD identities cannot sign in as administrators");
    }
    apr_array_header_t *fv = present_values(b->p, find_attr(raw, IB_ATTR_FED_UPN));
    if (fv->nelts == 0) {
        problem(b, IB_ATTR_FED_UPN, "missing");
    } else if (fv->nelts > 1) {
        problem(b, IB_ATTR_FED_UPN, "multi-valued");
    } else {
        const char *v = APR_ARRAY_IDX(fv, 0, const char *);
        if (!ib_is_user_at_domain(v)) {
            problem(b, IB_ATTR_FED_UPN, "not of the form user@domain");
        } else if (ends_with(v, ONMICROSOFT_SUFFIX)) {
            problem(b, IB_ATTR_FED_UPN, "*.onmicrosoft.com UPNs are not supported; "
                    "use a verified custom domain");
        } else {
            out->fed_upn = v;
        }
    }
    return 1;
}

int ib_identity_build(apr_pool_t *p, const ib_attr_names *names,
                      const apr_array_header_t *raw, int admin_flow,
                      ib_identity *out, apr_array_header_t **problems,
                      apr_array_header_t **hints)
{
    builder b = {p, apr_array_make(p, 4, sizeof(ib_attr_problem)),
                 apr_array_make(p, 4, sizeof(const char *))};
    memset(out, 0, sizeof(*out));
    for (int id = 0; id < IB_ATTR_COUNT; id++) {
        read_field(&b, names, raw, (ib_attr_id)id, out);
    }
    hint_namespaced(&b, raw);
    int azuread = read_azuread_mode(&b, raw, admin_flow, out);
    if (!azuread && *out->field[IB_ATTR_UPN] == '\0' && *out->field[IB_ATTR_SID] == '\0') {
        /* ATTR-3: at least one key; list both when both are absent. */
        int upn_bad = 0, sid_bad = 0;
        for (int i = 0; i < b.problems->nelts; i++) {
            const char *n = APR_ARRAY_IDX(b.problems, i, ib_attr_problem).name;
            upn_bad |= names->name[IB_ATTR_UPN] && strcmp(n, names->name[IB_ATTR_UPN]) == 0;
            sid_bad |= names->name[IB_ATTR_SID] && strcmp(n, names->name[IB_ATTR_SID]) == 0;
        }
        if (!upn_bad && !sid_bad) {
            problem(&b, names->name[IB_ATTR_UPN] ? names->name[IB_ATTR_UPN] : "cip_upn",
                    "missing (one of UPN or SID is required)");
            problem(&b, names->name[IB_ATTR_SID] ? names->name[IB_ATTR_SID] : "cip_sid",
                    "missing (one of UPN or SID is required)");
        }
    }
    *problems = b.problems;
    *hints = b.hints;
    return b.problems->nelts == 0;
}
