#!/usr/bin/env python3
"""Writes docs/directives.md from the module's own directive tables:

- mod_src/core/ib_directives.def: the tenant directives (IB_DIRECTIVE lines),
  which the core applies and the glue registers with httpd;
- mod_src/ib_config.c: the httpd command table (AP_INIT_* entries): sections,
  server and per-directory directives.

Name, context, arguments, default (the "(default ...)" of the help text) and
the help text itself, which is what `apachectl -L` prints. Run it after
changing a directive; tests/integration/test_docs.py fails while the file is
stale or misses a directive the module registers.

usage: tools/gen-directives-doc.py [--check] [SRCDIR]
  --check   compare with docs/directives.md instead of writing it (exit 1 if stale)
"""
from __future__ import annotations

import difflib
import re
import sys
from pathlib import Path

OUT = "docs/directives.md"
DEF_FILE = "mod_src/core/ib_directives.def"
GLUE_FILE = "mod_src/ib_config.c"
CONF_H = "mod_src/core/ib_conf.h"

STRINGS = r'((?:"(?:[^"\\]|\\.)*"\s*)+)'
IB_DIRECTIVE_RE = re.compile(
    r'IB_DIRECTIVE\(\s*"(\w+)"\s*,\s*([\w|\s]+?)\s*,\s*(\d+)\s*,\s*(\d+)\s*,\s*(\w+)\s*,\s*'
    + STRINGS + r'\)')
AP_INIT_RE = re.compile(
    r'AP_INIT_(\w+)\(\s*((?:"<"\s*)?\w+|"[^"]*")\s*,\s*(\w+)\s*,\s*\w+\s*,\s*([\w|\s]+?)\s*,\s*'
    + STRINGS + r'\)')
DEFAULT_RES = [re.compile(r"\(default:?\s+([^)]*)\)"),
               re.compile(r"[(,;]\s*default:?\s+([^);,]*)"),
               re.compile(r"(\S+) \(default\)")]

ARGS = {"TAKE1": "1", "TAKE2": "2", "TAKE3": "3", "TAKE12": "1–2", "TAKE13": "1 or 3",
        "TAKE23": "2–3", "TAKE123": "1–3", "ITERATE": "1 or more", "ITERATE2": "2 or more",
        "FLAG": "On or Off", "NO_ARGS": "none", "TAKE_ARGV": "any", "RAW_ARGS": "any"}
# Sections whose nesting the command table cannot express.
SECTION_CONTEXT = {"<IdBrokerApp": "inside `<IdBrokerTenant>`"}


def c_strings(text: str) -> str:
    """The value of adjacent C string literals."""
    parts = re.findall(r'"((?:[^"\\]|\\.)*)"', text)
    return re.sub(r"\\(.)", r"\1", "".join(parts))


def strip_comments(src: str) -> str:
    return re.sub(r"/\*.*?\*/", "", src, flags=re.S)


def function_body(sources: list[str], name: str) -> str:
    for src in sources:
        m = re.search(r"\b" + re.escape(name) + r"\s*\([^;{]*\)\s*\{", src)
        if m:
            end = src.find("\n}\n", m.end())
            return src[m.end():end if end >= 0 else None]
    return ""


def default_of(help_text: str) -> str:
    for rx in DEFAULT_RES:
        m = rx.search(help_text)
        if m:
            return m.group(1).strip()
    return ""


def args_range(lo: int, hi: int) -> str:
    return str(lo) if lo == hi else f"{lo}–{hi}"


def parse(root: Path) -> list[dict]:
    """Every directive, in table order: name, group, context, args, default, help."""
    conf_h = (root / CONF_H).read_text()
    sections = dict(re.findall(r'#define\s+(IB_SECTION_\w+)\s+"([^"]+)"', conf_h))
    glue = strip_comments((root / GLUE_FILE).read_text())
    sources = [strip_comments(p.read_text()) for p in sorted((root / "mod_src").glob("*.c"))]
    tenant = []
    for name, where, lo, hi, _setter, text in IB_DIRECTIVE_RE.findall(
            strip_comments((root / DEF_FILE).read_text())):
        flags = {w.strip() for w in where.split("|")}
        places = [p for f, p in (("IB_IN_TENANT", "`<IdBrokerTenant>`"),
                                 ("IB_IN_APP", "`<IdBrokerApp>`")) if f in flags]
        help_text = c_strings(text)
        tenant.append({"name": name, "context": " or ".join(places),
                       "group": "app" if flags == {"IB_IN_APP"} else "tenant",
                       "args": args_range(int(lo), int(hi)),
                       "default": default_of(help_text), "help": help_text})
    out = []
    table = glue[glue.index("const command_rec ib_directives[]"):]
    for m in re.finditer(AP_INIT_RE.pattern + r'|#include\s+"core/ib_directives\.def"', table):
        if m.group(0).startswith("#include"):
            out.extend(tenant)
            continue
        kind, raw_name, func, where, text = m.group(1, 2, 3, 4, 5)
        if raw_name.startswith('"<"'):
            name = "<" + sections[raw_name.split()[-1]]
        else:
            name = raw_name.strip('"')
        help_text = c_strings(text)
        global_only = "GLOBAL_ONLY" in function_body(sources, func)
        if name.startswith("<"):
            group = "section"
            context = SECTION_CONTEXT.get(name, "server config (main server only)"
                                          if global_only else "server config")
            args = "1 (the section's name)"
        elif "OR_AUTHCFG" in where:
            group = "location"
            context = "directory, location, .htaccess (AllowOverride AuthConfig)"
            args = ARGS.get(kind, kind)
        else:
            group = "server"
            context = ("server config (main server only)" if global_only
                       else "server config, virtual host")
            args = ARGS.get(kind, kind)
        out.append({"name": name, "group": group, "context": context, "args": args,
                    "default": default_of(help_text), "help": help_text})
    return out


GROUPS = [
    ("server", "Server configuration",
     "In the main server configuration, outside any section."),
    ("location", "Protected locations",
     "In `<Location>` and `<Directory>` sections (and `.htaccess` with `AllowOverride "
     "AuthConfig`) that have `AuthType IdBroker`."),
    ("section", "Tenant sections",
     "One `<IdBrokerTenant NAME>` per tenant in the main server configuration, usually one "
     "file per tenant (`Include tenants.d/*.conf`); inside it one `<IdBrokerApp primary>` "
     "and optionally one `<IdBrokerApp custom-domain>`."),
    ("tenant", "Inside `<IdBrokerTenant>`",
     "Directives for the whole tenant; those that may also appear in `<IdBrokerApp>` "
     "override the tenant's value for that app."),
    ("app", "Inside `<IdBrokerApp>`", "Directives for one app of a tenant."),
]


def cell(text: str) -> str:
    return (text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace("|", "\\|"))


def shown_name(name: str) -> str:
    return f"`{name}>`" if name.startswith("<") else f"`{name}`"


def render(directives: list[dict]) -> str:
    lines = [
        "# Directive reference",
        "",
        "<!-- Generated by tools/gen-directives-doc.py from mod_src/core/ib_directives.def and",
        "     mod_src/ib_config.c: do not edit by hand; run the tool after changing a directive",
        "     (tests/integration/test_docs.py fails while this file is stale). -->",
        "",
        "Every directive of mod_auth_idbroker, from the module's own directive tables. The",
        "description is the help text `apachectl -L` prints; *Default* is what applies when the",
        "directive is absent (— when there is none: the directive is optional without a value,",
        "or required). Tenant directives are checked when the configuration is read: a bad",
        "value fails `apachectl -t` (and `idbroker-tenant check`) with the file and line.",
        "",
    ]
    for group, title, intro in GROUPS:
        rows = [d for d in directives if d["group"] == group]
        if not rows:
            continue
        lines += [f"## {title}", "", intro, "",
                  "| Directive | Context | Arguments | Default | Description |",
                  "|---|---|---|---|---|"]
        for d in rows:
            lines.append(f"| {shown_name(d['name'])} | {d['context']} | {d['args']} | "
                         f"{cell(d['default']) or '—'} | {cell(d['help'])} |")
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    check = "--check" in argv
    rest = [a for a in argv if a != "--check"]
    root = Path(rest[0]) if rest else Path(__file__).resolve().parents[1]
    text = render(parse(root))
    path = root / OUT
    if check:
        old = path.read_text() if path.exists() else ""
        if old == text:
            return 0
        sys.stdout.writelines(difflib.unified_diff(old.splitlines(True), text.splitlines(True),
                                                   str(path), "generated"))
        print(f"\n{OUT} is stale: run tools/gen-directives-doc.py", file=sys.stderr)
        return 1
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
