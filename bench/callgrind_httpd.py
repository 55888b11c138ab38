"""httpd under valgrind's callgrind, for the callgrind_* drivers: one
process (-X), a dump after every call of one function, started and waited
for here."""
from __future__ import annotations

import subprocess
import time
from pathlib import Path

import common
import harness
from common import Conn


def start(sp, dump_after: str, probe_path: str, timeout: float = 180) -> tuple[subprocess.Popen, Path]:
    """Starts sp's httpd under callgrind and returns once it answers
    probe_path: the process, and the directory its dumps go to."""
    cg_dir = sp.dir / "callgrind"
    cg_dir.mkdir()
    cg_dir.chmod(0o777)    # httpd writes the dumps after switching to its User
    env = {**harness._env(), "TZ": ":/etc/localtime"}
    proc = subprocess.Popen(["valgrind", "--tool=callgrind",
                             f"--callgrind-out-file={cg_dir / 'callgrind.out'}",
                             f"--dump-after={dump_after}", harness.APACHE_BIN, "-X", "-f",
                             str(sp.httpd.conf)],
                            env=env, stdout=subprocess.DEVNULL,
                            stderr=open(sp.dir / "valgrind.log", "w"))
    deadline = time.monotonic() + timeout
    while True:
        try:
            c = Conn(sp.port)
            c.request(common.get_req(sp.port, probe_path))
            c.close()
            return proc, cg_dir
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise SystemExit(f"httpd under valgrind did not serve: {sp.dir / 'valgrind.log'}")
            time.sleep(0.5)
