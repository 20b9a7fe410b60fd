"""Webhook delivery: signatures, endpoint routing, duplicates, shuffling, retries, resend."""

from __future__ import annotations

import stripe


def pay(client, on_account, key: str | None = None):
    options = {**on_account, "idempotency_key": key} if key else on_account
    return client.v1.payment_intents.create(
        {
            "amount": 5000,
            "currency": "aud",
            "payment_method": "pm_card_visa",
            "confirm": True,
            "return_url": "https://example.com/return",
        },
        options=options,
    )


def test_deliveries_are_signed_json_that_the_sdk_verifies(
    client, on_account, emulator, webhook_receiver
):
    pi = pay(client, on_account)
    emulator.control("flush")

    delivery = next(d for d in webhook_receiver.deliveries if d.path == "/connect")
    assert delivery.headers["Content-Type"].startswith("application/json")
    event = stripe.Webhook.construct_event(
        delivery.body, delivery.headers["Stripe-Signature"], webhook_receiver.secrets["/connect"]
    )
    assert event.account == on_account["stripe_account"]
    assert all(d.event is not None for d in webhook_receiver.deliveries)
    succeeded = webhook_receiver.events("/connect", "payment_intent.succeeded")
    assert [e.data.object.id for e in succeeded] == [pi.id]
    # Direct-charge events never reach the platform endpoint.
    assert "payment_intent.succeeded" not in webhook_receiver.types("/platform")


def test_a_wrong_secret_does_not_verify(client, on_account, emulator, webhook_receiver):
    pay(client, on_account)
    emulator.control("flush")
    delivery = webhook_receiver.deliveries[0]
    try:
        stripe.Webhook.construct_event(
            delivery.body, delivery.headers["Stripe-Signature"], "whsec_wrong"
        )
    except stripe.SignatureVerificationError:
        return
    raise AssertionError("a signature made with another secret verified")


def test_each_event_can_be_delivered_five_times(client, on_account, emulator, webhook_receiver):
    emulator.control("config", {"deliver_times": 5})
    pi = pay(client, on_account)
    emulator.control("flush")

    copies = [
        e
        for e in webhook_receiver.events("/connect", "payment_intent.succeeded")
        if e.data.object.id == pi.id
    ]
    assert len(copies) == 5 and len({e.id for e in copies}) == 1


def test_held_events_are_released_in_shuffled_order(client, on_account, emulator, webhook_receiver):
    emulator.control("config", {"hold_events": True, "shuffle": True})
    for _ in range(4):
        pay(client, on_account)
    emulator.control("flush")
    assert webhook_receiver.deliveries == []

    report = emulator.control("events", method="GET")["data"]
    held = [e["id"] for e in report if e["deliveries"] and e["deliveries"][0]["state"] == "held"]
    released = emulator.control("release")["released"]
    emulator.control("flush")

    delivered = [e.id for e in webhook_receiver.events("/connect")]
    assert released == len(held) == len(delivered) == 12
    assert sorted(delivered) == sorted(held)
    assert delivered != held  # 1 in 12! that a shuffle keeps the order


def test_a_failed_delivery_is_retried_with_back_off(client, emulator, webhook_receiver):
    webhook_receiver.failures.extend([500, 503])
    client.v1.customers.create({"email": "a@example.com"})
    emulator.control("flush")

    [event] = emulator.control("events", method="GET")["data"]
    [delivery] = event["deliveries"]
    assert [a["http_status"] for a in delivery["attempts"]] == [500, 503, 200]
    assert delivery["state"] == "succeeded"
    first, second, third = (a["at"] for a in delivery["attempts"])
    assert second - first >= 0.05 and third - second >= 0.1  # back-off doubles from 0.05 s
    assert [e.id for e in webhook_receiver.events("/platform")] == [event["id"]] * 3
    assert client.v1.events.retrieve(event["id"]).pending_webhooks == 0


def test_unreachable_endpoints_give_up_after_max_attempts(emulator, client):
    emulator.control("config", {"max_attempts": 2, "retry_base_seconds": 0.01})
    client.v1.webhook_endpoints.create(
        {"url": "http://127.0.0.1:9/nowhere", "enabled_events": ["customer.created"]}
    )
    client.v1.customers.create({"email": "a@example.com"})
    emulator.control("flush")

    report = emulator.control("events", method="GET")["data"]
    [created] = [e for e in report if e["type"] == "customer.created"]
    nowhere = [d for d in created["deliveries"] if d["url"].endswith("/nowhere")]
    assert nowhere[0]["state"] == "failed" and len(nowhere[0]["attempts"]) == 2
    assert nowhere[0]["attempts"][0]["error"]


def test_endpoints_added_at_run_time_get_their_own_secret(
    client, account, emulator, webhook_receiver
):
    endpoint = client.v1.webhook_endpoints.create(
        {
            "url": webhook_receiver.url + "/runtime",
            "enabled_events": ["customer.created"],
            "connect": True,
        }
    )
    assert endpoint.secret.startswith("whsec_")
    webhook_receiver.secrets["/runtime"] = endpoint.secret
    client.v1.customers.create({"email": "a@example.com"}, options={"stripe_account": account.id})
    client.v1.customers.create({"email": "platform@example.com"})
    emulator.control("flush")

    [event] = webhook_receiver.events("/runtime")
    assert (event.type, event.account) == ("customer.created", account.id)


def test_resend_delivers_an_event_again(client, on_account, emulator, webhook_receiver):
    pi = pay(client, on_account)
    emulator.control("flush")
    [event] = webhook_receiver.events("/connect", "payment_intent.succeeded")

    assert emulator.control(f"events/{event.id}/resend")["resent"] == 1
    emulator.control("flush")

    again = webhook_receiver.events("/connect", "payment_intent.succeeded")
    assert [e.id for e in again] == [event.id, event.id]
    assert again[1].data.object.id == pi.id
