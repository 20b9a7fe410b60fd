"""Dashboard forms. Every error message names its field (see DashboardForm.validate)."""

from __future__ import annotations

from datetime import date
from typing import Any

from flask_login import current_user
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import (
    BooleanField,
    DateField,
    EmailField,
    IntegerField,
    PasswordField,
    RadioField,
    SelectChoice,
    SelectField,
    StringField,
    TextAreaField,
    TimeField,
)
from wtforms.validators import (
    Email,
    EqualTo,
    InputRequired,
    Length,
    NumberRange,
    Optional,
    ValidationError,
)

from peepopay.accounts import first_run
from peepopay.accounts.settings import COUNTRIES, CURRENCIES, ProfileInput
from peepopay.catalog.services import ServiceInput
from peepopay.clock import utcnow
from peepopay.dashboard.common import parse_percent
from peepopay.formatting import amount_example, parse_money, plain_amount
from peepopay.rules import FormError
from peepopay.scheduling import availability as hours
from peepopay.scheduling.models import DepositType


class DashboardForm(FlaskForm):
    """A form whose every error message names the field it belongs to."""

    def validate(self, extra_validators: Any = None) -> bool:
        valid = super().validate(extra_validators)
        for field in self:
            label = field.label.text
            name = label.split(" (")[0].lower()
            field.errors = [
                message if name in message.lower() else f"{label}: {message}"
                for message in field.errors
            ]
        return valid

    def add_error(self, error: FormError) -> None:
        field = getattr(self, error.field)
        field.errors = [*field.errors, error.message]


def _range(name: str) -> list[Any]:
    bound = hours.RULE_BOUNDS[name]
    return [
        InputRequired(f"{bound.label} is required."),
        NumberRange(bound.low, bound.high, bound.message()),
    ]


def _number(label: str) -> str:
    return f"{label} must be a whole number."


# --- services ----------------------------------------------------------------------------------


def zone_choices(current: str | None = None) -> list[SelectChoice]:
    """Current zones grouped by region with today's UTC offset; a zone saved before that is no
    longer current (a deprecated alias) stays choosable, so saving never changes it silently."""
    choices = [
        SelectChoice(zone, label, optgroup=region)
        for region, zones in first_run.zone_groups(utcnow())
        for zone, label in zones
    ]
    if current and current not in first_run.current_zones():
        choices.append(SelectChoice(current, current, optgroup="Saved earlier"))
    return choices


class ServiceForm(DashboardForm):
    name = StringField(
        "Name",
        validators=[
            InputRequired("Name is required."),
            Length(max=120, message="Name must be at most 120 characters."),
        ],
    )
    description = TextAreaField(
        "Description",
        validators=[Length(max=2000, message="Description must be at most 2000 characters.")],
    )
    duration_minutes = IntegerField(
        "Duration (minutes)",
        default=60,
        invalid_value_message=_number("Duration"),
        validators=[
            InputRequired("Duration is required."),
            NumberRange(5, 1440, "Duration must be between 5 and 1440 minutes."),
        ],
    )
    price = StringField("Price", validators=[Optional()])
    deposit_type = RadioField(
        "Deposit type",
        choices=[
            SelectChoice(DepositType.FIXED, "Fixed amount"),
            SelectChoice(DepositType.PERCENTAGE, "Percentage of the price"),
        ],
        default=DepositType.FIXED,
        validate_choice=False,
    )
    deposit_amount = StringField("Deposit amount", validators=[Optional()])
    deposit_percent = StringField("Deposit percent", validators=[Optional()])

    def __init__(self, *args: Any, currency: str = "NZD", **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.currency = currency
        self.parsed: dict[str, int | None] = {}

    def _money(self, field: Any) -> None:
        try:
            self.parsed[field.name] = parse_money(field.data or "", self.currency)
        except ValueError:
            example = amount_example(self.currency)
            raise ValidationError(f"{field.label.text} must be an amount like {example}.") from None

    def validate_price(self, field: Any) -> None:
        self._money(field)

    def validate_deposit_amount(self, field: Any) -> None:
        self._money(field)

    def validate_deposit_percent(self, field: Any) -> None:
        try:
            self.parsed[field.name] = parse_percent(field.data or "")
        except ValueError:
            raise ValidationError("Deposit percent must be a number like 25 or 12.5.") from None

    def validate_deposit_type(self, field: Any) -> None:
        if field.data not in (DepositType.FIXED, DepositType.PERCENTAGE):
            raise ValidationError("Deposit type must be fixed or a percentage.")

    def to_input(self) -> ServiceInput:
        """The validated input; call only after validate() (deposit rules are the service's)."""
        percentage = self.deposit_type.data == DepositType.PERCENTAGE
        return ServiceInput(
            name=self.name.data or "",
            description=self.description.data or "",
            duration_minutes=self.duration_minutes.data or 0,
            price_minor=self.parsed.get("price"),
            deposit_type=self.deposit_type.data or DepositType.FIXED,
            deposit_value=self.parsed.get("deposit_percent" if percentage else "deposit_amount"),
        )

    def money_fields_ok(self) -> bool:
        return not (self.price.errors or self.deposit_amount.errors or self.deposit_percent.errors)


class MoveForm(DashboardForm):
    direction = SelectField(
        "Direction",
        choices=[SelectChoice("up", "Up"), SelectChoice("down", "Down")],
        validate_choice=True,
    )


# --- availability ------------------------------------------------------------------------------

WEEKDAY_CHOICES = [SelectChoice(str(n), name) for n, name in enumerate(hours.WEEKDAYS)]


class HoursForm(DashboardForm):
    weekday = SelectField("Day", coerce=int, choices=WEEKDAY_CHOICES)
    start = TimeField("Start", validators=[InputRequired("Start is required.")])
    end = TimeField("End", validators=[InputRequired("End is required.")])


class CopyForm(DashboardForm):
    source = SelectField("Copy from", coerce=int, choices=WEEKDAY_CHOICES)


class BlockedForm(DashboardForm):
    start_date = DateField("First day", validators=[InputRequired("First day is required.")])
    end_date = DateField("Last day", validators=[Optional()])
    reason = StringField(
        "Reason",
        validators=[Length(max=200, message="Reason must be at most 200 characters.")],
    )

    def period(self) -> tuple[date, date | None, str]:
        """First day, last day (none for a single day) and reason, as add_blocked takes them."""
        return self.start_date.data, self.end_date.data, self.reason.data or ""


class RulesForm(DashboardForm):
    min_notice_minutes = IntegerField(
        "Minimum notice (minutes)",
        invalid_value_message=_number("Minimum notice"),
        validators=_range("min_notice_minutes"),
    )
    horizon_days = IntegerField(
        "Booking horizon (days)",
        invalid_value_message=_number("Booking horizon"),
        validators=_range("horizon_days"),
    )
    buffer_minutes = IntegerField(
        "Buffer between jobs (minutes)",
        invalid_value_message=_number("Buffer between jobs"),
        validators=_range("buffer_minutes"),
    )
    slot_interval_minutes = IntegerField(
        "Slot interval (minutes)",
        invalid_value_message=_number("Slot interval"),
        validators=_range("slot_interval_minutes"),
    )
    hold_minutes = IntegerField(
        "Payment hold (minutes)",
        invalid_value_message=_number("Payment hold"),
        validators=_range("hold_minutes"),
    )
    cancellation_window_hours = IntegerField(
        "Cancellation window (hours)",
        invalid_value_message=_number("Cancellation window"),
        validators=_range("cancellation_window_hours"),
    )
    customer_cutoff_hours = IntegerField(
        "Customer changes cut-off (hours)",
        invalid_value_message=_number("Customer changes cut-off"),
        validators=_range("customer_cutoff_hours"),
    )
    no_show_fee = StringField(
        "No-show fee",
        validators=[Optional()],
        render_kw={"inputmode": "decimal", "autocomplete": "off"},
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        tradie = kwargs.get("obj") or current_user
        self.currency = tradie.currency
        self.no_show_fee_minor = 0
        if kwargs.get("obj") is not None and self.no_show_fee.data is None:
            fee = tradie.no_show_fee_minor
            self.no_show_fee.data = plain_amount(fee, self.currency) if fee else ""

    def validate_no_show_fee(self, field: Any) -> None:
        try:
            self.no_show_fee_minor = parse_money(field.data or "0", self.currency)
        except ValueError:
            example = amount_example(self.currency)
            raise ValidationError(f"No-show fee must be an amount like {example}.") from None

    def values(self) -> dict[str, int]:
        values = {name: int(getattr(self, name).data) for name in hours.RULE_BOUNDS}
        return {**values, "no_show_fee_minor": self.no_show_fee_minor}


# --- bookings ----------------------------------------------------------------------------------


class CancelForm(DashboardForm):
    reason = StringField(
        "Reason (optional)",
        validators=[Length(max=200, message="Reason must be at most 200 characters.")],
    )


class EmptyForm(DashboardForm):
    """For buttons that carry nothing but the CSRF token."""


# --- settings ----------------------------------------------------------------------------------


class ProfileForm(DashboardForm):
    business_name = StringField(
        "Business name",
        validators=[
            InputRequired("Business name is required."),
            Length(min=2, max=120, message="Business name must be 2 to 120 characters."),
        ],
    )
    slug = StringField(
        "Booking page address",
        validators=[InputRequired("Booking page address is required.")],
    )
    phone = StringField(
        "Contact phone",
        validators=[Length(max=32, message="Contact phone must be at most 32 characters.")],
    )
    contact_email = EmailField(
        "Contact email",
        validators=[
            Optional(),
            Email("Contact email must be a valid address, like you@example.com."),
            Length(max=254, message="Contact email must be at most 254 characters."),
        ],
    )
    timezone = SelectField("Time zone", validate_choice=False)
    currency = SelectField(
        "Currency", choices=[SelectChoice(*c) for c in CURRENCIES], validate_choice=False
    )
    country = SelectField(
        "Country", choices=[SelectChoice(*c) for c in COUNTRIES], validate_choice=False
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.timezone.choices = zone_choices(self.timezone.data)

    def to_input(self) -> ProfileInput:
        return ProfileInput(
            business_name=self.business_name.data or "",
            slug=self.slug.data or "",
            phone=self.phone.data or "",
            contact_email=self.contact_email.data or "",
            timezone=self.timezone.data or "",
            currency=self.currency.data or "",
            country=self.country.data or "",
        )


class BrandingForm(DashboardForm):
    brand_color = StringField(
        "Brand colour", validators=[InputRequired("Brand colour is required.")]
    )
    logo = FileField("Logo")
    remove_logo = BooleanField("Remove the current logo")


class EmbeddingForm(DashboardForm):
    allowed_origins = TextAreaField(
        "Allowed origins",
        validators=[Length(max=4000, message="Allowed origins must be at most 4000 characters.")],
    )


class TaxForm(DashboardForm):
    tax_number = StringField(
        "Tax number (GST number, ABN or VAT number)",
        validators=[Length(max=40, message="Tax number must be at most 40 characters.")],
    )
    tax_rate = StringField("Tax rate (%)", validators=[Optional()])
    prices_include_tax = BooleanField("My prices include this tax")

    def rate_bps(self) -> int:
        """The rate in basis points ("15" -> 1500); a bad one is a FormError on the field."""
        text = (self.tax_rate.data or "").strip()
        if not text:
            return 0
        try:
            return parse_percent(text)
        except ValueError as error:
            raise FormError("tax_rate", str(error)) from None


class NotificationsForm(DashboardForm):
    notify_new_booking_email = BooleanField("Email me about each new booking")
    notify_new_booking_sms = BooleanField("Text me about each new booking")
    reminder_hours = IntegerField(
        "Reminder (hours before the job)",
        invalid_value_message=_number("Reminder"),
        validators=[
            InputRequired("Reminder is required."),
            NumberRange(0, 168, "Reminder must be between 0 and 168 hours before."),
        ],
    )


class EmailForm(DashboardForm):
    new_email = EmailField(
        "New email",
        validators=[
            InputRequired("New email is required."),
            Email("New email must be a valid address, like you@example.com."),
            Length(max=254, message="New email must be at most 254 characters."),
        ],
    )
    email_password = PasswordField(
        "Current password", validators=[InputRequired("Current password is required.")]
    )


class PasswordForm(DashboardForm):
    current_password = PasswordField(
        "Current password", validators=[InputRequired("Current password is required.")]
    )
    new_password = PasswordField(
        "New password", validators=[InputRequired("New password is required.")]
    )
    confirm_password = PasswordField(
        "Repeat new password",
        validators=[EqualTo("new_password", "Repeat new password must match the new password.")],
    )


class DeleteForm(DashboardForm):
    confirm_delete = BooleanField(
        "Delete my account and all its data for good",
        validators=[InputRequired("Tick “Delete my account and all its data for good” first.")],
    )
    # Required by the service unless the tradie just confirmed with Google.
    delete_password = PasswordField("Password")


class ConnectForm(FlaskForm):
    """The "Connect Stripe" button: nothing but the CSRF token."""


class MoneyForm(FlaskForm):
    """A form with one money field; `minor(name, currency)` parses it or records the error."""

    def minor(self, name: str, currency: str) -> int | None:
        field = getattr(self, name)
        try:
            return parse_money(field.data or "", currency)
        except ValueError as error:
            field.errors = [*field.errors, f"{field.label.text}: {error}"]
            return None


class BalanceForm(MoneyForm):
    final_amount = StringField(
        "Final job amount",
        validators=[InputRequired("Final job amount is required.")],
        render_kw={"inputmode": "decimal", "autocomplete": "off"},
    )


class RefundForm(MoneyForm):
    refund_amount = StringField(
        "Refund amount",
        validators=[InputRequired("Refund amount is required.")],
        render_kw={"inputmode": "decimal", "autocomplete": "off"},
    )
    refund_reason = StringField(
        "Reason",
        validators=[
            InputRequired("Reason is required."),
            Length(max=200, message="Reason must be at most 200 characters."),
        ],
    )


# --- customers ---------------------------------------------------------------------------------


class CustomerNotesForm(DashboardForm):
    notes = TextAreaField(
        "Private notes",
        validators=[Length(max=5000, message="Private notes must be at most 5000 characters.")],
    )


class EraseCustomerForm(DashboardForm):
    confirm = BooleanField(
        "I understand their name, contact details, addresses and notes are erased for good",
        validators=[InputRequired(message="Tick the box to confirm the erasure.")],
    )
