"""Payment forms; amounts are typed as money ("120.50") and parsed to minor units."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import StringField
from wtforms.validators import InputRequired, Length

from peepopay.formatting import parse_money


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
