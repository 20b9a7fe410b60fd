"""The tradie's dashboard. Every view needs a signed-in tradie and sees only their rows."""

from flask import Blueprint, current_app
from flask_login import login_required

bp = Blueprint("dashboard", __name__, url_prefix="/dashboard")

# The navigation, in order; entries whose area is not installed yet are left out.
NAV = [
    ("dashboard.overview", "Overview"),
    ("dashboard.bookings", "Bookings"),
    ("dashboard.services", "Services"),
    ("dashboard.availability", "Availability"),
    ("payments.dashboard", "Payments"),
    ("dashboard.analytics", "Analytics"),
    ("dashboard.settings", "Settings"),
]


@bp.app_context_processor
def navigation() -> dict[str, object]:
    def dashboard_nav() -> list[tuple[str, str]]:
        return [
            (endpoint, label) for endpoint, label in NAV if endpoint in current_app.view_functions
        ]

    return {"dashboard_nav": dashboard_nav}


@bp.before_request
@login_required
def require_login() -> None:
    """Every dashboard route needs a signed-in tradie."""


from peepopay.dashboard import routes  # noqa: E402,F401
