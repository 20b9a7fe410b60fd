"""What Stripe refuses, the emulator refuses in Stripe's words; and the fields Stripe fills in
(processing fees, availability, application, previous attributes, API version) it fills in."""

from __future__ import annotations

import pytest
import stripe

from stripe_emulator.state import API_VERSION

NO_REDIRECTS = {"enabled": True, "allow_redirects": "never"}


def refused(call, *args, **kwargs) -> stripe.InvalidRequestError:
    with pytest.raises(stripe.InvalidRequestError) as caught:
        call(*args, **kwargs)
    assert caught.value.http_status == 400
    return caught.value


def test_unknown_nested_parameters_are_refused(client, on_account):
    error = refused(
        client.v1.payment_intents.create,
        {
            "amount": 5000,
            "currency": "aud",
            "payment_method_options": {"card": {"request_three_d_secure": "any", "colour": "red"}},
        },
        options=on_account,
    )
    assert error.code == "parameter_unknown"
    assert error.param == "payment_method_options[card][colour]"
    error = refused(
        client.v1.customers.create, {"address": {"line1": "1 Queen St", "suburb": "CBD"}}
    )
    assert error.param == "address[suburb]"
    # Known nested parameters still pass, and metadata keys are free.
    client.v1.customers.create({"address": {"line1": "1 Queen St"}, "metadata": {"any": "x"}})


def test_an_unsupported_currency_is_refused(client, on_account):
    error = refused(
        client.v1.payment_intents.create, {"amount": 5000, "currency": "xyz"}, options=on_account
    )
    assert error.param == "currency" and "Invalid currency: xyz" in str(error.user_message)


def test_an_invalid_email_is_refused(client, on_account):
    error = refused(client.v1.customers.create, {"email": "not-an-email"}, options=on_account)
    assert (error.code, error.param) == ("email_invalid", "email")
    error = refused(
        client.v1.payment_intents.create,
        {"amount": 5000, "currency": "aud", "receipt_email": "a@b@c"},
        options=on_account,
    )
    assert error.param == "receipt_email"


@pytest.mark.parametrize(
    ("metadata", "param"),
    [
        ({f"k{i}": "v" for i in range(51)}, "metadata"),
        ({"k" * 41: "v"}, "metadata[" + "k" * 41 + "]"),
        ({"note": "v" * 501}, "metadata[note]"),
    ],
)
def test_metadata_over_stripes_limits_is_refused(client, metadata, param):
    error = refused(client.v1.customers.create, {"metadata": metadata})
    assert error.param == param
    # At the limits it is fine.
    client.v1.customers.create({"metadata": {"k" * 40: "v" * 500}})


def test_unknown_expand_paths_are_refused(client, on_account):
    customer = client.v1.customers.create({"email": "a@example.com"}, options=on_account)
    pi = client.v1.payment_intents.create(
        {"amount": 5000, "currency": "aud", "customer": customer.id}, options=on_account
    )
    error = refused(
        client.v1.payment_intents.retrieve, pi.id, {"expand": ["colour"]}, options=on_account
    )
    assert "This property cannot be expanded (colour)" in str(error.user_message)
    assert error.param == "expand"
    error = refused(client.v1.payment_intents.list, {"expand": ["customer"]}, options=on_account)
    assert "cannot be expanded (customer)" in str(error.user_message)
    expanded = client.v1.payment_intents.retrieve(
        pi.id, {"expand": ["customer"]}, options=on_account
    )
    assert expanded.customer.email == "a@example.com"
    listed = client.v1.payment_intents.list({"expand": ["data.customer"]}, options=on_account)
    assert listed.data[0].customer.id == customer.id


def test_confirming_a_redirect_capable_payment_needs_a_return_url(client, on_account):
    params = {"amount": 5000, "currency": "aud", "payment_method": "pm_card_visa", "confirm": True}
    error = refused(client.v1.payment_intents.create, params, options=on_account)
    assert error.param == "return_url" and "return_url" in str(error.user_message)
    with_url = client.v1.payment_intents.create(
        {**params, "return_url": "https://example.com/done"}, options=on_account
    )
    assert with_url.status == "succeeded"
    no_redirects = client.v1.payment_intents.create(
        {**params, "automatic_payment_methods": NO_REDIRECTS}, options=on_account
    )
    assert no_redirects.status == "succeeded"
    cards_only = client.v1.payment_intents.create(
        {**params, "payment_method_types": ["card"]}, options=on_account
    )
    assert cards_only.status == "succeeded"


def test_checkout_ui_mode_follows_the_api_version(client, on_account):
    params = {
        "mode": "payment",
        "line_items": [
            {
                "quantity": 1,
                "price_data": {
                    "currency": "aud",
                    "unit_amount": 5000,
                    "product_data": {"name": "Deposit"},
                },
            }
        ],
        "success_url": "https://example.com/done",
    }
    error = refused(
        client.v1.checkout.sessions.create, {**params, "ui_mode": "hosted"}, options=on_account
    )
    assert error.param == "ui_mode"
    session = client.v1.checkout.sessions.create(params, options=on_account)
    assert session.ui_mode == "hosted_page"


def test_the_stripe_version_header_is_checked_and_echoed(client, on_account):
    customer = client.v1.customers.create({}, options=on_account)
    assert customer.last_response.headers["Stripe-Version"] == API_VERSION
    error = refused(
        client.v1.customers.create, {}, options={**on_account, "stripe_version": "1999-01-01"}
    )
    assert "Invalid Stripe API version: 1999-01-01" in str(error.user_message)


def test_a_charge_pays_stripes_processing_fee_and_is_available_later(client, on_account, emulator):
    paid = client.v1.payment_intents.create(
        {
            "amount": 10000,
            "currency": "aud",
            "application_fee_amount": 250,
            "payment_method": "pm_card_au",
            "confirm": True,
            "automatic_payment_methods": NO_REDIRECTS,
        },
        options=on_account,
        # An AU account and an AU card: 1.7 % + 30c, then the platform's 2.50.
    )
    charge = client.v1.charges.retrieve(
        paid.latest_charge, {"expand": ["balance_transaction"]}, options=on_account
    )
    assert charge.application == "ca_peepopay_emulator"
    txn = charge.balance_transaction
    assert txn.fee == 170 + 30 + 250 and txn.net == 10000 - 450
    kinds = {d.type: d.amount for d in txn.fee_details}
    assert kinds == {"stripe_fee": 200, "application_fee": 250}
    assert txn.status == "pending" and txn.available_on >= txn.created + 2 * 86400

    # Nothing to pay out until the funds are available.
    account = on_account["stripe_account"]
    early = emulator.control(f"accounts/{account}/payouts")
    assert early["amount"] == 0
    emulator.control("clock", {"advance_seconds": 2 * 86400 + 1})
    assert client.v1.balance_transactions.retrieve(txn.id, options=on_account).status == "available"
    later = emulator.control(f"accounts/{account}/payouts")
    assert later["amount"] == 9550


def test_an_international_card_pays_the_international_rate(client, on_account):
    paid = client.v1.payment_intents.create(
        {
            "amount": 10000,
            "currency": "aud",
            "payment_method": "pm_card_visa",  # a US card on an AU account
            "confirm": True,
            "automatic_payment_methods": NO_REDIRECTS,
        },
        options=on_account,
    )
    charge = client.v1.charges.retrieve(
        paid.latest_charge, {"expand": ["balance_transaction"]}, options=on_account
    )
    assert charge.balance_transaction.fee == 350 + 30


def test_the_fee_table_is_configurable():
    from stripe_emulator.testing import running_emulator

    with running_emulator(fees={"AU": {"percent_bps": 100, "fixed": 10}}) as emulator:
        client = emulator.client("sk_test_fees")
        account = client.v1.accounts.create({"type": "standard", "country": "AU"})
        emulator.control(f"accounts/{account.id}/onboard")
        paid = client.v1.payment_intents.create(
            {
                "amount": 10000,
                "currency": "aud",
                "payment_method": "pm_card_au",
                "confirm": True,
                "automatic_payment_methods": NO_REDIRECTS,
            },
            options={"stripe_account": account.id},
        )
        charge = client.v1.charges.retrieve(
            paid.latest_charge,
            {"expand": ["balance_transaction"]},
            options={"stripe_account": account.id},
        )
        assert charge.balance_transaction.fee == 110


def test_updated_events_carry_previous_attributes(client, on_account, emulator, webhook_receiver):
    customer = client.v1.customers.create({"name": "Aroha"}, options=on_account)
    client.v1.customers.update(customer.id, {"name": "Aroha Smith"}, options=on_account)
    emulator.control("flush")
    [event] = webhook_receiver.events("/connect", "customer.updated")
    assert event.data.previous_attributes.to_dict() == {"name": "Aroha"}


def test_deauthorization_goes_to_the_connect_endpoint(client, account, emulator, webhook_receiver):
    emulator.control(f"accounts/{account.id}/deauthorize")
    emulator.control("flush")
    [event] = webhook_receiver.events("/connect", "account.application.deauthorized")
    assert event.account == account.id
    assert webhook_receiver.events("/platform", "account.application.deauthorized") == []
