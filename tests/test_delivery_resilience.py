"""No message lost or sent twice, whatever happens to workers or Redis.

These start the real worker (`flask --app peepopay worker`) as a subprocess against the test's
database and Redis, and an SMTP server that can be made slow, then kill the worker or Redis.
Waiting here is for other processes to act, polled with a deadline; no clock is slept on.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import stripe

from peepopay.extensions import db
from peepopay.models import OutboxMessage
from peepopay.notifications import outbox
from tests.servers import RedisServer, free_port
from tests.stack import WorkerProcess, descendants, wait_until


class SlowSMTPSink:
    """An aiosmtpd server that keeps what it accepts and stalls inside DATA for one subject, once:
    a client that dies meanwhile loses the transaction (aiosmtpd cancels the handler)."""

    def __init__(self, slow_subject: str) -> None:
        self.slow_subject = slow_subject
        self.stalled = threading.Event()
        self.dropped = threading.Event()
        self.accepted: list[Any] = []
        self._lock = threading.Lock()
        self.controller: Any = None
        self.port = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = message_from_bytes(envelope.content, policy=policy.default)
        if message["Subject"] == self.slow_subject and not self.stalled.is_set():
            self.stalled.set()
            try:
                await asyncio.sleep(60)  # the worker is killed in here
            except asyncio.CancelledError:
                self.dropped.set()  # the client went away before our "250 OK"
                raise
        with self._lock:
            self.accepted.append(message)
        return "250 OK"

    def start(self) -> SlowSMTPSink:
        from aiosmtpd.controller import Controller

        self.port = free_port()
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port)
        self.controller.start()
        return self

    def stop(self) -> None:
        self.controller.stop()

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    def to(self, address: str) -> list[Any]:
        with self._lock:
            return [m for m in self.accepted if address in str(m["To"])]

    def accepted_keys(self) -> list[str]:
        with self._lock:
            return sorted(str(m["X-PeepoPay-Key"]) for m in self.accepted)


def worker_env(app: Any, tmp_path: Path, **extra: str) -> dict[str, str]:
    config = app.config
    env = {
        **os.environ,
        "PEEPOPAY_ENV": "development",
        "PEEPOPAY_INSTANCE": str(tmp_path / "worker-instance"),
        "DATABASE_URL": config["SQLALCHEMY_DATABASE_URI"],
        "REDIS_URL": config["REDIS_URL"],
        "RQ_QUEUE": config["RQ_QUEUE"],
        "SMTP_URL": config["SMTP_URL"],
        "MAILBOX_DIR": config["MAILBOX_DIR"],
        "BASE_URL": config["BASE_URL"],
        "OUTBOX_LEASE_SECONDS": str(config["OUTBOX_LEASE_SECONDS"]),
        "OUTBOX_SWEEP_GRACE_SECONDS": str(config["OUTBOX_SWEEP_GRACE_SECONDS"]),
        "PYTHONWARNINGS": "ignore",
    }
    for name in ("TWILIO_ACCOUNT_SID", "SENTRY_DSN", "STRIPE_API_BASE"):
        env.pop(name, None)
    env.update(extra)
    return env


def statuses(app: Any) -> dict[str, str]:
    with app.app_context():
        rows = db.session.execute(sa.select(OutboxMessage.idempotency_key, OutboxMessage.status))
        result = {key: status for key, status in rows}
        db.session.remove()
        return result


@pytest.fixture
def slow_smtp() -> Iterator[SlowSMTPSink]:
    sink = SlowSMTPSink(slow_subject="Message 1").start()
    yield sink
    sink.stop()


@pytest.fixture
def app_config(app_config, slow_smtp):
    app_config.update(SMTP_URL=slow_smtp.url, OUTBOX_LEASE_SECONDS=1)
    return app_config


def queue_messages(app: Any, count: int) -> list[str]:
    keys = [f"test:resilience:{n}" for n in range(1, count + 1)]
    with app.test_request_context():
        for n, key in enumerate(keys, start=1):
            outbox.add(
                db.session,
                kind="test",
                channel="email",
                recipient=f"person{n}@example.com",
                payload={"subject": f"Message {n}", "text": f"Body {n}", "html": f"<p>{n}</p>"},
                key=key,
            )
        db.session.commit()  # enqueued to RQ after the commit
    return keys


def test_a_worker_killed_while_sending_loses_and_duplicates_nothing(app, slow_smtp, tmp_path):
    keys = queue_messages(app, 4)
    env = worker_env(app, tmp_path)

    first = WorkerProcess(env, tmp_path / "worker1.log")
    try:
        assert slow_smtp.stalled.wait(40), (tmp_path / "worker1.log").read_text()
        assert statuses(app)[keys[0]] == "sending"  # claimed, mid-delivery
    finally:
        first.kill()
    assert not descendants(first.process.pid)
    # Killed in the middle of DATA: the SMTP server dropped the transaction, message 1 is not in.
    assert slow_smtp.dropped.wait(10)
    assert keys[0] not in slow_smtp.accepted_keys()

    second = WorkerProcess(env, tmp_path / "worker2.log")
    try:
        wait_until(
            lambda: set(statuses(app).values()) == {"sent"},
            what="every message sent by the second worker",
        )
    finally:
        second.stop()

    assert slow_smtp.accepted_keys() == keys  # every message exactly once
    with app.app_context():
        row = db.session.scalar(
            sa.select(OutboxMessage).where(OutboxMessage.idempotency_key == keys[0])
        )
        assert row.attempts == 2  # the dead worker's claim, then the lease ran out
        db.session.remove()


# ------------------------------------------------------------------ Redis goes away


@pytest.fixture
def own_redis() -> Iterator[RedisServer]:
    """A Redis for this test alone, so stopping it disturbs nobody else."""
    server = RedisServer().start()
    yield server
    server.stop()


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_booking_and_payment_survive_a_redis_outage_and_messages_follow(
    app_config, own_redis, stripe_emulator, live_server, slow_smtp, tmp_path
):
    """Redis is down while a customer books and pays: the booking succeeds (rate limits fall
    back to memory, enqueueing after commit fails quietly) and once Redis is back the worker's
    sweep sends every message, once."""
    from peepopay import create_app
    from peepopay.config import TestingConfig
    from peepopay.models import Booking, Tradie
    from tests.fixtures.factories import make_tradie
    from tests.fixtures.stripe import emulator_config

    app_config.update(
        REDIS_URL=own_redis.url,
        RATELIMIT_STORAGE_URI=own_redis.url,
        OUTBOX_SWEEP_GRACE_SECONDS=1,  # the sweep's fallback takes over after a second
        **emulator_config(stripe_emulator),
    )
    app = create_app(TestingConfig, app_config)
    stripe_emulator.control("reset")
    stripe_emulator.control("config", {"deliver_times": 1, "shuffle": False, "hold_events": False})
    live_server.app = app
    sdk = stripe_emulator.client("sk_test_peepopay_tests", http_client=stripe.RequestsClient())
    worker = None
    try:
        account = sdk.v1.accounts.create(
            {"controller": {"stripe_dashboard": {"type": "full"}}, "country": "NZ"}
        )
        stripe_emulator.control(f"accounts/{account.id}/onboard")
        tradie_id = make_tradie(app, stripe_account_id=account.id, charges_enabled=True, phone=None)
        with app.app_context():
            slug = db.session.get(Tradie, tradie_id).slug
        client = app.test_client()
        config = client.get(f"/api/widget/{slug}/config").get_json()
        service_id = config["services"][0]["id"]
        day = (datetime.now(UTC) + timedelta(days=4)).date().isoformat()
        slots = client.get(
            f"/api/widget/{slug}/availability", query_string={"date": day, "serviceId": service_id}
        ).get_json()["slots"]
        start = next(s["start"] for s in slots if s["available"])

        own_redis.stop()  # ---------------------------------------------- Redis is gone

        created = client.post(
            f"/api/widget/{slug}/book",
            json={
                "serviceId": service_id,
                "start": start,
                "customer": {
                    "name": "Rae Outage",
                    "email": "rae@example.com",
                    "phone": "021 555 0199",
                    "address": "1 Lambton Quay, Wellington",
                },
            },
        )
        assert created.status_code == 201, created.get_data(as_text=True)
        booking_id = created.get_json()["bookingId"]
        intent_id = created.get_json()["stripeClientSecret"].split("_secret_")[0]
        paid = sdk.v1.payment_intents.confirm(
            intent_id,
            {"payment_method": "pm_card_visa", "return_url": "https://example.com/return"},
            options={"stripe_account": account.id},
        )
        assert paid.status == "succeeded"
        stripe_emulator.control("flush", {"timeout": 10})  # the webhook reached the app

        def booking_status() -> str:
            with app.app_context():
                status = db.session.get(Booking, booking_id).status
                db.session.remove()
                return status

        wait_until(lambda: booking_status() == "confirmed", what="the booking confirmed")
        now_due = {k: v for k, v in statuses(app).items() if ":reminder:" not in k}
        assert now_due and set(now_due.values()) == {"pending"}  # written, not yet sent

        # A worker started during the outage keeps sweeping and retrying; nothing goes out.
        log = tmp_path / "worker.log"
        worker = WorkerProcess(worker_env(app, tmp_path), log)
        wait_until(lambda: "lost Redis" in log.read_text(), what="the worker to miss Redis")
        assert {k: v for k, v in statuses(app).items() if k in now_due} == now_due

        own_redis.start()  # --------------------------------------------- Redis is back
        wait_until(
            lambda: all(statuses(app)[k] == "sent" for k in now_due),
            what="the messages sent after Redis came back",
        )
    finally:
        if worker:
            worker.stop()
        live_server.app = None
        sdk._requestor._client.close()
        with app.app_context():
            db.session.remove()
            db.engine.dispose()
        if app.extensions.get("redis"):
            app.extensions["redis"].close()

    assert set(now_due) == {
        f"booking:{booking_id}:confirmed:email",
        f"booking:{booking_id}:confirmed:sms",
        f"booking:{booking_id}:new_booking:email",
    }
    [confirmation] = slow_smtp.to("rae@example.com")
    assert confirmation["Subject"].startswith("Booking confirmed: Leak repair")
    [alert] = slow_smtp.to("tradie@example.com")
    assert alert["Subject"].startswith("New booking: Leak repair for Rae Outage")
    [sms_file] = (tmp_path / "mailbox").glob("*.sms.json")  # SMS in the dev mailbox
    assert "+64215550199" in sms_file.read_text()
