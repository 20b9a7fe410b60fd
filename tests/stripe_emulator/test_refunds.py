"""Refunds, application fee refunds and disputes on a direct charge."""

from __future__ import annotations

import pytest
import stripe


@pytest.fixture
def paid(client, on_account):
    return client.v1.payment_intents.create(
        {
            "amount": 10000,
            "currency": "aud",
            "application_fee_amount": 250,
            "payment_method": "pm_card_visa",
            "confirm": True,
            "return_url": "https://example.com/return",
        },
        options=on_account,
    )


def test_full_refund_defaults_to_the_remaining_amount(client, on_account, paid):
    refund = client.v1.refunds.create(
        {"payment_intent": paid.id, "reason": "requested_by_customer", "metadata": {"b": "1"}},
        options=on_account,
    )

    assert refund.id.startswith("re_") and refund.status == "succeeded"
    assert (refund.amount, refund.charge, refund.payment_intent) == (
        10000,
        paid.latest_charge,
        paid.id,
    )
    charge = client.v1.charges.retrieve(paid.latest_charge, options=on_account)
    assert (charge.amount_refunded, charge.refunded) == (10000, True)
    with pytest.raises(stripe.InvalidRequestError) as again:
        client.v1.refunds.create({"charge": charge.id}, options=on_account)
    assert again.value.code == "charge_already_refunded"


def test_partial_refunds_until_nothing_remains_and_never_more(client, on_account, paid):
    client.v1.refunds.create({"payment_intent": paid.id, "amount": 3000}, options=on_account)

    with pytest.raises(stripe.InvalidRequestError) as too_much:
        client.v1.refunds.create({"payment_intent": paid.id, "amount": 7001}, options=on_account)
    assert too_much.value.param == "amount"
    assert "greater than unrefunded amount on charge ($70.00)" in str(too_much.value)

    rest = client.v1.refunds.create({"payment_intent": paid.id}, options=on_account)
    assert rest.amount == 7000
    listed = client.v1.refunds.list({"payment_intent": paid.id}, options=on_account)
    assert [r.amount for r in listed.data] == [7000, 3000]
    charge = client.v1.charges.retrieve(paid.latest_charge, options=on_account)
    assert (charge.amount_refunded, charge.refunded) == (10000, True)


def test_refund_application_fee_refunds_the_fee_in_proportion(client, on_account, paid):
    client.v1.refunds.create(
        {"payment_intent": paid.id, "amount": 5000, "refund_application_fee": True},
        options=on_account,
    )

    charge = client.v1.charges.retrieve(paid.latest_charge, options=on_account)
    fee = client.v1.application_fees.retrieve(charge.application_fee)
    assert (fee.amount, fee.amount_refunded, fee.account) == (
        250,
        125,
        on_account["stripe_account"],
    )


def test_refund_events_go_to_the_connect_endpoint(
    client, on_account, paid, emulator, webhook_receiver
):
    refund = client.v1.refunds.create({"payment_intent": paid.id}, options=on_account)
    client.v1.refunds.update(refund.id, {"metadata": {"note": "x"}}, options=on_account)
    emulator.control("flush")

    types = webhook_receiver.types("/connect")
    assert {"refund.created", "refund.updated", "charge.refunded"} <= set(types)
    event = webhook_receiver.events("/connect", "refund.created")[0]
    assert event.account == on_account["stripe_account"]
    assert event.data.object.id == refund.id


def test_refunding_an_unpaid_intent_is_refused(client, on_account):
    pi = client.v1.payment_intents.create({"amount": 1000, "currency": "aud"}, options=on_account)
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.refunds.create({"payment_intent": pi.id}, options=on_account)


def test_a_dispute_opened_by_the_control_api_emits_charge_dispute_created(
    client, on_account, paid, emulator, webhook_receiver
):
    dispute = emulator.control(f"charges/{paid.latest_charge}/dispute", {"reason": "fraudulent"})
    emulator.control("flush")

    assert dispute["status"] == "needs_response"
    event = webhook_receiver.events("/connect", "charge.dispute.created")[0]
    assert event.data.object.charge == paid.latest_charge
    assert client.v1.charges.retrieve(paid.latest_charge, options=on_account).disputed is True
    assert client.v1.disputes.retrieve(dispute["id"], options=on_account).amount == 10000
