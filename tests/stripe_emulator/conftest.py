"""Fixtures: one emulator and one webhook receiver for the session, reset before each test."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import requests
import stripe

from stripe_emulator.testing import EmulatorHandle, start_emulator

PLATFORM_SECRET = "whsec_platform_test_secret"
CONNECT_SECRET = "whsec_connect_test_secret"
SECRETS = {"/platform": PLATFORM_SECRET, "/connect": CONNECT_SECRET}


@dataclass
class Delivery:
    path: str
    event: Any  # a verified stripe.Event, or None when the signature did not verify
    body: bytes
    headers: dict[str, str]


@dataclass
class WebhookReceiver:
    """Records every POST, verifying `Stripe-Signature` with the path's secret."""

    url: str
    secrets: dict[str, str] = field(default_factory=lambda: dict(SECRETS))
    deliveries: list[Delivery] = field(default_factory=list)
    # Status codes to answer before answering 200 again, oldest first.
    failures: list[int] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def events(self, path: str | None = None, type_: str | None = None) -> list[Any]:
        with self.lock:
            return [
                d.event
                for d in self.deliveries
                if d.event is not None
                and (path is None or d.path == path)
                and (type_ is None or d.event.type == type_)
            ]

    def types(self, path: str | None = None) -> list[str]:
        return [event.type for event in self.events(path)]

    def clear(self) -> None:
        with self.lock:
            self.deliveries.clear()
            self.failures.clear()
            self.secrets = dict(SECRETS)


def _handler(receiver: WebhookReceiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            try:
                event = stripe.Webhook.construct_event(
                    body, self.headers.get("Stripe-Signature"), receiver.secrets.get(self.path, "")
                )
            except stripe.SignatureVerificationError:
                event = None
            with receiver.lock:
                receiver.deliveries.append(Delivery(self.path, event, body, dict(self.headers)))
                status = receiver.failures.pop(0) if receiver.failures else 200
            self.send_response(status if event is not None else 400)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


@pytest.fixture(scope="session")
def webhook_receiver() -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver(url="")
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(receiver))
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield receiver
    server.shutdown()
    server.server_close()
    thread.join()


@pytest.fixture(scope="session")
def running(webhook_receiver: WebhookReceiver) -> Iterator[EmulatorHandle]:
    handle = start_emulator(
        webhook_url=webhook_receiver.url + "/platform",
        webhook_secret=PLATFORM_SECRET,
        connect_webhook_url=webhook_receiver.url + "/connect",
        connect_webhook_secret=CONNECT_SECRET,
    )
    yield handle
    handle.stop()


DEFAULT_DELIVERY = {
    "deliver_times": 1,
    "shuffle": False,
    "hold_events": False,
    "retry_base_seconds": 0.05,
    "max_attempts": 5,
}


@pytest.fixture
def emulator(running: EmulatorHandle, webhook_receiver: WebhookReceiver) -> EmulatorHandle:
    running.control("flush")
    running.control("reset", {"webhook_endpoints": True})
    running.control("config", DEFAULT_DELIVERY)
    webhook_receiver.clear()
    return running


@pytest.fixture
def client(emulator: EmulatorHandle) -> Iterator[stripe.StripeClient]:
    http_client = stripe.RequestsClient()
    yield emulator.client("sk_test_peepopay", max_network_retries=2, http_client=http_client)
    http_client.close()


@pytest.fixture
def account(
    client: stripe.StripeClient, emulator: EmulatorHandle, webhook_receiver: WebhookReceiver
) -> stripe.Account:
    """A Standard-style connected account, onboarded; its events are delivered and forgotten."""
    created = client.v1.accounts.create(
        {
            "controller": {
                "stripe_dashboard": {"type": "full"},
                "fees": {"payer": "account"},
                "losses": {"payments": "stripe"},
                "requirement_collection": "stripe",
            },
            "email": "tradie@example.com",
            "country": "AU",
        }
    )
    emulator.control(f"accounts/{created.id}/onboard")
    emulator.control("flush")
    webhook_receiver.clear()
    return client.v1.accounts.retrieve(created.id)


@pytest.fixture
def on_account(account: stripe.Account) -> dict[str, str]:
    """Request options for a direct charge on the connected account."""
    return {"stripe_account": account.id}


@pytest.fixture
def http() -> Iterator[requests.Session]:
    """Plain HTTP for hosted pages, as a browser without JavaScript: no redirects followed."""
    with requests.Session() as session:
        yield session
