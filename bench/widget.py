"""The widget's budgets (DESIGN.md), measured in one run:

1. bytes, gzipped, of the widget's first view (HTML, JavaScript, CSS) and of /embed.js:
   at most 20 KB of JavaScript and 35 KB in all, the loader at most 1.5 KB;
2. requests per second of the availability endpoint against an empty Flask route on the same
   gunicorn server (production settings: gunicorn.conf.py, rate limits on Redis), for a tradie
   with 10 past bookings and one with 100,000: at least 0.6 x, at both sizes, on SQLite or
   (--database postgresql) on a throwaway PostgreSQL cluster started as the tests start theirs.

It also counts the SQL statements of one availability request and shows SQLite's plan for the
bookings query, which must stay one indexed range scan whatever the history.

    python -m bench.widget [--database sqlite|postgresql] [--seconds 4] [--rounds 2] [--json PATH]
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock_time
from multiprocessing import get_context
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from flask import Flask

from bench.loadgen import free_port, get, load
from peepopay.config import ROOT

BIN = Path(sys.executable).parent
RESULTS = Path(__file__).resolve().parent / "results" / "widget.json"
ZONE = ZoneInfo("Pacific/Auckland")
KB = 1000  # budgets in kilobytes, read strictly
BUDGETS = {"js_gz": 20 * KB, "first_view_gz": 35 * KB, "embed_gz": int(1.5 * KB)}
MIN_RATIO = 0.6
HISTORIES = {"bench-10": 10, "bench-100k": 100_000}
EMPTY = "/bench/empty"
EMPTY_T = "empty route"


def bench_app() -> Flask:
    """The production app plus an empty route; gunicorn calls this (`bench.widget:bench_app()`).

    BENCH_LIMITER=off turns rate limiting off (as bench.caddy does); =redis keeps counting in
    Redis as deployed (the availability endpoint: one script that counts and reads the slot
    versions, peepopay.widget.limits.availability_hit), with the availability limit raised out
    of the load generator's reach so it measures the limiter's cost, never its 429;
    =redis-no-headers also turns Flask-Limiter's X-RateLimit-* headers off (already off in
    the app's config)."""
    from peepopay import create_app

    overrides: dict[str, Any] = {"WIDGET_AVAILABILITY_LIMIT": "100000000 per minute"}
    limiter = os.environ.get("BENCH_LIMITER", "off")
    if limiter == "off":
        overrides["RATELIMIT_ENABLED"] = False
    elif limiter == "redis-no-headers":  # what the X-RateLimit-* headers cost
        overrides["RATELIMIT_HEADERS_ENABLED"] = False
    app = create_app(overrides=overrides)

    @app.get(EMPTY)
    def empty() -> str:
        return ""

    return app


# --- set-up -----------------------------------------------------------------------------------


def local(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, clock_time(hour, minute), ZONE).astimezone(UTC)


def booking_row(
    tradie_id: int, service_id: int, start: datetime, reference: int, **values: Any
) -> dict[str, Any]:
    """A bench booking for a bulk insert: an hour of "Leak repair" ($200, $50 deposit),
    confirmed; `values` override any column (the customer, the status)."""
    return {
        "tradie_id": tradie_id,
        "service_id": service_id,
        "service_name": "Leak repair",
        "duration_minutes": 60,
        "price_minor": 20000,
        "deposit_minor": 5000,
        "currency": "NZD",
        "customer_name": "Customer",
        "customer_email": "c@example.com",
        "customer_phone": "+64211234567",
        "job_address": "1 Queen Street, Auckland",
        "notes": "",
        "starts_at": start,
        "ends_at": start + timedelta(hours=1),
        "status": "confirmed",
        "reference": reference,
    } | values


def seed(url: str, bench_day: date) -> dict[str, int]:
    """Two tradies with the same hours, service and day of bookings; only their past differs."""
    import sqlalchemy as sa
    from flask_migrate import upgrade

    from peepopay import create_app
    from peepopay.accounts import services as accounts
    from peepopay.config import DevelopmentConfig
    from peepopay.extensions import db
    from peepopay.models import AvailabilityRule, Booking, DepositType, Service, Status

    app = create_app(DevelopmentConfig, {"SQLALCHEMY_DATABASE_URI": url})
    services: dict[str, int] = {}
    now = datetime.now(UTC)
    with app.app_context():
        upgrade()
        for slug, history in HISTORIES.items():
            tradie = accounts.create_tradie(
                db.session,
                email=f"{slug}@bench.example",
                password="bench password 1234",  # noqa: S106
                business_name=f"Bench {slug}",
                slug=slug,
                timezone="Pacific/Auckland",
                verified_at=now,
            )
            tradie.charges_enabled = True
            service = Service(
                tradie_id=tradie.id,
                name="Leak repair",
                duration_minutes=60,
                price_minor=20000,
                deposit_type=DepositType.FIXED,
                deposit_value=5000,
            )
            db.session.add(service)
            for weekday in range(7):
                db.session.add(
                    AvailabilityRule(
                        tradie_id=tradie.id,
                        weekday=weekday,
                        start_local=clock_time(8),
                        end_local=clock_time(17),
                    )
                )
            db.session.flush()
            services[slug] = service.id
            # The day measured: three jobs, so slots are computed against real bookings.
            jobs = [(local(bench_day, hour), Status.CONFIRMED) for hour in (9, 12, 15)]
            # The past, newest first (cheap for SQLite's overlap trigger): three jobs a day.
            statuses = [Status.COMPLETED] * 17 + [
                Status.CANCELLED,
                Status.EXPIRED,
                Status.CONFIRMED,
            ]
            yesterday = now.astimezone(ZONE).date() - timedelta(days=1)
            for i in range(history):
                day = yesterday - timedelta(days=i // 3)
                jobs.append((local(day, 9 + 3 * (i % 3)), statuses[i % len(statuses)]))
            past = {"customer_name": "Past Customer", "customer_email": "past@example.com"}
            rows = [
                booking_row(tradie.id, service.id, start, number, status=status, **past)
                for number, (start, status) in enumerate(jobs, start=1)
            ]
            db.session.execute(sa.insert(Booking), rows)
        db.session.commit()
        if db.engine.dialect.name == "postgresql":  # planner statistics, as autovacuum keeps
            with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.exec_driver_sql("VACUUM ANALYZE")
        db.session.remove()
        db.engine.dispose()
    return services


class Server:
    """Redis and gunicorn (gunicorn.conf.py: 2 workers × 4 threads) over the seeded SQLite."""

    def __init__(self, tmp: Path, limiter: str, database_url: str | None = None) -> None:
        self.tmp = tmp
        self.limiter = limiter
        self.redis_port, self.port = free_port(), free_port()
        self.processes: list[subprocess.Popen[bytes]] = []
        self.env = {
            **os.environ,
            "PEEPOPAY_ENV": "development",
            "PEEPOPAY_INSTANCE": str(tmp),
            "DATABASE_URL": database_url or f"sqlite:///{tmp / 'bench.db'}",
            "REDIS_URL": f"redis://127.0.0.1:{self.redis_port}/0",
            "LOG_LEVEL": "WARNING",  # a log line per request would measure the terminal
            "PROMETHEUS_MULTIPROC_DIR": str(tmp / "metrics"),
            # Keep the same workers for the whole run, so their CPU time can be read.
            "GUNICORN_MAX_REQUESTS": "0",
            "BENCH_LIMITER": limiter,
        }
        (tmp / "metrics").mkdir(exist_ok=True)

    def spawn(self, args: list[str]) -> None:
        log = (self.tmp / f"{Path(args[0]).name}-{self.limiter}.log").open("ab")
        self.processes.append(
            subprocess.Popen(
                args,
                env=self.env,
                cwd=ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        )
        log.close()

    def up(self) -> None:
        from devstack import redis_binary

        self.spawn(
            [redis_binary(), "--port", str(self.redis_port), "--bind", "127.0.0.1", "--save", ""]
        )
        self.spawn(
            [
                str(BIN / "gunicorn"),
                "-c",
                str(ROOT / "gunicorn.conf.py"),
                "-b",
                f"127.0.0.1:{self.port}",
                "bench.widget:bench_app()",
            ]
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if get(self.port, EMPTY)[0] == 200:
                    return
            except OSError:
                time.sleep(0.1)
        raise SystemExit(f"gunicorn did not start; see {self.tmp}/gunicorn-{self.limiter}.log")

    def worker_cpu_seconds(self) -> float:
        """User + system CPU time of gunicorn's workers (the children of its master)."""
        master = self.processes[-1].pid
        total = 0.0
        ticks = os.sysconf("SC_CLK_TCK")
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == master:  # ppid
                total += (int(fields[11]) + int(fields[12])) / ticks  # utime + stime
        return total

    def down(self) -> None:
        for process in reversed(self.processes):
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


# --- 1. bytes -----------------------------------------------------------------------------------


def first_view_sizes(port: int, slug: str) -> dict[str, Any]:
    """What a browser downloads for the widget's first view, gzipped as served compressed."""
    status, html = get(port, f"/book/{slug}")
    assert status == 200, html[:500]
    text = html.decode()
    scripts = re.findall(r'<script[^>]+src="([^"]+)"', text)
    styles = re.findall(r'<link[^>]+rel="stylesheet"[^>]+href="([^"]+)"', text)
    third_party = [url for url in scripts + styles if re.match(r"(https?:)?//", url)]

    def gz(path: str) -> int:
        status, body = get(port, path)
        assert status == 200, path
        return len(gzip.compress(body, 9))  # static files are served precompressed

    js = {path.split("?")[0]: gz(path) for path in scripts}
    css = {path.split("?")[0]: gz(path) for path in styles}
    html_gz = len(gzip.compress(html, 6))  # dynamic: compressed on the fly
    status, loader = get(port, "/embed.js")
    assert status == 200
    js_total, css_total = sum(js.values()), sum(css.values())
    return {
        "html_gz": html_gz,
        "js_gz": js_total,
        "css_gz": css_total,
        "first_view_gz": html_gz + js_total + css_total,
        "embed_gz": len(gzip.compress(loader, 9)),
        "embed_raw": len(loader),
        "js_files": js,
        "css_files": css,
        "third_party": third_party,
    }


# --- 2. queries -------------------------------------------------------------------------------


def availability_queries(
    url: str, paths: dict[str, str], table: str = "bookings", key: str = "bookings_queries"
) -> dict[str, Any]:
    """SELECTs of one availability request per tradie, how many of them read `table` (under
    `key`), and the plan of the first that does."""
    import sqlalchemy as sa

    from peepopay import create_app
    from peepopay.config import DevelopmentConfig
    from peepopay.extensions import db

    app = create_app(
        DevelopmentConfig,
        {"SQLALCHEMY_DATABASE_URI": url, "RATELIMIT_ENABLED": False, "REDIS_URL": None},
    )
    found: dict[str, Any] = {}
    with app.app_context():
        statements: list[tuple[str, Any]] = []

        def record(conn: Any, cursor: Any, statement: str, params: Any, *_: Any) -> None:
            statements.append((statement, params))

        sa.event.listen(db.engine, "before_cursor_execute", record)
        client = app.test_client()
        for slug, path in paths.items():
            statements.clear()
            response = client.get(path)
            assert response.status_code == 200, response.get_data(as_text=True)
            selects = [s for s in statements if s[0].lstrip().upper().startswith("SELECT")]
            reading = [s for s in selects if f"FROM {table}" in s[0]]
            found[slug] = {"statements": len(selects), key: len(reading)}
            if reading:
                sql, params = reading[0]
                with db.engine.connect() as conn:
                    explain = "EXPLAIN QUERY PLAN " if url.startswith("sqlite") else "EXPLAIN "
                    plan = conn.exec_driver_sql(explain + sql, params).all()
                found[slug]["plan"] = " | ".join(str(row[-1]) for row in plan)
        sa.event.remove(db.engine, "before_cursor_execute", record)
        db.session.remove()
        db.engine.dispose()
    return found


# --- 3. throughput --------------------------------------------------------------------------


@dataclass
class Run:
    limiter: str
    target: str
    round: int
    requests: int
    errors: int
    rps: float
    p50_ms: float
    p95_ms: float
    server_cpu_ms: float  # gunicorn workers' CPU time per request


def measure(
    pool: ProcessPoolExecutor,
    processes: int,
    server: Server,
    target: str,
    path: str,
    seconds: float,
    concurrency: int,
    round_no: int,
) -> Run:
    """Load from several processes at once, so the client's GIL is not the bottleneck."""
    threads = max(1, concurrency // processes)
    cpu_before = server.worker_cpu_seconds()
    futures = [pool.submit(load, server.port, path, seconds, threads) for _ in range(processes)]
    latencies: list[float] = []
    errors = 0
    for future in futures:
        mine, failed = future.result()
        latencies.extend(mine)
        errors += failed
    cpu = server.worker_cpu_seconds() - cpu_before
    cuts = statistics.quantiles(latencies, n=100) if len(latencies) > 1 else [0.0] * 99
    return Run(
        limiter=server.limiter,
        target=target,
        round=round_no,
        requests=len(latencies),
        errors=errors,
        rps=round(len(latencies) / seconds, 1),
        p50_ms=round(cuts[49] * 1000, 2),
        p95_ms=round(cuts[94] * 1000, 2),
        server_cpu_ms=round(cpu * 1000 / max(1, len(latencies)), 3),
    )


# --- report -----------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.widget", description=__doc__)
    parser.add_argument("--seconds", type=float, default=3.0, help="per measurement")
    parser.add_argument("--concurrency", type=int, default=8, help="keep-alive clients")
    parser.add_argument("--processes", type=int, default=2, help="load generator processes")
    parser.add_argument(
        "--rounds", type=int, default=3, help="alternating; ratios are the median of pairs"
    )
    parser.add_argument("--json", type=Path, help=f"default {RESULTS} (widget-pg.json)")
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument(
        "--limiters",
        type=lambda v: v.split(","),
        default=["redis", "off"],
        help="rate limiting of the servers measured (off, redis, redis-no-headers); "
        "the budget is checked on the first",
    )
    args = parser.parse_args(argv)

    if args.json is None:
        args.json = RESULTS if args.database == "sqlite" else RESULTS.with_name("widget-pg.json")
    tmp = Path(tempfile.mkdtemp(prefix="peepopay-bench-widget-"))
    postgres = None
    if args.database == "postgresql":
        from tests.servers import PostgresServer

        postgres = PostgresServer().start()
        url = postgres.url
    else:
        url = f"sqlite:///{tmp / 'bench.db'}"
    bench_day = datetime.now(ZONE).date() + timedelta(days=7)
    print(f"seeding {args.database}: tradies with 10 and 100,000 past bookings", flush=True)
    try:
        services = seed(url, bench_day)
        return _run(args, tmp, url, bench_day, services)
    finally:
        if postgres is not None:
            postgres.stop()


def _run(
    args: argparse.Namespace, tmp: Path, url: str, bench_day: date, services: dict[str, int]
) -> int:
    paths = {
        slug: f"/api/widget/{slug}/availability?date={bench_day}&serviceId={services[slug]}"
        for slug in HISTORIES
    }
    queries = availability_queries(url, paths)
    database_url = None if url.startswith("sqlite") else url
    servers = [Server(tmp, limiter, database_url) for limiter in args.limiters]
    targets = {EMPTY_T: EMPTY} | {
        f"availability, {n:,} past": paths[s] for s, n in HISTORIES.items()
    }
    runs: list[Run] = []
    try:
        for server in servers:
            server.up()
        sizes = first_view_sizes(servers[0].port, "bench-10")
        for path in paths.values():
            status, body = get(servers[0].port, path)
            slots = json.loads(body)["slots"]
            assert status == 200 and any(s["available"] for s in slots), body[:300]
            assert any(not s["available"] for s in slots), "the day's bookings should show"
        with ProcessPoolExecutor(args.processes, mp_context=get_context("spawn")) as pool:
            for server in servers:  # warm up workers, connections and caches
                for target, path in targets.items():
                    measure(pool, args.processes, server, target, path, 1.0, args.concurrency, 0)
            # Alternate everything, so a busy moment on the machine hits all targets alike.
            for round_no in range(1, args.rounds + 1):
                for server in servers:
                    for target, path in targets.items():
                        run = measure(
                            pool,
                            args.processes,
                            server,
                            target,
                            path,
                            args.seconds,
                            args.concurrency,
                            round_no,
                        )
                        runs.append(run)
                        print(
                            f"  round {round_no} limiter {server.limiter:<16} {target:<28} "
                            f"{run.rps:>8.1f} req/s  p50 {run.p50_ms:.2f} ms  "
                            f"CPU {run.server_cpu_ms:.3f} ms/req  errors {run.errors}",
                            flush=True,
                        )
    finally:
        for server in servers:
            server.down()
        shutil.rmtree(tmp, ignore_errors=True)

    best = {
        (limiter, t): max(
            (r for r in runs if r.target == t and r.limiter == limiter), key=lambda r: r.rps
        )
        for limiter in args.limiters
        for t in targets
    }

    # Each round measures the empty route and the endpoint back to back: the ratio of a pair
    # shares the machine's mood of the moment; the median pair is the figure.
    def paired(limiter: str, target: str) -> float:
        empty = {r.round: r.rps for r in runs if r.limiter == limiter and r.target == EMPTY_T}
        pairs = [
            r.rps / empty[r.round]
            for r in runs
            if r.limiter == limiter and r.target == target and empty.get(r.round)
        ]
        return round(statistics.median(pairs), 3)

    ratios = {
        limiter: {t: paired(limiter, t) for t in targets if t != EMPTY_T}
        for limiter in args.limiters
    }
    budgeted = args.limiters[0]
    checks = {
        "js_gz <= 20 KB": sizes["js_gz"] <= BUDGETS["js_gz"],
        "first view <= 35 KB": sizes["first_view_gz"] <= BUDGETS["first_view_gz"],
        "embed.js <= 1.5 KB": sizes["embed_gz"] <= BUDGETS["embed_gz"],
        "no third-party script": not sizes["third_party"],
        **{
            f"{t} >= {MIN_RATIO} x empty (limiter {budgeted}, {args.database})": ratio >= MIN_RATIO
            for t, ratio in ratios[budgeted].items()
        },
        "no errors": all(r.errors == 0 for r in runs),
        "one bookings query, same count at 10 and 100,000": len(
            {(q["statements"], q["bookings_queries"]) for q in queries.values()}
        )
        == 1
        and all(q["bookings_queries"] == 1 for q in queries.values()),
    }

    print()
    print("Widget first view (gzipped bytes)        measured     budget")
    print(f"  JavaScript (htmx + widget.js)          {sizes['js_gz']:>8,}   {BUDGETS['js_gz']:>8,}")
    print(f"  CSS                                    {sizes['css_gz']:>8,}")
    print(f"  HTML                                   {sizes['html_gz']:>8,}")
    total, budget = sizes["first_view_gz"], BUDGETS["first_view_gz"]
    print(f"  first view in all                      {total:>8,}   {budget:>8,}")
    embed, budget = sizes["embed_gz"], BUDGETS["embed_gz"]
    print(f"  /embed.js                              {embed:>8,}   {budget:>8,}")
    print()
    clients = f"{args.concurrency} keep-alive clients in {args.processes} processes"
    print(
        f"Throughput (best of {args.rounds} rounds; vs empty: median of the rounds' pairs; "
        f"{clients}, {os.cpu_count()} CPUs)"
    )
    print(f"  {'limiter':<17}{'':<30} {'req/s':>8}   {'p50 ms':>7}   {'CPU ms/req':>10}   vs empty")
    for (limiter, target), run in best.items():
        ratio = f"{ratios[limiter][target]:.2f}" if target in ratios[limiter] else ""
        print(
            f"  {limiter:<17}{target:<30} {run.rps:>8.1f}   {run.p50_ms:>7.2f}"
            f"   {run.server_cpu_ms:>10.3f}   {ratio}"
        )
    print()
    for slug, q in queries.items():
        print(f"  {slug}: {q['statements']} SELECTs per request; bookings: {q.get('plan', '-')}")
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
                },
                "settings": vars(args) | {"json": str(args.json)},
                "sizes": sizes,
                "budgets": BUDGETS | {"availability_vs_empty": MIN_RATIO},
                "throughput": {f"{lim} / {t}": asdict(r) for (lim, t), r in best.items()},
                "ratios": ratios,
                "runs": [asdict(r) for r in runs],
                "queries": queries,
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
