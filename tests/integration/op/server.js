// OpenID Provider for the integration tests: npm `oidc-provider` (9.x).
//
//   node server.js CONFIG_JSON [PORT]        (or env OP_CONFIG / OP_PORT)
//
// Started and configured by tests/integration/op.py; see there for the
// config file format and for how tests drive it. In short:
//
//   issuer            http://127.0.0.1:PORT (plain http on loopback)
//   clients           from the config; code flow only, PKCE S256 required,
//                     held to their registered token_endpoint_auth_method
//   accounts          from the config: account id (= login name = sub) -> claims
//   login             GET /interaction/UID renders a form with one field
//                     `login`; POST /interaction/UID/login logs that account
//                     in. GET /interaction/UID?login=NAME does the same in
//                     one step; POST /interaction/UID/abort -> access_denied.
//                     Consent is granted automatically (loadExistingGrant).
//   logout            end_session shows a page with one form (xsrf +
//                     logout=yes) that a browser auto-submits; POST it.
//   admin             POST /_test/reload with header
//                     `Authorization: Bearer ADMIN_TOKEN`: re-reads the config
//                     file (keys, clients, accounts, ttl, clock offset) and
//                     swaps in a new Provider instance. All state (sessions,
//                     interactions, codes, grants) lives in one in-memory
//                     store of this process (SharedMemoryAdapter) that every
//                     instance shares, so OP sessions survive a reload (key
//                     rotation). A restart ends them all.
//
// Everything is logged to stdout, one line per request and per OP event.
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as crypto from 'node:crypto';

import Provider from 'oidc-provider';

const configPath = process.argv[2] || process.env.OP_CONFIG;
if (!configPath) {
  console.error('usage: node server.js CONFIG_JSON [PORT]');
  process.exit(2);
}

function readConfig() {
  return JSON.parse(fs.readFileSync(configPath, 'utf8'));
}

let config = readConfig();
const port = Number(process.argv[3] || process.env.OP_PORT || config.port);
if (!Number.isInteger(port) || port <= 0) {
  console.error('no port: pass it as the second argument, OP_PORT or "port" in the config');
  process.exit(2);
}
const issuer = config.issuer || `http://127.0.0.1:${port}`;
// Cookie signing keys must stay the same across reloads.
const cookieKeys = config.cookie_keys || [crypto.randomBytes(32).toString('base64url')];

function log(...args) {
  console.log(new Date().toISOString(), ...args);
}

// Shift the OP's clock (iat/exp/auth_time of its tokens) by config.clock_offset seconds.
const realNow = Date.now.bind(Date);
let clockOffsetMs = 0;
Date.now = () => realNow() + clockOffsetMs;

const esc = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

const SCOPE_CLAIMS = {
  openid: ['sub'],
  profile: ['name', 'given_name', 'family_name', 'preferred_username'],
  email: ['email', 'email_verified'],
  cip: ['cip_upn', 'cip_sid', 'cip_oid', 'cip_email', 'displayName', 'firstName',
    'lastName', 'cip_domain', 'cip_forest'],
};
const SCOPES = Object.keys(SCOPE_CLAIMS);

function page(title, body) {
  return `<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>${esc(title)}</title></head>\n`
    + `<body>\n<h1>${esc(title)}</h1>\n${body}\n</body></html>\n`;
}

// OP state (sessions, interactions, codes, grants...) in one in-memory store
// that every Provider instance of this process shares, so that a reload
// (new keys, clients, accounts) keeps it. oidc-provider's own memory adapter
// gives each instance a store of its own.
const STORE = new Map(); // "Model:id" -> { payload, expiresAt }
const GRANTS = new Map(); // grantId -> Set of "Model:id"
const UIDS = new Map(); // session uid -> session id
const USER_CODES = new Map(); // user code -> "Model:id"
// what revokeByGrantId removes (an Interaction or Session has a grantId too)
const GRANTABLE = new Set(['AccessToken', 'AuthorizationCode', 'RefreshToken', 'DeviceCode',
  'BackchannelAuthenticationRequest', 'PreAuthorizedCode']);
function live(key) {
  const e = STORE.get(key);
  if (!e) return undefined;
  if (e.expiresAt !== undefined && e.expiresAt <= Date.now()) {
    STORE.delete(key);
    return undefined;
  }
  return e.payload;
}
class SharedMemoryAdapter {
  constructor(model) {
    this.model = model;
  }

  key(id) {
    return `${this.model}:${id}`;
  }

  async upsert(id, payload, expiresIn) {
    const key = this.key(id);
    const expiresAt = typeof expiresIn === 'number' ? Date.now() + expiresIn * 1000 : undefined;
    STORE.set(key, { payload, expiresAt });
    if (payload.grantId && GRANTABLE.has(this.model)) {
      if (!GRANTS.has(payload.grantId)) GRANTS.set(payload.grantId, new Set());
      GRANTS.get(payload.grantId).add(key);
    }
    if (this.model === 'Session' && payload.uid) UIDS.set(payload.uid, id);
    if (payload.userCode) USER_CODES.set(payload.userCode, key);
  }

  async find(id) {
    return live(this.key(id));
  }

  async findByUid(uid) {
    const id = UIDS.get(uid);
    return id === undefined ? undefined : this.find(id);
  }

  async findByUserCode(userCode) {
    const key = USER_CODES.get(userCode);
    return key === undefined ? undefined : live(key);
  }

  async consume(id) {
    const payload = live(this.key(id));
    if (payload) payload.consumed = Math.floor(Date.now() / 1000);
  }

  async destroy(id) {
    const key = this.key(id);
    const payload = live(key);
    STORE.delete(key);
    if (payload?.uid && UIDS.get(payload.uid) === id) UIDS.delete(payload.uid);
  }

  async revokeByGrantId(grantId) {
    for (const key of GRANTS.get(grantId) || []) STORE.delete(key);
    GRANTS.delete(grantId);
  }
}

// Our own keys that are not oidc-provider client metadata.
const CLIENT_TEST_KEYS = ['require_pkce'];

function makeProvider(cfg) {
  const accounts = cfg.accounts || {};
  const pkceExempt = new Set();
  const clients = (cfg.clients || []).map((c) => {
    const out = { ...c };
    if (out.require_pkce === false) pkceExempt.add(out.client_id);
    for (const k of CLIENT_TEST_KEYS) delete out[k];
    out.grant_types ??= ['authorization_code'];
    out.response_types ??= ['code'];
    out.token_endpoint_auth_method ??= 'client_secret_basic';
    out.id_token_signed_response_alg ??= 'RS256';
    return out;
  });

  const provider = new Provider(issuer, {
    adapter: SharedMemoryAdapter,
    clients,
    jwks: { keys: cfg.keys || [] },
    cookies: { keys: cookieKeys },
    scopes: SCOPES,
    claims: SCOPE_CLAIMS,
    conformIdTokenClaims: false,
    responseTypes: ['code'],
    clientAuthMethods: ['client_secret_basic', 'client_secret_post'],
    pkce: { required: (ctx, client) => !pkceExempt.has(client.clientId) },
    ttl: {
      IdToken: cfg.id_token_ttl || 3600,
      AccessToken: cfg.access_token_ttl || 3600,
      AuthorizationCode: cfg.code_ttl || 60,
      Interaction: 600,
      Session: 3600,
      Grant: 3600,
    },
    features: {
      // No refresh tokens either: no offline_access scope, and clients
      // only have the authorization_code grant.
      devInteractions: { enabled: false },
      deviceFlow: { enabled: false },
      revocation: { enabled: false },
      introspection: { enabled: false },
      registration: { enabled: false },
      claimsParameter: { enabled: false },
      pushedAuthorizationRequests: { enabled: false },
      dPoP: { enabled: false },
      userinfo: { enabled: true },
      rpInitiatedLogout: {
        enabled: true,
        // One form: xsrf + logout=yes (ends the whole OP session). A browser
        // submits it by itself; tests POST it (op.follow_logout).
        async logoutSource(ctx, form) {
          const f = form.replace('</form>',
            '<input type="hidden" name="logout" value="yes"/>'
            + '<button type="submit">Sign out</button></form>');
          ctx.type = 'html';
          ctx.body = page('Sign out', `${f}\n<script>document.forms[0].submit()</script>`);
        },
        async postLogoutSuccessSource(ctx) {
          ctx.type = 'html';
          ctx.body = page('Signed out', '<p id="signed-out">You are signed out.</p>');
        },
      },
    },
    async findAccount(ctx, sub) {
      const claims = accounts[sub];
      if (!claims) return undefined;
      return {
        accountId: sub,
        async claims() {
          return { ...claims, sub };
        },
      };
    },
    // Consent without a prompt: every client gets every scope it asks for.
    async loadExistingGrant(ctx) {
      const { client, session } = ctx.oidc;
      const grantId = ctx.oidc.result?.consent?.grantId || session.grantIdFor(client.clientId);
      let grant;
      if (grantId) {
        grant = await ctx.oidc.provider.Grant.find(grantId);
        if (grant && grant.accountId !== session.accountId) grant = undefined;
      }
      if (!grant) {
        grant = new ctx.oidc.provider.Grant({ clientId: client.clientId, accountId: session.accountId });
      }
      const scopes = [...(ctx.oidc.requestParamScopes || [])].filter((s) => SCOPES.includes(s));
      grant.addOIDCScope(scopes.join(' ') || 'openid');
      await grant.save();
      return grant;
    },
    interactions: {
      url(ctx, interaction) {
        return `/interaction/${interaction.uid}`;
      },
    },
    async renderError(ctx, out, error) {
      ctx.type = 'html';
      const rows = Object.entries(out)
        .map(([k, v]) => `<pre class="${esc(k)}">${esc(k)}: ${esc(v)}</pre>`).join('\n');
      ctx.body = page('OP error', rows);
      log('renderError', JSON.stringify(out), error && error.stack ? error.stack.split('\n')[0] : '');
    },
  });
  provider.proxy = false;

  // oidc-provider takes client_secret_basic and client_secret_post as one
  // another; this OP holds every client to its registered method, so a test
  // sees an RP that uses the wrong one fail (the code is spent all the same).
  provider.use(async (ctx, next) => {
    await next();
    const { oidc } = ctx;
    if (oidc?.route !== 'token' || ctx.status !== 200 || !oidc.client) return;
    const registered = oidc.client.tokenEndpointAuthMethod;
    let used;
    if (oidc.params?.client_secret !== undefined) used = 'client_secret_post';
    else if (/^basic /i.test(ctx.get('authorization'))) used = 'client_secret_basic';
    if (used && used !== registered) {
      log(`token request refused: ${used} used, client registered ${registered}`);
      ctx.status = 401;
      ctx.body = {
        error: 'invalid_client',
        error_description: `client authentication failed: ${used} used, registered method is ${registered}`,
      };
    }
  });

  for (const ev of ['server_error', 'authorization.error', 'grant.error', 'userinfo.error',
    'end_session.error', 'jwks.error', 'discovery.error', 'check_session.error',
    'interaction.error']) {
    provider.on(ev, (...args) => {
      const err = args.find((a) => a instanceof Error);
      log(`event ${ev}:`, err ? `${err.name}: ${err.message} ${err.error_description || ''}` : '');
    });
  }
  for (const ev of ['authorization.success', 'grant.success', 'end_session.success',
    'interaction.started', 'interaction.ended']) {
    provider.on(ev, () => log(`event ${ev}`));
  }
  return provider;
}

let current;
function install(cfg) {
  const provider = makeProvider(cfg);
  clockOffsetMs = (cfg.clock_offset || 0) * 1000;
  current = { provider, handler: provider.callback(), cfg };
  log('configured:', `kids=${(cfg.keys || []).map((k) => `${k.kid}(${k.alg})`).join(',')}`,
    `clients=${(cfg.clients || []).map((c) => c.client_id).join(',')}`,
    `accounts=${Object.keys(cfg.accounts || {}).join(',')}`,
    `clock_offset=${cfg.clock_offset || 0}`);
}

function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    let size = 0;
    req.on('data', (c) => {
      size += c.length;
      if (size > 1 << 20) {
        reject(new Error('body too large'));
        req.destroy();
      } else chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function send(res, status, type, body) {
  res.statusCode = status;
  res.setHeader('Content-Type', type);
  res.setHeader('Cache-Control', 'no-store');
  res.end(body);
}

async function admin(req, res, path) {
  const auth = req.headers.authorization || '';
  const want = `Bearer ${current.cfg.admin_token}`;
  if (!current.cfg.admin_token || auth.length !== want.length
      || !crypto.timingSafeEqual(Buffer.from(auth), Buffer.from(want))) {
    send(res, 401, 'application/json', '{"error":"unauthorized"}');
    return;
  }
  if (req.method === 'POST' && path === '/_test/reload') {
    await readBody(req);
    try {
      install(readConfig());
    } catch (err) {
      log('reload failed:', err.stack || err);
      send(res, 400, 'application/json', JSON.stringify({ error: String(err.message || err) }));
      return;
    }
    send(res, 200, 'application/json', JSON.stringify({
      kids: (current.cfg.keys || []).map((k) => k.kid),
    }));
    return;
  }
  send(res, 404, 'application/json', '{"error":"not found"}');
}

function loginForm(uid, params, message) {
  const hint = params.login_hint ? esc(params.login_hint) : '';
  return page('Sign in', `${message ? `<p id="error">${esc(message)}</p>\n` : ''}`
    + `<p>client: ${esc(params.client_id)}, scope: ${esc(params.scope)}</p>\n`
    + `<form id="login" method="post" action="/interaction/${esc(uid)}/login">\n`
    + `<input type="text" name="login" value="${hint}" autofocus/>\n`
    + '<button type="submit">Sign in</button>\n</form>\n'
    + `<form id="abort" method="post" action="/interaction/${esc(uid)}/abort">\n`
    + '<button type="submit">Cancel</button>\n</form>');
}

async function interaction(req, res, url) {
  const { provider } = current;
  const m = url.pathname.match(/^\/interaction\/([^/]+)(?:\/(login|abort))?$/);
  if (!m) {
    send(res, 404, 'text/plain', 'not found\n');
    return;
  }
  const [, uid, action] = m;
  let details;
  try {
    details = await provider.interactionDetails(req, res);
  } catch (err) {
    log('interaction lookup failed:', err.name, err.message);
    send(res, 400, 'text/html', page('OP error', `<pre class="error">${esc(err.name)}: ${esc(err.message)}</pre>`));
    return;
  }
  if (details.uid !== uid) {
    send(res, 400, 'text/html', page('OP error', '<pre class="error">interaction mismatch</pre>'));
    return;
  }
  const { prompt, params } = details;
  const finishLogin = async (login) => {
    if (!Object.hasOwn(current.cfg.accounts || {}, login)) {
      log(`login refused: unknown account ${JSON.stringify(login)}`);
      send(res, 200, 'text/html', loginForm(uid, params, `unknown account: ${login}`));
      return;
    }
    log(`login ${JSON.stringify(login)} (interaction ${uid}, prompt ${prompt.name})`);
    await provider.interactionFinished(req, res, { login: { accountId: login } },
      { mergeWithLastSubmission: false });
  };

  if (req.method === 'GET' && !action) {
    if (prompt.name === 'consent') {
      // loadExistingGrant normally leaves nothing to consent to; should
      // something be missing all the same, grant it without asking.
      const { missingOIDCScope, missingOIDCClaims, missingResourceScopes } = prompt.details;
      log(`consent granted: ${JSON.stringify(prompt.details)}`);
      const grant = (details.grantId && await provider.Grant.find(details.grantId))
        || new provider.Grant({ accountId: details.session.accountId, clientId: params.client_id });
      if (missingOIDCScope) grant.addOIDCScope(missingOIDCScope.join(' '));
      if (missingOIDCClaims) grant.addOIDCClaims(missingOIDCClaims);
      for (const [indicator, scopes] of Object.entries(missingResourceScopes || {})) {
        grant.addResourceScope(indicator, scopes.join(' '));
      }
      const grantId = await grant.save();
      await provider.interactionFinished(req, res, { consent: { grantId } },
        { mergeWithLastSubmission: true });
      return;
    }
    if (prompt.name !== 'login') {
      log(`unexpected prompt ${prompt.name}: ${JSON.stringify(prompt.reasons)}`);
      send(res, 400, 'text/html', page('OP error',
        `<pre class="error">unexpected prompt ${esc(prompt.name)}</pre>`));
      return;
    }
    const login = url.searchParams.get('login');
    if (login !== null) {
      await finishLogin(login);
      return;
    }
    send(res, 200, 'text/html', loginForm(uid, params));
    return;
  }
  if (req.method === 'POST' && action === 'login') {
    const form = new URLSearchParams(await readBody(req));
    await finishLogin(form.get('login') || '');
    return;
  }
  if (req.method === 'POST' && action === 'abort') {
    await readBody(req);
    log(`login aborted (interaction ${uid})`);
    await provider.interactionFinished(req, res, {
      error: 'access_denied', error_description: 'End-User aborted interaction',
    }, { mergeWithLastSubmission: false });
    return;
  }
  send(res, 405, 'text/plain', 'method not allowed\n');
}

install(config);

// With a clock offset, cookie expiry dates would be off by as much and the
// browser could drop the OP's cookies at once: shift them back to real time
// (deletions, dated 1970, stay as they are).
function realCookieDates(res) {
  const setHeader = res.setHeader.bind(res);
  res.setHeader = (name, value) => {
    if (clockOffsetMs && String(name).toLowerCase() === 'set-cookie') {
      const fix = (c) => c.replace(/expires=([^;]+)/i, (all, d) => {
        const t = Date.parse(d);
        return Number.isNaN(t) || t < 86400000 ? all : `expires=${new Date(t - clockOffsetMs).toUTCString()}`;
      });
      value = Array.isArray(value) ? value.map(fix) : fix(String(value));
    }
    return setHeader(name, value);
  };
}

const server = http.createServer((req, res) => {
  realCookieDates(res);
  const url = new URL(req.url, issuer);
  res.on('finish', () => log(`${req.method} ${url.pathname} -> ${res.statusCode}`
    + `${res.getHeader('location') ? ` ${String(res.getHeader('location')).slice(0, 200)}` : ''}`));
  let p;
  if (url.pathname.startsWith('/_test/')) p = admin(req, res, url.pathname);
  else if (url.pathname.startsWith('/interaction/')) p = interaction(req, res, url);
  else {
    current.handler(req, res);
    return;
  }
  p.catch((err) => {
    log('handler error:', err.stack || err);
    if (!res.headersSent) send(res, 500, 'text/plain', `${err.name}: ${err.message}\n`);
    else res.end();
  });
});

server.listen(port, '127.0.0.1', () => log(`listening on ${issuer}`));

for (const sig of ['SIGTERM', 'SIGINT']) {
  process.on(sig, () => {
    log(`${sig}: exiting`);
    server.close();
    process.exit(0);
  });
}
