"""Static files: content-hash URLs for the app, and the precompressed tree Caddy serves.

`url_for('static', filename=...)` gets `?v=<hash of the file>`, so a changed file gets a new URL
and every versioned URL can be cached for a year. `build_public(out)` copies `static/` (and the
widget loader as `/embed.js`) into `out` with `.gz` (and `.zst` when the `zstd` tool is
installed) beside each text file, for Caddy's `file_server { precompressed zstd gzip }`:

    python -m peepopay.assets build /srv/public
"""

from __future__ import annotations

import gzip
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from flask import Flask, Response, request
from markupsafe import Markup

from peepopay.config import ROOT

STATIC = ROOT / "static"
# The host-page loader (`<script src=".../embed.js">`); served at the site root.
LOADERS = (ROOT / "widget" / "embed.js",)
COMPRESSIBLE = frozenset({".css", ".js", ".mjs", ".map", ".svg", ".html", ".json", ".txt", ".xml"})
IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "public, max-age=3600"


def file_hash(path: Path) -> str:
    """The first 12 hex digits of the file's SHA-256."""
    return hashlib.sha256(path.read_bytes()).hexdigest()[:12]


def inline_text(path: Path) -> Markup:
    """A static text file's contents for a `<style>` in the page. Only for our own stylesheets
    (never user input): it is emitted unescaped."""
    text = path.read_text(encoding="utf-8")
    if "</" in text:
        raise ValueError(f"{path} cannot be inlined: it contains '</'")
    return Markup(text)  # noqa: S704 (our own file, not input)


def init_app(app: Flask) -> None:
    static_folder = Path(app.static_folder or STATIC)
    # A running server's files do not change under it: each one's hash and inlined text are
    # read once, not on every page. With the debugger on, they are read again each time.
    follow_edits = app.debug
    versions: dict[str, str | None] = {}
    inlined: dict[str, Markup] = {}

    def inline_static(filename: str) -> Markup:
        # The widget's stylesheet goes into its page: no render-blocking request before the
        # first paint (one round trip of 150 ms or more on a phone), see README "The browser".
        if follow_edits or filename not in inlined:
            inlined[filename] = inline_text(static_folder / filename)
        return inlined[filename]

    app.jinja_env.globals["inline_static"] = inline_static

    @app.url_defaults
    def versioned_static(endpoint: str, values: dict[str, Any]) -> None:
        if endpoint == "static" and "v" not in values and (filename := values.get("filename")):
            if follow_edits or filename not in versions:
                path = static_folder / filename
                versions[filename] = file_hash(path) if path.is_file() else None
            if (version := versions[filename]) is not None:
                values["v"] = version

    @app.after_request
    def static_cache(response: Response) -> Response:
        # The same caching Caddy applies, for when gunicorn serves a file itself.
        if request.endpoint == "static" and response.status_code in (200, 304):
            versioned = "v" in request.args or request.path.startswith("/static/vendor/")
            response.headers["Cache-Control"] = IMMUTABLE if versioned else REVALIDATE
        return response


def loader() -> Path | None:
    return next((path for path in LOADERS if path.is_file()), None)


def sources() -> dict[str, Path]:
    """Public path (relative to the root) → source file."""
    found = {
        f"static/{path.relative_to(STATIC).as_posix()}": path
        for path in sorted(STATIC.rglob("*"))
        if path.is_file() and not path.name.startswith(".") and path.suffix not in {".gz", ".zst"}
    }
    if source := loader():
        found["embed.js"] = source
    return found


def _write_atomic(target: Path, data: bytes, mtime: float) -> None:
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.chmod(tmp, 0o644)
    os.utime(tmp, (mtime, mtime))
    os.replace(tmp, target)


def _zstd(data: bytes) -> bytes | None:
    tool = shutil.which("zstd")
    if not tool:
        return None
    done = subprocess.run([tool, "-19", "-q", "-c"], input=data, capture_output=True, check=True)
    return done.stdout


def build_public(out: Path) -> list[str]:
    """Bring `out` up to date with the sources; returns the public paths (re)written.

    Unchanged files (same size and mtime) are skipped, so calling it every second is cheap;
    files whose source is gone are removed. Writes are atomic: Caddy never serves half a file.
    """
    out.mkdir(parents=True, exist_ok=True)
    wanted = sources()
    written = []
    for public, source in wanted.items():
        target = out / public
        stat = source.stat()
        current = target.stat() if target.exists() else None
        if current and current.st_size == stat.st_size and current.st_mtime == stat.st_mtime:
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        data = source.read_bytes()
        for suffix in (".gz", ".zst"):
            target.with_name(target.name + suffix).unlink(missing_ok=True)
        if source.suffix in COMPRESSIBLE:
            gz = gzip.compress(data, compresslevel=9, mtime=0)
            if len(gz) < len(data):
                _write_atomic(target.with_name(target.name + ".gz"), gz, stat.st_mtime)
            zst = _zstd(data)
            if zst is not None and len(zst) < len(data):
                _write_atomic(target.with_name(target.name + ".zst"), zst, stat.st_mtime)
        # The original goes last: its size and mtime mark the whole set as current.
        _write_atomic(target, data, stat.st_mtime)
        written.append(public)
    keep = set(wanted) | {f"{p}{s}" for p in wanted for s in (".gz", ".zst")}
    for path in sorted(out.rglob("*"), reverse=True):
        relative = path.relative_to(out).as_posix()
        if path.is_file() and relative not in keep:
            path.unlink()
        elif path.is_dir() and not any(path.iterdir()):
            path.rmdir()
    return written


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2 or args[0] != "build":
        raise SystemExit("usage: python -m peepopay.assets build OUT_DIR")
    written = build_public(Path(args[1]))
    print(f"{len(written)} files written to {args[1]}")


if __name__ == "__main__":
    main()
