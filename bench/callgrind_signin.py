"""Instructions per sign-in, counted by callgrind: deterministic, so unlike
the throughput of part 2 it is not disturbed by other jobs on the machine.

One httpd in single-process mode (-X) under valgrind --tool=callgrind, the
bench SP config; a few warm-up sign-ins (lasso server pool, OpenSSL and
xmlsec caches), counters zeroed, then N sign-ins (AuthnRequest, then a
fresh signed Response to the ACS). Prints instructions per sign-in for the
whole process, the sign-in start (check_authn hook) and the ACS (quick
handler), and the top inclusive costs.

    BENCH_MODULE=./mod_auth_idbroker.so /usr/bin/python3 bench/callgrind_signin.py \\
        [--key rsa2048|ec256] [--binding post|redirect] [-n 20] [--top 25]
"""
from __future__ import annotations

import argparse
import re
import subprocess
import time
from pathlib import Path

import callgrind_httpd
import common
from common import Conn, Idp, Signer, workdir
from sp import IdBrokerSp

import pki

START_FN = "ib_check_user_id"       # the check_authn hook: sign-in start
ACS_FN = "ib_endpoint_dispatch"     # the quick handler: /saml/acs


def inclusive(out: Path, top: int) -> tuple[dict, str, int]:
    text = subprocess.run(["callgrind_annotate", "--inclusive=yes", f"--threshold=100",
                           str(out)], capture_output=True, text=True, timeout=300).stdout
    costs = {}
    total = 0
    m = re.search(r"^([\d,]+) \(100\.0%\)\s+PROGRAM TOTALS", text, re.M)
    if m:
        total = int(m.group(1).replace(",", ""))
    lines = []
    for line in text.splitlines():
        mm = re.match(r"^\s*([\d,]+) \([\s\d.]+%\)\s+\S*:(\S+)", line)
        if mm:
            fn = mm.group(2)
            costs.setdefault(fn, int(mm.group(1).replace(",", "")))
            if len(lines) < top:
                lines.append(line.strip())
    return costs, "\n".join(lines), total


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--key", default="rsa2048", choices=["rsa2048", "ec256", "rsa", "ec"])
    ap.add_argument("--binding", default="post", choices=["post", "redirect"])
    ap.add_argument("-n", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--top", type=int, default=30)
    args = ap.parse_args()
    args.key = {"rsa": "rsa2048", "ec": "ec256"}.get(args.key, args.key)

    base = workdir("callgrind-shared")
    idp = Idp(base)
    signer = Signer(pki.key_pem(idp.key), idp.cert_b64, idp.entity_id)
    name = f"callgrind-{args.key}-{args.binding}"
    sp = IdBrokerSp(name, idp, key_kind=args.key, sso_binding=args.binding, start=False,
                    cache="shmcb:" + str(common.WORK) + f"/{name}/sessions.shm(8388608)")
    # One dump at the end of every quick-handler call (each request runs it
    # once): sign-in j's dumps cover everything from the end of sign-in j-1's
    # ACS request to the end of its own, i.e. the whole sign-in.
    proc, cg_dir = callgrind_httpd.start(sp, ACS_FN, "/open/page.html")
    try:
        def sign_ins(count: int, tag: str) -> int:
            ok = 0
            for i in range(count):
                conn = Conn(sp.port)
                it = sp.decode(sp.start(conn))
                if it is None:
                    conn.close()
                    continue
                it["xml"] = signer.response(acs=it["acs"], audience=it["audience"],
                                            irt=it["irt"], user=f"{tag}{i}@bench.example.test",
                                            n=i)
                fin = sp.finish(conn, it)
                conn.close()
                ok += fin[0] == "ok"
            return ok

        sign_ins(args.warmup, "w")
        time.sleep(1)
        first = len(list(cg_dir.glob("callgrind.out.*")))
        ok = sign_ins(args.n, "m")
        time.sleep(1)
    finally:
        proc.kill()
        proc.wait(timeout=120)
    dumps = sorted(cg_dir.glob("callgrind.out.*"), key=lambda p: int(p.name.rsplit(".", 1)[1]))
    measured = dumps[first:]
    per_fn: dict = {}
    total = 0
    for d in measured:
        costs, top, t = inclusive(d, args.top)
        total += t
        for fn, c in costs.items():
            per_fn[fn] = per_fn.get(fn, 0) + c
    n = max(ok, 1)
    print(f"key={args.key} binding={args.binding}: {ok}/{args.n} sign-ins measured "
          f"({len(measured)} dumps)")
    print(f"  instructions per sign-in: whole process {total / n:,.0f}; inclusive: "
          f"sign-in start ({START_FN}) {per_fn.get(START_FN, 0) / n:,.0f}, "
          f"ACS ({ACS_FN}) {per_fn.get(ACS_FN, 0) / n:,.0f}")
    print("  top inclusive costs per sign-in:")
    for fn, c in sorted(per_fn.items(), key=lambda kv: -kv[1])[:args.top]:
        print(f"    {c / n:>14,.0f}  {fn}")
    return 0 if ok == args.n else 1


if __name__ == "__main__":
    raise SystemExit(main())
