"""The demo card form (payment element) page and the emulator's own pages."""

from __future__ import annotations

import json
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest

WIDGET_ORIGIN = "https://tradie-site.example"
VISA = {"number": "4242424242424242", "exp": "12/34", "cvc": "123"}


@pytest.fixture
def intent(client, on_account):
    return client.v1.payment_intents.create(
        {"amount": 5000, "currency": "aud", "application_fee_amount": 125}, options=on_account
    )


def element_url(emulator, pi, **extra) -> str:
    query = {"client_secret": pi.client_secret, "parent_origin": WIDGET_ORIGIN, **extra}
    return f"{emulator.url}/hosted/elements/{pi.id}?{urlencode(query)}"


def post_message(page_text: str) -> tuple[dict, str]:
    script = page_text.split("window.parent.postMessage(")[1].split(");</script>")[0]
    message, origin = script.rsplit(", ", 1)
    return json.loads(message), json.loads(origin)


def test_the_card_form_is_frameable_and_sets_no_cookies(emulator, intent, http):
    page = http.get(element_url(emulator, intent))

    assert page.status_code == 200
    assert "4242 4242 4242 4242" in page.text  # test card hints
    assert page.headers["Content-Security-Policy"] == "frame-ancestors *"
    assert "X-Frame-Options" not in page.headers
    assert "Set-Cookie" not in page.headers


def test_paying_posts_a_message_to_the_parent_origin_only(
    client, on_account, emulator, intent, http
):
    url = element_url(emulator, intent, return_url="https://app.example/book/done")
    paid = http.post(url, data=VISA, allow_redirects=False)
    assert paid.status_code == 303
    page = http.get(paid.headers["Location"])

    message, origin = post_message(page.text)
    assert message == {
        "type": "peepopay:stripe-emulator",
        "status": "succeeded",
        "paymentIntent": intent.id,
    }
    assert origin == WIDGET_ORIGIN
    assert "https://app.example/book/done?payment_intent=" in page.text
    assert "redirect_status=succeeded" in page.text
    assert client.v1.payment_intents.retrieve(intent.id, options=on_account).status == "succeeded"


def test_no_post_message_without_a_real_parent_origin(emulator, intent, http):
    url = element_url(emulator, intent, parent_origin="*")
    page = http.get(http.post(url, data=VISA, allow_redirects=False).headers["Location"])
    assert "Payment complete" in page.text
    assert "postMessage" not in page.text


def test_a_decline_shows_the_message_and_the_form_again(emulator, intent, http):
    page = http.post(element_url(emulator, intent), data={**VISA, "number": "4000000000000002"})
    assert "Your card was declined." in page.text
    assert 'name="number"' in page.text


def test_3ds_challenge_runs_in_the_same_frame(client, on_account, emulator, intent, http):
    url = element_url(emulator, intent)
    to_challenge = http.post(
        url, data={**VISA, "number": "4000002500003155"}, allow_redirects=False
    )
    challenge = http.get(to_challenge.headers["Location"], allow_redirects=False)
    assert "Complete authentication" in challenge.text
    assert challenge.headers["Content-Security-Policy"] == "frame-ancestors *"

    challenge_url = challenge.url
    secret = parse_qs(urlsplit(challenge_url).query)["client_secret"][0]
    back = http.post(
        challenge_url.split("?")[0],
        data={"action": "complete", "client_secret": secret},
        allow_redirects=False,
    )
    assert urlsplit(back.headers["Location"]).path == f"/hosted/elements/{intent.id}"
    message, origin = post_message(http.get(back.headers["Location"]).text)
    assert (message["status"], origin) == ("succeeded", WIDGET_ORIGIN)


def test_a_wrong_client_secret_is_not_found(emulator, intent, http):
    assert (
        http.get(f"{emulator.url}/hosted/elements/{intent.id}?client_secret=nope").status_code
        == 404
    )


def test_the_home_page_says_what_this_is(emulator, http):
    page = http.get(emulator.url + "/")
    assert "PeepoPay Stripe emulator — demo payments only" in page.text


def test_embedded_the_card_form_reports_its_height_and_leaves_the_notice_to_the_widget(
    emulator, intent, http
):
    embedded = http.get(element_url(emulator, intent)).text
    assert '"peepopay:stripe-emulator-height"' in embedded  # sized to its content
    assert "Test mode: PeepoPay Stripe emulator" not in embedded  # the widget says it once
    assert "Pay $50.00</button>" in embedded or "Pay A$50.00</button>" in embedded
    alone = http.get(element_url(emulator, intent, parent_origin="*")).text
    assert "Test mode: PeepoPay Stripe emulator" in alone and "stripe-emulator-height" not in alone
