"""A hostile calendar cannot hold the worker: a download has one wall-clock limit however
slowly the server sends, and a feed whose rules would expand without end (INTERVAL=0, every
second, millions of times) is refused quickly, in little memory, with the reason on the feed."""

from __future__ import annotations

import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest

from peepopay import safefetch
from peepopay.calendars import services as feeds
from tests.calendar_support import ics
from tests.fixtures.clock import DASH_NOW
from tests.test_calendar_feeds import busy, connect, feed_row, kiwi, sync  # noqa: F401

pytestmark = pytest.mark.usefixtures("frozen_clock")

ROOT = Path(__file__).resolve().parent.parent
LOOPBACK_OK = safefetch.Limits(timeout_seconds=2, allow_loopback=True)
ONE_EVENT = ics("DTSTART:20300110T010000Z\nDTEND:20300110T020000Z")


# --------------------------------------------------------------------------- slow servers


def test_a_trickled_body_is_cut_off_at_the_total_limit(feed_server):
    """A byte every 0.5 s never trips a per-read timeout; the fetch still ends at 2 s."""
    url = feed_server.serve("/trickle.ics", ONE_EVENT, trickle=0.5)
    began = time.monotonic()
    with pytest.raises(safefetch.FetchError, match="took too long"):
        safefetch.fetch(url, LOOPBACK_OK)
    assert time.monotonic() - began < 3.5


def test_a_trickled_body_without_a_length_is_not_taken_as_complete(feed_server):
    url = feed_server.serve("/trickle.ics", ONE_EVENT, trickle=0.5, declare_length=False)
    began = time.monotonic()
    with pytest.raises(safefetch.FetchError, match="took too long"):
        safefetch.fetch(url, LOOPBACK_OK)
    assert time.monotonic() - began < 3.5


def test_a_trickling_feed_fails_its_sync_within_the_limit(app, feed_server, kiwi):  # noqa: F811
    app.config["CALENDAR_FETCH_TIMEOUT_SECONDS"] = 2
    url = feed_server.serve("/t.ics", ONE_EVENT)
    feed_id = connect(app, kiwi[0], url)
    feed_server.serve("/t.ics", ONE_EVENT, trickle=0.5)
    began = time.monotonic()
    assert sync(app, feed_id, DASH_NOW + timedelta(minutes=5)) == "failed"
    assert time.monotonic() - began < 4
    assert "took too long" in feed_row(app, feed_id).last_error
    assert len(busy(app, feed_id)) == 1  # the last good busy times stay


# --------------------------------------------------------------------------- hostile rules

HOSTILE = {
    # Never advances: the expansion never ends (3 minutes and 4.5 GB before).
    "interval-0": (
        "DTSTART:20300110T010000Z\nDTEND:20300110T020000Z\nRRULE:FREQ=DAILY;INTERVAL=0",
        "repeats with an interval of 0",
    ),
    # Five million occurrences in 60 days (90 s and 820 MB before).
    "secondly": (
        "DTSTART:20300110T010000Z\nDTEND:20300110T010001Z\nRRULE:FREQ=SECONDLY",
        "repeats more often than once a minute",
    ),
    # Allowed as a rule, but a minute apart for 120 days is 170,000 occurrences: stopped at
    # the count or at the time limit, whichever comes first on this machine.
    "minutely": (
        "DTSTART:20300110T010000Z\nDTEND:20300110T010030Z\nRRULE:FREQ=MINUTELY",
        ("more than 20,000 events", "took too long to read"),
    ),
    # 60 years of minutes to walk through before the horizon even starts.
    "minutely-since-1970": (
        "DTSTART:19700101T000000Z\nDTEND:19700101T000030Z\nRRULE:FREQ=MINUTELY;INTERVAL=7",
        "repeats minutely since 1970-01-01",
    ),
    # Sub-minute by its BYSECOND list, whatever its FREQ says.
    "every-second-by-list": (
        "DTSTART:20300110T010000Z\nDTEND:20300110T010001Z\n"
        "RRULE:FREQ=MINUTELY;BYSECOND=" + ",".join(str(n) for n in range(60)),
        "repeats more often than once a minute",
    ),
}


def said(text: str, expected: str | tuple[str, ...]) -> bool:
    return any(words in text for words in ((expected,) if isinstance(expected, str) else expected))


def hostile_ics(name: str) -> str:
    return ics(HOSTILE[name][0])


MEASURE = """
import resource, sys, time
from datetime import datetime, timedelta, UTC
from zoneinfo import ZoneInfo
from peepopay import safefetch
from peepopay.calendars import parse
# A ceiling so that a runaway expansion fails here instead of taking the machine's memory.
resource.setrlimit(resource.RLIMIT_AS, (3 * 1024**3, 3 * 1024**3))
limits = safefetch.Limits(timeout_seconds=5, allow_loopback=True)
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
began = time.monotonic()
start = datetime(2030, 1, 9, tzinfo=UTC)
try:
    calendar = parse.read_calendar(safefetch.fetch(sys.argv[1], limits).body)
    end = start + timedelta(days=121)
    found = parse.busy_intervals(calendar, start, end, ZoneInfo("Pacific/Auckland"))
    print("ACCEPTED", len(found))
except parse.NotACalendar as refused:
    print("REFUSED", refused)
print("SECONDS", time.monotonic() - began)
print("GROWTH_MB", (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) // 1024)
"""


@pytest.mark.parametrize("name", list(HOSTILE))
def test_a_hostile_feed_is_refused_quickly_in_little_memory(feed_server, name):
    """Fetched from a local server and parsed in a process of its own, so that time and peak
    memory are the parse's alone (and a runaway one can be stopped)."""
    url = feed_server.serve(f"/{name}.ics", hostile_ics(name))
    try:
        run = subprocess.run(
            [sys.executable, "-c", MEASURE, url],
            capture_output=True,
            text=True,
            timeout=30,
            cwd=ROOT,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"{name}: the parse was still running after 30 s")
    lines = dict(line.split(" ", 1) for line in run.stdout.splitlines())
    assert "REFUSED" in lines, run.stdout + run.stderr[-2000:]
    assert said(lines["REFUSED"], HOSTILE[name][1])
    assert float(lines["SECONDS"]) < 10
    assert int(lines["GROWTH_MB"]) < 100


@pytest.mark.parametrize("name", list(HOSTILE))
def test_a_hostile_feed_records_the_reason_and_keeps_the_last_busy_times(
    app,
    feed_server,
    kiwi,  # noqa: F811
    name,
):
    url = feed_server.serve("/h.ics", ONE_EVENT)
    feed_id = connect(app, kiwi[0], url)
    feed_server.serve("/h.ics", hostile_ics(name))
    began = time.monotonic()
    assert sync(app, feed_id, DASH_NOW + timedelta(minutes=5)) == "failed"
    assert time.monotonic() - began < 10
    assert said(feed_row(app, feed_id).last_error, HOSTILE[name][1])
    assert len(busy(app, feed_id)) == 1
    assert said(feeds.synced_notice(feed_row(app, feed_id)), HOSTILE[name][1])
