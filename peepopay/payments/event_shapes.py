"""The shape each kind of Stripe event's object has, checked before the event is stored or
acted on: a validly signed body that Stripe could not have sent (a PaymentIntent whose id is
`5`, a dispute sent as a refund, an amount of `1e30`, metadata that is a list) is refused
whole, so no handler ever reads a field of the wrong type or out of range.

Fields follow Stripe's API reference (`shared/stripe/stripe-openapi-subset.json`): ids carry
their object's prefix, amounts are integers in minor units up to Stripe's maximum, timestamps
are Unix seconds, metadata maps strings to strings. Only the fields PeepoPay reads, or that
Stripe always sends, are checked; anything else an event carries is left alone.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

Check = Callable[[Any], bool]

# Stripe refuses any charge or refund above this, in any currency's minor unit.
MAX_AMOUNT = 99_999_999
# Unix seconds from 1970 to 2100: any Stripe timestamp, none that overflows a datetime.
MAX_TIMESTAMP = 4_102_444_800
# Stripe's own limits on metadata: 50 keys of at most 40 characters, values of at most 500.
METADATA_KEYS = 50
METADATA_KEY_LENGTH = 40
METADATA_VALUE_LENGTH = 500

_CURRENCY = re.compile(r"[A-Za-z]{3}")
_WORD = re.compile(r"[a-z0-9_]{1,64}")


class ShapeError(ValueError):
    """The object is not what an event of its type carries; the message names the field."""


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def stripe_id(*prefixes: str) -> Check:
    """A Stripe id with one of these prefixes (`pi`, `ch`, ...)."""
    pattern = re.compile(rf"(?:{'|'.join(prefixes)})_[A-Za-z0-9_]{{1,250}}")
    return lambda value: isinstance(value, str) and pattern.fullmatch(value) is not None


def expandable(*prefixes: str) -> Check:
    """A reference to another object: its id, or the object itself expanded, or nothing."""
    is_id = stripe_id(*prefixes)
    return lambda value: (
        value is None
        or is_id(value)
        or (isinstance(value, dict) and is_id(value.get("id")) and _generic_ok(value))
    )


def amount(value: Any) -> bool:
    return _is_int(value) and 0 <= value <= MAX_AMOUNT


def signed_amount(value: Any) -> bool:
    """A balance movement: money in or out, each within Stripe's maximum."""
    return _is_int(value) and -MAX_AMOUNT <= value <= MAX_AMOUNT


def timestamp(value: Any) -> bool:
    return _is_int(value) and 0 <= value <= MAX_TIMESTAMP


def currency(value: Any) -> bool:
    return isinstance(value, str) and _CURRENCY.fullmatch(value) is not None


def word(value: Any) -> bool:
    """An enum value such as a status or a reason."""
    return isinstance(value, str) and _WORD.fullmatch(value) is not None


def text(value: Any) -> bool:
    return isinstance(value, str) and len(value) <= 5000


def metadata(value: Any) -> bool:
    return (
        isinstance(value, dict)
        and len(value) <= METADATA_KEYS
        and all(
            isinstance(key, str)
            and 0 < len(key) <= METADATA_KEY_LENGTH
            and isinstance(item, str)
            and len(item) <= METADATA_VALUE_LENGTH
            for key, item in value.items()
        )
    )


def optional(check: Check) -> Check:
    """Stripe's nullable fields: null, or the shape."""
    return lambda value: value is None or check(value)


def record(fields: dict[str, Check]) -> Check:
    """A nested object whose listed fields, when present, have their shapes."""
    return lambda value: (
        isinstance(value, dict)
        and all(name not in value or check(value[name]) for name, check in fields.items())
    )


def list_of(check: Check) -> Check:
    return lambda value: isinstance(value, list) and len(value) <= 100 and all(map(check, value))


class Shape:
    """An object's type name, its id prefixes, the fields it always has and the fields that,
    when present, must have their shapes."""

    def __init__(
        self,
        name: str,
        prefixes: tuple[str, ...],
        required: dict[str, Check] | None = None,
        fields: dict[str, Check] | None = None,
    ) -> None:
        self.name = name
        self.id = stripe_id(*prefixes)
        self.prefixes = prefixes
        self.required = required or {}
        self.fields = fields or {}

    def check(self, obj: dict[str, Any]) -> None:
        if not self.id(obj.get("id")):
            raise ShapeError(
                f"data.object.id is not a {self.name} id ({'_, '.join(self.prefixes)}_)"
            )
        if "object" in obj and obj["object"] != self.name:
            raise ShapeError(f"data.object is not a {self.name}")
        for name, check in self.required.items():
            if name not in obj or not check(obj[name]):
                raise ShapeError(f"data.object.{name} is missing or malformed")
        for name, check in self.fields.items():
            if name in obj and not check(obj[name]):
                raise ShapeError(f"data.object.{name} is malformed")


_ERROR = record({"code": optional(word), "decline_code": optional(word), "message": text})
_CARD = record(
    {
        "brand": optional(word),
        "last4": optional(text),
        "wallet": lambda value: value is None or isinstance(value, dict),
    }
)

PAYMENT_INTENT = Shape(
    "payment_intent",
    ("pi",),
    required={"amount": amount, "currency": currency},
    fields={
        "amount_received": amount,
        "application_fee_amount": optional(amount),
        "status": word,
        "metadata": metadata,
        "latest_charge": expandable("ch", "py"),
        "payment_method": expandable("pm", "card", "src"),
        "customer": expandable("cus"),
        "last_payment_error": optional(_ERROR),
        "created": timestamp,
    },
)

CHARGE = Shape(
    "charge",
    ("ch", "py"),
    required={"amount": amount, "currency": currency},
    fields={
        "amount_captured": amount,
        "amount_refunded": amount,
        "application_fee_amount": optional(amount),
        "payment_intent": expandable("pi"),
        "status": word,
        "metadata": metadata,
        "payment_method_details": optional(record({"type": word, "card": optional(_CARD)})),
        "created": timestamp,
    },
)

REFUND = Shape(
    "refund",
    ("re", "pyr"),
    required={"amount": amount},
    fields={
        "currency": currency,
        "charge": expandable("ch", "py"),
        "payment_intent": expandable("pi"),
        "status": optional(word),
        "metadata": optional(metadata),
        "created": timestamp,
    },
)

_BALANCE_TRANSACTION = record({"id": stripe_id("txn"), "amount": signed_amount, "fee": amount})

DISPUTE = Shape(
    "dispute",
    ("dp", "du"),
    required={"amount": amount, "charge": stripe_id("ch", "py")},
    fields={
        "currency": currency,
        "payment_intent": expandable("pi"),
        "status": word,
        "reason": word,
        "metadata": metadata,
        "evidence_details": record({"due_by": optional(timestamp)}),
        "balance_transactions": list_of(_BALANCE_TRANSACTION),
        "created": timestamp,
    },
)

ACCOUNT = Shape(
    "account",
    ("acct",),
    fields={
        "charges_enabled": lambda value: isinstance(value, bool),
        "payouts_enabled": lambda value: isinstance(value, bool),
        "details_submitted": lambda value: isinstance(value, bool),
        "metadata": metadata,
        "created": timestamp,
    },
)

APPLICATION = Shape("application", ("ca",), fields={"name": optional(text)})

PAYOUT = Shape(
    "payout",
    ("po",),
    required={"amount": amount, "currency": currency},
    fields={
        "arrival_date": timestamp,
        "status": word,
        "metadata": metadata,
        "created": timestamp,
    },
)

CUSTOMER = Shape("customer", ("cus",), fields={"metadata": metadata, "created": timestamp})

# An event type, or a family of them ending in a dot; the first that fits decides, so
# `charge.dispute.` comes before `charge.`.
SHAPES: tuple[tuple[str, Shape], ...] = (
    ("payment_intent.", PAYMENT_INTENT),
    ("charge.dispute.", DISPUTE),
    ("charge.refund.updated", REFUND),
    ("charge.", CHARGE),
    ("refund.", REFUND),
    ("account.application.", APPLICATION),
    ("account.updated", ACCOUNT),
    ("payout.", PAYOUT),
    ("customer.created", CUSTOMER),
    ("customer.updated", CUSTOMER),
    ("customer.deleted", CUSTOMER),
)


def _generic_ok(obj: dict[str, Any]) -> bool:
    """What every Stripe object keeps: a string id, Unix seconds, string metadata."""
    return (
        ("id" not in obj or isinstance(obj["id"], str))
        and ("created" not in obj or timestamp(obj["created"]))
        and ("metadata" not in obj or obj["metadata"] is None or metadata(obj["metadata"]))
    )


def shape_for(event_type: str) -> Shape | None:
    for pattern, shape in SHAPES:
        family = pattern.endswith(".") and event_type.startswith(pattern)
        if family or event_type == pattern:
            return shape
    return None


def check(event_type: str, obj: dict[str, Any]) -> None:
    """Raise ShapeError unless `obj` has the shape an event of `event_type` carries."""
    shape = shape_for(event_type)
    if shape is not None:
        shape.check(obj)
    elif not _generic_ok(obj):
        raise ShapeError("data.object has a malformed id, created or metadata")
