"""Error pages that render as a full page, an htmx fragment, or JSON for the API."""

from __future__ import annotations

import logging
import time

from flask import Flask, Response, jsonify, request
from werkzeug.exceptions import HTTPException, InternalServerError

from peepopay.extensions import limiter
from peepopay.htmx import render

log = logging.getLogger(__name__)

MESSAGES = {
    400: "That request could not be understood.",
    403: "You don't have access to this.",
    404: "We could not find that page.",
    405: "That action isn't allowed here.",
    409: "That conflicts with something that already exists.",
    413: "That upload is too large.",
    422: "Some details need fixing.",
    429: "Too many attempts. Please wait a moment and try again.",
    500: "Something went wrong on our side. Please try again.",
    503: "We're briefly unavailable. Please try again shortly.",
}


class RuleRefused(ValueError):
    """A rule refused this input: `field` names the input at fault ("" for the request as a
    whole), `message` says why in words a person can act on; the answer is `status` (422)."""

    status = 422

    def __init__(self, field: str, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.field = field
        self.message = message
        if status is not None:
            self.status = status
        # Field errors as forms and the API show them: {field: [message, ...]}.
        self.errors: dict[str, list[str]] = {field or "form": [message]}


def wants_json() -> bool:
    return request.path.startswith("/api/") or request.accept_mimetypes.best == "application/json"


def handle_rule_refused(error: RuleRefused) -> Response:
    """A refusal no route re-rendered itself: the API's `{"errors": {field: [msg]}}`, or the
    error page with the rule's own message."""
    if wants_json():
        response = jsonify(errors=error.errors)
        response.status_code = error.status
        return response
    return render(
        "errors/page.html",
        "errors/_error.html",
        error.status,
        code=error.status,
        message=error.message,
    )


def handle_http_error(error: HTTPException) -> Response:
    code = error.code or 500
    message = MESSAGES.get(code, error.description or "Error")
    if code == 400 and error.description and "CSRF" in error.description:
        message = "Your session expired or the form is stale. Reload the page and try again."
    if wants_json():
        response = jsonify(error={"code": code, "message": message})
        response.status_code = code
    else:
        response = render(
            "errors/page.html", "errors/_error.html", code, code=code, message=message
        )
    # Keep headers the exception carries, such as Retry-After on 429.
    for name, value in error.get_headers():
        if name.lower() != "content-type":
            response.headers[name] = value
    return response


def handle_unexpected(error: Exception) -> Response:
    log.exception("unhandled error", exc_info=error)
    return handle_http_error(InternalServerError())


def retry_after(response: Response) -> Response:
    """Every 429 of a rate limit says when to try again, in seconds.

    Flask-Limiter sends Retry-After only with its X-RateLimit-* headers, which are off: reading
    the window back for them costs two Redis round trips on every limited request. Here the
    breached limit's window is read on the 429 alone (any error page: ours, the widget's)."""
    if response.status_code != 429 or "Retry-After" in response.headers:
        return response
    breached = limiter.current_limit
    if breached is None or not breached.breached:
        return response
    try:
        seconds = int(breached.reset_at - time.time())  # as Flask-Limiter counts it
    except Exception:  # storage gone since the hit: the whole window is safe
        log.warning("rate limit window unreadable; Retry-After is the whole window")
        seconds = breached.limit.get_expiry()
    response.headers["Retry-After"] = str(max(1, seconds))
    return response


def init_app(app: Flask) -> None:
    app.register_error_handler(HTTPException, handle_http_error)
    app.register_error_handler(RuleRefused, handle_rule_refused)
    app.after_request(retry_after)
    if not app.testing:
        app.register_error_handler(Exception, handle_unexpected)
