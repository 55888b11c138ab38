#include <string.h>
#include <strings.h>

#include <apr_strings.h>
#include <curl/curl.h>

#include "ib_http.h"

void ib_http_global_init(void)
{
    static int done;
    if (!done) {
        curl_global_init(CURL_GLOBAL_DEFAULT);
        done = 1;
    }
}

typedef struct {
    apr_pool_t *p;
    char *buf;
    apr_size_t len, cap, max;
    int too_big;
    ib_http_response *out;
} transfer;

static size_t on_body(char *data, size_t size, size_t n, void *userdata)
{
    transfer *t = userdata;
    size_t add = size * n;
    if (t->len + add > t->max) {
        t->too_big = 1;
        return 0;                   /* makes curl stop with a write error */
    }
    if (t->len + add + 1 > t->cap) {
        apr_size_t cap = t->cap ? t->cap : 16384;
        while (cap < t->len + add + 1) {
            cap *= 2;
        }
        char *bigger = apr_palloc(t->p, cap);
        if (t->len) {
            memcpy(bigger, t->buf, t->len);
        }
        t->buf = bigger;
        t->cap = cap;
    }
    memcpy(t->buf + t->len, data, add);
    t->len += add;
    return add;
}

/* "Name: value\r\n" -> value, when the header is `name`. */
static const char *header_value(apr_pool_t *p, const char *line, size_t len, const char *name)
{
    size_t n = strlen(name);
    if (len <= n + 1 || strncasecmp(line, name, n) != 0 || line[n] != ':') {
        return NULL;
    }
    const char *v = line + n + 1;
    const char *end = line + len;
    while (v < end && (*v == ' ' || *v == '\t')) {
        v++;
    }
    while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' ')) {
        end--;
    }
    /* A header value goes back out in the next request: keep it printable. */
    for (const char *c = v; c < end; c++) {
        if ((unsigned char)*c < 0x20 || (unsigned char)*c > 0x7e) {
            return NULL;
        }
    }
    return end > v && end - v < 512 ? apr_pstrndup(p, v, (apr_size_t)(end - v)) : NULL;
}

static size_t on_header(char *data, size_t size, size_t n, void *userdata)
{
    transfer *t = userdata;
    size_t len = size * n;
    const char *v;
    if ((v = header_value(t->p, data, len, "ETag")) != NULL) {
        t->out->etag = v;
    } else if ((v = header_value(t->p, data, len, "Last-Modified")) != NULL) {
        t->out->last_modified = v;
    }
    return len;
}

const char *ib_http_get(apr_pool_t *p, const ib_http_request *req, ib_http_response *out)
{
    memset(out, 0, sizeof(*out));
    CURL *c = curl_easy_init();
    if (c == NULL) {
        return "libcurl could not start a transfer";
    }
    transfer t = {p, NULL, 0, 0, req->max_bytes, 0, out};
    char errbuf[CURL_ERROR_SIZE] = "";
    struct curl_slist *headers = NULL;
    if (req->if_none_match) {
        headers = curl_slist_append(headers, apr_pstrcat(p, "If-None-Match: ", req->if_none_match, NULL));
    }
    if (req->if_modified_since) {
        headers = curl_slist_append(headers, apr_pstrcat(p, "If-Modified-Since: ",
                                                         req->if_modified_since, NULL));
    }
    if (req->bearer) {
        headers = curl_slist_append(headers, apr_pstrcat(p, "Authorization: Bearer ",
                                                         req->bearer, NULL));
    }
    if (req->form_body) {
        headers = curl_slist_append(headers, "Accept: application/json");
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, req->form_body);
    }
    if (req->basic_user) {
        char *u = curl_easy_escape(c, req->basic_user, 0);
        char *pw = curl_easy_escape(c, req->basic_password ? req->basic_password : "", 0);
        curl_easy_setopt(c, CURLOPT_HTTPAUTH, CURLAUTH_BASIC);
        curl_easy_setopt(c, CURLOPT_USERNAME, apr_pstrdup(p, u ? u : ""));
        curl_easy_setopt(c, CURLOPT_PASSWORD, apr_pstrdup(p, pw ? pw : ""));
        curl_free(u);
        curl_free(pw);
    }
    long ms = (long)apr_time_as_msec(req->timeout);
    curl_easy_setopt(c, CURLOPT_URL, req->url);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, ms);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, ms);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
    if (req->ca_file) {
        curl_easy_setopt(c, CURLOPT_CAINFO, req->ca_file);
    }
    curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)req->max_bytes);
    curl_easy_setopt(c, CURLOPT_ACCEPT_ENCODING, "");
    curl_easy_setopt(c, CURLOPT_USERAGENT, "mod_auth_idbroker");
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &t);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &t);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
    CURLcode rc = curl_easy_perform(c);
    const char *err = NULL;
    if (t.too_big || rc == CURLE_FILESIZE_EXCEEDED) {
        err = apr_psprintf(p, "the answer is larger than %" APR_SIZE_T_FMT " bytes", req->max_bytes);
    } else if (rc != CURLE_OK) {
        err = apr_psprintf(p, "%s%s%s", curl_easy_strerror(rc), *errbuf ? ": " : "", errbuf);
    } else {
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &out->status);
        out->body = t.buf ? t.buf : apr_pstrdup(p, "");
        out->body[t.len] = '\0';
        out->len = t.len;
    }
    curl_slist_free_all(headers);
    curl_easy_cleanup(c);
    return err;
}
