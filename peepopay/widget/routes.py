"""Widget steps: service, day, time, details, review, payment, confirmation.

Each step answers an htmx fragment or the full page; every control is a real form, so the flow
works without JavaScript. No step touches the session or sets a cookie.
"""

from __future__ import annotations

import calendar
import contextlib
from dataclasses import replace
from datetime import date, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from flask import Response, abort, g, redirect, request, url_for
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import HTTPException

from peepopay import colours, postcodes
from peepopay.accounts.models import Tradie
from peepopay.analytics.services import record_widget_view
from peepopay.bookings import intake, photos
from peepopay.bookings import services as bookings
from peepopay.bookings.models import Booking, Status
from peepopay.bookings.payment_outcomes import sync_deposit
from peepopay.bookings.tokens import booking_token, read_booking_token
from peepopay.clock import utcnow
from peepopay.extensions import db
from peepopay.htmx import is_htmx, render
from peepopay.inputs import parse_id, storable
from peepopay.money import deposit_for
from peepopay.net import client_key
from peepopay.notifications import links
from peepopay.payments.deposits import DepositsUnavailable
from peepopay.payments.gateway import PaymentError
from peepopay.routing import checks_own_text
from peepopay.scheduling import services as scheduling
from peepopay.scheduling.models import Service
from peepopay.security import widget_csp
from peepopay.widget import availability as fast
from peepopay.widget import bp
from peepopay.widget.forms import DetailsForm, unstorable
from peepopay.widget.limits import availability_limit, booking_limit, hold_limits
from peepopay.widget.payment import payment_view
from peepopay.widget.state import (
    DETAIL_FIELDS,
    WidgetState,
    format_start,
    parse_color,
    parse_month,
    parse_origin,
)

DEFAULT_BRAND = "#1d4ed8"
# Names the review step's address on the answer that sends the browser to the payment step.
REVIEW_HEADER = "PeepoPay-Review-URL"
HOLD_REFUSALS = (bookings.InvalidBooking, bookings.HoldRefused, bookings.SlotTaken)
MESSAGES = {
    404: "We couldn't find that booking page. Check the link and try again.",
    405: "That step can't be opened that way. Please start again.",
    429: "You're going a little fast. Please wait a minute, then try again.",
    500: "Something went wrong on our side. Please try again.",
}


# --- request set-up ------------------------------------------------------------------------


def find_tradie(slug: str | None) -> Tradie | None:
    """The tradie a public page is for; none for a sign-up nobody confirmed (`Tradie.public`)."""
    if not slug or not storable(slug):
        return None
    return db.session.scalar(sa.select(Tradie).where(Tradie.slug == slug, Tradie.public()))


def frame_ancestors(tradie: Tradie) -> str:
    """Any site may frame the widget unless the tradie listed the sites allowed to."""
    origins = [o for o in (parse_origin(x, []) for x in tradie.origins) if o]
    return " ".join(["'self'", *origins]) if origins else "*"


@bp.url_value_preprocessor
def remember_slug(_endpoint: str | None, values: dict[str, Any] | None) -> None:
    g.slug = (values or {}).get("slug")


@bp.before_request
def load_tradie() -> None:
    if request.endpoint == "widget.photos_upload":
        # Before anything reads the body (the state below does): photos need a larger limit.
        request.max_content_length = PHOTO_UPLOAD_LIMIT
    tradie = find_tradie(g.get("slug"))
    if tradie is None:
        abort(404)
    g.tradie = tradie
    g.widget_csp = widget_csp(frame_ancestors(tradie))
    g.state = WidgetState.from_values(request.values, tradie.origins)


@bp.after_request
def no_caching(response: Response) -> Response:
    # Free times change by the minute, and pages may carry what the customer typed.
    response.headers.setdefault("Cache-Control", "no-store")
    return response


def show(fragment: str, status: int = 200, **context: Any) -> Response:
    """Render one step: the fragment for htmx, the whole widget page otherwise."""
    tradie: Tradie | None = g.get("tradie")
    state: WidgetState = g.get("state") or WidgetState()
    brand = (
        parse_color(state.color)
        or parse_color(tradie.brand_color if tradie else None)
        or DEFAULT_BRAND
    )
    return render(
        "widget/page.html",
        fragment,
        status,
        step=fragment,
        tradie=tradie,
        state=state,
        brand=brand,
        brand_fg=colours.text_on(brand),
        logo=links.logo_src(tradie) if tradie else None,
        detail_fields=DETAIL_FIELDS,
        **context,
    )


@bp.errorhandler(HTTPException)
def widget_error(error: HTTPException) -> Response:
    code = error.code or 500
    if g.get("tradie") is None:
        # The limiter answers before the tradie is loaded; brand the message anyway.
        g.tradie = find_tradie(g.get("slug"))
        if g.tradie is not None:
            g.state = WidgetState.from_values(request.values, g.tradie.origins)
    message = MESSAGES.get(code, error.description or "Something went wrong.")
    response = show("widget/_error.html", code, code=code, message=message)
    for name, value in error.get_headers():
        if name.lower() != "content-type":
            response.headers[name] = value
    return response


# --- helpers -------------------------------------------------------------------------------


def tradie() -> Tradie:
    tradie: Tradie = g.tradie
    return tradie


def state() -> WidgetState:
    current: WidgetState = g.state
    return current


def zone() -> ZoneInfo:
    return ZoneInfo(tradie().timezone)


def chosen_service() -> Service | None:
    return bookings.bookable_service(db.session, tradie(), parse_id(state().service))


def own_hold_id() -> int | None:
    """The customer's own live hold, named by the signed token their state carries: its time
    is still theirs, so their steps offer it as free (a new hold of theirs replaces it)."""
    booking_id = read_booking_token(state().hold) if state().hold else None
    booking = db.session.get(Booking, booking_id) if booking_id else None
    if booking is None or booking.tradie_id != tradie().id or not hold_is_live(booking, utcnow()):
        return None
    return booking.id


def area_step() -> Response | None:
    """When the tradie serves an area, the step asking for the postcode (or saying, kindly,
    that it is outside); None once the carried postcode is inside."""
    if not tradie().service_area.strip():
        return None
    code = state().postcode
    inside = intake.in_area(tradie(), code) if code else None
    if inside:
        return None
    if inside is False:
        return show("widget/_outside.html", postcode=code, message=intake.outside_message(tradie()))
    error = "Enter a postcode, like " + postcodes.example(tradie().country) + "." if code else None
    return show("widget/_postcode.html", 422 if error else 200, error=error)


def services_step(error: str | None = None) -> Response:
    if first := area_step():
        return first
    services = bookings.active_services(db.session, tradie())
    return show(
        "widget/_service.html",
        422 if error else 200,
        services=services,
        deposits={s.id: deposit_for(s) for s in services},
        error=error,
    )


def month_key(year: int, month: int) -> str:
    return f"{year:04d}-{month:02d}"


def add_month(year: int, month: int, delta: int) -> tuple[int, int]:
    index = year * 12 + month - 1 + delta
    return index // 12, index % 12 + 1


def date_step(service: Service, error: str | None = None, status: int = 200) -> Response:
    now = utcnow()
    today = now.astimezone(zone()).date()
    last = today + timedelta(days=tradie().horizon_days)
    first_month, last_month = (today.year, today.month), (last.year, last.month)
    free: dict[tuple[int, int], list[date]] = {}

    mine = own_hold_id()

    def days_in(ym: tuple[int, int]) -> list[date]:
        if ym not in free:
            free[ym] = scheduling.month_days(db.session, tradie(), service, *ym, now, mine)
        return free[ym]

    suggestion = None
    ym = first_month
    while ym <= last_month:
        if days := days_in(ym):
            suggestion = days[0]
            break
        ym = add_month(*ym, 1)

    st = state()
    wanted = parse_month(st.month) or ((st.day.year, st.day.month) if st.day else None)
    if wanted is None:
        wanted = (suggestion.year, suggestion.month) if suggestion else first_month
    shown = min(max(wanted, first_month), last_month)
    available = set(days_in(shown))
    previous, following = add_month(*shown, -1), add_month(*shown, 1)
    return show(
        "widget/_date.html",
        status,
        service=service,
        weeks=calendar.Calendar(firstweekday=0).monthdatescalendar(*shown),
        year=shown[0],
        month=shown[1],
        month_name=date(*shown, 1).strftime("%B %Y"),
        available=available,
        suggestion=suggestion,
        previous=month_key(*previous) if previous >= first_month else None,
        following=month_key(*following) if following <= last_month else None,
        error=error,
    )


def time_step(service: Service, day: date, error: str | None = None, status: int = 200) -> Response:
    if (mine := own_hold_id()) is not None:
        # Their own hold's time shows as free to them: read past the shared day cache.
        slots = scheduling.day_slots(db.session, tradie(), service, day, utcnow(), mine)
    else:
        conn = db.session.connection()
        offer = fast.find_offer(conn, tradie().slug, service.id, day)[1]
        slots = fast.day_slots(conn, offer, day, utcnow()) if offer else []
    return show(
        "widget/_time.html",
        status,
        service=service,
        day=day,
        slots=[s for s in slots if s.available],
        error=error,
    )


def details_form(errors: dict[str, list[str]] | None = None) -> DetailsForm:
    form = DetailsForm(data=state().details)
    for name, messages in (errors or {}).items():
        if name in DETAIL_FIELDS:
            getattr(form, name).errors = list(messages)
    return form


def unstorable_details() -> dict[str, list[str]]:
    """Typed details no database can store (a NUL byte), by field; checked before any use."""
    return unstorable(state().details)


def details_step(
    service: Service, slot: Any, errors: dict[str, list[str]] | None = None
) -> Response:
    errors = errors or {}
    questions = intake.questions_of(db.session, service.id)
    form = details_form(errors)
    # The summary names each field as its label does, the way the customer sees it.
    labels = {name: form[name].label.text for name in DETAIL_FIELDS}
    labels.update({intake.answer_field(q.id): q.label for q in questions})
    return show(
        "widget/_details.html",
        422 if errors else 200,
        service=service,
        slot=slot,
        form=form,
        errors=errors,
        error_names=[labels.get(name, name) for name in errors],
        questions=questions,
        skip=(*DETAIL_FIELDS, *(f"q{q.id}" for q in questions)),
    )


def slot_or_step(service: Service) -> Any:
    """The chosen slot if it is still offered and free, else the step to pick another."""
    start = state().start_utc
    if start is None:
        return None, date_step(service, "Choose a day, then a time.", 422)
    slot = bookings.offered_slot(db.session, tradie(), service, start, utcnow(), own_hold_id())
    if slot is None or not slot.available:
        day = start.astimezone(zone()).date()
        message = "Sorry, that time is no longer available. Please choose another."
        return None, time_step(service, day, message, 409 if slot else 422)
    return slot, None


def summary_step(
    service: Service, slot: Any, customer: bookings.Customer, answers: list[intake.Answer]
) -> Response:
    deposit = deposit_for(service)
    return show(
        "widget/_summary.html",
        service=service,
        slot=slot,
        customer=customer,
        answers=answers,
        deposit=deposit,
        balance=None if service.price_minor is None else service.price_minor - deposit,
    )


def hold_chosen(service: Service) -> Booking:
    """Hold the chosen time for the customer, within the public hold limits."""
    return bookings.create_held_booking(
        db.session,
        tradie=tradie(),
        service_id=service.id,
        start_utc=state().start_utc,
        customer=state().customer,
        now=utcnow(),
        client_key=client_key(),
        limits=hold_limits(),
        answers=state().answers_by_id,
        postcode=state().postcode or None,
        replaces=read_booking_token(state().hold) if state().hold else None,
    )


def refused_step(service: Service, refused: Exception) -> Response:
    """The step that says why a hold was refused, or asks again for what was wrong."""
    if isinstance(refused, bookings.HoldRefused):
        return show(
            "widget/_busy.html",
            429,
            service=service,
            message=refused.message,
            reason=refused.reason,
        )
    if isinstance(refused, bookings.SlotTaken):
        return show(
            "widget/_taken.html",
            409,
            service=service,
            message=refused.message,
            next_slots=refused.next_free_slots,
        )
    errors = refused.errors if isinstance(refused, bookings.InvalidBooking) else {}
    if intake.POSTCODE in errors and (ask := area_step()):
        return ask
    slot, other_step = slot_or_step(service)
    if other_step or "start" in errors:
        return other_step or date_step(service, "Choose a day, then a time.", 422)
    return details_step(service, slot, errors)


def hold_is_live(booking: Booking, now: datetime) -> bool:
    """Still waiting for its deposit, with time left on its hold."""
    expired = booking.hold_expires_at is not None and booking.hold_expires_at <= now
    return booking.status == Status.PENDING_PAYMENT and not expired


def kept_state() -> dict[str, Any]:
    """What the payment and confirmation links carry, so "back" shows what was chosen."""
    typed = (*DETAIL_FIELDS, "postcode", *state().answers)
    return state().query("service", "month", "date", "start", "hold", *typed)


def another_time(booking: Booking, token: str) -> WidgetState:
    """What the payment step's "Choose another time" carries: the booking's service, details
    and answers to type no more, and its token, so the new hold may replace this one."""
    typed = {
        "name": booking.customer_name,
        "email": booking.customer_email,
        "phone": booking.customer_phone,
        "address": booking.job_address,
        "notes": booking.notes,
    }
    return WidgetState(
        service=str(booking.service_id or ""),
        color=state().color,
        origin=state().origin,
        postcode=booking.postcode or "",
        details={name: value for name, value in typed.items() if value},
        answers={
            f"q{a.question_id}": a.answer for a in booking.answers if a.question_id and a.answer
        },
        hold=token,
    )


def checked_details(service: Service, slot: Any) -> Response:
    """The review step once the typed details and answers pass the booking's rules; the
    details step with what is wrong otherwise."""
    if unstorable := unstorable_details():
        return details_step(service, slot, unstorable)
    errors: dict[str, list[str]] = {}
    customer = state().customer
    try:
        customer = bookings.clean_customer(customer, tradie().country)
    except bookings.InvalidBooking as error:
        errors.update(error.errors)
    questions = intake.questions_of(db.session, service.id)
    answers, problems = intake.clean_answers(questions, state().answers_by_id)
    errors.update(problems)
    if errors:
        return details_step(service, slot, errors)
    return summary_step(service, slot, customer, answers)


def payment_url(booking: Booking) -> str:
    token = booking_token(booking.id)
    return url_for("widget.payment", slug=tradie().slug, token=token, **kept_state())


def review_url(token: str) -> str:
    return url_for("widget.review", slug=tradie().slug, token=token, **kept_state())


def reviewed(booking: Booking, token: str) -> WidgetState:
    """The review step's state for a held booking: as "Choose another time" carries it, with
    its time, so "Continue to payment" again replaces this hold with the same one."""
    start = booking.window_starts_at or booking.starts_at
    again = another_time(booking, token)
    return replace(
        again,
        date=start.astimezone(zone()).date().isoformat(),
        start=format_start(start),
    )


def payment_step(
    booking: Booking, token: str, payment: bookings.PaymentStart, now: datetime
) -> Response:
    pay = payment_view(
        booking,
        client_secret=payment.client_secret or "",
        account_id=payment.account_id or "",
        publishable_key=payment.publishable_key or "",
        payment_intent_id=payment.payment_intent_id or "",
        confirm_url=url_for("widget.confirmation", slug=tradie().slug, token=token, **kept_state()),
        frame_ancestors=frame_ancestors(tradie()),
    )
    return show(
        "widget/_payment.html",
        payment=payment,
        pay=pay,
        **photos_context(booking, token, "pay"),
        seconds_left=max(0, int(((booking.hold_expires_at or now) - now).total_seconds())),
        again=another_time(booking, token),
        review=review_url(token),
    )


def blocked_origin() -> str | None:
    """The embedding page's origin when the tradie listed the sites allowed to frame the widget
    and it is not one: the loader's `origin`, or a plain iframe's Referer. None otherwise."""
    allowed = tradie().origins
    if not allowed:
        return None
    claimed = parse_origin(request.args.get("origin"), [])
    if claimed is None and request.headers.get("Sec-Fetch-Dest") == "iframe":
        referer = urlsplit(request.referrer or "")
        claimed = parse_origin(f"{referer.scheme}://{referer.netloc}", [])
    if claimed is None or claimed == request.host_url.rstrip("/"):
        return None
    return None if parse_origin(claimed, allowed) else claimed


def blocked_step(origin: str) -> Response:
    """A short page for the site owner instead of the browser's broken-frame box: it books
    nothing, so any page may show it; it also tells the loader, which logs what to add."""
    g.widget_csp = widget_csp("*")
    return show("widget/_blocked.html", blocked_origin=origin)


# One request may carry every photo a booking takes, each at its limit, and the form around them.
PHOTO_UPLOAD_LIMIT = photos.MAX_PHOTOS * photos.MAX_BYTES + 2 * 1024 * 1024
PHOTO_BACK = {"pay": "widget.payment", "done": "widget.confirmation"}


def photos_context(booking: Booking, token: str, back: str) -> dict[str, Any]:
    """What `widget/_photos.html` shows: the booking's photos and whether more may come."""
    taken = photos.photos_of(db.session, booking.id)
    return {
        "booking": booking,
        "token": token,
        "photos": taken,
        "photo_back": back if back in PHOTO_BACK else "pay",
        "photos_open": photos.accepts_photos(booking, utcnow()) and len(taken) < photos.MAX_PHOTOS,
    }


# --- steps ---------------------------------------------------------------------------------


@bp.route("/widget/<slug>", methods=["GET", "POST"])
@bp.route("/book/<slug>", methods=["GET", "POST"])
def start(slug: str) -> ResponseReturnValue:
    if request.method == "GET" and (origin := blocked_origin()):
        return blocked_step(origin)
    # A view for the dashboard's funnel: a page load from another site or typed in, not an
    # htmx swap, a step back within the widget, or the dashboard's own preview (same origin).
    if (
        request.method == "GET"
        and not is_htmx()
        and request.headers.get("Sec-Fetch-Site") != "same-origin"
    ):
        record_widget_view(db.session, tradie().id, utcnow())
    return services_step()


@bp.route("/book/<slug>/area", methods=["GET", "POST"])
def area(slug: str) -> ResponseReturnValue:
    """The postcode step's answer: the services when it is served, a kind word when not."""
    return services_step()


@bp.route("/book/<slug>/date", methods=["GET", "POST"])
@availability_limit
def choose_date(slug: str) -> ResponseReturnValue:
    service = chosen_service()
    if service is None:
        return services_step("Choose a service to continue.")
    return date_step(service)


@bp.route("/book/<slug>/time", methods=["GET", "POST"])
@availability_limit
def choose_time(slug: str) -> ResponseReturnValue:
    service = chosen_service()
    if service is None:
        return services_step("Choose a service to continue.")
    day = state().day
    if day is None:
        return date_step(service, "Choose a day to see its times.", 422)
    return time_step(service, day)


@bp.route("/book/<slug>/details", methods=["GET", "POST"])
def details(slug: str) -> ResponseReturnValue:
    service = chosen_service()
    if service is None:
        return services_step("Choose a service to continue.")
    slot, other_step = slot_or_step(service)
    return other_step or details_step(service, slot)


@bp.post("/book/<slug>/summary")
@checks_own_text
def summary(slug: str) -> ResponseReturnValue:
    service = chosen_service()
    if service is None:
        return services_step("Choose a service to continue.")
    slot, other_step = slot_or_step(service)
    return other_step or checked_details(service, slot)


@bp.post("/book/<slug>/hold")
@checks_own_text
@booking_limit
def hold(slug: str) -> ResponseReturnValue:
    service = chosen_service()
    if service is None:
        return services_step("Choose a service to continue.")
    if not tradie().payments_ready:
        return show("widget/_unavailable.html", service=service)
    if unstorable := unstorable_details():
        slot, other_step = slot_or_step(service)
        return other_step or details_step(service, slot, unstorable)
    try:
        booking = hold_chosen(service)
    except HOLD_REFUSALS as refused:
        return refused_step(service, refused)
    return redirect(payment_url(booking), 303)


def held_booking(token: str) -> Booking:
    booking_id = read_booking_token(token)
    booking = db.session.get(Booking, booking_id) if booking_id else None
    if booking is None or booking.tradie_id != tradie().id:
        abort(404)
    return booking


def whole_payment_page(token: str) -> Response:
    """Stripe.js (or the demo card form) needs the payment step's own CSP: htmx loads it as a
    whole page. The page left behind becomes the review step's address (widget.js), so the
    browser's Back comes to the review with the details kept, not to the widget's first step."""
    return Response("", 200, {"HX-Redirect": request.url, REVIEW_HEADER: review_url(token)})


@bp.get("/book/<slug>/pay/<token>")
def payment(slug: str, token: str) -> ResponseReturnValue:
    booking = held_booking(token)
    now = utcnow()
    if not hold_is_live(booking, now):
        return confirmation(slug, token)
    if is_htmx():
        return whole_payment_page(token)
    try:
        payment = bookings.start_payment(db.session, booking, tradie(), now)
    except DepositsUnavailable:
        service = db.session.get(Service, booking.service_id) if booking.service_id else None
        return show("widget/_unavailable.html", service=service or {"name": booking.service_name})
    except PaymentError as error:
        return show("widget/_error.html", error.status, code=error.status, message=error.message)
    return payment_step(booking, token, payment, now)


@bp.get("/book/<slug>/review/<token>")
def review(slug: str, token: str) -> ResponseReturnValue:
    """The review step of a held booking, from its details: where Back from the payment step
    and its "Change" come to; a hold no longer live shows what became of it."""
    booking = held_booking(token)
    if not hold_is_live(booking, utcnow()):
        return confirmation(slug, token)
    g.state = reviewed(booking, token)
    service = chosen_service()
    if service is None:
        return services_step("Choose a service to continue.")
    slot, other_step = slot_or_step(service)
    return other_step or checked_details(service, slot)


@bp.get("/book/<slug>/done/<token>")
def confirmation(slug: str, token: str) -> ResponseReturnValue:
    booking = held_booking(token)
    now = utcnow()
    if booking.status in (Status.PENDING_PAYMENT, Status.EXPIRED, Status.PAYMENT_FAILED):
        # Ask Stripe now, so a paid deposit shows as confirmed before its webhook lands.
        with contextlib.suppress(PaymentError):
            sync_deposit(db.session, booking, now)
    expired = booking.status == Status.EXPIRED or (
        booking.status == Status.PENDING_PAYMENT
        and booking.hold_expires_at is not None
        and booking.hold_expires_at <= now
    )
    return show(
        "widget/_confirmation.html", expired=expired, **photos_context(booking, token, "done")
    )
