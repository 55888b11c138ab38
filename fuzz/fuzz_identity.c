/* Attribute and identity decoding (ib_identity): ib_identity_build over the
 * attributes of an assertion or ID token, and the SID/GUID decoders it uses.
 *
 * Input: byte 0 chooses, the rest is text.
 *   even: the rest is one value for ib_sid_canonical, ib_guid_canonical and
 *         ib_is_user_at_domain;
 *   odd:  attributes, one per line, "Name=value1;value2;..." (a line without
 *         '=' is a name with no value); bit 1 sets admin_flow, bit 2 renames
 *         the fields to Microsoft claim URIs (a connection's IdBrokerAttribute
 *         mapping), bit 3 leaves cip_sid unused.
 *
 * Invariants: canonical SIDs read "S-1-<authority>(-<digits>)+", the
 * authority in decimal or as 0x + 12 hex digits (MS-DTYP 2.4.2.1); canonical
 * GUIDs are 36 lowercase characters 8-4-4-4-12; both are fixed points (the
 * canonical form of a canonical form is itself); a usable identity has a
 * UPN or a SID (or the Azure AD UPN) and no problems. */
#include <ctype.h>
#include <string.h>

#include <apr_strings.h>

#include "core/ib_identity.h"
#include "fuzz_common.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fz_init();
    return 0;
}

static void check_sid(apr_pool_t *p, const char *in, const char *sid)
{
    if (sid == NULL) {
        return;
    }
    FZ_CHECK(strncmp(sid, "S-1-", 4) == 0, "SID canonical form does not start with S-1-", in);
    int groups = 0;
    const char *start = sid + 4;
    if (strncmp(start, "0x", 2) == 0) {
        /* an authority >= 2^32: 0x and 12 hex digits (MS-DTYP 2.4.2.1) */
        for (int i = 2; i < 14; i++) {
            FZ_CHECK(isxdigit((unsigned char)start[i]), "SID hex authority: not 12 hex digits", in);
        }
        start += 14;
        FZ_CHECK(*start == '-', "SID hex authority: not 12 hex digits", in);
    }
    for (const char *c = start; *c; c++) {
        if (*c == '-') {
            FZ_CHECK(c[-1] != '-' && c[1] != '\0', "SID canonical form has an empty group", in);
            groups++;
        } else {
            FZ_CHECK(*c >= '0' && *c <= '9', "SID canonical form holds a non-digit", in);
        }
    }
    FZ_CHECK(groups >= 1 && groups <= 15, "SID canonical form: sub-authority count", in);
    const char *again = ib_sid_canonical(p, sid);
    FZ_CHECK(again != NULL && strcmp(again, sid) == 0,
             "the canonical SID is not read back as itself", sid);
}

static void check_guid(apr_pool_t *p, const char *in, const char *guid)
{
    if (guid == NULL) {
        return;
    }
    FZ_CHECK(strlen(guid) == 36, "GUID canonical form is not 36 characters", in);
    for (int i = 0; i < 36; i++) {
        int dash = i == 8 || i == 13 || i == 18 || i == 23;
        FZ_CHECK(dash ? guid[i] == '-'
                      : (guid[i] >= '0' && guid[i] <= '9') || (guid[i] >= 'a' && guid[i] <= 'f'),
                 "GUID canonical form is not lowercase 8-4-4-4-12 hex", in);
    }
    const char *again = ib_guid_canonical(p, guid);
    FZ_CHECK(again != NULL && strcmp(again, guid) == 0,
             "the canonical GUID is not read back as itself", guid);
}

static apr_array_header_t *parse_attrs(apr_pool_t *p, char *text)
{
    apr_array_header_t *raw = apr_array_make(p, 8, sizeof(ib_raw_attr));
    char *line_state = NULL;
    for (char *line = apr_strtok(text, "\n", &line_state); line;
         line = apr_strtok(NULL, "\n", &line_state)) {
        ib_raw_attr *a = apr_array_push(raw);
        a->values = apr_array_make(p, 2, sizeof(const char *));
        char *eq = strchr(line, '=');
        if (eq == NULL) {
            a->name = line;
            continue;
        }
        *eq = '\0';
        a->name = line;
        char *v = eq + 1;
        for (char *semi; (semi = strchr(v, ';')) != NULL; v = semi + 1) {
            *semi = '\0';
            APR_ARRAY_PUSH(a->values, const char *) = v;
        }
        APR_ARRAY_PUSH(a->values, const char *) = v;
    }
    return raw;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) {
        return 0;
    }
    apr_pool_t *p = fz_pool();
    char *text = fz_cstr(data + 1, size - 1);
    if ((data[0] & 1) == 0) {
        check_sid(p, text, ib_sid_canonical(p, text));
        check_guid(p, text, ib_guid_canonical(p, text));
        ib_is_user_at_domain(text);
        fz_done();
        return 0;
    }
    ib_attr_names names;
    ib_attr_names_default(&names);
    if (data[0] & 4) {
        names.name[IB_ATTR_UPN] = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn";
        names.name[IB_ATTR_EMAIL] =
            "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress";
        names.name[IB_ATTR_OID] = "http://schemas.microsoft.com/identity/claims/objectidentifier";
    }
    if (data[0] & 8) {
        names.name[IB_ATTR_SID] = NULL;
    }
    ib_identity id;
    apr_array_header_t *problems = NULL, *hints = NULL;
    int ok = ib_identity_build(p, &names, parse_attrs(p, apr_pstrdup(p, text)),
                               (data[0] & 2) != 0, &id, &problems, &hints);
    FZ_CHECK(problems != NULL && hints != NULL, "identity: NULL problem or hint list", NULL);
    FZ_CHECK(ok == (problems->nelts == 0), "identity: verdict disagrees with the problems",
             NULL);
    for (int i = 0; i < IB_ATTR_COUNT; i++) {
        FZ_CHECK(id.field[i] != NULL, "identity: a NULL field (absent must be \"\")", NULL);
    }
    if (ok) {
        FZ_CHECK(id.azuread ? id.fed_upn != NULL
                            : *id.field[IB_ATTR_UPN] != '\0' || *id.field[IB_ATTR_SID] != '\0',
                 "identity: usable without UPN, SID or Azure AD UPN", NULL);
        check_sid(p, id.field[IB_ATTR_SID], *id.field[IB_ATTR_SID] ? id.field[IB_ATTR_SID]
                                                                   : NULL);
        check_guid(p, id.field[IB_ATTR_OID], *id.field[IB_ATTR_OID] ? id.field[IB_ATTR_OID]
                                                                    : NULL);
    }
    for (int i = 0; i < problems->nelts; i++) {
        const ib_attr_problem *pr = &APR_ARRAY_IDX(problems, i, ib_attr_problem);
        FZ_CHECK(pr->name != NULL && pr->reason != NULL, "identity: incomplete problem", NULL);
    }
    fz_done();
    return 0;
}
