"""Tradie accounts: sign up, verify, log in and out, reset the password."""

from flask import Blueprint

bp = Blueprint("auth", __name__, url_prefix="/auth")

from peepopay.accounts import routes  # noqa: E402,F401
