"""The emulator's state: configuration, object store, webhook endpoints and event emission."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from flask import request

from . import persist
from .store import API_VERSION, IdempotentResult, Record, Store, random_token, snapshot
from .webhooks import DeliverySettings, Dispatcher, Target

# The version stripe-python sends (and PeepoPay pins); objects and events are rendered in it.
# The platform's Connect application, as charges and events name it.
APPLICATION_ID = "ca_peepopay_emulator"
# What a request may ask for in Stripe-Version: the emulator renders one version's shapes.
SUPPORTED_API_VERSIONS = frozenset({API_VERSION})
# Stripe's processing fee on a card charge, by the connected account's country: basis points
# for a card from that country, for a card from elsewhere, and a fixed part in minor units.
DEFAULT_FEES: dict[str, dict[str, int]] = {
    "AU": {"percent_bps": 170, "international_bps": 350, "fixed": 30},
    "NZ": {"percent_bps": 270, "international_bps": 370, "fixed": 30},
    "GB": {"percent_bps": 150, "international_bps": 325, "fixed": 20},
    "US": {"percent_bps": 290, "international_bps": 440, "fixed": 30},
    "*": {"percent_bps": 290, "international_bps": 440, "fixed": 30},
}


@dataclass
class EmulatorConfig:
    """Start-up options; `public_url` None means "the host the browser used"."""

    public_url: str | None = None
    webhook_url: str | None = None
    webhook_secret: str | None = None
    connect_webhook_url: str | None = None
    connect_webhook_secret: str | None = None
    delivery: DeliverySettings = field(default_factory=DeliverySettings)
    # Country -> fee rule (see DEFAULT_FEES); countries not named use "*".
    fees: dict[str, dict[str, int]] = field(default_factory=lambda: dict(DEFAULT_FEES))
    # Where objects, events and idempotency keys are kept across restarts (None: memory only).
    state_file: str | None = None


@dataclass(frozen=True)
class Ctx:
    """Who is acting: the Stripe-Account scope and the API request behind it, if any."""

    account: str | None = None
    request_id: str | None = None
    idempotency_key: str | None = None


Listener = Callable[["Emulator", dict[str, Any]], None]


class Emulator:
    """Everything one emulator instance remembers; API calls hold `lock` while they run."""

    def __init__(self, config: EmulatorConfig) -> None:
        self.config = config
        self.store = Store()
        self.dispatcher = Dispatcher(config.delivery)
        self._listeners: dict[str, list[Listener]] = {}
        # (api key, Stripe-Account, Idempotency-Key) -> the first response, see api.py.
        self.idempotency: dict[tuple[str, str | None, str], IdempotentResult] = {}
        if config.webhook_url:
            self.add_endpoint(
                config.webhook_url, connect=False, secret=config.webhook_secret, configured=True
            )
        if config.connect_webhook_url:
            self.add_endpoint(
                config.connect_webhook_url,
                connect=True,
                secret=config.connect_webhook_secret,
                configured=True,
            )
        if config.state_file:
            persist.load(self, config.state_file)

    @property
    def lock(self):
        return self.store.lock

    def public_url(self, path: str) -> str:
        """An absolute URL for a hosted page, as a browser reaches the emulator."""
        base = self.config.public_url or request.host_url
        return base.rstrip("/") + path

    def subscribe(self, event_type: str, listener: Listener) -> None:
        """Run `listener` after every event of this type (for reactions such as Checkout's)."""
        self._listeners.setdefault(event_type, []).append(listener)

    def emit(
        self,
        event_type: str,
        obj: dict[str, Any],
        *,
        account: str | None,
        ctx: Ctx | None = None,
        previous_attributes: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Record an event with a snapshot of `obj` and queue it for the matching endpoints."""
        targets = self.targets(event_type, account)
        data: dict[str, Any] = {"object": snapshot(obj)}
        if previous_attributes is not None:
            data["previous_attributes"] = previous_attributes
        event: dict[str, Any] = {
            "id": self.store.new_id("evt"),
            "object": "event",
            "api_version": API_VERSION,
            "created": self.store.now(),
            "data": data,
            "livemode": False,
            "pending_webhooks": len(targets),
            "request": {
                "id": ctx.request_id if ctx else None,
                "idempotency_key": ctx.idempotency_key if ctx else None,
            },
            "type": event_type,
        }
        if account is not None:
            event["account"] = account
        self.store.add(event, account)
        self.dispatcher.submit(event["id"], event_type, json.dumps(event, indent=2), targets)
        for listener in self._listeners.get(event_type, []):
            listener(self, event)
        return event

    def add_endpoint(
        self,
        url: str,
        *,
        connect: bool,
        secret: str | None = None,
        enabled_events: Iterable[str] = ("*",),
        configured: bool = False,
        description: str | None = None,
        metadata: dict[str, str] | None = None,
        api_version: str | None = None,
    ) -> Record:
        """A webhook endpoint; the secret lives in the record and is shown once, at creation."""
        endpoint = {
            "id": self.store.new_id("we"),
            "object": "webhook_endpoint",
            "api_version": api_version or API_VERSION,
            "application": None,
            "connect": connect,
            "created": self.store.now(),
            "description": description,
            "enabled_events": list(enabled_events),
            "livemode": False,
            "metadata": metadata or {},
            "status": "enabled",
            "url": url,
        }
        secret = secret or f"whsec_{random_token(32)}"
        return self.store.add(endpoint, None, secret=secret, configured=configured)

    def resend(self, event: dict[str, Any]) -> int:
        """Deliver a stored event once more to the endpoints that match it now."""
        targets = self.targets(event["type"], event.get("account"))
        payload = json.dumps(event, indent=2)
        self.dispatcher.submit(event["id"], event["type"], payload, targets, resend=True)
        return len(targets)

    def targets(self, event_type: str, account: str | None) -> list[Target]:
        # Events about a connected account (account.application.deauthorized included) go to
        # Connect endpoints, as Stripe sends them.
        connect = account is not None
        targets = []
        for record in self.store.records("webhook_endpoint"):
            endpoint = record.obj
            enabled = endpoint["enabled_events"]
            if (
                endpoint["status"] == "enabled"
                and endpoint["connect"] == connect
                and ("*" in enabled or event_type in enabled)
            ):
                targets.append(Target(endpoint["id"], endpoint["url"], record.extra["secret"]))
        return list(reversed(targets))

    def reset(self, *, drop_endpoints: bool = False) -> None:
        """Forget every object, event and idempotency key; keep webhook endpoints unless asked."""
        with self.lock:
            self.store.clear(
                keep=lambda r: (
                    r.obj.get("object") == "webhook_endpoint"
                    and (r.extra.get("configured") or not drop_endpoints)
                )
            )
            self.idempotency.clear()
            self.dispatcher.reset()

    def save(self) -> None:
        """Write the state file, when there is one (after each request that may change state)."""
        if self.config.state_file:
            with self.lock:
                persist.save(self, self.config.state_file)

    def fee_rule(self, country: str | None) -> dict[str, int]:
        fees = self.config.fees
        return fees.get(country or "", fees.get("*", DEFAULT_FEES["*"]))

    def close(self) -> None:
        self.dispatcher.stop()
        self.save()
