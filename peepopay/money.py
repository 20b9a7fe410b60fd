"""Money arithmetic in integer minor units: deposits and platform fees."""

from __future__ import annotations

from peepopay.scheduling.models import DepositType, Service

BPS = 10_000  # basis points in a whole


def percent_of(amount_minor: int, bps: int) -> int:
    """`bps` basis points of an amount, rounded half up to the minor unit."""
    return (amount_minor * bps + BPS // 2) // BPS


def application_fee(amount_minor: int, fee_bps: int) -> int:
    """The platform's fee on a charge: never more than the charge itself."""
    return min(percent_of(amount_minor, fee_bps), amount_minor)


def deposit_for(service: Service) -> int:
    """The deposit a customer pays now for this service, computed on the server only."""
    if service.deposit_type == DepositType.PERCENTAGE:
        if service.price_minor is None:
            raise ValueError("a percentage deposit needs a price")
        return percent_of(service.price_minor, service.deposit_value)
    if service.price_minor is not None:
        return min(service.deposit_value, service.price_minor)
    return service.deposit_value
