"""The outbox delivers each message once per idempotency key, retries and records failures."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from peepopay.clock import utcnow
from peepopay.extensions import db
from peepopay.models import OutboxMessage
from peepopay.notifications import outbox

# The idempotency key is a unique constraint and the claim a conditional UPDATE.
pytestmark = pytest.mark.both_databases


def add_message(app, key="k1"):
    with app.test_request_context():
        message = outbox.add(
            db.session,
            kind="test",
            channel="email",
            recipient="c@example.com",
            payload={"subject": "Hello", "text": "Hi there", "html": "<p>Hi</p>"},
            key=key,
        )
        again = outbox.add(
            db.session,
            kind="test",
            channel="email",
            recipient="c@example.com",
            payload={"subject": "Hello", "text": "Hi", "html": "<p>Hi</p>"},
            key=key,
        )
        assert again is None
        db.session.commit()
        return message.id


def test_delivered_once_even_when_job_runs_twice(app, smtp):
    message_id = add_message(app)
    with app.app_context():
        assert outbox.deliver(db.session, message_id, now=utcnow()) == "sent"
        assert outbox.deliver(db.session, message_id, now=utcnow()) == "skipped"
        row = db.session.get(OutboxMessage, message_id)
        assert (row.status, row.attempts) == ("sent", 1)
    mails = smtp.to("c@example.com")
    assert len(mails) == 1
    assert mails[0]["Subject"] == "Hello"
    assert mails[0].get_body(("plain",)).get_content().strip() == "Hi there"


def test_failure_is_retried_with_backoff_then_recorded(app, smtp):
    app.config["SMTP_URL"] = "smtp://127.0.0.1:1"
    app.config["OUTBOX_MAX_ATTEMPTS"] = 2
    message_id = add_message(app)
    with app.app_context():
        now = utcnow()
        assert outbox.deliver(db.session, message_id, now=now) == "retry"
        row = db.session.get(OutboxMessage, message_id)
        assert row.status == "pending" and row.last_error
        assert row.next_attempt_at > now
        assert outbox.due_message_ids(db.session, now) == []
        later = row.next_attempt_at
        assert outbox.due_message_ids(db.session, later) == [message_id]
        assert outbox.deliver(db.session, message_id, now=later) == "failed"
        assert db.session.get(OutboxMessage, message_id).status == "failed"
    assert smtp.to("c@example.com") == []


def test_enqueued_after_commit_and_run_by_a_worker(app, smtp, redis_url):
    """The commit hands the message to RQ; a real worker process delivers it."""
    message_id = add_message(app, key="via-rq")
    from rq import Queue, SimpleWorker

    with app.app_context():
        conn = app.extensions["redis"]
        queue = Queue(app.config["RQ_QUEUE"], connection=conn)
        assert f"outbox-{message_id}" in queue.job_ids
        SimpleWorker([queue], connection=conn).work(burst=True)
        db.session.remove()
        assert db.session.scalar(sa.select(OutboxMessage.status)) == "sent"
    assert len(smtp.to("c@example.com")) == 1
