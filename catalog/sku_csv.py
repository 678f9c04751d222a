"""Read a merchant's SKU price list (CSV) into rows in the JSON shape of one SKU.

Merchants keep their price lists in Excel, LibreOffice or Google Sheets and
upload the export to ``POST /api/v1/merchant/skus/bulk``. This module only
*reads* the file: it turns bytes into one ``CsvRow`` per data row, in exactly
the shape a merchant would send as JSON, so the bulk service validates CSV and
JSON rows with one schema and reports errors by CSV line. It knows no database
and no Flask. It runs inside the request, so the reading loop is kept lean:
10,000 rows of all sixteen columns take about 3.5 times as long as
``csv.reader`` alone takes to split them, most of it allocating the rows the
caller keeps.

Two kinds of trouble, kept apart on purpose:

* the whole file is unusable (not UTF-8, no header, a quote never closed, ...)
  → ``CsvProblem`` with a stable ``code``; the API answers one problem+json;
* one row is wrong in a way only the reader can see (too many or too few
  fields, a stock cell that is not ``NODE:QUANTITY;...``) → that row's
  ``errors``; the other rows still go to the validator, so the merchant gets
  every mistake in one report instead of one per upload.

Values stay strings (``"weight_g": "100"``, ``"price": {"amount": "18.50"}``):
whether they are numbers, known currencies or known nodes is the validator's
call, and it can only quote the merchant's text back if it still has it.
"""

from __future__ import annotations

import csv
import difflib
import io
import operator
from dataclasses import dataclass, field
from typing import Any

MAX_ROWS = 10_000

# Columns whose cell is always passed on, empty or not: an empty string lets
# the validator say "required" against the right field.
REQUIRED_COLUMNS: tuple[str, ...] = (
    "sku",
    "product_code",
    "category",
    "name_en",
    "origin_country",
    "hs_code",
    "weight_g",
    "shelf_life_days",
    "price",
    "currency",
)
# Columns a file may leave out entirely; an empty cell means "not given".
OPTIONAL_COLUMNS: tuple[str, ...] = (
    "name_ru",
    "name_zh",
    "description_en",
    "description_ru",
    "description_zh",
    "stock",
    "label_en",
    "label_ru",
    "label_zh",
    "active",
    "length_mm",
    "width_mm",
    "height_mm",
)
# In the order of DESIGN.md, which is also the order error messages list them in.
COLUMNS: tuple[str, ...] = (
    "sku",
    "product_code",
    "category",
    "name_en",
    "name_ru",
    "name_zh",
    "description_en",
    "description_ru",
    "description_zh",
    "origin_country",
    "hs_code",
    "weight_g",
    "shelf_life_days",
    "price",
    "currency",
    "stock",
    "label_en",
    "label_ru",
    "label_zh",
    "active",
    "length_mm",
    "width_mm",
    "height_mm",
)

# What each CsvProblem code means; the API can serve these at /problems/<code>.
CSV_PROBLEM_DESCRIPTIONS: dict[str, str] = {
    "empty_file": "The CSV file has no data rows.",
    "not_utf8": "The CSV file is not UTF-8 text; save it as CSV UTF-8.",
    "too_many_rows": "The CSV file has more data rows than one upload accepts.",
    "unterminated_quote": "A quoted value in the CSV file is never closed.",
    "wrong_delimiter": "The CSV file separates columns with something other than commas.",
    "missing_columns": "The CSV header lacks columns every SKU needs; see `errors`.",
    "unknown_columns": "The CSV header has columns this upload does not know; see `errors`.",
    "duplicate_columns": "The CSV header names a column more than once; see `errors`.",
    "malformed_csv": "The CSV file breaks the CSV quoting rules.",
}
_TITLES = {
    "empty_file": "Empty CSV file",
    "not_utf8": "CSV file is not UTF-8",
    "too_many_rows": "Too many rows in CSV file",
    "unterminated_quote": "Unterminated quote in CSV file",
    "wrong_delimiter": "Wrong delimiter in CSV file",
    "missing_columns": "Missing CSV columns",
    "unknown_columns": "Unknown CSV columns",
    "duplicate_columns": "Duplicate CSV columns",
    "malformed_csv": "Malformed CSV file",
}

STOCK_FORMAT_MESSAGE = "Write stock as NODE:QUANTITY;NODE:QUANTITY."

_SAVE_AS_UTF8 = (
    'Save it as "CSV UTF-8 (Comma delimited)" in Excel, or with character set '
    '"Unicode (UTF-8)" in LibreOffice, and upload it again.'
)


class CsvProblem(Exception):
    """The whole file cannot be read as a price list.

    ``code`` is stable (clients switch on it); ``detail`` is one sentence a
    merchant can act on, naming the line when there is one (also in ``line``);
    ``errors`` optionally details it per column, as problem+json ``errors``.
    """

    def __init__(
        self,
        code: str,
        detail: str,
        *,
        line: int | None = None,
        errors: dict[str, list[str]] | None = None,
    ) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail
        self.line = line
        self.errors: dict[str, list[str]] = errors or {}

    @property
    def title(self) -> str:
        """A short human title for problem+json, stable per code."""
        return _TITLES.get(self.code, "Unreadable CSV file")

    def __repr__(self) -> str:
        return f"CsvProblem({self.code!r}, {self.detail!r}, line={self.line!r})"


@dataclass(frozen=True, slots=True)
class CsvRow:
    """One data row: where it starts in the file, and what it says.

    ``line`` is the physical line the row starts on (the header is line 1 when
    the file starts with it); a quoted value may carry the row over several
    lines, so rows need not be numbered consecutively. ``errors`` holds what
    the reader itself found wrong with the row; an empty dict means "pass the
    row on to the validator".
    """

    line: int
    data: dict[str, Any]
    errors: dict[str, list[str]] = field(default_factory=dict)


def parse_sku_csv(body: bytes, *, max_rows: int = MAX_ROWS) -> list[CsvRow]:
    """Read an uploaded CSV price list into rows in the JSON shape of a SKU.

    Raises ``CsvProblem`` (and nothing else) when the file as a whole is
    unusable. The work is bounded by the body's size and by ``max_rows``:
    reading stops at the first row past the limit.
    """
    text = _decode(body)
    if not text.strip():
        raise CsvProblem("empty_file", "The file is empty; upload a header line and SKU rows.")

    # newline="" keeps line breaks inside quoted values as written and lets
    # csv count CRLF, LF and lone CR endings alike, so line_num is a real line.
    reader = csv.reader(io.StringIO(text, newline=""), strict=True, skipinitialspace=True)
    parsed: list[CsvRow] = []
    # The loop is the hot path (10,000 rows in a request): plain locals, no
    # per-cell function calls; start is where the next record begins.
    start = 1
    try:
        header_line, header = start, None
        for record in reader:
            header_line, start = start, reader.line_num + 1
            if any(cell.strip() for cell in record):
                header = record
                break
        if header is None:
            raise CsvProblem("empty_file", "The file is empty; upload a header line and SKU rows.")
        columns = _read_header(header, header_line)

        build, append = columns.row, parsed.append
        for record in reader:
            line, start = start, reader.line_num + 1
            values = [cell.strip() for cell in record]
            if not any(values):
                continue  # blank lines and Excel's ",,,," rows say nothing
            if start - line > 1:
                # Only a record spanning lines can hold a line break; a CRLF
                # file keeps CRLF inside quoted values, stored text wants LF.
                values = [_with_lf(value) for value in values]
            if len(parsed) >= max_rows:
                raise CsvProblem(
                    "too_many_rows",
                    f"The file has more than {max_rows:,} SKU rows (line {line} is row "
                    f"{max_rows + 1:,}); split it into uploads of at most {max_rows:,} rows.",
                    line=line,
                )
            append(build(line, values, len(record)))
    except csv.Error as error:
        raise _quoting_problem(text, start, reader.line_num, error) from None

    if not parsed:
        raise CsvProblem(
            "empty_file",
            f"The file has a header (line {header_line}) but no SKU rows under it.",
            line=header_line,
        )
    return parsed


def parse_stock_cell(cell: str) -> tuple[dict[str, str], list[str]]:
    """Split ``"RU-WH:400;CN-SFH:120"`` into ``{"RU-WH": "400", "CN-SFH": "120"}``.

    Quantities and node codes stay as written (the validator knows the nodes
    and reads numbers); only the shape is checked here. Returns the mapping
    and a list of problems; a trailing ``;`` and spaces around parts are fine.
    """
    stock: dict[str, str] = {}
    # Node codes are compared without case: "ru-wh" and "RU-WH" name the same
    # node to a reader, so the second is a mistake whatever the validator does.
    seen: set[str] = set()
    problems: list[str] = []
    for part in cell.split(";"):
        node, colon, quantity = part.partition(":")
        node = node.strip()
        quantity = quantity.strip()
        if not (node and quantity) or ":" in quantity:
            # An empty part ("RU-WH:400;" or ";;") is no mistake.
            if (node or colon or quantity) and STOCK_FORMAT_MESSAGE not in problems:
                problems.insert(0, STOCK_FORMAT_MESSAGE)
            continue
        folded = node.upper()
        if folded in seen:
            message = f"Node {node} appears more than once."
            if message not in problems:
                problems.append(message)
            continue
        seen.add(folded)
        stock[node] = quantity
    return stock, problems


# --- reading ---------------------------------------------------------------


def _decode(body: bytes) -> str:
    """UTF-8 with or without a BOM; anything else is refused with its line.

    Guessing cp1251 or GBK would silently turn some files into mojibake that
    then passes validation as product names; refusing is the safe answer.
    """
    try:
        return body.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        if body.startswith((b"\xff\xfe", b"\xfe\xff")):
            raise CsvProblem(
                "not_utf8",
                f'The file is UTF-16 text (Excel\'s "Unicode Text"), not UTF-8. {_SAVE_AS_UTF8}',
            ) from None
        line = _line_of_offset(body, error.start)
        raise CsvProblem(
            "not_utf8",
            f"The file is not UTF-8: byte 0x{body[error.start]:02X} on line {line} is not "
            f"UTF-8 (a Windows-1251 or GBK file?). {_SAVE_AS_UTF8}",
            line=line,
        ) from None


def _line_of_offset(body: bytes, offset: int) -> int:
    """The line holding ``body[offset]``, counting CRLF, LF and lone CR as csv does."""
    before = body[:offset]
    return before.count(b"\n") + before.count(b"\r") - before.count(b"\r\n") + 1


def _quoting_problem(text: str, row_start: int, error_line: int, error: csv.Error) -> CsvProblem:
    """Say where a csv.Error comes from, in words a merchant can act on.

    The csv module names the line where it gave up, which for a quote never
    closed is far from the mistake: the open quote swallows the lines after
    it until it meets the next quote in the file (and then complains about
    the text after that one) or the end of the file. The merchant must fix the
    line where the quoted value opened, so read the failing record again to
    find it.
    """
    lines = io.StringIO(text, newline="").readlines()
    start = sum(map(len, lines[: row_start - 1]))
    stop = start + sum(map(len, lines[row_start - 1 : error_line]))
    trouble = _quote_trouble(text, start, stop)
    if trouble is not None:
        opening, closing = trouble
        opened_on = _line_of_text_offset(text, opening)
        if closing is None:
            return CsvProblem(
                "unterminated_quote",
                f"The quoted value starting on line {opened_on} is never closed; end it with a "
                f'quote (") and write a quote inside a value as two quotes ("").',
                line=opened_on,
            )
        closed_on = _line_of_text_offset(text, closing)
        before = closing - 1
        while text[before] == " ":
            before -= 1
        if text[before] in ",\r\n":
            # The quote that "closed" the value sits where a value starts: it
            # was meant to open the next value, so this one was never closed.
            return CsvProblem(
                "unterminated_quote",
                f"The quoted value starting on line {opened_on} is not closed before the next "
                f'quoted value (line {closed_on}); end it with a quote (") and write a quote '
                f'inside a value as two quotes ("").',
                line=opened_on,
            )
        if text[closing + 1] in " \t":
            return CsvProblem(
                "malformed_csv",
                f"Line {closed_on} has a space after the closing quote of a value; a quoted value "
                f"must be followed directly by a comma or the end of the line.",
                line=closed_on,
            )
        inside = f" (which starts on line {opened_on})" if opened_on < closed_on else ""
        return CsvProblem(
            "malformed_csv",
            f"Line {closed_on} has a quote inside a quoted value{inside} that is not written as "
            f'two quotes (""); a quoted value must be followed by a comma or the end of the line.',
            line=closed_on,
        )
    return CsvProblem(
        "malformed_csv", f"Line {error_line} cannot be read as CSV ({error}).", line=error_line
    )


def _quote_trouble(text: str, start: int, stop: int) -> tuple[int, int | None] | None:
    """Find the quoted value that broke the reader between ``start`` and ``stop``.

    Returns (offset of its opening quote, offset of the quote that closed it,
    or None if it is still open at ``stop``), or None when no quoted value is
    to blame. Follows the reader's rules: a quote opens a value only at its
    start (after optional spaces), "" inside is a quote, and a closing quote
    must be followed by a comma or a line break. Jumps from quote to quote
    with str.find, so even a 10 MB file is scanned in milliseconds; only run
    on the error path.
    """
    end = len(text)
    position = start
    while True:
        opening = text.find('"', position, stop)
        if opening < 0:
            return None
        before = opening - 1
        while before >= start and text[before] == " ":
            before -= 1
        position = opening + 1
        if before >= start and text[before] not in ",\r\n":
            continue  # a literal quote inside an unquoted value
        while True:
            closing = text.find('"', position)
            if closing < 0 or closing >= stop:
                return opening, None
            after = closing + 1
            if after < end and text[after] == '"':
                position = after + 1  # "" is a quote inside the value
                continue
            if after < end and text[after] not in ",\r\n":
                return opening, closing
            position = after
            break


def _line_of_text_offset(text: str, offset: int) -> int:
    before = text[:offset]
    return before.count("\n") + before.count("\r") - before.count("\r\n") + 1


def _with_lf(value: str) -> str:
    return value.replace("\r\n", "\n").replace("\r", "\n") if "\r" in value else value


# --- the header and the rows -----------------------------------------------


def _read_header(header: list[str], line: int) -> _Columns:
    """Check the header and learn where each column is.

    Order is free and names are compared trimmed and without case, because
    spreadsheets and people reorder and capitalise columns; anything else is
    refused before a single row is read, since a misread column would put
    every value of the file in the wrong field.
    """
    if len(header) == 1:
        _refuse_other_delimiters(header[0], line)

    names = [cell.strip().lstrip("\ufeff").strip().lower() for cell in header]
    positions: dict[str, int] = {}
    duplicates: list[str] = []
    unknown: list[str] = []
    unnamed: list[int] = []
    for index, name in enumerate(names):
        if not name:
            # Excel writes empty header cells for formatted but empty columns.
            unnamed.append(index)
        elif name in positions:
            if name not in duplicates:
                duplicates.append(name)
        elif name in COLUMNS:
            positions[name] = index
        else:
            positions[name] = index
            unknown.append(name)
    missing = [name for name in REQUIRED_COLUMNS if name not in positions]

    unknown = [_with_suggestion(name) for name in unknown]
    messages: list[str] = []
    if duplicates:
        messages.append("duplicate: " + ", ".join(duplicates))
    if missing:
        messages.append("missing: " + ", ".join(missing))
    if unknown:
        messages.append("unknown: " + ", ".join(unknown))
    if duplicates:
        raise CsvProblem(
            "duplicate_columns",
            f"The header on line {line} names {', '.join(duplicates)} more than once; "
            f"keep one column of each name.",
            line=line,
            errors={"columns": messages},
        )
    if missing:
        also = f" and has unknown columns {', '.join(unknown)}" if unknown else ""
        raise CsvProblem(
            "missing_columns",
            f"The header on line {line} lacks the required columns {', '.join(missing)}{also}.",
            line=line,
            errors={"columns": messages},
        )
    if unknown:
        raise CsvProblem(
            "unknown_columns",
            f"The header on line {line} has columns this upload does not know: "
            f"{', '.join(unknown)}; "
            f"the columns are {', '.join(COLUMNS)}.",
            line=line,
            errors={"columns": messages},
        )
    return _Columns(positions, width=len(header), unnamed=unnamed)


def _refuse_other_delimiters(header: str, line: int) -> None:
    """A one-column header holding ';' or a tab is a file with another delimiter.

    Excel in Russian and most European locales writes ';' between columns.
    Accepting it would be a guess, and a costly one: ';' also separates the
    nodes in the stock cell, so a wrong guess misreads stock silently.
    """
    found = [(header.count(mark), name, shown) for mark, name, shown in _OTHER_DELIMITERS]
    count, name, shown = max(found)
    if not count:
        return
    raise CsvProblem(
        "wrong_delimiter",
        f"The header on line {line} is separated by {name} ({shown}), but columns must be "
        f'separated by commas (","). In Excel save as "CSV UTF-8 (Comma delimited)"; in '
        f'LibreOffice choose "," as the field delimiter.',
        line=line,
        errors={"columns": [f"separated by {shown}, expected ','"]},
    )


_OTHER_DELIMITERS = (
    (";", "semicolons", "';'"),
    ("\t", "tabs", "'\\t'"),
)


def _with_suggestion(name: str) -> str:
    close = difflib.get_close_matches(name, COLUMNS, n=1, cutoff=0.75)
    return f"{name} (did you mean {close[0]}?)" if close else name


class _Columns:
    """Where each known column sits in this file, and how to build a row from it."""

    def __init__(self, positions: dict[str, int], *, width: int, unnamed: list[int]) -> None:
        self.width = width
        self.unnamed = unnamed
        # One C call picks every known cell of a row, in COLUMNS order; a column
        # the file lacks points one past the end, where row() puts an empty cell.
        self.pick = operator.itemgetter(*(positions.get(name, width) for name in COLUMNS))

    def row(self, line: int, values: list[str], field_count: int) -> CsvRow:
        """Build one row's JSON shape; the reader's own findings go to ``errors``.

        Written out field by field rather than driven by a table: this runs
        10,000 times per upload and the loops cost more than the work.
        """
        errors: dict[str, list[str]] = {}
        if field_count != self.width or self.unnamed:
            values = self._check_shape(values, field_count, errors)
        values.append("")  # the cell of every column this file lacks
        (
            sku,
            product_code,
            category,
            name_en,
            name_ru,
            name_zh,
            description_en,
            description_ru,
            description_zh,
            origin_country,
            hs_code,
            weight_g,
            shelf_life_days,
            price,
            currency,
            stock,
            label_en,
            label_ru,
            label_zh,
            active,
            length_mm,
            width_mm,
            height_mm,
        ) = self.pick(values)

        name = {"en": name_en}
        if name_ru:
            name["ru"] = name_ru
        if name_zh:
            name["zh"] = name_zh
        # One literal for the keys every row has, then the optional ones.
        data: dict[str, Any] = {
            "sku": sku,
            "product_code": product_code,
            "category": category,
            "name": name,
            "origin_country": origin_country,
            "hs_code": hs_code,
            "weight_g": weight_g,
            "shelf_life_days": shelf_life_days,
            "price": {"amount": price, "currency": currency},
        }
        if description_en or description_ru or description_zh:
            data["description"] = _given_texts(description_en, description_ru, description_zh)
        if label_en or label_ru or label_zh:
            data["label"] = _given_texts(label_en, label_ru, label_zh)
        if stock:
            nodes, problems = parse_stock_cell(stock)
            if problems:
                errors["stock"] = problems
            else:
                data["stock"] = nodes
        if active:
            data["active"] = active
        # Each given cell on its own: the validator names the one left empty.
        if length_mm:
            data["length_mm"] = length_mm
        if width_mm:
            data["width_mm"] = width_mm
        if height_mm:
            data["height_mm"] = height_mm
        return CsvRow(line=line, data=data, errors=errors)

    def _check_shape(
        self, values: list[str], field_count: int, errors: dict[str, list[str]]
    ) -> list[str]:
        """Report a row that does not line up with the header, and pad it so it can."""
        if field_count != self.width:
            errors["_row"] = [
                f"This row has {field_count} fields but the header has {self.width}; "
                f"is a value with a comma not quoted, or a value missing?"
            ]
            if field_count < self.width:
                values = values + [""] * (self.width - field_count)
            else:
                values = values[: self.width]
        if any(values[index] for index in self.unnamed):
            errors.setdefault("_row", []).append(
                "This row has a value in a column with no name in the header."
            )
        return values


def _given_texts(en: str, ru: str, zh: str) -> dict[str, str]:
    """The translations a row gives; an empty cell is a translation not given."""
    texts = {}
    if en:
        texts["en"] = en
    if ru:
        texts["ru"] = ru
    if zh:
        texts["zh"] = zh
    return texts
