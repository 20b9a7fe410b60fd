"""Fetching a calendar address safely: http(s) only, public addresses only (checked after DNS
resolution and again on every redirect, and the connection goes to the checked address), a
timeout for the whole fetch, a size limit, and conditional requests.

Development and tests may allow loopback (`CALENDAR_FETCH_ALLOW_LOOPBACK`) so a local server
can serve feeds; nothing else private is ever fetched.
"""

from __future__ import annotations

import contextlib
import ipaddress
import socket
import ssl
import threading
import time
from dataclasses import dataclass
from http.client import HTTPException
from urllib.parse import urljoin, urlsplit, urlunsplit

import urllib3
from urllib3.connection import HTTPConnection, HTTPSConnection

USER_AGENT = "PeepoPay-Calendar/1.0 (+busy times only)"
MAX_REDIRECTS = 5
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
# Cloud metadata services; most are link-local or private already, named for a clear message.
METADATA = frozenset(
    ipaddress.ip_address(a)
    for a in ("169.254.169.254", "169.254.170.2", "100.100.100.200", "fd00:ec2::254")
)


class FetchError(Exception):
    """The calendar could not be fetched; the message is for the tradie."""


@dataclass(frozen=True)
class Limits:
    timeout_seconds: float = 10.0
    max_bytes: int = 5 * 1024 * 1024
    allow_loopback: bool = False


@dataclass(frozen=True)
class Fetched:
    """A 200 with its body, or `not_modified` (a 304) with none."""

    not_modified: bool
    body: bytes = b""
    etag: str | None = None
    last_modified: str | None = None


def normalise_url(url: str) -> str:
    """`webcal://` (Apple, Outlook) is https; anything but http(s) is refused."""
    url = url.strip()
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme in ("webcal", "webcals"):
        parts = parts._replace(scheme="https")
    elif scheme not in ("http", "https"):
        raise FetchError("Calendar addresses start with https://, http:// or webcal://.")
    if not parts.hostname:
        raise FetchError("That calendar address has no host name.")
    if parts.username or parts.password:
        raise FetchError("Calendar addresses with a user name and password are not supported.")
    return urlunsplit(parts)


def refusal(address: IPAddress, allow_loopback: bool) -> str | None:
    """Why an address may not be fetched, or None when it may."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    if address in METADATA:
        return "a cloud metadata address"
    if address.is_loopback:
        return None if allow_loopback else "a loopback address"
    if address.is_link_local:
        return "a link-local address"
    if address.is_private or address.is_reserved or address.is_multicast:
        return "a private address"
    if address.is_unspecified or not address.is_global:
        return "a non-public address"
    return None


def resolve(host: str, port: int, allow_loopback: bool) -> IPAddress:
    """The first address `host` resolves to; FetchError when any of them is refused (a name
    answering both a public and a private address is not fetched at all)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        raise FetchError(f"The calendar's host {host} could not be found.") from None
    addresses = [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos]
    for address in addresses:
        why = refusal(address, allow_loopback)
        if why:
            raise FetchError(
                f"The calendar's host {host} is {why}; only public addresses are allowed."
            )
    return addresses[0]


TOO_LONG = "The calendar's server took too long to answer."


class _Cutoff:
    """Ends a fetch when its time is up by shutting the connection in use. Socket timeouts
    count each read on its own: a server sending a byte every few seconds would never meet
    one, and held a fetch 108 s against a 10 s limit."""

    def __init__(self, seconds: float) -> None:
        self.deadline = time.monotonic() + seconds
        self.fired = False
        self._sock: socket.socket | None = None
        self._lock = threading.Lock()
        self._timer = threading.Timer(seconds, self._fire)
        self._timer.daemon = True
        self._timer.start()

    def _fire(self) -> None:
        with self._lock:
            self.fired = True
            if self._sock is not None:
                # The plain socket's shutdown, also under TLS: a blocked read returns at once.
                with contextlib.suppress(OSError):
                    socket.socket.shutdown(self._sock, socket.SHUT_RDWR)

    def watch(self, sock: socket.socket) -> None:
        """Cut this socket at the deadline (the socket itself: http.client lets go of the
        connection's when the server says it will close, and reads on from its own file)."""
        with self._lock:
            if self.fired:
                raise FetchError(TOO_LONG)
            self._sock = sock

    def left(self) -> float:
        left = self.deadline - time.monotonic()
        if left <= 0 or self.fired:
            raise FetchError(TOO_LONG)
        return left

    def cancel(self) -> None:
        self._timer.cancel()


def fetch(
    url: str, limits: Limits, etag: str | None = None, last_modified: str | None = None
) -> Fetched:
    """GET `url` (following up to MAX_REDIRECTS redirects, each checked), all of it within
    `limits.timeout_seconds` of wall time."""
    headers = {"User-Agent": USER_AGENT, "Accept": "text/calendar, */*;q=0.5"}
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    current = normalise_url(url)
    cutoff = _Cutoff(limits.timeout_seconds)
    try:
        for _ in range(MAX_REDIRECTS + 1):
            conn, response = _get(current, headers, limits, cutoff)
            try:
                if response.status in (301, 302, 303, 307, 308):
                    location = response.headers.get("Location")
                    if not location:
                        raise FetchError("The calendar's server redirected without an address.")
                    current = normalise_url(urljoin(current, location))
                    continue
                if response.status == 304:
                    return Fetched(True, etag=etag, last_modified=last_modified)
                if response.status in (401, 403):
                    raise FetchError(
                        f"The calendar's server refused access ({response.status}). The address "
                        "may have been reset, or the calendar is not shared publicly."
                    )
                if response.status == 404:
                    raise FetchError("The calendar's server has no calendar at that address (404).")
                if response.status != 200:
                    raise FetchError(f"The calendar's server answered {response.status}.")
                body = _read(response, limits, cutoff)
                return Fetched(
                    False,
                    body,
                    etag=response.headers.get("ETag"),
                    last_modified=response.headers.get("Last-Modified"),
                )
            finally:
                conn.close()
        raise FetchError("The calendar's address redirects too many times.")
    finally:
        cutoff.cancel()


def _get(
    url: str, headers: dict[str, str], limits: Limits, cutoff: _Cutoff
) -> tuple[HTTPConnection, urllib3.BaseHTTPResponse]:
    parts = urlsplit(url)
    host = parts.hostname or ""
    https = parts.scheme == "https"
    port = parts.port or (443 if https else 80)
    address = resolve(host, port, limits.allow_loopback)
    timeout = min(cutoff.left(), 5.0)
    conn: HTTPConnection
    if https:  # connect to the checked address; SNI and the certificate still name the host
        conn = HTTPSConnection(
            str(address),
            port,
            timeout=timeout,
            server_hostname=host,
            assert_hostname=host,
            cert_reqs="CERT_REQUIRED",
        )
    else:
        conn = HTTPConnection(str(address), port, timeout=timeout)
    path = urlunsplit(("", "", parts.path or "/", parts.query, ""))
    host_header = host if parts.port is None else f"{host}:{parts.port}"
    if ":" in host and not host.startswith("["):
        host_header = f"[{host}]" if parts.port is None else f"[{host}]:{parts.port}"
    try:
        conn.connect()
        assert conn.sock is not None
        cutoff.watch(conn.sock)
        conn.sock.settimeout(cutoff.left())
        conn.request("GET", path, headers={**headers, "Host": host_header}, preload_content=False)
        return conn, conn.getresponse()
    except FetchError:
        conn.close()
        raise
    except urllib3.exceptions.NewConnectionError as error:  # a TimeoutError subclass, too
        conn.close()
        if cutoff.fired:
            raise FetchError(TOO_LONG) from None
        raise FetchError(
            f"The calendar's server could not be reached ({_reason(error)})."
        ) from None
    except (ssl.SSLError, ssl.CertificateError, urllib3.exceptions.SSLError):
        conn.close()
        raise FetchError("The calendar's server has no valid HTTPS certificate.") from None
    except (TimeoutError, urllib3.exceptions.TimeoutError):
        conn.close()
        raise FetchError(TOO_LONG) from None
    except (OSError, HTTPException, urllib3.exceptions.HTTPError) as error:
        conn.close()
        if cutoff.fired:
            raise FetchError(TOO_LONG) from None
        raise FetchError(
            f"The calendar's server could not be reached ({_reason(error)})."
        ) from None


def _reason(error: Exception) -> str:
    reason = getattr(error, "reason", None) or error
    text = str(reason)
    return text.split(": ", 1)[-1][:200]


def _read(response: urllib3.BaseHTTPResponse, limits: Limits, cutoff: _Cutoff) -> bytes:
    declared = response.headers.get("Content-Length")
    if declared and declared.isdigit() and int(declared) > limits.max_bytes:
        raise FetchError(_too_big(limits))
    chunks = []
    size = 0
    try:
        for chunk in response.stream(64 * 1024):
            size += len(chunk)
            if size > limits.max_bytes:
                raise FetchError(_too_big(limits))
            chunks.append(chunk)
            cutoff.left()
    except (TimeoutError, urllib3.exceptions.TimeoutError):
        raise FetchError(TOO_LONG) from None
    except (OSError, HTTPException, urllib3.exceptions.HTTPError) as error:
        if cutoff.fired:
            raise FetchError(TOO_LONG) from None
        raise FetchError(f"The calendar's download broke off ({_reason(error)}).") from None
    # A body without a length ends when the connection does: the cut-off looks like its end.
    cutoff.left()
    return b"".join(chunks)


def _too_big(limits: Limits) -> str:
    return f"The calendar file is larger than {limits.max_bytes // (1024 * 1024)} MB."
