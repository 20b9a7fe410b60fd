"""A tradie's services: deposit rules in minor units and basis points, order, archiving."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from peepopay import audit
from peepopay.accounts.models import Tradie
from peepopay.db_setup import DbSession
from peepopay.money import BPS, application_fee, deposit_for
from peepopay.rules import FormError, actor, changes, owned
from peepopay.scheduling.models import DepositType, Service


@dataclass(frozen=True)
class ServiceInput:
    """A service as the form describes it; deposit_value is minor units or basis points."""

    name: str
    description: str
    duration_minutes: int
    price_minor: int | None
    deposit_type: str
    deposit_value: int | None


@dataclass(frozen=True)
class Example:
    """The worked example beside the form: who pays and receives what, in minor units."""

    price_minor: int | None
    deposit_minor: int
    later_minor: int | None
    fee_minor: int
    tradie_receives_minor: int
    fee_bps: int


def check_deposit(price_minor: int | None, deposit_type: str, deposit_value: int | None) -> None:
    """Raise FormError unless the deposit is positive, computable and not above the price."""
    if deposit_type == DepositType.PERCENTAGE:
        if deposit_value is None:
            raise FormError("deposit_percent", "Deposit percent is required for a percentage.")
        if price_minor is None:
            raise FormError("price", "Price is required for a percentage deposit.")
        if not 0 < deposit_value <= BPS:
            raise FormError(
                "deposit_percent", "Deposit percent must be more than 0 and at most 100."
            )
        probe = Service(
            price_minor=price_minor, deposit_type=deposit_type, deposit_value=deposit_value
        )
        if deposit_for(probe) <= 0:
            raise FormError("deposit_percent", "Deposit percent gives a deposit of zero; raise it.")
    elif deposit_type == DepositType.FIXED:
        if deposit_value is None:
            raise FormError("deposit_amount", "Deposit amount is required for a fixed deposit.")
        if deposit_value <= 0:
            raise FormError("deposit_amount", "Deposit amount must be more than zero.")
        if price_minor is not None and deposit_value > price_minor:
            raise FormError("deposit_amount", "Deposit amount can't be more than the price.")
    else:
        raise FormError("deposit_type", "Deposit type must be fixed or a percentage.")


def example(data: ServiceInput, fee_bps: int) -> Example:
    """What the customer pays now and later, and what reaches the tradie after our fee."""
    check_deposit(data.price_minor, data.deposit_type, data.deposit_value)
    probe = Service(
        price_minor=data.price_minor,
        deposit_type=data.deposit_type,
        deposit_value=data.deposit_value,
    )
    deposit = deposit_for(probe)
    fee = application_fee(deposit, fee_bps)
    later = None if data.price_minor is None else data.price_minor - deposit
    return Example(data.price_minor, deposit, later, fee, deposit - fee, fee_bps)


def listing(session: DbSession, tradie_id: int) -> tuple[list[Service], list[Service]]:
    """(active, archived) services in the tradie's order."""
    rows = session.scalars(
        sa.select(Service)
        .where(Service.tradie_id == tradie_id)
        .order_by(Service.sort_order, Service.id)
    ).all()
    return [s for s in rows if not s.archived], [s for s in rows if s.archived]


def get(session: DbSession, tradie_id: int, service_id: int) -> Service:
    return owned(session, Service, service_id, tradie_id)


def _values(data: ServiceInput) -> dict[str, object]:
    check_deposit(data.price_minor, data.deposit_type, data.deposit_value)
    return {
        "name": data.name.strip(),
        "description": data.description.strip(),
        "duration_minutes": data.duration_minutes,
        "price_minor": data.price_minor,
        "deposit_type": data.deposit_type,
        "deposit_value": data.deposit_value,
    }


def _next_position(session: DbSession, tradie_id: int) -> int:
    top = session.scalar(
        sa.select(sa.func.max(Service.sort_order)).where(Service.tradie_id == tradie_id)
    )
    return (top or 0) + 1


def create(session: DbSession, tradie: Tradie, data: ServiceInput, now: datetime) -> Service:
    values = _values(data)
    service = Service(tradie_id=tradie.id, sort_order=_next_position(session, tradie.id), **values)
    service.created_at = service.updated_at = now
    session.add(service)
    session.flush()
    audit.record(
        session,
        tradie_id=tradie.id,
        actor=actor(tradie),
        action="service.created",
        entity=service,
        summary={"name": service.name},
    )
    return service


def update(
    session: DbSession, tradie: Tradie, service: Service, data: ServiceInput, now: datetime
) -> Service:
    changed = changes(service, _values(data))
    if changed:
        service.updated_at = now
        audit.record(
            session,
            tradie_id=tradie.id,
            actor=actor(tradie),
            action="service.updated",
            entity=service,
            summary=changed,
        )
    return service


def set_archived(session: DbSession, tradie: Tradie, service: Service, archived: bool) -> None:
    """Archive (hide from the widget; bookings keep their snapshot) or restore a service."""
    if service.archived == archived:
        return
    service.archived = archived
    if not archived:
        service.sort_order = _next_position(session, tradie.id)
    audit.record(
        session,
        tradie_id=tradie.id,
        actor=actor(tradie),
        action="service.archived" if archived else "service.restored",
        entity=service,
        summary={"name": service.name},
    )


def move(session: DbSession, tradie: Tradie, service: Service, direction: str) -> None:
    """Swap an active service with its neighbour above or below and renumber 1..n."""
    active, _ = listing(session, tradie.id)
    if service not in active:
        return
    index = active.index(service)
    target = index - 1 if direction == "up" else index + 1
    if 0 <= target < len(active):
        active[index], active[target] = active[target], active[index]
        audit.record(
            session,
            tradie_id=tradie.id,
            actor=actor(tradie),
            action="service.moved",
            entity=service,
            summary={"direction": direction, "position": target + 1},
        )
    for position, row in enumerate(active, start=1):
        row.sort_order = position
