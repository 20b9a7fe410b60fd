"""Stripe Connect: deposits, balances, refunds, webhooks.

Three blueprints: `payments` (the tradie's pages under /dashboard, login required),
`stripe_webhooks` (/webhooks/stripe, signed by Stripe, no CSRF) and `pay` (/pay, the
customer's balance payment link, authorised by the booking's unguessable token).
"""

from flask import Blueprint
from flask_login import login_required

from peepopay.extensions import csrf

bp = Blueprint("payments", __name__, url_prefix="/dashboard")
webhooks_bp = Blueprint("stripe_webhooks", __name__, url_prefix="/webhooks/stripe")
pay_bp = Blueprint("pay", __name__, url_prefix="/pay")

# Stripe signs its requests; a browser's CSRF token means nothing there.
csrf.exempt(webhooks_bp)


@bp.before_request
@login_required
def require_login() -> None:
    """Every payments page needs a signed-in tradie."""


from peepopay.payments import routes  # noqa: E402,F401
