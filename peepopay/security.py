"""Response headers per surface: the dashboard is never framed, the widget always may be."""

from __future__ import annotations

from flask import Flask, Response, g, request

from peepopay.ops.logs import request_id

# Blueprints that serve anonymous customers inside other people's pages.
WIDGET_BLUEPRINTS = frozenset({"widget", "api", "customer", "embed"})

DASHBOARD_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; frame-src 'self'; form-action 'self'; "
    "base-uri 'self'; object-src 'none'; frame-ancestors 'none'"
)


def widget_csp(frame_ancestors: str, extra_script: str = "", extra_frame: str = "") -> str:
    """The widget's policy: our own scripts (plus Stripe's when paying), framed by anyone."""
    return (
        f"default-src 'self'; script-src 'self'{extra_script}; style-src 'self' 'unsafe-inline'; "
        f"img-src 'self' data:; connect-src 'self'{extra_script}; "
        f"frame-src 'self'{extra_frame}; form-action 'self'{extra_frame}; base-uri 'self'; "
        f"object-src 'none'; frame-ancestors {frame_ancestors}"
    )


def is_widget_request() -> bool:
    return request.blueprint in WIDGET_BLUEPRINTS


def set_headers(response: Response) -> Response:
    headers = response.headers
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("Referrer-Policy", "strict-origin-when-cross-origin")
    headers.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
    if is_widget_request():
        headers.setdefault("Content-Security-Policy", getattr(g, "widget_csp", widget_csp("*")))
        headers.pop("X-Frame-Options", None)
    else:
        headers.setdefault("Content-Security-Policy", DASHBOARD_CSP)
        headers.setdefault("X-Frame-Options", "DENY")
    if request.is_secure:  # HSTS covers the whole host, widget included (Caddy agrees)
        headers.setdefault("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
    headers.setdefault("X-Request-Id", request_id())
    return response


def init_app(app: Flask) -> None:
    app.after_request(set_headers)
