"""Every dashboard page a tradie opens, at the size of a real platform, on PostgreSQL.

Fills a throwaway cluster with bench.pgdata (10,000 tradies, 1,000,000 bookings), serves the
production app from gunicorn (gunicorn.conf.py) with an empty Flask route, and measures, for the
biggest tradie (100,000 bookings) and a typical one (200):

1. each page's cost against the empty route in the same run: requests per second (median of
   the rounds' pairs) and server CPU per request (gunicorn workers plus PostgreSQL's backends,
   read from /proc; steadier on a shared machine). Budget: at least 0.3 x the empty route, and
   p99 at most 3 x p50;
2. each page's SQL statements (in-process, the same app) with PostgreSQL's EXPLAIN: fails on a
   sequential scan of a large table, and on a statement count that differs between the two
   tradies (the count must not grow with history);
3. the CSV export of all 100,000 bookings: time, bytes and the worker's peak RSS before and
   after (it streams: the peak must stay within 64 MB of where it was).

    python -m bench.pages [--seconds 3] [--rounds 3] [--concurrency 8] [--json PATH]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import re
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from bench import pgdata
from bench.loadgen import load
from bench.widget import EMPTY, ZONE, Server

RESULTS = Path(__file__).resolve().parent / "results" / "pages.json"
MIN_RATIO = 0.3
MAX_TAIL = 3.0  # p99 / p50
CSV_RSS_GROWTH_MB = 64
LARGE_TABLES = {"bookings", "payments", "audit_log", "outbox_messages", "customers", "tradies"}
EXPLAIN = "EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) "  # SELECTs only: safe to run
TRADIES = {"big": pgdata.BIG_EMAIL, "typical": pgdata.TYPICAL_EMAIL}


def targets(booking_ids: dict[str, int]) -> dict[str, dict[str, str]]:
    week = (datetime.now(ZONE).date() + timedelta(days=7)).isocalendar()
    pages = {
        "overview": "/dashboard",
        "calendar week": f"/dashboard/calendar?week={week[0]}-W{week[1]:02d}",
        "bookings": "/dashboard/bookings",
        "bookings page 400": "/dashboard/bookings?when=all&page=400",
        "bookings cancelled": "/dashboard/bookings?when=all&status=cancelled",
        "bookings search": "/dashboard/bookings?when=all&q=customer12345",
        "customers": "/dashboard/customers",
        "payments per month": "/dashboard/payments",
        "analytics": "/dashboard/analytics",
    }
    return {
        who: pages | {"booking detail": f"/dashboard/bookings/{booking_ids[who]}"}
        for who in TRADIES
    }


# --- signing in -------------------------------------------------------------------------------


def _cookies(headers: list[str]) -> dict[str, str]:
    return dict(h.split(";", 1)[0].split("=", 1) for h in headers)


def sign_in(port: int, email: str) -> dict[str, str]:
    """The Cookie header of a signed-in session (the login form, as a browser posts it)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("GET", "/auth/login")
        page = conn.getresponse()
        html = page.read().decode()
        cookies = _cookies(page.headers.get_all("Set-Cookie") or [])
        token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html)
        assert token, "the login page carries no CSRF token"
        body = urlencode({"email": email, "password": pgdata.PASSWORD, "csrf_token": token[1]})
        cookie = "; ".join(f"{k}={v}" for k, v in cookies.items())
        conn.request(
            "POST",
            "/auth/login",
            body,
            {"Content-Type": "application/x-www-form-urlencoded", "Cookie": cookie},
        )
        answer = conn.getresponse()
        answer.read()
        assert answer.status == 303, f"login answered {answer.status}"
        cookies |= _cookies(answer.headers.get_all("Set-Cookie") or [])
        return {"Cookie": "; ".join(f"{k}={v}" for k, v in cookies.items())}
    finally:
        conn.close()


# --- statements and plans ---------------------------------------------------------------------


def _seq_scans(plan: dict[str, Any]) -> list[str]:
    found = []
    if plan.get("Node Type") == "Seq Scan" and plan.get("Relation Name") in LARGE_TABLES:
        found.append(plan["Relation Name"])
    for child in plan.get("Plans", []):
        found.extend(_seq_scans(child))
    return found


def _rows_read(plan: dict[str, Any]) -> int:
    """Rows the plan's scans produced (before any filter removed them), loops counted."""
    own = 0
    if "Scan" in plan.get("Node Type", ""):
        own = int(plan.get("Actual Rows", 0) + plan.get("Rows Removed by Filter", 0)) * int(
            plan.get("Actual Loops", 1)
        )
    return own + sum(_rows_read(child) for child in plan.get("Plans", []))


def _plan_text(plan: dict[str, Any], depth: int = 0) -> list[str]:
    what = plan.get("Node Type", "?")
    if "Index Name" in plan:
        what += f" using {plan['Index Name']}"
    if "Relation Name" in plan:
        what += f" on {plan['Relation Name']}"
    lines = ["  " * depth + what]
    for child in plan.get("Plans", []):
        lines.extend(_plan_text(child, depth + 1))
    return lines


def explain_pages(url: str, pages: dict[str, dict[str, str]]) -> dict[str, dict[str, Any]]:
    """Each page's SELECTs per tradie, with EXPLAIN's plan and the sequential scans in it."""
    import sqlalchemy as sa

    from peepopay import create_app
    from peepopay.config import DevelopmentConfig
    from peepopay.extensions import db

    app = create_app(
        DevelopmentConfig,
        {
            "SQLALCHEMY_DATABASE_URI": url,
            "RATELIMIT_ENABLED": False,
            "REDIS_URL": None,
            "WTF_CSRF_ENABLED": False,
            "LOG_LEVEL": "WARNING",
        },
    )
    found: dict[str, dict[str, Any]] = {}
    with app.app_context():
        engine = db.engine
    statements: list[tuple[str, Any]] = []

    def record(conn: Any, cursor: Any, statement: str, params: Any, *_: Any) -> None:
        statements.append((statement, params))

    # No app context around the requests: each pushes its own, as in production (a shared one
    # would keep the signed-in tradie in `g` from one request to the next).
    for who, email in TRADIES.items():
        client = app.test_client()
        answer = client.post("/auth/login", data={"email": email, "password": pgdata.PASSWORD})
        assert answer.status_code == 303, f"in-process login answered {answer.status_code}"
        for page, path in pages[who].items():
            client.get(path)  # warm: caches filled once per process are not the page's cost
            statements.clear()
            sa.event.listen(engine, "before_cursor_execute", record)
            try:
                response = client.get(path)
            finally:
                sa.event.remove(engine, "before_cursor_execute", record)
            assert response.status_code == 200, f"{who} {page}: {response.status_code}"
            selects = [s for s in statements if s[0].lstrip().upper().startswith("SELECT")]
            plans = []
            with engine.connect() as conn:
                for sql, params in selects:
                    (plan,) = conn.exec_driver_sql(EXPLAIN + sql, params).scalar_one()
                    root = plan["Plan"]
                    plans.append(
                        {
                            "sql": " ".join(sql.split())[:300],
                            "cost": root.get("Total Cost"),
                            "ms": root.get("Actual Total Time"),
                            "rows_read": _rows_read(root),
                            "seq_scans": _seq_scans(root),
                            "plan": _plan_text(root),
                        }
                    )
            found.setdefault(page, {})[who] = {
                "statements": len(statements),
                "selects": len(selects),
                "plans": plans,
            }
    engine.dispose()
    return found


# --- load -------------------------------------------------------------------------------------


class PgServer(Server):
    """bench.widget's gunicorn and Redis, over the PostgreSQL cluster; CPU counts its backends."""

    def __init__(self, tmp: Path, database_url: str, postgres_pid: int) -> None:
        super().__init__(tmp, "off")
        self.env["DATABASE_URL"] = database_url
        self.postgres_pid = postgres_pid

    def server_cpu_seconds(self) -> float:
        return self.worker_cpu_seconds() + children_cpu_seconds(self.postgres_pid)

    def worker_pids(self) -> list[int]:
        master = self.processes[-1].pid
        return [pid for pid, ppid in _processes() if ppid == master]


def _processes() -> list[tuple[int, int]]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            found.append((int(entry.name), int(fields[1])))
    return found


def children_cpu_seconds(parent: int) -> float:
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid, ppid in _processes():
        if ppid != parent:
            continue
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / ticks
    return total


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def postmaster_pid(data_dir: Path) -> int:
    return int((data_dir / "postmaster.pid").read_text().split()[0])


@dataclass
class Run:
    round: int
    who: str
    page: str
    requests: int
    errors: int
    rps: float
    p50_ms: float
    p99_ms: float
    cpu_ms: float  # gunicorn workers + PostgreSQL backends, per request


def measure(
    server: PgServer, n: int, who: str, page: str, path: str, args: Any, headers: Any
) -> Run:
    load(server.port, path, 0.3, args.concurrency, headers)  # warm up
    cpu = server.server_cpu_seconds()
    latencies, errors = load(server.port, path, args.seconds, args.concurrency, headers)
    cpu = server.server_cpu_seconds() - cpu
    cuts = statistics.quantiles(latencies, n=100) if len(latencies) > 1 else [0.0] * 99
    return Run(
        n,
        who,
        page,
        len(latencies),
        errors,
        round(len(latencies) / args.seconds, 1),
        round(cuts[49] * 1000, 2),
        round(cuts[98] * 1000, 2),
        round(cpu * 1000 / max(1, len(latencies)), 3),
    )


def csv_export(server: PgServer, headers: dict[str, str]) -> dict[str, Any]:
    """Download every booking of the big tradie as CSV once; the workers' peak RSS around it."""
    before = {pid: peak_rss_mb(pid) for pid in server.worker_pids()}
    started = time.perf_counter()
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=600)
    conn.request("GET", "/dashboard/bookings.csv?when=all", headers=headers)
    response = conn.getresponse()
    size = lines = 0
    while chunk := response.read(1 << 16):
        size += len(chunk)
        lines += chunk.count(b"\n")
    conn.close()
    seconds = time.perf_counter() - started
    after = {pid: peak_rss_mb(pid) for pid in server.worker_pids()}
    growth = max(after[pid] - before.get(pid, 0.0) for pid in after)
    return {
        "status": response.status,
        "rows": lines - 1,
        "bytes": size,
        "seconds": round(seconds, 2),
        "rows_per_s": round((lines - 1) / seconds),
        "peak_rss_mb_before": {str(k): round(v, 1) for k, v in before.items()},
        "peak_rss_mb_after": {str(k): round(v, 1) for k, v in after.items()},
        "peak_rss_growth_mb": round(growth, 1),
    }


# --- report -----------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.pages", description=__doc__)
    parser.add_argument("--seconds", type=float, default=3.0, help="per measurement")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--only", default="", help="comma-separated page names")
    parser.add_argument("--json", type=Path, default=RESULTS)
    parser.add_argument("--explain-only", action="store_true", help="plans, no load")
    parser.add_argument(
        "--cluster",
        type=Path,
        help="the folder of a cluster filled by `python -m bench.pgdata --keep` (no new fill)",
    )
    args = parser.parse_args(argv)
    from tests.servers import PostgresServer

    tmp = Path(tempfile.mkdtemp(prefix="peepopay-bench-pages-"))
    postgres = PostgresServer() if args.cluster is None else KeptCluster(args.cluster)
    runs: list[Run] = []
    try:
        if args.cluster is None:
            postgres.start()
            print("filling PostgreSQL (bench.pgdata):", flush=True)
            timings = pgdata.fill(postgres.url)
            print(f"  filled in {timings.total_s:.1f} s", flush=True)
        else:
            timings = pgdata.Timings(**json.loads((args.cluster / "fill.json").read_text()))
        booking_ids = latest_bookings(postgres.url)
        pages = targets(booking_ids)
        if args.only:
            wanted = set(args.only.split(","))
            pages = {who: {p: u for p, u in ps.items() if p in wanted} for who, ps in pages.items()}
        print("EXPLAIN of every page's statements ...", flush=True)
        queries = explain_pages(postgres.url, pages)
        if args.explain_only:
            print_plans(queries)
            return 0
        server = PgServer(tmp, postgres.url, postmaster_pid(postgres.data))
        server.up()
        try:
            cookies = {who: sign_in(server.port, email) for who, email in TRADIES.items()}
            for n in range(1, args.rounds + 1):
                for who in TRADIES:
                    for page, path in ({"empty route": EMPTY} | pages[who]).items():
                        run = measure(server, n, who, page, path, args, cookies[who])
                        runs.append(run)
                        print(
                            f"  round {n} {who:<8}{page:<22}{run.rps:>8.1f} req/s "
                            f"p50 {run.p50_ms:7.2f} p99 {run.p99_ms:7.2f} ms "
                            f"CPU {run.cpu_ms:7.3f} ms/req err {run.errors}",
                            flush=True,
                        )
            export = csv_export(server, cookies["big"])
        finally:
            server.down()
    finally:
        postgres.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    return report(args, timings, queries, runs, export)


class KeptCluster:
    """A cluster that `python -m bench.pgdata --keep` filled and leaves running."""

    def __init__(self, folder: Path) -> None:
        self.dir = folder
        self.data = folder / "data"
        self.url = (folder / "url").read_text().strip()

    def stop(self) -> None:
        pass


def print_plans(queries: dict[str, dict[str, Any]]) -> None:
    print()
    print("Plans of the big tradie's statements (a sequential scan of a large table fails):")
    for page, by_who in queries.items():
        print(f"  {page}: {by_who['big']['statements']} statements")
        for plan in by_who["big"]["plans"]:
            print(f"    {plan['sql'][:150]}")
            print(
                "      " + " / ".join(plan["plan"]) + f"  (cost {plan['cost']}, "
                f"{plan['ms']} ms, {plan['rows_read']:,} rows read)"
            )


def latest_bookings(url: str) -> dict[str, int]:
    import psycopg

    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://")) as conn:
        return {
            who: conn.execute(
                "SELECT max(b.id) FROM bookings b JOIN tradies t ON t.id = b.tradie_id "
                "WHERE t.email = %s AND b.starts_at < now()",
                (email,),
            ).fetchone()[0]
            for who, email in TRADIES.items()
        }


def report(
    args: Any,
    timings: pgdata.Timings,
    queries: dict[str, dict[str, Any]],
    runs: list[Run],
    export: dict[str, Any],
) -> int:
    checks: dict[str, bool] = {}
    summary: dict[str, dict[str, Any]] = {}
    print()
    print(f"Dashboard pages on PostgreSQL, {args.concurrency} clients, {os.cpu_count()} CPUs")
    print(
        f"  {'tradie':<9}{'page':<22}{'req/s':>8}{'p50':>8}{'p99':>8}{'CPU ms':>8}"
        f"{'rps x':>7}{'CPU x':>7}{'SQL':>5}  verdict"
    )
    for who in TRADIES:
        empty = {r.round: r for r in runs if r.who == who and r.page == "empty route"}
        for page in dict.fromkeys(r.page for r in runs if r.who == who):
            mine = [r for r in runs if r.who == who and r.page == page]
            best = max(mine, key=lambda r: r.rps)
            rps_x = statistics.median(r.rps / empty[r.round].rps for r in mine)
            cpu_x = statistics.median(empty[r.round].cpu_ms / r.cpu_ms for r in mine if r.cpu_ms)
            tail = statistics.median(r.p99_ms / r.p50_ms for r in mine if r.p50_ms)
            errors = sum(r.errors for r in mine)
            sql = queries.get(page, {}).get(who, {}).get("statements", 0)
            verdict = ""
            if page != "empty route":
                cost_ok = cpu_x >= MIN_RATIO
                checks[f"{who} {page} >= {MIN_RATIO} x empty"] = cost_ok
                checks[f"{who} {page} p99 <= {MAX_TAIL:g} x p50"] = tail <= MAX_TAIL
                verdict = ("ok" if cost_ok else "OVER") + (
                    "" if tail <= MAX_TAIL else f", tail {tail:.1f}x OVER"
                )
            checks.setdefault("no errors", True)
            checks["no errors"] &= errors == 0
            summary[f"{who} / {page}"] = {
                "rps": best.rps,
                "p50_ms": best.p50_ms,
                "p99_ms": best.p99_ms,
                "cpu_ms": statistics.median(r.cpu_ms for r in mine),
                "rps_vs_empty": round(rps_x, 3),
                "cpu_vs_empty": round(cpu_x, 3),
                "p99_over_p50": round(tail, 2),
                "statements": sql,
            }
            print(
                f"  {who:<9}{page:<22}{best.rps:>8.1f}{best.p50_ms:>8.1f}{best.p99_ms:>8.1f}"
                f"{summary[f'{who} / {page}']['cpu_ms']:>8.2f}{rps_x:>7.2f}{cpu_x:>7.2f}"
                f"{sql:>5}  {verdict}"
            )
    print_plans(queries)
    for page, by_who in queries.items():
        counts = {who: q["statements"] for who, q in by_who.items()}
        checks[f"{page}: same statements at both sizes {counts}"] = len(set(counts.values())) == 1
        scans = sorted({t for q in by_who.values() for p in q["plans"] for t in p["seq_scans"]})
        checks[f"{page}: no sequential scan of a large table {scans or ''}"] = not scans
    print()
    print(
        f"CSV export: {export['rows']:,} rows, {export['bytes'] / 1e6:.1f} MB in "
        f"{export['seconds']} s; worker peak RSS before {export['peak_rss_mb_before']} MB, "
        f"after {export['peak_rss_mb_after']} MB"
    )
    checks["CSV of 100,000 bookings streams"] = (
        export["status"] == 200 and export["rows"] == pgdata.BIG
    )
    checks[f"CSV peak RSS grows <= {CSV_RSS_GROWTH_MB} MB"] = (
        export["peak_rss_growth_mb"] <= CSV_RSS_GROWTH_MB
    )
    checks["data set filled in <= 300 s"] = timings.total_s <= 300
    print(f"data set filled in {timings.total_s:.1f} s")
    print()
    for name, ok in checks.items():
        print(f"  [{'ok' if ok else 'OVER'}] {name}")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(
        json.dumps(
            {
                "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
                "machine": {
                    "cpus": os.cpu_count(),
                    "python": platform.python_version(),
                    "platform": platform.platform(),
                    "load_average": os.getloadavg(),
                },
                "settings": {k: str(v) for k, v in vars(args).items()},
                "fill_seconds": asdict(timings) | {"total_s": timings.total_s},
                "budgets": {
                    "vs_empty": MIN_RATIO,
                    "p99_over_p50": MAX_TAIL,
                    "csv_rss_growth_mb": CSV_RSS_GROWTH_MB,
                },
                "summary": summary,
                "csv_export": export,
                "queries": queries,
                "runs": [asdict(r) for r in runs],
                "checks": checks,
            },
            indent=2,
        )
        + "\n"
    )
    print(f"\nwritten to {args.json}")
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
