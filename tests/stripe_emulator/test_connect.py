"""Connected accounts, Account Links, hosted onboarding, login links, deauthorization."""

from __future__ import annotations

import pytest
import stripe

CONTROLLER = {
    "stripe_dashboard": {"type": "full"},
    "fees": {"payer": "account"},
    "losses": {"payments": "stripe"},
    "requirement_collection": "stripe",
}
REFRESH_URL = "https://app.example/connect/refresh"
RETURN_URL = "https://app.example/connect/return"


@pytest.fixture
def new_account(client):
    return client.v1.accounts.create(
        {
            "controller": CONTROLLER,
            "email": "sparky@example.com",
            "country": "AU",
            "business_profile": {"name": "Sparky Electrical", "url": "https://sparky.example"},
            "metadata": {"tradie_id": "7"},
        }
    )


def onboarding_link(client, account_id: str):
    return client.v1.account_links.create(
        {
            "account": account_id,
            "refresh_url": REFRESH_URL,
            "return_url": RETURN_URL,
            "type": "account_onboarding",
            "collection_options": {"fields": "eventually_due"},
        }
    )


def test_a_new_account_cannot_take_payments_yet(new_account):
    assert new_account.id.startswith("acct_") and new_account.object == "account"
    assert new_account.controller.stripe_dashboard.type == "full"
    assert new_account.controller.fees.payer == "account"
    assert new_account.type == "standard" and new_account.default_currency == "aud"
    assert (new_account.charges_enabled, new_account.payouts_enabled) == (False, False)
    assert new_account.details_submitted is False
    assert new_account.requirements.currently_due
    assert new_account.business_profile.name == "Sparky Electrical"


def test_accounts_can_be_retrieved_updated_listed_and_deleted(client, new_account):
    updated = client.v1.accounts.update(new_account.id, {"email": "new@example.com"})
    assert client.v1.accounts.retrieve(new_account.id).email == updated.email == "new@example.com"
    assert [a.id for a in client.v1.accounts.list().data] == [new_account.id]

    deleted = client.v1.accounts.delete(new_account.id)
    assert deleted.deleted is True
    with pytest.raises(stripe.PermissionError):
        client.v1.accounts.retrieve(new_account.id)


def test_completing_hosted_onboarding_enables_the_account_and_returns(
    client, new_account, http, emulator, webhook_receiver
):
    link = onboarding_link(client, new_account.id)
    assert link.expires_at - link.created == 300
    assert link.url.startswith(emulator.url + "/hosted/onboarding/")
    page = http.get(link.url)
    assert page.status_code == 200 and "Complete onboarding (test)" in page.text

    done = http.post(link.url, allow_redirects=False)

    assert (done.status_code, done.headers["Location"]) == (303, RETURN_URL)
    account = client.v1.accounts.retrieve(new_account.id)
    assert (account.charges_enabled, account.payouts_enabled, account.details_submitted) == (
        True,
        True,
        True,
    )
    emulator.control("flush")
    [event] = webhook_receiver.events("/connect", "account.updated")
    assert event.account == new_account.id and event.data.object.charges_enabled is True
    assert event.data.previous_attributes.charges_enabled is False
    assert webhook_receiver.events("/platform", "account.updated") == []


def test_used_or_expired_links_send_the_user_to_refresh_url(client, new_account, http, emulator):
    used = onboarding_link(client, new_account.id)
    http.post(used.url, allow_redirects=False)
    assert http.get(used.url, allow_redirects=False).headers["Location"] == REFRESH_URL

    expired = onboarding_link(client, new_account.id)
    emulator.control("clock", {"advance_seconds": 301})
    answer = http.post(expired.url, allow_redirects=False)
    assert (answer.status_code, answer.headers["Location"]) == (303, REFRESH_URL)


def test_login_links_are_for_express_accounts_only(client, new_account):
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.accounts.login_links.create(new_account.id)

    express = client.v1.accounts.create(
        {"controller": {**CONTROLLER, "stripe_dashboard": {"type": "express"}}}
    )
    link = client.v1.accounts.login_links.create(express.id)
    assert link.object == "login_link" and "/hosted/dashboard/" in link.url


def test_deauthorization_reaches_the_connect_endpoint_and_revokes_access(
    client, account, emulator, webhook_receiver
):
    emulator.control(f"accounts/{account.id}/deauthorize")
    emulator.control("flush")

    [event] = webhook_receiver.events("/connect", "account.application.deauthorized")
    assert event.account == account.id
    with pytest.raises(stripe.PermissionError):
        client.v1.customers.list(options={"stripe_account": account.id})
