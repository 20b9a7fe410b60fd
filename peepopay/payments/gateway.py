"""The one module that talks to Stripe: a configured StripeClient, idempotency keys derived
from our own ids, and Stripe's errors mapped to results a person can act on.

Everything else in the product calls these functions and handles `PaymentError`.
"""

from __future__ import annotations

import json
import logging
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlencode, urlsplit

import stripe
from flask import current_app, g, has_app_context

log = logging.getLogger(__name__)

STANDARD_CONTROLLER: Any = {
    "stripe_dashboard": {"type": "full"},
    "fees": {"payer": "account"},
    "losses": {"payments": "stripe"},
    "requirement_collection": "stripe",
}
# The Stripe API version PeepoPay is written against, sent on every request: a newer SDK or a
# change of the account's default version never changes the shapes we read.
STRIPE_API_VERSION = "2026-10-28.endive"
STRIPE_DASHBOARD_URL = "https://dashboard.stripe.com"
STRIPE_CONNECT_ORIGIN = "https://connect.stripe.com"


class PaymentError(Exception):
    """A Stripe call that did not work, with the HTTP status and message our user sees."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        code: str | None = None,
        decline_code: str | None = None,
        payment_intent_id: str | None = None,
        account_gone: bool = False,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.decline_code = decline_code
        self.payment_intent_id = payment_intent_id
        # Stripe no longer lets us act for the connected account (revoked, deleted, forgotten).
        self.account_gone = account_gone

    @property
    def is_card_error(self) -> bool:
        return self.status == 402


# Error codes meaning the connected account is gone for us: revoked, or never existed.
ACCOUNT_GONE = frozenset({"account_invalid"})

UNAVAILABLE = "Card payments are briefly unavailable. Please try again in a minute."
MISCONFIGURED = "Card payments are not working on our side right now. We have been alerted."


def _error_code(exc: stripe.StripeError) -> str | None:
    # Some error classes leave `code` empty; the error object always carries it.
    error = exc.error
    return exc.code or (error.code if error is not None else None)


def map_error(exc: stripe.StripeError) -> PaymentError:
    """Stripe's exception classes as our results: 402, 429, 503, or 500 logged loudly."""
    code = _error_code(exc)
    error = exc.error
    pi = getattr(error, "payment_intent", None) if error is not None else None
    pi_id = pi.get("id") if isinstance(pi, dict) else getattr(pi, "id", None)
    if isinstance(exc, stripe.CardError):
        return PaymentError(
            402,
            exc.user_message or "Your card was declined.",
            code=code,
            decline_code=getattr(error, "decline_code", None),
            payment_intent_id=pi_id,
        )
    if isinstance(exc, stripe.RateLimitError):
        log.warning("Stripe rate limit: %s", exc)
        return PaymentError(429, "Too many payment attempts right now. Please try again shortly.")
    if isinstance(exc, stripe.APIConnectionError | stripe.APIError):
        log.warning("Stripe unavailable: %s", exc)
        return PaymentError(503, UNAVAILABLE, code=code)
    if code in ACCOUNT_GONE:
        # The tradie revoked our access in Stripe, or the account is gone.
        log.warning("connected account no longer reachable: %s", exc.user_message or exc)
        return PaymentError(500, MISCONFIGURED, code=code, account_gone=True)
    log.error(
        "Stripe refused a request (misconfiguration or a bug): %s %s %s",
        type(exc).__name__,
        code,
        exc.user_message or exc,
    )
    return PaymentError(500, MISCONFIGURED, code=code)


@contextmanager
def mapped_errors(account: str | None = None) -> Iterator[None]:
    """Stripe's errors as PaymentError; a connected account Stripe no longer answers for is
    noted, so its tradie is asked to reconnect whatever the request does with the error."""
    try:
        yield
    except stripe.StripeError as exc:
        error = map_error(exc)
        # A permission error on a request for a connected account is about that account.
        error.account_gone = error.account_gone or (
            account is not None and isinstance(exc, stripe.PermissionError)
        )
        if account and error.account_gone and has_app_context():
            g.setdefault("stripe_accounts_gone", set()).add(account)
        raise error from exc


def accounts_gone() -> set[str]:
    """The connected accounts Stripe refused in this app context (taken once)."""
    gone: set[str] = g.pop("stripe_accounts_gone", set()) if has_app_context() else set()
    return gone


def demo_mode() -> bool:
    """Payments go to the local Stripe emulator (no real money) when an API base is set."""
    return bool(current_app.config.get("STRIPE_API_BASE"))


def client() -> stripe.StripeClient:
    """The app's StripeClient, built once per app from its configuration."""
    existing = current_app.extensions.get("stripe_client")
    if existing is not None:
        return existing
    config = current_app.config
    key = config.get("STRIPE_SECRET_KEY")
    if not key:
        log.error("STRIPE_SECRET_KEY is not set; card payments cannot work")
        raise PaymentError(500, MISCONFIGURED)
    base = config.get("STRIPE_API_BASE")
    options: dict[str, Any] = {"max_network_retries": 2}
    if base:
        options["base_addresses"] = {"api": base, "connect": base, "files": base}
    made = stripe.StripeClient(key, stripe_version=STRIPE_API_VERSION, **options)
    current_app.extensions["stripe_client"] = made
    return made


def _opts(account: str | None = None, key: str | None = None) -> stripe.RequestOptions:
    options: stripe.RequestOptions = {}
    if account:
        options["stripe_account"] = account
    if key:
        options["idempotency_key"] = key[:255]
    return options


def hosted_base() -> str:
    """Where a browser reaches the emulator's hosted pages (demo mode only)."""
    config = current_app.config
    return str(config.get("STRIPE_EMULATOR_PUBLIC_URL") or config["STRIPE_API_BASE"]).rstrip("/")


def onboarding_origin() -> str:
    """Where Account Links send the tradie, for the CSP of the page whose form goes there."""
    return hosted_origin() if demo_mode() else STRIPE_CONNECT_ORIGIN


def hosted_origin() -> str:
    parts = urlsplit(hosted_base())
    return f"{parts.scheme}://{parts.netloc}"


def elements_url(
    pi_id: str, client_secret: str, parent_origin: str, return_url: str | None = None
) -> str:
    """The emulator's demo card form for one PaymentIntent, embedded by the widget; it posts
    a message to `parent_origin` when paid."""
    query = {"client_secret": client_secret, "parent_origin": parent_origin}
    if return_url:
        query["return_url"] = return_url
    return f"{hosted_base()}/hosted/elements/{pi_id}?{urlencode(query)}"


# --- Connect -------------------------------------------------------------------------------


def create_account(
    *, email: str, country: str, business_name: str, tradie_id: int, key: str
) -> Any:
    with mapped_errors():
        return client().v1.accounts.create(
            {
                "controller": STANDARD_CONTROLLER,
                "country": country,
                "email": email,
                "business_profile": {"name": business_name},
                "metadata": {"tradie_id": str(tradie_id)},
            },
            options=_opts(key=key),
        )


def retrieve_account(account_id: str) -> Any:
    with mapped_errors(account_id):
        return client().v1.accounts.retrieve(account_id)


def create_account_link(account_id: str, *, refresh_url: str, return_url: str) -> str:
    with mapped_errors(account_id):
        link = client().v1.account_links.create(
            {
                "account": account_id,
                "refresh_url": refresh_url,
                "return_url": return_url,
                "type": "account_onboarding",
            }
        )
    return str(link.url)


def demo_onboard(account_id: str) -> None:
    """Demo mode only: finish the connected account's onboarding in the Stripe emulator, as a
    tradie clicking through Stripe's hosted onboarding would."""
    if not demo_mode():
        raise RuntimeError("demo_onboard talks to the Stripe emulator only")
    base = current_app.config["STRIPE_API_BASE"].rstrip("/")
    url = f"{base}/_emulator/accounts/{account_id}/onboard"
    request = urllib.request.Request(  # noqa: S310  (our own emulator, http by design)
        url, data=json.dumps({}).encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=10) as reply:  # noqa: S310
        reply.read()


# --- Customers and PaymentIntents ----------------------------------------------------------


def create_customer(
    account: str, *, email: str, name: str, phone: str, key: str, metadata: dict[str, str]
) -> Any:
    with mapped_errors(account):
        return client().v1.customers.create(
            {"email": email, "name": name, "phone": phone, "metadata": metadata},
            options=_opts(account, key),
        )


def create_payment_intent(account: str, params: Any, key: str) -> Any:
    with mapped_errors(account):
        return client().v1.payment_intents.create(params, options=_opts(account, key))


def retrieve_payment_intent(account: str, pi_id: str) -> Any:
    with mapped_errors(account):
        return client().v1.payment_intents.retrieve(pi_id, options=_opts(account))


def create_checkout_session(account: str, params: Any, key: str) -> Any:
    with mapped_errors(account):
        return client().v1.checkout.sessions.create(params, options=_opts(account, key))


def retrieve_checkout_session(account: str, session_id: str) -> Any:
    with mapped_errors(account):
        return client().v1.checkout.sessions.retrieve(session_id, options=_opts(account))


# --- Refunds -------------------------------------------------------------------------------


def create_refund(
    account: str,
    *,
    payment_intent: str,
    amount_minor: int,
    key: str,
    metadata: dict[str, str],
) -> Any:
    with mapped_errors(account):
        return client().v1.refunds.create(
            {
                "payment_intent": payment_intent,
                "amount": amount_minor,
                "refund_application_fee": True,
                "reason": "requested_by_customer",
                "metadata": metadata,
            },
            options=_opts(account, key),
        )


def application_fee_refunded(account: str, charge_id: str) -> int:
    """How much of the platform fee on a charge has gone back (fees live on the platform)."""
    with mapped_errors(account):
        charge = client().v1.charges.retrieve(charge_id, options=_opts(account))
        fee_id = charge.application_fee
        if not fee_id:
            return 0
        fee_id = fee_id if isinstance(fee_id, str) else fee_id.id
        return int(client().v1.application_fees.retrieve(fee_id).amount_refunded)


def list_refunds(account: str, charge_id: str) -> list[Any]:
    with mapped_errors(account):
        page = client().v1.refunds.list({"charge": charge_id, "limit": 100}, options=_opts(account))
    return list(page.data)


def retrieve_charge(account: str, charge_id: str) -> Any:
    with mapped_errors(account):
        return client().v1.charges.retrieve(charge_id, options=_opts(account))


# --- Payment method domains (wallets inside the widget) ------------------------------------


def find_payment_method_domain(account: str, domain_name: str) -> Any | None:
    with mapped_errors(account):
        page = client().v1.payment_method_domains.list(
            {"domain_name": domain_name, "limit": 1}, options=_opts(account)
        )
    return page.data[0] if page.data else None


def register_payment_method_domain(account: str, domain_name: str, key: str) -> Any:
    """Register (or re-enable) a domain on the connected account; Stripe validates it."""
    with mapped_errors(account):
        existing = find_payment_method_domain(account, domain_name)
        if existing is None:
            return client().v1.payment_method_domains.create(
                {"domain_name": domain_name, "enabled": True}, options=_opts(account, key)
            )
        if not existing.enabled:
            client().v1.payment_method_domains.update(
                existing.id, {"enabled": True}, options=_opts(account)
            )
        return client().v1.payment_method_domains.validate(existing.id, options=_opts(account))


def disable_payment_method_domain(account: str, domain_id: str) -> Any:
    with mapped_errors(account):
        return client().v1.payment_method_domains.update(
            domain_id, {"enabled": False}, options=_opts(account)
        )


# --- Payouts -------------------------------------------------------------------------------


def list_payouts(account: str, limit: int = 20) -> list[Any]:
    with mapped_errors(account):
        page = client().v1.payouts.list({"limit": limit}, options=_opts(account))
    return list(page.data)


def payout_transactions(account: str, payout_id: str) -> list[Any]:
    """The balance transactions a payout paid out (charges, refunds, disputes), with sources."""
    with mapped_errors(account):
        page = client().v1.balance_transactions.list(
            {"payout": payout_id, "limit": 100, "expand": ["data.source"]},
            options=_opts(account),
        )
    return list(page.data)


def dispute_dashboard_url(account_id: str, dispute_id: str) -> str:
    """Where the tradie answers a dispute: the dispute's page in their Stripe dashboard."""
    if demo_mode():
        return f"{hosted_base()}/hosted/dashboard/{account_id}#{dispute_id}"
    return f"{STRIPE_DASHBOARD_URL}/disputes/{dispute_id}"


def dashboard_link(account_id: str) -> str:
    """Where the tradie manages their Stripe account: a login link for an Express account,
    Stripe's own dashboard (which they sign in to) for a Standard one."""
    with mapped_errors(account_id):
        account = client().v1.accounts.retrieve(account_id)
        controller = account.controller
        board = controller.stripe_dashboard if controller else None
        kind = board.type if board else "full"
        if kind == "express":
            return str(client().v1.accounts.login_links.create(account_id).url)
    if demo_mode():
        return f"{hosted_base()}/hosted/dashboard/{account_id}"
    return STRIPE_DASHBOARD_URL
