"""Sign-up, log-in and password-reset forms; every message names its field."""

from flask_wtf import FlaskForm
from wtforms import BooleanField, EmailField, Field, PasswordField, StringField
from wtforms.validators import DataRequired, Email, EqualTo, InputRequired, Length, ValidationError

from peepopay.accounts.services import password_problem


class SignupForm(FlaskForm):
    email = EmailField(
        "Email",
        validators=[
            InputRequired("Email is required."),
            Email("Email must be a valid address, like you@example.com."),
            Length(max=254, message="Email must be at most 254 characters."),
        ],
    )
    password = PasswordField("Password", validators=[InputRequired("Password is required.")])
    business_name = StringField(
        "Business name",
        filters=[lambda value: value.strip() if isinstance(value, str) else value],
        validators=[
            DataRequired("Business name is required."),  # after the strip: spaces are blank
            Length(min=2, max=120, message="Business name must be 2 to 120 characters."),
        ],
    )

    def validate_password(self, field: Field) -> None:
        """The strength rules sign-up applies, checked with the other fields so a new tradie
        reads every problem at once rather than one per try."""
        if field.data and (problem := password_problem(field.data, self.email.data or "")):
            raise ValidationError(problem)

    def account(self) -> dict[str, str]:
        """What sign-up takes, as typed."""
        return {
            "email": self.email.data or "",
            "password": self.password.data or "",
            "business_name": self.business_name.data or "",
        }


class LoginForm(FlaskForm):
    email = EmailField("Email", validators=[InputRequired("Email is required.")])
    password = PasswordField("Password", validators=[InputRequired("Password is required.")])
    remember = BooleanField("Remember me")


class ForgotForm(FlaskForm):
    email = EmailField(
        "Email",
        validators=[InputRequired("Email is required."), Email("Email must be a valid address.")],
    )


class ResetForm(FlaskForm):
    password = PasswordField("New password", validators=[InputRequired("Password is required.")])
    confirm = PasswordField(
        "Repeat new password",
        validators=[EqualTo("password", message="Repeat new password must match the password.")],
    )


class EmptyForm(FlaskForm):
    """For POST buttons that carry nothing but the CSRF token."""


class TwoFactorForm(FlaskForm):
    code = StringField(
        "Code",
        validators=[
            InputRequired("Type the code from your authenticator app, or a recovery code."),
            Length(max=32, message="A code is at most 32 characters."),
        ],
    )
