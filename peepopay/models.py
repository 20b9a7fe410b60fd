"""Every model, imported in one place for Alembic and the shell."""

from peepopay.accounts.models import Tradie
from peepopay.analytics.models import WidgetView
from peepopay.audit import AuditLog
from peepopay.bookings.models import Booking, BookingAnswer, BookingPhoto, Status
from peepopay.notifications.models import OutboxMessage, OutboxStatus
from peepopay.payments.models import Payment, PaymentKind, StripeEvent
from peepopay.scheduling.models import (
    ArrivalWindow,
    AvailabilityRule,
    BlockedPeriod,
    DepositType,
    QuestionKind,
    Service,
    ServiceQuestion,
)

__all__ = [
    "ArrivalWindow",
    "AuditLog",
    "AvailabilityRule",
    "BlockedPeriod",
    "Booking",
    "BookingAnswer",
    "BookingPhoto",
    "DepositType",
    "OutboxMessage",
    "OutboxStatus",
    "Payment",
    "PaymentKind",
    "QuestionKind",
    "Service",
    "ServiceQuestion",
    "Status",
    "StripeEvent",
    "Tradie",
    "WidgetView",
]
