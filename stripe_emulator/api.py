"""The /v1 surface's plumbing: API keys, Stripe-Account scope, idempotency, errors and lists.

Route modules (`routes_connect`, `routes_payments`) add their views to `bp`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import parse_qsl

from flask import Blueprint, Response, current_app, g, jsonify, request

from .errors import StripeError, authentication_error, idempotency_error, unknown_param
from .formdata import get_list, parse_form
from .state import Ctx, Emulator, IdempotentResult
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
    """The request's parameters, refusing top-level names the SDK's typed params do not know."""
    current = call().params
    if schema is not None:
        known = (schema.__required_keys__ | schema.__optional_keys__) - REQUEST_OPTIONS
        for name in current:
            if name not in known and name not in extra:
                raise unknown_param(name)
    return current


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
    api_key = _api_key()
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
    raw = (
        request.get_data(as_text=True)
        if request.method == "POST"
        else request.query_string.decode()
    )
    parsed = parse_form(parse_qsl(raw, keep_blank_values=True))
    expand_paths = [str(path) for path in get_list(parsed, "expand") or []]
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
