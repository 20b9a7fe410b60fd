"""Account pages under /auth (the `auth` blueprint): sign up, verify, log in and out, reset."""

from __future__ import annotations

from flask import (
    Blueprint,
    Response,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_login import current_user, login_required, login_user, logout_user

from peepopay.accounts import emails, services, sessions, two_factor
from peepopay.clock import utcnow
from peepopay.dashboard.auth_forms import (
    EmptyForm,
    ForgotForm,
    LoginForm,
    ResetForm,
    SignupForm,
    TwoFactorForm,
)
from peepopay.extensions import db, limiter, login_manager
from peepopay.net import is_safe_next

bp = Blueprint("auth", __name__, url_prefix="/auth")

# The same answer whether or not the address had an account: the email tells.
CHECK_YOUR_EMAIL = (
    "Check your email: we sent a message to {email}. "
    "Confirm your address, then log in with your email and password."
)


def _login_failed(response: Response) -> bool:
    return request.method == "POST" and response.status_code != 303


def _signed_up(response: Response) -> bool:
    return request.method == "POST" and response.status_code == 303


def _account_key() -> str:
    return "login-account:" + services.normalize_email(request.form.get("email", ""))


def _known_device() -> bool:
    # The owner's own browser gets past a lock-out that strangers' wrong passwords caused.
    return sessions.is_known_device(db.session, request.form.get("email", ""))


def _start_session(tradie: services.Tradie, remember: bool = False) -> None:
    # A fresh session at login: nothing from before (including the CSRF secret) carries over.
    session.clear()
    login_user(tradie, remember=remember)
    sessions.remember_device(tradie)


def _landing(tradie: services.Tradie, target: str | None) -> str:
    """Where a tradie goes once signed in: a safe `next`, the first run until the business is
    set up, otherwise the overview."""
    if target and is_safe_next(target):
        return target
    if tradie.profile_confirmed_at is None:
        return url_for("dashboard.first_run")
    return url_for("dashboard.overview")


def first_factor_passed(
    tradie: services.Tradie, remember: bool, target: str | None
) -> ResponseReturnValue:
    """After the password or Google: the code next when two-factor is on, else signed in."""
    if tradie.two_factor_on:
        sessions.begin_second_factor(tradie, remember, target)
        return redirect(url_for("auth.two_factor"), 303)
    _start_session(tradie, remember=remember)
    return redirect(_landing(tradie, target), 303)


@bp.route("/signup", methods=["GET", "POST"])
@limiter.limit(
    lambda: current_app.config["SIGNUP_LIMIT_PER_IP"], methods=["POST"], deduct_when=_signed_up
)
def signup() -> ResponseReturnValue:
    form = SignupForm()
    if form.validate_on_submit():
        try:
            email = emails.sign_up_and_tell(db.session, now=utcnow(), **form.account())
        except services.AccountError as error:
            getattr(form, error.field).errors.append(error.message)
        else:
            flash(CHECK_YOUR_EMAIL.format(email=email), "info")
            return redirect(url_for("auth.login"), 303)
    return render_template("auth/signup.html", form=form), 422 if form.errors else 200


@bp.get("/verify/<token>")
def verify(token: str) -> ResponseReturnValue:
    tradie = services.read_token(db.session, token, "verify")
    if tradie is None:
        flash("That confirmation link is invalid or has expired. Send yourself a new one.", "error")
    elif tradie.email_verified_at is None:
        tradie.email_verified_at = utcnow()
        flash("Your email address is confirmed.", "success")
    else:
        flash("Your email address was already confirmed.", "info")
    target = "dashboard.overview" if current_user.is_authenticated else "auth.login"
    return redirect(url_for(target), 303)


@bp.post("/verify/resend")
@login_required
def resend_verification() -> ResponseReturnValue:
    if EmptyForm().validate_on_submit() and current_user.email_verified_at is None:
        emails.queue_verification(db.session, current_user, resend=True)
        flash("We sent a new confirmation email.", "success")
    return redirect(url_for("dashboard.overview"), 303)


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(
    lambda: current_app.config["LOGIN_LIMIT_PER_IP"], methods=["POST"], deduct_when=_login_failed
)
@limiter.limit(
    lambda: current_app.config["LOGIN_LIMIT_PER_ACCOUNT"],
    key_func=_account_key,
    methods=["POST"],
    deduct_when=_login_failed,
    exempt_when=_known_device,
)
def login() -> ResponseReturnValue:
    if current_user.is_authenticated:
        return redirect(url_for("dashboard.overview"), 303)
    form = LoginForm()
    if form.validate_on_submit():
        tradie = services.authenticate(db.session, form.email.data or "", form.password.data or "")
        if tradie is not None:
            return first_factor_passed(tradie, bool(form.remember.data), request.args.get("next"))
        form.password.errors.append("Email or password is incorrect.")
    status = 422 if form.errors else 200
    return render_template("auth/login.html", form=form), status


@bp.route("/two-factor", methods=["GET", "POST"], endpoint="two_factor")
@limiter.limit("10 per 5 minutes", methods=["POST"], deduct_when=_login_failed)
@limiter.limit(
    lambda: current_app.config["TWO_FACTOR_LIMIT_PER_LOGIN"],
    key_func=lambda: sessions.second_factor_limit_key("login"),
    methods=["POST"],
    deduct_when=_login_failed,
)
@limiter.limit(
    lambda: current_app.config["TWO_FACTOR_LIMIT_PER_ACCOUNT"],
    key_func=lambda: sessions.second_factor_limit_key("id"),
    methods=["POST"],
    deduct_when=_login_failed,
)
def two_factor_code() -> ResponseReturnValue:
    pending = sessions.pending_second_factor(db.session)
    if pending is None:
        return redirect(url_for("auth.login"), 303)
    form = TwoFactorForm()
    if form.validate_on_submit():
        code = form.code.data or ""
        verdict = two_factor.check_code(db.session, pending.tradie, code, utcnow())
        if verdict is two_factor.Verdict.ACCEPTED:
            _start_session(pending.tradie, remember=pending.remember)
            return redirect(_landing(pending.tradie, pending.target), 303)
        form.code.errors.append(two_factor.REFUSED[verdict])
    return render_template("auth/two_factor.html", form=form), 422 if form.errors else 200


@bp.post("/logout")
def logout() -> ResponseReturnValue:
    if EmptyForm().validate_on_submit():
        if current_user.is_authenticated:
            tradie = current_user._get_current_object()
            # A new session token: a copy of this browser's remember-me cookie (or session
            # cookie) taken before stops working; it ends the tradie's other sessions too.
            services.end_sessions(tradie)
            sessions.remember_device(tradie)  # this browser stays one the owner uses
        logout_user()
        session.clear()
        flash("You are logged out.", "info")
    return redirect(url_for("auth.login"), 303)


@bp.route("/forgot", methods=["GET", "POST"])
@limiter.limit("10 per hour", methods=["POST"])
def forgot() -> ResponseReturnValue:
    form = ForgotForm()
    if form.validate_on_submit():
        tradie = db.session.scalar(
            services.sa.select(services.Tradie).where(
                services.Tradie.email == services.normalize_email(form.email.data or "")
            )
        )
        if tradie is not None:
            emails.queue_reset(db.session, tradie)
        # Same answer either way, so this page cannot be used to find accounts.
        flash("If that email has an account, a reset link is on its way.", "info")
        return redirect(url_for("auth.login"), 303)
    status = 422 if form.errors else 200
    return render_template("auth/forgot.html", form=form), status


@bp.route("/reset/<token>", methods=["GET", "POST"])
def reset(token: str) -> ResponseReturnValue:
    tradie = services.read_token(db.session, token, "reset")
    if tradie is None:
        flash("That reset link is invalid, used or expired. Ask for a new one.", "error")
        return redirect(url_for("auth.forgot"), 303)
    form = ResetForm()
    if form.validate_on_submit():
        try:
            services.reset_password(tradie, form.password.data or "", utcnow())
        except services.AccountError as error:
            form.password.errors.append(error.message)
        else:
            return _password_changed(tradie)
    return render_template("auth/reset.html", form=form), 422 if form.errors else 200


def _password_changed(tradie: services.Tradie) -> ResponseReturnValue:
    flash("Your password is changed. Log in with the new one.", "success")
    logout_user()
    # Whoever holds the link owns the inbox: this browser may log in past a lock-out.
    sessions.remember_device(tradie)
    return redirect(url_for("auth.login"), 303)


@login_manager.user_loader
def load_tradie(user_id: str) -> services.Tradie | None:
    return sessions.tradie_for_session(db.session, user_id)
