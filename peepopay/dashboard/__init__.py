"""The tradie's dashboard. Every view needs a signed-in tradie and sees only their rows."""

from typing import cast

from flask import Blueprint, current_app, request, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user

from peepopay.accounts.models import Tradie
from peepopay.extensions import login_manager

bp = Blueprint("dashboard", __name__, url_prefix="/dashboard")

# The navigation, in order. A page names the entry it sits under (`{% set nav_entry = ... %}`
# before its blocks), and the layout marks that entry as the current page.
NAV = [
    ("dashboard.overview", "Overview"),
    ("dashboard.calendar", "Calendar"),
    ("dashboard.bookings", "Bookings"),
    ("dashboard.customers", "Customers"),
    ("dashboard.services", "Services"),
    ("dashboard.availability", "Availability"),
    ("payments.dashboard", "Payments"),
    ("dashboard.analytics", "Analytics"),
    ("dashboard.settings", "Settings"),
]

# Served to anyone: logos are shown on the public booking page too (content-hash names).
PUBLIC_ENDPOINTS = frozenset({"dashboard.logo"})


@bp.app_template_global()
def dashboard_nav() -> list[tuple[str, str, str]]:
    """(endpoint, address, label) of each entry: the addresses are worked out once per
    application and script root, not on every page."""
    made: dict[str, list[tuple[str, str, str]]] = current_app.extensions.setdefault(
        "dashboard_nav", {}
    )
    root = request.script_root
    if root not in made:
        made[root] = [(endpoint, url_for(endpoint), label) for endpoint, label in NAV]
    return made[root]


@bp.before_request
def require_login() -> ResponseReturnValue | None:
    """Every dashboard route except the public logo needs a signed-in tradie."""
    if request.endpoint in PUBLIC_ENDPOINTS or current_user.is_authenticated:
        return None
    return login_manager.unauthorized()


def signed_in() -> Tradie:
    """The signed-in tradie itself, for templates: Flask-Login's `current_user` proxy looks the
    user up again on every attribute read, dozens of times in a page of rows."""
    return cast(Tradie, current_user._get_current_object())


# Importing the modules registers their routes and template filters on `bp`.
import peepopay.dashboard.analytics  # noqa: E402
import peepopay.dashboard.availability  # noqa: E402
import peepopay.dashboard.bookings  # noqa: E402
import peepopay.dashboard.bookings_by_hand  # noqa: E402
import peepopay.dashboard.calendar  # noqa: E402
import peepopay.dashboard.calendars  # noqa: E402
import peepopay.dashboard.common  # noqa: E402
import peepopay.dashboard.customers  # noqa: E402
import peepopay.dashboard.first_run  # noqa: E402
import peepopay.dashboard.google_auth  # noqa: E402  (its routes join auth's blueprint)
import peepopay.dashboard.intake  # noqa: E402
import peepopay.dashboard.overview  # noqa: E402
import peepopay.dashboard.services  # noqa: E402
import peepopay.dashboard.settings  # noqa: E402
import peepopay.dashboard.two_factor  # noqa: E402,F401
