"""Busy times from the tradie's own calendars on the availability hot path (DESIGN.md budget):
the availability endpoint for a tradie with 500 busy times in the day's window still serves at
least half the empty Flask route's requests per second, on the same gunicorn server
(gunicorn.conf.py, rate limits on Redis as deployed), measured beside the same endpoint for a
tradie with no calendar connected. A harsher case, 500 busy times all inside the working day
(so every one is read and checked), is measured and reported beside it, without a budget.

It also counts the SQL statements of one request (the busy times ride in the bookings
statement, UNION ALL) and shows SQLite's plan for it: one range scan of each table's
(tradie_id, starts_at) index.

    python -m bench.calendars [--seconds 3] [--concurrency 8] [--rounds 3] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock_time
from multiprocessing import get_context
from pathlib import Path

from bench.loadgen import get
from bench.widget import (
    EMPTY,
    EMPTY_T,
    MIN_RATIO,
    ZONE,
    Run,
    Server,
    availability_queries,
    booking_row,
    local,
    measure,
)

RESULTS = Path(__file__).resolve().parent / "results" / "calendars.json"
BUSY_TIMES = 500
PLAIN, BUSY, DENSE = "cal-plain", "cal-busy", "cal-dense"


def busy_intervals(day: date) -> list[tuple[datetime, datetime]]:
    """500 one-minute busy times in the window of local `day`: 480 in the evening and night
    around it (17:00 to 05:00), 20 between 13:00 and 14:00, so the day keeps free slots."""
    evening = datetime.combine(day, clock_time(17), ZONE)
    found = [
        (evening + timedelta(seconds=90 * n), evening + timedelta(seconds=90 * n + 60))
        for n in range(BUSY_TIMES - 20)
    ]
    lunch = datetime.combine(day, clock_time(13), ZONE)
    found += [
        (lunch + timedelta(minutes=3 * n), lunch + timedelta(minutes=3 * n + 1)) for n in range(20)
    ]
    return [(s.astimezone(UTC), e.astimezone(UTC)) for s, e in found]


def dense_intervals(day: date) -> list[tuple[datetime, datetime]]:
    """A harsher case than any real calendar: 500 busy times inside the working day (15
    seconds every 30 seconds from 12:00), every one read and checked; 8:00–11:00 stays free."""
    noon = datetime.combine(day, clock_time(12), ZONE)
    return [
        (
            (noon + timedelta(seconds=30 * n)).astimezone(UTC),
            (noon + timedelta(seconds=30 * n + 15)).astimezone(UTC),
        )
        for n in range(BUSY_TIMES)
    ]


def seed(url: str, bench_day: date) -> dict[str, int]:
    """Two tradies, the same hours, service and three jobs on the day measured; one has a
    calendar with 500 busy times in that day's window."""
    import sqlalchemy as sa
    from flask_migrate import upgrade

    from peepopay import create_app
    from peepopay.accounts import services as accounts
    from peepopay.config import DevelopmentConfig
    from peepopay.extensions import db
    from peepopay.models import (
        AvailabilityRule,
        Booking,
        BusyTime,
        CalendarFeed,
        DepositType,
        Service,
    )

    app = create_app(DevelopmentConfig, {"SQLALCHEMY_DATABASE_URI": url})
    services: dict[str, int] = {}
    now = datetime.now(UTC)
    with app.app_context():
        upgrade()
        for slug in (PLAIN, BUSY, DENSE):
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
            db.session.execute(
                sa.insert(Booking),
                [
                    booking_row(tradie.id, service.id, local(bench_day, hour), number)
                    for number, hour in enumerate((9, 12, 15), start=1)
                ],
            )
            if slug in (BUSY, DENSE):
                feed = CalendarFeed(
                    tradie_id=tradie.id,
                    name="Personal",
                    url="https://calendar.example/basic.ics",
                    failures=0,
                    busy_count=BUSY_TIMES,
                    next_sync_at=now + timedelta(days=365),
                )
                db.session.add(feed)
                db.session.flush()
                db.session.execute(
                    sa.insert(BusyTime),
                    [
                        {"tradie_id": tradie.id, "feed_id": feed.id, "starts_at": s, "ends_at": e}
                        for s, e in (busy_intervals if slug == BUSY else dense_intervals)(bench_day)
                    ],
                )
        db.session.commit()
        db.session.remove()
        db.engine.dispose()
    return services


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.calendars", description=__doc__)
    parser.add_argument("--seconds", type=float, default=3.0, help="per measurement")
    parser.add_argument("--concurrency", type=int, default=8, help="keep-alive clients")
    parser.add_argument("--processes", type=int, default=2, help="load generator processes")
    parser.add_argument("--rounds", type=int, default=3, help="alternating; median of pairs")
    parser.add_argument("--json", type=Path, default=RESULTS)
    parser.add_argument(
        "--limiters",
        type=lambda v: v.split(","),
        default=["redis", "off"],
        help="rate limiting of the servers measured (off, redis); the budget is checked on "
        "the first",
    )
    args = parser.parse_args(argv)

    tmp = Path(tempfile.mkdtemp(prefix="peepopay-bench-calendars-"))
    url = f"sqlite:///{tmp / 'bench.db'}"
    bench_day = datetime.now(ZONE).date() + timedelta(days=7)
    print(f"seeding {tmp / 'bench.db'}: {BUSY_TIMES} busy times on {bench_day}", flush=True)
    services = seed(url, bench_day)
    paths = {
        slug: f"/api/widget/{slug}/availability?date={bench_day}&serviceId={services[slug]}"
        for slug in (PLAIN, BUSY, DENSE)
    }
    found = availability_queries(url, paths, "busy_times", "busy_statements")
    targets = {
        EMPTY_T: EMPTY,
        "availability, no calendar": paths[PLAIN],
        f"availability, {BUSY_TIMES} busy times": paths[BUSY],
        f"availability, {BUSY_TIMES} in working hours": paths[DENSE],
    }
    servers = [Server(tmp, limiter) for limiter in args.limiters]
    runs: list[Run] = []
    offered: dict[str, int] = {}
    try:
        for server in servers:
            server.up()
        for slug, path in paths.items():
            status, body = get(servers[0].port, path)
            slots = json.loads(body)["slots"]
            assert status == 200 and any(s["available"] for s in slots), body[:300]
            offered[slug] = len(slots)
        with ProcessPoolExecutor(args.processes, mp_context=get_context("spawn")) as pool:
            for server in servers:  # warm up
                for target, path in targets.items():
                    measure(pool, args.processes, server, target, path, 1.0, args.concurrency, 0)
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
                            f"  round {round_no} limiter {server.limiter:<6} {target:<30} "
                            f"{run.rps:>8.1f} req/s  p50 {run.p50_ms:.2f} ms  "
                            f"CPU {run.server_cpu_ms:.3f} ms/req  errors {run.errors}",
                            flush=True,
                        )
    finally:
        for server in servers:
            server.down()
        shutil.rmtree(tmp, ignore_errors=True)

    def paired(limiter: str, target: str, against: str = EMPTY_T) -> float:
        base = {r.round: r.rps for r in runs if r.limiter == limiter and r.target == against}
        pairs = [
            r.rps / base[r.round]
            for r in runs
            if r.limiter == limiter and r.target == target and base.get(r.round)
        ]
        return round(statistics.median(pairs), 3)

    busy_t = f"availability, {BUSY_TIMES} busy times"
    ratios = {
        limiter: {t: paired(limiter, t) for t in targets if t != EMPTY_T}
        | {"busy vs no calendar": paired(limiter, busy_t, "availability, no calendar")}
        for limiter in args.limiters
    }
    budgeted = args.limiters[0]
    checks = {
        f"{busy_t} >= {MIN_RATIO} x empty (limiter {budgeted})": ratios[budgeted][busy_t]
        >= MIN_RATIO,
        "no errors": all(r.errors == 0 for r in runs),
        "same statements with and without a calendar, busy times in one of them": found[PLAIN][
            "statements"
        ]
        == found[BUSY]["statements"]
        and found[BUSY]["busy_statements"] == 1,
    }
    print()
    print("  slots offered: " + ", ".join(f"{slug} {count}" for slug, count in offered.items()))
    for slug, q in found.items():
        print(f"  {slug}: {q['statements']} SELECTs per request; plan: {q.get('plan', '-')}")
    for limiter, values in ratios.items():
        print(f"  limiter {limiter}: " + ", ".join(f"{t} {v:.2f}" for t, v in values.items()))
    for name, ok in checks.items():
        print(f"  [{'ok' if ok else 'OVER'}] {name}")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(
        json.dumps(
            {
                "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
                "cpus": os.cpu_count(),
                "settings": vars(args) | {"json": str(args.json)},
                "ratios": ratios,
                "runs": [asdict(r) for r in runs],
                "queries": found,
                "slots_offered": offered,
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
