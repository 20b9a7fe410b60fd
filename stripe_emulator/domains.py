"""Payment method domains: where a connected account's wallets (Apple Pay, Google Pay, Link)
may show. Registering one validates it at once; names under `.invalid` fail, as a domain that
does not resolve does at Stripe."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from .errors import invalid_request
from .formdata import get_bool, get_str
from .state import Ctx, Emulator
from .store import Record

DOMAIN_RE = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
WALLETS = ("apple_pay", "google_pay", "link", "paypal", "amazon_pay", "klarna")
# Top-level domains that never resolve, so Stripe's domain check fails for them.
UNREACHABLE = (".invalid",)


def create(emu: Emulator, ctx: Ctx, params: Mapping[str, Any]) -> Record:
    name = (get_str(params, "domain_name", required=True) or "").strip().lower()
    if not DOMAIN_RE.match(name):
        raise invalid_request(
            f"{name!r} is not a valid domain name; pass a domain without a scheme or path.",
            param="domain_name",
        )
    existing = [
        record
        for record in emu.store.records("payment_method_domain", ctx.account)
        if record.obj["domain_name"] == name
    ]
    if existing:
        # Stripe answers a repeated registration with the domain it already has.
        record = existing[0]
        if "enabled" in params:
            record.obj["enabled"] = bool(get_bool(params, "enabled"))
        return record
    domain: dict[str, Any] = {
        "id": emu.store.new_id("pmd"),
        "object": "payment_method_domain",
        "created": emu.store.now(),
        "domain_name": name,
        "enabled": get_bool(params, "enabled") is not False,
        "livemode": False,
    }
    _validate(domain)
    return emu.store.add(domain, ctx.account)


def update(record: Record, params: Mapping[str, Any]) -> None:
    if "enabled" in params:
        record.obj["enabled"] = bool(get_bool(params, "enabled"))


def validate(record: Record) -> None:
    _validate(record.obj)


def active_for(emu: Emulator, account: str | None, host: str) -> bool:
    """Whether wallets may show on `host` for this account (enabled and verified)."""
    found = emu.store.objects(
        "payment_method_domain",
        account,
        lambda obj: obj["domain_name"] == host.lower() and obj["enabled"],
    )
    return any(obj["apple_pay"]["status"] == "active" for obj in found)


def _validate(domain: dict[str, Any]) -> None:
    reachable = not domain["domain_name"].endswith(UNREACHABLE)
    for wallet in WALLETS:
        domain[wallet] = (
            {"status": "active"}
            if reachable
            else {
                "status": "inactive",
                "status_details": {
                    "error_message": f"{domain['domain_name']} did not resolve; check the domain."
                },
            }
        )
