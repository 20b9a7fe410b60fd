"""The customer's own booking page (`/b/<token>`): details, payments, cancel, reschedule, .ics.

No cookies, no session, no CSRF token: the unguessable booking token is the only authority,
so the page works inside a third-party iframe with cookies blocked.
"""

from flask import Blueprint

from peepopay.extensions import csrf

bp = Blueprint("customer", __name__)
csrf.exempt(bp)  # cookieless as a widget surface: see peepopay.security.surface


from peepopay.customer import routes  # noqa: E402,F401
