"""Every model, imported in one place for Alembic and the shell."""

from peepopay.accounts.models import RecoveryCode, Tradie
from peepopay.analytics.models import WidgetView
from peepopay.audit import AuditLog
from peepopay.bookings.models import Booking, BookingAnswer, BookingPhoto, Status
from peepopay.calendars.models import BusyTime, CalendarFeed, FeedKind
from peepopay.customers.models import Customer
from peepopay.notifications.models import OutboxMessage, OutboxStatus
from peepopay.payments.models import (
    Dispute,
    Invoice,
    InvoiceCounter,
    Payment,
    PaymentKind,
    PaymentMethodDomain,
    StripeEvent,
)
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
    "BusyTime",
    "CalendarFeed",
    "Customer",
    "DepositType",
    "Dispute",
    "FeedKind",
    "Invoice",
    "InvoiceCounter",
    "OutboxMessage",
    "OutboxStatus",
    "Payment",
    "PaymentKind",
    "PaymentMethodDomain",
    "QuestionKind",
    "RecoveryCode",
    "Service",
    "ServiceQuestion",
    "Status",
    "StripeEvent",
    "Tradie",
    "WidgetView",
]
