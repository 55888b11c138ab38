"""Instructions per protected request with a valid session, against the same
static page unprotected, counted by callgrind: deterministic, so unlike the
req/s of part 1 it is not disturbed by other jobs on the machine.

One httpd in single-process mode (-X) under valgrind --tool=callgrind, the
bench SP config (shmcb, or redis with sealing: --store redis); one real
sign-in, then alternating batches of requests on one keep-alive connection:
the unprotected page and the protected page, both with the same session
cookie and Accept header, so they differ only by the module's work. A dump
is written after every quick-handler call (once per request); dump j covers
the end of request j-1 and the start of request j, so within a batch of
like requests it is one request's worth. The first dump of every batch
(mixed kinds) is dropped.

Prints instructions per request (mean over the batches) for both kinds,
the difference, and the inclusive costs of the module's functions on the
protected path (callgrind_annotate on --sample dumps of each kind).

    BENCH_MODULE=./mod_auth_idbroker.so /usr/bin/python3 bench/callgrind_protected.py \\
        [--store shmcb|redis] [-n 200] [--sample 8] [--top 30]
"""
from __future__ import annotations

import argparse
import re
import subprocess
import time
from pathlib import Path

import callgrind_httpd
import common
from common import Conn, Idp, Signer, get_req, workdir
from sp import OPEN, PORTAL, IdBrokerSp, sign_in_once

import pki

DUMP_FN = "ib_endpoint_dispatch"    # the quick handler: runs once for every request
# The functions of the protected path worth showing even when small.
PATH_FNS = ["ib_check_user_id", "ib_session_load", "ib_idp_sync_for_request",
            "ib_idp_source_poll", "ib_store_session_key", "ib_cache_get", "ib_cache_put",
            "ib_unseal", "ib_session_decode", "ib_export_identity", "ib_cookie_get",
            "ib_strip_identity_headers", "ib_session_memo_lookup", "cJSON_Parse",
            "EVP_Digest", "apr_stat", "apr_global_mutex_lock", "apr_table_set"]


def dump_total(path: Path) -> int:
    """The dump's total instructions (its "totals:" or "summary:" line)."""
    for line in path.read_text(errors="replace").splitlines():
        if line.startswith(("totals:", "summary:")):
            return int(line.split()[1])
    return 0


def inclusive(out: Path) -> dict:
    text = subprocess.run(["callgrind_annotate", "--inclusive=yes", "--threshold=100",
                           str(out)], capture_output=True, text=True, timeout=300).stdout
    costs: dict = {}
    for line in text.splitlines():
        m = re.match(r"^\s*([\d,]+) \([\s\d.]+%\)\s+\S*:(\S+)", line)
        if m:
            costs.setdefault(m.group(2), int(m.group(1).replace(",", "")))
    return costs


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--store", default="shmcb", choices=["shmcb", "redis"])
    ap.add_argument("-n", type=int, default=200, help="requests per kind")
    ap.add_argument("--batches", type=int, default=2, help="alternating batches per kind")
    ap.add_argument("--warmup", type=int, default=20)
    ap.add_argument("--sample", type=int, default=8,
                    help="dumps per kind given to callgrind_annotate for the breakdown")
    ap.add_argument("--top", type=int, default=30)
    args = ap.parse_args()

    base = workdir("callgrind-protected-shared")
    idp = Idp(base)
    signer = Signer(pki.key_pem(idp.key), idp.cert_b64, idp.entity_id)
    name = f"callgrind-protected-{args.store}"
    redis = None
    if args.store == "redis":
        from stores import RedisServer
        redis = RedisServer().__enter__()
        sp = IdBrokerSp(name, idp, start=False, cache=redis.spec, store_key=True,
                        extra_modules=["socache_redis"])
    else:
        sp = IdBrokerSp(name, idp, start=False,
                        cache="shmcb:" + str(common.WORK) + f"/{name}/sessions.shm(8388608)")
    proc, cg_dir = callgrind_httpd.start(sp, DUMP_FN, OPEN)
    batches: dict = {"open": [], "protected": []}
    try:
        value = sign_in_once(sp, signer)
        if value is None:
            raise SystemExit("sign-in failed")
        cookie = sp.session_cookie(value)
        extra = "Accept: application/json\r\n"
        reqs = {"open": get_req(sp.port, OPEN, cookie, extra),
                "protected": get_req(sp.port, PORTAL, cookie, extra)}
        conn = Conn(sp.port)

        def dumps() -> int:
            time.sleep(0.3)
            return len(list(cg_dir.glob("callgrind.out.*")))

        for kind in ("open", "protected"):
            for _ in range(args.warmup):
                st, _h, _b = conn.request(reqs[kind])
        per = max(1, args.n // args.batches)
        for _ in range(args.batches):
            for kind in ("open", "protected"):
                first = dumps()
                bad = 0
                for _ in range(per):
                    st, _h, body = conn.request(reqs[kind])
                    bad += st != 200 or body.decode(errors="replace") != common.PAGE_TEXT
                if bad:
                    raise SystemExit(f"{kind}: {bad} answers were not the page")
                batches[kind].append((first, dumps()))
        conn.close()
    finally:
        proc.kill()
        proc.wait(timeout=120)
        if redis is not None:
            redis.__exit__(None, None, None)
    files = sorted(cg_dir.glob("callgrind.out.*"), key=lambda p: int(p.name.rsplit(".", 1)[1]))
    mean, chosen = {}, {}
    for kind, spans in batches.items():
        picked = [f for a, b in spans for f in files[a + 1:b]]   # drop each batch's first
        totals = [dump_total(f) for f in picked]
        mean[kind] = sum(totals) / max(1, len(totals))
        step = max(1, len(picked) // max(1, args.sample))
        chosen[kind] = picked[::step][:args.sample]
        print(f"{kind:>9}: {len(totals)} requests, instructions per request: mean "
              f"{mean[kind]:,.0f}, min {min(totals):,}, max {max(totals):,}")
    print(f"protected - unprotected: {mean['protected'] - mean['open']:,.0f} instructions "
          f"per request ({args.store}); protected/unprotected = "
          f"{mean['open'] / mean['protected'] * 100:.1f} % of the unprotected rate if "
          f"CPU-bound")
    costs: dict = {}
    for kind, picked in chosen.items():
        acc: dict = {}
        for f in picked:
            for fn, c in inclusive(f).items():
                acc[fn] = acc.get(fn, 0) + c
        costs[kind] = {fn: c / len(picked) for fn, c in acc.items()}
    prot, opened = costs["protected"], costs["open"]
    print("module functions on the protected path (inclusive, per request):")
    for fn in PATH_FNS:
        if fn in prot:
            print(f"    {prot[fn]:>10,.0f}  {fn}")
    print(f"top inclusive costs per protected request that the unprotected one has less of "
          f"(protected, unprotected):")
    diff = sorted(prot, key=lambda fn: -(prot[fn] - opened.get(fn, 0)))
    for fn in diff[:args.top]:
        print(f"    {prot[fn]:>10,.0f} {opened.get(fn, 0):>10,.0f}  {fn}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
