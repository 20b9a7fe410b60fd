"""Sentry, when SENTRY_DSN is set: unhandled errors from the web app and the worker.

No personal data leaves: `send_default_pii=False` keeps cookies, headers with credentials,
user details and request bodies out, and `scrub` masks any email address or phone number left
in messages, exception values or breadcrumbs.
"""

from __future__ import annotations

from typing import Any

from flask import Flask

from peepopay.ops.logs import current_request_id, mask_value


def scrub(event: Any, _hint: Any = None) -> Any:
    """Mask emails and phone numbers anywhere in an event; tag it with the request id."""
    event = mask_value(event)
    if rid := current_request_id():
        event.setdefault("tags", {})["request_id"] = rid
    return event


def init_app(app: Flask) -> None:
    dsn = app.config.get("SENTRY_DSN")
    if not dsn:
        return
    import sentry_sdk
    from sentry_sdk.integrations.flask import FlaskIntegration

    sentry_sdk.init(
        dsn=dsn,
        integrations=[FlaskIntegration()],
        environment=app.config["ENV_NAME"],
        release=app.config.get("RELEASE") or None,
        send_default_pii=False,
        traces_sample_rate=app.config["SENTRY_TRACES_SAMPLE_RATE"],
        before_send=scrub,
        before_breadcrumb=scrub,
    )
