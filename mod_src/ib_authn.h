#ifndef IB_AUTHN_H
#define IB_AUTHN_H

#include <httpd.h>

int ib_strip_identity_headers(request_rec *r);
int ib_check_user_id(request_rec *r);
void ib_register_authz(apr_pool_t *p);

#endif
