"""Sending one message: SMTP for email (or the development mailbox), Twilio for SMS."""

from __future__ import annotations

import json
import smtplib
import ssl
import time
import uuid
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlsplit

from flask import current_app

if TYPE_CHECKING:
    from peepopay.notifications.models import OutboxMessage


def send(message: OutboxMessage) -> None:
    if message.channel == "email":
        send_email(build_email(message))
    elif message.channel == "sms":
        send_sms(message.recipient, message.payload["body"], message.idempotency_key)
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
        maintype, subtype = attachment["content_type"].split(";")[0].split("/")
        email.add_attachment(
            attachment["content"].encode(),
            maintype=maintype,
            subtype=subtype,
            filename=attachment["filename"],
        )
    return email


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
        smtp.send_message(email)


def send_sms(to: str, body: str, key: str) -> None:
    config = current_app.config
    if not config["TWILIO_ACCOUNT_SID"]:
        _to_mailbox("sms", json.dumps({"to": to, "body": body, "key": key}).encode())
        return
    from twilio.rest import Client

    client = Client(config["TWILIO_ACCOUNT_SID"], config["TWILIO_AUTH_TOKEN"])
    if config.get("TWILIO_API_BASE"):  # tests point the SDK at a local recording endpoint
        client.api.base_url = config["TWILIO_API_BASE"]
    client.messages.create(to=to, from_=config["TWILIO_FROM_NUMBER"], body=body)


def _to_mailbox(kind: str, data: bytes) -> None:
    """Development transport: one file per message, read by the /dev/mailbox page."""
    folder = Path(current_app.config["MAILBOX_DIR"])
    folder.mkdir(parents=True, exist_ok=True)
    suffix = "eml" if kind == "email" else "sms.json"
    (folder / f"{time.time_ns()}-{uuid.uuid4().hex[:8]}.{suffix}").write_bytes(data)
