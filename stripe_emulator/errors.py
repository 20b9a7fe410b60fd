"""Stripe's error shapes: one exception type rendered as `{"error": {...}}` with Stripe's status."""

from __future__ import annotations

from typing import Any


class StripeError(Exception):
    """An API error the emulator answers in Stripe's JSON shape and HTTP status."""

    def __init__(
        self,
        status: int,
        type_: str,
        message: str,
        *,
        code: str | None = None,
        param: str | None = None,
        decline_code: str | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.type = type_
        self.message = message
        self.code = code
        self.param = param
        self.decline_code = decline_code
        self.extra = extra

    def body(self) -> dict[str, Any]:
        """The JSON body; like Stripe, keys without a value are left out."""
        error: dict[str, Any] = {"type": self.type, "message": self.message}
        if self.code:
            error["code"] = self.code
            error["doc_url"] = "https://stripe.com/docs/error-codes/" + self.code.replace("_", "-")
        if self.decline_code:
            error["decline_code"] = self.decline_code
        if self.param:
            error["param"] = self.param
        error.update({k: v for k, v in self.extra.items() if v is not None})
        return {"error": error}


def invalid_request(
    message: str, *, param: str | None = None, code: str | None = None, status: int = 400
) -> StripeError:
    return StripeError(status, "invalid_request_error", message, code=code, param=param)


def missing_param(name: str) -> StripeError:
    return invalid_request(f"Missing required param: {name}.", param=name, code="parameter_missing")


def unknown_param(name: str) -> StripeError:
    return invalid_request(
        f"Received unknown parameter: {name}", param=name, code="parameter_unknown"
    )


def cannot_expand(field: str) -> StripeError:
    return invalid_request(f"This property cannot be expanded ({field}).", param="expand")


def resource_missing(object_name: str, obj_id: str, *, param: str = "id") -> StripeError:
    """A missing object: 404 when named in the path, 400 when named by a body parameter."""
    status = 404 if param == "id" else 400
    return invalid_request(
        f"No such {object_name}: '{obj_id}'", param=param, code="resource_missing", status=status
    )


def unexpected_state(message: str, *, param: str | None = None) -> StripeError:
    return invalid_request(message, param=param, code="payment_intent_unexpected_state")


def card_error(
    message: str, code: str, *, decline_code: str | None = None, **extra: Any
) -> StripeError:
    return StripeError(402, "card_error", message, code=code, decline_code=decline_code, **extra)


def authentication_error(message: str) -> StripeError:
    # Stripe answers bad keys with 401 and type invalid_request_error; the SDK maps 401 itself.
    return StripeError(401, "invalid_request_error", message)


def idempotency_error(key: str) -> StripeError:
    return StripeError(
        400,
        "idempotency_error",
        "Keys for idempotent requests can only be used with the same parameters they were "
        f"first used with. Try using a key other than '{key}' if you meant to execute a "
        "different request.",
    )
