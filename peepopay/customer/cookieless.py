"""Surfaces that must never set a cookie: the customer's booking page and the calendar feed.

Requests under these paths get a session that works for the request (so nothing that touches
`session` fails) but is never saved, whatever cookies the browser sent.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, Request, Response
from flask.sessions import SecureCookieSession, SessionInterface, SessionMixin

# The path prefixes of the cookieless routes (the customer page and the calendar feed).
PREFIXES = ("/b/", "/calendar/")


class DiscardedSession(SecureCookieSession):
    """Writable for the length of a request, never saved: no Set-Cookie."""


class CookielessFor(SessionInterface):
    """Wraps the app's session interface; paths under `prefixes` get a DiscardedSession."""

    def __init__(self, inner: SessionInterface, prefixes: tuple[str, ...]) -> None:
        self.inner = inner
        self.prefixes = prefixes

    def open_session(self, app: Flask, request: Request) -> SessionMixin | None:
        if request.path.startswith(self.prefixes):
            return DiscardedSession()
        return self.inner.open_session(app, request)

    def save_session(self, app: Flask, session: SessionMixin, response: Response) -> None:
        self.inner.save_session(app, session, response)

    def is_null_session(self, obj: object) -> bool:
        return isinstance(obj, DiscardedSession) or self.inner.is_null_session(obj)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def install(app: Any) -> None:
    if not isinstance(app.session_interface, CookielessFor):
        app.session_interface = CookielessFor(app.session_interface, PREFIXES)
