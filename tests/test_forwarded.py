"""X-Forwarded-For and -Proto are believed only from the proxy in front (Caddy: loopback, or the
addresses FORWARDED_ALLOW_IPS names), for gunicorn and the app alike. A peer that reaches
gunicorn directly cannot choose the address the rate limits count or /metrics admits, nor pass
as HTTPS. A real gunicorn process with gunicorn.conf.py, reached from two loopback addresses:
127.0.0.1 (the proxy) and 127.0.0.2 (anyone else)."""

from __future__ import annotations

import http.client
import ipaddress
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from flask import Flask

from peepopay import create_app
from peepopay.config import ROOT, ConfigError, TestingConfig
from tests.servers import free_port, wait_for_port

BIN = Path(sys.executable).parent
PROXY = "127.0.0.1"
STRANGER = "127.0.0.2"
SPOOFED = "203.0.113.9"


class Gunicorn:
    def __init__(self, port: int, log: Path) -> None:
        self.port = port
        self.log = log

    def get(self, path: str, source: str, headers: dict[str, str]) -> http.client.HTTPResponse:
        conn = http.client.HTTPConnection(
            "127.0.0.1", self.port, timeout=30, source_address=(source, 0)
        )
        try:
            conn.request("GET", path, headers=headers)
            response = conn.getresponse()
            response.read()
            return response
        finally:
            conn.close()

    def wait_ready(self, process: subprocess.Popen[bytes]) -> None:
        """Until a worker has loaded the app and answers."""
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"gunicorn exited:\n{self.log.read_text()[-3000:]}")
            try:
                if self.get("/healthz", PROXY, {}).status == 200:
                    return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError(f"gunicorn never answered:\n{self.log.read_text()[-3000:]}")

    def client_logged(self, probe: str) -> str:
        """The client address the app logged for the request with query `probe=<probe>`."""
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            for line in self.log.read_text().splitlines():
                if line.startswith("{"):
                    entry: dict[str, Any] = json.loads(line)
                    if entry.get("query") == f"probe={probe}":
                        return str(entry["client"])
            time.sleep(0.1)
        raise AssertionError(f"no access line for {probe}:\n{self.log.read_text()[-3000:]}")


@pytest.fixture
def gunicorn(tmp_path: Path, redis_url: str) -> Iterator[Gunicorn]:
    port = free_port()
    env = {
        **os.environ,
        "PEEPOPAY_ENV": "development",
        "PEEPOPAY_INSTANCE": str(tmp_path / "instance"),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'peepopay.db'}",
        "REDIS_URL": redis_url,
        "LOG_FORMAT": "json",
        "LOG_LEVEL": "INFO",
        "WEB_CONCURRENCY": "1",
        "GUNICORN_THREADS": "2",
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics"),
    }
    for name in ("FORWARDED_ALLOW_IPS", "TRUSTED_PROXIES", "METRICS_TOKEN", "SENTRY_DSN"):
        env.pop(name, None)
    log = tmp_path / "web.log"
    with log.open("ab") as out:
        process = subprocess.Popen(
            [
                str(BIN / "gunicorn"),
                "-c",
                str(ROOT / "gunicorn.conf.py"),
                "-b",
                f"127.0.0.1:{port}",
                "wsgi:app",
            ],
            env=env,
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        wait_for_port(port, timeout=60)
        server = Gunicorn(port, log)
        server.wait_ready(process)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


def test_forwarded_headers_count_only_from_the_proxy(gunicorn: Gunicorn) -> None:
    spoof = {"X-Forwarded-For": SPOOFED, "X-Forwarded-Proto": "https"}

    # Caddy on loopback: the address it forwards is the client's, and its scheme counts.
    proxied = gunicorn.get("/embed.js?probe=proxy", PROXY, spoof)
    assert proxied.status == 200
    assert gunicorn.client_logged("proxy") == SPOOFED
    assert proxied.getheader("Strict-Transport-Security")  # seen as HTTPS

    # Anyone else reaching gunicorn directly: its headers are ignored.
    direct = gunicorn.get("/embed.js?probe=stranger", STRANGER, spoof)
    assert direct.status == 200
    assert gunicorn.client_logged("stranger") == STRANGER
    assert direct.getheader("Strict-Transport-Security") is None  # plain HTTP, as it is


def test_metrics_are_not_opened_by_a_forwarded_loopback_address() -> None:
    # /metrics admits loopback peers; a peer elsewhere must not borrow "127.0.0.1".
    app = create_app(TestingConfig, {"SQLALCHEMY_DATABASE_URI": "sqlite://"})
    client = app.test_client()
    app.config["METRICS_TOKEN"] = "s3cret-token"
    forged = client.get(
        "/metrics",
        headers={"X-Forwarded-For": "127.0.0.1"},
        environ_base={"REMOTE_ADDR": "198.51.100.4"},
    )
    assert forged.status_code == 403


@pytest.mark.parametrize(
    ("proxies", "peer", "seen"),
    [
        ("127.0.0.1,::1", "::1", SPOOFED),
        ("127.0.0.1,::1", "10.0.0.2", "10.0.0.2"),
        ("10.0.0.0/24", "10.0.0.2", SPOOFED),
        ("10.0.0.0/24, 10.9.0.5", "10.9.0.5", SPOOFED),
        ("10.0.0.0/24", "10.0.1.2", "10.0.1.2"),
    ],
)
def test_the_app_believes_only_the_configured_proxies(proxies: str, peer: str, seen: str) -> None:
    app = create_app(
        TestingConfig, {"SQLALCHEMY_DATABASE_URI": "sqlite://", "FORWARDED_ALLOW_IPS": proxies}
    )
    assert client_address(app, peer, {"X-Forwarded-For": SPOOFED}) == seen


def test_any_peer_is_refused_as_a_proxy_list() -> None:
    with pytest.raises(ConfigError, match="FORWARDED_ALLOW_IPS"):
        create_app(
            TestingConfig, {"SQLALCHEMY_DATABASE_URI": "sqlite://", "FORWARDED_ALLOW_IPS": "*"}
        )


def client_address(app: Flask, peer: str, headers: dict[str, str]) -> str:
    seen: list[str] = []

    @app.get("/__peer")
    def peer_view() -> str:
        from flask import request

        seen.append(request.remote_addr or "")
        return ""

    app.test_client().get("/__peer", headers=headers, environ_base={"REMOTE_ADDR": peer})
    return seen[0]


def test_compose_believes_caddy_alone() -> None:
    """In compose Caddy is another container: web trusts its fixed address, not every peer."""
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())
    caddy = compose["services"]["caddy"]["networks"]["default"]["ipv4_address"]
    [subnet] = compose["networks"]["default"]["ipam"]["config"]
    assert ipaddress.ip_address(caddy) in ipaddress.ip_network(subnet["subnet"])
    assert compose["services"]["web"]["environment"]["FORWARDED_ALLOW_IPS"] == caddy
