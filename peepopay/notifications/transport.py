"""Sending one message: SMTP for email (or the development mailbox), Twilio for SMS."""

from __future__ import annotations

import base64
import email
import email.policy
import json
import smtplib
import ssl
import time
import uuid
from collections.abc import Sequence
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit, urlunsplit

from flask import current_app

from peepopay.notifications.models import CALDAV_CHANNEL

if TYPE_CHECKING:
    from peepopay.notifications.models import OutboxMessage


def send(message: OutboxMessage) -> None:
    if message.channel == "email":
        send_email(build_email(message))
    elif message.channel == "sms":
        send_sms(message.recipient, message.payload["body"], message.idempotency_key)
    elif message.channel == CALDAV_CHANNEL:
        from peepopay.notifications import caldav

        caldav.deliver(message.payload)
    else:
        raise ValueError(f"unknown channel {message.channel!r}")


def build_email(message: OutboxMessage) -> EmailMessage:
    payload = message.payload
    email = EmailMessage()
    email["From"] = payload.get("from") or current_app.config["MAIL_FROM"]
    email["To"] = message.recipient
    email["Subject"] = payload["subject"]
    if payload.get("reply_to"):
        email["Reply-To"] = payload["reply_to"]
    # Derived from the idempotency key, so a receiver can recognise a repeat.
    email["Message-ID"] = make_msgid(idstring=f"outbox-{message.id}", domain="peepopay.local")
    email["X-PeepoPay-Key"] = message.idempotency_key
    email.set_content(payload["text"])
    email.add_alternative(payload["html"], subtype="html")
    for attachment in payload.get("attachments", []):
        kind, *options = attachment["content_type"].split(";")
        maintype, subtype = kind.strip().split("/")
        # The type's parameters travel too: without charset=utf-8 mail clients read the UTF-8
        # text as Latin-1 (a dash turns into "â€"").
        params = dict(_parameter(option) for option in options if "=" in option)
        content = (
            base64.b64decode(attachment["content_b64"])
            if "content_b64" in attachment
            else attachment["content"].encode()
        )
        email.add_attachment(
            content,
            maintype=maintype,
            subtype=subtype,
            filename=attachment["filename"],
            params=params,
        )
    return email


def _parameter(option: str) -> tuple[str, str]:
    name, _, value = option.strip().partition("=")
    name = name.strip().lower()
    value = value.strip().strip('"')
    return name, value.lower() if name == "charset" else value


def send_email(email: EmailMessage) -> None:
    url = current_app.config["SMTP_URL"]
    if not url:
        _to_mailbox("email", email.as_bytes())
        return
    parts = urlsplit(url)
    host, port = parts.hostname or "localhost", parts.port
    smtp: smtplib.SMTP
    if parts.scheme == "smtps":
        smtp = smtplib.SMTP_SSL(host, port or 465, timeout=20, context=ssl.create_default_context())
    else:
        smtp = smtplib.SMTP(host, port or 25, timeout=20)
    with smtp:
        if parts.scheme == "smtp+starttls":
            smtp.starttls(context=ssl.create_default_context())
        if parts.username:
            smtp.login(unquote(parts.username), unquote(parts.password or ""))
        try:
            smtp.send_message(email)
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _ in exc.recipients.values()]
            if codes and all(500 <= code < 600 for code in codes):
                raise PermanentError(f"recipient refused: {exc.recipients}") from exc
            raise


class PermanentError(Exception):
    """The receiving side refused the message for good (bad number, unknown mailbox)."""


def send_sms(to: str, body: str, key: str) -> None:
    """Send through Twilio's SDK when TWILIO_* is configured, else into the dev mailbox."""
    config = current_app.config
    if not config["TWILIO_ACCOUNT_SID"]:
        _to_mailbox("sms", json.dumps({"to": to, "body": body, "key": key}).encode())
        return
    from twilio.base.exceptions import TwilioRestException
    from twilio.rest import Client

    http = _twilio_http_client(config.get("TWILIO_API_BASE"))
    try:
        client = Client(config["TWILIO_ACCOUNT_SID"], config["TWILIO_AUTH_TOKEN"], http_client=http)
        client.messages.create(to=to, from_=config["TWILIO_FROM_NUMBER"], body=body)
    except TwilioRestException as exc:
        # 4xx other than rate limiting: the number or the request is wrong; retrying won't help.
        if 400 <= exc.status < 500 and exc.status != 429:
            raise PermanentError(f"Twilio refused the SMS ({exc.code}): {exc.msg}") from exc
        raise
    finally:
        if http.session is not None:
            http.session.close()


def _twilio_http_client(api_base: str | None) -> Any:
    """Twilio's own HTTP client, sending every request to `api_base` when set (tests point it
    at a local recording endpoint); the SDK keeps its paths, only scheme and host change."""
    from twilio.http.http_client import TwilioHttpClient

    class RedirectingHttpClient(TwilioHttpClient):
        def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
            if api_base:
                target = urlsplit(api_base)
                url = urlunsplit(urlsplit(url)._replace(scheme=target.scheme, netloc=target.netloc))
            return super().request(method, url, *args, **kwargs)

    return RedirectingHttpClient(timeout=15)


def _to_mailbox(kind: str, data: bytes) -> None:
    """Development transport: one file per message, read by the /dev/mailbox page."""
    folder = Path(current_app.config["MAILBOX_DIR"])
    folder.mkdir(parents=True, exist_ok=True)
    suffix = "eml" if kind == "email" else "sms.json"
    (folder / f"{time.time_ns()}-{uuid.uuid4().hex[:8]}.{suffix}").write_bytes(data)


def forget_in_mailbox(needles: Sequence[str]) -> int:
    """Remove every development mailbox file that mentions one of `needles` (a person's name,
    email address or phone number), read as sent and decoded; returns how many went."""
    folder = Path(current_app.config["MAILBOX_DIR"])
    needles = [needle for needle in needles if needle]
    if not needles or not folder.is_dir():
        return 0
    removed = 0
    for path in folder.iterdir():
        if not path.is_file():
            continue
        text = _mailbox_text(path)
        if any(needle in text for needle in needles):
            path.unlink(missing_ok=True)
            removed += 1
    return removed


def _mailbox_text(path: Path) -> str:
    """A mailbox file's text as a reader sees it: headers and every part decoded (a body may
    be base64 or quoted-printable on disk)."""
    raw = path.read_bytes()
    text = raw.decode(errors="replace")
    if path.suffix != ".eml":
        return text
    message = email.message_from_bytes(raw, policy=email.policy.default)
    parts = [str(value) for value in message.values()]
    for part in message.walk():
        if not part.is_multipart():
            try:
                parts.append(str(part.get_content()))
            except (LookupError, ValueError):
                continue
    return text + "\n".join(parts)
