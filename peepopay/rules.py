"""What the domain areas' rules share: a rule broken by input, ownership, audited changes."""

from __future__ import annotations

from datetime import date, datetime, time
from typing import Any, TypeVar

from werkzeug.exceptions import NotFound

from peepopay import audit
from peepopay.accounts.models import Tradie
from peepopay.db_setup import DbSession
from peepopay.errors import RuleRefused

T = TypeVar("T")


# A business rule broken by the input; `field` names the form field to show it on.
FormError = RuleRefused


def owned(session: DbSession, model: type[T], object_id: int, tradie_id: int) -> T:
    """The tradie's own row, or 404: another tradie's id looks exactly like a missing one."""
    row = session.get(model, object_id)
    if row is None or getattr(row, "tradie_id", None) != tradie_id:
        raise NotFound()
    return row


def actor(tradie: Tradie) -> str:
    return f"tradie:{tradie.id}"


def changes(obj: Any, values: dict[str, Any]) -> dict[str, list[Any]]:
    """Apply `values` to `obj`, returning {field: [old, new]} for what actually changed."""
    changed: dict[str, list[Any]] = {}
    for key, value in values.items():
        old = getattr(obj, key)
        if old != value:
            changed[key] = [_plain(old), _plain(value)]
            setattr(obj, key, value)
    return changed


def update_tradie(
    session: DbSession, tradie: Tradie, action: str, values: dict[str, Any]
) -> dict[str, list[Any]]:
    """Apply a settings form's `values` to the tradie; audit what changed (nothing if nothing)."""
    changed = changes(tradie, values)
    if changed:
        audit.record(
            session,
            tradie_id=tradie.id,
            actor=actor(tradie),
            action=action,
            entity=tradie,
            summary=changed,
        )
    return changed


def _plain(value: Any) -> Any:
    """JSON-friendly form of a value for audit summaries."""
    if isinstance(value, date | time | datetime):
        return value.isoformat()
    return value
