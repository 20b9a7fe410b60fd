"""Fetching a calendar address safely: http(s) only, public addresses only (checked after DNS
resolution and again on every redirect, and the connection goes to the checked address), a
timeout for the whole fetch, a size limit, and conditional requests.

Development and tests may allow loopback (`CALENDAR_FETCH_ALLOW_LOOPBACK`) so a local server
can serve feeds; nothing else private is ever fetched.
"""

from __future__ import annotations

import ipaddress
import socket
import time
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit, urlunsplit

import urllib3

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


def fetch(
    url: str, limits: Limits, etag: str | None = None, last_modified: str | None = None
) -> Fetched:
    """GET `url` (following up to MAX_REDIRECTS redirects, each checked)."""
    deadline = time.monotonic() + limits.timeout_seconds
    headers = {"User-Agent": USER_AGENT, "Accept": "text/calendar, */*;q=0.5"}
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    current = normalise_url(url)
    for _ in range(MAX_REDIRECTS + 1):
        response = _get(current, headers, limits, deadline)
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
            body = _read(response, limits, deadline)
            return Fetched(
                False,
                body,
                etag=response.headers.get("ETag"),
                last_modified=response.headers.get("Last-Modified"),
            )
        finally:
            response.release_conn()
    raise FetchError("The calendar's address redirects too many times.")


def _left(deadline: float) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise FetchError("The calendar's server took too long to answer.")
    return left


def _get(
    url: str, headers: dict[str, str], limits: Limits, deadline: float
) -> urllib3.BaseHTTPResponse:
    parts = urlsplit(url)
    host = parts.hostname or ""
    https = parts.scheme == "https"
    port = parts.port or (443 if https else 80)
    address = resolve(host, port, limits.allow_loopback)
    timeout = urllib3.Timeout(connect=min(_left(deadline), 5.0), read=_left(deadline))
    pool: urllib3.HTTPConnectionPool
    if https:  # connect to the checked address; SNI and the certificate still name the host
        pool = urllib3.HTTPSConnectionPool(
            str(address),
            port,
            timeout=timeout,
            retries=False,
            server_hostname=host,
            assert_hostname=host,
            cert_reqs="CERT_REQUIRED",
        )
    else:
        pool = urllib3.HTTPConnectionPool(str(address), port, timeout=timeout, retries=False)
    path = urlunsplit(("", "", parts.path or "/", parts.query, ""))
    host_header = host if parts.port is None else f"{host}:{parts.port}"
    if ":" in host and not host.startswith("["):
        host_header = f"[{host}]" if parts.port is None else f"[{host}]:{parts.port}"
    try:
        return pool.urlopen(
            "GET",
            path,
            headers={**headers, "Host": host_header},
            redirect=False,
            preload_content=False,
            decode_content=True,
            assert_same_host=False,
        )
    except urllib3.exceptions.NewConnectionError as error:  # a TimeoutError subclass, too
        reason = _reason(error)
        raise FetchError(f"The calendar's server could not be reached ({reason}).") from None
    except urllib3.exceptions.TimeoutError:
        raise FetchError("The calendar's server took too long to answer.") from None
    except urllib3.exceptions.SSLError:
        raise FetchError("The calendar's server has no valid HTTPS certificate.") from None
    except urllib3.exceptions.HTTPError as error:
        raise FetchError(
            f"The calendar's server could not be reached ({_reason(error)})."
        ) from None


def _reason(error: Exception) -> str:
    reason = getattr(error, "reason", None) or error
    text = str(reason)
    return text.split(": ", 1)[-1][:200]


def _read(response: urllib3.BaseHTTPResponse, limits: Limits, deadline: float) -> bytes:
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
            _left(deadline)
    except urllib3.exceptions.TimeoutError:
        raise FetchError("The calendar's server took too long to answer.") from None
    except urllib3.exceptions.HTTPError as error:
        raise FetchError(f"The calendar's download broke off ({_reason(error)}).") from None
    return b"".join(chunks)


def _too_big(limits: Limits) -> str:
    return f"The calendar file is larger than {limits.max_bytes // (1024 * 1024)} MB."
