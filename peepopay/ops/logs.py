"""Structured logs: one JSON object per line, a request id on every line, no raw personal data.

Every record that leaves a handler installed here passes `MaskFilter`, which masks email
addresses and phone numbers wherever they appear in the text (a customer's details can end up
in an exception message). Each request writes one access line on the `peepopay.access` logger.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time
import traceback
import uuid
from datetime import UTC, datetime
from typing import Any, TextIO
from urllib.parse import unquote

import sqlalchemy as sa
from flask import Flask, Response, g, request, request_finished

access_log = logging.getLogger("peepopay.access")

# What Caddy accepts from a client, too (Caddyfile `map`): anything else gets a fresh UUID.
REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9._:-]{8,128}$")

EMAIL_RE = re.compile(r"([A-Za-z0-9._%+-])[A-Za-z0-9._%+-]*@([A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+)")
# International numbers (+64 21 123 4567), national ones starting with 0 ((09) 123-4567,
# 021 123 4567) and the North American shape (415-555-0100). Dates, decimals, ids and times are
# left alone: a match may not start inside a word, a number or a dashed run.
PHONE_RE = re.compile(
    r"(?<![\w.+/-])"
    r"(?:\+\d[\d ()-]{5,20}\d|\(?0\d[\d ()-]{5,18}\d|\d{3}[ -]\d{3}[ -]\d{4})"
    r"(?![\w-])"
)

# The attributes every LogRecord has; anything else was passed in `extra=` and is logged.
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


def _mask_phone(match: re.Match[str]) -> str:
    text = match.group(0)
    digits = re.sub(r"\D", "", text)
    if not 7 <= len(digits) <= 15:
        return text
    return ("+" if text.startswith("+") else "") + "*" * (len(digits) - 2) + digits[-2:]


def mask(text: str) -> str:
    """`jane@example.com` → `j***@example.com`, `+64 21 123 4567` → `+*********67`."""
    if "@" in text:
        text = EMAIL_RE.sub(r"\1***@\2", text)
    return PHONE_RE.sub(_mask_phone, text)


def mask_value(value: Any) -> Any:
    """Mask every string inside a JSON-like value."""
    if isinstance(value, str):
        return mask(value)
    if isinstance(value, dict):
        return {key: mask_value(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [mask_value(item) for item in value]
    return value


class MaskFilter(logging.Filter):
    """Render the message once, masked; masks exception text and string extras too."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = mask(record.getMessage())
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = "".join(traceback.format_exception(*record.exc_info)).rstrip()
        if record.exc_text:
            record.exc_text = mask(record.exc_text)
        for key, value in list(vars(record).items()):
            if key not in _STANDARD and isinstance(value, str | dict | list):
                setattr(record, key, mask_value(value))
        return True


class JsonFormatter(logging.Formatter):
    """`{"ts", "level", "logger", "message", ...extras, "request_id"?, "exc"?}` on one line."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = value
        if "request_id" not in entry and (rid := current_request_id()):
            entry["request_id"] = rid
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exc"] = record.exc_text
        return json.dumps(entry, default=str, ensure_ascii=False)


class StderrHandler(logging.StreamHandler[TextIO]):
    """Writes to whatever sys.stderr is at the moment (test runners swap it)."""

    def __init__(self) -> None:
        super().__init__()

    @property
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, _value: TextIO) -> None:
        pass


def make_handler(fmt: str = "json") -> logging.Handler:
    handler = StderrHandler()
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(MaskFilter())
    handler._peepopay = True  # type: ignore[attr-defined]
    return handler


def configure(level: str = "INFO", fmt: str = "json") -> None:
    """Send the root logger to stderr through our handler (once per process)."""
    root = logging.getLogger()
    if not any(getattr(h, "_peepopay", False) for h in root.handlers):
        root.addHandler(make_handler(fmt))
    root.setLevel(level.upper())


def current_request_id() -> str | None:
    """The request id, when called inside a request."""
    if not request:
        return None
    return request_id()


def request_id() -> str:
    """Caddy's id (X-Request-Id) when it looks sane, else a new one; the same all request long."""
    rid: str | None = g.get("request_id")
    if rid is None:
        sent = request.headers.get("X-Request-Id", "")
        rid = sent if REQUEST_ID_RE.match(sent) else str(uuid.uuid4())
        g.request_id = rid
    return rid


def current_tradie_id() -> int | None:
    """The signed-in tradie's id, if this request loaded one (no extra query to find out)."""
    user = g.get("_login_user")
    # The row's identity, not `user.id`: after the request's commit that would load it again.
    state = sa.inspect(user, raiseerr=False) if user is not None else None
    if state is not None and state.identity:
        return int(state.identity[0])
    return None


def _start_timer() -> None:
    g.request_started = time.perf_counter()
    request_id()


def _log_request(sender: Flask, response: Response, **_: Any) -> None:
    started = g.get("request_started")
    duration = time.perf_counter() - started if started is not None else 0.0
    from peepopay.ops import metrics

    endpoint = request.endpoint or "unmatched"
    metrics.request_latency.labels(request.method, endpoint, str(response.status_code)).observe(
        duration
    )
    if request.endpoint in QUIET_ENDPOINTS and response.status_code < 400:
        return
    access_log.info(
        "%s %s %s",
        request.method,
        request.path,
        response.status_code,
        extra={
            "request_id": request_id(),
            "method": request.method,
            "path": unquote(request.path),
            "query": unquote(request.query_string.decode("latin-1")) or None,
            "status": response.status_code,
            "duration_ms": round(duration * 1000, 2),
            "endpoint": endpoint,
            "client": request.remote_addr,
            "tradie_id": current_tradie_id(),
        },
    )


# Probes hit these every few seconds; only their failures are worth a line.
QUIET_ENDPOINTS = frozenset({"ops.healthz", "ops.metrics"})


def init_app(app: Flask) -> None:
    if not app.testing or app.config.get("LOG_FORMAT_FORCE"):
        configure(app.config["LOG_LEVEL"], app.config["LOG_FORMAT"])
    app.before_request(_start_timer)
    request_finished.connect(_log_request, app)
