"""Oversized request bodies through the real Caddy → gunicorn topology: Caddy refuses them itself
with 413, and no client's bad upload ever takes the only upstream out of rotation."""

from __future__ import annotations

import http.client
import json
import re
import shutil
import socket
import subprocess
import threading
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from peepopay.commands import DEMO_EMAIL, DEMO_PASSWORD
from peepopay.config import ROOT, Config
from peepopay.widget.routes import PHOTO_UPLOAD_LIMIT
from tests.fixtures.clients import csrf_from
from tests.servers import RedisServer, SMTPSink
from tests.stack import BIN, SLUG, Reply, Stack, fetch

pytestmark = pytest.mark.slow

MB = 1024 * 1024
BRANDING = "/dashboard/settings/branding"
PNG = b"\x89PNG\r\n\x1a\n"
# Where a client may send a body: the widget's booking API, both Stripe webhooks, the logo form.
TARGETS = [
    (f"/api/widget/{SLUG}/book", "application/json"),
    ("/webhooks/stripe", "application/json"),
    ("/webhooks/stripe/connect", "application/json"),
    (BRANDING, "multipart/form-data; boundary=peepopay-upload"),
]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, smtp: SMTPSink) -> Iterator[Stack]:
    redis = RedisServer().start()
    stack = Stack(tmp_path_factory.mktemp("body-limits"), redis, smtp)
    try:
        stack.up()
        yield stack
    finally:
        stack.down()
        redis.stop()
        shutil.rmtree(redis.dir, ignore_errors=True)


def upload(
    port: int,
    path: str,
    content_type: str,
    size: int,
    *,
    chunked: bool = False,
    hang_up_after: int | None = None,
    request_id: str = "",
) -> Reply | None:
    """POST `size` bytes as a browser does: keep sending while listening, so an answer that
    comes before the body is read (and the connection closing after it) is still seen. Returns
    the answer, or None when the client hangs up after `hang_up_after` bytes without waiting."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    framing = "Transfer-Encoding: chunked" if chunked else f"Content-Length: {size}"
    head = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: {content_type}\r\n"
        f"{framing}\r\nX-Request-Id: {request_id or uuid.uuid4()}\r\nConnection: close\r\n\r\n"
    )
    piece = b"0" * (64 * 1024)

    def send_body() -> None:
        sent = 0
        try:
            while sent < size:
                part = piece[: min(len(piece), size - sent)]
                if hang_up_after is not None and sent + len(part) > hang_up_after:
                    return
                sock.sendall(b"%x\r\n%s\r\n" % (len(part), part) if chunked else part)
                sent += len(part)
            if chunked:
                sock.sendall(b"0\r\n\r\n")
        except OSError:
            pass  # the server answered early and closed the connection: expected

    try:
        sock.sendall(head.encode())
        sender = threading.Thread(target=send_body, daemon=True)
        sender.start()
        if hang_up_after is not None:
            sender.join(30)
            return None
        response = http.client.HTTPResponse(sock)
        response.begin()
        return Reply(response.status, response.headers, response.read())
    finally:
        sock.close()


def healthy(stack: Stack) -> int:
    return fetch(stack.port, "/healthz").status


def test_oversized_bodies_are_refused_by_caddy_and_the_site_stays_up(stack: Stack) -> None:
    for n in range(20):
        path, content_type = TARGETS[n % len(TARGETS)]
        reply = upload(stack.port, path, content_type, 10 * MB, request_id=f"oversized-{n:04d}")
        assert reply is not None
        assert (path, reply.status) == (path, 413)
        assert (path, healthy(stack)) == (path, 200)
        if path.startswith("/api/"):  # the API's own error shape
            assert reply.header("Content-Type") == "application/json"
            assert reply.json() == {"error": {"code": 413, "message": "That upload is too large."}}
        else:
            assert reply.text() == "That upload is too large."
    # Caddy answered each itself: none of them reached the app.
    ids = [str(line.get("request_id")) for line in stack.app_log_lines()]
    assert not [found for found in ids if found.startswith("oversized-")]


def test_oversized_chunked_bodies_are_refused_and_the_site_stays_up(stack: Stack) -> None:
    # No Content-Length to judge by: Caddy counts the bytes as it passes them on and stops at
    # the limit, half way through the app's read, which must not count against the upstream.
    for path, content_type in TARGETS:
        reply = upload(stack.port, path, content_type, 10 * MB, chunked=True)
        assert (path, reply and reply.status) == (path, 413)
        assert (path, healthy(stack)) == (path, 200)


def test_a_client_hanging_up_mid_upload_does_not_take_the_site_down(stack: Stack) -> None:
    for path, content_type in TARGETS:
        upload(stack.port, path, content_type, 512 * 1024, hang_up_after=128 * 1024)
        assert (path, healthy(stack)) == (path, 200)
        assert stack.get("/auth/login").status == 200


def test_normal_bodies_still_reach_the_app(stack: Stack) -> None:
    booked = stack.book()
    assert booked.status == 201, booked.text()

    # A large but legitimate webhook passes Caddy; the app judges it (here: no signature).
    event = json.dumps({"id": "evt_big", "data": {"object": {"notes": "x" * 200_000}}}).encode()
    for path in ("/webhooks/stripe", "/webhooks/stripe/connect"):
        reply = fetch(
            stack.port,
            path,
            method="POST",
            headers={"Content-Type": "application/json", "Stripe-Signature": "t=1,v1=00"},
            body=event,
        )
        assert (path, reply.status) == (path, 400)


def multipart(fields: dict[str, str], logo: bytes) -> tuple[str, bytes]:
    boundary = uuid.uuid4().hex
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
        for name, value in fields.items()
    ]
    parts.append(
        f'--{boundary}\r\nContent-Disposition: form-data; name="logo"; filename="logo.png"\r\n'
        "Content-Type: image/png\r\n\r\n".encode()
        + logo
        + b"\r\n"
    )
    return f"multipart/form-data; boundary={boundary}", b"".join(
        parts
    ) + f"--{boundary}--\r\n".encode()


def cookie_header(jar: dict[str, str]) -> str:
    return "; ".join(f"{name}={value}" for name, value in jar.items())


def test_logo_uploads_get_the_larger_limit(stack: Stack) -> None:
    login = stack.form("/auth/login", {"email": DEMO_EMAIL, "password": DEMO_PASSWORD})
    assert login.status == 303, login.text()
    jar = login.cookies()
    page = fetch(stack.port, "/dashboard/settings", headers={"Cookie": cookie_header(jar)})
    assert page.status == 200, page.status
    jar.update(page.cookies())  # a new CSRF secret in the session: login cleared the old one
    fields = {"csrf_token": csrf_from(page.text()), "brand_color": "#0b7285"}

    def post_logo(logo: bytes) -> Reply:
        content_type, body = multipart(fields, logo)
        return fetch(
            stack.port,
            BRANDING,
            method="POST",
            headers={"Content-Type": content_type, "Cookie": cookie_header(jar)},
            body=body,
        )

    # Over the 1 MiB limit of every other route, under the logo route's: the app itself answers
    # with its own message, which a tradie can act on.
    too_big = post_logo(PNG + b"\0" * (3 * MB // 2))
    assert too_big.status == 422
    assert "Logo must be at most 1 MB." in too_big.text()

    saved = post_logo(PNG + b"\0" * (MB - len(PNG)))
    assert saved.status == 303, saved.text()
    logo = "SELECT count(*) FROM tradies WHERE email = :email AND logo_path IS NOT NULL"
    assert stack.sql(logo, email=DEMO_EMAIL) == 1


def values(tree: Any, key: str) -> Iterator[Any]:
    """Every value under `key` anywhere in a JSON document."""
    if isinstance(tree, dict):
        for name, value in tree.items():
            if name == key:
                yield value
            yield from values(value, key)
    elif isinstance(tree, list):
        for item in tree:
            yield from values(item, key)


def test_caddy_body_limits_agree_with_the_app() -> None:
    adapted = json.loads(
        subprocess.run(
            [str(BIN / "caddy"), "adapt", "--config", str(ROOT / "Caddyfile")],
            capture_output=True,
            check=True,
            text=True,
        ).stdout
    )
    limits = sorted(values(adapted, "max_size"))
    # The logo form gets the app's own limit, the widget's photo upload the app's limit for
    # that route; everything else a smaller one.
    assert limits == [limits[0], Config.MAX_CONTENT_LENGTH, PHOTO_UPLOAD_LIMIT]
    assert limits[0] < Config.MAX_CONTENT_LENGTH
    # The up-front Content-Length check uses the same numbers, each for its route.
    [expression] = [e for e in values(adapted, "expr") if "Content-Length" in e]
    assert sorted(int(n) for n in re.findall(r"\b\d{6,}\b", expression)) == limits
    assert f'== "{BRANDING}" ? {Config.MAX_CONTENT_LENGTH} : (' in expression
    assert f'/photos/[^/]+$") ? {PHOTO_UPLOAD_LIMIT} : {limits[0]})' in expression
    # No passive health checks: a failure a client can cause never marks an upstream down.
    [checks] = values(adapted, "health_checks")
    assert set(checks) == {"active"}
