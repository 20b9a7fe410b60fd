"""Stripe's test cards and test PaymentMethod ids, and what each does when charged."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from .errors import card_error


@dataclass(frozen=True)
class Decline:
    code: str
    message: str
    decline_code: str | None = None
    # Attaching to a customer runs a check that declines too (4000000000000341 is the exception).
    fails_attach: bool = True


DECLINED = Decline("card_declined", "Your card was declined.", "generic_decline")
INSUFFICIENT_FUNDS = Decline(
    "card_declined", "Your card has insufficient funds.", "insufficient_funds", fails_attach=False
)
AUTHENTICATION_REQUIRED = Decline(
    "authentication_required",
    "Your card was declined. This transaction requires authentication.",
    "authentication_required",
)
LIVE_CARD = Decline(
    "card_declined",
    "Your card was declined. Your request was in test mode, but used a non test (live) card. "
    "For a list of valid test cards, visit: https://stripe.com/docs/testing.",
    "test_mode_live_card",
)


@dataclass(frozen=True)
class CardProfile:
    number: str
    brand: str
    decline: Decline | None = None
    # "unless_setup": 3DS unless charged off session after being set up for off-session use
    # (saved by an authenticated payment); "always": every payment.
    authentication: Literal["none", "unless_setup", "always"] = "none"
    processing: bool = False
    dispute: bool = False
    funding: str = "credit"
    country: str = "US"


_CARDS = [
    CardProfile("4242424242424242", "visa"),
    CardProfile("4000056655665556", "visa", funding="debit"),
    CardProfile("5555555555554444", "mastercard"),
    CardProfile("378282246310005", "amex"),
    CardProfile("4000000360000006", "visa", country="AU"),
    CardProfile("4000005540000008", "visa", country="NZ"),
    CardProfile("4000000000000002", "visa", decline=DECLINED),
    CardProfile("4000000000009995", "visa", decline=INSUFFICIENT_FUNDS),
    CardProfile(
        "4000000000009987",
        "visa",
        decline=Decline("card_declined", "Your card was declined.", "lost_card"),
    ),
    CardProfile(
        "4000000000009979",
        "visa",
        decline=Decline("card_declined", "Your card was declined.", "stolen_card"),
    ),
    CardProfile(
        "4000000000000069",
        "visa",
        decline=Decline("expired_card", "Your card has expired.", "expired_card"),
    ),
    CardProfile(
        "4000000000000127",
        "visa",
        decline=Decline(
            "incorrect_cvc", "Your card's security code is incorrect.", "incorrect_cvc"
        ),
    ),
    CardProfile(
        "4000000000000119",
        "visa",
        decline=Decline(
            "processing_error",
            "An error occurred while processing your card. Try again in a little bit.",
            "processing_error",
        ),
    ),
    CardProfile(
        "4000000000000341",
        "visa",
        decline=Decline("card_declined", "Your card was declined.", "generic_decline", False),
    ),
    # As Stripe documents it: 3-D Secure for a payment on session unless the card was set up
    # for off-session use; once set up (saved by an authenticated payment with
    # setup_future_usage=off_session), an off-session charge succeeds without it.
    CardProfile("4000002500003155", "visa", authentication="unless_setup"),
    CardProfile("4000002760003184", "visa", authentication="always"),
    CardProfile("4000000000003220", "visa", authentication="always"),
    CardProfile("4000008260003178", "visa", decline=INSUFFICIENT_FUNDS, authentication="always"),
    CardProfile("4000000000000259", "visa", dispute=True),
    # Emulator only (cards never stay "processing" at Stripe): succeeds or fails on command.
    CardProfile("4000000000007007", "visa", processing=True),
]
CARD_PROFILES = {card.number: card for card in _CARDS}

PAYMENT_METHOD_ALIASES = {
    "pm_card_visa": "4242424242424242",
    "pm_card_visa_debit": "4000056655665556",
    "pm_card_mastercard": "5555555555554444",
    "pm_card_amex": "378282246310005",
    "pm_card_au": "4000000360000006",
    "pm_card_nz": "4000005540000008",
    "pm_card_chargeDeclined": "4000000000000002",
    "pm_card_chargeDeclinedInsufficientFunds": "4000000000009995",
    "pm_card_chargeDeclinedLostCard": "4000000000009987",
    "pm_card_chargeDeclinedStolenCard": "4000000000009979",
    "pm_card_chargeDeclinedExpiredCard": "4000000000000069",
    "pm_card_chargeDeclinedIncorrectCvc": "4000000000000127",
    "pm_card_chargeDeclinedProcessingError": "4000000000000119",
    "pm_card_chargeCustomerFail": "4000000000000341",
    "pm_card_authenticationRequiredOnSetup": "4000002500003155",
    "pm_card_authenticationRequired": "4000002760003184",
    "pm_card_authenticationRequiredChargeDeclinedInsufficientFunds": "4000008260003178",
    "pm_card_createDispute": "4000000000000259",
    "pm_card_processing": "4000000000007007",
}

# Emulator only: a card from a wallet, as Apple Pay or Google Pay hand it to a PaymentIntent
# (a device-specific number behind the card; `wallet` on the card and on its charge says so).
WALLET_ALIASES = {
    "pm_card_visa_apple_pay": ("4242424242424242", "apple_pay"),
    "pm_card_mastercard_google_pay": ("5555555555554444", "google_pay"),
}
WALLETS = {"apple_pay": "Apple Pay", "google_pay": "Google Pay"}

# What automatic_payment_methods turns on for an account in test mode (wallets are cards).
AUTOMATIC_PAYMENT_METHOD_TYPES = ["card", "link"]

# Shown on the hosted pages.
CARD_HINTS = [
    ("4242 4242 4242 4242", "succeeds"),
    ("4000 0025 0000 3155", "asks for 3-D Secure; once saved, charged off-session without it"),
    ("4000 0027 6000 3184", "asks for 3-D Secure every time"),
    ("4000 0000 0000 0002", "declined"),
    ("4000 0000 0000 9995", "declined: insufficient funds"),
    ("4000 0000 0000 0341", "saves fine, every charge declined"),
]


def card_for(number: str) -> CardProfile:
    """The test card with this number; any other valid number is a live card, declined."""
    return CARD_PROFILES.get(number) or CardProfile(number, brand_for(number), decline=LIVE_CARD)


def brand_for(number: str) -> str:
    if number.startswith("4"):
        return "visa"
    if number[:2] in ("34", "37"):
        return "amex"
    if number[:2] in ("51", "52", "53", "54", "55") or number[:1] == "2":
        return "mastercard"
    if number.startswith(("6011", "65")):
        return "discover"
    return "unknown"


def luhn_ok(number: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(number)):
        digit = int(char)
        if index % 2:
            digit = digit * 2 - 9 if digit > 4 else digit * 2
        total += digit
    return total % 10 == 0


def validate_card(
    number: str, exp_month: int, exp_year: int, cvc: str | None, today: tuple[int, int]
) -> None:
    """Stripe's card_error answers for numbers, expiry dates and CVCs that cannot be a card."""
    if not (number.isdigit() and 13 <= len(number) <= 19 and luhn_ok(number)):
        raise card_error("Your card number is incorrect.", "incorrect_number", param="number")
    if not 1 <= exp_month <= 12:
        raise card_error(
            "Your card's expiration month is invalid.", "invalid_expiry_month", param="exp_month"
        )
    year, month = today
    if exp_year < year or (exp_year == year and exp_month < month) or exp_year > year + 50:
        raise card_error(
            "Your card's expiration year is invalid.", "invalid_expiry_year", param="exp_year"
        )
    if cvc is not None and not (cvc.isdigit() and len(cvc) in (3, 4)):
        raise card_error("Your card's security code is invalid.", "invalid_cvc", param="cvc")
