"""Cross-cutting API rules: idempotency, Stripe-Account scoping, keys, events and errors."""

from __future__ import annotations

import pytest
import requests
import stripe


def create_deposit(client, on_account, key: str, amount: int = 5000):
    return client.v1.payment_intents.create(
        {"amount": amount, "currency": "aud", "metadata": {"booking": "1"}},
        options={**on_account, "idempotency_key": key},
    )


def test_same_idempotency_key_and_params_replays_the_first_response(client, on_account):
    first = create_deposit(client, on_account, "booking-1-deposit")
    again = create_deposit(client, on_account, "booking-1-deposit")

    assert again.id == first.id
    assert again.last_response.headers.get("Idempotent-Replayed") == "true"
    assert first.last_response.headers.get("Idempotent-Replayed") is None
    assert len(client.v1.payment_intents.list(options=on_account).data) == 1


def test_same_idempotency_key_with_other_params_is_an_idempotency_error(client, on_account):
    create_deposit(client, on_account, "booking-2-deposit")
    with pytest.raises(stripe.IdempotencyError) as caught:
        create_deposit(client, on_account, "booking-2-deposit", amount=9999)
    assert caught.value.http_status == 400


def test_a_card_error_is_replayed_too(client, on_account):
    params = {
        "amount": 5000,
        "currency": "aud",
        "payment_method": "pm_card_chargeDeclined",
        "confirm": True,
        "return_url": "https://example.com/return",
    }
    options = {**on_account, "idempotency_key": "declined-once"}
    errors = []
    for _ in range(2):
        with pytest.raises(stripe.CardError) as caught:
            client.v1.payment_intents.create(params, options=options)
        errors.append(caught.value)
    assert errors[0].error.payment_intent.id == errors[1].error.payment_intent.id
    assert errors[1].headers.get("Idempotent-Replayed") == "true"


def test_idempotency_keys_are_scoped_per_account(client, on_account):
    other = client.v1.accounts.create({"type": "standard"})
    first = create_deposit(client, on_account, "shared-key")
    second = create_deposit(client, {"stripe_account": other.id}, "shared-key")
    assert first.id != second.id


def test_objects_on_one_account_are_invisible_from_another(client, on_account):
    other = {"stripe_account": client.v1.accounts.create({"type": "standard"}).id}
    pi = client.v1.payment_intents.create({"amount": 5000, "currency": "aud"}, options=on_account)
    customer = client.v1.customers.create({"email": "a@example.com"}, options=on_account)

    for options in (other, {}):
        with pytest.raises(stripe.InvalidRequestError) as caught:
            client.v1.payment_intents.retrieve(pi.id, options=options)
        assert (caught.value.http_status, caught.value.code) == (404, "resource_missing")
    assert client.v1.customers.list(options=other).data == []
    assert [c.id for c in client.v1.customers.list(options=on_account).data] == [customer.id]


def test_bad_or_missing_keys_are_authentication_errors(emulator):
    for key in ("sk_live_123456789012345", "nonsense"):
        with pytest.raises(stripe.AuthenticationError):
            emulator.client(key).v1.customers.list()
    answer = requests.get(f"{emulator.url}/v1/customers", timeout=5)
    assert answer.status_code == 401
    assert answer.json()["error"]["type"] == "invalid_request_error"
    as_in_stripe_docs = requests.get(
        f"{emulator.url}/v1/customers", auth=("sk_test_curl", ""), timeout=5
    )
    assert as_in_stripe_docs.status_code == 200


def test_an_unknown_connected_account_is_a_permission_error(client):
    with pytest.raises(stripe.PermissionError):
        client.v1.customers.list(options={"stripe_account": "acct_doesnotexist"})


def test_unknown_urls_answer_in_stripe_shape(emulator):
    answer = requests.get(
        f"{emulator.url}/v1/nothing_here", headers={"Authorization": "Bearer sk_test_x"}, timeout=5
    )
    assert answer.status_code == 404
    assert answer.json()["error"]["message"].startswith(
        "Unrecognized request URL (GET: /v1/nothing_here)"
    )


def test_events_can_be_listed_and_retrieved_per_scope(client, on_account):
    pi = client.v1.payment_intents.create(
        {
            "amount": 5000,
            "currency": "aud",
            "payment_method": "pm_card_visa",
            "confirm": True,
            "return_url": "https://example.com/return",
        },
        options={**on_account, "idempotency_key": "evt-test"},
    )

    listed = client.v1.events.list({"type": "payment_intent.succeeded"}, options=on_account)
    assert len(listed.data) == 1
    event = client.v1.events.retrieve(listed.data[0].id, options=on_account)
    assert event.id.startswith("evt_") and event.object == "event"
    assert event.account == on_account["stripe_account"]
    assert event.data.object.id == pi.id and event.livemode is False
    assert event.request.idempotency_key == "evt-test"
    assert event.api_version == stripe.api_version
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.events.retrieve(event.id)


def test_expand_replaces_ids_with_objects(client, on_account):
    pi = client.v1.payment_intents.create(
        {
            "amount": 5000,
            "currency": "aud",
            "payment_method": "pm_card_visa",
            "confirm": True,
            "return_url": "https://example.com/return",
            "expand": ["latest_charge"],
        },
        options=on_account,
    )
    assert pi.latest_charge.object == "charge"
    assert pi.latest_charge.payment_intent == pi.id


def test_nested_parameters_round_trip(client, on_account):
    pi = client.v1.payment_intents.create(
        {
            "amount": 5000,
            "currency": "aud",
            "allowed_payment_method_types": ["card"],
            "metadata": {"0": "zero", "nested key": "v"},
            "payment_method_options": {"card": {"request_three_d_secure": "any"}},
        },
        options=on_account,
    )
    assert pi.payment_method_types == ["card"]
    assert pi.allowed_payment_method_types == ["card"]
    assert pi.metadata.to_dict() == {"0": "zero", "nested key": "v"}
    assert pi.payment_method_options.card.request_three_d_secure == "any"
