"""Integration-test harness: a throw-away Apache httpd per test.

Modelled on mod_md's test env: every test writes its own httpd.conf into a
private work dir and starts a real server on a free 127.0.0.1 port, so tests
exercise the module exactly as production would load it, and never depend on
(or disturb) the system's /etc/apache2 setup.
"""
from __future__ import annotations

import atexit
import functools
import os
import re
import signal
import socket
import subprocess
import time
from pathlib import Path

import requests
from lxml import etree

APACHE_BIN = "/usr/sbin/apache2"
MODULES_DIR = Path("/usr/lib/apache2/modules")
BASE_MODULES = [
    "mpm_event", "authz_core", "authn_core", "authz_host", "mime", "dir",
    "unixd", "log_config", "alias", "headers", "socache_shmcb", "env",
    "setenvif",
]
_RUNNING: set["Httpd"] = set()

# ---- memory checkers (tests/fuzz/asan-integration.sh, valgrind-integration.sh)
# All off unless set, so a plain run starts httpd exactly as before.
#   IDBROKER_HTTPD_PRELOAD=/path/libasan.so   httpd runs with it LD_PRELOADed
#       (the module under test is then an ASan+UBSan build: IDBROKER_MODULE);
#       ASan/UBSan write their reports to <workdir>/memcheck/{asan,ubsan}.PID
#   IDBROKER_HTTPD_VALGRIND=1   httpd runs under valgrind memcheck, reports in
#       <workdir>/memcheck/vg.PID (suppressions: tests/fuzz/valgrind.supp)
#   IDBROKER_TIMEOUT_SCALE=N    every harness timeout times N (valgrind makes
#       httpd start and answer ~10 times slower)
# Any report with an error fails the run: see memcheck_findings() and
# conftest.py.
PRELOAD = os.environ.get("IDBROKER_HTTPD_PRELOAD", "")
VALGRIND = os.environ.get("IDBROKER_HTTPD_VALGRIND", "0") == "1"
MEMCHECK = bool(PRELOAD) or VALGRIND
TIMEOUT_SCALE = float(os.environ.get("IDBROKER_TIMEOUT_SCALE") or 1)
TIMEOUT = 10.0 * TIMEOUT_SCALE
VALGRIND_SUPP = Path(__file__).resolve().parents[1] / "fuzz" / "valgrind.supp"
# What makes a report an error (the rest, e.g. "WARNING: ... set address range
# perms", is noise): ASan/UBSan's own headers, memcheck's error kinds, a crash.
_REPORT_ERROR = re.compile(
    r"ERROR: AddressSanitizer|runtime error:|SUMMARY: (Address|UndefinedBehavior)Sanitizer"
    r"|^==\d+== (Invalid (read|write|free)|Conditional jump|Use of uninitialised"
    r"|Syscall param|Mismatched free|Source and destination overlap"
    r"|Argument '.*' of function|Process terminating with default action)"
    r"|^==\d+== ERROR SUMMARY: [1-9]", re.M)
# httpd's note of a child killed by a signal other than its own SIGTERM/KILL
_CHILD_CRASH = re.compile(r"^.*AH00052: child pid \d+ exit signal (?!Terminated|Killed).*$", re.M)
FINDINGS: list[str] = []          # every error report seen, once (conftest.py)
_SEEN_REPORTS: set = set()        # report files, (error.log, line) pairs


def report_has_error(text: str) -> bool:
    return bool(_REPORT_ERROR.search(text))


_HANDED_OUT: set[int] = set()


def free_port() -> int:
    """An unused TCP port on 127.0.0.1 (kernel-chosen; httpd binds with
    SO_REUSEADDR so the tiny close/re-bind race is harmless in practice).
    Never the same port twice in one run: the kernel picks at random, and a
    config asking for a dozen ports would otherwise now and then get one
    twice (httpd refuses two Listen lines for one port)."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port not in _HANDED_OUT:
            _HANDED_OUT.add(port)
            return port


def _env() -> dict:
    """Stable, locale-free environment so error text is predictable."""
    return {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C", "LC_ALL": "C"}


@functools.lru_cache(maxsize=None)
def _builtin_modules() -> frozenset[str]:
    """Modules compiled into the binary (Debian: unixd, log_config, ...);
    a LoadModule for them would point at a non-existent .so."""
    out = subprocess.run([APACHE_BIN, "-l"], capture_output=True, text=True,
                         env=_env()).stdout
    return frozenset(re.findall(r"^\s*mod_(\w+)\.c$", out, re.M))


def _alive(pid: int) -> bool:
    """True if pid exists and is not a zombie (the daemonized httpd is
    re-parented, and a container's PID 1 may never reap it)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False
    return state not in ("Z", "X")


def _become_subreaper() -> None:
    """Make this process the parent of the daemonized httpd (Linux
    PR_SET_CHILD_SUBREAPER) so stop() can reap it; a container's PID 1 may
    not, leaving <defunct> apache2 entries behind."""
    try:
        import ctypes
        ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0)
    except (OSError, AttributeError):
        pass


def _reap(pgid: int) -> None:
    """Collect exited members of httpd's process group (pgid == master pid
    because httpd calls setsid); never touches subprocess.run's children."""
    while True:
        try:
            if os.waitpid(-pgid, os.WNOHANG) == (0, 0):
                return
        except ChildProcessError:
            return


_become_subreaper()


def _port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def _mkdir(path: Path) -> Path:
    """mkdir -p with explicit 0755: children run as www-data when we are
    root and must be able to traverse/read docroots regardless of umask."""
    path.mkdir(parents=True, exist_ok=True)
    path.chmod(0o755)
    return path


class Httpd:
    """One httpd instance living in `workdir` (logs/, htdocs/, run/)."""

    def __init__(self, workdir: Path, module_path: str | None):
        self.workdir = _mkdir(Path(workdir))
        self.module_path = module_path
        self.port = free_port()
        self.conf = self.workdir / "httpd.conf"
        self.logs = _mkdir(self.workdir / "logs")
        self.htdocs = _mkdir(self.workdir / "htdocs")
        self.rundir = _mkdir(self.workdir / "run")
        self.pidfile = self.rundir / "httpd.pid"
        self.error_log_path = self.logs / "error.log"
        index = self.htdocs / "index.html"
        index.write_text("<html><body>idbroker test</body></html>\n")
        index.chmod(0o644)
        self._pid: int | None = None

    def url(self, path: str = "/") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def write_config(self, body: str, extra_modules: list[str] = (),
                     log_level: str = "info") -> Path:
        """Write a minimal self-contained httpd.conf followed by `body`."""
        mods = []
        for name in [*BASE_MODULES, *extra_modules]:
            name = name.removeprefix("mod_").removesuffix(".so")
            if name not in _builtin_modules():
                mods.append(f"LoadModule {name}_module {MODULES_DIR}/mod_{name}.so")
        if self.module_path:
            mods.append(f"LoadModule auth_idbroker_module {self.module_path}")
        user = "User www-data\nGroup www-data\n" if os.geteuid() == 0 else ""
        w = self.workdir
        text = (
            f"ServerRoot {w}\n"
            + "\n".join(mods) + "\n"
            + user
            + f"Listen 127.0.0.1:{self.port}\n"
            f"ServerName 127.0.0.1:{self.port}\n"
            f"PidFile {self.pidfile}\n"
            f"DefaultRuntimeDir {self.rundir}\n"
            f"Mutex file:{self.rundir} default\n"
            f"ErrorLog {self.error_log_path}\n"
            f"LogLevel {log_level}\n"
            'LogFormat "%h %l %u %t \\"%r\\" %>s %b %D" test\n'
            f"CustomLog {self.logs}/access.log test\n"
            "TypesConfig /etc/mime.types\n"
            "StartServers 1\nServerLimit 2\nThreadsPerChild 10\n"
            "MaxRequestWorkers 20\nMinSpareThreads 5\nMaxSpareThreads 20\n"
            f"DocumentRoot {self.htdocs}\n"
            f"<Directory {self.htdocs}>\n    Require all granted\n</Directory>\n"
            "DirectoryIndex index.html\n"
            "\n# ---- test body ----\n"
            + body + ("" if body.endswith("\n") else "\n")
        )
        self.conf.write_text(text)
        self.conf.chmod(0o644)
        return self.conf

    def _apache(self, *args: str) -> subprocess.CompletedProcess:
        cmd = [APACHE_BIN, "-f", str(self.conf), *args]
        env = _env()
        # -k stop / graceful only signal the running master (which is already
        # checked); start and -t load the module and parse the config.
        signals_only = args[:1] == ("-k",) and args[1:2] != ("start",)
        if PRELOAD:
            # children are killed at stop, so leaks would be noise: ASan's
            # errors, not LSan's; halt_on_error ends the child at the first one
            env["LD_PRELOAD"] = PRELOAD
            # allow_user_segv_handler=0: httpd's own SIGSEGV handler (core
            # dump, no report) must not replace ASan's
            env["ASAN_OPTIONS"] = ("detect_leaks=0:abort_on_error=0:halt_on_error=1"
                                   ":allow_user_segv_handler=0"
                                   f":log_path={self.memcheck_dir}/asan")
            env["UBSAN_OPTIONS"] = ("print_stacktrace=1:halt_on_error=1"
                                    f":log_path={self.memcheck_dir}/ubsan")
        if VALGRIND and not signals_only:
            cmd = ["valgrind", "--tool=memcheck", "--trace-children=yes", "--vgdb=no",
                   "--leak-check=no", "--error-exitcode=42", "--num-callers=30",
                   f"--suppressions={VALGRIND_SUPP}",
                   f"--log-file={self.memcheck_dir}/vg.%p", *cmd]
        return subprocess.run(cmd, capture_output=True, text=True, env=env,
                              timeout=TIMEOUT * 3)

    @property
    def memcheck_dir(self) -> Path:
        """Where ASan/UBSan/valgrind write reports: world-writable, as the
        children run as www-data when we are root."""
        d = self.workdir / "memcheck"
        if not d.is_dir():
            d.mkdir()
            d.chmod(0o777)
        return d

    def memcheck_findings(self) -> list[str]:
        """Reports with an error in memcheck_dir not returned before, each
        as its file name and text, and children that died of a signal
        (error.log); also added to FINDINGS."""
        new = []
        d = self.workdir / "memcheck"
        for f in sorted(d.iterdir()) if d.is_dir() else ():
            if f in _SEEN_REPORTS:
                continue
            text = f.read_text(errors="replace")
            if report_has_error(text):
                _SEEN_REPORTS.add(f)
                new.append(f"--- {f} ---\n{text}")
        for line in _CHILD_CRASH.findall(self.error_log()):
            if (self.error_log_path, line) not in _SEEN_REPORTS:
                _SEEN_REPORTS.add((self.error_log_path, line))
                new.append(f"--- {self.error_log_path} ---\n{line}")
        FINDINGS.extend(new)
        return new

    def configtest(self) -> subprocess.CompletedProcess:
        """`apache2 -t`; stdout and stderr are captured separately."""
        return self._apache("-t")

    def error_log(self) -> str:
        try:
            return self.error_log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def _fail(self, what: str, proc: subprocess.CompletedProcess | None = None):
        out = f"\n--- apache2 output ---\n{proc.stdout}{proc.stderr}" if proc else ""
        tail = "\n".join(self.error_log().splitlines()[-30:])
        raise RuntimeError(f"httpd {what} (port {self.port}, {self.workdir}){out}"
                           f"\n--- error.log tail ---\n{tail}")

    def _read_pid(self) -> int | None:
        try:
            return int(self.pidfile.read_text().strip())
        except (FileNotFoundError, ValueError):
            return None

    def start(self) -> "Httpd":
        """Start daemonized; return once the pid file exists and the port
        accepts connections, so tests never race the server start-up."""
        self.pidfile.unlink(missing_ok=True)
        proc = self._apache("-k", "start")
        if proc.returncode != 0:
            self._fail(f"start failed (rc={proc.returncode})", proc)
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline:
            pid = self._read_pid()
            if pid:
                self._pid = pid
                _RUNNING.add(self)
                if not _alive(pid):
                    self.stop()
                    self._fail("died right after start", proc)
                if _port_open(self.port):
                    return self
            time.sleep(0.05)
        self.stop()
        self._fail("did not come up within %.0fs" % TIMEOUT, proc)

    def stop(self) -> None:
        """Graceful `-k stop`, then SIGKILL of the whole process group
        (httpd calls setsid, so pgid == master pid) if it hangs."""
        pid = self._pid or self._read_pid()
        if not pid:
            return
        if _alive(pid):
            if self.conf.exists() and self._apache("-k", "stop").returncode != 0:
                os.kill(pid, signal.SIGTERM)
            deadline = time.monotonic() + TIMEOUT
            while _alive(pid) and time.monotonic() < deadline:
                time.sleep(0.05)
            if _alive(pid):
                try:
                    os.killpg(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                deadline = time.monotonic() + 2
                while _alive(pid) and time.monotonic() < deadline:
                    time.sleep(0.05)
        _reap(pid)
        self._pid = None
        _RUNNING.discard(self)
        if MEMCHECK:
            self.memcheck_findings()

    def reload(self) -> None:
        """`-k graceful`; done when a new "resuming normal operations" line
        appears, i.e. the new config generation is really serving."""
        marker = "resuming normal operations"
        before = self.error_log().count(marker)
        proc = self._apache("-k", "graceful")
        if proc.returncode != 0:
            self._fail(f"graceful failed (rc={proc.returncode})", proc)
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline:
            if self.error_log().count(marker) > before and _port_open(self.port):
                return
            time.sleep(0.05)
        self._fail("reload not confirmed in error.log", proc)

    def __enter__(self) -> "Httpd":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


@atexit.register
def _stop_all() -> None:
    """Last line of defence: never leave a daemonized httpd behind."""
    for h in list(_RUNNING):
        h.stop()


def running_memcheck_findings() -> list[str]:
    """New error reports of the httpds still running (a child that hit an
    error has already written it; the master may run on)."""
    return [r for h in list(_RUNNING) for r in h.memcheck_findings()]


def _request(method: str, url: str, session: requests.Session | None = None, **kw):
    """No redirects (tests assert on 302 + Location), a timeout, and no
    environment proxies (trust_env=False) so 127.0.0.1 is always direct."""
    kw.setdefault("allow_redirects", False)
    kw.setdefault("timeout", 10 * TIMEOUT_SCALE)
    if session is not None:
        return session.request(method, url, **kw)
    with requests.Session() as s:
        s.trust_env = False
        return s.request(method, url, **kw)


def get(url: str, session: requests.Session | None = None, **kw) -> requests.Response:
    return _request("GET", url, session, **kw)


def post(url: str, session: requests.Session | None = None, **kw) -> requests.Response:
    return _request("POST", url, session, **kw)


# ---------------------------------------------------------------- SAML schema
XMLTOOLING = Path("/usr/share/xml/xmltooling")   # Debian: xmltooling-schemas
OPENSAML = Path("/usr/share/xml/opensaml")       # Debian: opensaml-schemas
# Imported first so that the metadata/assertion schemas' own imports of these
# namespaces (remote w3.org URLs) are skipped by libxml2 as "already imported".
_WRAPPER = """<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema">
 <xs:import namespace="http://www.w3.org/XML/1998/namespace" schemaLocation="{t}/xml.xsd"/>
 <xs:import namespace="http://www.w3.org/2000/09/xmldsig#" schemaLocation="{t}/xmldsig-core-schema.xsd"/>
 <xs:import namespace="http://www.w3.org/2001/04/xmlenc#" schemaLocation="{t}/xenc-schema.xsd"/>
 <xs:import namespace="urn:oasis:names:tc:SAML:2.0:metadata" schemaLocation="{o}/saml-schema-metadata-2.0.xsd"/>
</xs:schema>"""


class _OfflineResolver(etree.Resolver):
    """Refuse anything that is not a local file: a network fetch during
    schema compilation would be a harness bug, not a flaky test."""

    def resolve(self, url, pubid, context):
        if url and not (url.startswith("file:") or url.startswith("/")):
            raise RuntimeError(f"schema tried to load non-local {url!r}")
        return None


def _parser() -> etree.XMLParser:
    p = etree.XMLParser(no_network=True, resolve_entities=False, load_dtd=False)
    p.resolvers.add(_OfflineResolver())
    return p


@functools.lru_cache(maxsize=1)
def saml_metadata_schema() -> etree.XMLSchema:
    """Compiled OASIS SAML 2.0 metadata schema (cached: compiling is slow)."""
    wrapper = _WRAPPER.format(t=XMLTOOLING.as_uri(), o=OPENSAML.as_uri())
    return etree.XMLSchema(etree.fromstring(wrapper.encode(), _parser()))


def validate_saml_metadata(xml_bytes: bytes) -> list[str]:
    """Schema-validate SAML metadata offline; [] means valid."""
    try:
        doc = etree.fromstring(xml_bytes, _parser())
    except etree.XMLSyntaxError as e:
        return [f"not well-formed: {e}"]
    schema = saml_metadata_schema()
    if schema.validate(doc):
        return []
    return [f"line {e.line}: {e.message}" for e in schema.error_log]
