"""Forms of the customer page: no CSRF token (no session to keep it in); the token in the URL
is the authority, and nothing here is worth forging for someone who does not hold it."""

from __future__ import annotations

from datetime import datetime

from flask_wtf import FlaskForm
from wtforms import HiddenField, IntegerField
from wtforms.validators import InputRequired, Optional, ValidationError


class _NoCsrf(FlaskForm):
    class Meta:
        csrf = False


class CancelForm(_NoCsrf):
    expected_refund = IntegerField("Refund shown", validators=[Optional()])


class RescheduleForm(_NoCsrf):
    start = HiddenField("New time", validators=[InputRequired("Choose a new time.")])

    def validate_start(self, field: HiddenField) -> None:
        try:
            value = datetime.fromisoformat(str(field.data))
        except ValueError:
            raise ValidationError("Choose one of the times offered.") from None
        if value.tzinfo is None:
            raise ValidationError("Choose one of the times offered.")
        self.start_utc = value
