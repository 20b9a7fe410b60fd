"""The test control API under /_emulator: reset, delivery settings, held events, test actions."""

from __future__ import annotations

import dataclasses
from typing import Any

from flask import Blueprint, Response, jsonify, request

from . import balance, connect, payments, refunds
from .api import emulator
from .errors import StripeError
from .state import Ctx
from .store import Record

bp = Blueprint("stripe_control", __name__, url_prefix="/_emulator")

SETTING_TYPES: dict[str, type | tuple[type, ...]] = {
    "deliver_times": int,
    "shuffle": bool,
    "hold_events": bool,
    "retry_base_seconds": (int, float),
    "max_attempts": int,
    "timeout_seconds": (int, float),
}


@bp.errorhandler(StripeError)
def _stripe_error(error: StripeError) -> tuple[Response, int]:
    return jsonify(error.body()), error.status


@bp.post("/reset")
def reset() -> Response:
    body = _body()
    emulator().reset(drop_endpoints=bool(body.get("webhook_endpoints")))
    return jsonify({"reset": True})


@bp.route("/config", methods=["GET", "POST"])
def config() -> tuple[Response, int]:
    settings = emulator().dispatcher.settings
    for name, value in _body().items():
        expected = SETTING_TYPES.get(name)
        if expected is None or isinstance(value, bool) != (expected is bool):
            return jsonify({"error": f"unknown or invalid setting: {name}"}), 400
        if not isinstance(value, expected):
            return jsonify({"error": f"invalid value for {name}: {value!r}"}), 400
        setattr(settings, name, value)
    return jsonify(dataclasses.asdict(settings)), 200


@bp.post("/release")
def release() -> Response:
    return jsonify({"released": emulator().dispatcher.release()})


@bp.post("/flush")
def flush() -> tuple[Response, int]:
    """Wait until every queued webhook delivery is done; 504 if the timeout passes first."""
    timeout = float(_body().get("timeout", 10))
    done = emulator().dispatcher.flush(timeout)
    return jsonify({"flushed": done}), 200 if done else 504


@bp.get("/events")
def events() -> Response:
    emu = emulator()
    wanted = request.args.get("type")
    with emu.lock:
        records = emu.store.records("event", any_scope=True)
    listed = [
        {
            "id": r.obj["id"],
            "type": r.obj["type"],
            "account": r.obj.get("account"),
            "created": r.obj["created"],
            "object_id": r.obj["data"]["object"].get("id"),
            "deliveries": [d.as_json() for d in emu.dispatcher.deliveries(r.id)],
        }
        for r in reversed(records)
        if wanted is None or r.obj["type"] == wanted
    ]
    return jsonify({"data": listed})


@bp.post("/events/<event_id>/resend")
def resend(event_id: str) -> tuple[Response, int]:
    """Send an event again to the endpoints that match it now (like the Dashboard's resend)."""
    emu = emulator()
    with emu.lock:
        count = emu.resend(_record(event_id, "event").obj)
    return jsonify({"resent": count}), 200


@bp.post("/clock")
def clock() -> Response:
    """Move the emulator's clock forward (link and session expiry, idempotency window)."""
    emu = emulator()
    with emu.lock:
        emu.store.clock_offset += int(_body().get("advance_seconds", 0))
        return jsonify({"now": emu.store.now()})


@bp.get("/objects/<obj_id>")
def inspect(obj_id: str) -> tuple[Response, int]:
    """Any object in any scope, with the account it lives on."""
    emu = emulator()
    with emu.lock:
        record = emu.store.find(obj_id)
        if record is None:
            return jsonify({"error": f"no object {obj_id}"}), 404
        return jsonify({"account": record.account, "object": record.obj}), 200


@bp.post("/accounts/<account_id>/onboard")
def onboard(account_id: str) -> Response:
    emu = emulator()
    with emu.lock:
        record = _record(account_id, "account")
        connect.onboard(emu, record)
        return jsonify(record.obj)


@bp.post("/accounts/<account_id>/deauthorize")
def deauthorize(account_id: str) -> Response:
    emu = emulator()
    with emu.lock:
        record = _record(account_id, "account")
        connect.deauthorize(emu, record)
        return jsonify(record.obj)


@bp.post("/payment_intents/<pi_id>/succeed")
def succeed_payment(pi_id: str) -> Response:
    return _settle(pi_id, success=True)


@bp.post("/payment_intents/<pi_id>/fail")
def fail_payment(pi_id: str) -> Response:
    return _settle(pi_id, success=False)


@bp.post("/charges/<charge_id>/dispute")
def dispute(charge_id: str) -> Response:
    emu = emulator()
    with emu.lock:
        record = _record(charge_id, "charge")
        body = {key: str(value) for key, value in _body().items()}
        return jsonify(refunds.open_dispute(emu, Ctx(account=record.account), record.obj, body))


@bp.post("/disputes/<dispute_id>/close")
def close_dispute(dispute_id: str) -> Response:
    """The bank's decision: {"outcome": "won"} gives the money back, "lost" keeps it."""
    emu = emulator()
    with emu.lock:
        record = _record(dispute_id, "dispute")
        outcome = str(_body().get("outcome") or "won")
        if outcome not in ("won", "lost"):
            raise StripeError(400, "invalid_request_error", "outcome must be won or lost")
        refunds.close_dispute(emu, Ctx(account=record.account), record, outcome)
        return jsonify(record.obj)


@bp.post("/accounts/<account_id>/payouts")
def payout(account_id: str) -> Response:
    """Pay out the account's available balance now (Stripe's daily automatic payout)."""
    emu = emulator()
    with emu.lock:
        record = _record(account_id, "account")
        return jsonify(balance.pay_out(emu, record.id, _body()))


def _settle(pi_id: str, *, success: bool) -> Response:
    emu = emulator()
    with emu.lock:
        record = _record(pi_id, "payment_intent")
        payments.settle_processing(emu, Ctx(account=record.account), record, success)
        return jsonify(record.obj)


def _record(obj_id: str, object_name: str) -> Record:
    record = emulator().store.find(obj_id)
    if record is None or record.obj.get("object") != object_name:
        raise StripeError(
            404,
            "invalid_request_error",
            f"No such {object_name}: '{obj_id}'",
            code="resource_missing",
        )
    return record


def _body() -> dict[str, Any]:
    body = request.get_json(silent=True)
    return body if isinstance(body, dict) else {}
