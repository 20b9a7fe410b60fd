"""The embed snippets a tradie pastes into their site, from the app's base URL alone (the
dashboard shows them, the demo host page and the browser bench paste them).

The iframe snippet is the fast one: the frame is in the page's HTML, so the browser asks for
the widget while it is still parsing the host page, and the loader (async) only sizes the
frame and pins its messages to the widget's origin. The script snippet makes the frame from
the loader, one request later, for site builders that strip iframes; snippets of that shape
already on tradies' sites keep working (README, "Embedding the widget").
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from markupsafe import escape

# The frame's size before the widget reports its own (the loader uses the same).
FRAME_STYLE = "display:block;width:100%;min-width:280px;height:640px;border:0"


@dataclass(frozen=True)
class Snippets:
    iframe: str  # preconnect + the frame + the async loader: recommended
    script: str  # the loader alone, which makes the frame: for builders that strip iframes
    page: str  # the booking page's own address, to share as a link


def snippets(
    page: str, loader: str, slug: str, business_name: str, *, lazy: bool = False
) -> Snippets:
    """Both snippets for `slug`'s booking page at `page` and the loader at `loader` (absolute
    URLs). `lazy` is for a form far below the fold: the frame then waits until the customer
    scrolls near it (eager by default, so a form on the first screen starts loading at once)."""
    parts = urlsplit(loader)
    origin = f"{parts.scheme}://{parts.netloc}"
    title = escape(f"Book with {business_name}")
    loading = "lazy" if lazy else "eager"
    iframe = (
        f'<link rel="preconnect" href="{escape(origin)}">\n'
        f'<iframe src="{escape(page)}" title="{title}" loading="{loading}" allow="payment"'
        f' style="{FRAME_STYLE}"></iframe>\n'
        f'<script src="{escape(loader)}" async></script>'
    )
    # The script snippet exactly as tradies have pasted it since the first release.
    script = f'<script src="{escape(loader)}" data-tradie="{escape(slug)}" async></script>'
    return Snippets(iframe=iframe, script=script, page=page)
