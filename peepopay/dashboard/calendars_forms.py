"""Forms of the calendars page: an ICS address, or a CalDAV calendar with an app password."""

from __future__ import annotations

from wtforms import PasswordField, StringField
from wtforms.validators import InputRequired, Length

from peepopay.dashboard.forms import DashboardForm


class FeedForm(DashboardForm):
    url = StringField(
        "Calendar address",
        validators=[
            InputRequired("Calendar address is required."),
            Length(max=2000, message="Calendar address must be at most 2000 characters."),
        ],
    )
    name = StringField(
        "Name (optional)",
        validators=[Length(max=120, message="Name must be at most 120 characters.")],
    )


class CalDAVForm(FeedForm):
    username = StringField(
        "User name",
        validators=[
            InputRequired("User name is required."),
            Length(max=254, message="User name must be at most 254 characters."),
        ],
    )
    password = PasswordField(
        "App password",
        validators=[
            InputRequired("App password is required."),
            Length(max=500, message="App password must be at most 500 characters."),
        ],
    )
