"""Webhook delivery: signed POSTs from one background thread, with retries, copies and holds."""

from __future__ import annotations

import hashlib
import heapq
import hmac
import itertools
import random
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from .httpclient import send


def sign(payload: str, secret: str, timestamp: int) -> str:
    """The `Stripe-Signature` header value for a payload, as `stripe.Webhook` verifies it."""
    mac = hmac.new(secret.encode(), f"{timestamp}.{payload}".encode(), hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


@dataclass(frozen=True)
class Target:
    endpoint_id: str
    url: str
    secret: str


@dataclass(frozen=True)
class Attempt:
    at: float
    http_status: int | None
    error: str | None


@dataclass
class Delivery:
    """One copy of one event on its way to one endpoint."""

    event_id: str
    event_type: str
    target: Target
    payload: str
    copy: int
    state: str = "pending"  # held, pending, delivering, succeeded, failed, discarded
    attempts: list[Attempt] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {
            "endpoint": self.target.endpoint_id,
            "url": self.target.url,
            "copy": self.copy,
            "state": self.state,
            "attempts": [vars(attempt) for attempt in self.attempts],
        }


@dataclass
class DeliverySettings:
    """What `POST /_emulator/config` can change at run time."""

    deliver_times: int = 1
    shuffle: bool = False
    hold_events: bool = False
    retry_base_seconds: float = 1.0
    max_attempts: int = 5
    timeout_seconds: float = 5.0


class Dispatcher:
    """A due-time queue of deliveries worked by one daemon thread, started on first use."""

    def __init__(self, settings: DeliverySettings) -> None:
        self.settings = settings
        self._cond = threading.Condition()
        self._due: list[tuple[float, int, Delivery]] = []
        self._held: list[Delivery] = []
        self._busy = 0
        self._by_event: dict[str, list[Delivery]] = {}
        self._seq = itertools.count()
        self._thread: threading.Thread | None = None
        self._stopping = False
        # Bumped by reset(), so a delivery in flight during a reset is not queued again.
        self._generation = 0

    def submit(
        self,
        event_id: str,
        event_type: str,
        payload: str,
        targets: list[Target],
        *,
        resend: bool = False,
    ) -> None:
        """Queue the event for each target: `deliver_times` copies, held if holding is on.

        A resend is one copy, never held."""
        with self._cond:
            hold = self.settings.hold_events and not resend
            copies = 1 if resend else max(1, self.settings.deliver_times)
            for target in targets:
                for copy in range(copies):
                    delivery = Delivery(event_id, event_type, target, payload, copy)
                    self._by_event.setdefault(event_id, []).append(delivery)
                    if hold:
                        delivery.state = "held"
                        self._held.append(delivery)
                    else:
                        self._schedule(delivery, 0.0)
            self._start()

    def release(self) -> int:
        """Queue every held delivery, in random order when shuffling is on."""
        with self._cond:
            held, self._held = self._held, []
            if self.settings.shuffle:
                random.shuffle(held)
            for delivery in held:
                delivery.state = "pending"
                self._schedule(delivery, 0.0)
            self._start()
            return len(held)

    def flush(self, timeout: float) -> bool:
        """Wait until nothing is queued or in flight (held deliveries excepted)."""
        with self._cond:
            return self._cond.wait_for(lambda: not self._due and not self._busy, timeout)

    def deliveries(self, event_id: str) -> list[Delivery]:
        with self._cond:
            return list(self._by_event.get(event_id, []))

    def pending_endpoints(self, event_id: str) -> int:
        deliveries = self.deliveries(event_id)
        done = {d.target.endpoint_id for d in deliveries if d.state == "succeeded"}
        return len({d.target.endpoint_id for d in deliveries} - done)

    def reset(self) -> None:
        with self._cond:
            self._due, self._held, self._by_event = [], [], {}
            self._generation += 1
            self._cond.notify_all()

    def stop(self) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _schedule(self, delivery: Delivery, delay: float) -> None:
        heapq.heappush(self._due, (time.monotonic() + delay, next(self._seq), delivery))
        self._cond.notify_all()

    def _start(self) -> None:
        if self._thread is None and not self._stopping:
            self._thread = threading.Thread(
                target=self._run, name="stripe-emulator-webhooks", daemon=True
            )
            self._thread.start()

    def _run(self) -> None:
        while True:
            with self._cond:
                delivery = self._take()
                if delivery is None:
                    return
                self._busy += 1
                delivery.state = "delivering"
                settings, generation = self.settings, self._generation
            attempt = self._post(delivery, settings.timeout_seconds)
            with self._cond:
                self._busy -= 1
                delivery.attempts.append(attempt)
                if generation != self._generation:
                    delivery.state = "discarded"
                elif attempt.http_status is not None and 200 <= attempt.http_status < 300:
                    delivery.state = "succeeded"
                elif len(delivery.attempts) < settings.max_attempts:
                    delivery.state = "pending"
                    backoff = settings.retry_base_seconds * 2 ** (len(delivery.attempts) - 1)
                    self._schedule(delivery, backoff)
                else:
                    delivery.state = "failed"
                self._cond.notify_all()

    def _take(self) -> Delivery | None:
        """The next due delivery (a random due one when shuffling); None when stopping."""
        while not self._stopping:
            now = time.monotonic()
            if self._due and self._due[0][0] <= now:
                if not self.settings.shuffle:
                    return heapq.heappop(self._due)[2]
                ready = [i for i, item in enumerate(self._due) if item[0] <= now]
                item = self._due.pop(random.choice(ready))
                heapq.heapify(self._due)
                return item[2]
            self._cond.wait(self._due[0][0] - now if self._due else None)
        return None

    @staticmethod
    def _post(delivery: Delivery, timeout: float) -> Attempt:
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "Stripe-Signature": sign(delivery.payload, delivery.target.secret, int(time.time())),
            "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
        }
        try:
            reply = send("POST", delivery.target.url, delivery.payload.encode(), headers, timeout)
        except OSError as exc:
            return Attempt(time.time(), None, str(exc) or type(exc).__name__)
        return Attempt(time.time(), reply.status, None)
