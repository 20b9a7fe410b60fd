"""The browser, measured: Chromium (Debian's /usr/bin/chromium through Playwright) with
Lighthouse's mobile throttling set over the DevTools protocol (4x CPU slowdown, 150 ms round
trip, 1.6 Mbps down, 750 kbps up), a cold cache on every load.

- the widget opened directly (/book/<slug>); the widget on a tradie's own site, a page of the
  size and shape of a small business's WordPress site (bench.host_site: its own stylesheets,
  images and scripts, served gzipped from another origin, http://localhost:<port>, the app being
  on 127.0.0.1), once with the iframe snippet (the frame in the page's HTML, preconnect, the
  loader async) and once with the script snippet (the loader makes the frame); the dashboard
  overview, signed in;
- for each, five loads (`--loads`): median LCP and FCP, bytes over the wire and requests. The
  embedded widget's LCP (inside the frame) is counted from the host page's navigation start,
  as a customer waits for it; also when the host page asked for the loader
  (`loader_requested_ms`) and for the widget's document (`frame_requested_ms`), and, for the
  slowest load, its waterfall (every request of the host page and of the frame, start and end
  on the host page's clock);
- the time from a click on "Next available" to the next widget step swapped in (htmx's
  afterSettle), five times: a proxy for Interaction to Next Paint. The widget asks for that
  step as soon as the day step shows (widget.js, data-prefetch), so the click waits for no
  round trip, or only for what is left of it; for reference, the same for a click on a day of
  the calendar, which is not asked for ahead and pays the whole round trip.

The throttling is DevTools' own: it delays each request and shares the bandwidth, but opens
connections at localhost speed, so what preconnect saves on a real network (the new origin's
DNS, TCP and TLS handshakes) does not show in these figures.

The app is served the way production serves it: Caddy (the Caddyfile: precompressed static
files, gzip or zstd on the app's answers) in front of gunicorn. `--direct` measures gunicorn
straight instead, with nothing compressed.

Budgets: the widget directly LCP <= 0.5 s and its first view <= 35 KB compressed; embedded
with the iframe snippet LCP <= 0.7 s from the host page's start, with the script snippet
<= 0.9 s; the loader <= 1.5 KB gzipped; dashboard overview LCP <= 1.5 s; step swap <= 200 ms.
Every check is written to bench/results/browser.json under `checks`.

    python -m bench.browser [--loads 5] [--direct] [--json PATH]
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import platform
import shutil
import sqlite3
import statistics
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import dashboard
from bench.host_site import host_site
from bench.loadgen import free_port
from bench.widget import ZONE, Server
from peepopay.widget.embed import LOADER

RESULTS = Path(__file__).resolve().parent / "results" / "browser.json"
CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))
# Lighthouse's mobile profile ("Slow 4G"): 150 ms RTT, 1.6 Mbps down, 750 kbps up, CPU 4x.
NETWORK = {
    "offline": False,
    "latency": 150,
    "downloadThroughput": 1.6 * 1024 * 1024 / 8,
    "uploadThroughput": 750 * 1024 / 8,
}
CPU_SLOWDOWN = 4
# LCP, from the page's own navigation start (the host page's for the embedded widget).
BUDGETS_MS = {
    "widget": 500,
    "iframe snippet": 700,
    "script snippet": 900,
    "dashboard overview": 1500,
}
SWAP_BUDGET_MS = 200
FIRST_VIEW_BUDGET = 35 * 1024  # bytes over the wire, compressed
LOADER_BUDGET = 1536  # gzipped
SLUG = "bench-week"

PAINTS = """() => new Promise(done => {
  let lcp = 0;
  new PerformanceObserver(list => { for (const e of list.getEntries()) lcp = e.startTime; })
    .observe({type: 'largest-contentful-paint', buffered: true});
  setTimeout(() => {
    const fcp = performance.getEntriesByName('first-contentful-paint')[0];
    done({lcp, fcp: fcp ? fcp.startTime : 0, origin: performance.timeOrigin});
  }, 200);
})"""

SWAP = """button => new Promise(done => {
  const started = performance.now();
  document.addEventListener('htmx:afterSettle', () => {
    requestAnimationFrame(() => done(performance.now() - started));
  }, {once: true});
  button.click();
  setTimeout(() => done(-1), 15000);
})"""

STEP = "() => (document.getElementById('step-title') || {}).textContent || ''"

# When the host page asked for the loader and had it, and asked for the widget's document,
# from its navigation start (resource timing entries: their start and end are exposed across
# origins; the frame's once it has loaded); -1 for what it never asked for.
ASKED = """() => {
  const all = performance.getEntriesByType('resource');
  const loader = all.find(r => /\\/embed\\.js(\\?|$)/.test(r.name));
  const frame = all.find(r => r.initiatorType === 'iframe' && /\\/book\\//.test(r.name));
  return {loader: loader ? loader.startTime : -1, loaded: loader ? loader.responseEnd : -1,
          frame: frame ? frame.startTime : -1};
}"""

# A document's requests, start and end from its own navigation start: its own document first.
REQUESTS = """() => {
  const nav = performance.getEntriesByType('navigation')[0];
  const short = u => { const x = new URL(u); return x.host + x.pathname; };
  return [{name: short(nav.name), start: 0, end: nav.responseEnd}].concat(
    performance.getEntriesByType('resource').map(
      r => ({name: short(r.name), start: r.startTime, end: r.responseEnd})));
}"""

# Whether a page can paint from its document alone: no stylesheet link, no blocking script.
BLOCKING = """() => document.querySelectorAll(
  'link[rel=stylesheet], script[src]:not([defer]):not([async]):not([type=module])').length"""


def throttle(context: Any, page: Any) -> tuple[Any, dict[str, int]]:
    """Throttling and a cold cache on `page`; counts bytes and requests it loads."""
    cdp = context.new_cdp_session(page)
    cdp.send("Network.enable")
    cdp.send("Network.setCacheDisabled", {"cacheDisabled": True})
    cdp.send("Network.emulateNetworkConditions", NETWORK)
    cdp.send("Emulation.setCPUThrottlingRate", {"rate": CPU_SLOWDOWN})
    counts = {"bytes": 0, "requests": 0}

    def finished(event: dict[str, Any]) -> None:
        counts["bytes"] += int(event.get("encodedDataLength", 0))
        counts["requests"] += 1

    cdp.on("Network.loadingFinished", finished)
    return cdp, counts


def wait_for_step(frame: Any, page: Any, title: str) -> None:
    for _ in range(400):
        if title in frame.evaluate(STEP):
            return
        page.wait_for_timeout(50)
    raise AssertionError(f"the widget never showed {title!r}")


def widget_frame(page: Any, embedded: bool) -> Any:
    if not embedded:
        return page.main_frame
    return page.wait_for_selector("iframe[src*='/book/']").content_frame()


def load_once(browser: Any, url: str, *, embedded: bool = False, login: str = "") -> dict:
    context = browser.new_context(viewport={"width": 412, "height": 823}, is_mobile=True)
    page = context.new_page()
    try:
        if login:  # signed in through the form, before the throttling
            page.goto(login)
            page.fill("input[name=email]", dashboard.EMAIL)
            page.fill("input[name=password]", dashboard.PASSWORD)
            page.click("form button[type=submit]")
            page.wait_for_url("**/dashboard**")
        _cdp, counts = throttle(context, page)
        page.goto(url, wait_until="load", timeout=60_000)
        frame = widget_frame(page, embedded)
        if embedded:
            frame.wait_for_load_state("load", timeout=60_000)
        page.wait_for_timeout(500)  # let the last paint land
        host = page.evaluate(PAINTS)
        paints = frame.evaluate(PAINTS) if embedded else host
        if not embedded:
            return {
                "lcp_ms": round(paints["lcp"], 1),
                "fcp_ms": round(host["fcp"], 1),
                "bytes": counts["bytes"],
                "requests": counts["requests"],
                "blocking_requests": int(page.evaluate(BLOCKING)),
            }
        # The frame's clock starts when the host page asked for the widget's document.
        shift = paints["origin"] - host["origin"]
        waterfall = [
            {"name": r["name"], "start_ms": round(r["start"], 1), "end_ms": round(r["end"], 1)}
            for r in page.evaluate(REQUESTS)
        ] + [
            {
                "name": "(frame) " + r["name"],
                "start_ms": round(r["start"] + shift, 1),
                "end_ms": round(r["end"] + shift, 1),
            }
            for r in frame.evaluate(REQUESTS)
        ]
        waterfall.sort(key=lambda r: r["start_ms"])
        asked = page.evaluate(ASKED)
        return {
            "lcp_ms": round(paints["lcp"] + shift, 1),
            "frame_requested_ms": round(asked["frame"], 1),
            "loader_requested_ms": round(asked["loader"], 1),
            "loader_arrived_ms": round(asked["loaded"], 1),
            "fcp_ms": round(host["fcp"], 1),
            "bytes": counts["bytes"],
            "requests": counts["requests"],
            "waterfall": waterfall,
        }
    finally:
        context.close()


# What the swap bench clicks on the day step: the budgeted one, and the reference.
CLICKS = {
    "next available": "form.pp-suggest button",
    # Not the suggested day: that one is the very request already asked for ahead.
    "calendar day": ".pp-cal button:not(.pp-first)",
}


def step_swap(browser: Any, url: str, click: str = CLICKS["next available"]) -> float:
    context = browser.new_context(viewport={"width": 412, "height": 823}, is_mobile=True)
    page = context.new_page()
    try:
        throttle(context, page)
        page.goto(url, wait_until="load", timeout=60_000)
        frame = page.main_frame
        if "Choose a service" in frame.evaluate(STEP):
            frame.click("button[name=service]")
            wait_for_step(frame, page, "Choose a day")
        wait_for_step(frame, page, "Choose a day")
        button = frame.locator(click).first.element_handle()
        took = float(button.evaluate(SWAP))
        assert took >= 0, f"no swap after a click on {click}"
        assert "Choose a time" in frame.evaluate(STEP), frame.evaluate(STEP)
        return round(took, 1)
    finally:
        context.close()


def caddy_in_front(server: Server, port: int) -> int:
    """Caddy with the production Caddyfile before `server`'s gunicorn; returns its port."""
    from bench.caddy import caddy, wait_ok

    command, env = caddy(server.tmp, port, server.port)
    server.env.update(env)
    server.spawn(command)
    wait_ok(port, "/healthz")
    return port


def prepare(tmp: Path, host_origins: list[str]) -> None:
    """bench.dashboard's tradie (5,000 bookings, the past two thirds of them kept), taking
    bookings and embeddable on the host pages' origins."""
    dashboard.seed(f"sqlite:///{tmp / 'bench.db'}", datetime.now(ZONE).date())
    with sqlite3.connect(tmp / "bench.db") as conn:
        conn.execute(
            "UPDATE tradies SET allowed_origins = ?, charges_enabled = 1, "
            "stripe_account_id = 'acct_bench' WHERE slug = ?",
            ("\n".join(host_origins), SLUG),
        )
        # Its week is full up to the horizon: free the days after tomorrow for the time step.
        conn.execute("DELETE FROM bookings WHERE starts_at > datetime('now', '+2 days')")


def summary(loads: list[dict[str, Any]]) -> dict[str, Any]:
    """Medians of `loads`, each load's figures, and the slowest load's waterfall."""
    keys = [k for k in loads[0] if k != "waterfall"]
    slowest = max(loads, key=lambda x: x["lcp_ms"])
    result: dict[str, Any] = {k: statistics.median(x[k] for x in loads) for k in keys}
    result["bytes"] = int(result["bytes"])
    result["requests"] = int(result["requests"])
    result["loads"] = [{k: v for k, v in x.items() if k != "waterfall"} for x in loads]
    if "waterfall" in slowest:
        result["slowest"] = {"lcp_ms": slowest["lcp_ms"], "waterfall": slowest["waterfall"]}
    return result


def print_waterfall(name: str, result: dict[str, Any]) -> None:
    slowest = result["slowest"]
    print(f"\n  {name}: the slowest load (LCP {slowest['lcp_ms']:.0f} ms), its requests:")
    for r in slowest["waterfall"]:
        print(f"    {r['start_ms']:>7.0f} -> {r['end_ms']:>7.0f} ms  {r['name']}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.browser", description=__doc__)
    parser.add_argument("--loads", type=int, default=5)
    parser.add_argument(
        "--direct", action="store_true", help="gunicorn straight, no Caddy (nothing compressed)"
    )
    parser.add_argument("--json", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    if not CHROMIUM.exists():
        print(f"chromium is missing: {CHROMIUM} (apt-get install chromium; make bench does)")
        return 1
    from playwright.sync_api import sync_playwright

    tmp = Path(tempfile.mkdtemp(prefix="peepopay-bench-browser-"))
    server = Server(tmp, "off")
    port = server.port if args.direct else free_port()
    app = f"http://127.0.0.1:{port}"
    server.env["BASE_URL"] = app
    hosts = {kind: host_site(app, SLUG, kind) for kind in ("iframe", "script")}
    results: dict[str, Any] = {}
    try:
        prepare(tmp, [f"http://localhost:{host.port}" for host in hosts.values()])
        server.up()
        if not args.direct:
            assert caddy_in_front(server, port) == port
        for host in hosts.values():
            host.start()
        pages = {
            "widget": (f"{app}/book/{SLUG}", False, ""),
            "iframe snippet": (f"http://localhost:{hosts['iframe'].port}/", True, ""),
            "script snippet": (f"http://localhost:{hosts['script'].port}/", True, ""),
            "dashboard overview": (f"{app}/dashboard", False, f"{app}/auth/login"),
        }
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=str(CHROMIUM),
                args=[
                    "--no-sandbox",
                    "--disable-gpu",
                    # The embedded widget in the host page's process, so the page's throttling
                    # and byte count cover it (localhost and 127.0.0.1 are different sites).
                    "--disable-features=IsolateOrigins,site-per-process",
                    "--disable-site-isolation-trials",
                ],
            )
            for name, (url, embedded, login) in pages.items():
                loads = [
                    load_once(browser, url, embedded=embedded, login=login)
                    for _ in range(args.loads)
                ]
                results[name] = summary(loads)
                shown = {k: v for k, v in results[name].items() if k not in ("loads", "slowest")}
                print(f"  {name:<22}{shown}", flush=True)
            swaps = [step_swap(browser, f"{app}/book/{SLUG}") for _ in range(args.loads)]
            day_swaps = [
                step_swap(browser, f"{app}/book/{SLUG}", CLICKS["calendar day"])
                for _ in range(args.loads)
            ]
            browser.close()
    finally:
        for host in hosts.values():
            host.stop()
        server.down()
        shutil.rmtree(tmp, ignore_errors=True)

    loader_gzipped = len(gzip.compress(LOADER.read_bytes(), 9))
    first_view = results["widget"]["bytes"]
    iframe, script = results["iframe snippet"], results["script snippet"]
    checks = {
        f"{name} LCP {results[name]['lcp_ms']:.0f} ms <= {budget} ms"
        + (" from the host page's start" if "snippet" in name else ""): results[name]["lcp_ms"]
        <= budget
        for name, budget in BUDGETS_MS.items()
    }
    checks[f"widget first view {first_view:,} B <= {FIRST_VIEW_BUDGET:,} B compressed"] = (
        first_view <= FIRST_VIEW_BUDGET
    )
    checks[
        "widget first view paints from its document alone (no stylesheet, no blocking script)"
    ] = results["widget"]["blocking_requests"] == 0
    checks[f"loader {loader_gzipped:,} B <= {LOADER_BUDGET:,} B gzipped"] = (
        loader_gzipped <= LOADER_BUDGET
    )
    # The iframe snippet's widget request never waits for the loader (in every load); the
    # script snippet's always does (the loader makes the frame).
    checks["iframe snippet asks for the widget before the loader has arrived"] = all(
        0 <= x["frame_requested_ms"] < x["loader_arrived_ms"] for x in iframe["loads"]
    )
    checks["script snippet asks for the widget only after the loader arrived"] = all(
        0 <= x["loader_arrived_ms"] <= x["frame_requested_ms"] for x in script["loads"]
    )
    swap = statistics.median(swaps)
    day_swap = statistics.median(day_swaps)
    checks[f"step swap {swap:.0f} ms <= {SWAP_BUDGET_MS} ms"] = swap <= SWAP_BUDGET_MS
    print()
    served = "gunicorn straight" if args.direct else "Caddy in front of gunicorn"
    print(f"Chromium, {CPU_SLOWDOWN}x CPU, 150 ms RTT, 1.6 Mbps; {served}; median of {args.loads}")
    print(f"  {'page':<22}{'LCP ms':>8}{'FCP ms':>8}{'bytes':>9}{'requests':>10}")
    for name, r in results.items():
        print(
            f"  {name:<22}{r['lcp_ms']:>8.0f}{r['fcp_ms']:>8.0f}{r['bytes']:>9,}{r['requests']:>10}"
        )
    print(f"  click 'Next available' -> time step swapped: {swap:.0f} ms (each: {swaps})")
    print(
        f"  for reference, click a calendar day (a whole round trip): {day_swap:.0f} ms "
        f"(each: {day_swaps})"
    )
    for name in ("iframe snippet", "script snippet"):
        r = results[name]
        print(
            f"  {name}: widget requested at {r['frame_requested_ms']:.0f} ms, loader at "
            f"{r['loader_requested_ms']:.0f} ms (arrived {r['loader_arrived_ms']:.0f} ms) "
            "from the host page's start"
        )
    print()
    for name, ok in checks.items():
        print(f"  [{'ok' if ok else 'OVER'}] {name}")
    for name in BUDGETS_MS:
        if "slowest" in results[name] and results[name]["lcp_ms"] > BUDGETS_MS[name]:
            print_waterfall(name, results[name])
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(
        json.dumps(
            {
                "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
                "machine": {
                    "cpus": os.cpu_count(),
                    "platform": platform.platform(),
                    "load_average": os.getloadavg(),
                },
                "served_by": "gunicorn" if args.direct else "caddy + gunicorn",
                "throttling": {"network": NETWORK, "cpu_slowdown": CPU_SLOWDOWN},
                "budgets_ms": BUDGETS_MS | {"step_swap": SWAP_BUDGET_MS},
                "budgets_bytes": {"first_view": FIRST_VIEW_BUDGET, "loader": LOADER_BUDGET},
                "loader_gzipped_bytes": loader_gzipped,
                "pages": results,
                "step_swap_ms": {"median": swap, "each": swaps},
                "calendar_day_swap_ms": {"median": day_swap, "each": day_swaps},
                "checks": checks,
            },
            indent=2,
        )
        + "\n"
    )
    print(f"\nwritten to {args.json}")
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
