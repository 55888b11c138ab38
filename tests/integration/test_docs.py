"""docs/directives.md is generated from the module's directive tables
(tools/gen-directives-doc.py) and must be current: it fails when the file is
stale, or when httpd, with the module loaded, knows a directive (`apache2 -L`:
the module's real command table) that the reference does not describe with
the same help text.

Run: /usr/bin/python3 -m pytest -q -p no:cacheprovider tests/integration/test_docs.py
"""
from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest

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
