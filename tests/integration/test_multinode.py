"""Several httpd nodes sharing one sealed store (README "Several httpd nodes").

Two httpds load mod_auth_idbroker with `IdBrokerSessionCache redis:...` (or
`memcache:...`) and the same `IdBrokerStoreKey`, with one tenant that trusts
our TestIdp (testidp.py): a sign-in started on one node comes back to the
other, a replayed Response is refused everywhere, a logout on one node ends
the session on all, an outage of the store is a 503 (never a redirect, never
access) that heals by itself, and whoever can write to the store cannot
alter or move sealed entries.

How two nodes serve "the same site" on one machine
--------------------------------------------------
A session is bound to where it was made (mod_src/ib_authn.c
`ib_session_load`): the tenant, the Host header (`r->hostname`, taken from the
pending sign-in, i.e. the host the sign-in started on) and the port the
connection arrived on (`r->connection->local_addr->port`). A pending sign-in
(mod_src/ib_handler_acs.c `claim_pending`) must come back to the ACS URL of
the same app, and the app is chosen by Host header and port. So two nodes on
two ports of 127.0.0.1 could never share a session: that is the port binding
doing its job, not a test artefact.

Real deployments put the nodes behind one name and one port. Here the nodes
listen on the SAME port number on two loopback addresses (node A on
127.0.0.1, node B on 127.0.0.2; Linux routes all of 127/8 to lo), the
tenant's SP base URL is `http://localhost:PORT` on both (the module accepts
`localhost` as a plain-http loopback host, mod_src/core/ib_url.c), and every
request carries `Host: localhost:PORT`, whichever node it is sent to: what
a load balancer in front of two nodes would deliver. `Browser` keeps the
cookies itself (one jar for "the site", whichever node answers).

What the tests can and cannot see
---------------------------------
- Replay: the verbatim Response posted again to the other node is refused
  before the replay cache is consulted, because its pending request was used
  up ("InResponseTo names no pending request ... already used"); the shared
  replay cache proper ("the assertion was already used (replay)") is shown
  with a genuine new sign-in answered by a Response reusing the accepted
  assertion ID (as test_acs_rules.py does on one node).
- Store keys: mod_socache_redis/memcache store "mod_auth_idbroker:" + the hex
  of the module's key ("<c>.idb:<kind>:<sha256>", mod_src/core/ib_store.c);
  the tests list the store's keys and decode them rather than assume.
- Outage: apr_redis/apr_memcache mark a server dead after a failure and then
  answer APR_NOTFOUND (a miss) without contacting it, until a retry (at most
  every 5 s, per process) finds it back. The module confirms every miss from
  a network store with one throw-away write (mod_src/ib_cache.c
  confirm_miss): when that fails too, the store is down and the answer is
  503, never "unknown session" or "no pending request".

Run: /usr/bin/python3 -m pytest -q -p no:cacheprovider tests/integration/test_multinode.py
(needs redis-server and memcached, and Debian's mod_socache_redis/memcache).
"""
from __future__ import annotations

import contextlib
import hashlib
import os
import re
import secrets
import shutil
import socket
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

import testidp as t
from acs_fixture import PORTAL, PORTAL_TEXT, SESSION_COOKIE, TXID_RE, state_cookie_name
from harness import TIMEOUT, TIMEOUT_SCALE, Httpd, free_port
from stores import STORES
from tenants import TenantDir, tenant_conf

TENANT = "multi"
IDP_SSO_URL = "https://idp.example.test/sso"
IDP_SLO_URL = "https://idp.example.test/slo"
GENERIC = "Unable to Process Your Request"
UNAVAILABLE = "Sign-in Is Unavailable"
NO_PENDING = "InResponseTo names no pending request (unknown, expired or already used)"
REPLAY = "the assertion was already used (replay)"
REFUSED = "entry refused (read as absent)"
NODE_ADDRS = {"A": "127.0.0.1", "B": "127.0.0.2"}
# mod_socache_redis waits 5 s for an unresponsive server by default
STORE_TUNING = {"redis": "RedisTimeout 1\n", "memcache": ""}


# ------------------------------------------------------------------ the nodes
def _port_open(addr: str, port: int) -> bool:
    try:
        with socket.create_connection((addr, port), timeout=0.5):
            return True
    except OSError:
        return False


class Node:
    """One httpd listening on addr:port (the port shared by every node)."""

    def __init__(self, name: str, httpd: Httpd, addr: str):
        self.name, self.httpd, self.addr = name, httpd, addr

    @property
    def port(self) -> int:
        return self.httpd.port

    def url(self, path: str) -> str:
        return f"http://{self.addr}:{self.port}{path}"

    def log(self) -> str:
        return self.httpd.error_log()

    def start(self) -> "Node":
        self.httpd.start()
        # the harness waits for 127.0.0.1:port; node B listens elsewhere
        deadline = time.monotonic() + 10 * TIMEOUT_SCALE
        while not _port_open(self.addr, self.port):
            if time.monotonic() > deadline:
                raise RuntimeError(f"node {self.name} not listening on {self.addr}:{self.port}")
            time.sleep(0.05)
        return self

    def stop(self) -> None:
        self.httpd.stop()


class Cluster:
    """Nodes A and B, one tenant, one store (started and owned here)."""

    def __init__(self, base: Path, module_path: str, backend: str):
        self.base, self.backend = base, backend
        self.store = STORES[backend]()
        self.nodes: dict[str, Node] = {}
        try:
            self._setup(base, module_path)
        except BaseException:
            self.close()                      # never leave the store running
            raise

    def _setup(self, base: Path, module_path: str) -> None:
        self.store.start()
        self.idp = t.TestIdp()
        self.td = TenantDir(base / "tenants.d")
        self.store_key = base / "store.key"
        self.store_key.write_text(secrets.token_hex(32) + "\n")
        self.store_key.chmod(0o600)
        self.port = free_port()
        self.host = f"localhost:{self.port}"
        self.base_url = f"http://{self.host}"
        cert = self.idp.cert_pem_path(self.td.root)
        idp_block = (f"        IdBrokerIdPEntityID {self.idp.entity_id}\n"
                     f"        IdBrokerIdPSSOURL {IDP_SSO_URL}\n"
                     f"        IdBrokerIdPSLOURL {IDP_SLO_URL}\n"
                     f"        IdBrokerIdPCert {cert}\n")
        self.td.write(f"{TENANT}.conf", tenant_conf(
            TENANT, self.base_url, self.td.key, self.td.cert, app_extra=idp_block,
            tenant_extra="    IdBrokerPostLogoutURL /bye.html\n"))
        for name, addr in NODE_ADDRS.items():
            h = Httpd(base / f"node-{name}", module_path)
            h.port = self.port
            self.nodes[name] = Node(name, h, addr)
            self.configure(h, addr)
        for node in self.nodes.values():      # A (on 127.0.0.1) first: see Node.start
            node.start()

    def configure(self, h: Httpd, addr: str) -> None:
        portal = h.htdocs / "portal"
        portal.mkdir(mode=0o755, exist_ok=True)
        (portal / "index.html").write_text(PORTAL_TEXT)
        (portal / "index.html").chmod(0o644)
        (h.htdocs / "bye.html").write_text("signed out\n")
        (h.htdocs / "bye.html").chmod(0o644)
        store_lines = (f"IdBrokerSessionCache {self.store.spec}\n"
                       f"IdBrokerStoreKey k1 {self.store_key}\n"
                       + STORE_TUNING[self.backend])
        h.write_config(store_lines + self.td.include() + PORTAL.format(htdocs=h.htdocs),
                       extra_modules=["authz_user", self.store.module])
        text = h.conf.read_text()
        h.conf.write_text(text.replace(f"Listen 127.0.0.1:{h.port}\n",
                                       f"Listen {addr}:{h.port}\n"))

    def __getitem__(self, name: str) -> Node:
        return self.nodes[name]

    def close(self) -> None:
        for node in self.nodes.values():
            node.stop()
        self.store.close()


# ------------------------------------------------------------------ a browser
class Browser:
    """One browser in front of the load balancer: its requests go to the
    node asked for, always with Host: localhost:PORT, and its cookies are
    those of that one site (kept here, by name, paths ignored)."""

    def __init__(self, cluster: Cluster):
        self.cluster = cluster
        self.cookies: dict[str, str] = {}
        self.http = requests.Session()
        self.http.trust_env = False

    def request(self, node: Node, method: str, path: str, headers: dict | None = None,
                **kw) -> requests.Response:
        hdrs = {"Host": self.cluster.host, **(headers or {})}
        if self.cookies:
            hdrs["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        self.http.cookies.clear()
        r = self.http.request(method, node.url(path), headers=hdrs, allow_redirects=False,
                              timeout=TIMEOUT, **kw)
        for header in r.raw.headers.getlist("Set-Cookie"):
            pair, _, attrs = header.partition(";")
            name, _, value = pair.strip().partition("=")
            if "max-age=0" in attrs.lower().replace(" ", "") or value == "":
                self.cookies.pop(name, None)
            else:
                self.cookies[name] = value
        return r

    def get(self, node: Node, path: str, **kw) -> requests.Response:
        return self.request(node, "GET", path, **kw)

    def post(self, node: Node, path: str, **kw) -> requests.Response:
        return self.request(node, "POST", path, **kw)

    @property
    def session(self) -> str | None:
        return self.cookies.get(SESSION_COOKIE)

    def close(self) -> None:
        self.http.close()


@dataclass
class Flow:
    request_id: str
    relay_state: str
    acs_url: str
    audience: str
    state_cookie: str


def start(b: Browser, node: Node) -> Flow:
    """GET the portal without a session on `node`: the AuthnRequest."""
    r = b.get(node, "/portal/index.html")
    assert r.status_code in (200, 303), (r.status_code, r.text, node.log()[-1500:])
    req = t.sign_in_request(r)
    name = state_cookie_name(req.request_id)
    assert name in b.cookies, (name, b.cookies)
    issuer = req.request.find(f"{{{t.SAML}}}Issuer").text.strip()
    return Flow(req.request_id, req.relay_state, req.request.get("AssertionConsumerServiceURL"),
                issuer, name)


def response(c: Cluster, flow: Flow, user: str, **kw) -> str:
    """The IdP's signed Response to `flow`, for `user` (NameID and cip_upn)."""
    kw.setdefault("attributes", [("cip_upn", [user]), ("displayName", ["Test User"])])
    return c.idp.response(acs_url=flow.acs_url, audience=flow.audience,
                          in_response_to=flow.request_id, name_id=user, **kw)


def answer(b: Browser, node: Node, xml: str, relay: str | None) -> requests.Response:
    return b.post(node, "/saml/acs", data=t.TestIdp.post_form(xml, relay))


def portal(b: Browser, node: Node, api: bool = True) -> requests.Response:
    """The portal; api=True asks like an XHR (401 without a session, no sign-in)."""
    return b.get(node, "/portal/index.html",
                 headers={"Accept": "application/json"} if api else None)


def signed_in_as(b: Browser, node: Node) -> str | None:
    """REMOTE_USER the portal sees on `node`, or None (401)."""
    r = portal(b, node)
    assert r.status_code in (200, 401), (r.status_code, r.text)
    if r.status_code == 401:
        return None
    assert r.text == PORTAL_TEXT
    return r.headers.get("X-Echo-User")


def cookie_user(c: Cluster, node: Node, cookie: str) -> str | None:
    """REMOTE_USER for a bare session cookie on `node` (fresh browser)."""
    b = Browser(c)
    b.cookies[SESSION_COOKIE] = cookie
    try:
        return signed_in_as(b, node)
    finally:
        b.close()


def new_user() -> str:
    return f"user-{secrets.token_hex(4)}@example.test"


def sign_in(c: Cluster, b: Browser, at: Node, back_to: Node | None = None,
            user: str | None = None, **kw) -> str:
    """A good sign-in started on `at`, answered at `back_to` (default: the
    same node). Returns the user; b now holds the session cookie."""
    user = user or new_user()
    flow = start(b, at)
    r = answer(b, back_to or at, response(c, flow, user, **kw), flow.relay_state)
    node = back_to or at
    assert r.status_code == 303, (r.status_code, r.text, node.log()[-1500:])
    assert r.headers["Location"] == "/portal/index.html"
    assert b.session, r.headers
    return user


def txid_lines(node: Node, resp: requests.Response) -> list[str]:
    m = TXID_RE.search(resp.text)
    assert m, resp.text
    lines = [line for line in node.log().splitlines() if f"txid={m.group(1)} " in line]
    assert lines, f"txid={m.group(1)} not in node {node.name}'s error.log"
    return lines


def assert_refused(node: Node, resp: requests.Response, reason: str) -> None:
    assert resp.status_code == 403, (resp.status_code, resp.text)
    assert f"<title>{GENERIC}</title>" in resp.text, resp.text
    assert SESSION_COOKIE not in resp.headers.get("Set-Cookie", "")
    lines = txid_lines(node, resp)
    assert any(reason in line for line in lines), (reason, lines)


def assert_unavailable(c: Cluster, node: Node, resp: requests.Response,
                       what: str | tuple[str, ...]) -> None:
    """503 "Sign-in Is Unavailable": Retry-After, no redirect, a transaction
    ID whose log line names the store and the operation that failed."""
    assert resp.status_code == 503, (resp.status_code, resp.headers, resp.text)
    assert f"<title>{UNAVAILABLE}</title>" in resp.text, resp.text
    assert resp.headers.get("Retry-After"), resp.headers
    assert "Location" not in resp.headers, resp.headers
    assert "SAMLRequest" not in resp.text and PORTAL_TEXT not in resp.text
    lines = txid_lines(node, resp)
    wants = [f"session store {c.store.spec} failed to {w}"
             for w in ([what] if isinstance(what, str) else what)]
    assert any(w in line for line in lines for w in wants), (wants, lines)


# ------------------------------------------------------------------ fixtures
@pytest.fixture(scope="module")
def clusters(module_path, request):
    """clusters(backend) -> the Cluster for redis or memcache, made once per
    module; work dirs are kept when a test of the module failed."""
    failed = request.session.testsfailed
    base = Path(tempfile.mkdtemp(prefix="idbroker-multi-", dir="/tmp"))
    base.chmod(0o755)
    made: dict[str, Cluster] = {}

    def get(backend: str) -> Cluster:
        if backend not in made:
            d = base / backend
            d.mkdir(mode=0o755)
            made[backend] = Cluster(d, module_path, backend)
        return made[backend]

    yield get
    for c in made.values():
        c.close()
    if request.session.testsfailed > failed or os.environ.get("IDBROKER_KEEP_WORKDIR"):
        print(f"\nhttpd work dirs kept: {base}")
    else:
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def redis_cluster(clusters) -> Cluster:
    return clusters("redis")


@pytest.fixture
def browsers(request):
    made: list[Browser] = []

    def make(c: Cluster) -> Browser:
        made.append(Browser(c))
        return made[-1]

    yield make
    for b in made:
        b.close()


# ----------------------------------------------------------- store key names
NAMESPACE = "mod_auth_idbroker:"     # ib_cache.c's socache namespace


def module_key(store_key: str) -> str:
    """The module's own key behind a redis/memcache key: mod_socache_redis and
    mod_socache_memcache store NAMESPACE + hex(key)."""
    assert store_key.startswith(NAMESPACE), store_key
    return bytes.fromhex(store_key[len(NAMESPACE):]).decode()


def session_store_key(c: Cluster, cookie: str) -> str:
    """The store key of a session cookie, found among the store's keys
    (module key "<c>.idb:s:" + SHA-256(cookie), mod_src/core/ib_store.c)."""
    digest = hashlib.sha256(cookie.encode()).hexdigest()
    found = [k for k in c.store.keys() if module_key(k).endswith(f".idb:s:{digest}")]
    assert len(found) == 1, (digest, [module_key(k) for k in c.store.keys()])
    return found[0]


# ====================================================== 1. cross-node sign-in
@pytest.mark.parametrize("backend", ["redis", "memcache"])
def test_sign_in_started_on_one_node_completes_on_the_other(clusters, browsers, backend):
    c = clusters(backend)
    a, b_node = c["A"], c["B"]
    b = browsers(c)
    mark_a, mark_b = len(a.log()), len(b_node.log())
    user = sign_in(c, b, at=a, back_to=b_node)
    assert f"event=signin outcome=success tenant={TENANT}" in b_node.log()[mark_b:]
    assert "event=signin-start outcome=redirect" in a.log()[mark_a:]
    # the session works on both nodes, and the state cookie was cleared
    assert signed_in_as(b, a) == user
    assert signed_in_as(b, b_node) == user
    assert not any(k.startswith("idbroker_state_") for k in b.cookies), b.cookies
    # everything in the store is sealed, and nothing in it is readable
    keys = c.store.keys()
    # "<c>.idb:<kind>:<hex>"; <c> may itself be ':' (one of 64 spread characters)
    kinds = sorted({module_key(k)[2:].split(":")[1] for k in keys})
    if c.backend == "redis":
        # KEYS is exact; memcached's lru_crawler metadump is a background walk
        # that may not list an item stored a moment ago.
        assert {"s", "a", "n"} <= set(kinds), kinds   # session, replay, NameID index
    for k in keys:
        value = c.store.get(k) or b"ib1.k1."        # None: expired meanwhile
        assert value.startswith(b"ib1.k1."), value[:40]
        assert user.encode() not in value and b"cip_upn" not in value


# ====================================================== 2. replay across nodes
@pytest.mark.parametrize("backend", ["redis", "memcache"])
def test_response_accepted_by_one_node_is_refused_by_the_other(clusters, browsers, backend):
    c = clusters(backend)
    a, b_node = c["A"], c["B"]
    b = browsers(c)
    aid = t.new_id()
    user = new_user()
    flow = start(b, a)
    state = b.cookies[flow.state_cookie]
    xml = response(c, flow, user, assertion_id=aid)
    r = answer(b, b_node, xml, flow.relay_state)
    assert r.status_code == 303, (r.status_code, r.text, b_node.log()[-1500:])
    # the very same POST again (state cookie restored), now to node A: its
    # pending request was used up on B
    thief = browsers(c)
    thief.cookies[flow.state_cookie] = state
    r2 = answer(thief, a, xml, flow.relay_state)
    assert_refused(a, r2, NO_PENDING)
    assert thief.session is None and signed_in_as(thief, a) is None
    # a genuine new sign-in on A, answered with a Response that reuses the
    # assertion ID B accepted: the replay cache is shared
    other = browsers(c)
    flow2 = start(other, a)
    r3 = answer(other, a, response(c, flow2, user, assertion_id=aid), flow2.relay_state)
    assert_refused(a, r3, REPLAY)
    assert other.session is None and signed_in_as(other, b_node) is None
    assert signed_in_as(b, a) == user                 # the real sign-in is untouched


# ====================================================== 3. logout across nodes
def test_logout_on_one_node_ends_the_session_on_the_other(redis_cluster, browsers):
    c = redis_cluster
    a, b_node = c["A"], c["B"]
    b = browsers(c)
    user = sign_in(c, b, at=a)
    cookie = b.session
    bystander = browsers(c)
    other_user = sign_in(c, bystander, at=b_node)
    assert signed_in_as(b, b_node) == user
    r = b.get(a, "/saml/logout")
    assert r.status_code == 200, (r.status_code, r.text)
    m = re.search(r'name="token" value="([0-9a-f]+)"', r.text)
    assert m, r.text
    r = b.post(a, "/saml/logout", data={"token": m.group(1)})
    msg = t.saml_message(r)                              # off to the IdP
    assert msg.field == "SAMLRequest" and msg.url == IDP_SLO_URL
    assert b.session is None                             # cookie cleared
    assert cookie_user(c, b_node, cookie) is None        # and dead on B
    assert cookie_user(c, a, cookie) is None
    assert signed_in_as(bystander, a) == other_user      # others unaffected
    # the IdP's answer comes back to node B: the pending logout is shared
    xml = c.idp.logout_response(destination=c.base_url + "/saml/logout/callback",
                                in_response_to=msg.root.get("ID"))
    mark = len(b_node.log())
    r = b.post(b_node, "/saml/logout/callback",
               data=t.TestIdp.post_form_for("SAMLResponse", xml, msg.relay_state))
    assert r.status_code == 303 and r.headers["Location"] == "/bye.html", (
        r.status_code, r.text, b_node.log()[mark:])


def test_idp_logout_at_one_node_ends_a_session_made_on_the_other(redis_cluster, browsers):
    c = redis_cluster
    a, b_node = c["A"], c["B"]
    b, bystander = browsers(c), browsers(c)
    user = sign_in(c, b, at=a)
    other_user = sign_in(c, bystander, at=a)
    cookie = b.session
    xml = c.idp.logout_request(destination=c.base_url + "/saml/logout/callback",
                               name_id=user)
    mark = len(b_node.log())
    idp = browsers(c)                  # the IdP's front channel: no SP cookies
    r = idp.post(b_node, "/saml/logout/callback",
                 data=t.TestIdp.post_form_for("SAMLRequest", xml, "relay-1"))
    assert r.status_code == 200, (r.status_code, r.text, b_node.log()[mark:])
    msg = t.saml_message(r)
    assert msg.field == "SAMLResponse" and msg.url == IDP_SLO_URL
    code = msg.root.find(f"{{{t.SAMLP}}}Status/{{{t.SAMLP}}}StatusCode")
    assert code.get("Value") == t.SUCCESS, msg.xml
    log = b_node.log()[mark:]
    assert (f"event=logout outcome=idp-initiated tenant={TENANT}" in log
            and "1 session(s) ended" in log), log
    assert cookie_user(c, a, cookie) is None
    assert cookie_user(c, b_node, cookie) is None
    assert signed_in_as(bystander, a) == other_user


# ====================================================== 4. the store goes away
def _serving(c: Cluster, node: Node) -> bool:
    """True once `node` can store a pending sign-in again (a browser without
    a session gets the AuthnRequest, not the 503)."""
    b = Browser(c)
    try:
        r = b.get(node, "/portal/index.html")
    finally:
        b.close()
    assert r.status_code in (200, 503), (r.status_code, r.text)
    return r.status_code == 200


@contextlib.contextmanager
def store_outage(c: Cluster):
    """The store is down inside the block; afterwards it is started again on
    the same port (empty), and the block ends once every node serves again:
    apr_redis/apr_memcache retry a server marked dead at most every 5 s, per
    process, so this takes up to ~5 s. No httpd is restarted."""
    c.store.stop()
    try:
        yield
    finally:
        c.store.start()
        deadline = time.monotonic() + 20 * TIMEOUT_SCALE
        waiting = list(c.nodes.values())
        while waiting:                 # every node in each round: their 5 s overlap
            waiting = [node for node in waiting if not _serving(c, node)]
            assert time.monotonic() < deadline, f"still 503 after 20 s: {waiting}"
            time.sleep(0.2 if waiting else 0)


def test_store_outage_is_a_503_and_heals_without_restart(redis_cluster, browsers):
    c = redis_cluster
    a, b_node = c["A"], c["B"]
    b = browsers(c)
    sign_in(c, b, at=a)
    cookie = b.session
    with store_outage(c):
        # a signed-in browser: neither the portal nor a new sign-in. The
        # read of the session fails ("read a session"), or the store of a
        # pending sign-in does: either way a 503, never a sign-in.
        for node in (a, b_node, a, b_node):
            assert_unavailable(c, node, portal(b, node, api=False),
                               ("read a session", "store a pending sign-in"))
        assert b.session == cookie
        # a browser without a session: no AuthnRequest, no state cookie
        fresh = browsers(c)
        for node in (a, b_node):
            assert_unavailable(c, node, portal(fresh, node, api=False),
                               "store a pending sign-in")
        assert not any(k.startswith("idbroker_state_") for k in fresh.cookies)
    # service resumed without touching httpd: a full sign-in across nodes
    again = browsers(c)
    user2 = sign_in(c, again, at=a, back_to=b_node)
    assert signed_in_as(again, a) == user2
    assert signed_in_as(again, b_node) == user2
    # the old session went with redis's memory (no persistence): expected
    assert cookie_user(c, a, cookie) is None
    assert cookie_user(c, b_node, cookie) is None


def test_store_outage_never_reads_as_a_miss(redis_cluster, browsers):
    c = redis_cluster
    a = c["A"]
    b = browsers(c)
    sign_in(c, b, at=a)
    pending = browsers(c)
    flow = start(pending, a)
    xml = response(c, flow, new_user())
    with store_outage(c):
        # the first reads after the stop fail outright, and are 503s
        for _ in range(3):
            assert_unavailable(c, a, portal(b, a, api=False),
                               ("read a session", "store a pending sign-in"))
        mark = len(a.log())
        r_api = portal(b, a)                           # an XHR with a good cookie
        r_acs = answer(pending, a, xml, flow.relay_state)
        log = a.log()[mark:]
    # recorded while the store was down, asserted once it is back
    assert (r_api.status_code, r_acs.status_code) == (503, 503), log


def test_logout_during_store_outage_is_not_reported_as_done(redis_cluster, browsers):
    c = redis_cluster
    a = c["A"]
    b = browsers(c)
    sign_in(c, b, at=a)
    with store_outage(c):
        r = b.get(a, "/saml/logout")
    assert r.status_code == 503, (r.status_code, r.headers.get("Location"))


# ================================================= 5. tampered, moved entries
def test_altered_session_entry_is_refused(redis_cluster, browsers):
    c = redis_cluster
    a, b_node = c["A"], c["B"]
    b = browsers(c)
    user = sign_in(c, b, at=a)
    key = session_store_key(c, b.session)
    sealed = c.store.get(key)
    assert sealed.startswith(b"ib1.k1.")
    # one Base64 digit in the middle of the ciphertext, still valid Base64
    i = len(sealed) // 2
    flipped = b"B" if sealed[i:i + 1] == b"A" else b"A"
    c.store.set(key, sealed[:i] + flipped + sealed[i + 1:])
    mark = len(b_node.log())
    assert signed_in_as(b, b_node) is None
    log = b_node.log()[mark:]
    assert REFUSED in log and "forged, altered or moved" in log, log
    assert "session refused: unknown or expired session" in log, log
    # the original entry, put back, opens again: the seal refused only the change
    c.store.set(key, sealed)
    assert signed_in_as(b, a) == user


def test_session_entry_moved_under_another_cookie_is_refused(redis_cluster, browsers):
    c = redis_cluster
    a, b_node = c["A"], c["B"]
    x, y = browsers(c), browsers(c)
    user_x = sign_in(c, x, at=a, user="admin-" + new_user())
    user_y = sign_in(c, y, at=b_node)
    key_x, key_y = session_store_key(c, x.session), session_store_key(c, y.session)
    assert key_x != key_y
    c.store.set(key_y, c.store.get(key_x))       # Y's key now holds X's entry
    mark_a, mark_b = len(a.log()), len(b_node.log())
    assert signed_in_as(y, a) is None            # not X, not Y: nobody
    assert signed_in_as(y, b_node) is None
    for node, mark in ((a, mark_a), (b_node, mark_b)):
        log = node.log()[mark:]
        assert REFUSED in log and "forged, altered or moved" in log, log
        assert user_x not in log
    assert signed_in_as(x, b_node) == user_x     # X's own entry still opens
    assert user_y


def test_entry_sealed_with_an_unknown_key_or_plain_is_refused(redis_cluster, browsers):
    """An entry written by someone with store access but not the key:
    plain JSON, or sealed with a key the nodes do not have."""
    c = redis_cluster
    a = c["A"]
    b = browsers(c)
    sign_in(c, b, at=a)
    key = session_store_key(c, b.session)
    sealed = c.store.get(key)
    for forged, why in ((b'{"tenant":"multi"}', "the entry is not sealed"),
                        (b"ib1.k2." + sealed[len(b"ib1.k1."):], "key ID not configured")):
        c.store.set(key, forged)
        mark = len(a.log())
        assert signed_in_as(b, a) is None
        log = a.log()[mark:]
        assert REFUSED in log and why in log, log


# ========================================================== 6. configuration
def _lone_httpd(httpd_factory, module_path, store_lines: str, module: str) -> Httpd:
    h = httpd_factory(module_path)
    td = TenantDir(h.workdir / "tenants.d")
    idp = t.TestIdp()
    cert = idp.cert_pem_path(td.root)
    td.write("one.conf", tenant_conf(
        "one", f"http://127.0.0.1:{h.port}", td.key, td.cert,
        app_extra=(f"        IdBrokerIdPEntityID {idp.entity_id}\n"
                   f"        IdBrokerIdPSSOURL {IDP_SSO_URL}\n"
                   f"        IdBrokerIdPCert {cert}\n")))
    h.write_config(store_lines + td.include(), extra_modules=[module])
    return h


@pytest.mark.parametrize("backend", ["redis", "memcache"])
def test_network_store_without_a_key_refuses_to_start(httpd_factory, module_path, backend):
    cls = STORES[backend]
    h = _lone_httpd(httpd_factory, module_path,
                    f"IdBrokerSessionCache {cls.scheme}:127.0.0.1:{free_port()}\n", cls.module)
    with pytest.raises(RuntimeError) as e:
        h.start()
    text = str(e.value) + h.error_log()
    assert (f"IdBrokerSessionCache {cls.scheme} is shared over the network: "
            "add IdBrokerStoreKey") in text, text
    assert "[auth_idbroker:emerg]" in text or ":emerg]" in text, text


@pytest.mark.parametrize("case", ["world-readable", "not-a-key", "same-id-twice"])
def test_bad_store_key_is_a_config_error(httpd_factory, module_path, case):
    key = Path(tempfile.mkdtemp(prefix="idbroker-key-", dir="/tmp")) / "store.key"
    try:
        key.write_text(secrets.token_hex(32) + "\n")
        key.chmod(0o600)
        spec = f"IdBrokerSessionCache redis:127.0.0.1:{free_port()}\n"
        lines = f"IdBrokerStoreKey k1 {key}\n"
        if case == "world-readable":
            key.chmod(0o644)
            want = f"IdBrokerStoreKey: '{key}' may be read by anyone"
        elif case == "not-a-key":
            key.write_text(secrets.token_hex(16) + "\n")
            want = "holds no 256-bit key"
        else:
            lines += lines
            want = "IdBrokerStoreKey: key ID 'k1' is given twice"
        h = _lone_httpd(httpd_factory, module_path, spec + lines, "socache_redis")
        proc = h.configtest()
        assert proc.returncode != 0, (proc.stdout, proc.stderr)
        assert want in proc.stderr, proc.stderr
    finally:
        shutil.rmtree(key.parent, ignore_errors=True)


# ================================================ 8. sessions outlive a restart
def test_session_survives_a_node_restart(redis_cluster, browsers):
    c = redis_cluster
    a, b_node = c["A"], c["B"]
    b = browsers(c)
    user = sign_in(c, b, at=a)
    a.stop()
    assert signed_in_as(b, b_node) == user       # B serves while A is down
    a.start()
    assert signed_in_as(b, a) == user
