"""mod_auth_idbroker benchmarks, side by side with mod_auth_mellon in one run.
Run through bench/run.sh (installs, builds, then calls this). Prints tables;
asserts nothing: these are benchmarks, not tests.

    /usr/bin/python3 bench/bench.py [--parts 1,2,3,4] [--seconds 10] ...
"""
from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402
from common import Idp, Signer, log, pki, workdir  # noqa: E402


def machine() -> str:
    cpu = "?"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem = Path("/proc/meminfo").read_text().splitlines()[0].split()[1]

    def ver(cmd):
        try:
            return subprocess.run(cmd, capture_output=True, text=True).stdout.strip().splitlines()[0]
        except (OSError, IndexError):
            return "?"

    mellon = ver(["dpkg-query", "-W", "-f=${Version}", "libapache2-mod-auth-mellon"])
    lasso = ver(["dpkg-query", "-W", "-f=${Version}", "liblasso3"])
    return (f"machine: nproc={os.cpu_count()}, CPU {cpu}, {int(mem) // 1024} MiB RAM, "
            f"kernel {platform.release()}\n"
            f"software: {ver(['/usr/sbin/apache2', '-v'])}, {ver(['openssl', 'version'])}, "
            f"lasso {lasso}, mod_auth_mellon {mellon}, {ver(['wrk', '-v'])}\n"
            f"module: {common.MODULE}")


def loadavg() -> str:
    return Path("/proc/loadavg").read_text().split()[0]


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--parts", default="1,2,3,4")
    ap.add_argument("--seconds", type=int, default=10, help="wrk duration per measurement")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--conns", type=int, default=16)
    ap.add_argument("--signins", type=int, default=1500, help="ours, per cell of part 2")
    ap.add_argument("--untuned-signins", type=int, default=40)
    ap.add_argument("--entities", type=int, default=5000)
    ap.add_argument("--sessions", type=int, default=100000)
    ap.add_argument("--session-budget", type=int, default=120,
                    help="seconds of sign-ins allowed to reach --sessions")
    ap.add_argument("--shmcb-size", type=int, default=268435456)
    args = ap.parse_args()
    parts = [p.strip() for p in args.parts.split(",") if p.strip()]

    info = machine()
    print(info, flush=True)
    base = workdir("shared")
    idp = Idp(base)
    signer = Signer(pki.key_pem(idp.key), idp.cert_b64, idp.entity_id)
    out = []
    t_all = time.monotonic()
    for part in parts:
        t0 = time.monotonic()
        la = loadavg()
        log(f"== part {part} (1-min load average before: {la})")
        if part == "1":
            import p1_protected
            from stores import RedisServer
            text = p1_protected.run(idp, signer, args, RedisServer)
        elif part == "2":
            import p2_signin
            text = p2_signin.run(idp, signer, args)
        elif part == "3":
            import p3_metadata
            text = p3_metadata.run(idp, signer, args)
        elif part == "4":
            import p4_sessions
            text = p4_sessions.run(idp, signer, args)
        else:
            log(f"unknown part {part}")
            continue
        out.append(text + f"\n(part {part}: {time.monotonic() - t0:.0f} s, 1-min load "
                          f"average before {la}, after {loadavg()})")
    print("\n" + "=" * 100 + "\nSUMMARY\n" + info + "\n" + "\n".join(out), flush=True)
    print(f"\nbench: done in {time.monotonic() - t_all:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
