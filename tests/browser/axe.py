"""axe-core in the browser tests: every product page and widget step is checked against WCAG 2.2
AA and axe's best practices, and a test fails on any violation, whatever its impact.

axe-core comes from npm at the version tests/browser/package-lock.json pins (`make test` runs
`npm ci` there). The script is added to the page as a same-origin URL that Playwright answers
from node_modules: the pages' Content-Security-Policy (`script-src 'self'`) stays in force, so
the walk still sees every CSP violation as a console error; an inline copy (`path=`) would be
refused by that very policy, and bypassing the policy would hide what the walk is there to see.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urljoin

AXE_JS = Path(__file__).resolve().parent / "node_modules" / "axe-core" / "axe.min.js"
AXE_URL = "/__axe-core/axe.min.js"  # never a route of the app: Playwright answers it
TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa", "best-practice"]
# The card form's frame belongs to the payment provider (here its emulator), not to us.
OPTIONS = {
    "runOnly": {"type": "tag", "values": TAGS},
    "iframes": False,
    "resultTypes": ["violations"],
}


def _serve_axe(route: Any) -> None:
    route.fulfill(path=str(AXE_JS), content_type="text/javascript")


# axe-core 4.x no longer reports duplicate ids (WCAG 2.2 dropped 4.1.1), yet two fields with one
# id leave the second's label pointing at the first: an id used twice is reported here when a
# visible form field has it or a label or ARIA reference points at it (hidden inputs such as
# every form's csrf_token, never named or pointed at, are left alone).
DUPLICATE_IDS = """() => {
  const counts = {}, named = new Set();
  document.querySelectorAll('[id]').forEach(el => { counts[el.id] = (counts[el.id] || 0) + 1; });
  document.querySelectorAll('input:not([type=hidden]), select, textarea, button, output')
    .forEach(el => el.id && named.add(el.id));
  document.querySelectorAll('label[for]').forEach(el => named.add(el.htmlFor));
  const refs = ['aria-labelledby', 'aria-describedby', 'aria-controls', 'aria-owns',
                'aria-activedescendant', 'aria-errormessage', 'aria-details'];
  refs.forEach(name => document.querySelectorAll(`[${name}]`).forEach(el =>
    el.getAttribute(name).split(/\\s+/).forEach(id => named.add(id))));
  return Object.keys(counts).filter(id => counts[id] > 1 && named.has(id))
    .map(id => '#' + CSS.escape(id));
}"""


def violations(page: Any) -> list[str]:
    """axe-core's violations on the page as it is now: one line per rule, with its impact and
    the selectors of every element it failed on (and any id used twice)."""
    if not AXE_JS.exists():
        raise RuntimeError(f"{AXE_JS} is missing: run `npm ci --prefix tests/browser`")
    if not page.evaluate("typeof window.axe === 'object'"):
        page.route(f"**{AXE_URL}", _serve_axe)
        page.add_script_tag(url=urljoin(page.url, AXE_URL))
    found = [
        f"{rule['id']} ({rule['impact']}): "
        + ", ".join(" ".join(map(str, node["target"])) for node in rule["nodes"])
        for rule in page.evaluate("options => axe.run(document, options)", OPTIONS)["violations"]
    ]
    duplicates = page.evaluate(DUPLICATE_IDS)
    if duplicates:
        found.append("duplicate-id (serious): " + ", ".join(duplicates))
    return found


def check(page: Any, where: str, found: list[str]) -> None:
    """Adds the page's violations, each prefixed with `where`, to `found`."""
    found.extend(f"{where}: {line}" for line in violations(page))


def assert_accessible(page: Any, where: str) -> None:
    """Fails with the list of axe-core's violations on the page, if there is any."""
    found = violations(page)
    assert not found, f"axe-core on {where}:\n" + "\n".join(found)
