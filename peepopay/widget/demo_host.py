"""A stand-in for a tradie's website on another origin, embedding the widget via /embed.js.

`python -m peepopay.widget.demo_host --port 8081 --app http://127.0.0.1:8080` serves
widget/demo.html at / with its script tag pointed at the given app (and slug).
"""

from __future__ import annotations

import argparse
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from peepopay.config import ROOT

DEMO_PAGE = ROOT / "widget" / "demo.html"
PAGE_APP_URL = "http://127.0.0.1:8080"
PAGE_SLUG = 'data-tradie="demo-plumbing"'


def demo_page(app_url: str, slug: str = "demo-plumbing") -> bytes:
    html = DEMO_PAGE.read_text(encoding="utf-8")
    html = html.replace(f"{PAGE_APP_URL}/embed.js", f"{app_url.rstrip('/')}/embed.js")
    return html.replace(PAGE_SLUG, f'data-tradie="{slug}"').encode()


class DemoHost:
    """The demo page on its own port, in a thread (tests) or in the foreground (make run)."""

    def __init__(self, app_url: str, slug: str = "demo-plumbing", port: int = 0) -> None:
        body = demo_page(app_url, slug)

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path.split("?")[0] not in ("/", "/index.html", "/demo.html"):
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Cache-Control", "no-store")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.port = int(self.server.server_address[1])
        self.thread: threading.Thread | None = None

    def start(self) -> DemoHost:
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        if self.thread:
            self.thread.join(5)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=8081)
    parser.add_argument("--app", default=PAGE_APP_URL, help="the PeepoPay base URL")
    parser.add_argument("--slug", default="demo-plumbing")
    args = parser.parse_args()
    host = DemoHost(args.app, args.slug, args.port)
    try:
        host.server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        host.server.server_close()


if __name__ == "__main__":
    main()
