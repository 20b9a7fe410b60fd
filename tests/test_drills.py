"""Fault drills against the real processes, wired as `make run` wires them (tests/stack.py):
Redis stopped under bookings, the RQ worker SIGKILLed mid-delivery, an app node SIGKILLed
behind Caddy's load balancer. Each drill prints its figures and asserts the invariants: no 5xx
where none may be, no booking lost or doubled, every message delivered exactly once.
"""

from __future__ import annotations

import asyncio
import random
import shutil
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from peepopay import create_app
from peepopay.config import TestingConfig
from peepopay.extensions import db
from peepopay.notifications import outbox
from tests.servers import RedisServer, SMTPSink
from tests.stack import Stack, wait_until

pytestmark = pytest.mark.slow


@pytest.fixture
def redis() -> Iterator[RedisServer]:
    """A Redis for this drill alone, so stopping it disturbs nobody else."""
    server = RedisServer().start()
    yield server
    server.stop()
    shutil.rmtree(server.dir, ignore_errors=True)


@pytest.fixture
def sink() -> Iterator[SMTPSink]:
    server = SMTPSink().start()
    yield server
    server.stop()


def report(capsys: pytest.CaptureFixture[str], title: str, figures: dict[str, object]) -> None:
    """The drill's figures on the terminal, captured or not, so a run can be quoted."""
    with capsys.disabled():
        print(f"\n[drill] {title}: " + ", ".join(f"{k}={v}" for k, v in figures.items()))


class StallingSink(SMTPSink):
    """An SMTP sink that holds the `stall_at`-th message inside DATA until its client dies
    (aiosmtpd then cancels the handler and the message is not kept): a delivery caught in
    the middle, before the server's "250 OK"."""

    def __init__(self, stall_at: int) -> None:
        super().__init__()
        self.stall_at = stall_at
        self.stalled = threading.Event()
        self.dropped = threading.Event()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self._lock:
            arriving = len(self.messages) + 1
        if arriving == self.stall_at and not self.stalled.is_set():
            self.stalled.set()
            try:
                await asyncio.sleep(60)
            except asyncio.CancelledError:
                self.dropped.set()
                raise
        return await super().handle_DATA(server, session, envelope)


def keys_in(sink: SMTPSink) -> Counter[str]:
    with sink._lock:
        return Counter(str(m["X-PeepoPay-Key"]) for m in sink.messages)


def app_on(stack: Stack) -> Flask:
    """An app in this process on the stack's database, Redis and queue (to write outbox rows
    as the product does: in a transaction, handed to RQ after the commit)."""
    return create_app(
        TestingConfig,
        {
            "SQLALCHEMY_DATABASE_URI": stack.database_url,
            "REDIS_URL": stack.redis.url,
            "RATELIMIT_STORAGE_URI": stack.redis.url,
            "RQ_QUEUE": stack.env["RQ_QUEUE"],
            "SMTP_URL": stack.smtp.url,
            "OUTBOX_SWEEP_GRACE_SECONDS": int(stack.env["OUTBOX_SWEEP_GRACE_SECONDS"]),
        },
    )


def close(app: Flask) -> None:
    with app.app_context():
        db.session.remove()
        db.engine.dispose()
    if app.extensions.get("redis"):
        app.extensions["redis"].close()


# ------------------------------------------------------- drill 2: the worker dies mid-delivery


def test_worker_sigkilled_in_the_middle_of_100_deliveries(
    tmp_path: Path, redis: RedisServer, capsys: pytest.CaptureFixture[str]
) -> None:
    """100 emails in the outbox; once about half are out the worker is SIGKILLed (with its work
    horse) in the middle of sending one, and a new worker started: 100 delivered, none twice."""
    started = time.monotonic()
    count = 100
    sink = StallingSink(stall_at=random.randint(35, 65)).start()
    stack = Stack(
        tmp_path,
        redis,
        sink,
        workers=0,
        # The sweep's grace as deployed (30 s); a short lease so the message the dead worker
        # held is taken over in seconds, not the deployed two minutes.
        env={"OUTBOX_SWEEP_GRACE_SECONDS": "30", "OUTBOX_LEASE_SECONDS": "3"},
    )
    app = None
    try:
        stack.up()
        up = time.monotonic()
        app = app_on(stack)
        keys = [f"drill:worker-kill:{n}" for n in range(1, count + 1)]
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
            db.session.commit()  # all 100 handed to RQ after the commit

        first = stack.start_worker()
        assert sink.stalled.wait(60), stack.log("worker1").read_text()[-3000:]
        in_flight = stack.rows(
            "SELECT idempotency_key FROM outbox_messages WHERE status = 'sending'"
        )
        first.kill()
        killed = time.monotonic()
        delivered_before_kill = len(sink.messages)
        assert sink.dropped.wait(10)  # the SMTP transaction died with the worker

        stack.start_worker()
        wait_until(
            lambda: (
                stack.sql("SELECT count(*) FROM outbox_messages WHERE status = 'sent'") == count
            ),
            60,
            "every message sent after the restart",
        )
        recovered = time.monotonic()
        delivered = keys_in(sink)
        attempts = stack.sql("SELECT sum(attempts) FROM outbox_messages")
    finally:
        if app is not None:
            close(app)
        stack.down()
        sink.stop()

    duplicates = {key: n for key, n in delivered.items() if n > 1}
    report(
        capsys,
        "worker SIGKILL mid-delivery",
        {
            "messages_expected": count,
            "delivered_before_kill": delivered_before_kill,
            "in_flight_at_kill": len(in_flight),
            "delivered": sum(delivered.values()),
            "distinct": len(delivered),
            "duplicates": sum(n - 1 for n in duplicates.values()),
            "attempts": attempts,
            "stack_up_s": round(up - started, 1),
            "to_kill_s": round(killed - up, 1),
            "recovery_s": round(recovered - killed, 1),
            "runtime_s": round(time.monotonic() - started, 1),
        },
    )
    assert [row[0] for row in in_flight] == [f"drill:worker-kill:{sink.stall_at}"]
    assert sorted(delivered) == sorted(keys)
    assert not duplicates, duplicates
    # One claim per message, and one more for the message the dead worker held.
    assert attempts == count + 1
