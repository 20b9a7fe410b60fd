"""Every message about a booking: written to the outbox in the caller's transaction.

Keys are `booking:{id}:{kind}:{channel}[:extra]`, so a repeated webhook or a retried request
adds nothing. Each function honours the tradie's choices (new-booking email/SMS, reminder
hours) and the customer's (an SMS only to a phone number that parses).
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from peepopay import phones
from peepopay.accounts.models import Tradie
from peepopay.bookings.models import Booking, Status
from peepopay.calendars.models import CalendarFeed, FeedKind
from peepopay.db_setup import DbSession
from peepopay.notifications import calendar, links, outbox, sms
from peepopay.notifications.models import CALDAV_CHANNEL, OutboxMessage, OutboxStatus
from peepopay.payments.models import Dispute, Payment
from peepopay.receipts.build import build_receipt
from peepopay.receipts.pdf import receipt_filename, render_pdf

# Kinds whose recipient is the tradie: a failure of one of these is not reported to the tradie
# again (that message could fail the same way, and so on).
TRADIE_KINDS = frozenset(
    {
        "new_booking",
        "cancelled_by_customer",
        "rescheduled_tradie",
        "balance_paid",
        "dispute_opened",
        "delivery_failed",
        "calendar_write",  # the tradie's own calendar: shown on the calendars page instead
        "calendar_failing",
    }
)
REMINDER = "reminder"


# ---------------------------------------------------------------------------- helpers


def _tradie(session: DbSession, booking: Booking) -> Tradie:
    tradie = session.get(Tradie, booking.tradie_id)
    assert tradie is not None
    return tradie


def tradie_email(tradie: Tradie) -> str:
    """Where the tradie's own notifications go: the address they sign in with (confirmed),
    not the public contact address their customers see."""
    return tradie.email


def reply_address(tradie: Tradie) -> str:
    """Where a customer's reply to the tradie's mail should reach them."""
    return tradie.contact_email or tradie.email


def brand(tradie: Tradie) -> dict[str, Any]:
    """The tradie's branding, which every message template shows."""
    return {
        "tradie": tradie,
        "tz": tradie.timezone,
        "brand_name": tradie.business_name,
        "brand_color": tradie.brand_color or "#1d4ed8",
        "logo_url": links.logo_url(tradie),
    }


def context(session: DbSession, tradie: Tradie, booking: Booking, **extra: Any) -> dict[str, Any]:
    """What every booking message template gets: branding, the booking, its links."""
    return {
        **brand(tradie),
        "booking": booking,
        "currency": booking.currency,
        "booking_url": links.booking_url(booking),
        "widget_url": links.widget_url(tradie),
        "dashboard_url": links.dashboard_booking_url(booking),
        "window_hours": tradie.cancellation_window_hours,
        **extra,
    }


@dataclass(frozen=True)
class _Sender:
    """Writes one booking's messages of one moment, all from the same template context."""

    session: DbSession
    booking: Booking
    tradie: Tradie
    ctx: dict[str, Any]
    now: datetime

    def email(
        self,
        kind: str,
        *,
        to: str,
        template: str,
        extra: str = "",
        attachments: list[dict[str, str]] | None = None,
        send_at: datetime | None = None,
    ) -> OutboxMessage | None:
        if not to:
            return None
        for_tradie = kind in TRADIE_KINDS
        return outbox.queue_email(
            self.session,
            kind=kind,
            to=to,
            template=template,
            context={**self.ctx, "for_tradie": for_tradie},
            reply_to=None if for_tradie else reply_address(self.tradie),
            key=_key(self.booking, kind, "email", extra),
            tradie_id=self.booking.tradie_id,
            booking_id=self.booking.id,
            attachments=attachments,
            now=self.now,
            send_at=send_at,
        )

    def sms(
        self,
        kind: str,
        *,
        to: str | None,
        template: str,
        extra: str = "",
        send_at: datetime | None = None,
    ) -> OutboxMessage | None:
        number = phones.e164(to, self.tradie.country)
        if number is None:
            return None
        return outbox.add(
            self.session,
            kind=kind,
            channel="sms",
            recipient=number,
            payload={
                "body": sms.render(template, {**self.ctx, "for_tradie": kind in TRADIE_KINDS})
            },
            key=_key(self.booking, kind, "sms", extra),
            tradie_id=self.booking.tradie_id,
            booking_id=self.booking.id,
            now=self.now,
            send_at=send_at,
        )


def _sender(
    session: DbSession,
    booking: Booking,
    now: datetime,
    tradie: Tradie | None = None,
    **extra: Any,
) -> _Sender:
    tradie = tradie or _tradie(session, booking)
    return _Sender(session, booking, tradie, context(session, tradie, booking, **extra), now)


def _key(booking: Booking, kind: str, channel: str, extra: str = "") -> str:
    return f"booking:{booking.id}:{kind}:{channel}" + (f":{extra}" if extra else "")


def _ics_attachment(session: DbSession, tradie: Tradie, booking: Booking) -> dict[str, str]:
    # A cancellation is one more revision of the same event, so calendars drop it.
    cancelled = booking.status == Status.CANCELLED
    method = "CANCEL" if cancelled else "PUBLISH"
    ics = calendar.booking_calendar(
        tradie,
        booking,
        sequence=calendar.sequence(session, booking) + (1 if cancelled else 0),
        method=method,
        url=links.booking_url(booking),
    )
    return calendar.attachment(ics, method)


def _receipt_attachments(
    session: DbSession, tradie: Tradie, booking: Booking
) -> list[dict[str, str]]:
    """The booking's receipt (a tax invoice for a registered tradie) as a PDF, once money has
    come in; nothing before."""
    receipt = build_receipt(session, booking)
    if receipt.paid_minor <= 0:
        return []
    pdf = render_pdf(receipt, tradie.timezone)
    return [
        {
            "filename": receipt_filename(receipt),
            "content_type": "application/pdf",
            "content_b64": base64.b64encode(pdf).decode("ascii"),
        }
    ]


# ---------------------------------------------------------------------------- customer + tradie


def booking_confirmed(
    session: DbSession, booking: Booking, now: datetime, *, notify_tradie: bool = True
) -> None:
    """Receipt to the customer (email with .ics, SMS), new-booking alert to the tradie (unless
    they made the booking themselves), and the reminder scheduled before the job."""
    send = _sender(session, booking, now)
    tradie = send.tradie
    send.email(
        "confirmed",
        to=booking.customer_email,
        template="booking_confirmed",
        attachments=[
            _ics_attachment(session, tradie, booking),
            *_receipt_attachments(session, tradie, booking),
        ],
    )
    send.sms("confirmed", to=booking.customer_phone, template="booking_confirmed")
    if notify_tradie and tradie.notify_new_booking_email:
        send.email("new_booking", to=tradie_email(tradie), template="new_booking")
    if notify_tradie and tradie.notify_new_booking_sms:
        send.sms("new_booking", to=tradie.phone, template="new_booking")
    schedule_reminder(session, booking, now)


def payment_failed(session: DbSession, booking: Booking, payment: Payment, now: datetime) -> None:
    """The customer's card failed: tell them why and link back to the widget to try again."""
    send = _sender(session, booking, now, payment=payment)
    send.email(
        "payment_failed",
        to=booking.customer_email,
        template="payment_failed",
        extra=str(payment.id),
    )


def booking_cancelled(
    session: DbSession, booking: Booking, by: str, refund_minor: int, now: datetime
) -> None:
    """Tell the customer (and the tradie when the customer cancelled); drop the reminder."""
    send = _sender(session, booking, now, by=by, refund_minor=refund_minor)
    send.email(
        "cancelled",
        to=booking.customer_email,
        template="booking_cancelled",
        attachments=[_ics_attachment(session, send.tradie, booking)],
    )
    if by == "customer":
        send.email(
            "cancelled_by_customer",
            to=tradie_email(send.tradie),
            template="cancelled_by_customer",
        )
    cancel_reminder(session, booking)


def refund_processed(session: DbSession, booking: Booking, payment: Payment, now: datetime) -> None:
    send = _sender(session, booking, now, payment=payment)
    send.email(
        "refund_processed",
        to=booking.customer_email,
        template="refund_processed",
        extra=str(payment.id),
    )


def deposit_requested(session: DbSession, booking: Booking, url: str, now: datetime) -> None:
    """The tradie booked the customer in and asks for the deposit: a link to pay it (the
    widget's payment step) by email and SMS, with the deadline the time is held until."""
    send = _sender(session, booking, now, pay_url=url)
    send.email("deposit_requested", to=booking.customer_email, template="deposit_requested")
    send.sms("deposit_requested", to=booking.customer_phone, template="deposit_requested")


def balance_payment_link(
    session: DbSession,
    booking: Booking,
    url: str,
    amount_minor: int,
    now: datetime,
    *,
    what: str = "balance",
) -> None:
    """The saved card could not be charged: send the customer a link to pay the balance (or
    the no-show fee: `what` names it)."""
    send = _sender(session, booking, now, pay_url=url, amount_minor=amount_minor, what=what)
    extra = hashlib.sha256(url.encode()).hexdigest()[:12]
    send.email(
        "balance_link", to=booking.customer_email, template="balance_payment_link", extra=extra
    )
    send.sms(
        "balance_link", to=booking.customer_phone, template="balance_payment_link", extra=extra
    )


def balance_paid(session: DbSession, booking: Booking, payment: Payment, now: datetime) -> None:
    """The balance came in: the tradie hears, and the customer gets the receipt."""
    send = _sender(session, booking, now, payment=payment)
    receipt = _receipt_attachments(session, send.tradie, booking)
    send.email(
        "balance_paid",
        to=tradie_email(send.tradie),
        template="balance_paid",
        extra=str(payment.id),
        attachments=receipt,
    )
    send.email(
        "balance_receipt",
        to=booking.customer_email,
        template="balance_receipt",
        extra=str(payment.id),
        attachments=receipt,
    )


def no_show(session: DbSession, booking: Booking, fee_minor: int, now: datetime) -> None:
    """The customer missed the job: the deposit is kept, and the no-show fee (if any) is
    charged to their saved card. Email and SMS."""
    send = _sender(session, booking, now, fee_minor=fee_minor)
    send.email("no_show", to=booking.customer_email, template="no_show")
    send.sms("no_show", to=booking.customer_phone, template="no_show")
    cancel_reminder(session, booking)


def dispute_opened(
    session: DbSession, booking: Booking, dispute: Dispute, respond_url: str, now: datetime
) -> None:
    """The customer's bank disputes a payment: the tradie hears the amount, the reason, the
    deadline for evidence and where to answer in Stripe (once per dispute)."""
    send = _sender(session, booking, now, dispute=dispute, respond_url=respond_url)
    send.email(
        "dispute_opened",
        to=tradie_email(send.tradie),
        template="dispute_opened",
        extra=dispute.stripe_dispute_id,
    )


def late_deposit_refunded(session: DbSession, booking: Booking, now: datetime) -> None:
    """The deposit arrived after the hold expired and the slot was gone: apologise, full refund."""
    send = _sender(session, booking, now)
    send.email("late_deposit_refunded", to=booking.customer_email, template="late_deposit_refunded")


def booking_rescheduled(
    session: DbSession,
    booking: Booking,
    old_starts_at: datetime,
    now: datetime,
    *,
    by_tradie: bool = False,
) -> None:
    """New time to the customer with an updated .ics (same UID, higher SEQUENCE); reminder moved.
    The tradie hears of the customer's moves, not of their own."""
    seq = str(calendar.sequence(session, booking))
    send = _sender(session, booking, now, old_starts_at=old_starts_at)
    send.email(
        "rescheduled",
        to=booking.customer_email,
        template="booking_rescheduled",
        extra=seq,
        attachments=[_ics_attachment(session, send.tradie, booking)],
    )
    send.sms("rescheduled", to=booking.customer_phone, template="booking_rescheduled", extra=seq)
    if not by_tradie:
        send.email(
            "rescheduled_tradie",
            to=tradie_email(send.tradie),
            template="rescheduled_tradie",
            extra=seq,
        )
    schedule_reminder(session, booking, now)


@outbox.gave_up.connect
def _failed_for_good(message: OutboxMessage, *, session: DbSession, now: datetime) -> None:
    delivery_failed(session, message, now)


def delivery_failed(session: DbSession, message: OutboxMessage, now: datetime) -> None:
    """Tell the tradie that a message to their customer could not be delivered (unless the
    failed message was theirs); the outbox's `gave_up` signal calls it in the same commit."""
    if message.kind in TRADIE_KINDS or message.tradie_id is None:
        return
    tradie = session.get(Tradie, message.tradie_id)
    if tradie is None:
        return
    booking = session.get(Booking, message.booking_id) if message.booking_id else None
    ctx: dict[str, Any] = {
        **brand(tradie),
        "booking": booking,
        "failed": message,
        "dashboard_url": links.dashboard_booking_url(booking) if booking else None,
        "for_tradie": True,
    }
    key_prefix = f"booking:{booking.id}" if booking else f"tradie:{tradie.id}"
    outbox.queue_email(
        session,
        kind="delivery_failed",
        to=tradie_email(tradie),
        template="delivery_failed",
        context=ctx,
        key=f"{key_prefix}:delivery_failed:email:{message.id}",
        tradie_id=tradie.id,
        booking_id=booking.id if booking else None,
        now=now,
    )


# ---------------------------------------------------------------------------- reminders


def reminder_due(tradie: Tradie, booking: Booking) -> datetime | None:
    if tradie.reminder_hours <= 0:
        return None
    return booking.starts_at - timedelta(hours=tradie.reminder_hours)


def schedule_reminder(session: DbSession, booking: Booking, now: datetime) -> list[OutboxMessage]:
    """Write the reminder (email and SMS) as outbox rows due `reminder_hours` before the job.

    The rows wait in the database, holding nothing in Redis, until the sweep finds them due
    and gives each its job. Any earlier reminder of this booking that has not gone yet is
    cancelled first.
    """
    cancel_reminder(session, booking)
    tradie = _tradie(session, booking)
    due = reminder_due(tradie, booking)
    if due is None or due <= now:
        return []  # too close to the job: the confirmation was the reminder
    seq = calendar.sequence(session, booking)
    extra = str(seq) if seq else ""
    send = _sender(session, booking, now, tradie)
    rows = [
        send.email(
            REMINDER, to=booking.customer_email, template="reminder", extra=extra, send_at=due
        ),
        send.sms(
            REMINDER, to=booking.customer_phone, template="reminder", extra=extra, send_at=due
        ),
    ]
    return [row for row in rows if row is not None]


def cancel_reminder(session: DbSession, booking: Booking) -> int:
    """Cancel the booking's reminders that have not been sent; a stale RQ job then skips them."""
    result = session.execute(
        sa.update(OutboxMessage)
        .where(
            OutboxMessage.booking_id == booking.id,
            OutboxMessage.kind == REMINDER,
            OutboxMessage.status == OutboxStatus.PENDING,
        )
        .values(status=OutboxStatus.CANCELLED)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


# --------------------------------------------------------------------------- tradie's calendars


def calendar_job(session: DbSession, booking: Booking, now: datetime, reason: str) -> None:
    """Have the booking's job written to (or removed from) each of the tradie's CalDAV
    calendars, in the caller's transaction (notifications.caldav delivers it). Delivery writes
    the booking as it is then, so updates arriving late or twice leave the calendar right."""
    feed_ids = session.scalars(
        sa.select(CalendarFeed.id).where(
            CalendarFeed.tradie_id == booking.tradie_id, CalendarFeed.kind == FeedKind.CALDAV
        )
    ).all()
    kind, channel = "calendar_write", CALDAV_CHANNEL
    for feed_id in feed_ids:
        outbox.add(
            session,
            kind=kind,
            channel=channel,
            recipient=f"calendar:{feed_id}",
            payload={"feed_id": feed_id, "booking_id": booking.id, "reason": reason},
            key=f"booking:{booking.id}:{kind}:{channel}:{feed_id}:{reason}:{now.isoformat()}",
            tradie_id=booking.tradie_id,
            booking_id=booking.id,
            now=now,
        )
