"""Every model, imported in one place for Alembic and the shell."""

from peepopay.accounts.models import RecoveryCode, Tradie
from peepopay.analytics.models import WidgetView
from peepopay.audit import AuditLog
from peepopay.bookings.models import Booking, Status
from peepopay.notifications.models import OutboxMessage, OutboxStatus
from peepopay.payments.models import Payment, PaymentKind, StripeEvent
from peepopay.scheduling.models import AvailabilityRule, BlockedPeriod, DepositType, Service

__all__ = [
    "AuditLog",
    "AvailabilityRule",
    "BlockedPeriod",
    "Booking",
    "DepositType",
    "OutboxMessage",
    "OutboxStatus",
    "Payment",
    "PaymentKind",
    "RecoveryCode",
    "Service",
    "Status",
    "StripeEvent",
    "Tradie",
    "WidgetView",
]
