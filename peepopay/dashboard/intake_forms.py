"""Forms of the job intake pages: a service's questions and booking mode, the service area
and arrival windows."""

from __future__ import annotations

from wtforms import (
    BooleanField,
    IntegerField,
    SelectChoice,
    SelectField,
    StringField,
    TextAreaField,
    TimeField,
)
from wtforms.validators import InputRequired, Length, NumberRange

from peepopay.catalog.intake import KIND_LABELS, QuestionInput
from peepopay.dashboard.forms import WEEKDAY_CHOICES, DashboardForm


class QuestionForm(DashboardForm):
    label = StringField(
        "Question",
        validators=[
            InputRequired("Question is required."),
            Length(max=200, message="Question must be at most 200 characters."),
        ],
    )
    kind = SelectField(
        "Answer",
        choices=[SelectChoice(kind.value, label) for kind, label in KIND_LABELS.items()],
        validate_choice=True,
    )
    required = BooleanField("Customers must answer")
    choices = TextAreaField(
        "Choices (one a line, for “one choice of several”)",
        validators=[Length(max=2000, message="Choices must be at most 2000 characters.")],
        render_kw={"rows": 3},
    )

    def to_input(self) -> QuestionInput:
        return QuestionInput(
            label=self.label.data or "",
            kind=self.kind.data or "",
            required=bool(self.required.data),
            choices=self.choices.data or "",
        )


class BookingModeForm(DashboardForm):
    by_window = BooleanField("Book this service by arrival window instead of an exact time")


class AreaForm(DashboardForm):
    area = TextAreaField(
        "Postcodes you serve",
        validators=[Length(max=5000, message="Postcodes must be at most 5000 characters.")],
        render_kw={"rows": 3},
    )


class JobsForm(DashboardForm):
    jobs = IntegerField(
        "Jobs per window",
        invalid_value_message="Jobs per window must be a whole number.",
        validators=[
            InputRequired("Jobs per window is required."),
            NumberRange(1, 20, "Jobs per window must be between 1 and 20."),
        ],
    )


class WindowForm(DashboardForm):
    weekday = SelectField("Day", coerce=int, choices=WEEKDAY_CHOICES)
    start = TimeField("Start", validators=[InputRequired("Start is required.")])
    end = TimeField("End", validators=[InputRequired("End is required.")])
