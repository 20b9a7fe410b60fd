"""A receipt as a PDF (fpdf2): the same elements as the HTML page, in the same words, so a
customer's accountant and a test reading the text back find each one."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

from fpdf import FPDF
from fpdf.enums import MethodReturnValue, XPos, YPos

from peepopay.formatting import format_money
from peepopay.receipts.build import Receipt

MARGIN = 18
LINE = 6


def _text(value: str) -> str:
    # The PDF core fonts speak Latin-1: anything else (a dot leader, an emoji) becomes "?".
    return (
        value.replace("—", "-")
        .replace("·", "-")
        .replace("\u2212", "-")
        .encode("latin-1", "replace")
        .decode("latin-1")
    )


def day_text(value: date) -> str:
    return value.strftime("%-d %b %Y")


def receipt_filename(receipt: Receipt) -> str:
    stem = "tax-invoice" if receipt.tax_invoice else "receipt"
    return f"{stem}-{receipt.number}.pdf" if receipt.number else f"{stem}.pdf"


def render_pdf(receipt: Receipt, timezone: str) -> bytes:
    zone = ZoneInfo(timezone)
    money = lambda minor: _text(format_money(minor, receipt.currency))  # noqa: E731
    pdf = FPDF(format="A4")
    pdf.set_margins(MARGIN, MARGIN, MARGIN)
    pdf.set_auto_page_break(auto=True, margin=MARGIN)
    pdf.set_title(_text(f"{receipt.title} {receipt.number or ''}".strip()))
    pdf.set_author(_text(receipt.business_name))
    pdf.add_page()
    width = pdf.w - 2 * MARGIN

    def row(label: str, value: str, *, bold: bool = False) -> None:
        # A long label (a service name) wraps in its column; the amount stays on its first line.
        pdf.set_font("Helvetica", "B" if bold else "", 10)
        left, top = pdf.get_x(), pdf.get_y()
        text, label_width = _text(label), width * 0.72
        wrapped = pdf.multi_cell(
            label_width, LINE, text, dry_run=True, output=MethodReturnValue.LINES
        )
        pdf.multi_cell(label_width, LINE, text, new_x=XPos.RIGHT, new_y=YPos.TOP)
        pdf.cell(width - label_width, LINE, _text(value), align="R")
        count = len(wrapped) if isinstance(wrapped, list) else 1
        pdf.set_xy(left, top + LINE * max(count, 1))

    def line(text: str, size: int = 10, style: str = "") -> None:
        pdf.set_font("Helvetica", style, size)
        pdf.multi_cell(width, LINE, _text(text), align="L", new_x=XPos.LMARGIN, new_y=YPos.NEXT)

    line(receipt.title, 18, "B")
    line(receipt.business_name, 12, "B")
    if receipt.business_contact:
        line(receipt.business_contact)
    if receipt.tax_number:
        line(f"{receipt.tax_number_label}: {receipt.tax_number}", style="B")
    pdf.ln(2)
    if receipt.number:
        row("Invoice number" if receipt.tax_invoice else "Receipt number", str(receipt.number))
    if receipt.issued_on:
        row("Date issued", day_text(receipt.issued_on))
    row("Date of supply", day_text(receipt.supply_date))
    pdf.ln(2)
    line("Billed to", style="B")
    email = receipt.customer_email  # none left once the customer was erased
    line(f"{receipt.customer_name} <{email}>" if email else receipt.customer_name)
    if receipt.job_address:
        line(receipt.job_address)
    pdf.ln(2)
    line("Description", style="B")
    row(receipt.description, money(receipt.total_minor))
    if receipt.tax_invoice:
        row(f"Total including {receipt.tax_name}", money(receipt.total_minor), bold=True)
        row(f"{receipt.tax_name} included ({receipt.tax_rate_text})", money(receipt.tax_minor))
    else:
        row("Total", money(receipt.total_minor), bold=True)
    pdf.ln(2)
    line("Payments", style="B")
    if not receipt.lines:
        line("Nothing paid yet.")
    for item in receipt.lines:
        when = _local(item.when, zone)
        row(f"{day_text(when)}  {item.what} - {item.how}", money(item.amount_minor))
    pdf.ln(1)
    row("Paid", money(receipt.paid_minor))
    if receipt.refunded_minor:
        row("Refunded", money(-receipt.refunded_minor))
    row("Balance due", money(receipt.balance_due_minor), bold=True)
    return bytes(pdf.output())


def _local(value: datetime, zone: ZoneInfo) -> date:
    return value.astimezone(zone).date()
