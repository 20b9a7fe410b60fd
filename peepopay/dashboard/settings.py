"""Settings: profile, branding and logo, embedding origins, notifications, the account."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from flask import (
    Response,
    abort,
    current_app,
    send_from_directory,
    session,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_login import current_user, logout_user

from peepopay import phones
from peepopay.accounts import sessions
from peepopay.accounts import settings as account
from peepopay.clock import utcnow
from peepopay.dashboard import bp, signed_in
from peepopay.dashboard.common import format_percent
from peepopay.dashboard.forms import (
    BrandingForm,
    DashboardForm,
    DeleteForm,
    EmailForm,
    EmbeddingForm,
    EmptyForm,
    NotificationsForm,
    PasswordForm,
    ProfileForm,
    TaxForm,
)
from peepopay.dashboard.google_auth import REAUTH_KEY
from peepopay.dashboard.overview import embed_codes
from peepopay.extensions import db
from peepopay.htmx import after_change, render
from peepopay.payments import domains
from peepopay.rules import FormError

LOGO_MAX_AGE = 365 * 24 * 3600

SECTIONS = {
    "profile": "dashboard/_settings_profile.html",
    "branding": "dashboard/_settings_branding.html",
    "embedding": "dashboard/_settings_embedding.html",
    "notifications": "dashboard/_settings_notifications.html",
    "tax": "dashboard/_settings_tax.html",
    "email": "dashboard/_settings_email.html",
    "password": "dashboard/_settings_password.html",
    "sessions": "dashboard/_settings_sessions.html",
    "delete": "dashboard/_settings_delete.html",
    "slug": "dashboard/_settings_slug.html",
}


def google_reauth_at() -> datetime | None:
    """When this session last confirmed the tradie with Google (for deleting the account)."""
    stamp = session.get(REAUTH_KEY)
    return datetime.fromtimestamp(stamp, UTC) if isinstance(stamp, int | float) else None


def logo_dir() -> Path:
    configured = current_app.config.get("LOGO_DIR")
    return Path(configured) if configured else Path(current_app.instance_path) / "logos"


def _page(section: str = "", status: int = 200, notice: str = "", **forms: Any) -> Response:
    tradie = signed_in()
    context: dict[str, Any] = {
        "tradie": tradie,
        "base_url": current_app.config["BASE_URL"].rstrip("/"),
        "profile_form": _profile_form(tradie),
        "branding_form": BrandingForm(formdata=None, obj=tradie),
        "embedding_form": EmbeddingForm(formdata=None, obj=tradie),
        "embed": embed_codes(tradie.slug, tradie.business_name),
        "notifications_form": NotificationsForm(formdata=None, obj=tradie),
        "tax_form": _tax_form(tradie),
        "wallet_domains": domains.rows_of(db.session, tradie.id),
        "email_form": EmailForm(formdata=None),
        "password_form": PasswordForm(formdata=None),
        "delete_form": DeleteForm(formdata=None),
        "google_confirmed": google_reauth_at() is not None,
        "notice": notice,
        "notice_section": section,
        "slug_ok": False,
    }
    context.update(forms)
    fragment = SECTIONS.get(section, "dashboard/_settings.html")
    return render("dashboard/settings.html", fragment, status, **context)


def _saved(section: str, notice: str) -> ResponseReturnValue:
    target = url_for("dashboard.settings", _anchor=section)
    return after_change(target, lambda: _page(section, notice=notice), notice)


def _save(section: str, form: DashboardForm, notice: str, apply: Any) -> ResponseReturnValue:
    """Validate `form`, run `apply(form)` (which may raise FormError), answer for `section`."""
    if form.validate_on_submit():
        try:
            apply(form)
        except FormError as error:
            form.add_error(error)
        else:
            return _saved(section, notice)
    return _page(section, 422, **{f"{section}_form": form})


@bp.get("/settings")
def settings() -> Response:
    return _page()


@bp.post("/settings/profile")
def settings_profile() -> ResponseReturnValue:
    def apply(form: ProfileForm) -> None:
        account.update_profile(db.session, current_user, form.to_input())

    return _save("profile", ProfileForm(), "Business details saved.", apply)


@bp.post("/settings/slug-check")
def settings_slug_check() -> Response:
    """Inline availability check for the booking page address: the field, 422 if refused."""
    form = ProfileForm()
    form.validate()
    if not form.slug.errors:
        try:
            account.check_slug(db.session, form.slug.data or "", current_user.id)
        except FormError as error:
            form.add_error(error)
    status = 422 if form.slug.errors else 200
    return _page("slug", status, profile_form=form, slug_ok=status == 200)


@bp.post("/settings/branding")
def settings_branding() -> ResponseReturnValue:
    def apply(form: BrandingForm) -> None:
        upload = form.logo.data
        data = upload.stream.read(account.MAX_LOGO_BYTES + 1) if upload else None
        account.update_branding(
            db.session,
            current_user,
            form.brand_color.data or "",
            data or None,
            bool(form.remove_logo.data),
            logo_dir(),
        )

    return _save("branding", BrandingForm(), "Branding saved.", apply)


@bp.get("/logo/<name>")
def logo(name: str) -> Response:
    """A stored logo; public (the booking page shows it) and cached for a year by its hash name."""
    if not account.LOGO_NAME_RE.fullmatch(name):
        abort(404)
    response = send_from_directory(logo_dir(), name, max_age=LOGO_MAX_AGE)
    response.headers["Cache-Control"] = f"public, max-age={LOGO_MAX_AGE}, immutable"
    return response


@bp.post("/settings/embedding")
def settings_embedding() -> ResponseReturnValue:
    def apply(form: EmbeddingForm) -> None:
        account.update_embedding(db.session, current_user, form.allowed_origins.data or "")

    return _save("embedding", EmbeddingForm(), "Allowed sites saved.", apply)


def _profile_form(tradie: Any) -> ProfileForm:
    form = ProfileForm(formdata=None, obj=tradie)
    # Stored in E.164; shown as the tradie writes it (saving reads it back the same way).
    form.phone.data = phones.display(tradie.phone, tradie.country)
    return form


def _tax_form(tradie: Any) -> TaxForm:
    form = TaxForm(formdata=None, obj=tradie)
    rate = tradie.tax_rate_bps or account.STANDARD_TAX_BPS.get(tradie.country, 0)
    form.tax_rate.data = format_percent(rate) if rate else ""
    return form


@bp.post("/settings/tax")
def settings_tax() -> ResponseReturnValue:
    def apply(form: TaxForm) -> None:
        inclusive = bool(form.prices_include_tax.data)
        number = form.tax_number.data or ""
        account.update_tax(db.session, current_user, number, form.rate_bps(), inclusive)

    return _save("tax", TaxForm(), "Tax details saved.", apply)


@bp.post("/settings/notifications")
def settings_notifications() -> ResponseReturnValue:
    def apply(form: NotificationsForm) -> None:
        account.update_notifications(
            db.session,
            current_user,
            bool(form.notify_new_booking_email.data),
            bool(form.notify_new_booking_sms.data),
            int(form.reminder_hours.data),
        )

    return _save("notifications", NotificationsForm(), "Notifications saved.", apply)


@bp.post("/settings/email")
def settings_email() -> ResponseReturnValue:
    def apply(form: EmailForm) -> None:
        account.change_email(
            db.session, current_user, form.new_email.data or "", form.email_password.data or ""
        )
        sessions.keep_signed_in()

    return _save(
        "email",
        EmailForm(),
        "Email changed. Check your inbox to confirm the new address. "
        "Every other device is logged out.",
        apply,
    )


@bp.post("/settings/password")
def settings_password() -> ResponseReturnValue:
    def apply(form: PasswordForm) -> None:
        account.change_password(
            db.session,
            current_user,
            form.current_password.data or "",
            form.new_password.data or "",
        )
        sessions.keep_signed_in()

    return _save(
        "password", PasswordForm(), "Password changed. Every other device is logged out.", apply
    )


@bp.post("/settings/sessions")
def settings_sessions() -> ResponseReturnValue:
    def apply(form: EmptyForm) -> None:
        account.end_other_sessions(db.session, current_user)
        sessions.keep_signed_in()

    return _save("sessions", EmptyForm(), "Every other device is logged out.", apply)


@bp.get("/settings/export.json")
def settings_export() -> Response:
    now = utcnow()
    data = account.export(db.session, current_user, now)
    response = Response(
        json.dumps(data, indent=2, ensure_ascii=False, default=str), mimetype="application/json"
    )
    response.headers["Content-Disposition"] = (
        f'attachment; filename="peepopay-{current_user.slug}-{now:%Y%m%d}.json"'
    )
    response.headers["Cache-Control"] = "private, no-store"
    return response


@bp.post("/settings/delete")
def settings_delete() -> ResponseReturnValue:
    form = DeleteForm()
    if form.validate_on_submit():
        try:
            password, reauth = form.delete_password.data or "", google_reauth_at()
            account.delete_account(
                db.session, current_user, password, utcnow(), google_reauth_at=reauth
            )
        except FormError as error:
            form.add_error(error)
        else:
            logout_user()
            session.clear()
            notice = "Your account and all its data have been deleted."
            return after_change(url_for("auth.login"), notice=notice)
    return _page("delete", 422, delete_form=form)
