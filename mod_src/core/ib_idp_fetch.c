#include <string.h>
#include <unistd.h>

#include <apr_file_io.h>
#include <apr_strings.h>
#include <cjson/cJSON.h>

#include "ib_clock.h"
#include "ib_http.h"
#include "ib_idp_fetch.h"

static const char *read_file(apr_pool_t *p, const char *path, apr_size_t max, apr_size_t *len)
{
    apr_finfo_t fi;
    apr_file_t *f;
    if (apr_stat(&fi, path, APR_FINFO_SIZE, p) != APR_SUCCESS || fi.size > (apr_off_t)max
        || apr_file_open(&f, path, APR_FOPEN_READ | APR_FOPEN_BINARY, 0, p) != APR_SUCCESS) {
        return NULL;
    }
    char *data = apr_palloc(p, (apr_size_t)fi.size + 1);
    apr_status_t rv = apr_file_read_full(f, data, (apr_size_t)fi.size, len);
    apr_file_close(f);
    if (rv != APR_SUCCESS && !(APR_STATUS_IS_EOF(rv) && *len == 0)) {
        return NULL;
    }
    data[*len] = '\0';
    return data;
}

/* Written next to the target and renamed over it: readers see the old file
 * or the new one, never half of one. */
static const char *write_atomically(apr_pool_t *p, const char *path, const char *data,
                                    apr_size_t len)
{
    const char *tmp = apr_psprintf(p, "%s.%ld.tmp", path, (long)getpid());
    apr_file_t *f;
    apr_size_t written = 0;
    apr_status_t rv = apr_file_open(&f, tmp, APR_FOPEN_WRITE | APR_FOPEN_CREATE
                                    | APR_FOPEN_TRUNCATE | APR_FOPEN_BINARY,
                                    APR_FPROT_UREAD | APR_FPROT_UWRITE | APR_FPROT_GREAD
                                    | APR_FPROT_WREAD, p);
    if (rv == APR_SUCCESS) {
        rv = apr_file_write_full(f, data, len, &written);
        if (rv == APR_SUCCESS) {
            rv = apr_file_sync(f);
        }
        apr_status_t rc = apr_file_close(f);
        rv = rv == APR_SUCCESS ? rc : rv;
    }
    if (rv == APR_SUCCESS) {
        rv = apr_file_rename(tmp, path, p);
    }
    if (rv != APR_SUCCESS) {
        char msg[120];
        apr_file_remove(tmp, p);
        return apr_psprintf(p, "cannot write %s: %s", path, apr_strerror(rv, msg, sizeof(msg)));
    }
    return NULL;
}

static void put_time(cJSON *o, const char *name, apr_time_t t)
{
    if (t != 0) {
        char buf[IB_UTC_TIME_LEN];
        ib_time_format_utc(t, buf);
        cJSON_AddStringToObject(o, name, buf);
    }
}

static apr_time_t get_time(const cJSON *o, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    apr_time_t t = 0;
    if (cJSON_IsString(v) && ib_time_parse_utc(v->valuestring, &t) != APR_SUCCESS) {
        t = 0;
    }
    return t;
}

static const char *get_str(apr_pool_t *p, const cJSON *o, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    return cJSON_IsString(v) ? apr_pstrdup(p, v->valuestring) : NULL;
}

void ib_idp_fetch_state_load(apr_pool_t *p, const ib_idp_source *src, ib_idp_fetch_state *st)
{
    memset(st, 0, sizeof(*st));
    apr_size_t len;
    const char *text = read_file(p, src->state_path, 65536, &len);
    cJSON *o = text ? cJSON_Parse(text) : NULL;
    if (o == NULL) {
        return;
    }
    /* A state file from another URL says nothing about this one. */
    const char *url = get_str(p, o, "url");
    if (url != NULL && strcmp(url, src->url) == 0) {
        st->last_attempt = get_time(o, "last_attempt");
        st->last_success = get_time(o, "last_success");
        st->last_change = get_time(o, "last_change");
        st->next_due = get_time(o, "next_refresh");
        const cJSON *f = cJSON_GetObjectItemCaseSensitive(o, "failures");
        st->failures = cJSON_IsNumber(f) && f->valueint > 0 ? f->valueint : 0;
        st->ok = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "ok"));
        st->outcome = get_str(p, o, "outcome");
        st->etag = get_str(p, o, "etag");
        st->last_modified = get_str(p, o, "last_modified");
    }
    cJSON_Delete(o);
}

const char *ib_idp_fetch_state_save(apr_pool_t *p, const ib_idp_source *src,
                                    const ib_idp_fetch_state *st)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "url", src->url);
    put_time(o, "last_attempt", st->last_attempt);
    put_time(o, "last_success", st->last_success);
    put_time(o, "last_change", st->last_change);
    put_time(o, "next_refresh", st->next_due);
    cJSON_AddNumberToObject(o, "failures", st->failures);
    cJSON_AddBoolToObject(o, "ok", st->ok);
    if (st->outcome) {
        cJSON_AddStringToObject(o, "outcome", st->outcome);
    }
    if (st->etag) {
        cJSON_AddStringToObject(o, "etag", st->etag);
    }
    if (st->last_modified) {
        cJSON_AddStringToObject(o, "last_modified", st->last_modified);
    }
    char *text = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    const char *copy = apr_pstrdup(p, text ? text : "{}");
    cJSON_free(text);
    return write_atomically(p, src->state_path, copy, strlen(copy));
}

/* Fetches and checks; on success *md is the parsed document and *body and *len
 * the bytes to keep (NULL body: the copy held is current, 304). */
static const char *fetch_checked(apr_pool_t *p, const ib_app *app, apr_time_t now,
                                 ib_idp_fetch_state *st, const char **body, apr_size_t *len,
                                 ib_idp_md **md)
{
    const ib_idp_source *src = app->md_source;
    apr_size_t held_len = 0;
    const char *held = read_file(p, src->path, IB_IDP_MD_MAX_BYTES, &held_len);
    ib_http_request req = {src->url, src->ca_file, src->timeout, IB_IDP_MD_MAX_BYTES,
                           held ? st->etag : NULL, held ? st->last_modified : NULL};
    ib_http_response res;
    const char *err = ib_http_get(p, &req, &res);
    if (err != NULL) {
        return err;
    }
    *body = NULL;
    if (res.status == 304 && held != NULL) {
        res.body = (char *)held;    /* still check it: validUntil may have passed */
        res.len = held_len;
    } else if (res.status != 200) {
        return apr_psprintf(p, "HTTP status %ld", res.status);
    } else {
        *body = res.body;
        *len = res.len;
        st->etag = res.etag;
        st->last_modified = res.last_modified;
    }
    ib_idp_md_rules rules = ib_idp_source_rules(app, now, 1);
    err = ib_idp_md_parse(p, res.body, res.len, &rules, md);
    if (err == NULL && *body != NULL && held != NULL && held_len == *len
        && memcmp(held, *body, *len) == 0) {
        *body = NULL;               /* same bytes: leave the file (and its mtime) alone */
    }
    return err;
}

int ib_idp_fetch_refresh(apr_pool_t *p, const ib_app *app, apr_time_t now,
                         ib_idp_fetch_state *st)
{
    const ib_idp_source *src = app->md_source;
    const char *body = NULL;
    apr_size_t len = 0;
    ib_idp_md *md = NULL;
    ib_idp_fetch_state before = *st;
    const char *err = fetch_checked(p, app, now, st, &body, &len, &md);
    int changed = 0;
    if (err == NULL && body != NULL) {
        err = write_atomically(p, src->path, body, len);
        changed = err == NULL;
    }
    st->last_attempt = now;
    if (err == NULL) {
        st->ok = 1;
        st->failures = 0;
        st->last_success = now;
        st->outcome = changed ? "updated" : "unchanged";
        if (changed) {
            st->last_change = now;
        }
    } else {
        st->ok = 0;
        st->failures++;
        st->outcome = err;
        st->etag = before.etag;     /* validators of the copy still held */
        st->last_modified = before.last_modified;
        md = NULL;
    }
    st->next_due = now + ib_idp_md_refresh_delay(md, st->failures, now, src->min_refresh,
                                                 src->max_refresh);
    return changed;
}
