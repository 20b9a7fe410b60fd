"""/v1 routes for money: customers, payment methods, PaymentIntents, charges, refunds, Checkout."""

from __future__ import annotations

from typing import Any

import stripe.params as sp
import stripe.params.checkout as sp_checkout
from flask import Response

from . import balance, checkout, customers, domains, payment_methods, payments, refunds
from .api import bp, call, emulator, params, publishable_ok, respond, respond_list
from .errors import invalid_request
from .formdata import apply_metadata, get_str
from .store import Record


def _record(obj_id: str, object_name: str) -> Record:
    return emulator().store.record(obj_id, call().ctx.account, object_name)


def _filtered(object_name: str, given: dict[str, Any], *fields: str) -> list[dict[str, Any]]:
    """Objects in scope whose named fields equal the given filters."""
    wanted = {field: given[field] for field in fields if given.get(field)}
    return emulator().store.objects(
        object_name,
        call().ctx.account,
        lambda obj: all(obj.get(field) == value for field, value in wanted.items()),
    )


@bp.post("/customers")
def create_customer() -> tuple[Response, int]:
    given = params(sp.CustomerCreateParams)
    return respond(customers.create_customer(emulator(), call().ctx, given).obj)


@bp.get("/customers")
def list_customers() -> Response:
    return respond_list(_filtered("customer", params(sp.CustomerListParams), "email"))


@bp.get("/customers/<customer_id>")
def retrieve_customer(customer_id: str) -> tuple[Response, int]:
    return respond(_record(customer_id, "customer").obj)


@bp.post("/customers/<customer_id>")
def update_customer(customer_id: str) -> tuple[Response, int]:
    record = _record(customer_id, "customer")
    customers.update_customer(emulator(), call().ctx, record, params(sp.CustomerUpdateParams))
    return respond(record.obj)


@bp.delete("/customers/<customer_id>")
def delete_customer(customer_id: str) -> tuple[Response, int]:
    record = _record(customer_id, "customer")
    return respond(customers.delete_customer(emulator(), call().ctx, record))


@bp.get("/customers/<customer_id>/payment_methods")
def list_customer_payment_methods(customer_id: str) -> Response:
    _record(customer_id, "customer")
    given = {**params(sp.CustomerPaymentMethodListParams), "customer": customer_id}
    return respond_list(_filtered("payment_method", given, "customer", "type"))


@bp.get("/customers/<customer_id>/payment_methods/<pm_id>")
def retrieve_customer_payment_method(customer_id: str, pm_id: str) -> tuple[Response, int]:
    _record(customer_id, "customer")
    pm = _record(pm_id, "payment_method").obj
    if pm["customer"] != customer_id:
        raise invalid_request(f"No such PaymentMethod: '{pm_id}'", code="resource_missing")
    return respond(pm)


@bp.post("/payment_methods")
@publishable_ok
def create_payment_method() -> tuple[Response, int]:
    given = params(sp.PaymentMethodCreateParams, extra=("key",))
    return respond(payment_methods.create(emulator(), call().ctx, given).obj)


@bp.get("/payment_methods")
def list_payment_methods() -> Response:
    return respond_list(
        _filtered("payment_method", params(sp.PaymentMethodListParams), "customer", "type")
    )


@bp.get("/payment_methods/<pm_id>")
def retrieve_payment_method(pm_id: str) -> tuple[Response, int]:
    return respond(payment_methods.resolve(emulator(), call().ctx.account, pm_id, param="id").obj)


@bp.post("/payment_methods/<pm_id>")
def update_payment_method(pm_id: str) -> tuple[Response, int]:
    pm = _record(pm_id, "payment_method").obj
    pm["metadata"] = apply_metadata(pm["metadata"], params(sp.PaymentMethodUpdateParams))
    return respond(pm)


@bp.post("/payment_methods/<pm_id>/attach")
def attach_payment_method(pm_id: str) -> tuple[Response, int]:
    given = params(sp.PaymentMethodAttachParams)
    customer = get_str(given, "customer", required=True) or ""
    record = payment_methods.resolve(emulator(), call().ctx.account, pm_id, param="id")
    return respond(payment_methods.attach(emulator(), call().ctx, record, customer))


@bp.post("/payment_methods/<pm_id>/detach")
def detach_payment_method(pm_id: str) -> tuple[Response, int]:
    params(sp.PaymentMethodDetachParams)
    record = _record(pm_id, "payment_method")
    return respond(payment_methods.detach(emulator(), call().ctx, record))


@bp.post("/payment_intents")
def create_payment_intent() -> tuple[Response, int]:
    given = params(sp.PaymentIntentCreateParams, extra=("payment_method_types",))
    return respond(payments.create_intent(emulator(), call().ctx, given).obj)


@bp.get("/payment_intents")
def list_payment_intents() -> Response:
    return respond_list(_filtered("payment_intent", params(sp.PaymentIntentListParams), "customer"))


@bp.get("/payment_intents/<pi_id>")
@publishable_ok
def retrieve_payment_intent(pi_id: str) -> tuple[Response, int]:
    given = params(sp.PaymentIntentRetrieveParams)
    return respond(_intent_for_key(pi_id, given).obj)


@bp.post("/payment_intents/<pi_id>")
def update_payment_intent(pi_id: str) -> tuple[Response, int]:
    record = _record(pi_id, "payment_intent")
    payments.update_intent(emulator(), call().ctx, record, params(sp.PaymentIntentUpdateParams))
    return respond(record.obj)


@bp.post("/payment_intents/<pi_id>/confirm")
@publishable_ok
def confirm_payment_intent(pi_id: str) -> tuple[Response, int]:
    given = params(sp.PaymentIntentConfirmParams, extra=("client_secret", "key"))
    record = _intent_for_key(pi_id, given)
    payments.confirm_intent(emulator(), call().ctx, record, given)
    return respond(record.obj)


@bp.post("/payment_intents/<pi_id>/cancel")
def cancel_payment_intent(pi_id: str) -> tuple[Response, int]:
    record = _record(pi_id, "payment_intent")
    payments.cancel_intent(emulator(), call().ctx, record, params(sp.PaymentIntentCancelParams))
    return respond(record.obj)


@bp.get("/charges")
def list_charges() -> Response:
    given = params(sp.ChargeListParams)
    return respond_list(_filtered("charge", given, "customer", "payment_intent"))


@bp.get("/charges/<charge_id>")
def retrieve_charge(charge_id: str) -> tuple[Response, int]:
    return respond(_record(charge_id, "charge").obj)


@bp.post("/refunds")
def create_refund() -> tuple[Response, int]:
    given = params(sp.RefundCreateParams)
    return respond(refunds.create_refund(emulator(), call().ctx, given).obj)


@bp.get("/refunds")
def list_refunds() -> Response:
    given = params(sp.RefundListParams)
    return respond_list(_filtered("refund", given, "charge", "payment_intent"))


@bp.get("/refunds/<refund_id>")
def retrieve_refund(refund_id: str) -> tuple[Response, int]:
    return respond(_record(refund_id, "refund").obj)


@bp.post("/refunds/<refund_id>")
def update_refund(refund_id: str) -> tuple[Response, int]:
    record = _record(refund_id, "refund")
    refunds.update_refund(emulator(), call().ctx, record, params(sp.RefundUpdateParams))
    return respond(record.obj)


@bp.get("/disputes")
def list_disputes() -> Response:
    given = params(sp.DisputeListParams)
    return respond_list(_filtered("dispute", given, "charge", "payment_intent"))


@bp.get("/disputes/<dispute_id>")
def retrieve_dispute(dispute_id: str) -> tuple[Response, int]:
    return respond(_record(dispute_id, "dispute").obj)


@bp.post("/disputes/<dispute_id>")
def update_dispute(dispute_id: str) -> tuple[Response, int]:
    record = _record(dispute_id, "dispute")
    refunds.update_dispute(emulator(), call().ctx, record, params(sp.DisputeUpdateParams))
    return respond(record.obj)


@bp.post("/disputes/<dispute_id>/close")
def close_dispute(dispute_id: str) -> tuple[Response, int]:
    params(sp.DisputeCloseParams)
    record = _record(dispute_id, "dispute")
    refunds.close_dispute(emulator(), call().ctx, record, "lost")
    return respond(record.obj)


@bp.get("/payouts")
def list_payouts() -> Response:
    given = params(sp.PayoutListParams)
    found = _filtered("payout", given, "status", "destination")
    return respond_list(found)


@bp.get("/payouts/<payout_id>")
def retrieve_payout(payout_id: str) -> tuple[Response, int]:
    params(sp.PayoutRetrieveParams)
    return respond(_record(payout_id, "payout").obj)


@bp.get("/balance_transactions")
def list_balance_transactions() -> Response:
    given = params(sp.BalanceTransactionListParams)
    payout = get_str(given, "payout")
    records = emulator().store.records("balance_transaction", call().ctx.account)
    if payout is not None:
        _record(payout, "payout")
        records = [r for r in records if balance.in_payout(r, payout)]
    wanted = {key: given[key] for key in ("type", "source", "currency") if given.get(key)}
    found = [r.obj for r in records if all(r.obj.get(k) == v for k, v in wanted.items())]
    return respond_list(found)


@bp.get("/balance_transactions/<txn_id>")
def retrieve_balance_transaction(txn_id: str) -> tuple[Response, int]:
    params(sp.BalanceTransactionRetrieveParams)
    return respond(_record(txn_id, "balance_transaction").obj)


@bp.post("/checkout/sessions")
def create_checkout_session() -> tuple[Response, int]:
    given = params(sp_checkout.SessionCreateParams)
    return respond(checkout.create_session(emulator(), call().ctx, given).obj)


@bp.get("/checkout/sessions")
def list_checkout_sessions() -> Response:
    given = params(sp_checkout.SessionListParams)
    for record in emulator().store.records("checkout.session", call().ctx.account):
        checkout.refresh(emulator(), record)
    return respond_list(_filtered("checkout.session", given, "customer", "payment_intent"))


@bp.get("/checkout/sessions/<session_id>")
def retrieve_checkout_session(session_id: str) -> tuple[Response, int]:
    record = _record(session_id, "checkout.session")
    checkout.refresh(emulator(), record)
    return respond(record.obj)


@bp.post("/checkout/sessions/<session_id>/expire")
def expire_checkout_session(session_id: str) -> tuple[Response, int]:
    params(sp_checkout.SessionExpireParams)
    record = _record(session_id, "checkout.session")
    checkout.expire(emulator(), call().ctx, record)
    return respond(record.obj)


@bp.get("/checkout/sessions/<session_id>/line_items")
def list_checkout_line_items(session_id: str) -> Response:
    params(sp_checkout.SessionLineItemListParams)
    record = _record(session_id, "checkout.session")
    items = [
        {
            "id": f"li_{session_id[-12:]}{index}",
            "object": "item",
            "amount_discount": 0,
            "amount_subtotal": item["amount"],
            "amount_tax": 0,
            "amount_total": item["amount"],
            "currency": item["currency"],
            "description": item["name"],
            "price": None,
            "quantity": item["quantity"],
        }
        for index, item in enumerate(record.extra["line_items"])
    ]
    return respond_list(items)


def _intent_for_key(pi_id: str, given: dict[str, Any]) -> Record:
    """With a publishable key, Stripe wants the PaymentIntent's client_secret too."""
    record = _record(pi_id, "payment_intent")
    if call().publishable and get_str(given, "client_secret") != record.obj["client_secret"]:
        raise invalid_request(
            "The client_secret provided does not match the client_secret associated with the "
            "PaymentIntent.",
            param="client_secret",
        )
    return record


@bp.post("/payment_method_domains")
def create_payment_method_domain() -> tuple[Response, int]:
    given = params(sp.PaymentMethodDomainCreateParams)
    return respond(domains.create(emulator(), call().ctx, given).obj)


@bp.get("/payment_method_domains")
def list_payment_method_domains() -> Response:
    given = params(sp.PaymentMethodDomainListParams)
    found = _filtered("payment_method_domain", given, "domain_name")
    if "enabled" in given:
        wanted = get_str(given, "enabled") == "true"
        found = [domain for domain in found if domain["enabled"] == wanted]
    return respond_list(found)


@bp.get("/payment_method_domains/<domain_id>")
def retrieve_payment_method_domain(domain_id: str) -> tuple[Response, int]:
    params(sp.PaymentMethodDomainRetrieveParams)
    return respond(_record(domain_id, "payment_method_domain").obj)


@bp.post("/payment_method_domains/<domain_id>")
def update_payment_method_domain(domain_id: str) -> tuple[Response, int]:
    record = _record(domain_id, "payment_method_domain")
    domains.update(record, params(sp.PaymentMethodDomainUpdateParams))
    return respond(record.obj)


@bp.post("/payment_method_domains/<domain_id>/validate")
def validate_payment_method_domain(domain_id: str) -> tuple[Response, int]:
    params(sp.PaymentMethodDomainValidateParams)
    record = _record(domain_id, "payment_method_domain")
    domains.validate(record)
    return respond(record.obj)
