"""The Stripe gateway: one configured client, and Stripe's errors as results people can use."""

from __future__ import annotations

import logging
from typing import Any

import pytest
import stripe
from flask import Flask

from peepopay.payments import gateway
from peepopay.payments.gateway import PaymentError, map_error
from tests.fixtures.stripe import emulator_config
from tests.servers import free_port


def card_error(code: str, message: str, decline_code: str | None = None) -> stripe.CardError:
    body = {"error": {"type": "card_error", "code": code, "message": message}}
    if decline_code:
        body["error"]["decline_code"] = decline_code
    return stripe.CardError(message, None, code, http_status=402, json_body=body)


def test_card_errors_are_402_with_stripes_message() -> None:
    mapped = map_error(
        card_error("card_declined", "Your card has insufficient funds.", "insufficient_funds")
    )
    assert (mapped.status, mapped.message) == (402, "Your card has insufficient funds.")
    assert mapped.code == "card_declined" and mapped.decline_code == "insufficient_funds"
    assert mapped.is_card_error


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (stripe.RateLimitError("slow down", http_status=429), 429),
        (stripe.APIConnectionError("no route"), 503),
        (stripe.APIError("boom", http_status=500), 503),
        (stripe.AuthenticationError("bad key", http_status=401), 500),
        (stripe.PermissionError("no access", http_status=403), 500),
        (stripe.InvalidRequestError("No such thing", "id", http_status=404), 500),
    ],
)
def test_other_errors_map_to_statuses(
    error: stripe.StripeError, status: int, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="peepopay.payments.gateway"):
        mapped = map_error(error)
    assert mapped.status == status and not mapped.is_card_error
    if status == 500:  # misconfiguration: said loudly, not shown to the customer
        assert any(r.levelno == logging.ERROR for r in caplog.records)
        assert "We have been alerted" in mapped.message


@pytest.fixture
def app_config(app_config: dict[str, Any], stripe_emulator: Any) -> dict[str, Any]:
    app_config.update(emulator_config(stripe_emulator))
    return app_config


def test_client_points_at_the_configured_base_with_retries(
    app: Flask, stripe_emulator: Any
) -> None:
    with app.app_context():
        made = gateway.client()
        assert made is gateway.client()  # one per app
        options = made._requestor._options
        assert options.base_addresses["api"] == stripe_emulator.url
        assert options.max_network_retries == 2
        account = gateway.create_account(
            email="a@example.com", country="NZ", business_name="A", tradie_id=1, key="k-1"
        )
        assert account.id.startswith("acct_")
        assert (
            gateway.create_account(
                email="a@example.com", country="NZ", business_name="A", tradie_id=1, key="k-1"
            ).id
            == account.id
        )  # the idempotency key makes a retried request harmless


def test_a_wrong_key_is_a_logged_500(app: Flask, caplog: pytest.LogCaptureFixture) -> None:
    app.config["STRIPE_SECRET_KEY"] = "sk_live_not_for_the_emulator"
    with app.app_context(), pytest.raises(PaymentError) as raised:
        gateway.retrieve_account("acct_x")
    assert raised.value.status == 500
    assert "AuthenticationError" in caplog.text


def test_stripe_unreachable_is_503(app: Flask) -> None:
    app.config["STRIPE_API_BASE"] = f"http://127.0.0.1:{free_port()}"
    with app.app_context(), pytest.raises(PaymentError) as raised:
        gateway.retrieve_account("acct_x")
    assert raised.value.status == 503
