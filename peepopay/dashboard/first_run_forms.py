"""Forms of the guided first run."""

from __future__ import annotations

from wtforms import SelectChoice, SelectField, SelectMultipleField, StringField
from wtforms.validators import InputRequired, Length
from wtforms.widgets import CheckboxInput, ListWidget

from peepopay.dashboard.forms import DashboardForm

WEEKDAY_CHOICES = [
    SelectChoice(0, "Monday"),
    SelectChoice(1, "Tuesday"),
    SelectChoice(2, "Wednesday"),
    SelectChoice(3, "Thursday"),
    SelectChoice(4, "Friday"),
    SelectChoice(5, "Saturday"),
    SelectChoice(6, "Sunday"),
]


class BusinessForm(DashboardForm):
    country = SelectField("Country", validate_choice=False)
    timezone = SelectField("Time zone", validate_choice=False)


class PhoneForm(DashboardForm):
    phone = StringField(
        "Mobile number",
        validators=[
            InputRequired("Mobile number is required."),
            Length(max=32, message="Mobile number must be at most 32 characters."),
        ],
    )


class PhoneCodeForm(DashboardForm):
    code = StringField(
        "Code from the text message",
        validators=[
            InputRequired("Type the 6-digit code we texted you."),
            Length(max=12, message="The code has 6 digits."),
        ],
    )


class HoursForm(DashboardForm):
    weekdays = SelectMultipleField(
        "Working days",
        choices=WEEKDAY_CHOICES,
        coerce=int,
        default=[0, 1, 2, 3, 4],
        widget=ListWidget(prefix_label=False),
        option_widget=CheckboxInput(),
    )
    start = StringField("Start", default="08:00", validators=[InputRequired("Start is required.")])
    end = StringField("End", default="17:00", validators=[InputRequired("End is required.")])
