"""Forms for bookings the tradie makes and changes by hand (new, move, edit)."""

from __future__ import annotations

from typing import Any

from wtforms import (
    HiddenField,
    RadioField,
    SelectChoice,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, Length

from peepopay import phones
from peepopay.bookings import by_hand
from peepopay.bookings.models import Booking
from peepopay.bookings.services import Customer
from peepopay.customers.models import Customer as CustomerRecord
from peepopay.dashboard.forms import DashboardForm
from peepopay.formatting import format_money
from peepopay.inputs import StorableText
from peepopay.money import deposit_for
from peepopay.scheduling.models import Service

LOCAL_TIME = {"type": "datetime-local", "step": "60"}


def _text(label: str, limit: int) -> Any:
    return [
        StorableText(label),
        Length(max=limit, message=f"{label} must be at most {limit} characters."),
    ]


class CustomerFields(DashboardForm):
    name = StringField("Name", validators=_text("Name", 120), render_kw={"autocomplete": "off"})
    email = StringField(
        "Email", validators=_text("Email", 254), render_kw={"type": "email", "autocomplete": "off"}
    )
    phone = StringField(
        "Phone", validators=_text("Phone", 40), render_kw={"type": "tel", "autocomplete": "off"}
    )
    address = StringField("Job address", validators=_text("Job address", 300))
    notes = TextAreaField("Notes (optional)", validators=_text("Notes", 2000))

    def customer(self) -> Customer:
        return Customer(
            name=self.name.data or "",
            email=self.email.data or "",
            phone=self.phone.data or "",
            address=self.address.data or "",
            notes=self.notes.data or "",
        )

    def add_errors(self, errors: dict[str, list[str]]) -> None:
        for name, messages in errors.items():
            field = getattr(self, name, None)
            if field is not None:
                field.errors = [*field.errors, *messages]


def _service_label(service: Service, currency: str) -> str:
    deposit = deposit_for(service)
    money = f" · {format_money(deposit, currency)} deposit" if deposit else ""
    return f"{service.name} · {service.duration_minutes} min{money}"


class NewBookingForm(CustomerFields):
    service = SelectField("Service", validate_choice=False)
    start = StringField("Start", validators=_text("Start", 40), render_kw=LOCAL_TIME)
    customer_id = SelectField("Customer", validate_choice=False)
    deposit = RadioField(
        "Deposit",
        choices=[
            SelectChoice(by_hand.NO_DEPOSIT, "No deposit"),
            SelectChoice(
                by_hand.REQUEST_DEPOSIT, "Ask the customer to pay it (email and SMS with a link)"
            ),
            SelectChoice(by_hand.PAID_OFFLINE, "Paid another way"),
        ],
        default=by_hand.NO_DEPOSIT,
        validate_choice=False,
    )
    method = RadioField(
        "Paid how",
        choices=[SelectChoice("cash", "Cash"), SelectChoice("bank_transfer", "Bank transfer")],
        default="cash",
        validate_choice=False,
    )
    deadline = StringField("Pay by", validators=_text("Pay by", 40), render_kw=LOCAL_TIME)

    def offer(
        self,
        services: list[Service],
        customers: list[CustomerRecord],
        currency: str,
        country: str,
    ) -> NewBookingForm:
        """Fill the choices from the tradie's services and latest customers (phones as
        people in the tradie's country write them)."""
        self.service.choices = [
            SelectChoice(str(s.id), _service_label(s, currency)) for s in services
        ]
        self.customer_id.choices = [SelectChoice("", "New customer")] + [
            SelectChoice(
                str(c.id),
                " · ".join(filter(None, (c.name, phones.display(c.phone, country), c.email))),
            )
            for c in customers
        ]
        return self

    def wanted(self) -> by_hand.ByHand:
        return by_hand.ByHand(
            service_id=self.service.data,
            start=self.start.data or "",
            customer=self.customer(),
            deposit=self.deposit.data or by_hand.NO_DEPOSIT,
            method=self.method.data or "",
            deadline=self.deadline.data or "",
        )

    def fill_customer(self, customer: Customer | None, country: str) -> None:
        if customer is not None:
            self.name.data, self.email.data = customer.name, customer.email
            self.phone.data = phones.display(customer.phone, country)
            self.address.data = customer.address


class MoveBookingForm(DashboardForm):
    start = StringField("New time", validators=_text("New time", 40), render_kw=LOCAL_TIME)
    # The start the tradie saw (so a booking moved meanwhile is not moved again) and "1" once
    # they confirmed a time outside their hours or over their calendar's busy time.
    was = HiddenField(validators=[DataRequired("Reload the page: this form is out of date.")])
    confirm = HiddenField()
    warning = ""

    def seen(self) -> dict[str, Any]:
        """What the tradie saw and confirmed, for `by_hand.move_by_hand`."""
        return {"was": self.was.data or "", "confirmed": self.confirm.data == "1"}

    def add_errors(self, errors: dict[str, list[str]]) -> None:
        self.start.errors = [*self.start.errors, *(m for ms in errors.values() for m in ms)]


class EditBookingForm(CustomerFields):
    service = SelectField("Service", validate_choice=False)

    @classmethod
    def of(cls, booking: Booking, services: list[Service]) -> EditBookingForm:
        """The form filled from the booking (a GET) or the submitted data (a POST)."""
        form = cls(
            data={
                "name": booking.customer_name,
                "email": booking.customer_email,
                "phone": booking.customer_phone,
                "address": booking.job_address,
                "notes": booking.notes,
                "service": str(booking.service_id or ""),
            }
        )
        choices = [SelectChoice(str(s.id), s.name) for s in services]
        if str(booking.service_id or "") not in {c.value for c in choices}:
            booked = f"{booking.service_name} (as booked)"
            choices.insert(0, SelectChoice(str(booking.service_id or ""), booked))
        form.service.choices = choices
        return form
