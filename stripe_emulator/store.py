"""In-memory object store: Stripe objects by id, each scoped to the platform or one account."""

from __future__ import annotations

import copy
import secrets
import string
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import stripe

from .errors import cannot_expand, invalid_request, resource_missing
from .expandable import EXPANDABLE
from .formdata import get_int, get_str

# The API version the emulator renders: the one the stripe SDK here speaks.
API_VERSION: str = stripe.api_version


@dataclass(frozen=True)
class IdempotentResult:
    fingerprint: str
    status: int
    body: bytes
    request_id: str
    created: int


_ALPHABET = string.ascii_letters + string.digits


def random_token(length: int = 24) -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(length))


@dataclass
class Record:
    """One stored object: its public JSON, its scope (None = platform) and private state."""

    id: str
    obj: dict[str, Any]
    account: str | None
    extra: dict[str, Any] = field(default_factory=dict)


class Store:
    """Objects by id, guarded by one re-entrant lock that API calls hold for their whole run."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.clock_offset = 0
        self._records: dict[str, Record] = {}

    def now(self) -> int:
        """Unix seconds on the emulator's clock, which tests may move forward."""
        return int(time.time()) + self.clock_offset

    def new_id(self, prefix: str, length: int = 24) -> str:
        return f"{prefix}_{random_token(length)}"

    def add(
        self, obj: dict[str, Any], account: str | None, *, obj_id: str | None = None, **extra: Any
    ) -> Record:
        record = Record(obj_id or obj["id"], obj, account, dict(extra))
        self._records[record.id] = record
        return record

    def restore(self, record: Record) -> None:
        """Put back a record read from the state file, in its original order."""
        self._records[record.id] = record

    def all_records(self) -> list[Record]:
        """Every record, oldest first (the state file keeps this order)."""
        return list(self._records.values())

    def find(self, obj_id: str) -> Record | None:
        """Any scope: for hosted pages and the control API, which act as Stripe itself."""
        return self._records.get(obj_id)

    def record(
        self, obj_id: str, account: str | None, object_name: str, *, param: str = "id"
    ) -> Record:
        """The record if it exists in this scope and has this type, else Stripe's 404/400."""
        record = self._records.get(obj_id)
        if record is None or record.account != account or record.obj["object"] != object_name:
            raise resource_missing(object_name, obj_id, param=param)
        return record

    def get(
        self, obj_id: str, account: str | None, object_name: str, *, param: str = "id"
    ) -> dict[str, Any]:
        return self.record(obj_id, account, object_name, param=param).obj

    def delete(self, obj_id: str) -> None:
        self._records.pop(obj_id, None)

    def records(
        self, object_name: str, account: str | None = None, *, any_scope: bool = False
    ) -> list[Record]:
        """Records of one type, newest first."""
        return [
            r
            for r in reversed(self._records.values())
            if r.obj.get("object") == object_name and (any_scope or r.account == account)
        ]

    def objects(
        self,
        object_name: str,
        account: str | None,
        where: Callable[[dict[str, Any]], bool] | None = None,
    ) -> list[dict[str, Any]]:
        return [r.obj for r in self.records(object_name, account) if where is None or where(r.obj)]

    def clear(self, keep: Callable[[Record], bool]) -> None:
        self._records = {k: r for k, r in self._records.items() if keep(r)}
        self.clock_offset = 0


def snapshot(obj: dict[str, Any]) -> dict[str, Any]:
    return copy.deepcopy(obj)


def paginate(
    items: list[dict[str, Any]], params: Mapping[str, Any]
) -> tuple[list[dict[str, Any]], bool]:
    """Stripe's cursor pagination over newest-first items: limit, starting_after, ending_before."""
    limit = get_int(params, "limit", minimum=1, maximum=100) or 10
    items = _filter_created(items, params.get("created"))
    ids = [item["id"] for item in items]
    after, before = get_str(params, "starting_after"), get_str(params, "ending_before")
    if after is not None:
        if after not in ids:
            raise invalid_request(
                f"No such object: '{after}'", param="starting_after", code="resource_missing"
            )
        items = items[ids.index(after) + 1 :]
    elif before is not None:
        if before not in ids:
            raise invalid_request(
                f"No such object: '{before}'", param="ending_before", code="resource_missing"
            )
        end = ids.index(before)
        return items[max(0, end - limit) : end], end > limit
    return items[:limit], len(items) > limit


def _filter_created(items: list[dict[str, Any]], created: Any) -> list[dict[str, Any]]:
    if created is None:
        return items
    bounds = created if isinstance(created, dict) else {"eq": created}
    checks: dict[str, Callable[[int, int], bool]] = {
        "eq": lambda a, b: a == b,
        "gt": lambda a, b: a > b,
        "gte": lambda a, b: a >= b,
        "lt": lambda a, b: a < b,
        "lte": lambda a, b: a <= b,
    }
    for op, raw in bounds.items():
        if op not in checks or not str(raw).isdigit():
            raise invalid_request(f"Invalid created[{op}]", param=f"created[{op}]")
        items = [item for item in items if checks[op](item["created"], int(raw))]
    return items


def expand(
    store: Store, account: str | None, obj: dict[str, Any], paths: Iterable[str]
) -> dict[str, Any]:
    """A copy of `obj` with the id fields named by `expand[]` paths replaced by their objects."""
    result = snapshot(obj)
    for path in paths:
        _expand_path(store, account, result, path.split("."))
    return result


def _expand_path(store: Store, account: str | None, node: Any, parts: list[str]) -> None:
    if not parts or not isinstance(node, dict):
        return
    key, rest = parts[0], parts[1:]
    if key == "data" and node.get("object") == "list":
        for item in node["data"]:
            _expand_path(store, account, item, rest)
        return
    allowed = EXPANDABLE.get(str(node.get("object")))
    if allowed is not None and key not in allowed:
        raise cannot_expand(key)
    value = node.get(key)
    if isinstance(value, str):
        found = store.find(value)
        if found is not None and found.account in (account, None):
            value = node[key] = snapshot(found.obj)
    _expand_path(store, account, value, rest)
