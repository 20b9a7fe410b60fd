"""Helpers for the notification and customer-page tests: a Twilio-shaped recording endpoint,
bookings in a known state, reading outbox rows and delivering them as the worker would."""

from __future__ import annotations

import json
import threading
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

import sqlalchemy as sa
from flask import Flask

from peepopay.extensions import db

TWILIO_SID = "AC" + "0123456789abcdef" * 2
TWILIO_TOKEN = "twilio-test-token"
TWILIO_FROM = "+6498887777"


@dataclass
class TwilioRecorder:
    """A local HTTP endpoint answering like Twilio's Messages API, keeping every request."""

    requests: list[dict[str, Any]] = field(default_factory=list)
    fail_with: tuple[int, dict[str, Any]] | None = None
    server: ThreadingHTTPServer | None = None
    thread: threading.Thread | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def start(self) -> TwilioRecorder:
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
                with recorder._lock:
                    recorder.requests.append(
                        {
                            "path": self.path,
                            "authorization": self.headers.get("Authorization"),
                            "user_agent": self.headers.get("User-Agent"),
                            "form": form,
                        }
                    )
                    failure = recorder.fail_with
                if failure:
                    status, body = failure
                else:
                    status, body = 201, recorder.message(form)
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        return self

    def message(self, form: dict[str, str]) -> dict[str, Any]:
        sid = "SM" + uuid.uuid4().hex
        return {
            "sid": sid,
            "account_sid": TWILIO_SID,
            "to": form.get("To"),
            "from": form.get("From"),
            "body": form.get("Body"),
            "status": "queued",
            "num_segments": "1",
            "direction": "outbound-api",
            "api_version": "2010-04-01",
            "price": None,
            "error_code": None,
            "error_message": None,
            "date_created": "Mon, 02 Mar 2026 10:00:00 +0000",
            "uri": f"/2010-04-01/Accounts/{TWILIO_SID}/Messages/{sid}.json",
        }

    def stop(self) -> None:
        if self.server:
            self.server.shutdown()
            self.server.server_close()
        if self.thread:
            self.thread.join(5)

    def clear(self) -> None:
        with self._lock:
            self.requests.clear()
            self.fail_with = None

    def to(self, number: str) -> list[dict[str, Any]]:
        with self._lock:
            return [r for r in self.requests if r["form"].get("To") == number]


def twilio_config(recorder: TwilioRecorder) -> dict[str, str]:
    return {
        "TWILIO_ACCOUNT_SID": TWILIO_SID,
        "TWILIO_AUTH_TOKEN": TWILIO_TOKEN,
        "TWILIO_FROM_NUMBER": TWILIO_FROM,
        "TWILIO_API_BASE": recorder.url,
    }


def make_booking(
    app: Flask,
    tradie_id: int,
    *,
    starts_at: datetime,
    status: str = "confirmed",
    email: str = "cara@example.com",
    phone: str = "021 555 0101",
    deposit_minor: int = 5000,
    paid: bool = True,
    payment_intent: str | None = None,
) -> int:
    """A booking of the tradie's first service, with a succeeded deposit payment record."""
    from peepopay.models import Booking, Payment, Service

    with app.app_context():
        service = db.session.scalar(sa.select(Service).where(Service.tradie_id == tradie_id))
        assert service is not None
        booking = Booking(
            tradie_id=tradie_id,
            service_id=service.id,
            service_name=service.name,
            duration_minutes=service.duration_minutes,
            price_minor=service.price_minor,
            deposit_minor=deposit_minor,
            currency="NZD",
            customer_name="Cara Customer",
            customer_email=email,
            customer_phone=phone,
            job_address="12 Queen Street, Auckland 1010",
            notes="Gate code 1234",
            starts_at=starts_at,
            ends_at=starts_at + timedelta(minutes=service.duration_minutes),
            status=status,
        )
        db.session.add(booking)
        db.session.flush()
        if paid:
            db.session.add(
                Payment(
                    booking_id=booking.id,
                    tradie_id=tradie_id,
                    kind="deposit",
                    amount_minor=deposit_minor,
                    currency="NZD",
                    application_fee_minor=125,
                    status="succeeded",
                    stripe_payment_intent_id=payment_intent or f"pi_test_{uuid.uuid4().hex[:12]}",
                )
            )
        db.session.commit()
        return booking.id


def outbox_rows(app: Flask, **filters: Any) -> list[Any]:
    from peepopay.models import OutboxMessage

    with app.app_context():
        query = sa.select(OutboxMessage).order_by(OutboxMessage.id)
        for name, value in filters.items():
            query = query.where(getattr(OutboxMessage, name) == value)
        rows = db.session.scalars(query).all()
        db.session.expunge_all()
        return list(rows)


def deliver_outbox(app: Flask) -> list[str]:
    """Deliver every pending outbox message now, as the worker would."""
    from peepopay.clock import utcnow
    from peepopay.models import OutboxMessage, OutboxStatus
    from peepopay.notifications.outbox import deliver

    with app.app_context():
        rows = db.session.execute(
            sa.select(OutboxMessage.id, OutboxMessage.payload).where(
                OutboxMessage.status == OutboxStatus.PENDING
            )
        ).all()
        # Not the scheduled ones (reminders): like the worker, they wait for their time.
        ids = [i for i, payload in rows if not (payload or {}).get("send_at")]
        results = [deliver(db.session, message_id, now=utcnow()) for message_id in ids]
        db.session.remove()
        return results
