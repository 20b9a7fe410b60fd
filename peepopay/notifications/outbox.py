"""Writing outbox messages and delivering them exactly once per idempotency key."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from blinker import Namespace
from flask import current_app, render_template
from sqlalchemy.orm import Session

from peepopay.clock import utcnow
from peepopay.db_setup import DbSession
from peepopay.extensions import db
from peepopay.notifications import transport
from peepopay.notifications.models import OutboxMessage, OutboxStatus

log = logging.getLogger(__name__)

# Sent with a message that failed for good, inside the transaction that records it, with
# `session` and `now`: whoever must hear of it writes its own outbox row in the same commit
# (notifications.messages tells the tradie). Outbox itself knows nothing of what messages say.
gave_up = Namespace().signal("outbox-gave-up")


@sa.event.listens_for(Session, "after_commit")
def _enqueue_after_commit(session: DbSession) -> None:
    if session.info.get("outbox_ids") or session.info.get("outbox_scheduled"):
        enqueue_committed(session)


@sa.event.listens_for(Session, "after_rollback")
def _forget_after_rollback(session: DbSession) -> None:
    session.info.pop("outbox_ids", None)


# A message the fast path (enqueue after commit) has not sent by then is taken by the sweep.
# (OUTBOX_SWEEP_GRACE_SECONDS overrides it.)
SWEEP_GRACE = timedelta(seconds=30)


def sweep_grace() -> timedelta:
    seconds = current_app.config.get("OUTBOX_SWEEP_GRACE_SECONDS")
    return timedelta(seconds=float(seconds)) if seconds is not None else SWEEP_GRACE


# How long a worker may hold a claimed message before another may take it over
# (OUTBOX_LEASE_SECONDS overrides it).
LEASE = timedelta(minutes=2)


def lease() -> timedelta:
    seconds = current_app.config.get("OUTBOX_LEASE_SECONDS")
    return timedelta(seconds=float(seconds)) if seconds else LEASE


def backoff(attempts: int) -> timedelta:
    """30 s, 1 min, 2 min, 4 min … capped at one hour."""
    return timedelta(seconds=min(30 * 2 ** max(attempts - 1, 0), 3600))


def _key_exists(session: DbSession, key: str) -> bool:
    query = sa.select(OutboxMessage.id).where(OutboxMessage.idempotency_key == key)
    return session.scalar(query) is not None


def queue_email(
    session: DbSession,
    *,
    kind: str,
    to: str,
    template: str,
    context: dict[str, Any],
    key: str,
    tradie_id: int | None = None,
    booking_id: int | None = None,
    attachments: list[dict[str, str]] | None = None,
    now: datetime | None = None,
    send_at: datetime | None = None,
    reply_to: str | None = None,
) -> OutboxMessage | None:
    """Render `emails/<template>.{txt,html}` and add it to the outbox unless `key` exists.
    `reply_to`: where a reply should go (the tradie, for mail to their customers)."""
    if _key_exists(session, key):  # a repeated event: nothing to render
        return None
    # One line whatever the context holds: a header never carries a newline.
    subject = " ".join(render_template(f"emails/{template}.subject.txt", **context).split())
    payload = {
        "subject": subject,
        "text": render_template(f"emails/{template}.txt", **context),
        "html": render_template(f"emails/{template}.html", **context),
        "attachments": attachments or [],
    }
    if reply_to:
        payload["reply_to"] = reply_to
    return add(
        session,
        kind=kind,
        channel="email",
        recipient=to,
        payload=payload,
        key=key,
        tradie_id=tradie_id,
        booking_id=booking_id,
        now=now,
        send_at=send_at,
    )


def add(
    session: DbSession,
    *,
    kind: str,
    channel: str,
    recipient: str,
    payload: dict[str, Any],
    key: str,
    tradie_id: int | None = None,
    booking_id: int | None = None,
    now: datetime | None = None,
    send_at: datetime | None = None,
) -> OutboxMessage | None:
    """Add a message in the caller's transaction; a repeated key adds nothing.

    With `send_at` in the future the row waits in the database until then, and Redis holds
    nothing for it: the sweep (every 10 s) gives it a job once it is due, and `deliver` refuses
    it earlier. So a hundred thousand reminders weeks ahead cost no Redis memory, and a Redis
    restart loses none of them. A scheduled row is never moved: cancel it and add another.
    """
    if _key_exists(session, key):
        return None
    now = now or utcnow()
    grace = sweep_grace()
    later = send_at is not None and send_at > now + grace
    if later and send_at is not None:
        payload = {**payload, "send_at": send_at.isoformat()}
    message = OutboxMessage(
        kind=kind,
        channel=channel,
        recipient=recipient,
        payload=payload,
        idempotency_key=key,
        tradie_id=tradie_id,
        booking_id=booking_id,
        next_attempt_at=send_at if later and send_at else now + grace,
    )
    session.add(message)
    session.flush()
    if not later:
        session.info.setdefault("outbox_ids", []).append(message.id)
    return message


def enqueue_committed(session: DbSession) -> None:
    """After a commit, hand the new messages to RQ (the sweep covers a Redis outage)."""
    for message_id in session.info.pop("outbox_ids", []):
        enqueue_message(message_id)


def job_id(message_id: int, attempts: int = 0) -> str:
    """The RQ job id for a message's next attempt: `outbox-<id>`, then `outbox-<id>-retry-<n>`.

    The fast path and every sweep agree on it, so a waiting job is never doubled;
    a claim counts an attempt, so a job left "started" by a dead worker never blocks the next.
    """
    return f"outbox-{message_id}" if attempts == 0 else f"outbox-{message_id}-retry-{attempts}"


def enqueue_message(message_id: int, attempts: int = 0) -> str:
    """Give a message's next attempt a job unless it has one waiting or running; "enqueued",
    "waiting" or "unavailable". The fast path and the sweep both use it."""
    from peepopay.queue import enqueue_once

    return enqueue_once(deliver_job, message_id, job_id=job_id(message_id, attempts))


def deliver_job(message_id: int) -> str:
    """RQ entry point."""
    result = deliver(db.session, message_id, now=utcnow())
    db.session.remove()
    return result


def deliver(session: DbSession, message_id: int, *, now: datetime) -> str:
    """Claim, send, record. Returns what happened; running it twice never sends twice.

    A scheduled message (a reminder) is not sent before its time ("not_due"), and one whose
    booking is no longer confirmed is cancelled instead.
    """
    early_or_obsolete = _not_to_send(session, message_id, now)
    if early_or_obsolete:
        return early_or_obsolete
    claimed = session.execute(
        sa.update(OutboxMessage)
        .where(
            OutboxMessage.id == message_id,
            sa.or_(
                OutboxMessage.status == OutboxStatus.PENDING,
                sa.and_(
                    OutboxMessage.status == OutboxStatus.SENDING,
                    OutboxMessage.next_attempt_at <= now,
                ),
            ),
        )
        .values(
            status=OutboxStatus.SENDING,
            attempts=OutboxMessage.attempts + 1,
            next_attempt_at=now + lease(),
        )
        .execution_options(synchronize_session=False)
    )
    session.commit()
    if claimed.rowcount != 1:  # type: ignore[attr-defined]
        return "skipped"
    message = session.get(OutboxMessage, message_id)
    assert message is not None
    session.refresh(message)
    try:
        transport.send(message)
    except transport.PermanentError as exc:
        log.warning("outbox message %s refused for good: %s", message_id, exc)
        return _record_failure(session, message, str(exc), now, permanent=True)
    except Exception as exc:
        log.warning("delivery of outbox message %s failed: %s", message_id, exc)
        return _record_failure(session, message, str(exc), now)
    message.status = OutboxStatus.SENT
    message.sent_at = now
    message.last_error = None
    session.commit()
    return "sent"


def _not_to_send(session: DbSession, message_id: int, now: datetime) -> str | None:
    """ "not_due" for a scheduled message before its time; "cancelled" (and the row cancelled)
    for a reminder whose booking is no longer confirmed; None when it may go."""
    from peepopay.bookings.models import Booking, Status

    row = session.execute(
        sa.select(OutboxMessage.kind, OutboxMessage.status, OutboxMessage.payload, Booking.status)
        .outerjoin(Booking, Booking.id == OutboxMessage.booking_id)
        .where(OutboxMessage.id == message_id)
    ).first()
    session.commit()  # end the read, so the claim below starts a fresh transaction
    if row is None or row[1] != OutboxStatus.PENDING:
        return None
    kind, _, payload, booking_status = row
    send_at = (payload or {}).get("send_at")
    if send_at and now < datetime.fromisoformat(send_at):
        return "not_due"
    if kind != "reminder" or booking_status in (None, Status.CONFIRMED):
        return None
    session.execute(
        sa.update(OutboxMessage)
        .where(OutboxMessage.id == message_id, OutboxMessage.status == OutboxStatus.PENDING)
        .values(status=OutboxStatus.CANCELLED)
        .execution_options(synchronize_session=False)
    )
    session.commit()
    return "cancelled"


def _record_failure(
    session: DbSession, message: OutboxMessage, error: str, now: datetime, permanent: bool = False
) -> str:
    message.last_error = error[:2000]
    if permanent or message.attempts >= current_app.config["OUTBOX_MAX_ATTEMPTS"]:
        message.status = OutboxStatus.FAILED
        result = "failed"
        try:
            gave_up.send(message, session=session, now=now)
        except Exception:
            log.exception("could not queue the delivery-failure notice for %s", message.id)
    else:
        message.status = OutboxStatus.PENDING
        message.next_attempt_at = now + backoff(message.attempts)
        result = "retry"
    session.commit()
    return result


def due_message_ids(session: DbSession, now: datetime, limit: int = 500) -> list[int]:
    """Messages waiting longer than they should: never enqueued, failed once, or abandoned."""
    return [message_id for message_id, _ in _due_messages(session, now, limit)]


def _due_messages(session: DbSession, now: datetime, limit: int) -> list[tuple[int, int]]:
    """(id, attempts) of the due messages, longest waiting first."""
    rows = session.execute(
        sa.select(OutboxMessage.id, OutboxMessage.attempts)
        .where(
            OutboxMessage.status.in_([OutboxStatus.PENDING, OutboxStatus.SENDING]),
            OutboxMessage.next_attempt_at <= now,
        )
        .order_by(OutboxMessage.next_attempt_at)
        .limit(limit)
    )
    return [(message_id, attempts) for message_id, attempts in rows]


def sweep(session: DbSession, now: datetime) -> int:
    """Give every due message a job unless its job still waits or runs; returns how many new
    jobs went to RQ. While Redis is away it stops at the first refusal: the next sweep retries."""
    count = 0
    for message_id, attempts in _due_messages(session, now, 500):
        outcome = enqueue_message(message_id, attempts)
        if outcome == "unavailable":
            break
        if outcome == "enqueued":
            count += 1
    session.commit()
    return count
