"""examples/demo.sh with --oidc-issuer/--client-id/--client-secret-file: the
demo's second tenant (oidcdemo, on a port of its own) signs in with OpenID
Connect at the real test OP (op.py) and shows the sample portal; the redirect
and post-logout URIs the demo prints are the ones that work at the OP; and
`demo.sh --stop` stops everything. Runs the whole demo (build step, local
SimpleSAMLphp IdP, private httpd): about 10 s when the build is current."""
from __future__ import annotations

import re
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from harness import free_port, get, post
from op import browser_login, follow_logout, oidc_op, oidc_op_factory  # noqa: F401

REPO = Path(__file__).resolve().parents[2]
DEMO = REPO / "examples" / "demo.sh"
START_TIMEOUT = 600   # the demo's build step may have to compile first


def demo(*args: str, timeout: float = START_TIMEOUT) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(DEMO), *args], capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL)


def port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture
def demo_dir(request):
    """A demo dir below /tmp that www-data can reach; the demo in it is
    stopped at teardown whatever happened; kept if the test failed."""
    d = Path(tempfile.mkdtemp(prefix="idbroker-demo-it-", dir="/tmp"))
    d.chmod(0o755)
    yield d
    demo("--stop", "--dir", str(d), timeout=60)
    rep = getattr(request.node, "rep_call", None)
    if rep is None or rep.failed:
        print(f"\ndemo dir kept: {d}")
    else:
        shutil.rmtree(d, ignore_errors=True)


def test_demo_signs_in_with_openid_connect(oidc_op, demo_dir):
    port, idp_port, oidc_port = free_port(), free_port(), free_port()
    assert len({port, idp_port, oidc_port}) == 3
    base = f"http://127.0.0.1:{oidc_port}"
    client = oidc_op.add_client(client_id="demo-client",
                                redirect_uris=[f"{base}/oidc/callback"],
                                post_logout_redirect_uris=[f"{base}/"])
    secret = demo_dir / "client.secret"
    secret.write_text(client.client_secret + "\n")
    secret.chmod(0o600)

    r = demo("--port", str(port), "--idp-port", str(idp_port), "--dir", str(demo_dir),
             "--oidc-issuer", oidc_op.issuer, "--client-id", client.client_id,
             "--client-secret-file", str(secret), "--oidc-port", str(oidc_port))
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    # the URIs to register, printed before the servers start, and again at the end
    out = r.stdout
    assert re.search(rf"redirect URI:\s+{re.escape(base)}/oidc/callback\n", out), out
    assert re.search(rf"post-logout redirect URI:\s+{re.escape(base)}/\n", out), out
    assert out.index(f"{base}/oidc/callback") < out.index("sign-in demo is running"), out
    assert f"OIDC portal:     {base}/portal/" in out, out
    conf = (demo_dir / "oidc.d" / "oidcdemo.conf").read_text()
    assert f"IdBrokerOIDCIssuer {oidc_op.issuer}\n" in conf
    assert f"IdBrokerOIDCClientSecret file:{secret}\n" in conf
    assert client.client_secret not in conf

    # sign in at the OP; the portal shows the identity from the OIDC tenant
    s = requests.Session()
    start = get(f"{base}/portal/", session=s)
    assert start.status_code == 303, (start.status_code, start.text)
    assert start.headers["Location"].startswith(oidc_op.authorization_endpoint + "?")
    q = parse_qs(urlsplit(start.headers["Location"]).query)
    assert q["redirect_uri"] == [f"{base}/oidc/callback"]
    assert q["scope"] == ["openid profile email"]
    back = browser_login(s, start, "jane")
    assert back.status_code in (302, 303), (back.status_code, back.text[:500])
    assert back.headers["Location"].startswith(f"{base}/oidc/callback?")
    cb = get(back.headers["Location"], session=s)
    log = demo_dir / "logs" / "error.log"
    assert cb.status_code == 303, (cb.status_code, cb.text[:500], log.read_text()[-3000:])
    assert cb.headers["Location"] == "/portal/"
    page = get(f"{base}/portal/", session=s, headers={"Accept": "application/json"})
    assert page.status_code == 200, (page.status_code, page.text[:500])
    shown = page.json()
    assert shown["remote_user"] == "jane@example.test"
    ident = shown["identity"]
    assert (ident["tenant"], ident["protocol"], ident["idp"]) == ("oidcdemo", "oidc",
                                                                   oidc_op.issuer)
    assert (ident["cip_upn"], ident["cip_email"], ident["displayName"], ident["firstName"],
            ident["lastName"]) == ("jane@example.test", "jane@example.test", "Jane Doe",
                                   "Jane", "Doe")
    html_page = get(f"{base}/portal/", session=s)
    assert html_page.status_code == 200 and "jane@example.test" in html_page.text

    # the SAML tenant still answers on the demo's own port, with its own IdP
    saml = get(f"http://127.0.0.1:{port}/portal/", session=requests.Session())
    assert str(oidc_op.port) not in saml.headers.get("Location", ""), saml.headers
    assert saml.status_code in (200, 303), saml.status_code

    # sign-out: the OP takes the post-logout URI the demo printed
    confirm = get(f"{base}/saml/logout", session=s)
    assert confirm.status_code == 200, confirm.text[:500]
    token = re.search(r'name="token" value="([0-9a-f]+)"', confirm.text).group(1)
    bye = post(f"{base}/saml/logout", session=s, data={"token": token})
    assert bye.status_code == 303, (bye.status_code, bye.text[:500])
    assert bye.headers["Location"].startswith(oidc_op.end_session_endpoint + "?")
    done = follow_logout(s, bye)
    assert done.status_code in (302, 303), (done.status_code, done.text[:500])
    assert done.headers["Location"].split("?")[0] == f"{base}/"
    again = get(f"{base}/portal/", session=s)
    assert again.status_code == 303, again.status_code   # signed out: sign-in starts

    # --stop ends the demo's servers
    stop = demo("--stop", "--dir", str(demo_dir), timeout=60)
    assert stop.returncode == 0, stop.stdout + stop.stderr
    assert "stopped httpd and the local IdP" in stop.stdout, stop.stdout
    for p in (port, idp_port, oidc_port):
        assert not port_open(p), f"port {p} still open after --stop"


@pytest.mark.parametrize("args,message", [
    (["--oidc-issuer", "https://op.example"],
     "--oidc-issuer, --client-id and --client-secret-file go together; "
     "missing: --client-id --client-secret-file"),
    (["--client-id", "c", "--client-secret-file", "/etc/hostname"],
     "go together; missing: --oidc-issuer"),
    (["--op-port", "9000", "--oidc-issuer", "https://op.example", "--client-id", "c",
      "--client-secret-file", "/etc/hostname"],
     "--op-port is the port of the demo's own OpenID Provider"),
    (["--oidc-issuer", "http://op.example", "--client-id", "c",
      "--client-secret-file", "/etc/hostname"],
     "--oidc-issuer takes the provider's issuer URL"),
    (["--oidc-issuer", "https://op.example", "--client-id", "a b",
      "--client-secret-file", "/etc/hostname"], "--client-id takes the client ID"),
    (["--oidc-issuer", "https://op.example", "--client-id", "c",
      "--client-secret-file", "/nonexistent/secret"],
     "--client-secret-file: no readable file '/nonexistent/secret'"),
    (["--oidc-issuer", "https://op.example", "--client-id", "c", "--client-secret-file"],
     "--client-secret-file needs a value"),
])
def test_demo_oidc_flags_are_checked_before_anything_runs(tmp_path, args, message):
    r = demo("--dir", str(tmp_path / "never"), *args, timeout=30)
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    assert r.stderr.startswith("demo: ") and message in r.stderr.splitlines()[0], r.stderr
    assert "usage: examples/demo.sh" in r.stderr
    assert not (tmp_path / "never").exists()
