"""Fetching calendars never reaches inside: loopback, private, link-local and cloud metadata
addresses are refused after DNS resolution and on every redirect; only development and tests
allow loopback (a local server serving feeds), and production does not."""

from __future__ import annotations

import ipaddress
import socket
import threading

import pytest
import sqlalchemy as sa

from peepopay import safefetch
from peepopay.config import DevelopmentConfig, ProductionConfig, TestingConfig
from tests.calendar_support import ics

STRICT = safefetch.Limits(timeout_seconds=3, allow_loopback=False)
LOOPBACK_OK = safefetch.Limits(timeout_seconds=3, allow_loopback=True)

REFUSED = {
    "loopback": ["127.0.0.1", "127.8.9.10", "::1", "::ffff:127.0.0.1"],
    "private": ["10.0.0.5", "172.16.3.4", "192.168.1.10", "fd12:3456::1"],
    "link-local": ["169.254.10.20", "fe80::1"],
    "metadata": ["169.254.169.254", "fd00:ec2::254", "100.100.100.200"],
    "other": ["100.64.0.1", "0.0.0.0", "224.0.0.1", "240.0.0.1"],
}
WORDS = {
    "loopback": "a loopback address",
    "private": "a private address",
    "link-local": "a link-local address",
    "metadata": "a cloud metadata address",
}


@pytest.fixture
def fake_dns(monkeypatch):
    """Names resolving to chosen addresses, as a hostile DNS answer would; other names (the
    test server's 127.0.0.1) resolve as usual."""
    answers: dict[str, list[str]] = {}
    real = socket.getaddrinfo

    def getaddrinfo(host, port, *args, **kwargs):
        if host in answers:
            return [
                (
                    socket.AF_INET6 if ":" in a else socket.AF_INET,
                    socket.SOCK_STREAM,
                    6,
                    "",
                    (a, port),
                )
                for a in answers[host]
            ]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return answers


@pytest.mark.parametrize(
    ("kind", "address"), [(k, a) for k, addresses in REFUSED.items() for a in addresses]
)
def test_each_refused_address_class(kind, address):
    why = safefetch.refusal(ipaddress.ip_address(address), allow_loopback=False)
    assert why is not None
    if kind in WORDS:
        assert why == WORDS[kind]


@pytest.mark.parametrize("address", ["93.184.216.34", "2606:4700::6810:85e5", "8.8.8.8"])
def test_public_addresses_are_allowed(address):
    assert safefetch.refusal(ipaddress.ip_address(address), allow_loopback=False) is None


def test_loopback_only_when_allowed():
    loopback = ipaddress.ip_address("127.0.0.1")
    assert safefetch.refusal(loopback, allow_loopback=True) is None
    # Allowing loopback allows nothing else private.
    for address in ("10.0.0.1", "169.254.169.254", "fe80::1"):
        assert safefetch.refusal(ipaddress.ip_address(address), allow_loopback=True)


@pytest.mark.parametrize(
    ("kind", "address"),
    [
        ("loopback", "127.0.0.1"),
        ("private", "10.1.2.3"),
        ("link-local", "169.254.1.1"),
        ("metadata", "169.254.169.254"),
    ],
)
def test_names_are_checked_after_dns_resolution(fake_dns, kind, address):
    fake_dns["calendar.example.com"] = [address]
    with pytest.raises(safefetch.FetchError) as refused:
        safefetch.fetch("https://calendar.example.com/basic.ics", STRICT)
    assert WORDS[kind] in str(refused.value)
    assert "only public addresses are allowed" in str(refused.value)


def test_a_name_with_any_private_answer_is_refused(fake_dns):
    fake_dns["mixed.example.com"] = ["93.184.216.34", "10.0.0.7"]
    with pytest.raises(safefetch.FetchError, match="a private address"):
        safefetch.fetch("https://mixed.example.com/c.ics", STRICT)


def test_localhost_is_refused_in_production_settings(feed_server):
    url = feed_server.serve("/feed.ics", ics())
    with pytest.raises(safefetch.FetchError, match="a loopback address"):
        safefetch.fetch(url, STRICT)
    with pytest.raises(safefetch.FetchError, match="a loopback address"):
        safefetch.fetch(url.replace("127.0.0.1", "localhost"), STRICT)
    assert feed_server.requests == []  # refused before any connection
    assert safefetch.fetch(url, LOOPBACK_OK).body.startswith(b"BEGIN:VCALENDAR")


@pytest.mark.parametrize(
    "target",
    [
        "http://169.254.169.254/latest/meta-data/",
        "http://10.0.0.1/admin",
        "http://[fe80::1]/",
        "http://metadata.example.com/computeMetadata/v1/",
    ],
    ids=["metadata", "private", "link-local", "name-to-metadata"],
)
def test_redirects_are_checked_each_time(feed_server, fake_dns, target):
    fake_dns["metadata.example.com"] = ["169.254.169.254"]
    url = feed_server.serve("/hop", headers={"Location": target}, status=302)
    with pytest.raises(safefetch.FetchError, match="only public addresses are allowed"):
        safefetch.fetch(url, LOOPBACK_OK)
    assert [path for path, _ in feed_server.requests] == ["/hop"]


def test_the_connection_goes_to_the_checked_address(feed_server, fake_dns):
    """The name is resolved once and the request sent to that address with the name as Host,
    so a second, different DNS answer (rebinding) cannot redirect the connection."""
    fake_dns["feeds.example.com"] = ["127.0.0.1"]
    port = feed_server.url.rsplit(":", 1)[1]
    feed_server.serve("/cal.ics", ics())
    fetched = safefetch.fetch(f"http://feeds.example.com:{port}/cal.ics", LOOPBACK_OK)
    assert fetched.body.startswith(b"BEGIN:VCALENDAR")
    _, headers = feed_server.requests[-1]
    assert headers["Host"] == f"feeds.example.com:{port}"


def test_redirects_are_followed_a_few_times_only(feed_server):
    for n in range(8):
        feed_server.serve(f"/r{n}", headers={"Location": f"/r{n + 1}"}, status=302)
    with pytest.raises(safefetch.FetchError, match="redirects too many times"):
        safefetch.fetch(feed_server.url + "/r0", LOOPBACK_OK)
    feed_server.serve("/r8", ics())
    feed_server.serve("/r2", headers={"Location": "/r8"}, status=307)
    assert safefetch.fetch(feed_server.url + "/r0", LOOPBACK_OK).body.startswith(b"BEGIN")


@pytest.mark.parametrize(
    "url", ["file:///etc/passwd", "ftp://example.com/c.ics", "gopher://x/", "http:///nohost"]
)
def test_only_http_and_https(url):
    with pytest.raises(safefetch.FetchError):
        safefetch.normalise_url(url)


def test_only_development_and_tests_allow_loopback():
    assert ProductionConfig.CALENDAR_FETCH_ALLOW_LOOPBACK is False
    assert DevelopmentConfig.CALENDAR_FETCH_ALLOW_LOOPBACK is True
    assert TestingConfig.CALENDAR_FETCH_ALLOW_LOOPBACK is True


# --------------------------------------------------------------------------- CalDAV


class Redirector:
    """A CalDAV server's stand-in on 127.0.0.2 (taken for a public address below) answering
    every request, PROPFIND included, with a redirect to `target`."""

    def __init__(self) -> None:
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        owner = self
        self.target = ""
        self.status = 301

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:
                pass

            def answer(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                self.send_response(owner.status)
                self.send_header("Location", owner.target)
                self.send_header("Content-Length", "0")
                self.end_headers()

            do_GET = do_PROPFIND = do_REPORT = do_PUT = answer

        self.server = ThreadingHTTPServer(("127.0.0.2", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.2:{self.server.server_address[1]}/dav/"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def redirector(monkeypatch):
    """Production settings (no loopback), with 127.0.0.2 standing for a public CalDAV server."""
    real = safefetch.refusal

    def refusal(address, allow_loopback):
        return None if str(address) == "127.0.0.2" else real(address, allow_loopback)

    monkeypatch.setattr(safefetch, "refusal", refusal)
    server = Redirector()
    yield server
    server.server.shutdown()
    server.server.server_close()


@pytest.mark.parametrize("status", [301, 303])
@pytest.mark.parametrize(
    ("host", "words"),
    [
        ("0.0.0.0", "a private address"),
        ("127.0.0.1", "a loopback address"),
        ("10.0.0.1", "a private address"),
        ("169.254.169.254", "a cloud metadata address"),
    ],
)
def test_caldav_redirects_are_checked_each_time(
    app, tradie_id, feed_server, redirector, host, words, status
):
    from peepopay.calendars import services as feeds
    from peepopay.extensions import db
    from peepopay.models import CalendarFeed, Tradie
    from tests.fixtures.clock import DASH_NOW

    app.config["CALENDAR_FETCH_ALLOW_LOOPBACK"] = False
    app.config["CALENDAR_FETCH_TIMEOUT_SECONDS"] = 2
    port = feed_server.url.rsplit(":", 1)[1]  # something listening, as an inside service is
    redirector.target = f"http://{host}:{port}/internal/"
    redirector.status = status
    with app.app_context():
        tradie = db.session.get(Tradie, tradie_id)
        with pytest.raises(feeds.FormError) as refused:
            feeds.add_feed(
                db.session, tradie, redirector.url, DASH_NOW, username="me", password="pw"
            )
        db.session.rollback()
        assert db.session.scalar(sa.select(sa.func.count(CalendarFeed.id))) == 0
    assert words in refused.value.message
    assert "only public addresses are allowed" in refused.value.message
    assert feed_server.requests == []
