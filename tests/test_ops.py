"""Operations: health, readiness, metrics access, JSON logs with masking, Sentry, static assets."""

from __future__ import annotations

import gzip
import json
import logging
import os
import shutil
import subprocess
import sys
import threading
import zlib
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from prometheus_client import REGISTRY

from peepopay import assets
from peepopay.config import ROOT
from peepopay.ops import logs
from tests.fixtures.clients import csrf_token
from tests.servers import free_port

# --- health and readiness ------------------------------------------------------------------


def test_healthz(client: FlaskClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}


def test_readyz_reports_queue_depth_and_outbox_backlog(app: Flask, client: FlaskClient) -> None:
    from peepopay.extensions import db
    from peepopay.notifications import outbox

    with app.app_context():
        for n in range(2):
            outbox.add(
                db.session,
                kind="test",
                channel="email",
                recipient=f"r{n}@example.com",
                payload={"subject": "s", "text": "t", "html": "h"},
                key=f"ops-test-{n}",
            )
        db.session.commit()  # enqueues both after the commit
        db.session.remove()

    response = client.get("/readyz")
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["status"] == "ready"
    checks = body["checks"]
    assert checks["database"]["ok"] and checks["redis"]["ok"]
    assert checks["outbox"]["backlog"] == 2
    assert checks["outbox"]["failed"] == 0
    assert checks["queue"]["depth"] == 2


@pytest.fixture
def dead_redis(app: Flask, app_config: dict[str, Any]) -> Iterator[FlaskClient]:
    """A client of the same app pointed at a Redis port nothing listens on."""
    from peepopay import create_app
    from peepopay.config import TestingConfig
    from peepopay.extensions import db, limiter

    url = f"redis://127.0.0.1:{free_port()}/0"
    broken = create_app(
        TestingConfig, {**app_config, "REDIS_URL": url, "RATELIMIT_STORAGE_URI": url}
    )
    yield broken.test_client()
    with broken.app_context():
        db.engine.dispose()
    broken.extensions["redis"].close()
    limiter._storage_dead = False  # the shared Limiter would stay on its fallback a while


def test_readyz_is_503_without_redis(dead_redis: FlaskClient) -> None:
    response = dead_redis.get("/readyz")
    assert response.status_code == 503
    body = response.get_json()
    assert body["status"] == "unavailable"
    assert body["checks"]["database"]["ok"] is True
    assert body["checks"]["redis"]["ok"] is False
    assert "queue" not in body["checks"]


def test_rate_limits_fall_back_to_memory_without_redis(dead_redis: FlaskClient) -> None:
    dead_redis.application.config["LOGIN_LIMIT_PER_IP"] = "3 per minute"
    token = csrf_token(dead_redis)
    statuses = [
        dead_redis.post(
            "/auth/login",
            data={"email": "nobody@example.com", "password": "wrong", "csrf_token": token},
        ).status_code
        for _ in range(5)
    ]
    assert statuses == [422, 422, 422, 429, 429]


# --- metrics --------------------------------------------------------------------------------


def test_metrics_from_loopback(client: FlaskClient) -> None:
    client.get("/healthz")
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.content_type.startswith("text/plain")
    text = response.get_data(as_text=True)
    assert 'peepopay_request_seconds_count{endpoint="ops.healthz",method="GET",status="200"}' in (
        text
    )
    assert 'peepopay_outbox_backlog{status="pending"} 0.0' in text
    assert 'peepopay_queue_depth{queue="peepopay-test"} 0.0' in text
    assert "peepopay_redis_up 1.0" in text
    assert "peepopay_bookings_created_total" in text


@pytest.mark.parametrize(
    ("remote", "headers", "status"),
    [
        ("203.0.113.7", {}, 403),
        ("203.0.113.7", {"Authorization": "Bearer wrong"}, 403),
        ("203.0.113.7", {"Authorization": "Bearer s3cret-token"}, 200),
        # The one proxy in front (on loopback) appends the real peer; what the client wrote
        # before it is not believed (ProxyFix x_for=1 takes the last address).
        ("127.0.0.1", {"X-Forwarded-For": "127.0.0.1, 203.0.113.7"}, 403),
        ("127.0.0.1", {"X-Forwarded-For": "::1"}, 200),
        # Another peer's forwarded address is not believed at all (tests/test_forwarded.py).
        ("10.0.0.2", {"X-Forwarded-For": "127.0.0.1"}, 403),
        ("::1", {}, 200),
    ],
)
def test_metrics_access(
    client: FlaskClient, remote: str, headers: dict[str, str], status: int
) -> None:
    client.application.config["METRICS_TOKEN"] = "s3cret-token"
    response = client.get("/metrics", headers=headers, environ_base={"REMOTE_ADDR": remote})
    assert response.status_code == status


def test_request_latency_is_recorded_per_endpoint(client: FlaskClient) -> None:
    labels = {"method": "GET", "endpoint": "ops.healthz", "status": "200"}
    before = REGISTRY.get_sample_value("peepopay_request_seconds_count", labels) or 0
    client.get("/healthz")
    client.get("/healthz")
    after = REGISTRY.get_sample_value("peepopay_request_seconds_count", labels)
    assert after == before + 2


# --- logs -----------------------------------------------------------------------------------


@pytest.fixture
def json_lines(capsys: pytest.CaptureFixture[str]) -> Iterator[Any]:
    """Our JSON handler on the access logger; returns a reader of the lines written."""
    handler = logs.make_handler("json")
    logs.access_log.addHandler(handler)
    logs.access_log.setLevel(logging.INFO)

    def read() -> list[dict[str, Any]]:
        return [json.loads(line) for line in capsys.readouterr().err.splitlines() if line]

    yield read
    logs.access_log.removeHandler(handler)


def test_one_json_line_per_request(client: FlaskClient, json_lines: Any) -> None:
    response = client.get("/auth/login?next=/dashboard", headers={"X-Request-Id": "req-12345678"})
    assert response.headers["X-Request-Id"] == "req-12345678"
    [line] = json_lines()
    assert line["request_id"] == "req-12345678"
    assert line["method"] == "GET"
    assert line["path"] == "/auth/login"
    assert line["query"] == "next=/dashboard"
    assert line["status"] == 200
    assert line["endpoint"] == "auth.login"
    assert line["tradie_id"] is None
    assert isinstance(line["duration_ms"], float)
    assert line["level"] == "info" and line["logger"] == "peepopay.access"


def test_access_line_names_the_signed_in_tradie(
    signed_in: FlaskClient, tradie_id: int, json_lines: Any
) -> None:
    json_lines()  # drop the sign-in's lines
    signed_in.get("/dashboard")
    [line] = json_lines()
    assert line["tradie_id"] == tradie_id
    assert line["path"] == "/dashboard"


def test_request_id_is_made_when_missing_or_malformed(client: FlaskClient) -> None:
    made = client.get("/healthz").headers["X-Request-Id"]
    assert logs.REQUEST_ID_RE.match(made)
    odd = client.get("/healthz", headers={"X-Request-Id": "<script>"}).headers["X-Request-Id"]
    assert odd != "<script>" and logs.REQUEST_ID_RE.match(odd)
    assert odd != made


def test_logs_mask_emails_and_phone_numbers(client: FlaskClient, json_lines: Any) -> None:
    client.get("/auth/login?email=jane.doe%40example.com&phone=%2B64%2021%20123%204567")
    logging.getLogger("peepopay.access").warning(
        "could not reach %s at %s", "jane.doe@example.com", "021 123 4567"
    )
    lines = json_lines()
    text = json.dumps(lines)
    assert "jane.doe" not in text and "123 4567" not in text
    assert lines[0]["query"] == "email=j***@example.com&phone=+*********67"
    assert lines[1]["message"] == "could not reach j***@example.com at ********67"


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("jane@example.co.nz", "j***@example.co.nz"),
        ("+64 21 123 4567", "+*********67"),
        ("(09) 123-4567", "*******67"),
        ("415-555-0100", "********00"),
        # Not personal data: dates, times, decimals, ids, addresses, amounts.
        ("2026-09-27T08:00:00+13:00", "2026-09-27T08:00:00+13:00"),
        ("took 0.012345678 s", "took 0.012345678 s"),
        ("booking 12345678", "booking 12345678"),
        ("pi_3Nxyz0211234567", "pi_3Nxyz0211234567"),
        ("3f2a1b4c-1234-4abc-8def-0123456789ab", "3f2a1b4c-1234-4abc-8def-0123456789ab"),
        ("127.0.0.1", "127.0.0.1"),
    ],
)
def test_mask(text: str, masked: str) -> None:
    assert logs.mask(text) == masked


# --- Sentry ---------------------------------------------------------------------------------


class _Sink(BaseHTTPRequestHandler):
    bodies: list[bytes]

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if self.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        elif self.headers.get("Content-Encoding") == "deflate":
            body = zlib.decompress(body)
        self.bodies.append(body)
        self.send_response(200)
        self.end_headers()

    def log_message(self, *_: Any) -> None:
        pass


SENTRY_SCRIPT = """
import sys
from peepopay import create_app
from peepopay.config import TestingConfig

app = create_app(TestingConfig, {"SENTRY_DSN": sys.argv[1], "PROPAGATE_EXCEPTIONS": False})

@app.get("/boom")
def boom():
    raise ValueError("no slot for jane.doe@example.com on +64 21 123 4567")

client = app.test_client()
client.set_cookie("__Host-session", "secret-cookie")
assert client.get("/boom", headers={"X-Request-Id": "sentry-req-1"}).status_code == 500
import sentry_sdk
sentry_sdk.flush(5)
"""


def test_sentry_reports_errors_without_personal_data() -> None:
    bodies: list[bytes] = []
    handler = type("Sink", (_Sink,), {"bodies": bodies})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        dsn = f"http://publickey@127.0.0.1:{server.server_address[1]}/1"
        # A separate process: sentry_sdk.init patches Flask for the whole interpreter.
        subprocess.run([sys.executable, "-c", SENTRY_SCRIPT, dsn], cwd=ROOT, check=True)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
    text = b"".join(bodies).decode()
    assert "ValueError" in text
    assert "no slot for j***@example.com on +*********67" in text
    assert "jane.doe" not in text and "123 4567" not in text
    assert "secret-cookie" not in text
    assert "sentry-req-1" in text


# --- static assets --------------------------------------------------------------------------


def test_static_urls_carry_a_content_hash(app: Flask, client: FlaskClient) -> None:
    expected = assets.file_hash(ROOT / "static" / "css" / "app.css")
    html = client.get("/auth/login").get_data(as_text=True)
    assert f"/static/css/app.css?v={expected}" in html
    versioned = client.get(f"/static/css/app.css?v={expected}")
    assert versioned.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    plain = client.get("/static/css/app.css")
    assert plain.headers["Cache-Control"] == "public, max-age=3600"
    versioned.close()
    plain.close()


def test_a_static_files_hash_is_worked_out_once_per_process(
    app: Flask, client: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    hashed: list[str] = []
    real = assets.file_hash

    def counted(path: Path) -> str:
        hashed.append(path.name)
        return real(path)

    monkeypatch.setattr(assets, "file_hash", counted)
    expected = f"/static/css/app.css?v={real(ROOT / 'static' / 'css' / 'app.css')}"
    for _ in range(3):
        assert expected in client.get("/auth/login").get_data(as_text=True)
    assert hashed.count("app.css") == 1, hashed


def test_build_public_precompresses_and_prunes(tmp_path: Path) -> None:
    out = tmp_path / "public"
    (out / "static" / "gone").mkdir(parents=True)
    (out / "static" / "gone" / "old.js").write_text("stale")
    written = assets.build_public(out)
    assert "static/css/app.css" in written
    assert "embed.js" in written
    css = (ROOT / "static" / "css" / "app.css").read_bytes()
    assert (out / "static" / "css" / "app.css").read_bytes() == css
    assert gzip.decompress((out / "static" / "css" / "app.css.gz").read_bytes()) == css
    if shutil.which("zstd"):
        unpacked = subprocess.run(
            ["zstd", "-d", "-c", str(out / "static" / "css" / "app.css.zst")],
            capture_output=True,
            check=True,
        ).stdout
        assert unpacked == css
    assert not (out / "static" / "gone").exists()
    assert assets.build_public(out) == []  # nothing changed, nothing written


def test_metrics_import_creates_a_missing_multiprocess_folder(tmp_path: Path) -> None:
    """The worker and one-off commands may inherit the variable without gunicorn's set-up."""
    folder = tmp_path / "not-yet"
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(folder)}
    subprocess.run(
        [sys.executable, "-c", "import peepopay.ops.metrics"], cwd=ROOT, env=env, check=True
    )
    assert folder.is_dir()


def test_favicon_is_served_not_a_404(client):
    response = client.get("/favicon.ico")
    assert response.status_code == 200
    assert response.mimetype == "image/x-icon"
    assert response.data[:4] == b"\x00\x00\x01\x00"  # an ICO file
    assert "Set-Cookie" not in response.headers
    assert 'rel="icon" href="/favicon.ico"' in client.get("/auth/login").get_data(as_text=True)
