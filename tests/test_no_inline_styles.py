"""The dashboard's policy is `style-src 'self'`: an inline `<style>` or `style=""` in a page is
refused by the browser (the tax invoice was once unstyled that way). Pages take their styles
from static stylesheets; only emails, which cannot link one, keep inline styles."""

from __future__ import annotations

import re

from peepopay.config import ROOT

TEMPLATES = ROOT / "templates"
INLINE = re.compile(r"<style[\s>]|\sstyle\s*=", re.IGNORECASE)
# Emails carry their styles inline (mail clients drop stylesheets). The widget's page inlines
# its one stylesheet so the first paint waits for no request (README, "The browser"); its own
# policy allows that, and it holds nothing else inline.
ALLOWED = {"widget/page.html"}


def test_no_template_styles_inline() -> None:
    found = [
        f"{path.relative_to(TEMPLATES)}:{number}: {line.strip()}"
        for path in sorted(TEMPLATES.rglob("*.html"))
        if path.relative_to(TEMPLATES).parts[0] != "emails"
        and str(path.relative_to(TEMPLATES)) not in ALLOWED
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if INLINE.search(line)
    ]
    assert found == []
