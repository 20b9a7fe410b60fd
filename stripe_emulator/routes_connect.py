"""/v1 routes for the platform: accounts, account and login links, webhook endpoints, events."""

from __future__ import annotations

from typing import Any

import stripe.params as sp
from flask import Response

from . import connect
from .api import bp, call, checked_api_version, emulator, params, respond, respond_list
from .errors import StripeError, invalid_request, missing_param
from .formdata import apply_metadata, get_bool, get_list, get_str
from .store import Record


def _account(account_id: str) -> Record:
    """Stripe answers an unknown connected account with 403, as for a bad Stripe-Account."""
    record = emulator().store.find(account_id)
    if record is None or record.obj["object"] != "account":
        raise StripeError(
            403,
            "invalid_request_error",
            f"The provided key does not have access to account '{account_id}' (or that account "
            "does not exist). Application access may have been revoked.",
            code="account_invalid",
        )
    return record


def _platform_only() -> None:
    if call().ctx.account is not None:
        raise invalid_request("This request cannot be made on behalf of a connected account.")


@bp.post("/accounts")
def create_account() -> tuple[Response, int]:
    _platform_only()
    record = connect.create_account(emulator(), params(sp.AccountCreateParams))
    return respond(record.obj)


@bp.get("/accounts")
def list_accounts() -> Response:
    _platform_only()
    params(sp.AccountListParams)
    return respond_list(emulator().store.objects("account", None))


@bp.get("/accounts/<account_id>")
def retrieve_account(account_id: str) -> tuple[Response, int]:
    return respond(_account(account_id).obj)


@bp.post("/accounts/<account_id>")
def update_account(account_id: str) -> tuple[Response, int]:
    record = _account(account_id)
    connect.update_account(emulator(), call().ctx, record, params(sp.AccountUpdateParams))
    return respond(record.obj)


@bp.delete("/accounts/<account_id>")
def delete_account(account_id: str) -> tuple[Response, int]:
    _platform_only()
    record = _account(account_id)
    emulator().store.delete(record.id)
    return respond({"id": record.id, "object": "account", "deleted": True})


@bp.post("/accounts/<account_id>/login_links")
def create_login_link(account_id: str) -> tuple[Response, int]:
    params(sp.AccountLoginLinkCreateParams)
    return respond(connect.create_login_link(emulator(), _account(account_id)))


@bp.post("/account_links")
def create_account_link() -> tuple[Response, int]:
    _platform_only()
    return respond(connect.create_account_link(emulator(), params(sp.AccountLinkCreateParams)))


@bp.post("/webhook_endpoints")
def create_webhook_endpoint() -> tuple[Response, int]:
    _platform_only()
    given = params(sp.WebhookEndpointCreateParams)
    url = get_str(given, "url", required=True) or ""
    events = get_list(given, "enabled_events")
    if not events:
        raise missing_param("enabled_events")
    record = emulator().add_endpoint(
        url,
        api_version=checked_api_version(get_str(given, "api_version")),
        connect=bool(get_bool(given, "connect")),
        enabled_events=[str(event) for event in events],
        description=get_str(given, "description"),
        metadata=apply_metadata({}, given),
    )
    return respond({**record.obj, "secret": record.extra["secret"]})


@bp.get("/webhook_endpoints")
def list_webhook_endpoints() -> Response:
    params(sp.WebhookEndpointListParams)
    return respond_list(emulator().store.objects("webhook_endpoint", None))


@bp.get("/webhook_endpoints/<endpoint_id>")
def retrieve_webhook_endpoint(endpoint_id: str) -> tuple[Response, int]:
    return respond(emulator().store.get(endpoint_id, None, "webhook_endpoint"))


@bp.post("/webhook_endpoints/<endpoint_id>")
def update_webhook_endpoint(endpoint_id: str) -> tuple[Response, int]:
    endpoint = emulator().store.get(endpoint_id, None, "webhook_endpoint")
    given = params(sp.WebhookEndpointUpdateParams)
    for key in ("url", "description"):
        if key in given:
            endpoint[key] = get_str(given, key)
    events = get_list(given, "enabled_events")
    if events:
        endpoint["enabled_events"] = [str(event) for event in events]
    disabled = get_bool(given, "disabled")
    if disabled is not None:
        endpoint["status"] = "disabled" if disabled else "enabled"
    endpoint["metadata"] = apply_metadata(endpoint["metadata"], given)
    return respond(endpoint)


@bp.delete("/webhook_endpoints/<endpoint_id>")
def delete_webhook_endpoint(endpoint_id: str) -> tuple[Response, int]:
    emu = emulator()
    emu.store.get(endpoint_id, None, "webhook_endpoint")
    emu.store.delete(endpoint_id)
    return respond({"id": endpoint_id, "object": "webhook_endpoint", "deleted": True})


@bp.get("/events")
def list_events() -> Response:
    given = params(sp.EventListParams)
    types = {str(t) for t in get_list(given, "types") or []}
    if get_str(given, "type"):
        types.add(given["type"])
    events = emulator().store.objects(
        "event", call().ctx.account, lambda event: not types or _type_matches(event, types)
    )
    return respond_list([_with_pending(event) for event in events])


@bp.get("/events/<event_id>")
def retrieve_event(event_id: str) -> tuple[Response, int]:
    return respond(_with_pending(emulator().store.get(event_id, call().ctx.account, "event")))


@bp.get("/application_fees/<fee_id>")
def retrieve_application_fee(fee_id: str) -> tuple[Response, int]:
    _platform_only()
    return respond(emulator().store.get(fee_id, None, "application_fee"))


@bp.get("/application_fees")
def list_application_fees() -> Response:
    _platform_only()
    given = params(sp.ApplicationFeeListParams)
    charge = get_str(given, "charge")
    return respond_list(
        emulator().store.objects(
            "application_fee", None, lambda fee: charge is None or fee["charge"] == charge
        )
    )


def _type_matches(event: dict[str, Any], types: set[str]) -> bool:
    # Stripe allows one trailing wildcard, as in `type=charge.*`.
    return any(
        event["type"] == t or (t.endswith(".*") and event["type"].startswith(t[:-1])) for t in types
    )


def _with_pending(event: dict[str, Any]) -> dict[str, Any]:
    return {**event, "pending_webhooks": emulator().dispatcher.pending_endpoints(event["id"])}
