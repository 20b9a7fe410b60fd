"""The two surfaces and their policies: the dashboard is never framed and keeps a session
cookie; the widget (with its API, the customer's booking page and the calendar feed) may always
be framed and never sets a cookie."""

from __future__ import annotations

from typing import Any, Literal

from flask import Flask, Request, Response, g, request
from flask.sessions import SecureCookieSession, SessionInterface, SessionMixin

from peepopay.ops.logs import request_id

Surface = Literal["widget", "dashboard"]

# Where anonymous customers are served, often inside other people's pages: the widget and its
# loader, its API, the customer's booking page (/b/), the calendar feed. Told by the path, not
# the matched blueprint, because Flask opens the session before it matches the URL.
WIDGET_PREFIXES = ("/book/", "/widget/", "/embed.js", "/api/", "/b/", "/calendar/")

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


def surface(req: Request) -> Surface:
    """Which surface serves `req`: its headers and its cookie policy follow from this alone."""
    return "widget" if req.path.startswith(WIDGET_PREFIXES) else "dashboard"


def set_headers(response: Response) -> Response:
    headers = response.headers
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("Referrer-Policy", "strict-origin-when-cross-origin")
    headers.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
    if surface(request) == "widget":
        headers.setdefault("Content-Security-Policy", getattr(g, "widget_csp", widget_csp("*")))
        headers.pop("X-Frame-Options", None)
    else:
        headers.setdefault("Content-Security-Policy", DASHBOARD_CSP)
        headers.setdefault("X-Frame-Options", "DENY")
    if request.is_secure:  # HSTS covers the whole host, widget included (Caddy agrees)
        headers.setdefault("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
    headers.setdefault("X-Request-Id", request_id())
    return response


class DiscardedSession(SecureCookieSession):
    """Writable for the length of a request, never saved: no Set-Cookie."""


class CookielessWidget(SessionInterface):
    """Wraps the app's session interface: widget requests get a DiscardedSession, so nothing
    that touches `session` fails there, yet no cookie is read or set whatever the browser sent."""

    def __init__(self, inner: SessionInterface) -> None:
        self.inner = inner

    def open_session(self, app: Flask, request: Request) -> SessionMixin | None:
        if surface(request) == "widget":
            return DiscardedSession()
        return self.inner.open_session(app, request)

    def save_session(self, app: Flask, session: SessionMixin, response: Response) -> None:
        self.inner.save_session(app, session, response)

    def is_null_session(self, obj: object) -> bool:
        return isinstance(obj, DiscardedSession) or self.inner.is_null_session(obj)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def init_app(app: Flask) -> None:
    app.after_request(set_headers)
    if not isinstance(app.session_interface, CookielessWidget):
        app.session_interface = CookielessWidget(app.session_interface)
