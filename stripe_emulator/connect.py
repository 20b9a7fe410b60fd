"""Connect: connected accounts, onboarding through Account Links, login links, deauthorization."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import url_for

from .errors import invalid_request
from .formdata import apply_metadata, get_bool, get_dict, get_email, get_str
from .state import APPLICATION_ID, Ctx, Emulator
from .store import Record

APPLICATION = {"id": APPLICATION_ID, "object": "application", "name": "PeepoPay"}
# Stripe's account types, as controller properties.
PRESETS: dict[str, dict[str, Any]] = {
    "standard": {
        "fees": {"payer": "account"},
        "losses": {"payments": "stripe"},
        "requirement_collection": "stripe",
        "stripe_dashboard": {"type": "full"},
    },
    "express": {
        "fees": {"payer": "application"},
        "losses": {"payments": "application"},
        "requirement_collection": "stripe",
        "stripe_dashboard": {"type": "express"},
    },
    "custom": {
        "fees": {"payer": "application"},
        "losses": {"payments": "application"},
        "requirement_collection": "application",
        "stripe_dashboard": {"type": "none"},
    },
}
CURRENCIES = {"AU": "aud", "CA": "cad", "GB": "gbp", "NZ": "nzd", "SG": "sgd", "US": "usd"}
EURO_COUNTRIES = {"AT", "BE", "DE", "ES", "FI", "FR", "IE", "IT", "NL", "PT"}
ONBOARDING_DUE = [
    "business_profile.mcc",
    "business_profile.url",
    "business_type",
    "external_account",
    "representative.first_name",
    "representative.last_name",
    "tos_acceptance.date",
    "tos_acceptance.ip",
]
LINK_LIFETIME_SECONDS = 300


def create_account(emu: Emulator, params: Mapping[str, Any]) -> Record:
    legacy = get_str(params, "type", choices=PRESETS)
    if legacy and "controller" in params:
        raise invalid_request("You cannot pass both `type` and `controller`.", param="type")
    controller = _controller(PRESETS[legacy] if legacy else get_dict(params, "controller"))
    country = (get_str(params, "country") or "US").upper()
    requested = [
        name
        for name, value in get_dict(params, "capabilities").items()
        if isinstance(value, dict) and get_bool(value, "requested")
    ]
    account_id = emu.store.new_id("acct", 16)
    profile = _business_profile({}, get_dict(params, "business_profile"))
    account = {
        "id": account_id,
        "object": "account",
        "business_profile": profile,
        "business_type": get_str(params, "business_type"),
        "capabilities": dict.fromkeys(requested or ["card_payments", "transfers"], "inactive"),
        "charges_enabled": False,
        "controller": controller,
        "country": country,
        "created": emu.store.now(),
        "default_currency": get_str(params, "default_currency") or _currency_of(country),
        "details_submitted": False,
        "email": get_email(params, "email"),
        "external_accounts": {
            "object": "list",
            "data": [],
            "has_more": False,
            "total_count": 0,
            "url": f"/v1/accounts/{account_id}/external_accounts",
        },
        "future_requirements": _requirements([]),
        "metadata": apply_metadata({}, params),
        "payouts_enabled": False,
        "requirements": _requirements(ONBOARDING_DUE),
        "settings": {
            "dashboard": {"display_name": profile["name"], "timezone": "Etc/UTC"},
            "payouts": {"schedule": {"delay_days": 2, "interval": "daily"}},
        },
        "tos_acceptance": {"date": None, "ip": None, "user_agent": None},
        "type": next((name for name, p in PRESETS.items() if _matches(controller, p)), "none"),
    }
    return emu.store.add(account, None, deauthorized=False)


def update_account(emu: Emulator, ctx: Ctx, record: Record, params: Mapping[str, Any]) -> None:
    account = record.obj
    before = {key: account[key] for key in ("business_profile", "email", "metadata")}
    if "business_profile" in params:
        account["business_profile"] = _business_profile(
            account["business_profile"], get_dict(params, "business_profile")
        )
    if "email" in params:
        account["email"] = get_email(params, "email")
    for key in ("business_type", "default_currency"):
        if key in params:
            account[key] = get_str(params, key)
    account["metadata"] = apply_metadata(account["metadata"], params)
    previous = {key: value for key, value in before.items() if account[key] != value}
    emu.emit(
        "account.updated", account, account=account["id"], ctx=ctx, previous_attributes=previous
    )


def onboard(emu: Emulator, record: Record, ctx: Ctx | None = None) -> None:
    """What finishing Stripe's hosted onboarding does: the account can take payments."""
    account = record.obj
    changed = ("capabilities", "charges_enabled", "details_submitted", "payouts_enabled")
    previous = {key: account[key] for key in (*changed, "requirements")}
    account.update(charges_enabled=True, details_submitted=True, payouts_enabled=True)
    account["capabilities"] = dict.fromkeys(account["capabilities"], "active")
    account["requirements"] = _requirements([])
    account["tos_acceptance"] = {"date": emu.store.now(), "ip": "127.0.0.1", "user_agent": None}
    emu.emit(
        "account.updated", account, account=account["id"], ctx=ctx, previous_attributes=previous
    )


def deauthorize(emu: Emulator, record: Record) -> None:
    """The account holder disconnects the platform: its Stripe-Account requests now fail."""
    record.extra["deauthorized"] = True
    emu.emit("account.application.deauthorized", APPLICATION, account=record.id)


def create_account_link(emu: Emulator, params: Mapping[str, Any]) -> dict[str, Any]:
    account_id = get_str(params, "account", required=True) or ""
    emu.store.record(account_id, None, "account", param="account")
    get_str(params, "type", required=True, choices=["account_onboarding", "account_update"])
    refresh_url = get_str(params, "refresh_url", required=True)
    return_url = get_str(params, "return_url", required=True)
    link_id = emu.store.new_id("acctlink")
    now = emu.store.now()
    link = {
        "object": "account_link",
        "created": now,
        "expires_at": now + LINK_LIFETIME_SECONDS,
        "url": emu.public_url(url_for("stripe_hosted.onboarding", link_id=link_id)),
    }
    emu.store.add(
        link,
        None,
        obj_id=link_id,
        account_id=account_id,
        refresh_url=refresh_url,
        return_url=return_url,
        used=False,
    )
    return link


def link_is_live(emu: Emulator, link: Record) -> bool:
    """Account Links work once, for five minutes; otherwise Stripe sends the user to refresh_url."""
    return not link.extra["used"] and emu.store.now() < link.obj["expires_at"]


def create_login_link(emu: Emulator, record: Record) -> dict[str, Any]:
    if record.obj["controller"]["stripe_dashboard"]["type"] != "express":
        raise invalid_request(
            "Login links can only be created for accounts that use the Express Dashboard.",
            param="account",
        )
    path = url_for("stripe_hosted.express_dashboard", account_id=record.id)
    return {"object": "login_link", "created": emu.store.now(), "url": emu.public_url(path)}


def _controller(given: Mapping[str, Any]) -> dict[str, Any]:
    base = PRESETS["standard"]

    def pick(group: str, key: str, choices: list[str]) -> str:
        value = get_dict(given, group).get(key) or base[group][key]
        if value not in choices:
            raise invalid_request(
                f"Invalid controller[{group}][{key}]: must be one of {', '.join(choices)}",
                param=f"controller[{group}][{key}]",
            )
        return value

    collection = get_str(
        given,
        "requirement_collection",
        choices=["application", "stripe"],
        label="controller[requirement_collection]",
    )
    return {
        "fees": {"payer": pick("fees", "payer", ["account", "application"])},
        "is_controller": True,
        "losses": {"payments": pick("losses", "payments", ["application", "stripe"])},
        "requirement_collection": collection or base["requirement_collection"],
        "stripe_dashboard": {"type": pick("stripe_dashboard", "type", ["express", "full", "none"])},
        "type": "application",
    }


def _matches(controller: Mapping[str, Any], preset: Mapping[str, Any]) -> bool:
    return all(controller[key] == value for key, value in preset.items())


def _business_profile(current: Mapping[str, Any], given: Mapping[str, Any]) -> dict[str, Any]:
    fields = ("mcc", "name", "product_description", "support_email", "support_phone", "url")
    profile = {key: current.get(key) for key in fields}
    profile.update({key: value for key, value in given.items() if key in fields})
    return profile


def _requirements(due: list[str]) -> dict[str, Any]:
    return {
        "alternatives": [],
        "current_deadline": None,
        "currently_due": list(due),
        "disabled_reason": "requirements.past_due" if due else None,
        "errors": [],
        "eventually_due": list(due),
        "past_due": list(due),
        "pending_verification": [],
    }


def _currency_of(country: str) -> str:
    return "eur" if country in EURO_COUNTRIES else CURRENCIES.get(country, "usd")
