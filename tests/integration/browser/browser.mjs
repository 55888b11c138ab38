// Real-browser sign-in runs: npm playwright-core driving Debian's headless
// chromium through the demo (examples/demo.sh) and one extra tenant.
//
//   node browser.mjs CONFIG_JSON RESULTS_JSON
//
// Started by test_browser.py, which starts the servers, writes CONFIG_JSON
// and checks what this script records in RESULTS_JSON. This script only
// drives the browser and records what it saw; it decides nothing, so every
// verdict (and its message) is in the Python test.
//
// CONFIG_JSON:
//   chromium      the browser binary (/usr/bin/chromium)
//   shots         directory for the screenshots (one PNG per page)
//   scenarios     names of the scenarios to run (default: all of them)
//   saml          {base, portal, idp_origin}: the demo's SAML tenant (POST binding)
//   saml_redirect {base, portal, idp_origin}: a tenant with IdBrokerSSOBinding redirect
//   oidc          {base, portal, issuer}: the demo's OpenID Connect tenant
//   cross_site    an origin of another site (http://localhost:PORT): never
//                 reached, its pages are served by page.route()
//   users         {saml: [user, password], saml_bad: [...], oidc: name, oidc_bad: name}
//
// RESULTS_JSON: {browser_version, runtime_ms, scenarios: {NAME: RESULT}},
// RESULT = {ok, error, runtime_ms, pages: [PAGE], navigations: [NAV],
//           observed: {...}}
//   PAGE  {name, kind (sp | idp | op), url, status, title, text, html,
//          screenshot}: text is the body's innerText, html the DOM
//          (sp pages only)
//   NAV   {method, url, status, location, cookie (request Cookie header),
//          origin, fetch_site (Sec-Fetch-Site), set_cookie: [...],
//          post_data}: every top-level request, in order
//   observed: scenario-specific facts (cookies from the browser's jar, ...)
import * as fs from 'node:fs';
import * as path from 'node:path';

import { chromium } from 'playwright-core';

const STEP_TIMEOUT = 10000;
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu',
  '--disable-background-networking', '--disable-component-update', '--no-first-run',
  '--disable-dev-shm-usage'];

const [configPath, resultsPath] = process.argv.slice(2);
if (!configPath || !resultsPath) {
  console.error('usage: node browser.mjs CONFIG_JSON RESULTS_JSON');
  process.exit(2);
}
const cfg = JSON.parse(fs.readFileSync(configPath, 'utf8'));
fs.mkdirSync(cfg.shots, { recursive: true });

const sameUrl = (a, b) => a.split('#')[0] === b.split('#')[0];
// The same document, whatever the query (a post-logout redirect adds ?state=).
const samePath = (a, b) => a.split(/[?#]/)[0] === b.split(/[?#]/)[0];
const startsWith = (prefix) => (url) => url.toString().startsWith(prefix);

// One scenario's recorder: a fresh browser context (own cookie jar), the
// list of top-level requests and the pages it snapped.
class Run {
  constructor(browser, name) {
    this.browser = browser;
    this.name = name;
    this.pages = [];
    this.navigations = [];
    this.observed = {};
    this.pending = [];
  }

  async open() {
    this.context = await this.browser.newContext({ viewport: { width: 1000, height: 700 } });
    this.page = await this.context.newPage();
    this.page.setDefaultTimeout(STEP_TIMEOUT);
    this.page.setDefaultNavigationTimeout(STEP_TIMEOUT);
    // Every top-level request with its real headers (Cookie included) and
    // the answer's status, Location and Set-Cookie lines.
    this.page.on('request', (req) => {
      if (!req.isNavigationRequest() || req.frame() !== this.page.mainFrame()) return;
      const nav = { method: req.method(), url: req.url(), status: null, location: null,
        cookie: null, origin: null, fetch_site: null, set_cookie: [],
        post_data: req.postData() };
      this.navigations.push(nav);
      this.pending.push(req.allHeaders().then((h) => {
        nav.cookie = h.cookie ?? null;
        nav.origin = h.origin ?? null;
        nav.fetch_site = h['sec-fetch-site'] ?? null;
      }).catch(() => {}));
      this.pending.push(req.response().then(async (resp) => {
        if (!resp) return;
        nav.status = resp.status();
        const headers = await resp.headersArray();
        for (const { name, value } of headers) {
          const n = name.toLowerCase();
          if (n === 'location') nav.location = value;
          if (n === 'set-cookie') nav.set_cookie.push(...value.split('\n'));
        }
      }).catch(() => {}));
    });
  }

  async settle() {
    await Promise.allSettled(this.pending);
    this.pending = [];
  }

  // The status of the document now shown: the last top-level answer for
  // its URL.
  statusOf(url) {
    const nav = [...this.navigations].reverse().find((n) => sameUrl(n.url, url)
      && n.status !== null);
    return nav ? nav.status : null;
  }

  async snap(label, kind) {
    await this.page.waitForLoadState('load');
    await this.settle();
    const url = this.page.url();
    const file = path.join(cfg.shots, `${this.name}-${String(this.pages.length + 1).padStart(2, '0')}-${label}.png`);
    await this.page.screenshot({ path: file, fullPage: true });
    const rec = {
      name: label, kind, url, status: this.statusOf(url), title: await this.page.title(),
      text: await this.page.evaluate(() => document.body ? document.body.innerText : ''),
      html: kind === 'sp' ? await this.page.content() : null,
      screenshot: file,
    };
    this.pages.push(rec);
    return rec;
  }

  async cookies() {
    return (await this.context.cookies()).map((c) => ({
      name: c.name, value: c.value, domain: c.domain, path: c.path, httpOnly: c.httpOnly,
      secure: c.secure, sameSite: c.sameSite, expires: c.expires,
    }));
  }

  // Run action() and wait until the browser has come to a URL that
  // matches `until` and loaded it.
  async go(until, action) {
    await Promise.all([this.page.waitForURL(until, { waitUntil: 'load' }), action()]);
    await this.settle();
  }

  async close() {
    await this.settle();
    await this.context.close().catch(() => {});
  }
}

// ------------------------------------------------------------ SAML
async function samlLogin(run, t, user, password, until) {
  await run.go((u) => u.toString().startsWith(t.idp_origin) && /loginuserpass/.test(u.toString()),
    () => run.page.goto(t.portal));
  await run.snap('idp-login', 'idp');
  await run.page.fill('#username', user);
  await run.page.fill('#password', password);
  await run.go(until, () => run.page.press('#password', 'Enter'));
}

// The portal over the HTTP-POST binding, the cookies' SameSite behaviour,
// a replayed SAMLResponse (the generic error page) and sign-out.
async function samlPost(run) {
  const t = cfg.saml;
  const [user, password] = cfg.users.saml;
  await samlLogin(run, t, user, password, (u) => sameUrl(u.toString(), t.portal));
  await run.snap('portal', 'sp');
  run.observed.cookies_signed_in = await run.cookies();
  const acs = run.navigations.find((n) => n.method === 'POST' && n.url === `${t.base}/saml/acs`);
  run.observed.acs = acs || null;

  // Same portal from a page of another site: a top-level GET link carries
  // the Lax session cookie, a cross-site form POST does not.
  const cross = `${cfg.cross_site}/links.html`;
  await run.page.route(`${cfg.cross_site}/**`, (route) => route.fulfill({
    status: 200, contentType: 'text/html; charset=utf-8',
    body: '<!DOCTYPE html><html><head><title>Another site</title></head><body>'
      + `<p><a id="get" href="${t.portal}">portal (GET)</a></p>`
      + `<form id="post" method="post" action="${t.portal}"><input type="hidden" name="x" value="1">`
      + '<button type="submit">portal (POST)</button></form></body></html>',
  }));
  await run.go(cross, () => run.page.goto(cross));
  const before = run.navigations.length;
  await run.go((u) => sameUrl(u.toString(), t.portal), () => run.page.click('#get'));
  run.observed.cross_site_get = run.navigations.slice(before).find((n) => n.url === t.portal) || null;
  run.observed.cross_site_get_status = run.statusOf(t.portal);
  await run.go(cross, () => run.page.goto(cross));
  const before2 = run.navigations.length;
  // Without the session cookie the module answers the POST by starting a
  // sign-in; only the request matters here, not where it leads.
  await Promise.all([
    run.page.waitForRequest((r) => r.url() === t.portal && r.method() === 'POST'),
    run.page.click('#post button'),
  ]);
  await run.page.waitForLoadState('load');
  await run.page.waitForTimeout(300);
  await run.settle();
  run.observed.cross_site_post = run.navigations.slice(before2)
    .find((n) => n.url === t.portal && n.method === 'POST') || null;
  await run.page.unroute(`${cfg.cross_site}/**`);
  // Whatever that POST started, the session cookie is still there.
  await run.go((u) => sameUrl(u.toString(), t.portal), () => run.page.goto(t.portal));

  // The IdP's answer again, from a page on the SP's own origin (so the
  // browser sends it exactly as before, cookies included): the module must
  // refuse it with its generic error page.
  if (acs && acs.post_data) {
    const form = new URLSearchParams(acs.post_data);
    const esc = (s) => s.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;');
    const inputs = [...form.entries()].map(([k, v]) => `<input type="hidden" name="${esc(k)}" value="${esc(v)}">`).join('');
    const replay = `${t.base}/__browser_test_replay`;
    await run.page.route(replay, (route) => route.fulfill({
      status: 200, contentType: 'text/html; charset=utf-8',
      body: `<!DOCTYPE html><html><body><form method="post" action="${t.base}/saml/acs">${inputs}</form>`
        + '<script>document.forms[0].submit()</script></body></html>',
    }));
    run.observed.saml_response = form.get('SAMLResponse');
    await run.go(startsWith(`${t.base}/saml/acs`), () => run.page.goto(replay));
    await run.snap('replayed-response', 'sp');
    await run.page.unroute(replay);
  }

  // Sign-out: the confirmation page, its button, the IdP and back.
  await run.go(startsWith(`${t.base}/saml/logout`), () => run.page.goto(`${t.base}/saml/logout`));
  await run.snap('signout-confirm', 'sp');
  run.observed.signout_buttons = await run.page.locator('form button, form input[type=submit]').allInnerTexts();
  run.observed.session_before_signout = (await run.cookies()).find((c) => c.name === 'idbroker_session')?.value ?? null;
  await run.go((u) => samePath(u.toString(), `${t.base}/`),
    () => run.page.locator('form button[type=submit]').first().click());
  await run.snap('signed-out', 'sp');
  run.observed.cookies_signed_out = await run.cookies();
  // Signed out at the IdP too: the portal asks for the password again.
  await run.go((u) => u.toString().startsWith(t.idp_origin) && /loginuserpass/.test(u.toString()),
    () => run.page.goto(t.portal));
  run.observed.after_signout_url = run.page.url();
}

async function samlAttributeError(run) {
  const t = cfg.saml;
  const [user, password] = cfg.users.saml_bad;
  await samlLogin(run, t, user, password, startsWith(`${t.base}/saml/acs`));
  await run.snap('attribute-error', 'sp');
  run.observed.cookies = await run.cookies();
}

async function samlRedirect(run) {
  const t = cfg.saml_redirect;
  const [user, password] = cfg.users.saml;
  await samlLogin(run, t, user, password, (u) => sameUrl(u.toString(), t.portal));
  await run.snap('portal', 'sp');
  run.observed.acs = run.navigations.find((n) => n.method === 'POST'
    && n.url === `${t.base}/saml/acs`) || null;
  run.observed.cookies_signed_in = await run.cookies();
}

// ------------------------------------------------------------ OIDC
async function oidcLogin(run, t, login, until) {
  await run.go((u) => u.toString().startsWith(`${t.issuer}/interaction/`),
    () => run.page.goto(t.portal));
  await run.snap('op-login', 'op');
  await run.page.fill('#login input[name=login]', login);
  await run.go(until, () => run.page.click('#login button[type=submit]'));
}

async function oidc(run) {
  const t = cfg.oidc;
  await oidcLogin(run, t, cfg.users.oidc, (u) => sameUrl(u.toString(), t.portal));
  await run.snap('portal', 'sp');
  run.observed.callback = run.navigations.find((n) => n.url.startsWith(`${t.base}/oidc/callback`)) || null;
  run.observed.cookies_signed_in = await run.cookies();
  await run.go(startsWith(`${t.base}/saml/logout`), () => run.page.goto(`${t.base}/saml/logout`));
  await run.snap('signout-confirm', 'sp');
  run.observed.session_before_signout = (await run.cookies()).find((c) => c.name === 'idbroker_session')?.value ?? null;
  await run.go((u) => samePath(u.toString(), `${t.base}/`),
    () => run.page.locator('form button[type=submit]').first().click());
  await run.snap('signed-out', 'sp');
  run.observed.cookies_signed_out = await run.cookies();
  // Signed out at the provider too: it shows its login form again.
  await run.go((u) => u.toString().startsWith(`${t.issuer}/interaction/`),
    () => run.page.goto(t.portal));
  run.observed.after_signout_url = run.page.url();
}

async function oidcAttributeError(run) {
  const t = cfg.oidc;
  await oidcLogin(run, t, cfg.users.oidc_bad, startsWith(`${t.base}/oidc/callback`));
  await run.snap('attribute-error', 'sp');
  run.observed.cookies = await run.cookies();
}

const SCENARIOS = {
  saml_post: samlPost,
  saml_attribute_error: samlAttributeError,
  saml_redirect: samlRedirect,
  oidc,
  oidc_attribute_error: oidcAttributeError,
};

async function main() {
  const t0 = Date.now();
  const browser = await chromium.launch({ executablePath: cfg.chromium, args: CHROMIUM_ARGS,
    timeout: 30000 });
  const results = { browser_version: browser.version(), scenarios: {} };
  try {
    for (const name of cfg.scenarios || Object.keys(SCENARIOS)) {
      const run = new Run(browser, name);
      const started = Date.now();
      const result = { ok: false, error: null };
      try {
        await run.open();
        await SCENARIOS[name](run);
        result.ok = true;
      } catch (err) {
        result.error = `${err.name}: ${err.message}`;
        try {
          await run.snap('failure', 'other');
        } catch { /* no page to show */ }
      }
      await run.close();
      Object.assign(result, { runtime_ms: Date.now() - started, url: run.page?.url() ?? null,
        pages: run.pages, navigations: run.navigations, observed: run.observed });
      results.scenarios[name] = result;
      console.log(`browser: ${name}: ${result.ok ? 'ran' : `FAILED: ${result.error}`}`
        + ` (${result.runtime_ms} ms, ${run.pages.length} screenshots)`);
    }
  } finally {
    await browser.close();
  }
  results.runtime_ms = Date.now() - t0;
  fs.writeFileSync(resultsPath, JSON.stringify(results, null, 1));
}

main().catch((err) => {
  console.error(err.stack || err);
  process.exit(1);
});
