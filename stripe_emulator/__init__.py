"""A local, stateful Stripe emulator for tests and demo mode (test mode only, no real money).

It speaks the subset of Stripe's HTTP API that PeepoPay uses, so the official SDK works against
it unchanged: `python -m stripe_emulator`, or `testing.running_emulator()` in tests.
A development tool beside the product: it imports nothing from peepopay, peepopay never imports
it, and it is in neither the wheel nor the image.
"""

from .app import create_emulator_app
from .state import EmulatorConfig
from .webhooks import DeliverySettings

__all__ = ["DeliverySettings", "EmulatorConfig", "create_emulator_app"]
