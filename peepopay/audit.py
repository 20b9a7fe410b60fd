"""The audit trail: who changed what, when and from where."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from flask import has_request_context
from sqlalchemy.orm import Mapped, mapped_column

from peepopay.clock import utcnow
from peepopay.db_setup import DbSession, UTCDateTime
from peepopay.extensions import db
from peepopay.net import client_ip


class AuditLog(db.Model):  # type: ignore[name-defined]
    __tablename__ = "audit_log"
    __table_args__ = (sa.Index("ix_audit_log_entity", "entity_type", "entity_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    tradie_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("tradies.id", ondelete="CASCADE"), index=True
    )
    actor: Mapped[str] = mapped_column(sa.String(64))  # "tradie:7", "customer", "stripe", "system"
    action: Mapped[str] = mapped_column(sa.String(64))
    entity_type: Mapped[str] = mapped_column(sa.String(32))
    entity_id: Mapped[str] = mapped_column(sa.String(64))
    summary: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)
    ip: Mapped[str | None] = mapped_column(sa.String(45))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


def record(
    session: DbSession,
    *,
    tradie_id: int | None,
    actor: str,
    action: str,
    entity: Any,
    summary: dict[str, Any] | None = None,
) -> AuditLog:
    """Add an audit entry to the session; it commits with the change it describes."""
    entry = AuditLog(
        tradie_id=tradie_id,
        actor=actor,
        action=action,
        entity_type=type(entity).__name__.lower(),
        entity_id=str(entity.id),
        summary=summary or {},
        ip=client_ip() if has_request_context() else None,
    )
    session.add(entry)
    return entry
