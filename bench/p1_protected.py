"""Part 1: a protected static page with a valid session, against the same
page unprotected on the same server: ours with shmcb, ours with sealed redis,
and mod_auth_mellon. wrk, event MPM, LogLevel warn, no access log."""
from __future__ import annotations

from common import (Conn, PAGE_TEXT, get_req, log, pct, ratio, table, wrk)
from sp import OPEN, IdBrokerSp, MellonSp, sign_in_once

TARGET = 0.97


def _page_ok(sp, cookie: str) -> bool:
    conn = Conn(sp.port)
    st, _h, body = conn.request(get_req(sp.port, sp.protected(), cookie,
                                        "Accept: application/json\r\n"))
    conn.close()
    return st == 200 and body.decode() == PAGE_TEXT


def measure(sp, signer, args) -> dict:
    value = sign_in_once(sp, signer)
    if value is None:
        return {"error": "sign-in failed"}
    cookie = sp.session_cookie(value)
    if not _page_ok(sp, cookie):
        return {"error": "session cookie not accepted"}
    base = f"http://127.0.0.1:{sp.port}"
    half = max(1, args.seconds // args.rounds)
    opened, prot = [], []
    for _ in range(args.rounds):   # alternate, so drift and neighbours hit both alike
        opened.append(wrk(base + OPEN, threads=args.threads, conns=args.conns, seconds=half))
        prot.append(wrk(base + sp.protected(), threads=args.threads, conns=args.conns,
                        seconds=half, cookie=cookie))
    still = _page_ok(sp, cookie)
    avg = lambda rs, k: sum(r.get(k, 0.0) for r in rs) / len(rs)  # noqa: E731
    return {"open": avg(opened, "rps"), "prot": avg(prot, "rps"),
            "p50": avg(prot, "p50_ms"), "p99": avg(prot, "p99_ms"),
            "open_p50": avg(opened, "p50_ms"),
            "non2xx": sum(r["non2xx"] for r in prot + opened), "still_valid": still}


def run(idp, signer, args, redis_cls) -> str:
    results = {}
    log("part 1: ours, shmcb")
    sp = IdBrokerSp("p1-shmcb", idp)
    try:
        results["mod_auth_idbroker, shmcb"] = measure(sp, signer, args)
    finally:
        sp.httpd.stop()
    log("part 1: ours, redis (sealed)")
    with redis_cls() as redis:
        sp = IdBrokerSp("p1-redis", idp, cache=redis.spec, store_key=True,
                        extra_modules=["socache_redis"])
        try:
            results["mod_auth_idbroker, redis+seal"] = measure(sp, signer, args)
        finally:
            sp.httpd.stop()
    log("part 1: mellon")
    sp = MellonSp("p1-mellon", idp)
    try:
        results["mod_auth_mellon 0.18 (shm cache)"] = measure(sp, signer, args)
    finally:
        sp.httpd.stop()
    mellon = results["mod_auth_mellon 0.18 (shm cache)"].get("prot")
    rows = []
    for name, r in results.items():
        if "error" in r:
            rows.append([name, "-", "-", r["error"], "", "-", "-", "-", "-"])
            continue
        share = r["prot"] / r["open"] if r["open"] else 0
        verdict = "mellon" if name.startswith("mod_auth_mellon") else (
            "met" if share >= TARGET else "MISSED")
        rows.append([name, r["open"], r["prot"], pct(r["prot"], r["open"]),
                     f">= 97 % ({verdict})" if verdict != "mellon" else "-",
                     ratio(r["prot"], mellon) if verdict != "mellon" else "1.00x",
                     r["p50"], r["p99"], f"{r['non2xx']}{'' if r['still_valid'] else ' (session lost!)'}"])
    return table(
        f"1. Protected static page with a valid session vs the same page unprotected "
        f"(wrk -t{args.threads} -c{args.conns}, {args.rounds}x{max(1, args.seconds // args.rounds)} s "
        f"each, alternating)",
        ["server", "unprotected req/s", "protected req/s", "protected/unprotected",
         "target", "protected vs mellon", "p50 ms", "p99 ms", "non-2xx"], rows)
