"""Pages a browser sees: onboarding, 3-D Secure, the card form, Checkout. Frameable, no cookies."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from flask import Blueprint, Response, abort, redirect, render_template, request, url_for
from werkzeug.wrappers import Response as BaseResponse

from . import checkout, connect, domains, payment_methods, payments
from .api import emulator
from .cards import CARD_HINTS, WALLET_ALIASES, WALLETS
from .errors import StripeError, card_error
from .state import Ctx
from .store import Record

bp = Blueprint("stripe_hosted", __name__)

_ORIGIN = re.compile(r"https?://[^/\s?#]+")
_EXPIRY = re.compile(r"\s*(\d{1,2})\s*/\s*(\d{2}|\d{4})\s*")
POST_MESSAGE_TYPE = "peepopay:stripe-emulator"


@bp.after_request
def _frameable(response: Response) -> Response:
    # Shown inside the booking widget's iframe on any site: framing allowed, nothing cached.
    response.headers["Content-Security-Policy"] = "frame-ancestors *"
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/")
def index() -> str:
    return render_template("index.html", hints=CARD_HINTS)


@bp.route("/hosted/onboarding/<link_id>", methods=["GET", "POST"])
def onboarding(link_id: str) -> str | BaseResponse:
    emu = emulator()
    with emu.lock:
        link = _find(link_id, "account_link")
        if not connect.link_is_live(emu, link):
            return redirect(link.extra["refresh_url"], 303)
        account = emu.store.find(link.extra["account_id"])
        if account is None:
            abort(404)
        if request.method == "GET":
            return render_template("onboarding.html", account=account.obj)
        link.extra["used"] = True
        connect.onboard(emu, account)
        return redirect(link.extra["return_url"], 303)


@bp.get("/hosted/dashboard/<account_id>")
def express_dashboard(account_id: str) -> str:
    with emulator().lock:
        return render_template("dashboard.html", account=_find(account_id, "account").obj)


@bp.route("/hosted/3ds/<pi_id>", methods=["GET", "POST"])
def three_d_secure(pi_id: str) -> str | BaseResponse:
    emu = emulator()
    with emu.lock:
        record = _intent(pi_id, _arg("client_secret"))
        pi = record.obj
        if request.method == "GET" and pi["status"] == "requires_action":
            return render_template(
                "three_d_secure.html", pi=pi, parent_origin=_origin() or _return_origin(record)
            )
        if request.method == "POST":
            success = request.form.get("action") == "complete"
            # A decline after authentication is recorded on the PaymentIntent already.
            with contextlib.suppress(StripeError):
                payments.complete_authentication(emu, Ctx(account=record.account), record, success)
        return_url = record.extra["return_url"]
        if return_url:
            return redirect(_with_query(return_url, _redirect_params(pi)), 303)
        return render_template(
            "message.html",
            title="Authentication finished",
            text=f"Payment status: {pi['status']}.",
            message=_post_message(pi),
            parent_origin=_origin(),
        )


@bp.route("/hosted/elements/<pi_id>", methods=["GET", "POST"])
def elements(pi_id: str) -> str | BaseResponse:
    """The demo card form for one PaymentIntent, embedded by the booking widget."""
    emu = emulator()
    with emu.lock:
        record = _intent(pi_id, _arg("client_secret"))
        pi = record.obj
        error = None
        if request.method == "POST" and pi["status"] in payments.CONFIRMABLE:
            error = _pay(record, _elements_url(pi))
            if error is None and pi["status"] != "requires_action":
                return redirect(_elements_url(pi), 303)
        if pi["status"] == "requires_action":
            return redirect(pi["next_action"]["redirect_to_url"]["url"], 303)
        if request.args.get("redirect_status") == "failed" and pi["last_payment_error"]:
            error = error or pi["last_payment_error"]["message"]
        return_link = _return_link(pi)
        return render_template(
            "elements.html",
            pi=pi,
            error=error,
            hints=CARD_HINTS,
            form=request.form,
            wallets=[(kind, WALLETS[kind]) for kind in _wallets(record)],
            message=_post_message(pi),
            parent_origin=_origin(),
            return_link=return_link,
        )


@bp.route("/hosted/checkout/<session_id>", methods=["GET", "POST"])
def checkout_page(session_id: str) -> str | BaseResponse:
    emu = emulator()
    with emu.lock:
        record = _find(session_id, "checkout.session")
        checkout.refresh(emu, record)
        session = record.obj
        error = None
        if request.method == "POST" and session["status"] == "open":
            email = request.form.get("email") or None
            pi = checkout.payment_intent_for(emu, record, email)
            return_url = emu.public_url(url_for(".checkout_return", session_id=session_id))
            error = _pay(pi, return_url)
            if error is None and pi.obj["status"] == "requires_action":
                return redirect(pi.obj["next_action"]["redirect_to_url"]["url"], 303)
        return _checkout_view(record, error)


@bp.get("/hosted/checkout/<session_id>/return")
def checkout_return(session_id: str) -> str | BaseResponse:
    with emulator().lock:
        record = _find(session_id, "checkout.session")
        error = None
        if record.obj["status"] == "open" and request.args.get("redirect_status") == "failed":
            pi = emulator().store.find(record.obj["payment_intent"] or "")
            last_error = pi.obj["last_payment_error"] if pi else None
            error = last_error["message"] if last_error else None
        return _checkout_view(record, error)


def _checkout_view(record: Record, error: str | None) -> str | BaseResponse:
    session = record.obj
    if session["status"] == "complete":
        if session["success_url"]:
            url = session["success_url"].replace("{CHECKOUT_SESSION_ID}", session["id"])
            return redirect(url, 303)
        return render_template("message.html", title="Payment complete", text="Thank you.")
    pi = emulator().store.find(session["payment_intent"] or "")
    return render_template(
        "checkout.html",
        session=session,
        items=record.extra["line_items"],
        processing=pi is not None and pi.obj["status"] == "processing",
        error=error,
        hints=CARD_HINTS,
        form=request.form,
    )


def _pay(record: Record, return_url: str) -> str | None:
    """Confirm with the card typed into the form; Stripe's message when it fails."""
    emu = emulator()
    ctx = Ctx(account=record.account)
    try:
        wallet = request.form.get("wallet", "")
        if wallet:
            pm = payment_methods.resolve(emu, record.account, _wallet_method(record, wallet))
        else:
            pm = payment_methods.from_data(emu, record.account, _card_data(request.form), label="")
        payments.confirm_intent(
            emu, ctx, record, {"payment_method": pm.id, "return_url": return_url}
        )
    except StripeError as exc:
        return exc.message
    return None


def _wallet_method(record: Record, wallet: str) -> str:
    if wallet not in _wallets(record):
        raise card_error("This wallet is not available here.", "payment_method_unavailable")
    return next(alias for alias, (_n, kind) in WALLET_ALIASES.items() if kind == wallet)


def _wallets(record: Record) -> list[str]:
    """Wallets the Payment Element shows: automatic payment methods with cards on, and the
    embedding page's domain registered on the account (as Apple Pay and Google Pay demand)."""
    pi = record.obj
    automatic = pi.get("automatic_payment_methods") or {}
    if not automatic.get("enabled") or "card" not in pi["payment_method_types"]:
        return []
    host = urlsplit(_arg("parent_origin") or "").hostname or ""
    if not domains.active_for(emulator(), record.account, host):
        return []
    return list(WALLETS)


def _card_data(form: Mapping[str, str]) -> dict[str, Any]:
    expiry = _EXPIRY.fullmatch(form.get("exp", ""))
    if expiry is None:
        raise card_error("Your card's expiration date is incomplete.", "incomplete_expiry")
    if not form.get("cvc"):
        raise card_error("Your card's security code is incomplete.", "incomplete_cvc")
    return {
        "type": "card",
        "card": {
            "number": form.get("number", ""),
            "exp_month": expiry[1],
            "exp_year": expiry[2],
            "cvc": form["cvc"].strip(),
        },
        "billing_details": {"email": form.get("email") or None, "name": form.get("name") or None},
    }


def _find(obj_id: str, object_name: str) -> Record:
    record = emulator().store.find(obj_id)
    if record is None or record.obj.get("object") != object_name:
        abort(404)
    return record


def _intent(pi_id: str, client_secret: str | None) -> Record:
    record = _find(pi_id, "payment_intent")
    if client_secret != record.obj["client_secret"]:
        abort(404)
    return record


def _arg(name: str) -> str | None:
    return request.values.get(name) or None


def _origin() -> str | None:
    """The embedding page's origin for postMessage; never "*", so only a real origin counts."""
    origin = _arg("parent_origin")
    return origin if origin and _ORIGIN.fullmatch(origin) else None


def _return_origin(record: Record) -> str | None:
    """The embedding page's origin when the challenge returns to the embedded card form."""
    return_url = record.extra.get("return_url") or ""
    origin = parse_qs(urlsplit(return_url).query).get("parent_origin", [""])[0]
    return origin if _ORIGIN.fullmatch(origin) else None


def _elements_url(pi: dict[str, Any]) -> str:
    query = {"client_secret": pi["client_secret"]}
    for name in ("parent_origin", "return_url"):
        if _arg(name):
            query[name] = _arg(name) or ""
    return emulator().public_url(url_for(".elements", pi_id=pi["id"], **query))


def _post_message(pi: dict[str, Any]) -> dict[str, Any] | None:
    if pi["status"] not in ("succeeded", "processing"):
        return None
    return {"type": POST_MESSAGE_TYPE, "status": pi["status"], "paymentIntent": pi["id"]}


def _redirect_params(pi: dict[str, Any]) -> dict[str, str]:
    status = {"succeeded": "succeeded", "processing": "processing"}.get(pi["status"], "failed")
    return {
        "payment_intent": pi["id"],
        "payment_intent_client_secret": pi["client_secret"],
        "redirect_status": status,
    }


def _return_link(pi: dict[str, Any]) -> str | None:
    return_url = _arg("return_url")
    if not return_url or urlsplit(return_url).scheme not in ("http", "https"):
        return None
    if pi["status"] not in ("succeeded", "processing"):
        return None
    return _with_query(return_url, _redirect_params(pi))


def _with_query(url: str, extra: dict[str, str]) -> str:
    separator = "&" if urlsplit(url).query else "?"
    return url + separator + urlencode(extra)
