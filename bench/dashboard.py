"""The tradie's week at size: requests per second of the dashboard's calendar week and customers
pages for a tradie with 5,000 bookings and 5,000 customers, against an empty Flask route on the
same gunicorn server (production settings: gunicorn.conf.py) in the same run.

Budget (DESIGN.md): each page at least 0.3 x the empty route. Each round measures the empty
route and the pages back to back; the ratio is the median of the rounds' ratios.

    python -m bench.dashboard [--seconds 3] [--concurrency 8] [--rounds 5] [--json PATH]
"""

from __future__ import annotations

import argparse
import http.client
import json
import re
import shutil
import statistics
import sys
import tempfile
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock_time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from bench.loadgen import load
from bench.widget import EMPTY, ZONE, Server, booking_row

RESULTS = Path(__file__).resolve().parent / "results" / "dashboard.json"
MIN_RATIO = 0.3
SIZE = 5_000
EMAIL = "week@bench.example"
PASSWORD = "bench password 1234"  # noqa: S105
HOURS = (8, 10, 12, 14, 16)  # five one-hour jobs a day, a day after another


def local(day: date, hour: int) -> datetime:
    return datetime.combine(day, clock_time(hour), ZONE).astimezone(UTC)


def seed(url: str, today: date) -> None:
    """One tradie with SIZE customers and SIZE bookings (one each), 2/3 of them in the past."""
    import sqlalchemy as sa
    from flask_migrate import upgrade

    from peepopay import create_app
    from peepopay.accounts import services as accounts
    from peepopay.config import DevelopmentConfig
    from peepopay.extensions import db
    from peepopay.models import AvailabilityRule, Booking, Customer, Service, Status

    app = create_app(DevelopmentConfig, {"SQLALCHEMY_DATABASE_URI": url})
    now = datetime.now(UTC)
    with app.app_context():
        upgrade()
        tradie = accounts.create_tradie(
            db.session,
            email=EMAIL,
            password=PASSWORD,
            business_name="Bench Week Plumbing",
            slug="bench-week",
            timezone="Pacific/Auckland",
            verified_at=now,
        )
        service = Service(tradie_id=tradie.id, name="Leak repair", duration_minutes=60)
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
        first_day = today - timedelta(days=(SIZE // len(HOURS)) * 2 // 3)
        customers, bookings = [], []
        for n in range(SIZE):
            day = first_day + timedelta(days=n // len(HOURS))
            start = local(day, HOURS[n % len(HOURS)])
            customers.append(
                {
                    "tradie_id": tradie.id,
                    "name": f"Customer {n:05d}",
                    "email": f"customer{n}@example.com",
                    "phone": f"+642100{n:05d}",
                    "address": f"{n} Queen Street, Auckland",
                    "notes": "",
                    "created_at": now,
                    "updated_at": now,
                    "last_booked_at": start,
                }
            )
            bookings.append(
                booking_row(
                    tradie.id,
                    service.id,
                    start,
                    n + 1,
                    customer_name=f"Customer {n:05d}",
                    customer_email=f"customer{n}@example.com",
                    customer_phone=f"+642100{n:05d}",
                    job_address=f"{n} Queen Street, Auckland",
                    status=Status.COMPLETED if start < now else Status.CONFIRMED,
                )
            )
        db.session.execute(sa.insert(Customer), customers)
        ids = dict(
            db.session.execute(
                sa.select(Customer.email, Customer.id).where(Customer.tradie_id == tradie.id)
            ).all()
        )
        for row in bookings:
            row["customer_id"] = ids[row["customer_email"]]
        db.session.execute(sa.insert(Booking), bookings)
        db.session.commit()
        db.session.remove()
        db.engine.dispose()


def sign_in(port: int) -> dict[str, str]:
    """The Cookie header of a signed-in session (the login form, as a browser posts it)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", "/auth/login")
        page = conn.getresponse()
        html = page.read().decode()
        cookies = _cookies(page.headers.get_all("Set-Cookie") or [])
        token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html)
        assert token, "the login page carries no CSRF token"
        body = urlencode({"email": EMAIL, "password": PASSWORD, "csrf_token": token.group(1)})
        conn.request(
            "POST",
            "/auth/login",
            body,
            {"Content-Type": "application/x-www-form-urlencoded", "Cookie": cookies},
        )
        answer = conn.getresponse()
        answer.read()
        assert answer.status == 303, f"login answered {answer.status}"
        merged = dict(
            pair.split("=", 1) for pair in (cookies + "; ").split("; ") if "=" in pair
        ) | dict(
            pair.split("=", 1)
            for pair in _cookies(answer.headers.get_all("Set-Cookie") or []).split("; ")
            if "=" in pair
        )
        return {"Cookie": "; ".join(f"{k}={v}" for k, v in merged.items())}
    finally:
        conn.close()


def _cookies(headers: list[str]) -> str:
    return "; ".join(header.split(";", 1)[0] for header in headers)


@dataclass
class Result:
    round: int
    target: str
    requests: int
    errors: int
    rps: float
    p50_ms: float
    p99_ms: float


def measure(
    n: int, target: str, port: int, path: str, seconds: float, concurrency: int, headers: Any
) -> Result:
    load(port, path, 0.5, concurrency, headers)  # warm up: connections, caches, workers
    latencies, errors = load(port, path, seconds, concurrency, headers)
    cuts = statistics.quantiles(latencies, n=100) if len(latencies) > 1 else [0.0] * 99
    return Result(
        n,
        target,
        len(latencies),
        errors,
        round(len(latencies) / seconds, 1),
        round(cuts[49] * 1000, 2),
        round(cuts[98] * 1000, 2),
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.dashboard", description=__doc__)
    parser.add_argument("--seconds", type=float, default=3.0, help="per measurement")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--json", type=Path, default=RESULTS)
    args = parser.parse_args(argv)

    tmp = Path(tempfile.mkdtemp(prefix="peepopay-bench-dashboard-"))
    today = datetime.now(ZONE).date()
    week = (today + timedelta(days=7)).isocalendar()
    targets = {
        "empty route": EMPTY,
        f"calendar week ({SIZE:,} bookings)": f"/dashboard/calendar?week={week[0]}-W{week[1]:02d}",
        f"customers page ({SIZE:,} customers)": "/dashboard/customers",
        "customers search": "/dashboard/customers?q=customer 49",
    }
    runs: list[Result] = []
    server = Server(tmp, "off")
    try:
        seed(f"sqlite:///{tmp / 'bench.db'}", today)
        server.up()
        headers = sign_in(server.port)
        for path in targets.values():
            status = _status(server.port, path.replace(" ", "%20"), headers)
            assert status == 200, f"{path} answered {status}"
        for n in range(args.rounds):
            for target, path in targets.items():
                runs.append(
                    measure(
                        n,
                        target,
                        server.port,
                        path.replace(" ", "%20"),
                        args.seconds,
                        args.concurrency,
                        headers,
                    )
                )
    finally:
        server.down()
        shutil.rmtree(tmp, ignore_errors=True)

    print(f"\nDashboard pages vs the empty route: {args.concurrency} clients, SQLite")
    print(f"{'target':<36}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'err':>6}   vs empty")
    empty = {r.round: r.rps for r in runs if r.target == "empty route"}
    ok = True
    summary = []
    for target in targets:
        mine = [r for r in runs if r.target == target]
        best = max(mine, key=lambda r: r.rps)
        ratio = statistics.median(r.rps / empty[r.round] for r in mine if empty.get(r.round))
        errors = sum(r.errors for r in mine)
        budgeted = target != "empty route"
        passed = (ratio >= MIN_RATIO or not budgeted) and not errors
        ok &= passed
        verdict = "" if not budgeted else ("ok" if passed else "OVER")
        print(
            f"{target:<36}{best.rps:>9.1f}{best.p50_ms:>9.2f}{best.p99_ms:>9.2f}{errors:>6}"
            f"   {ratio:.2f} {verdict}"
        )
        summary.append({"target": target, "vs_empty": round(ratio, 2), "ok": passed})
    print(f"(budget: each page at least {MIN_RATIO} x the empty route)")
    args.json.write_text(
        json.dumps(
            {
                "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
                "budget_vs_empty": MIN_RATIO,
                "summary": summary,
                "results": [asdict(r) for r in runs],
            },
            indent=2,
        )
        + "\n"
    )
    return 0 if ok else 1


def _status(port: int, path: str, headers: dict[str, str]) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", path, headers=headers)
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


if __name__ == "__main__":
    sys.exit(main())
