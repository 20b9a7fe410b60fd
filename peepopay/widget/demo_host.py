"""A stand-in for a tradie's website on another origin, embedding the widget.

`python -m peepopay.widget.demo_host --port 8081 --app http://127.0.0.1:8080` serves
widget/demo.html at / with the dashboard's embed code for the given app and slug pasted in:
the iframe snippet, or `--snippet script` for the script-only one. `files` serves more paths
(the browser bench's host page brings its own stylesheet, scripts and images); text is
gzipped, as a site's web server does.
"""

from __future__ import annotations

import argparse
import gzip
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal

from peepopay.config import ROOT
from peepopay.widget.snippets import snippets

DEMO_PAGE = ROOT / "widget" / "demo.html"
PAGE_APP_URL = "http://127.0.0.1:8080"
# Where a page pastes the embed code: between these two comments.
EMBED = re.compile(r"<!-- embed -->.*?<!-- /embed -->", re.S)
Snippet = Literal["iframe", "script"]


def embed_code(app_url: str, slug: str, snippet: Snippet, business_name: str) -> str:
    """The snippet the dashboard shows for `slug` on the app at `app_url`."""
    base = app_url.rstrip("/")
    codes = snippets(f"{base}/book/{slug}", f"{base}/embed.js", slug, business_name)
    return codes.iframe if snippet == "iframe" else codes.script


def paste(html: str, app_url: str, slug: str, snippet: Snippet, business_name: str) -> str:
    """`html` with its embed code (between `<!-- embed -->` and `<!-- /embed -->`) replaced."""
    code = embed_code(app_url, slug, snippet, business_name)
    return EMBED.sub(lambda _: code, html, count=1)


def demo_page(app_url: str, slug: str = "demo-plumbing", snippet: Snippet = "iframe") -> bytes:
    html = DEMO_PAGE.read_text(encoding="utf-8")
    return paste(html, app_url, slug, snippet, "Demo Plumbing").encode()


COMPRESSIBLE = ("text/", "application/javascript", "image/svg+xml")


class DemoHost:
    """The demo page on its own port, in a thread (tests) or in the foreground (make run)."""

    def __init__(
        self,
        app_url: str,
        slug: str = "demo-plumbing",
        port: int = 0,
        snippet: Snippet = "iframe",
        *,
        page: bytes | None = None,
        files: dict[str, tuple[str, bytes]] | None = None,
    ) -> None:
        body = page if page is not None else demo_page(app_url, slug, snippet)
        served = {"/": ("text/html; charset=utf-8", body), **(files or {})}
        served["/index.html"] = served["/demo.html"] = served["/"]
        zipped = {
            path: gzip.compress(data, 6)
            for path, (kind, data) in served.items()
            if kind.startswith(COMPRESSIBLE)
        }

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as any site's server

            def do_GET(self) -> None:
                path = self.path.split("?")[0]
                if path not in served:
                    self.send_error(404)
                    return
                kind, data = served[path]
                self.send_response(200)
                self.send_header("Content-Type", kind)
                if path in zipped and "gzip" in self.headers.get("Accept-Encoding", ""):
                    data = zipped[path]
                    self.send_header("Content-Encoding", "gzip")
                self.send_header("Content-Length", str(len(data)))
                self.send_header("Cache-Control", "no-store")
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
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
    parser.add_argument("--snippet", choices=["iframe", "script"], default="iframe")
    args = parser.parse_args()
    host = DemoHost(args.app, args.slug, args.port, args.snippet)
    try:
        host.server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        host.server.server_close()


if __name__ == "__main__":
    main()
