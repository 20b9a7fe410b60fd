"""Development-only mailbox page: every email and SMS the app has 'sent', readable in a browser."""

from __future__ import annotations

import json
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path

from flask import Blueprint, Response, abort, current_app, render_template

bp = Blueprint("devmail", __name__, url_prefix="/dev/mailbox")


def _folder() -> Path:
    return Path(current_app.config["MAILBOX_DIR"])


def _read(path: Path) -> dict[str, object]:
    if path.name.endswith(".sms.json"):
        data = json.loads(path.read_text())
        return {
            "name": path.name,
            "kind": "SMS",
            "to": data["to"],
            "subject": data["body"],
            "text": data["body"],
            "html": None,
        }
    message = BytesParser(policy=policy.default).parsebytes(path.read_bytes())
    assert isinstance(message, EmailMessage)
    text = message.get_body(preferencelist=("plain",))
    html = message.get_body(preferencelist=("html",))
    return {
        "name": path.name,
        "kind": "Email",
        "to": message["To"],
        "subject": message["Subject"],
        "text": text.get_content() if text else "",
        "html": html.get_content() if html else None,
        "attachments": [part.get_filename() for part in message.iter_attachments()],
    }


@bp.get("")
def index() -> str:
    folder = _folder()
    files = sorted(folder.glob("*"), reverse=True)[:200] if folder.exists() else []
    return render_template("devmail/index.html", messages=[_read(p) for p in files])


@bp.get("/<name>")
def show(name: str) -> str:
    path = _folder() / name
    if "/" in name or not path.is_file():
        abort(404)
    return render_template("devmail/show.html", message=_read(path))


@bp.get("/<name>/html")
def html(name: str) -> Response:
    path = _folder() / name
    if "/" in name or not path.is_file():
        abort(404)
    body = _read(path).get("html") or ""
    response = Response(str(body), mimetype="text/html")
    # Rendered as an inert document: no scripts, its own origin.
    response.headers["Content-Security-Policy"] = (
        "sandbox; default-src 'none'; img-src * data:; style-src 'unsafe-inline'; "
        "frame-ancestors 'self'"
    )
    response.headers["X-Frame-Options"] = "SAMEORIGIN"
    return response
