"""The details step's fields; rules live in bookings.services so the API shares them."""

from collections.abc import Mapping

from werkzeug.datastructures import MultiDict
from wtforms import EmailField, Form, StringField, TelField, TextAreaField

from peepopay.inputs import StorableText


class DetailsForm(Form):
    """A plain form (no CSRF: the widget has no session to protect). Its validators only refuse
    text no database can store; the booking rules themselves are bookings.services'."""

    name = StringField(
        "Your name",
        [StorableText("Name")],
        render_kw={"autocomplete": "name", "maxlength": 120},
    )
    email = EmailField(
        "Email", [StorableText("Email")], render_kw={"autocomplete": "email", "maxlength": 254}
    )
    phone = TelField(
        "Phone number",
        [StorableText("Phone")],
        render_kw={"autocomplete": "tel", "maxlength": 32},
    )
    address = TextAreaField(
        "Job address",
        [StorableText("Job address")],
        render_kw={"autocomplete": "street-address", "rows": 2, "maxlength": 300},
    )
    notes = TextAreaField(
        "Notes for the tradie (optional)",
        [StorableText("Notes")],
        render_kw={"rows": 3, "maxlength": 2000},
    )


def unstorable(details: Mapping[str, str]) -> dict[str, list[str]]:
    """Typed details no database can store (a NUL byte), by field: the one check the widget's
    form and the API's JSON share, made before the details are used at all."""
    form = DetailsForm(formdata=MultiDict(details))
    return {} if form.validate() else {name: list(errors) for name, errors in form.errors.items()}
