"""Per-client limits shared by the widget's steps and the public API: requests and holds."""

from flask import current_app

from peepopay.bookings.services import HoldLimits
from peepopay.extensions import limiter

# Looking at free times (calendar, day, API availability) and holding a slot are limited apart:
# browsing is cheap and frequent, booking is rare for a real customer.
DEFAULT_AVAILABILITY_LIMIT = "120 per minute"
DEFAULT_BOOKING_LIMIT = "20 per 10 minutes"


def _availability() -> str:
    return str(current_app.config.get("WIDGET_AVAILABILITY_LIMIT", DEFAULT_AVAILABILITY_LIMIT))


def _booking() -> str:
    return str(current_app.config.get("WIDGET_BOOKING_LIMIT", DEFAULT_BOOKING_LIMIT))


availability_limit = limiter.shared_limit(
    _availability, scope="widget-availability", methods=["GET", "POST"]
)
booking_limit = limiter.shared_limit(_booking, scope="widget-booking", methods=["POST"])


def hold_limits() -> HoldLimits:
    """The unpaid holds a tradie accepts per client address and per day, as configured."""
    return HoldLimits(
        per_client=int(current_app.config["HOLD_LIMIT_PER_CLIENT"]),
        per_day=int(current_app.config["HOLD_LIMIT_PER_DAY"]),
    )
