"""`make screenshots`: the dashboard in Chromium at 375 px and 1280 px, as PNGs in docs/screenshots.

Starts the product itself: a throwaway instance directory and SQLite database, migrated and
seeded with the demo tradie plus a few weeks of bookings, served by werkzeug in this process.
Fails (exit 1) when a page scrolls sideways at either width, the usual sign of a broken layout.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
import threading
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
WIDTHS = (375, 1280)
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")


def build_app(instance: Path, port: int) -> Any:
    os.environ["PEEPOPAY_INSTANCE"] = str(instance)  # read when peepopay.config is imported
    sys.path.insert(0, str(ROOT))
    from peepopay import create_app
    from peepopay.config import DevelopmentConfig

    return create_app(
        DevelopmentConfig,
        {
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{instance / 'screens.db'}",
            "REDIS_URL": None,
            "RATELIMIT_STORAGE_URI": "memory://",
            "BASE_URL": f"http://127.0.0.1:{port}",
            "MAILBOX_DIR": str(instance / "mailbox"),
            "LOGO_DIR": str(instance / "logos"),
            # Plain http on loopback: the __Host-/Secure cookie names need https.
            "SESSION_COOKIE_NAME": "session",
            "SESSION_COOKIE_SECURE": False,
            "REMEMBER_COOKIE_NAME": "remember",
            "REMEMBER_COOKIE_SECURE": False,
            "TRUSTED_PROXIES": 0,
        },
    )


def seed(app: Any) -> None:
    """The demo tradie plus bookings today, this week and over the last twelve weeks."""
    from flask_migrate import upgrade

    from peepopay.analytics.models import WidgetView
    from peepopay.audit import record
    from peepopay.commands import seed_demo
    from peepopay.extensions import db
    from peepopay.models import BlockedPeriod, Booking, OutboxMessage, Payment, Service, Tradie

    with app.app_context():
        upgrade()
        seed_demo()
        tradie = db.session.scalar(db.select(Tradie))
        services = db.session.scalars(db.select(Service).order_by(Service.sort_order)).all()
        tz = tradie.timezone
        now = datetime.now(UTC)
        from zoneinfo import ZoneInfo

        zone = ZoneInfo(tz)
        today = now.astimezone(zone).date()
        names = [
            ("Aroha Ngata", "021 555 0101", "12 Ponsonby Road, Auckland"),
            ("Ben Carter", "021 555 0102", "4 Karangahape Road, Auckland"),
            ("Chloe Wong", "021 555 0103", "88 Dominion Road, Mount Eden"),
            ("Dev Patel", "021 555 0104", "7 Jervois Road, Herne Bay"),
            ("Emma Smith", "021 555 0105", "23 Great North Road, Grey Lynn"),
            ("Finn O'Brien", "021 555 0106", "150 Queen Street, Auckland"),
        ]
        bookings = []

        def book(day_offset: int, hour: int, n: int, status: str, created_days_ago: int) -> Booking:
            service = services[n % len(services)]
            local = datetime.combine(today + timedelta(days=day_offset), time(hour), tzinfo=zone)
            start = local.astimezone(UTC)
            name, phone, address = names[n % len(names)]
            deposit = 5000 if service.deposit_type == "fixed" else 6000
            created = now - timedelta(days=created_days_ago, hours=n % 7)
            booking = Booking(
                tradie_id=tradie.id,
                service_id=service.id,
                service_name=service.name,
                duration_minutes=service.duration_minutes,
                price_minor=service.price_minor,
                deposit_minor=deposit,
                currency=tradie.currency,
                customer_name=name,
                customer_email=name.split()[0].lower() + "@example.com",
                customer_phone="+64" + phone.replace(" ", "")[1:],
                job_address=address,
                notes="Side gate is open; dog is friendly." if n % 3 == 0 else "",
                starts_at=start,
                ends_at=start + timedelta(minutes=service.duration_minutes),
                status=status,
                created_at=created,
                confirmed_at=created + timedelta(minutes=3) if status != "expired" else None,
                completed_at=start + timedelta(hours=2) if status == "completed" else None,
                cancelled_at=created + timedelta(days=1) if status == "cancelled" else None,
            )
            db.session.add(booking)
            db.session.flush()
            if status != "expired":
                db.session.add(
                    Payment(
                        booking_id=booking.id,
                        tradie_id=tradie.id,
                        kind="deposit",
                        amount_minor=deposit,
                        currency=tradie.currency,
                        application_fee_minor=(deposit * 250 + 5000) // 10000,
                        status="succeeded",
                        stripe_payment_intent_id=f"pi_demo_{booking.id}",
                        created_at=created + timedelta(minutes=3),
                    )
                )
            record(
                db.session,
                tradie_id=tradie.id,
                actor="customer",
                action="booking.created",
                entity=booking,
            )
            bookings.append(booking)
            return booking

        n = 0
        for day, hour in [(0, 9), (0, 13), (1, 10), (2, 8), (2, 14), (3, 11), (5, 9)]:
            book(day, hour, n, "confirmed", created_days_ago=2 + n)
            n += 1
        for weeks_ago in range(1, 12):
            for k in range((weeks_ago * 7) % 5 + 1):
                status = "cancelled" if k == 0 and weeks_ago % 5 == 0 else "completed"
                book(-weeks_ago * 7 + k, 8 + 2 * k, n, status, created_days_ago=weeks_ago * 7 + 3)
                n += 1
        cancelled = bookings[-2]
        cancelled.status = "cancelled"
        db.session.add(
            Payment(
                booking_id=cancelled.id,
                tradie_id=tradie.id,
                kind="refund",
                amount_minor=cancelled.deposit_minor,
                currency=tradie.currency,
                status="succeeded",
                stripe_refund_id=f"re_demo_{cancelled.id}",
                created_at=now - timedelta(days=1),
            )
        )
        db.session.add(
            OutboxMessage(
                kind="reminder",
                channel="sms",
                recipient=bookings[0].customer_phone,
                payload={"body": "Reminder"},
                idempotency_key=f"demo:{bookings[0].id}:reminder:sms",
                status="failed",
                attempts=8,
                last_error="Twilio 21610: the number has opted out of messages",
                booking_id=bookings[0].id,
                tradie_id=tradie.id,
            )
        )
        db.session.add(
            BlockedPeriod(
                tradie_id=tradie.id,
                start_date=today + timedelta(days=20),
                end_date=today + timedelta(days=27),
                reason="Family holiday",
            )
        )
        for days_ago in range(84):
            db.session.add(
                WidgetView(
                    tradie_id=tradie.id,
                    day=today - timedelta(days=days_ago),
                    count=12 + (days_ago * 7) % 11,
                )
            )
        db.session.commit()
        app.config["SCREENSHOT_BOOKING_ID"] = bookings[0].id
        app.config["SCREENSHOT_SERVICE_ID"] = services[1].id


def serve(app: Any) -> tuple[Any, int]:
    from werkzeug.serving import make_server

    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, server.server_port


def capture(
    base: str, out: Path, pages: list[tuple[str, str]], widths: tuple[int, ...] = WIDTHS
) -> list[str]:
    """Screenshot every page at every width; returns the layout problems found."""
    from playwright.sync_api import sync_playwright

    from peepopay.commands import DEMO_EMAIL, DEMO_PASSWORD

    problems = []
    out.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        page = context.new_page()
        page.goto(base + "/auth/login")
        page.fill("#email", DEMO_EMAIL)
        page.fill("#password", DEMO_PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url("**/dashboard")
        for width in widths:
            page.set_viewport_size({"width": width, "height": 900 if width > 400 else 812})
            for name, path in pages:
                page.goto(base + path, wait_until="networkidle")
                overflow = page.evaluate(
                    "document.documentElement.scrollWidth - document.documentElement.clientWidth"
                )
                if overflow > 0:
                    problems.append(f"{name} at {width}px scrolls sideways by {overflow}px")
                target = out / f"dashboard-{name}-{width}.png"
                page.screenshot(path=str(target), full_page=True)
                print(f"wrote {target}")
        browser.close()
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    parser.add_argument("--width", type=int, action="append", help="only these widths")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="pp-screens-") as tmp:
        # The port is only known once bound, and BASE_URL wants it: bind first, then build.
        app = build_app(Path(tmp), 0)
        seed(app)
        server, port = serve(app)
        app.config["BASE_URL"] = f"http://127.0.0.1:{port}"
        booking_id = app.config["SCREENSHOT_BOOKING_ID"]
        pages = [
            ("overview", "/dashboard"),
            ("bookings", "/dashboard/bookings"),
            ("booking", f"/dashboard/bookings/{booking_id}"),
            ("services", "/dashboard/services"),
            ("service-edit", f"/dashboard/services/{app.config['SCREENSHOT_SERVICE_ID']}/edit"),
            ("availability", "/dashboard/availability"),
            ("settings", "/dashboard/settings"),
            ("analytics", "/dashboard/analytics"),
        ]
        try:
            widths = tuple(args.width or WIDTHS)
            problems = capture(f"http://127.0.0.1:{port}", args.out, pages, widths)
        finally:
            server.shutdown()
            with app.app_context():
                from peepopay.extensions import db

                db.engine.dispose()
    for problem in problems:
        print("layout problem:", problem, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
