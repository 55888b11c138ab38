/* Unpredictable identifiers from OpenSSL's CSPRNG: transaction IDs, scope
 * GUIDs, and later session IDs and request IDs. */
#ifndef IB_RANDOM_H
#define IB_RANDOM_H

#include <apr_errno.h>

#define IB_UUID_LEN 37 /* 36 characters + NUL */

/* A lowercase RFC 4122 version-4 UUID, e.g. for the Transaction ID shown on
 * error pages (ERR-1) and for new scope GUIDs (EID-2). */
apr_status_t ib_uuid_v4(char out[IB_UUID_LEN]);

/* 1 when s is a lowercase 8-4-4-4-12 hex GUID (the scope GUID form, EID-2). */
int ib_is_lowercase_guid(const char *s);

#endif
