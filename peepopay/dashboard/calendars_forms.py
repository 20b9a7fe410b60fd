"""Forms of the calendars page: an ICS address, or a CalDAV calendar with an app password.

Both forms are on one page, so each gives its fields ids of its own (`feed-url`, `caldav-url`,
...) for every label to point at its own field; the names posted stay `url`, `name`, ..."""

from __future__ import annotations

from wtforms import PasswordField, StringField
from wtforms.validators import InputRequired, Length

from peepopay.dashboard.forms import DashboardForm

URL_CHECKS = [
    InputRequired("Calendar address is required."),
    Length(max=2000, message="Calendar address must be at most 2000 characters."),
]
NAME_CHECKS = [Length(max=120, message="Name must be at most 120 characters.")]


class FeedForm(DashboardForm):
    url = StringField("Calendar address", validators=URL_CHECKS, id="feed-url")
    name = StringField("Name (optional)", validators=NAME_CHECKS, id="feed-name")


class CalDAVForm(FeedForm):
    url = StringField("Calendar address", validators=URL_CHECKS, id="caldav-url")
    username = StringField(
        "User name",
        validators=[
            InputRequired("User name is required."),
            Length(max=254, message="User name must be at most 254 characters."),
        ],
        id="caldav-username",
    )
    password = PasswordField(
        "App password",
        validators=[
            InputRequired("App password is required."),
            Length(max=500, message="App password must be at most 500 characters."),
        ],
        id="caldav-password",
    )
    name = StringField("Name (optional)", validators=NAME_CHECKS, id="caldav-name")
