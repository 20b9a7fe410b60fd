"""The customer's own booking page (`/b/<token>`): details, payments, cancel, reschedule, .ics.

No cookies, no session, no CSRF token: the unguessable booking token is the only authority,
so the page works inside a third-party iframe with cookies blocked.
"""

from flask import Blueprint
from flask.blueprints import BlueprintSetupState

from peepopay.extensions import csrf

bp = Blueprint("customer", __name__)
csrf.exempt(bp)


@bp.record_once
def _cookieless(state: BlueprintSetupState) -> None:
    from peepopay.customer import cookieless

    cookieless.install(state.app)


from peepopay.customer import routes  # noqa: E402,F401
