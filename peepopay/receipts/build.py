"""What a receipt says, from the booking's payment records only: each payment (when, what,
how: card brand and last four, wallet, offline), each refund, the total and the balance due;
for a tradie registered for GST/VAT whose prices include it, the tax invoice's elements."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from peepopay import phones
from peepopay.accounts.models import Tradie
from peepopay.bookings.models import Booking, Status
from peepopay.db_setup import DbSession
from peepopay.payments.models import Payment, PaymentKind, PaymentMethod, PaymentStatus
from peepopay.receipts.numbers import invoice_of

# Which tax and which number a tradie's country uses: (tax, name of the tax number).
TAX_NAMES = {
    "NZ": ("GST", "GST number"),
    "AU": ("GST", "ABN"),
    "GB": ("VAT", "VAT number"),
    "IE": ("VAT", "VAT number"),
}
WALLET_NAMES = {"apple_pay": "Apple Pay", "google_pay": "Google Pay", "link": "Link"}
BRAND_NAMES = {"amex": "American Express", "mastercard": "Mastercard", "visa": "Visa"}
REFUND_HOW = "to the original payment method"
# A booking that ended without the job: what was kept is the whole of it, nothing is due.
ENDED = (Status.CANCELLED, Status.NO_SHOW, Status.EXPIRED, Status.PAYMENT_FAILED)


def tax_names(country: str) -> tuple[str, str]:
    return TAX_NAMES.get(country.upper(), ("Tax", "Tax number"))


def tax_included(total_minor: int, rate_bps: int) -> int:
    """The tax inside a tax-inclusive price, rounded half up: price × rate / (1 + rate), so
    3/23 of it for NZ's 15 % GST and 1/11 for Australia's 10 %."""
    if rate_bps <= 0 or total_minor <= 0:
        return 0
    whole = 10_000 + rate_bps
    return (2 * total_minor * rate_bps + whole) // (2 * whole)


def is_tax_invoice(tradie: Tradie) -> bool:
    return bool(tradie.tax_number and tradie.tax_rate_bps > 0 and tradie.prices_include_tax)


@dataclass(frozen=True)
class ReceiptLine:
    when: datetime
    what: str
    how: str
    amount_minor: int  # what came in; a refund is negative


@dataclass(frozen=True)
class Receipt:
    title: str  # "Tax invoice" or "Receipt"
    tax_invoice: bool
    number: int | None
    issued_on: date | None
    supply_date: date
    business_name: str
    business_contact: str
    tax_name: str
    tax_number_label: str
    tax_number: str | None
    tax_rate_bps: int
    customer_name: str
    customer_email: str
    job_address: str
    description: str
    currency: str
    total_minor: int
    tax_minor: int
    lines: list[ReceiptLine]
    paid_minor: int
    refunded_minor: int
    balance_due_minor: int

    @property
    def net_paid_minor(self) -> int:
        return self.paid_minor - self.refunded_minor

    @property
    def tax_rate_text(self) -> str:
        whole, rest = divmod(self.tax_rate_bps, 100)
        return (f"{whole}.{rest:02d}".rstrip("0").rstrip(".") if rest else str(whole)) + " %"


def how_paid(payment: Payment) -> str:
    """ "Visa ending 4242", "Apple Pay (Visa ending 4242)", "Cash", "Bank transfer"."""
    if payment.method is not None:
        return PaymentMethod.LABELS.get(payment.method, payment.method).capitalize()
    card = "Card"
    if payment.card_brand:
        brand = BRAND_NAMES.get(payment.card_brand, payment.card_brand.capitalize())
        card = f"{brand} ending {payment.card_last4}" if payment.card_last4 else brand
    if payment.wallet:
        wallet = WALLET_NAMES.get(payment.wallet, payment.wallet.replace("_", " ").title())
        return f"{wallet} ({card})" if payment.card_brand else wallet
    return card


def _lines(payments: list[Payment]) -> list[ReceiptLine]:
    lines = []
    for payment in payments:
        if payment.status != PaymentStatus.SUCCEEDED and not (
            payment.kind == PaymentKind.REFUND and payment.status in PaymentStatus.REFUND_HOLDING
        ):
            continue
        # When it was made: a later update of the record (a reconcile check) moves nothing.
        when = payment.created_at
        if payment.kind == PaymentKind.REFUND:
            lines.append(ReceiptLine(when, "Refund", REFUND_HOW, -payment.amount_minor))
        else:
            what = "No-show fee" if payment.is_no_show_fee else payment.kind.capitalize()
            lines.append(ReceiptLine(when, what, how_paid(payment), payment.amount_minor))
    return sorted(lines, key=lambda line: line.when)


def _description(booking: Booking) -> str:
    """What was charged for: the service, or for a missed job what was kept instead of it (a
    no-show supplied no service, so the invoice must not say it did)."""
    if booking.status == Status.NO_SHOW:
        return f"No-show fee (booked: {booking.service_name})"
    return booking.service_name


def build_receipt(session: DbSession, booking: Booking) -> Receipt:
    tradie = session.get(Tradie, booking.tradie_id)
    assert tradie is not None
    payments = list(
        session.scalars(
            sa.select(Payment).where(Payment.booking_id == booking.id).order_by(Payment.id)
        )
    )
    lines = _lines(payments)
    paid = sum(line.amount_minor for line in lines if line.amount_minor > 0)
    refunded = -sum(line.amount_minor for line in lines if line.amount_minor < 0)
    net = paid - refunded
    if booking.status in ENDED or (booking.status == Status.COMPLETED and refunded):
        total = net
    else:
        total = max(booking.final_amount_minor or booking.price_minor or net, net)
    tax_invoice = is_tax_invoice(tradie)
    tax_name, number_label = tax_names(tradie.country)
    zone = ZoneInfo(tradie.timezone)
    invoice = invoice_of(session, booking.id)
    phone = phones.display(tradie.phone, tradie.country)
    contact = " · ".join(x for x in (tradie.contact_email or tradie.email, phone) if x)
    return Receipt(
        title="Tax invoice" if tax_invoice else "Receipt",
        tax_invoice=tax_invoice,
        number=invoice.number if invoice else None,
        issued_on=invoice.issued_at.astimezone(zone).date() if invoice else None,
        supply_date=booking.starts_at.astimezone(zone).date(),
        business_name=tradie.business_name,
        business_contact=contact,
        tax_name=tax_name,
        tax_number_label=number_label,
        tax_number=tradie.tax_number if tax_invoice else None,
        tax_rate_bps=tradie.tax_rate_bps if tax_invoice else 0,
        customer_name=booking.customer_name,
        customer_email=booking.customer_email,
        job_address=booking.job_address,
        description=_description(booking),
        currency=booking.currency,
        total_minor=total,
        tax_minor=tax_included(total, tradie.tax_rate_bps) if tax_invoice else 0,
        lines=lines,
        paid_minor=paid,
        refunded_minor=refunded,
        balance_due_minor=max(total - net, 0),
    )
