#include <stdio.h>
#include <string.h>

#include <openssl/rand.h>

#include "ib_random.h"

apr_status_t ib_uuid_v4(char out[IB_UUID_LEN])
{
    unsigned char b[16];
    if (RAND_bytes(b, sizeof(b)) != 1) {
        return APR_EGENERAL;
    }
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40); /* version 4 */
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80); /* RFC 4122 variant */
    snprintf(out, IB_UUID_LEN,
             "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
             b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7],
             b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]);
    return APR_SUCCESS;
}

int ib_is_lowercase_guid(const char *s)
{
    if (s == NULL || strlen(s) != IB_UUID_LEN - 1) {
        return 0;
    }
    for (int i = 0; i < IB_UUID_LEN - 1; i++) {
        char c = s[i];
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (c != '-') {
                return 0;
            }
        } else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
            return 0;
        }
    }
    return 1;
}
