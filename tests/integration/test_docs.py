"""docs/directives.md is generated from the module's directive tables
(tools/gen-directives-doc.py) and must be current: it fails when the file is
stale, or when httpd, with the module loaded, knows a directive (`apache2 -L`:
the module's real command table) that the reference does not describe with
the same help text.

The hand-written guides (docs/operator-guide.md, docs/idp/*.md) are tied to
the code the same way: every example tenant file has an IdP guide that links
it, every IdBroker... name in README.md and docs/ is a real directive, every
error-page class and audit reason code the source defines has a
troubleshooting entry, every relative link (and #anchor) resolves, and the
guides' httpd samples are valid as written.

Run: /usr/bin/python3 -m pytest -q -p no:cacheprovider tests/integration/test_docs.py
"""
from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest

import test_readme_samples as samples

REPO = Path(__file__).resolve().parents[2]
TOOL = REPO / "tools" / "gen-directives-doc.py"
DOC = REPO / "docs" / "directives.md"


def generator():
    spec = importlib.util.spec_from_file_location("gen_directives_doc", TOOL)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def registered_directives(httpd_factory, module_path) -> dict[str, str]:
    """name -> help text, as `apache2 -L` lists them for mod_auth_idbroker.c."""
    h = httpd_factory(module_path)
    h.write_config("")
    proc = h._apache("-L")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    out = {}
    for i, line in enumerate(lines):
        m = re.match(r"^(\S+) \(mod_auth_idbroker\.c\)$", line)
        if m:
            out[m.group(1)] = lines[i + 1].strip() if i + 1 < len(lines) else ""
    return out


def test_directives_doc_is_current():
    proc = subprocess.run([sys.executable, str(TOOL), "--check", str(REPO)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, (
        "docs/directives.md is stale: run tools/gen-directives-doc.py\n" + proc.stdout
        + proc.stderr)


def test_every_registered_directive_is_documented(httpd_factory, module_path):
    registered = registered_directives(httpd_factory, module_path)
    assert len(registered) > 40, registered          # the listing was read at all
    parsed = {d["name"]: d for d in generator().parse(REPO)}
    doc = DOC.read_text()
    missing = [n for n in registered
               if not re.search(r"^\| `" + re.escape(n) + r">?` \|", doc, re.M)]
    assert not missing, f"directives without an entry in docs/directives.md: {missing}"
    assert sorted(parsed) == sorted(registered), (
        "the generator's view of the directive tables differs from httpd's: "
        f"{sorted(set(parsed) ^ set(registered))}")
    for name, help_text in registered.items():
        assert parsed[name]["help"] == help_text, (name, parsed[name]["help"], help_text)


def test_every_documented_directive_has_context_arguments_and_text():
    rows = [l for l in DOC.read_text().splitlines() if l.startswith("| `")]
    assert rows
    for row in rows:
        cells = [c.strip() for c in re.split(r"(?<!\\)\|", row)[1:-1]]
        assert len(cells) == 5 and all(cells), row


@pytest.mark.parametrize("link", ["docs/directives.md", "docs/audit-log.md",
                                  "docs/error-pages.md"])
def test_readme_links_the_references(link):
    assert f"]({link})" in (REPO / "README.md").read_text()
    assert (REPO / link).is_file()


# ---- the guides (docs/operator-guide.md, docs/idp/) --------------------------------
# Written by hand, so these tests keep them tied to the code: the examples they
# describe, the directive names they use, the error reasons the module can give,
# and the links between them.

DOCS = REPO / "docs"
GUIDE = DOCS / "operator-guide.md"
IDP_GUIDES = sorted((DOCS / "idp").glob("*.md"))
EXAMPLE_TENANTS = sorted((REPO / "examples" / "tenants").glob("*.conf"))
FENCE_LINE = re.compile(r"^\s*```")


def markdown_files() -> list[Path]:
    """README.md and every Markdown file under docs/."""
    return [REPO / "README.md", *sorted(DOCS.rglob("*.md"))]


def prose_lines(text: str) -> list[tuple[int, str]]:
    """(line number, line) outside fenced code blocks: links and headings
    only count there."""
    out, fenced = [], False
    for n, line in enumerate(text.splitlines(), 1):
        if FENCE_LINE.match(line):
            fenced = not fenced
            continue
        if not fenced:
            out.append((n, line))
    return out


def rel(path: Path) -> str:
    return str(path.relative_to(REPO))


# -- every example tenant has a guide ------------------------------------------------

def test_examples_and_guides_exist():
    """Guards the parametrisations below against an empty glob."""
    assert len(EXAMPLE_TENANTS) >= 9, EXAMPLE_TENANTS
    assert (DOCS / "idp" / "README.md") in IDP_GUIDES and len(IDP_GUIDES) >= 7


@pytest.mark.parametrize("example", EXAMPLE_TENANTS, ids=lambda p: p.name)
def test_every_example_tenant_is_linked_from_an_idp_guide(example):
    """A provider example without a setup guide (or a guide that lost its
    link) fails: operators find the example through the guide."""
    link = f"](../../examples/tenants/{example.name})"
    guides = [g.name for g in IDP_GUIDES if g.name != "README.md" and link in g.read_text()]
    assert guides, f"no docs/idp/*.md links {example.name} as {link[1:]}"


# -- only real directive names -------------------------------------------------------

def known_directives() -> set[str]:
    """Every directive the module has: the tenant directives of
    ib_directives.def and the glue's command table (sections, server and
    per-directory directives), as tools/gen-directives-doc.py reads them."""
    from_def = set(re.findall(r'IB_DIRECTIVE\("(IdBroker\w+)"',
                              (REPO / "mod_src/core/ib_directives.def").read_text()))
    from_tables = {d["name"].lstrip("<") for d in generator().parse(REPO)}
    assert len(from_def) > 40 and from_def <= from_tables, from_def - from_tables
    return from_tables


DIRECTIVE_WORD = re.compile(r"\bIdBroker[A-Za-z0-9]+")


def test_docs_name_only_directives_that_exist():
    """Every IdBroker... word in README.md and docs/ (prose and samples) is a
    directive the module knows, so a renamed or invented directive cannot
    survive in the documentation."""
    known = known_directives()
    unknown, seen = [], set()
    for path in markdown_files():
        for n, line in enumerate(path.read_text().splitlines(), 1):
            for word in DIRECTIVE_WORD.findall(line):
                seen.add(word)
                if word not in known:
                    unknown.append(f"{rel(path)}:{n}: {word}")
    assert len(seen) > 40, sorted(seen)          # the scan looked at the guides at all
    assert not unknown, "no such directive:\n" + "\n".join(unknown)


# -- a troubleshooting entry per error page and reason code --------------------------

def page_classes() -> dict[str, set[str]]:
    """Error-page class -> its English titles, from the table of ib_strings.c
    (the texts every ib_error_page call passes). A title may be a macro of
    ib_strings.h (IB_TEXT_...)."""
    macros = dict(re.findall(r'#define (IB_\w+) "([^"]*)"',
                             (REPO / "mod_src/ib_strings.h").read_text()))
    src = (REPO / "mod_src/ib_strings.c").read_text()
    out: dict[str, set[str]] = {}
    for cls, title in re.findall(r'\{"([a-z-]+)",\s*\{(IB_\w+|"[^"]+")', src):
        title = macros[title] if title.startswith("IB_") else title.strip('"')
        out.setdefault(cls, set()).add(title)
    return out


def own_code_pages() -> set[str]:
    """Titles of error pages a handler writes itself, outside that table (the
    attribute error page, while ib_signin.c builds its own HTML)."""
    return set(re.findall(r"<h1>([^<]+)</h1>", (REPO / "mod_src/ib_signin.c").read_text()))


def reason_codes() -> set[str]:
    """Every code ib_audit_reason_code() can return: those of its rule and
    class tables and its literal returns."""
    src = (REPO / "mod_src/core/ib_audit_line.c").read_text()
    codes = set(re.findall(r'\{"[^"]*", "([a-z-]+)"\}', src))
    start = src.index("const char *ib_audit_reason_code(")
    body = src[start:src.index("\n}\n", start)]
    codes |= set(re.findall(r'return "([a-z-]+)";', body))
    return codes


def guide_section(text: str, heading: str, level: int) -> str:
    """The text under `heading` (a line of `level` #s) up to the next heading
    of that level or higher."""
    lines = text.splitlines()
    marker = "#" * level + " " + heading
    start = lines.index(marker)
    end = next((i for i in range(start + 1, len(lines))
                if re.match(r"#{1,%d} " % level, lines[i])), len(lines))
    return "\n".join(lines[start + 1:end])


def entries(section: str) -> dict[str, str]:
    """#### heading -> its body."""
    parts = re.split(r"^#### (.+)$", section, flags=re.M)
    return {parts[i].strip(): parts[i + 1] for i in range(1, len(parts), 2)}


def troubleshooting() -> tuple[dict[str, str], dict[str, str]]:
    text = GUIDE.read_text()
    shooting = guide_section(text, "Troubleshooting", 2)
    return (entries(guide_section(shooting, "Error pages", 3)),
            entries(guide_section(shooting, "Reason codes", 3)))


def assert_complete(heading: str, body: str):
    for part in ("**The user sees:**", "**The log says:**", "**Fix:**"):
        assert part in body, f"troubleshooting entry '{heading}' has no {part}"


def test_the_source_lists_are_read():
    """Guards the derivations: a reworded table must not leave the checks
    below with nothing to check."""
    assert {"error", "cancelled", "expired", "not-configured"} <= set(page_classes())
    assert len(page_classes()) >= 9
    titles = set().union(*page_classes().values()) | own_code_pages()
    assert "Sign-in Attribute Error" in titles
    assert {"replay", "bad-signature", "attribute-error", "other", "cancelled"} <= reason_codes()
    assert len(reason_codes()) >= 27


@pytest.mark.parametrize("page_class", sorted(page_classes()))
def test_every_error_page_class_has_a_troubleshooting_entry(page_class):
    """One entry per class of ib_strings.c, headed with a title the user
    reads and the class; adding a page class without docs fails here."""
    pages, _ = troubleshooting()
    titles = page_classes()[page_class]
    found = [h for h in pages if f"(`{page_class}`)" in h and any(t in h for t in titles)]
    assert found, (f"docs/operator-guide.md, Troubleshooting > Error pages: no "
                   f"'#### <title> (`{page_class}`)' entry for titles {sorted(titles)}")
    assert_complete(found[0], pages[found[0]])


def test_pages_outside_the_table_have_a_troubleshooting_entry():
    pages, _ = troubleshooting()
    for title in own_code_pages():
        found = [h for h in pages if h.startswith(title)]
        assert found, f"no troubleshooting entry for the '{title}' page"
        assert_complete(found[0], pages[found[0]])


@pytest.mark.parametrize("code", sorted(reason_codes()))
def test_every_reason_code_has_a_troubleshooting_entry(code):
    """One entry per audit reason code, headed `code`; adding a code to
    ib_audit_line.c without docs fails here."""
    _, reasons = troubleshooting()
    heading = f"`{code}`"
    assert heading in reasons, (f"docs/operator-guide.md, Troubleshooting > Reason codes: "
                                f"no '#### {heading}' entry")
    assert_complete(heading, reasons[heading])


def test_audit_log_reference_lists_every_reason_code():
    """docs/audit-log.md's table is the format's reference: it must know
    every code the module can write."""
    table = set(re.findall(r"^\| `([a-z-]+)` \|", (DOCS / "audit-log.md").read_text(), re.M))
    assert reason_codes() <= table, sorted(reason_codes() - table)


# -- links -----------------------------------------------------------------------------

LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def heading_anchors(path: Path) -> set[str]:
    """The anchors GitHub makes for a Markdown file's headings: lowercase,
    punctuation other than - and _ dropped, spaces to -, repeats -1, -2, ..."""
    anchors, counts = set(), {}
    for _, line in prose_lines(path.read_text()):
        m = re.match(r"#{1,6} (.+)$", line)
        if not m:
            continue
        text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", m.group(1).strip())
        slug = re.sub(r"[^\w\- ]", "", text.lower()).replace(" ", "-")
        n = counts.get(slug, 0)
        counts[slug] = n + 1
        anchors.add(slug if n == 0 else f"{slug}-{n}")
    return anchors


def broken_links(path: Path) -> list[str]:
    out = []
    for n, line in prose_lines(path.read_text()):
        for target in LINK.findall(line):
            if re.match(r"[a-z]+:", target):
                continue                    # https:, mailto: ...: not ours to check
            file_part, _, anchor = target.partition("#")
            dest = (path.parent / file_part).resolve() if file_part else path
            where = f"{rel(path)}:{n}: ({target})"
            if not dest.exists():
                out.append(f"{where}: {file_part} does not exist")
            elif anchor and dest.suffix == ".md" and anchor not in heading_anchors(dest):
                out.append(f"{where}: no heading #{anchor} in {rel(dest)}")
    return out


def test_anchor_rules_match_github():
    """The slug rules the link check relies on, on headings of the guides."""
    anchors = heading_anchors(DOCS / "idp" / "entra.md")
    assert {"saml-entra-identities-cip_directoryazuread", "3-attributes--claims"} <= anchors
    assert {"pitfalls", "pitfalls-1"} <= heading_anchors(DOCS / "idp" / "okta.md")


@pytest.mark.parametrize("path", markdown_files(), ids=rel)
def test_relative_links_resolve(path):
    """Every relative link in README.md and docs/ names a file that exists
    and, for a #anchor into Markdown, a heading of that file."""
    problems = broken_links(path)
    assert not problems, "broken links:\n" + "\n".join(problems)


# -- the guides' httpd samples ---------------------------------------------------------

def doc_samples() -> list[tuple[str, int, list[str]]]:
    """(file, line, lines) of every ```apache block in docs/."""
    out = []
    for path in sorted(DOCS.rglob("*.md")):
        for start, body in samples.apache_blocks(path.read_text()):
            out.append((rel(path), start, body))
    return out


def test_guides_have_apache_samples():
    assert len(doc_samples()) >= 15


@pytest.mark.parametrize(("name", "start", "body"), doc_samples(),
                         ids=[f"{f}:{s}" for f, s, _ in doc_samples()])
def test_doc_samples_have_no_trailing_comments(name, start, body):
    """As for README.md (test_readme_samples.py): httpd reads a trailing
    # comment as more arguments, so a pasted sample would fail."""
    offenders = [f"{name}:{start + n}: {line.strip()}"
                 for n, line in enumerate(body) if samples.trailing_comment(line) is not None]
    assert not offenders, "put each comment on its own line:\n" + "\n".join(offenders)


def doc_tenant_sections() -> list[tuple[str, int, list[str]]]:
    """Complete <IdBrokerTenant> sections of the docs' samples (those with
    everything a tenant file needs)."""
    out = []
    for name, start, body in doc_samples():
        first = None
        for n, line in enumerate(body):
            s = line.strip().lower()
            if s.startswith("<idbrokertenant"):
                first = n
            elif s == "</idbrokertenant>" and first is not None:
                section = [x for x in body[first:n + 1] if x.strip() != "..."]
                names = {x.split()[0].lower() for x in section if x.strip()}
                if all(r in names for r in samples.REQUIRED):
                    out.append((name, start + first, section))
                first = None
    return out


def test_guides_have_complete_tenant_samples():
    assert len(doc_tenant_sections()) >= 8


@pytest.mark.parametrize(("name", "start", "section"), doc_tenant_sections(),
                         ids=[f"{f}:{s}" for f, s, _ in doc_tenant_sections()])
def test_doc_tenant_sample_passes_check(name, start, section, tmp_path):
    """A tenant the guides show whole is one `idbroker-tenant check` (the
    module's own reader) accepts, once the files it names exist."""
    conf = tmp_path / "tenant.conf"
    conf.write_text(samples.materialize(section, tmp_path))
    r = subprocess.run([samples.CLI, "check", str(conf)], capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, (f"{name}:{start}: sample fails `idbroker-tenant check`:\n"
                               f"{r.stderr}\n--- as checked ---\n{conf.read_text()}")
