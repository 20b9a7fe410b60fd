"""Per-client limits shared by the widget's steps and the public API: requests and holds."""

import logging
import time
from typing import Any

from flask import current_app
from limits import RateLimitItem, parse
from limits.storage import MemoryStorage, RedisStorage
from limits.strategies import FixedWindowRateLimiter
from redis.exceptions import RedisError
from werkzeug.exceptions import TooManyRequests

from peepopay import slot_versions
from peepopay.bookings.services import HoldLimits
from peepopay.extensions import limiter
from peepopay.net import client_network

log = logging.getLogger(__name__)

AVAILABILITY_SCOPE = "widget-availability"

# Looking at free times (calendar, day, API availability) and holding a slot are limited apart:
# browsing is cheap and frequent, booking is rare for a real customer.
DEFAULT_AVAILABILITY_LIMIT = "120 per minute"
DEFAULT_BOOKING_LIMIT = "20 per 10 minutes"


def _availability() -> str:
    return str(current_app.config.get("WIDGET_AVAILABILITY_LIMIT", DEFAULT_AVAILABILITY_LIMIT))


def _booking() -> str:
    return str(current_app.config.get("WIDGET_BOOKING_LIMIT", DEFAULT_BOOKING_LIMIT))


availability_limit = limiter.shared_limit(
    _availability, scope=AVAILABILITY_SCOPE, methods=["GET", "POST"]
)  # the API's availability counts into the same bucket itself: `availability_hit`
booking_limit = limiter.shared_limit(_booking, scope="widget-booking", methods=["POST"])


def hold_limits() -> HoldLimits:
    """The unpaid holds a tradie accepts per client and per day, as configured."""
    return HoldLimits(
        per_client=int(current_app.config["HOLD_LIMIT_PER_CLIENT"]),
        day_percent=int(current_app.config["HOLD_LIMIT_DAY_PERCENT"]),
    )


# --- the availability endpoint: its count and the slot versions in one Redis round trip -----

# limits' fixed window (its incr_expire.lua, the key Flask-Limiter's shared limit gives it), then
# the window's remaining seconds when over, and the slot versions (peepopay.slot_versions).
_COUNT_AND_READ = """
local amount = tonumber(ARGV[2])
local current = redis.call("incrby", KEYS[1], amount)
if current == amount then
    redis.call("expire", KEYS[1], ARGV[1])
end
local ttl = -1
if current > tonumber(ARGV[3]) then
    ttl = redis.call("ttl", KEYS[1])
end
local versions = {}
if #KEYS > 1 then
    versions = redis.call("mget", unpack(KEYS, 2))
end
return {current, ttl, versions}
"""
_fallback = FixedWindowRateLimiter(MemoryStorage())


def availability_hit(tradie_id: int | None) -> tuple[Any, Any] | None:
    """Count one request against the availability limit, as `availability_limit` would, and
    read the tradie's slot versions (None when unknown) in the same round trip; 429 when over.

    Flask-Limiter's own check costs a Redis round trip of its own and evaluates the limits twice
    in Python (its before_request hook and the decorator); this is the hot path's one."""
    if not limiter.enabled:
        return slot_versions.read(tradie_id)
    item = parse(_availability())
    prefix = current_app.config.get("RATELIMIT_KEY_PREFIX") or ""
    ids = [i for i in (prefix, client_network(), AVAILABILITY_SCOPE) if i]
    storage = limiter.storage
    if isinstance(storage, RedisStorage) and isinstance(limiter.limiter, FixedWindowRateLimiter):
        keys = [storage.prefixed_key(item.key_for(*ids))]
        if tradie_id is not None:
            keys += [slot_versions.key(slot_versions.EVERYONE), slot_versions.key(tradie_id)]
        try:
            script = current_app.extensions.get("availability_script")
            if script is None:
                redis: Any = storage.get_connection()
                script = redis.register_script(_COUNT_AND_READ)
                current_app.extensions["availability_script"] = script
            current, ttl, versions = script(keys, [item.get_expiry(), 1, item.amount])
        except RedisError:
            log.warning("rate limit storage unreachable; counting availability in memory")
        else:
            if int(current) > item.amount:
                raise TooManyRequests(retry_after=max(1, int(ttl)))
            if tradie_id is None or None in versions:
                return slot_versions.read(tradie_id)
            return versions[0], versions[1]
    elif _counted_by_flask_limiter(item, ids):
        return slot_versions.read(tradie_id)
    if not _fallback.hit(item, *ids):
        raise TooManyRequests(retry_after=item.get_expiry())
    return slot_versions.read(tradie_id)


def _counted_by_flask_limiter(item: RateLimitItem, ids: list[str]) -> bool:
    """Any other storage (memory in tests and `make run` without Redis): its own strategy."""
    try:
        allowed = limiter.limiter.hit(item, *ids)
    except Exception:  # the storage's errors are its own; the memory fallback counts instead
        log.warning("rate limit storage unreachable; counting availability in memory")
        return False
    if not allowed:
        reset = limiter.limiter.get_window_stats(item, *ids).reset_time
        raise TooManyRequests(retry_after=max(1, int(reset - time.time())))
    return True
