"""The production topology as real processes: Caddy → gunicorn, an RQ worker, Redis, the Stripe
emulator and an SQLite file database, as `make run` wires them. Every request goes over TCP."""

from __future__ import annotations

import gzip
import re
import shutil
import subprocess
from collections.abc import Iterator

import pytest

from peepopay.config import ROOT
from peepopay.security import DASHBOARD_CSP, widget_csp
from tests.servers import RedisServer, SMTPSink
from tests.stack import BIN, SLUG, Stack, fetch

pytestmark = pytest.mark.slow

NEW_TRADIE = "outage.owner@example.com"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, smtp: SMTPSink) -> Iterator[Stack]:
    redis = RedisServer().start()
    stack = Stack(tmp_path_factory.mktemp("topology"), redis, smtp)
    try:
        stack.up()
        yield stack
    finally:
        stack.down()
        redis.stop()
        shutil.rmtree(redis.dir, ignore_errors=True)


def test_dashboard_pages_through_caddy(stack: Stack) -> None:
    reply = stack.get("/auth/login", Accept_Encoding="gzip", X_Request_Id="topology-req-0001")
    assert reply.status == 200
    assert reply.header("Content-Encoding") == "gzip"  # Caddy's `encode` for dynamic pages
    assert "Log in" in gzip.decompress(reply.body).decode()
    assert reply.header("Content-Security-Policy") == DASHBOARD_CSP
    assert "frame-ancestors 'none'" in DASHBOARD_CSP
    assert reply.header("X-Frame-Options") == "DENY"
    assert reply.header("X-Content-Type-Options") == "nosniff"
    assert reply.header("Server") is None
    # One request id end to end: the client's, echoed, in the app's log and Caddy's.
    assert reply.header("X-Request-Id") == "topology-req-0001"
    stack.wait(
        lambda: any(
            line.get("request_id") == "topology-req-0001" for line in stack.app_log_lines()
        ),
        "the app's access line",
    )
    [line] = [
        line for line in stack.app_log_lines() if line.get("request_id") == "topology-req-0001"
    ]
    assert line["path"] == "/auth/login" and line["status"] == 200
    access = stack.log("access").read_text()
    assert '"request_id":"topology-req-0001"' in access

    fresh = stack.get("/healthz")
    assert re.fullmatch(r"[0-9a-f-]{36}", fresh.header("X-Request-Id") or "")


def test_static_files_come_precompressed_with_cache_headers(stack: Stack) -> None:
    html = stack.get("/auth/login").text()
    css_url = re.search(r'href="(/static/css/app\.css\?v=[0-9a-f]+)"', html)
    assert css_url, html
    css = (ROOT / "static" / "css" / "app.css").read_bytes()

    reply = stack.get(css_url.group(1), Accept_Encoding="gzip")
    assert reply.status == 200
    assert reply.header("Content-Encoding") == "gzip"
    assert gzip.decompress(reply.body) == css
    assert reply.header("Cache-Control") == "public, max-age=31536000, immutable"
    assert reply.header("Content-Security-Policy") == DASHBOARD_CSP
    assert reply.header("Vary") == "Accept-Encoding"

    if shutil.which("zstd"):
        reply = stack.get(css_url.group(1), Accept_Encoding="zstd, gzip")
        assert reply.header("Content-Encoding") == "zstd"
        unpacked = subprocess.run(
            ["zstd", "-d", "-c"], input=reply.body, capture_output=True, check=True
        ).stdout
        assert unpacked == css

    htmx = stack.get("/static/vendor/htmx-2.0.11.min.js", Accept_Encoding="gzip")
    assert htmx.header("Content-Encoding") == "gzip"
    assert htmx.header("Cache-Control") == "public, max-age=31536000, immutable"
    assert len(htmx.body) < 20_000  # the widget's JavaScript budget is 20 KB gzipped

    plain = stack.get("/static/css/app.css")
    assert plain.body == css
    assert plain.header("Cache-Control") == "public, max-age=3600"


def test_widget_is_frameable_and_cookieless(stack: Stack) -> None:
    reply = stack.get(f"/book/{SLUG}", Accept_Encoding="gzip")
    assert reply.status == 200
    assert "Leaking tap" in gzip.decompress(reply.body).decode()
    assert reply.header("Set-Cookie") is None
    assert reply.header("X-Frame-Options") is None
    assert (reply.header("Content-Security-Policy") or "").endswith("frame-ancestors *")
    # The app itself sets no cookie either: Caddy's `-Set-Cookie` is only a second line.
    direct = fetch(stack.app_port, f"/book/{SLUG}")
    assert direct.status == 200 and direct.header("Set-Cookie") is None

    loader = stack.get("/embed.js", Accept_Encoding="gzip")
    assert loader.status == 200
    assert loader.header("Content-Encoding") == "gzip"
    assert gzip.decompress(loader.body) == (ROOT / "widget" / "embed.js").read_bytes()
    assert len(loader.body) <= 1536  # the loader budget: 1.5 KB gzipped
    assert loader.header("X-Frame-Options") is None
    assert loader.header("Cross-Origin-Resource-Policy") == "cross-origin"
    # Caddy serves it from disk with the same caching as the app's own route.
    assert loader.header("Cache-Control") == fetch(stack.app_port, "/embed.js").header(
        "Cache-Control"
    )
    assert loader.header("Accept-Ranges") == "bytes"  # Caddy's file_server, not the app


def test_caddy_headers_agree_with_the_app() -> None:
    adapted = subprocess.run(
        [
            str(BIN / "caddy"),
            "adapt",
            "--config",
            str(ROOT / "Caddyfile"),
            "--adapter",
            "caddyfile",
        ],
        capture_output=True,
        check=True,
        text=True,
    ).stdout
    policies = set(re.findall(r'"Content-Security-Policy":\["([^"]+)"\]', adapted))
    assert policies == {DASHBOARD_CSP, widget_csp("*")}


def test_x_forwarded_for_from_outside_is_not_trusted(stack: Stack) -> None:
    # Every attempt claims a different address, yet all count against the one real client
    # (127.0.0.1), and the app logs that address: Caddy replaced what the client sent.
    statuses = [
        stack.form(
            "/auth/login",
            {"email": f"nobody{n}@example.com", "password": "wrong"},
            X_Forwarded_For=f"198.51.100.{n}",
            X_Request_Id=f"spoofed-login-{n:04d}",
        ).status
        for n in range(6)
    ]
    assert statuses == [422] * 5 + [429]
    posts = [
        line
        for line in stack.app_log_lines()
        if str(line.get("request_id", "")).startswith("spoofed-login-") and line["method"] == "POST"
    ]
    assert len(posts) == 6
    assert {line["client"] for line in posts} == {"127.0.0.1"}


def test_metrics_show_a_booking_just_made(stack: Stack) -> None:
    def created() -> float:
        text = stack.get("/metrics").text()
        match = re.search(r"^peepopay_bookings_created_total (\S+)$", text, re.M)
        return float(match.group(1)) if match else 0.0

    before = created()
    reply = stack.book()
    assert reply.status == 201, reply.text()
    assert reply.json()["status"] == "pending_payment"
    assert created() == before + 1
    text = stack.get("/metrics").text()
    assert 'peepopay_request_seconds_count{endpoint="api.book",method="POST",status="201"}' in text
    assert "peepopay_queue_depth" in text and 'peepopay_outbox_backlog{status="pending"}' in text


def test_redis_outage(stack: Stack) -> None:
    """Redis stops: not ready, but the widget and bookings work and limits hold; it comes back
    and the messages written meanwhile are delivered."""
    stack.smtp.clear()
    stack.redis.stop()
    try:
        ready = stack.get("/readyz")
        assert ready.status == 503
        assert ready.json()["checks"]["redis"]["ok"] is False

        assert stack.get(f"/book/{SLUG}").status == 200
        booked = stack.book()
        assert booked.status == 201, booked.text()
        # A sign-up writes its confirmation email to the outbox; no job can carry it now.
        signup = stack.form(
            "/auth/signup",
            {
                "email": NEW_TRADIE,
                "password": "a long enough password",
                "business_name": "Outage Co",
            },
        )
        assert signup.status == 303, signup.text()
        waiting = "SELECT count(*) FROM outbox_messages WHERE recipient = :to AND status = :status"
        assert stack.sql(waiting, to=NEW_TRADIE, status="pending") == 1

        # Limits still apply, from each gunicorn worker's memory: 2 workers × 5 per minute.
        statuses = [
            stack.form(
                "/auth/login",
                {"email": f"outage{n}@example.com", "password": "wrong"},
                X_Forwarded_For=f"198.51.100.{n}",
            ).status
            for n in range(11)
        ]
        assert set(statuses) <= {422, 429}, statuses
        assert 429 in statuses
    finally:
        stack.redis.start()

    stack.wait(lambda: stack.get("/readyz").status == 200, "readyz after Redis returned")
    # The confirmation email was written while Redis was away, so no job carries it; the
    # worker's sweep hands it to RQ once Redis answers again.
    stack.wait(lambda: stack.smtp.to(NEW_TRADIE), "the confirmation email", timeout=30)
    stack.wait(
        lambda: (
            stack.sql("SELECT count(*) FROM outbox_messages WHERE status IN ('pending', 'sending')")
            == 0
        ),
        "every waiting message",
    )
