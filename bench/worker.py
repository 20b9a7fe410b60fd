"""The worker: a backlog of outbox emails delivered by two RQ workers (`flask worker --burst`,
as deployed: each runs its jobs in its own process, no work horse forked) through a real SMTP
server (aiosmtpd, the sink the tests use), on SQLite and Redis.

Reports the time to write and enqueue the backlog, the time for it to drain, messages per
second, and the Redis keys left behind per message. No budget is set for the drain (the issue
asks for the figure); the check is that every message arrives exactly once.

Then reminders: `--reminders` confirmed bookings each get their reminder (an email and an SMS
due 24 hours before the job) through the app's own path (`messages.schedule_reminder`, committed
in batches, as bookings are confirmed); Redis's key count is read before and after. Budget: less
than 10,000 Redis keys of growth per minute of scheduling (reminders wait in the database until
the sweep finds them due, so the growth should be nil).

    python -m bench.worker [--messages 10000] [--workers 2] [--reminders 20000] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results" / "worker.json"
BIN = Path(sys.executable).parent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.worker", description=__doc__)
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--timeout", type=float, default=1200)
    parser.add_argument("--reminders", type=int, default=20_000)
    parser.add_argument("--json", type=Path, default=RESULTS)
    args = parser.parse_args(argv)

    from redis import Redis

    from peepopay.config import ROOT
    from tests.servers import RedisServer, SMTPSink

    tmp = Path(tempfile.mkdtemp(prefix="peepopay-bench-worker-"))
    url = f"sqlite:///{tmp / 'bench.db'}"
    redis = RedisServer().start()
    sink = SMTPSink().start()
    workers: list[subprocess.Popen[bytes]] = []
    try:
        enqueue_s = backlog(url, redis.url, sink.url, args.messages)
        keys_before = Redis.from_url(redis.url).dbsize()
        env = {
            **os.environ,
            "PEEPOPAY_ENV": "development",
            "PEEPOPAY_INSTANCE": str(tmp),
            "DATABASE_URL": url,
            "REDIS_URL": redis.url,
            "SMTP_URL": sink.url,
            "LOG_LEVEL": "WARNING",
        }
        started = time.perf_counter()
        for n in range(args.workers):
            log = (tmp / f"worker-{n}.log").open("ab")
            workers.append(
                subprocess.Popen(
                    [str(BIN / "flask"), "--app", "peepopay", "worker", "--burst"],
                    env=env,
                    cwd=ROOT,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            )
            log.close()
        deadline = started + args.timeout
        while len(sink.messages) < args.messages and time.perf_counter() < deadline:
            time.sleep(0.2)
        drain_s = time.perf_counter() - started
        for worker in workers:
            worker.wait(60)
        keys_after = Redis.from_url(redis.url).dbsize()
        delivered = len(sink.messages)
        distinct = len({str(m["Message-ID"] or m["Subject"]) + str(m["To"]) for m in sink.messages})
        reminded = reminders(url, redis.url, args.reminders)
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.terminate()
                worker.wait(10)
        sink.stop()
        redis.stop()
        shutil.rmtree(tmp, ignore_errors=True)

    rate = delivered / drain_s if drain_s else 0.0
    growth = reminded["redis_keys_after"] - reminded["redis_keys_before"]
    per_minute = growth / (reminded["seconds"] / 60) if reminded["seconds"] else 0.0
    reminded["redis_keys_per_minute"] = round(per_minute, 1)
    checks = {
        f"all {args.messages:,} delivered": delivered == args.messages,
        "each once": distinct == delivered,
        "reminders: < 10,000 Redis keys a minute": per_minute < 10_000,
    }
    print()
    print(f"Outbox backlog of {args.messages:,} emails, {args.workers} RQ workers, SMTP sink")
    print(f"  written and enqueued in   {enqueue_s:8.1f} s")
    print(f"  drained in                {drain_s:8.1f} s ({rate:.1f} messages/s)")
    print(f"  Redis keys: {keys_before:,} with the backlog queued, {keys_after:,} after")
    print(
        f"Reminders for {args.reminders:,} bookings: {reminded['rows']:,} outbox rows in "
        f"{reminded['seconds']:.0f} s; Redis keys {reminded['redis_keys_before']:,} before, "
        f"{reminded['redis_keys_after']:,} after ({per_minute:,.0f} a minute)"
    )
    for name, ok in checks.items():
        print(f"  [{'ok' if ok else 'OVER'}] {name}")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(
        json.dumps(
            {
                "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
                "machine": {
                    "cpus": os.cpu_count(),
                    "platform": platform.platform(),
                    "load_average": os.getloadavg(),
                },
                "messages": args.messages,
                "workers": args.workers,
                "enqueue_s": round(enqueue_s, 2),
                "drain_s": round(drain_s, 2),
                "messages_per_s": round(rate, 1),
                "delivered": delivered,
                "redis_keys_queued": keys_before,
                "redis_keys_after": keys_after,
                "reminders": reminded,
                "checks": checks,
            },
            indent=2,
        )
        + "\n"
    )
    print(f"\nwritten to {args.json}")
    return 0 if all(checks.values()) else 1


def backlog(url: str, redis_url: str, smtp_url: str, count: int) -> float:
    """A tradie and `count` emails written to the outbox in one transaction, enqueued on
    commit as the app does; the seconds that took."""
    from flask_migrate import upgrade

    from peepopay import create_app
    from peepopay.accounts import services as accounts
    from peepopay.config import DevelopmentConfig
    from peepopay.extensions import db
    from peepopay.notifications import outbox

    app = create_app(
        DevelopmentConfig,
        {
            "SQLALCHEMY_DATABASE_URI": url,
            "REDIS_URL": redis_url,
            "SMTP_URL": smtp_url,
            "RATELIMIT_ENABLED": False,
        },
    )
    with app.app_context():
        upgrade()
        tradie = accounts.create_tradie(
            db.session,
            email="worker@bench.example",
            password="bench password 1234",  # noqa: S106
            business_name="Bench Worker Plumbing",
            slug="bench-worker",
        )
        db.session.commit()
        started = time.perf_counter()
        for n in range(count):
            outbox.add(
                db.session,
                kind="bench",
                channel="email",
                recipient=f"customer{n}@example.com",
                payload={
                    "subject": f"Your booking {n}",
                    "text": "See you on Tuesday at 9:00.\n",
                    "html": "<p>See you on Tuesday at 9:00.</p>",
                    "attachments": [],
                },
                key=f"bench:{n}",
                tradie_id=tradie.id,
            )
        db.session.commit()
        took = time.perf_counter() - started
        db.session.remove()
        db.engine.dispose()
    return took


def reminders(url: str, redis_url: str, count: int) -> dict[str, Any]:
    """`count` confirmed bookings an hour apart from the day after tomorrow (a crew's years
    ahead: the overlap guarantee holds for the bench too), each given its reminder through
    `messages.schedule_reminder` in batches of 500 (a commit each, as confirmations come);
    Redis's key count before and after."""
    import sqlalchemy as sa
    from redis import Redis

    from bench.widget import booking_row
    from peepopay import create_app
    from peepopay.config import DevelopmentConfig
    from peepopay.extensions import db
    from peepopay.models import Booking, OutboxMessage, Service, Tradie
    from peepopay.notifications import messages

    app = create_app(
        DevelopmentConfig,
        {"SQLALCHEMY_DATABASE_URI": url, "REDIS_URL": redis_url, "RATELIMIT_ENABLED": False},
    )
    now = datetime.now(UTC)
    with app.test_request_context():
        tradie = db.session.scalars(sa.select(Tradie)).one()
        service = Service(tradie_id=tradie.id, name="Leak repair", duration_minutes=60)
        db.session.add(service)
        db.session.flush()
        first = now + timedelta(days=2)
        db.session.execute(
            sa.insert(Booking),
            [
                booking_row(
                    tradie.id,
                    service.id,
                    first + timedelta(hours=n),
                    n + 1,
                    customer_name=f"Customer {n}",
                    customer_email=f"reminded{n}@example.com",
                    job_address=f"{n} Queen Street, Auckland",
                )
                for n in range(count)
            ],
        )
        db.session.commit()
        ids = list(db.session.scalars(sa.select(Booking.id).order_by(Booking.id)))
        db.session.remove()
        redis = Redis.from_url(redis_url)
        before = redis.dbsize()
        started = time.perf_counter()
        for at in range(0, len(ids), 500):
            for booking in db.session.scalars(
                sa.select(Booking).where(Booking.id.in_(ids[at : at + 500]))
            ):
                messages.schedule_reminder(db.session, booking, now)
            db.session.commit()
            db.session.expunge_all()
        took = time.perf_counter() - started
        rows = db.session.scalar(
            sa.select(sa.func.count()).where(OutboxMessage.kind == messages.REMINDER)
        )
        after = redis.dbsize()
        db.session.remove()
        db.engine.dispose()
    return {
        "bookings": count,
        "rows": int(rows or 0),
        "seconds": round(took, 1),
        "redis_keys_before": before,
        "redis_keys_after": after,
    }


if __name__ == "__main__":
    sys.exit(main())
