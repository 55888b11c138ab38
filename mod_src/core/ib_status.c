#include <string.h>
#include <strings.h>

#include <apr_strings.h>
#include <apr_thread_mutex.h>

#include "ib_clock.h"
#include "ib_expiry.h"
#include "ib_idp_fetch.h"
#include "ib_idp_source.h"
#include "ib_oidc.h"
#include "ib_status.h"

#define DAY apr_time_from_sec(86400)

/* ---- building the document ------------------------------------------------ */

static apr_status_t delete_json(void *doc)
{
    cJSON_Delete(doc);
    return APR_SUCCESS;
}

static void add_str(cJSON *o, const char *name, const char *value)
{
    if (value != NULL) {
        cJSON_AddStringToObject(o, name, value);
    } else {
        cJSON_AddNullToObject(o, name);
    }
}

/* An instant as UTC text; 0 (unset) as null. */
static void add_time(cJSON *o, const char *name, apr_time_t t)
{
    if (t == 0) {
        cJSON_AddNullToObject(o, name);
        return;
    }
    char buf[IB_UTC_TIME_LEN];
    ib_time_format_utc(t, buf);
    cJSON_AddStringToObject(o, name, buf);
}

/* Whole days until notAfter, rounded down: 0 on its last day, -1 on the
 * first day after it. */
static long days_left(const ib_cert *c, apr_time_t now)
{
    apr_time_t left = c->not_after - now;
    long days = (long)(left / DAY);
    if (left < 0 && left % DAY != 0) {
        days--;
    }
    return days;
}

/* The public facts of one certificate. Expired and "soon" follow the rules
 * of the expiry log lines (ib_expiry.c): notAfter itself is still valid, and
 * the warning span is the same, so page and log never disagree. */
static cJSON *cert_facts(const ib_cert *c, apr_time_t now)
{
    cJSON *o = cJSON_CreateObject();
    add_str(o, "subject", c->subject);
    add_str(o, "file", c->path);
    add_time(o, "not_before", c->not_before);
    add_time(o, "not_after", c->not_after);
    add_str(o, "sha256", c->sha256_hex);
    add_str(o, "sha1", c->sha1_hex);
    int expired = now > c->not_after;
    cJSON_AddBoolToObject(o, "expired", expired);
    cJSON_AddBoolToObject(o, "expires_soon", !expired && c->not_after - now <= IB_EXPIRY_WARN_SPAN);
    cJSON_AddNumberToObject(o, "expires_in_days", (double)days_left(c, now));
    return o;
}

static int key_in(const apr_array_header_t *keys, const ib_sp_key *k)
{
    for (int i = 0; i < keys->nelts; i++) {
        if (APR_ARRAY_IDX(keys, i, const ib_sp_key *) == k) {
            return 1;
        }
    }
    return 0;
}

/* Why a configured key is not signing (or that it is). */
static const char *key_role(const ib_sp_key *k, const ib_sp_key *active,
                            const apr_array_header_t *published, apr_time_t now)
{
    if (k == active) {
        return "active";
    }
    if (key_in(published, k)) {
        return "next";
    }
    if (now > k->cert->not_after) {
        return "expired";
    }
    if (now < k->cert->not_before) {
        return "not yet valid";
    }
    return "superseded";
}

static cJSON *sp_key_facts(const ib_sp_key *k, apr_time_t now)
{
    cJSON *o = cert_facts(k->cert, now);
    add_time(o, "activate_at", k->has_activate_at ? k->activate_at : 0);
    return o;
}

/* SPKEY-2, MD-3: the signing key in force, the keys the metadata already
 * advertises for later (with the earliest switch), and every configured key
 * with its role. */
static cJSON *sp_keys_json(apr_pool_t *p, const apr_array_header_t *keys, apr_time_t now)
{
    cJSON *o = cJSON_CreateObject();
    if (keys == NULL) {
        keys = apr_array_make(p, 1, sizeof(const ib_sp_key *));
    }
    const ib_sp_key *active = ib_sp_keys_active(keys, now);
    const apr_array_header_t *published = ib_sp_keys_published(p, keys, now);
    cJSON_AddItemToObject(o, "active", active ? sp_key_facts(active, now) : cJSON_CreateNull());

    cJSON *next = cJSON_AddArrayToObject(o, "next");
    apr_time_t next_rotation = 0;
    for (int i = 0; i < published->nelts; i++) {
        const ib_sp_key *k = APR_ARRAY_IDX(published, i, const ib_sp_key *);
        if (k == active) {
            continue;
        }
        cJSON_AddItemToArray(next, sp_key_facts(k, now));
        if (k->has_activate_at && (next_rotation == 0 || k->activate_at < next_rotation)) {
            next_rotation = k->activate_at;
        }
    }
    add_time(o, "next_rotation", next_rotation);

    cJSON *all = cJSON_AddArrayToObject(o, "all");
    for (int i = 0; i < keys->nelts; i++) {
        const ib_sp_key *k = APR_ARRAY_IDX(keys, i, const ib_sp_key *);
        cJSON *facts = sp_key_facts(k, now);
        cJSON_AddStringToObject(facts, "role", key_role(k, active, published, now));
        cJSON_AddItemToArray(all, facts);
    }
    return o;
}

static cJSON *decrypt_keys_json(const apr_array_header_t *keys, apr_time_t now)
{
    cJSON *a = cJSON_CreateArray();
    for (int i = 0; keys != NULL && i < keys->nelts; i++) {
        cJSON_AddItemToArray(a, cert_facts(APR_ARRAY_IDX(keys, i, const ib_sp_key *)->cert, now));
    }
    return a;
}

static int cert_in(const apr_array_header_t *certs, const ib_cert *c)
{
    for (int i = 0; certs != NULL && i < certs->nelts; i++) {
        if (APR_ARRAY_IDX(certs, i, const ib_cert *) == c) {
            return 1;
        }
    }
    return 0;
}

/* The IdP view in force (pinned settings merged with the metadata copy). */
static cJSON *idp_json(const ib_app *app, apr_time_t now)
{
    const ib_idp *idp = ib_app_idp(app);
    cJSON *o = cJSON_CreateObject();
    /* From this one view, not ib_app_has_idp(): a new copy swapped in
     * meanwhile must not make the page contradict itself. */
    cJSON_AddBoolToObject(o, "configured", idp->entity_id != NULL && idp->sso_url != NULL
                          && idp->certs != NULL && idp->certs->nelts > 0);
    add_str(o, "entity_id", idp->entity_id);
    add_str(o, "sso_url", idp->sso_url);
    add_str(o, "slo_url", idp->slo_url);
    add_str(o, "from", idp->from);
    add_time(o, "loaded_at", idp->loaded_at);
    add_time(o, "valid_until", idp->valid_until);
    cJSON *certs = cJSON_AddArrayToObject(o, "certs");
    for (int i = 0; idp->certs != NULL && i < idp->certs->nelts; i++) {
        const ib_cert *c = APR_ARRAY_IDX(idp->certs, i, const ib_cert *);
        cJSON *facts = cert_facts(c, now);
        cJSON_AddStringToObject(facts, "origin", cert_in(app->idp_certs, c)
                                ? "configuration" : "metadata");
        cJSON_AddItemToArray(certs, facts);
    }
    return o;
}

/* What the fetcher saved beside the backing copy (shared by every process,
 * unlike the in-memory state of the one process that runs the watchdog). */
static cJSON *fetch_state_json(apr_pool_t *p, const ib_idp_source *src)
{
    if (src->url == NULL || src->state_path == NULL) {
        return cJSON_CreateNull();   /* a file source, or one never started */
    }
    ib_idp_fetch_state st;
    ib_idp_fetch_state_load(p, src, &st);
    cJSON *o = cJSON_CreateObject();
    add_time(o, "last_attempt", st.last_attempt);
    add_time(o, "last_success", st.last_success);
    add_time(o, "last_change", st.last_change);
    add_time(o, "next_refresh", st.next_due);
    cJSON_AddNumberToObject(o, "failures", st.failures);
    cJSON_AddBoolToObject(o, "ok", st.ok);
    add_str(o, "outcome", st.outcome);
    return o;
}

/* This process's refusal of the copy on disk, if the last one it looked at
 * was refused (the view in force is then the one before). */
static const char *source_last_error(apr_pool_t *p, ib_idp_source *src)
{
    if (src->lock) {
        apr_thread_mutex_lock(src->lock);
    }
    const char *err = src->last_error ? apr_pstrdup(p, src->last_error) : NULL;
    if (src->lock) {
        apr_thread_mutex_unlock(src->lock);
    }
    return err;
}

static cJSON *md_source_json(apr_pool_t *p, const ib_app *app, apr_time_t now)
{
    ib_idp_source *src = app->md_source;
    if (src == NULL) {
        return cJSON_CreateNull();
    }
    cJSON *o = cJSON_CreateObject();
    if (src->url != NULL) {
        cJSON_AddStringToObject(o, "url", src->url);
    } else {
        add_str(o, "file", src->file);
    }
    add_str(o, "path", src->path);
    cJSON_AddItemToObject(o, "signer", src->signer ? cert_facts(src->signer, now)
                                                   : cJSON_CreateNull());
    if (src->url != NULL) {   /* a file is re-read when it changes, not on a schedule */
        cJSON_AddNumberToObject(o, "min_refresh", (double)apr_time_sec(src->min_refresh));
        cJSON_AddNumberToObject(o, "max_refresh", (double)apr_time_sec(src->max_refresh));
    }
    cJSON_AddItemToObject(o, "state", fetch_state_json(p, src));
    add_str(o, "last_error", source_last_error(p, src));
    return o;
}

/* An OpenID Connect connection: where it points, never its secret. */
static cJSON *oidc_json(apr_pool_t *p, const ib_app *app)
{
    const ib_oidc_conf *c = app->oidc;
    if (c == NULL) {
        return cJSON_CreateNull();
    }
    static const char *const presets[] = {"generic", "okta", "entra", "google"};
    cJSON *o = cJSON_CreateObject();
    add_str(o, "preset", presets[c->preset]);
    add_str(o, "issuer", c->issuer);
    add_str(o, "discovery_url", c->discovery_url);
    add_str(o, "client_id", c->client_id);
    add_str(o, "client_secret_from", c->secret_source);
    add_str(o, "client_auth", c->client_secret_post ? "client_secret_post"
                                                    : "client_secret_basic");
    add_str(o, "scopes", c->scopes);
    add_str(o, "redirect_uri", app->has_sp_base
                               ? apr_pstrcat(p, app->sp_base.url, c->redirect_path, NULL)
                               : c->redirect_path);
    cJSON_AddBoolToObject(o, "userinfo", c->userinfo);
    add_str(o, "entra_tenant", c->entra_tenant);
    return o;
}

static cJSON *app_json(apr_pool_t *p, const ib_app *app, apr_time_t now)
{
    cJSON *o = cJSON_CreateObject();
    add_str(o, "kind", app->kind);
    add_str(o, "sp_entity_id", app->sp_entity_id);
    add_str(o, "sp_base_url", app->has_sp_base ? app->sp_base.url : NULL);
    cJSON_AddItemToObject(o, "sp_keys", sp_keys_json(p, app->sp_keys, now));
    cJSON_AddItemToObject(o, "decrypt_keys", decrypt_keys_json(app->decrypt_keys, now));
    cJSON_AddItemToObject(o, "idp", idp_json(app, now));
    cJSON_AddItemToObject(o, "metadata_source", md_source_json(p, app, now));
    cJSON_AddItemToObject(o, "oidc", oidc_json(p, app));
    return o;
}

static cJSON *tenant_json(apr_pool_t *p, const ib_tenant *t, apr_time_t now)
{
    cJSON *o = cJSON_CreateObject();
    add_str(o, "name", t->name);
    add_str(o, "signin_id", t->signin_id);
    cJSON *apps = cJSON_AddArrayToObject(o, "apps");
    const ib_app *mine[] = {t->primary, t->custom_domain};
    for (size_t i = 0; i < sizeof(mine) / sizeof(mine[0]); i++) {
        if (mine[i] != NULL) {
            cJSON_AddItemToArray(apps, app_json(p, mine[i], now));
        }
    }
    return o;
}

cJSON *ib_status_json(apr_pool_t *p, const ib_registry *reg, apr_time_t now)
{
    cJSON *doc = cJSON_CreateObject();
    apr_pool_cleanup_register(p, doc, delete_json, apr_pool_cleanup_null);
    add_time(doc, "generated_at", now);
    cJSON *tenants = cJSON_AddArrayToObject(doc, "tenants");
    for (int i = 0; reg != NULL && i < reg->tenants->nelts; i++) {
        cJSON_AddItemToArray(tenants, tenant_json(p, APR_ARRAY_IDX(reg->tenants, i,
                                                                   const ib_tenant *), now));
    }
    return doc;
}

const char *ib_status_json_text(apr_pool_t *p, const cJSON *doc)
{
    char *text = cJSON_Print(doc);
    if (text == NULL) {
        return NULL;
    }
    const char *copy = apr_pstrcat(p, text, "\n", NULL);
    cJSON_free(text);
    return copy;
}

/* ---- HTML ------------------------------------------------------------------ */

const char *ib_html_escape(apr_pool_t *p, const char *s)
{
    if (s == NULL) {
        return "";
    }
    apr_size_t extra = 0;
    for (const char *c = s; *c; c++) {
        switch (*c) {
        case '&': extra += 4; break;          /* &amp; */
        case '<': case '>': extra += 3; break; /* &lt; &gt; */
        case '"': case '\'': extra += 5; break; /* &quot; &#39; */
        default: break;
        }
    }
    if (extra == 0) {
        return s;
    }
    char *out = apr_palloc(p, strlen(s) + extra + 1);
    char *w = out;
    for (const char *c = s; *c; c++) {
        const char *ref = NULL;
        switch (*c) {
        case '&': ref = "&amp;"; break;
        case '<': ref = "&lt;"; break;
        case '>': ref = "&gt;"; break;
        case '"': ref = "&quot;"; break;
        case '\'': ref = "&#39;"; break;
        default: *w++ = *c; continue;
        }
        apr_size_t n = strlen(ref);
        memcpy(w, ref, n);
        w += n;
    }
    *w = '\0';
    return out;
}

typedef struct {
    apr_pool_t *p;
    apr_array_header_t *parts;   /* const char *, joined at the end */
} html_out;

/* Markup of our own: never request or configuration data. */
static void put(html_out *h, const char *markup)
{
    APR_ARRAY_PUSH(h->parts, const char *) = markup;
}

static void put_text(html_out *h, const char *text)
{
    put(h, ib_html_escape(h->p, text));
}

/* A JSON value as the page shows it. */
static const char *value_text(apr_pool_t *p, const cJSON *v)
{
    if (cJSON_IsString(v)) {
        return v->valuestring;
    }
    if (cJSON_IsNumber(v)) {
        return apr_psprintf(p, "%ld", (long)v->valuedouble);
    }
    if (cJSON_IsBool(v)) {
        return cJSON_IsTrue(v) ? "yes" : "no";
    }
    return "-";
}

typedef struct {
    const char *label;
    const char *key;
} column;

static const column CERT_COLUMNS[] = {
    {"Subject", "subject"}, {"File", "file"}, {"Not before", "not_before"},
    {"Not after", "not_after"}, {"Days left", "expires_in_days"}, {"Expired", "expired"},
    {"Expires soon", "expires_soon"}, {"SHA-256", "sha256"}, {"SHA-1", "sha1"},
};
#define N_CERT_COLUMNS (sizeof(CERT_COLUMNS) / sizeof(CERT_COLUMNS[0]))

static const cJSON *field_of(const cJSON *o, const char *key)
{
    return cJSON_GetObjectItemCaseSensitive(o, key);
}

static void cell(html_out *h, const cJSON *v)
{
    put(h, "<td>");
    put_text(h, value_text(h->p, v));
    put(h, "</td>");
}

static void heading(html_out *h, const char *tag, const char *label, const char *value)
{
    put(h, apr_pstrcat(h->p, "<", tag, ">", NULL));
    put_text(h, label);
    if (value != NULL) {
        put(h, " <code>");
        put_text(h, value);
        put(h, "</code>");
    }
    put(h, apr_pstrcat(h->p, "</", tag, ">\n", NULL));
}

/* One row per field of o: label, value. Fields o lacks get no row (a file
 * source has no URL); fields set to null show as "-". */
static void field_table(html_out *h, const cJSON *o, const column *fields, size_t n)
{
    put(h, "<table>\n");
    for (size_t i = 0; i < n; i++) {
        if (field_of(o, fields[i].key) == NULL) {
            continue;
        }
        put(h, "<tr><th>");
        put_text(h, fields[i].label);
        put(h, "</th>");
        cell(h, field_of(o, fields[i].key));
        put(h, "</tr>\n");
    }
    put(h, "</table>\n");
}

/* Certificates (an array, or one object), one row each: the `lead` columns
 * first, then the facts every certificate has. */
static void cert_table(html_out *h, const cJSON *certs, const column *lead, size_t n_lead)
{
    if (!cJSON_IsArray(certs) && !cJSON_IsObject(certs)) {
        put(h, "<p>None.</p>\n");
        return;
    }
    if (cJSON_IsArray(certs) && cJSON_GetArraySize(certs) == 0) {
        put(h, "<p>None.</p>\n");
        return;
    }
    put(h, "<table>\n<tr>");
    for (size_t i = 0; i < n_lead + N_CERT_COLUMNS; i++) {
        put(h, "<th>");
        put_text(h, i < n_lead ? lead[i].label : CERT_COLUMNS[i - n_lead].label);
        put(h, "</th>");
    }
    put(h, "</tr>\n");
    const cJSON *one = cJSON_IsArray(certs) ? certs->child : certs;
    for (; one != NULL; one = cJSON_IsArray(certs) ? one->next : NULL) {
        put(h, "<tr>");
        for (size_t i = 0; i < n_lead + N_CERT_COLUMNS; i++) {
            cell(h, field_of(one, i < n_lead ? lead[i].key : CERT_COLUMNS[i - n_lead].key));
        }
        put(h, "</tr>\n");
    }
    put(h, "</table>\n");
}

static void sp_keys_html(html_out *h, const cJSON *keys)
{
    static const column lead[] = {{"Role", "role"}, {"Activate at", "activate_at"}};
    heading(h, "h4", "SP signing keys", NULL);
    const cJSON *active = field_of(keys, "active");
    put(h, "<p>Signing now: ");
    put_text(h, cJSON_IsObject(active) ? value_text(h->p, field_of(active, "subject"))
                                       : "none (SP-signed requests fail)");
    const cJSON *next_rotation = field_of(keys, "next_rotation");
    put(h, ". Next rotation: ");
    put_text(h, cJSON_IsString(next_rotation) ? next_rotation->valuestring : "none scheduled");
    put(h, ".</p>\n");
    cert_table(h, field_of(keys, "all"), lead, sizeof(lead) / sizeof(lead[0]));
}

static void idp_html(html_out *h, const cJSON *idp)
{
    static const column fields[] = {
        {"Configured", "configured"}, {"Entity ID", "entity_id"}, {"SSO URL", "sso_url"},
        {"SLO URL", "slo_url"}, {"From", "from"}, {"Loaded at", "loaded_at"},
        {"Valid until", "valid_until"},
    };
    static const column lead[] = {{"Origin", "origin"}};
    heading(h, "h4", "IdP", NULL);
    field_table(h, idp, fields, sizeof(fields) / sizeof(fields[0]));
    heading(h, "h5", "IdP signing certificates", NULL);
    cert_table(h, field_of(idp, "certs"), lead, sizeof(lead) / sizeof(lead[0]));
}

static void md_source_html(html_out *h, const cJSON *src)
{
    static const column fields[] = {
        {"URL", "url"}, {"File", "file"}, {"Copy in use", "path"},
        {"Minimum refresh (s)", "min_refresh"}, {"Maximum refresh (s)", "max_refresh"},
        {"Last load error (this process)", "last_error"},
    };
    static const column state_fields[] = {
        {"Last attempt", "last_attempt"}, {"Last success", "last_success"},
        {"Last change", "last_change"}, {"Next refresh", "next_refresh"},
        {"Failures in a row", "failures"}, {"Last attempt OK", "ok"}, {"Outcome", "outcome"},
    };
    heading(h, "h4", "IdP metadata source", NULL);
    if (!cJSON_IsObject(src)) {
        put(h, "<p>None: the IdP settings are pinned in the configuration.</p>\n");
        return;
    }
    field_table(h, src, fields, sizeof(fields) / sizeof(fields[0]));
    heading(h, "h5", "Metadata signer", NULL);
    cert_table(h, field_of(src, "signer"), NULL, 0);
    const cJSON *state = field_of(src, "state");
    if (cJSON_IsObject(state)) {
        heading(h, "h5", "Fetcher", NULL);
        field_table(h, state, state_fields, sizeof(state_fields) / sizeof(state_fields[0]));
    }
}

static void app_html(html_out *h, const cJSON *app)
{
    static const column fields[] = {
        {"SP entity ID", "sp_entity_id"}, {"SP base URL", "sp_base_url"},
    };
    heading(h, "h3", "App", value_text(h->p, field_of(app, "kind")));
    field_table(h, app, fields, sizeof(fields) / sizeof(fields[0]));
    sp_keys_html(h, field_of(app, "sp_keys"));
    heading(h, "h4", "SP decryption keys", NULL);
    cert_table(h, field_of(app, "decrypt_keys"), NULL, 0);
    const cJSON *oidc = field_of(app, "oidc");
    if (cJSON_IsObject(oidc)) {
        static const column oidc_fields[] = {
            {"Preset", "preset"}, {"Issuer", "issuer"}, {"Discovery", "discovery_url"},
            {"Client ID", "client_id"}, {"Client secret from", "client_secret_from"},
            {"Client authentication", "client_auth"}, {"Scopes", "scopes"},
            {"Redirect URI", "redirect_uri"}, {"Userinfo", "userinfo"},
            {"Entra tenant", "entra_tenant"},
        };
        heading(h, "h4", "OpenID Connect connection", NULL);
        field_table(h, oidc, oidc_fields, sizeof(oidc_fields) / sizeof(oidc_fields[0]));
        return;
    }
    idp_html(h, field_of(app, "idp"));
    md_source_html(h, field_of(app, "metadata_source"));
}

const char *ib_status_html(apr_pool_t *p, const cJSON *doc)
{
    html_out h = {p, apr_array_make(p, 512, sizeof(const char *))};
    put(&h, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        "<meta name=\"robots\" content=\"noindex\">"
        "<title>mod_auth_idbroker status</title>\n<style>table{border-collapse:collapse}"
        "th,td{border:1px solid #999;padding:2px 6px;text-align:left;vertical-align:top}"
        "</style></head>\n<body>\n<h1>mod_auth_idbroker status</h1>\n<p>Generated at ");
    put_text(&h, value_text(p, field_of(doc, "generated_at")));
    put(&h, ".</p>\n");
    const cJSON *tenants = field_of(doc, "tenants");
    if (cJSON_GetArraySize(tenants) == 0) {
        put(&h, "<p>No tenant is configured.</p>\n");
    }
    const cJSON *t;
    cJSON_ArrayForEach(t, tenants) {
        heading(&h, "h2", "Tenant", value_text(p, field_of(t, "name")));
        put(&h, "<p>Sign-in ID: <code>");
        put_text(&h, value_text(p, field_of(t, "signin_id")));
        put(&h, "</code></p>\n");
        const cJSON *app;
        cJSON_ArrayForEach(app, field_of(t, "apps")) {
            app_html(&h, app);
        }
    }
    put(&h, "</body></html>\n");
    return apr_array_pstrcat(p, h.parts, '\0');
}

/* ---- content negotiation --------------------------------------------------- */

/* How specifically the media range [r, r+len) matches type ("major/minor"):
 * 3 exactly, 2 as "major/ *", 1 as "* / *", 0 not at all. */
static int range_match(const char *r, size_t len, const char *type)
{
    size_t major = (size_t)(strchr(type, '/') - type);
    if (len == strlen(type) && strncasecmp(r, type, len) == 0) {
        return 3;
    }
    if (len == major + 2 && strncasecmp(r, type, major + 1) == 0 && r[major + 1] == '*') {
        return 2;
    }
    return len == 3 && strncmp(r, "*/*", 3) == 0 ? 1 : 0;
}

/* The q parameter among [s, end), in thousandths (1000 when absent). */
static int q_of(const char *s, const char *end)
{
    for (; s < end; s++) {
        if (*s != ';') {
            continue;
        }
        const char *v = s + 1;
        while (v < end && (*v == ' ' || *v == '\t')) {
            v++;
        }
        if (end - v < 2 || (*v != 'q' && *v != 'Q') || v[1] != '=') {
            continue;
        }
        v += 2;
        int q = v < end && *v == '1' ? 1000 : 0;
        if (v < end && (*v == '0' || *v == '1') && v + 1 < end && v[1] == '.') {
            int scale = 100;
            for (const char *d = v + 2; d < end && *d >= '0' && *d <= '9' && scale > 0; d++) {
                q += (*d - '0') * scale;
                scale /= 10;
            }
        }
        return q > 1000 ? 1000 : q;
    }
    return 1000;
}

/* The q the Accept header gives `type`: that of the most specific range
 * matching it (RFC 9110 12.5.1); 0 when none does. */
static int accept_q(const char *accept, const char *type)
{
    int best = 0, q = 0;
    const char *s = accept;
    while (*s != '\0') {
        const char *end = strchr(s, ',');
        end = end ? end : s + strlen(s);
        while (s < end && (*s == ' ' || *s == '\t')) {
            s++;
        }
        const char *r_end = s;
        while (r_end < end && *r_end != ';' && *r_end != ' ' && *r_end != '\t') {
            r_end++;
        }
        int m = range_match(s, (size_t)(r_end - s), type);
        if (m > best) {
            best = m;
            q = q_of(r_end, end);
        }
        s = *end ? end + 1 : end;
    }
    return q;
}

int ib_status_wants_json(const char *query, const char *accept)
{
    if (query != NULL) {
        if (strcmp(query, "json") == 0) {
            return 1;
        }
        for (const char *s = query; *s != '\0';) {
            size_t n = strcspn(s, "&;");
            if (n == 11 && strncmp(s, "format=json", 11) == 0) {
                return 1;
            }
            if (n == 11 && strncmp(s, "format=html", 11) == 0) {
                return 0;
            }
            s += n;
            s += *s ? 1 : 0;
        }
    }
    if (accept == NULL) {
        return 0;
    }
    return accept_q(accept, "application/json") > accept_q(accept, "text/html");
}
