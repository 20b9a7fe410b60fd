"""The /v1 surface's plumbing: API keys, Stripe-Account scope, idempotency, errors and lists.

Route modules (`routes_connect`, `routes_payments`) add their views to `bp`.
"""

from __future__ import annotations

import functools
import json
import re
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import parse_qsl

from flask import Blueprint, Response, current_app, g, jsonify, request

from . import balance
from .errors import (
    StripeError,
    authentication_error,
    cannot_expand,
    idempotency_error,
    invalid_request,
    unknown_param,
)
from .expandable import EXPANDABLE
from .formdata import get_list, parse_form
from .state import API_VERSION, SUPPORTED_API_VERSIONS, Ctx, Emulator, IdempotentResult
from .store import expand, paginate, random_token

bp = Blueprint("stripe_api", __name__, url_prefix="/v1")

# stripe-python's typed params mix in these request options; they never reach the server.
REQUEST_OPTIONS = {
    "api_key",
    "content_type",
    "headers",
    "idempotency_key",
    "max_network_retries",
    "stripe_account",
    "stripe_context",
    "stripe_version",
}
IDEMPOTENCY_WINDOW_SECONDS = 24 * 3600
_KEY_PATTERN = re.compile(r"(sk|rk|pk)_test_[A-Za-z0-9_]{1,200}")
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# The collection a /v1 path names, as the type of the objects it answers with.
RESOURCES = {
    "accounts": "account",
    "account_links": "account_link",
    "application_fees": "application_fee",
    "balance_transactions": "balance_transaction",
    "charges": "charge",
    "customers": "customer",
    "disputes": "dispute",
    "events": "event",
    "line_items": "item",
    "login_links": "login_link",
    "payment_intents": "payment_intent",
    "payment_method_domains": "payment_method_domain",
    "payment_methods": "payment_method",
    "payouts": "payout",
    "refunds": "refund",
    "sessions": "checkout.session",
    "webhook_endpoints": "webhook_endpoint",
}
F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class Call:
    """The parsed API request the views work from (kept on `flask.g`)."""

    ctx: Ctx
    api_key: str
    params: dict[str, Any]
    expand: list[str]

    @property
    def publishable(self) -> bool:
        return self.api_key.startswith("pk_")


def emulator() -> Emulator:
    return current_app.extensions["stripe_emulator"]


def publishable_ok(view: F) -> F:
    """Mark a view that Stripe also serves to publishable keys (with a client_secret)."""
    view.publishable_ok = True  # type: ignore[attr-defined]
    return view


def call() -> Call:
    return g.stripe_call


def params(schema: Any = None, *, extra: tuple[str, ...] = ()) -> dict[str, Any]:
    """The request's parameters, refusing names the SDK's typed params do not know, at any
    depth (`payment_method_options[card][colour]`), as Stripe does."""
    current = call().params
    if schema is not None:
        _check_known(schema, current, None, extra)
    return current


def _check_known(
    schema: Any, given: Mapping[str, Any], prefix: str | None, extra: tuple[str, ...] = ()
) -> None:
    known = (schema.__required_keys__ | schema.__optional_keys__) - REQUEST_OPTIONS
    for name, value in given.items():
        label = f"{prefix}[{name}]" if prefix else name
        if name in extra:
            continue
        if name not in known:
            raise unknown_param(label)
        nested = _nested_schema(schema, name)
        if nested is None:
            continue
        if isinstance(value, dict):
            _check_known(nested, value, label)
        elif isinstance(value, list):
            for index, item in enumerate(value):
                if isinstance(item, dict):
                    _check_known(nested, item, f"{label}[{index}]")


@functools.cache
def _nested_schema(schema: Any, name: str) -> Any:
    """The TypedDict a parameter's value must follow, or None for free-form hashes (metadata)
    and plain values. stripe-python annotates with forward references, read here by name."""
    annotation = str(schema.__annotations__.get(name, ""))
    if "Dict[" in annotation:
        return None
    module = sys.modules[schema.__module__]
    for identifier in _IDENTIFIER.findall(annotation):
        found = getattr(module, identifier, None)
        if isinstance(found, type) and hasattr(found, "__optional_keys__"):
            return found
    return None


def respond(obj: dict[str, Any], status: int = 200) -> tuple[Response, int]:
    current = call()
    return jsonify(expand(emulator().store, current.ctx.account, obj, current.expand)), status


def respond_list(items: list[dict[str, Any]]) -> Response:
    current = call()
    page, has_more = paginate(items, current.params)
    paths = [path.removeprefix("data.") for path in current.expand]
    store = emulator().store
    return jsonify(
        {
            "object": "list",
            "data": [expand(store, current.ctx.account, item, paths) for item in page],
            "has_more": has_more,
            "url": request.path,
        }
    )


@bp.before_request
def _begin() -> Response | None:
    g.request_id = f"req_{random_token(14)}"
    g.stripe_version = API_VERSION
    api_key = _api_key()
    g.stripe_version = checked_api_version(request.headers.get("Stripe-Version"))
    view = current_app.view_functions.get(request.endpoint or "")
    if api_key.startswith("pk_") and not getattr(view, "publishable_ok", False):
        raise authentication_error(
            "This API call cannot be made with a publishable API key. Please use a secret API "
            "key. You can find a list of your API keys at https://dashboard.stripe.com/account/apikeys."
        )
    emu = emulator()
    emu.lock.acquire()
    g.stripe_locked = True
    account = request.headers.get("Stripe-Account") or None
    if account is not None:
        _check_account(emu, account, api_key)
    balance.release_due(emu)
    raw = (
        request.get_data(as_text=True)
        if request.method == "POST"
        else request.query_string.decode()
    )
    parsed = parse_form(parse_qsl(raw, keep_blank_values=True))
    expand_paths = [str(path) for path in get_list(parsed, "expand") or []]
    _check_expand(expand_paths)
    key = request.headers.get("Idempotency-Key") if request.method == "POST" else None
    ctx = Ctx(account=account, request_id=g.request_id, idempotency_key=key)
    g.stripe_call = Call(
        ctx, api_key, {k: v for k, v in parsed.items() if k != "expand"}, expand_paths
    )
    if key:
        g.idempotency = (
            (api_key, account, key),
            json.dumps([request.path, parsed], sort_keys=True),
        )
        return _replay(emu, key)
    return None


@bp.after_request
def _finish(response: Response) -> Response:
    response.headers["Request-Id"] = g.get("request_id", "")
    if "stripe_version" in g:
        response.headers["Stripe-Version"] = g.stripe_version
    pending = g.pop("idempotency", None)
    if pending is not None and response.status_code in (200, 402):
        emu = emulator()
        scope, fingerprint = pending
        emu.idempotency[scope] = IdempotentResult(
            fingerprint, response.status_code, response.get_data(), g.request_id, emu.store.now()
        )
    return response


@bp.teardown_request
def _release(exc: BaseException | None) -> None:
    if g.pop("stripe_locked", False):
        emulator().lock.release()


@bp.errorhandler(StripeError)
def _stripe_error(error: StripeError) -> tuple[Response, int]:
    return jsonify(error.body()), error.status


def _api_key() -> str:
    header = request.headers.get("Authorization", "")
    if not header:
        raise authentication_error(
            "You did not provide an API key. You need to provide your API key in the "
            "Authorization header, using Bearer auth (e.g. 'Authorization: Bearer "
            "YOUR_SECRET_KEY'). See https://stripe.com/docs/api#authentication for details."
        )
    scheme, _, key = header.partition(" ")
    if scheme.lower() == "basic":  # `curl -u sk_test_...:`, as in Stripe's docs
        key = (request.authorization.username if request.authorization else None) or ""
    elif scheme.lower() != "bearer":
        key = ""
    if not _KEY_PATTERN.fullmatch(key):
        raise authentication_error(f"Invalid API Key provided: {_redact(key)}")
    return key


def checked_api_version(asked: str | None) -> str:
    """The API version a request asks for (Stripe-Version), which must be one the emulator
    speaks; without the header, the account's default, the version the SDK pins."""
    if asked is None or asked == "":
        return API_VERSION
    if asked not in SUPPORTED_API_VERSIONS:
        raise invalid_request(
            f"Invalid Stripe API version: {asked}. This Stripe emulator speaks "
            + ", ".join(sorted(SUPPORTED_API_VERSIONS))
            + ".",
        )
    return asked


def _check_expand(paths: list[str]) -> None:
    """Refuse, before anything changes, an `expand[]` whose first field the answer's object
    cannot expand (a list's paths start with `data.`); deeper fields are checked as they are
    expanded."""
    parts = request.path.split("/")[2:]
    kinds = [RESOURCES[part] for part in parts if part in RESOURCES]
    if not kinds:
        return
    listing = request.method == "GET" and parts[-1] in RESOURCES
    for path in paths:
        fields = path.split(".")
        if listing:
            if fields[0] != "data":
                raise cannot_expand(fields[0])
            fields = fields[1:]
        if fields and fields[0] not in EXPANDABLE.get(kinds[-1], frozenset()):
            raise cannot_expand(fields[0])


def _redact(key: str) -> str:
    return f"{key[:8]}{'*' * 4}{key[-4:]}" if len(key) > 12 else "****"


def _check_account(emu: Emulator, account: str, api_key: str) -> None:
    record = emu.store.find(account)
    if record is None or record.obj["object"] != "account" or record.extra["deauthorized"]:
        raise StripeError(
            403,
            "invalid_request_error",
            f"The provided key '{_redact(api_key)}' does not have access to account "
            f"'{account}' (or that account does not exist). Application access may have been "
            "revoked.",
            code="account_invalid",
        )


def _replay(emu: Emulator, key: str) -> Response | None:
    scope, fingerprint = g.idempotency
    stored = emu.idempotency.get(scope)
    if stored is None or stored.created + IDEMPOTENCY_WINDOW_SECONDS <= emu.store.now():
        return None
    g.pop("idempotency")
    if stored.fingerprint != fingerprint:
        raise idempotency_error(key)
    response = Response(stored.body, stored.status, mimetype="application/json")
    response.headers["Idempotent-Replayed"] = "true"
    response.headers["Original-Request"] = stored.request_id
    return response


def unrecognized_url(error: Exception) -> tuple[Response, int]:
    """App-level 404/405 for /v1 paths, in Stripe's words."""
    message = (
        f"Unrecognized request URL ({request.method}: {request.path}). Please see "
        "https://stripe.com/docs or we can help at https://support.stripe.com/."
    )
    return jsonify(StripeError(404, "invalid_request_error", message).body()), 404


def internal_error(error: Exception) -> tuple[Response, int]:
    """Flask has logged the exception already; the SDK gets Stripe's api_error shape."""
    body = StripeError(500, "api_error", "An unknown error occurred in the Stripe emulator.")
    return jsonify(body.body()), 500
