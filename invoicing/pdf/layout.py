"""What an invoice looks like: colours, page geometry, type styles, and the blocks drawn
from the top of the first page down. This is the file to edit to change the design.

Coordinates are PDF points from the bottom-left corner of an A4 page (``mm`` converts);
``y`` runs upwards, and a block is placed by its top edge. The blocks, in order
(`lay_out`):

    header    the seller (logo or word mark, address, tax ID, e-mail); "INVOICE" and the number
    parties   BILL TO (name, address); invoice number, account, dates, billing period
    items     the line items table; it flows over pages, the column header repeated
    closing   the totals, then the payment box; each is kept whole on one page (a draft
              has no payment box: it asks no one to pay)
    footers   on every page: the seller line and "Page x of y"; from page 2 "(continued)"
    marks     on every page of a sample (the settings' sample seller) or a draft: SAMPLE
              or DRAFT, large, light and diagonal, drawn under the text

Every fixed word comes from the subscriber's language (translate.py: ``self._("BILL
TO")`` is a gettext message, extracted by Babel). A page in a right-to-left language is
placed here as if it were left to right and drawn mirrored (page.py): the seller and the
bill-to block on the right, the table's columns from right to left with the amounts in
the leftmost column, aligned to their end as the text around them is.

Untrusted fields are capped (MAX_*, then each text's line limit) so that no block can
outgrow a page, whatever the data; their text is cleaned first (text.clean_text: no
bidi controls, combining marks capped per letter, and shaping.py keeps stacked marks
within a line's height), so every field stays in its box. Figures are never wrapped:
an amount, a unit price or a quantity wider than its column (the widest amount a field
may hold, billing.money.MAX_AMOUNT, is 10 integer digits: "-9.999.999.999,99 €", wider
in currencies of 3 or 4 decimals or with a long symbol) is set smaller, down to
FIGURE_MIN_SIZE, on the baseline of its row (`_Layout.figure`); and the payment box's
sentence never breaks a line inside its amount (text.unbroken). Any change here changes
the bytes of every invoice.
"""

from __future__ import annotations

import math
from dataclasses import replace

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.units import mm

from invoicing.pdf.documents import InvoiceDocument
from invoicing.pdf.einvoice.profiles import exemption_text
from invoicing.pdf.fonts import BOLD
from invoicing.pdf.format import Formatter, iban
from invoicing.pdf.logo import load_logo
from invoicing.pdf.page import Page
from invoicing.pdf.text import Analyses, Style, Text, clean_text, shared_text, unbroken
from invoicing.pdf.translate import Words, address

__all__ = ["MAX_NAME", "MAX_SHORT", "PAGE_W", "lay_out"]

# ---------------------------------------------------------------------- colours

INK = colors.HexColor("#1f2933")
MUTED = colors.HexColor("#66727f")
RULE = colors.HexColor("#d5dbe1")
ACCENT = colors.HexColor("#1d4e89")
SHADE = colors.HexColor("#f2f5f8")
MARK = colors.HexColor("#e3e8ee")  # the SAMPLE / DRAFT watermark: light, printed, under the text
SAMPLE_RED = colors.HexColor("#b42318")  # the "SAMPLE" beside the seller's block

# ------------------------------------------------------------------------- page

PAGE_W, PAGE_H = A4
MARGIN_X = 18 * mm  # left and right
CONTENT_W = PAGE_W - 2 * MARGIN_X
RIGHT_X = PAGE_W - MARGIN_X
TOP_Y = PAGE_H - 18 * mm  # first page content starts here
CONT_TOP_Y = PAGE_H - 22 * mm  # later pages, below the "continued" line
BOTTOM_Y = 26 * mm  # content stays above; the footer lives below

# ----------------------------------------------------------------------- styles

ST_BODY = Style(color=INK)
ST_SMALL = Style(size=8, leading=10.5, color=MUTED)
ST_LABEL = Style(font=BOLD, size=7, leading=10, color=MUTED)
ST_NAME = Style(font=BOLD, size=10.5, leading=14, color=INK)
ST_SELLER = Style(font=BOLD, size=9.5, leading=13, color=INK)
ST_WORDMARK = Style(font=BOLD, size=17, leading=21, color=ACCENT)
ST_TITLE = Style(font=BOLD, size=22, leading=26, color=INK, right=True)
ST_TITLE_NO = Style(size=10, leading=14, color=MUTED, right=True)
ST_META_K = Style(size=8.5, leading=12.5, color=MUTED)
ST_META_V = Style(size=8.5, leading=12.5, color=INK, right=True)
ST_TH = Style(font=BOLD, size=7.5, leading=10, color=MUTED)
ST_TH_R = Style(font=BOLD, size=7.5, leading=10, color=MUTED, right=True)
ST_TD = Style(color=INK)
ST_TD_R = Style(color=INK, right=True)
ST_TOTAL_K = Style(color=MUTED)
ST_TOTAL_V = Style(color=INK, right=True)
ST_GRAND_K = Style(font=BOLD, size=11, leading=14, color=INK)
ST_GRAND_V = Style(font=BOLD, size=11, leading=14, color=INK, right=True)
ST_FOOT = Style(size=7, leading=9, color=MUTED)
ST_PAGE = Style(size=7.5, leading=9, color=MUTED, right=True)
ST_MARK = Style(font=BOLD, size=100, leading=120, color=MARK)  # set to fit WATERMARK_W
ST_SAMPLE = Style(font=BOLD, size=8, leading=11, color=SAMPLE_RED)

# Caps for untrusted fields (characters; then wrapped lines, see Text.max_lines):
# every block stays well inside one page whatever the data.
MAX_NAME = 300
MAX_ADDRESS_LINES = 6
MAX_LINE = 300
MAX_DESCRIPTION = 1000
MAX_SHORT = 100

# ------------------------------------------------------------------- the blocks

# header
SELLER_W = CONTENT_W * 0.62  # the seller's column; "INVOICE" and the number on the right
TITLE_W = CONTENT_W - SELLER_W
LOGO_MAX_W = 55 * mm  # the logo is scaled to fit this box
LOGO_MAX_H = 18 * mm
LOGO_GAP = 3 * mm  # between the logo and the seller's name
HEADER_GAP = 10 * mm  # below the header
# The watermark of a sample or a draft: along the page's diagonal, through its centre,
# as wide as this share of the diagonal (a short word no larger than WATERMARK_MAX_SIZE).
WATERMARK_ANGLE = math.degrees(math.atan2(PAGE_H, PAGE_W))
WATERMARK_W = 0.6 * math.hypot(PAGE_W, PAGE_H)
WATERMARK_MAX_SIZE = 150

# parties
META_W = 84 * mm  # invoice number, account, dates: the right-hand column
META_KEY_W = 28 * mm  # at least; wider for a language whose labels are longer
KEY_GAP = 3 * mm  # between the longest label and its value
META_DROP = 10  # the first row lines up with the name, below the BILL TO label
META_ROW_GAP = 1.5
BILL_TO_W = CONTENT_W - META_W - 8 * mm
ADDRESS_LINE_BUDGET = 24  # wrapped address lines in all: absurd data can't fill the page
PARTIES_GAP = 9 * mm  # below the parties

# items: the line items table
QTY_W = 20 * mm
PRICE_W = 32 * mm
AMOUNT_W = 32 * mm
COLUMN_GAP = 6
DESC_W = CONTENT_W - QTY_W - PRICE_W - AMOUNT_W - 3 * COLUMN_GAP
DESC_MIN_W = 50 * mm  # what the description keeps when figures wider than their columns widen them
CELL_PAD = 4.5  # above and below a cell's text
HEAD_RULE_W = 0.9  # under the column header
ROW_RULE_W = 0.4  # under each line item
DESCRIPTION_LINES = 30
# A figure wider than its column is set smaller, down to this (the widest unit price a
# field may hold, 10 integer digits and 6 decimals in a currency with a long symbol,
# needs 6.1 pt in the 32 mm column; an amount of 10 digits in euros 7.7 pt).
FIGURE_MIN_SIZE = 6.0


def _columns(widest: tuple[float, float, float]) -> tuple[tuple[float, float], ...]:
    """(x, width) of the description, quantity, unit price and amount columns, for
    figures whose widest are `widest` (quantity, unit price, amount): a figure column is
    its usual width, or as wide as its widest figure, taken from the description down
    to DESC_MIN_W (shared in proportion to what each asks, if that is not enough: the
    figures still too wide are set smaller, `_Layout.fit`)."""
    usual = (QTY_W, PRICE_W, AMOUNT_W)
    widths = [max(u, w) for u, w in zip(usual, widest, strict=True)]
    extra, spare = sum(widths) - sum(usual), DESC_W - DESC_MIN_W
    if extra > spare:
        widths = [u + (w - u) * spare / extra for u, w in zip(usual, widths, strict=True)]
    qty_w, price_w, amount_w = widths
    return (
        (MARGIN_X, CONTENT_W - qty_w - price_w - amount_w - 3 * COLUMN_GAP),
        (RIGHT_X - amount_w - price_w - qty_w - 2 * COLUMN_GAP, qty_w),
        (RIGHT_X - amount_w - price_w - COLUMN_GAP, price_w),
        (RIGHT_X - amount_w, amount_w),
    )


COLUMNS = _columns((0.0, 0.0, 0.0))  # the usual ones

# closing: totals, then the payment box
TOTALS_W = 84 * mm
TOTALS_KEY_W = TOTALS_W - AMOUNT_W - 6 * mm
TOTALS_VALUE_W = TOTALS_W - TOTALS_KEY_W
TOTALS_TOP_GAP = 4 * mm  # above the totals
TOTALS_ROW_GAP = 6
GRAND_RULE_ABOVE = 3  # the rule above the grand total
GRAND_RULE_BELOW = 6
GRAND_RULE_W = 0.9
PAYMENT_GAP = 8 * mm  # between the totals and the payment box
BOX_PAD = 6 * mm  # inside the payment box, left and right
BOX_PAD_Y = 4.5 * mm  # top and bottom
BOX_W = CONTENT_W - 2 * BOX_PAD  # the box's content
PAY_KEY_W = 24 * mm  # at least, as META_KEY_W
TITLE_MIN_SIZE = 14  # a longer title ("FACTURA RECTIFICATIVA") is set smaller, down to this
PAY_INTRO_GAP = 2 * mm  # below "Please transfer ..."
PAY_ROW_GAP = 1.5

# footers
FOOTER_RULE_Y = 17 * mm
FOOTER_RULE_W = 0.5
FOOTER_Y = 15 * mm  # top of the footer line
PAGE_NO_W = 30 * mm  # "Page x of y", at the right
CONTINUED_Y = PAGE_H - 12 * mm  # top of the "(continued)" line, from page 2


def lay_out(doc: InvoiceDocument, fmt: Formatter, words: Words) -> list[Page]:
    """The pages of the invoice, everything placed; `Page.paint` writes them (mirrored
    if `words.rtl`)."""
    layout = _Layout(doc, fmt, words)
    layout.header()
    layout.parties()
    layout.items()
    layout.closing()
    layout.footers()
    layout.watermarks()
    return layout.pages


def _column(page: Page, items: list[Text], x: float, top: float, width: float) -> float:
    """Stack `items` downwards from `top`; returns the height they take."""
    y = top
    for item in items:
        y -= page.text(item, x, y, width)
    return top - y


def _key_width(keys: list[Text], least: float, most: float) -> float:
    """A label column as wide as its longest label and a gap, within [least, most]."""
    return min(max([least] + [k.natural + KEY_GAP for k in keys]), most)


def _row_height(cells: list[Text], columns: tuple[tuple[float, float], ...]) -> float:
    return max(cell.height(w) for cell, (_, w) in zip(cells, columns, strict=True)) + 2 * CELL_PAD


def _draw_row(
    page: Page,
    cells: list[Text],
    columns: tuple[tuple[float, float], ...],
    top: float,
    height: float,
    rule: float,
    color: colors.Color,
) -> None:
    size = cells[0].style.size  # the description's; a figure set smaller keeps its baseline
    for cell, (x, w) in zip(cells, columns, strict=True):
        page.text(cell, x, top - CELL_PAD - (size - cell.style.size), w)
    page.line(MARGIN_X, top - height, RIGHT_X, rule, color)


class _Layout:
    """Places the blocks one below the other; `y` is the top of the free space on `page`."""

    def __init__(self, doc: InvoiceDocument, fmt: Formatter, words: Words):
        self.doc = doc
        self.fmt = fmt
        self._ = words.gettext
        self.pgettext = words.pgettext
        self.words = words
        self.rtl = words.rtl
        self.credit_note = doc.document_type == "381"
        # A draft (invoicing render before the run) is numbered "DRAFT-2026-10": the word
        # is the language's ("ENTWURF-2026-10").
        number = clean_text(doc.number, MAX_SHORT)
        self.number = self._("DRAFT") + number[5:] if number.startswith("DRAFT-") else number
        self.columns = COLUMNS  # the line items table's, widened for wide figures (`items`)
        self._own: Analyses = {}  # this invoice's own texts, analysed once for all their styles
        self.pages: list[Page] = []
        self.page = self._new_page()
        self.y = TOP_Y

    def label(self, invoice: str, credit_note: str) -> str:
        """The invoice's label, or the credit note's own (translate.py: a term such as
        the German "Rechnungsdatum" names the invoice, not the credit note)."""
        return credit_note if self.credit_note else invoice

    def text(self, value: str, style: Style, max_lines: int = 2) -> Text:
        """A text many invoices print (a label, the seller's block, a date, an amount):
        shared between them, laid out and painted once (text.shared_text)."""
        return shared_text(value, style, max_lines, rtl=self.rtl)

    def figure(self, value: str, style: Style, width: float) -> Text:
        """An amount, a price or a quantity in a column `width` wide: on one line, set
        smaller if it is wider than the column (down to FIGURE_MIN_SIZE; only beyond
        what any field may hold would it wrap). The smaller size keeps the style's
        leading, so the row is as high as ever; the caller lowers it by the difference
        in size so that it stands on the row's baseline."""
        item = self.text(value, style)
        if item.natural <= width:
            return item
        size = max(FIGURE_MIN_SIZE, math.floor(style.size * width / item.natural * 100) / 100)
        return Text(value, replace(style, size=size), 2, rtl=self.rtl, own=self._own)

    def own(self, value: str, style: Style, max_lines: int = 2) -> Text:
        """A text of this invoice alone (its number, the name, the address): made for it,
        and gone with it, rather than pushing the shared ones out of their caches."""
        return Text(value, style, max_lines, rtl=self.rtl, own=self._own)

    def _new_page(self) -> Page:
        page = Page()
        self.pages.append(page)
        self.page = page
        self.y = CONT_TOP_Y
        return page

    def header(self) -> None:
        seller, page = self.doc.seller, self.page
        top = self.y
        y = top
        if seller.logo_path:
            logo = load_logo(seller.logo_path)
            width, height = logo.fit(LOGO_MAX_W, LOGO_MAX_H)
            page.image(logo, MARGIN_X, y - height, width, height)
            y -= height + LOGO_GAP
            items = [self.text(clean_text(seller.name, MAX_NAME), ST_SELLER, 3)]
        else:
            items = [self.text(clean_text(seller.name, MAX_NAME), ST_WORDMARK, 3)]
        seller_address = address(self.words, seller.address, seller.country)[:MAX_ADDRESS_LINES]
        items += [self.text(clean_text(a, MAX_LINE), ST_SMALL) for a in seller_address]
        extra = []
        if seller.tax_id:
            extra.append(self._("Tax ID {tax_id}").format(tax_id=clean_text(seller.tax_id, MAX_SHORT)))
        if seller.vat_id and seller.vat_id != seller.tax_id:
            extra.append(self._("VAT ID {vat_id}").format(vat_id=clean_text(seller.vat_id, MAX_SHORT)))
        if seller.registration:
            extra.append(clean_text(seller.registration, MAX_LINE))
        if seller.email:
            extra.append(clean_text(seller.email, MAX_LINE))
        if extra:
            items.append(self.text(" · ".join(extra), ST_SMALL))
        if seller.sample:
            # In English, as the settings that replace it are named.
            items.append(self.text("SAMPLE seller: not a valid invoice (set INVOICING_SELLER_*)", ST_SAMPLE))
        y -= _column(page, items, MARGIN_X, y, SELLER_W)
        title = self._("CREDIT NOTE") if self.credit_note else self._("INVOICE")
        heading = self.text(title, ST_TITLE, 1)
        if heading.natural > TITLE_W:
            size = max(TITLE_MIN_SIZE, ST_TITLE.size * TITLE_W / heading.natural)
            heading = Text(title, replace(ST_TITLE, size=size, leading=size * 1.2), 2, rtl=self.rtl)
        right = [heading, self.own(self.number, ST_TITLE_NO)]
        right_h = _column(page, right, RIGHT_X - TITLE_W, top, TITLE_W)
        self.y = min(y, top - right_h) - HEADER_GAP

    def parties(self) -> None:
        doc, fmt, page = self.doc, self.fmt, self.page
        top = self.y
        _, pgettext, label = self._, self.pgettext, self.label
        bill_to = label(_("BILL TO"), pgettext("credit note", "BILL TO"))
        bill = [self.text(bill_to, ST_LABEL), self.own(clean_text(doc.name, MAX_NAME), ST_NAME, 16)]
        if doc.buyer_company and doc.buyer_company != doc.name:
            bill.append(self.own(clean_text(doc.buyer_company, MAX_NAME), ST_BODY, 3))
        budget = ADDRESS_LINE_BUDGET
        for address_line in address(self.words, doc.address, doc.country)[:MAX_ADDRESS_LINES]:
            if budget <= 0:
                break
            item = self.own(clean_text(address_line, MAX_LINE), ST_BODY, budget)
            budget -= len(item.lines(BILL_TO_W))
            bill.append(item)
        if doc.buyer_vat_id:
            vat = _("VAT ID {vat_id}").format(vat_id=clean_text(doc.buyer_vat_id, MAX_SHORT))
            bill.append(self.own(vat, ST_BODY))
        left_h = _column(page, bill, MARGIN_X, top, BILL_TO_W)
        period = f"{fmt.date(doc.period_start)} – {fmt.date(doc.period_end)}"
        if self.credit_note:
            rows = [(pgettext("credit note", "Number"), self.number)]
            if doc.preceding_invoice is not None:
                credited = clean_text(doc.preceding_invoice.number, MAX_SHORT)
                issued = doc.preceding_invoice.issue_date
                if issued is not None:
                    credited = _("{number} of {date}").format(number=credited, date=fmt.date(issued))
                rows.append((_("Credits invoice"), credited))
            rows += [
                (pgettext("credit note", "Account"), clean_text(doc.account, MAX_SHORT)),
                (pgettext("credit note", "Issue date"), fmt.date(doc.issue_date)),
                (pgettext("credit note", "Billing period"), period),
            ]
            if doc.note:
                rows.append((pgettext("credit note", "Reason"), clean_text(doc.note, MAX_LINE)))
        else:
            rows = [
                (_("Invoice number"), self.number),
                (_("Account"), clean_text(doc.account, MAX_SHORT)),
                (_("Issue date"), fmt.date(doc.issue_date)),
                (_("Due date"), fmt.date(doc.due_date)),
                (_("Billing period"), period),
            ]
        if doc.buyer_reference:
            reference = label(_("Your reference"), pgettext("credit note", "Your reference"))
            rows.append((reference, clean_text(doc.buyer_reference, MAX_SHORT)))
        x = RIGHT_X - META_W
        y = top - META_DROP
        # The dates and the period are the run's, shared; the number, the account and the
        # rest are this invoice's own.
        shared = {fmt.date(doc.issue_date), fmt.date(doc.due_date), period}
        cells = [
            (self.text(key, ST_META_K), (self.text if value in shared else self.own)(value, ST_META_V))
            for key, value in rows
        ]
        key_w = _key_width([k for k, _ in cells], META_KEY_W, META_W / 2)
        for k, v in cells:
            h = max(page.text(k, x, y, key_w), page.text(v, x + key_w, y, META_W - key_w))
            y -= h + META_ROW_GAP
        self.y = min(top - left_h, y) - PARTIES_GAP

    def items(self) -> None:
        fmt, _, pgettext, label = self.fmt, self._, self.pgettext, self.label
        head = [
            self.text(label(_("DESCRIPTION"), pgettext("credit note", "DESCRIPTION")), ST_TH),
            self.text(label(_("QTY"), pgettext("credit note", "QTY")), ST_TH_R),
            self.text(label(_("UNIT PRICE"), pgettext("credit note", "UNIT PRICE")), ST_TH_R),
            self.text(label(_("AMOUNT"), pgettext("credit note", "AMOUNT")), ST_TH_R),
        ]
        # The figures first: their widest decide the columns (`_columns`).
        rows = [
            (
                self.text(clean_text(line.description, MAX_DESCRIPTION), ST_TD, DESCRIPTION_LINES),
                (fmt.qty(line.quantity), fmt.price(line.unit_price), fmt.money(line.amount)),
            )
            for line in self.doc.lines
        ]
        widest = [0.0, 0.0, 0.0]
        for _description, figures in rows:
            for k, figure in enumerate(figures):
                widest[k] = max(widest[k], self.text(figure, ST_TD_R).natural)
        columns = self.columns = _columns((widest[0], widest[1], widest[2]))
        head_h = _row_height(head, columns)
        self._table_head(head, head_h)
        for description, figures in rows:
            cells = [description]
            cells += [
                self.figure(value, ST_TD_R, w) for value, (_, w) in zip(figures, columns[1:], strict=True)
            ]
            h = _row_height(cells, columns)
            if self.y - h < BOTTOM_Y:
                self._new_page()
                self._table_head(head, head_h)
            _draw_row(self.page, cells, columns, self.y, h, ROW_RULE_W, RULE)
            self.y -= h

    def _table_head(self, head: list[Text], height: float) -> None:
        _draw_row(self.page, head, self.columns, self.y, height, HEAD_RULE_W, INK)
        self.y -= height

    def closing(self) -> None:
        """Totals, then payment instructions; each block is kept on one page."""
        doc, fmt, _, pgettext = self.doc, self.fmt, self._, self.pgettext
        tax = self.label(_("Tax ({rate})"), pgettext("credit note", "Tax ({rate})"))
        tax = tax.format(rate=fmt.percent(doc.tax_rate))
        total = self.label(_("Total ({currency})"), pgettext("credit note", "Total ({currency})"))
        total = total.format(currency=doc.currency)
        subtotal = self.label(_("Subtotal"), pgettext("credit note", "Subtotal"))
        # The amounts' column widens to the left for an amount wider than it (the block
        # has the page's width to grow into); only beyond that is one set smaller.
        amounts = (fmt.money(doc.subtotal), fmt.money(doc.tax), fmt.money(doc.total))
        widest = max(
            self.text(amounts[0], ST_TOTAL_V).natural,
            self.text(amounts[1], ST_TOTAL_V).natural,
            self.text(amounts[2], ST_GRAND_V).natural,
        )
        key_w, val_w = TOTALS_KEY_W, min(max(TOTALS_VALUE_W, widest), CONTENT_W - TOTALS_KEY_W)
        totals = [
            (self.text(subtotal, ST_TOTAL_K), self.figure(amounts[0], ST_TOTAL_V, val_w)),
            (self.text(tax, ST_TOTAL_K), self.figure(amounts[1], ST_TOTAL_V, val_w)),
            (self.text(total, ST_GRAND_K), self.figure(amounts[2], ST_GRAND_V, val_w)),
        ]
        totals_h = (
            TOTALS_TOP_GAP
            + sum(max(k.height(key_w), v.height(val_w)) + TOTALS_ROW_GAP for k, v in totals)
            + (GRAND_RULE_ABOVE + GRAND_RULE_BELOW)
        )

        number = self.number
        if doc.draft:
            self._closing_draft(totals, key_w, val_w, totals_h)
            return
        if self.credit_note:
            # Nothing to pay: say what happens to the money instead of bank details.
            sentence = _(
                "{amount} is credited to your account {account}: "
                "refunded, or offset against your next invoice."
            ).format(amount=unbroken(fmt.money(-doc.total)), account=clean_text(doc.account, MAX_SHORT))
        else:
            sentence = _("Please transfer {amount} by {date}, quoting the reference {number}.").format(
                amount=unbroken(fmt.money(doc.total)), date=fmt.date(doc.due_date), number=number
            )
        intro = self.own(sentence, ST_BODY, 4)
        # The legal note of a reverse-charge or exempt invoice (EN 16931 BT-120), printed as
        # the e-invoice encodes it.
        # (only for a document that names its tax category, as every e-invoice does)
        exemption = exemption_text(doc) if doc.einvoice or doc.tax_category else ""
        note = self.text(clean_text(exemption, MAX_LINE), ST_BODY, 4) if exemption else None
        details: list[tuple[str, Text]] = []  # the seller's bank details, shared; the reference
        if doc.seller.bank and not self.credit_note:
            details.append((_("Bank"), self.text(clean_text(doc.seller.bank, MAX_LINE), ST_BODY)))
        if not self.credit_note:
            details += [
                (_("IBAN"), self.text(clean_text(iban(doc.seller.iban), MAX_SHORT), ST_BODY)),
                (_("BIC"), self.text(clean_text(doc.seller.bic, MAX_SHORT), ST_BODY)),
                (_("Reference"), self.own(number, ST_BODY)),
            ]
        detail_items = [(self.text(k, ST_META_K), v) for k, v in details]
        pay_key_w = _key_width([k for k, _ in detail_items], PAY_KEY_W, BOX_W / 3)
        label = self.text(_("REFUND") if self.credit_note else _("PAYMENT"), ST_LABEL)
        box_inner = (
            label.height(BOX_W)
            + (note.height(BOX_W) + PAY_INTRO_GAP if note is not None else 0)
            + intro.height(BOX_W)
            + PAY_INTRO_GAP
            + sum(
                max(k.height(pay_key_w), v.height(BOX_W - pay_key_w)) + PAY_ROW_GAP for k, v in detail_items
            )
        )
        box_h = box_inner + 2 * BOX_PAD_Y

        if self.y - totals_h < BOTTOM_Y:
            self._new_page()
        page = self.page
        y = self._totals(page, totals, key_w, val_w)
        y -= PAYMENT_GAP
        if y - box_h < BOTTOM_Y:
            page = self._new_page()
            y = self.y
        box_top = y
        page.rect(MARGIN_X, box_top - box_h, CONTENT_W, box_h, SHADE)
        x = MARGIN_X + BOX_PAD
        y = box_top - BOX_PAD_Y
        y -= page.text(label, x, y, BOX_W)
        if note is not None:
            y -= page.text(note, x, y, BOX_W) + PAY_INTRO_GAP
        y -= page.text(intro, x, y, BOX_W) + PAY_INTRO_GAP
        for k, v in detail_items:
            h = max(page.text(k, x, y, pay_key_w), page.text(v, x + pay_key_w, y, BOX_W - pay_key_w))
            y -= h + PAY_ROW_GAP
        self.y = box_top - box_h

    def _closing_draft(
        self, totals: list[tuple[Text, Text]], key_w: float, val_w: float, totals_h: float
    ) -> None:
        """A draft's totals, and nothing that asks to pay: no payment box, no bank
        details, no sentence with a due date (the watermark says DRAFT)."""
        exemption = exemption_text(self.doc) if self.doc.tax_category else ""
        note = self.text(clean_text(exemption, MAX_LINE), ST_BODY, 4) if exemption else None
        note_h = PAYMENT_GAP + note.height(CONTENT_W) if note is not None else 0
        if self.y - totals_h - note_h < BOTTOM_Y:
            self._new_page()
        self.y = self._totals(self.page, totals, key_w, val_w)
        if note is not None:  # the tax note of a reverse-charge or exempt invoice stays
            self.y -= PAYMENT_GAP
            self.y -= self.page.text(note, MARGIN_X, self.y, CONTENT_W)

    def _totals(self, page: Page, totals: list[tuple[Text, Text]], key_w: float, val_w: float) -> float:
        """Draw the totals below `self.y`; returns the y below them."""
        y = self.y - TOTALS_TOP_GAP
        x = RIGHT_X - key_w - val_w
        for i, (k, v) in enumerate(totals):
            if i == 2:
                y -= GRAND_RULE_ABOVE
                page.line(x, y, RIGHT_X, GRAND_RULE_W, INK)
                y -= GRAND_RULE_BELOW
            drop = k.style.size - v.style.size  # a smaller figure on the label's baseline
            h = max(page.text(k, x, y, key_w), page.text(v, x + key_w, y - drop, val_w))
            y -= h + TOTALS_ROW_GAP
        return y

    def watermarks(self) -> None:
        """SAMPLE (the settings' sample seller) and DRAFT (a period not billed yet) across
        every page, so that no one takes the page for an invoice to pay."""
        words = (["SAMPLE"] if self.doc.seller.sample else []) + ([self._("DRAFT")] if self.doc.draft else [])
        if not words:
            return
        mark = self.text(" ".join(words), ST_MARK, 1)
        size = min(WATERMARK_MAX_SIZE, ST_MARK.size * WATERMARK_W / max(mark.natural, 1))
        if size != ST_MARK.size:
            mark = self.own(" ".join(words), replace(ST_MARK, size=size, leading=size * 1.2), 1)
        for page in self.pages:
            page.watermark(mark, PAGE_W / 2, PAGE_H / 2, WATERMARK_ANGLE)

    def footers(self) -> None:
        """On every page, now that the page count is known."""
        doc, _ = self.doc, self._
        parts = [clean_text(doc.seller.name, MAX_NAME)]
        seller_address = address(self.words, doc.seller.address, doc.seller.country)
        parts += [clean_text(a, MAX_LINE) for a in seller_address[:MAX_ADDRESS_LINES]]
        footer = self.text(" · ".join(p for p in parts if p.strip()), ST_FOOT)
        if self.credit_note:
            heading = _("Credit note {number} · {name} (continued)")
        else:
            heading = _("Invoice {number} · {name} (continued)")
        total = len(self.pages)
        continued = (  # shaped only for an invoice that has a second page
            self.own(heading.format(number=self.number, name=clean_text(doc.name, MAX_NAME)), ST_SMALL, 1)
            if total > 1
            else None
        )
        for number, page in enumerate(self.pages, 1):
            page.line(MARGIN_X, FOOTER_RULE_Y, RIGHT_X, FOOTER_RULE_W, RULE)
            page.text(footer, MARGIN_X, FOOTER_Y, CONTENT_W - PAGE_NO_W)
            page_no = self.text(_("Page {page} of {pages}").format(page=number, pages=total), ST_PAGE)
            page.text(page_no, RIGHT_X - PAGE_NO_W, FOOTER_Y, PAGE_NO_W)
            if continued is not None and number > 1:
                page.text(continued, MARGIN_X, CONTINUED_Y, CONTENT_W)
