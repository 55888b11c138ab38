"""README.md's ```apache samples are what operators paste into httpd's config,
so they must be valid as written. httpd has no trailing comments: the words
after a directive are more arguments (`IdBrokerSSOBinding post  # default`
fails `apachectl -t`), so every comment sits on a line of its own. Samples
holding a whole tenant (an <IdBrokerTenant> section with everything a tenant
file needs) must also pass `idbroker-tenant check` once the files they name
exist."""
from __future__ import annotations

import os
import re
import shlex
import subprocess
from pathlib import Path

import pytest

import pki

REPO = Path(__file__).resolve().parents[2]
README = REPO / "README.md"
CLI = os.environ.get("IDBROKER_TENANT_CLI") or str(REPO / "idbroker-tenant")
SECRET = "placeholder-client-secret-0123456789"

FENCE = re.compile(r"^(\s*)```apache\s*$")


def apache_blocks(text: str) -> list[tuple[int, list[str]]]:
    """Every ```apache block as (line number of its first line, its lines
    without the fence's indentation). A block inside a list item is indented
    like its fence."""
    blocks = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        indent = len(m.group(1))
        start, body = i + 2, []
        i += 1
        while i < len(lines) and lines[i].strip() != "```":
            head = lines[i][:indent]
            body.append(lines[i][indent:] if not head.strip() else lines[i].lstrip())
            i += 1
        assert i < len(lines), f"README.md:{start - 1}: ```apache block is never closed"
        blocks.append((start, body))
        i += 1
    return blocks


def trailing_comment(line: str) -> int | None:
    """Where a `#` comment starts after a directive on `line`, or None. A line
    whose first non-space character is `#` is a comment line (fine); a `#`
    right after a space or tab outside quotes starts a trailing comment
    (not fine); a `#` inside a word or quotes is just a character."""
    if not line.strip() or line.lstrip().startswith("#"):
        return None
    quote = None
    for pos, ch in enumerate(line):
        if quote:
            if ch == quote:
                quote = None
        elif ch in "\"'":
            quote = ch
        elif ch == "#" and pos > 0 and line[pos - 1] in " \t":
            return pos
    return None


BLOCKS = apache_blocks(README.read_text())


def test_readme_has_apache_samples():
    """Guards the extraction: a changed fence style must not leave the
    checks below with nothing to look at."""
    assert len(BLOCKS) >= 5
    assert any("<IdBrokerTenant" in "\n".join(body) for _, body in BLOCKS)


@pytest.mark.parametrize(("line", "bad"), [
    pytest.param("IdBrokerSLOBinding post   # post (signed, default) | redirect", True,
                 id="after-directive"),
    pytest.param("    Require ip 127.0.0.1\t# admin network", True, id="after-tab"),
    pytest.param("<IdBrokerTenant acme>   # name used in logs", True, id="after-section"),
    pytest.param("# post (signed, default) | redirect", False, id="comment-line"),
    pytest.param("    # an indented comment line", False, id="indented-comment-line"),
    pytest.param('    Header set X-Note "a # inside quotes"', False, id="double-quotes"),
    pytest.param("    Header set X-Note 'a # inside quotes'", False, id="single-quotes"),
    pytest.param("    RewriteRule ^/a#b$ /c", False, id="inside-word"),
    pytest.param("", False, id="empty"),
])
def test_trailing_comment_detector(line, bad):
    assert (trailing_comment(line) is not None) == bad


@pytest.mark.parametrize(("start", "body"), BLOCKS, ids=[f"README.md:{s}" for s, _ in BLOCKS])
def test_no_trailing_comments(start, body):
    offenders = [f"README.md:{start + n}: {line.strip()}"
                 for n, line in enumerate(body) if trailing_comment(line) is not None]
    assert not offenders, ("httpd has no trailing comments; put each comment on its own line "
                           "above the directive:\n" + "\n".join(offenders))


# ---- complete tenant sections pass `idbroker-tenant check` ------------------------

# What every tenant file needs (`check` refuses one without them). A section
# that lacks any of them is a fragment showing a few directives in place (like
# the logout settings), not a file to check.
REQUIRED = ("idbrokersigninid", "idbrokerspkey", "idbrokerspbaseurl")


def tenant_sections() -> list[tuple[int, list[str]]]:
    """Each complete <IdBrokerTenant ...>...</IdBrokerTenant> in the samples,
    as (README line number, lines). `...` lines stand for optional directives
    left out and are dropped."""
    out = []
    for start, body in BLOCKS:
        first = None
        for n, line in enumerate(body):
            s = line.strip().lower()
            if s.startswith("<idbrokertenant"):
                first = n
            elif s == "</idbrokertenant>" and first is not None:
                section = [x for x in body[first:n + 1] if x.strip() != "..."]
                names = {x.split()[0].lower() for x in section if x.strip()}
                if all(r in names for r in REQUIRED):
                    out.append((start + first, section))
                first = None
    return out


SECTIONS = tenant_sections()


def test_readme_has_a_complete_tenant_sample():
    assert SECTIONS, "no complete <IdBrokerTenant> sample left to check"


FILE_DIRECTIVES = (
    "idbrokerspkey", "idbrokerspdecryptionkey", "idbrokeridpcert", "idbrokeridpmetadatasigner",
    "idbrokeridpmetadataca", "idbrokeroidcclientsecret", "idbrokeridpmetadatafile",
    "idbrokererrortemplate",
)


def materialize(lines: list[str], scratch: Path) -> str:
    """The section with every file it names replaced by a generated
    placeholder in `scratch`: SP key pairs and IdP certificates from pki,
    client secrets. A file directive it cannot fill (IdP metadata, error
    template) fails the test, so a new sample cannot slip through unchecked.
    Every other line is left exactly as written."""
    out = []
    made = 0

    def cert_file() -> str:
        nonlocal made
        made += 1
        path = scratch / f"idp{made}.crt"
        path.write_bytes(pki.cert_pem(pki.certificate(pki.private_key(), cn="idp.example.com")))
        return str(path)

    for line in lines:
        s = line.strip()
        name = s.split()[0].lower() if s else ""
        if name not in FILE_DIRECTIVES:
            out.append(line)
            continue
        indent = line[:len(line) - len(line.lstrip())]
        args = shlex.split(s)
        if name in ("idbrokerspkey", "idbrokerspdecryptionkey"):
            made += 1
            key, crt, _ = pki.write_keypair(scratch, f"sp{made}", slot=made)
            args[1], args[2] = str(key), str(crt)
        elif name in ("idbrokeridpcert", "idbrokeridpmetadatasigner", "idbrokeridpmetadataca"):
            args[1] = cert_file()
        elif name == "idbrokeroidcclientsecret":
            if args[1].startswith("file:"):
                made += 1
                path = scratch / f"client{made}.secret"
                path.write_text(SECRET + "\n")
                path.chmod(0o600)
                args[1] = f"file:{path}"
        elif name in ("idbrokeridpmetadatafile", "idbrokererrortemplate"):
            pytest.fail(f"teach materialize() to write the file of {args[0]}")
        out.append(indent + " ".join(shlex.quote(a) for a in args))
    return "\n".join(out) + "\n"


@pytest.mark.parametrize(("start", "section"), SECTIONS,
                         ids=[f"README.md:{s}" for s, _ in SECTIONS])
def test_tenant_sample_passes_check(start, section, tmp_path):
    conf = tmp_path / "tenant.conf"
    conf.write_text(materialize(section, tmp_path))
    r = subprocess.run([CLI, "check", str(conf)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, f"README.md:{start}: sample fails `idbroker-tenant check`:\n" \
        f"{r.stderr}\n--- as checked ---\n{conf.read_text()}"
    assert "OK" in r.stdout
