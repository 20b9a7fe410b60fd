"""Run the emulator inside a test process: `with running_emulator() as emulator: ...`."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import stripe
from flask import Flask
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from .app import create_emulator_app
from .httpclient import send
from .state import Emulator


class ControlError(RuntimeError):
    """A /_emulator call answered with an error status."""

    def __init__(self, status: int, body: Any) -> None:
        super().__init__(f"emulator control call failed with {status}: {body}")
        self.status = status
        self.body = body


class _QuietHandler(WSGIRequestHandler):
    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass


class EmulatorHandle:
    """A running emulator: its base `url`, the control API, an SDK client, and `stop()`."""

    def __init__(self, app: Flask, server: BaseWSGIServer, thread: threading.Thread) -> None:
        self.app = app
        self._server = server
        self._thread = thread
        self.url = f"http://{server.host}:{server.port}"

    @property
    def emulator(self) -> Emulator:
        return self.app.extensions["stripe_emulator"]

    def control(self, path: str, json_body: Any = None, *, method: str = "POST") -> Any:
        """Call `/_emulator/<path>` with a JSON body; the decoded JSON answer."""
        body = None if method == "GET" else json.dumps(json_body or {}).encode()
        reply = send(
            method,
            f"{self.url}/_emulator/{path.lstrip('/')}",
            body,
            {"Content-Type": "application/json"},
            timeout=60,
        )
        data = json.loads(reply.body or b"null")
        if reply.status >= 400:
            raise ControlError(reply.status, data)
        return data

    def client(self, api_key: str = "sk_test_emulator", **options: Any) -> stripe.StripeClient:
        """A StripeClient pointed at this emulator, as the product builds it."""
        address = self.url
        return stripe.StripeClient(
            api_key,
            base_addresses={"api": address, "connect": address, "files": address},
            **options,
        )

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
        self.emulator.close()


def start_emulator(port: int = 0, host: str = "127.0.0.1", **options: Any) -> EmulatorHandle:
    """Serve a fresh emulator from a daemon thread; `options` go to `create_emulator_app`."""
    app = create_emulator_app(**options)
    server = make_server(host, port, app, threaded=True, request_handler=_QuietHandler)
    thread = threading.Thread(target=server.serve_forever, name="stripe-emulator", daemon=True)
    thread.start()
    return EmulatorHandle(app, server, thread)


@contextmanager
def running_emulator(port: int = 0, **options: Any) -> Iterator[EmulatorHandle]:
    handle = start_emulator(port, **options)
    try:
        yield handle
    finally:
        handle.stop()
