"""The Central Bank of Russia's daily rates (``XML_daily.asp``).

The document (windows-1251)::

    <ValCurs Date="02.12.2026" name="Foreign Currency Market">
      <Valute ID="R01375">
        <NumCode>156</NumCode><CharCode>CNY</CharCode><Nominal>1</Nominal>
        <Name>Китайский юань</Name><Value>11,4213</Value><VunitRate>11,4213</VunitRate>
      </Valute>
      ...

``Nominal`` units of ``CharCode`` cost ``Value`` roubles, with a comma as the
decimal mark; ``Date`` is the day the rates are set for (often tomorrow: the
bank publishes the next business day's rates in the afternoon). So each entry is
a rate with base ``CharCode``, quote ``RUB``: ``Value / Nominal``.

The document comes from outside, so it is read with the care defusedxml takes:
no DTD, no entity declarations, no external entities, a size cap; and a
document with any entry we cannot read is refused whole (a half-read day of
rates would quietly mix two days).
"""

from __future__ import annotations

import time
import xml.parsers.expat
from datetime import datetime
from decimal import Decimal, InvalidOperation

import requests

from catalog.money import is_currency_code
from catalog.rates.base import (
    FeedMalformed,
    FeedResult,
    FeedUnavailable,
    FetchedRate,
    RateFeed,
)

QUOTE_CURRENCY = "RUB"
MAX_DOCUMENT_BYTES = 1_000_000  # the real one is about 10 kB
# The stored rate has 10 decimals (exchange_rates.rate NUMERIC(24, 10)): rounding here
# makes a fetched rate compare equal to the row it was stored as.
RATE_PLACES = Decimal("1e-10")
USER_AGENT = "sco-pavilion-rates/1 (+https://www.cbr.ru/development/SXML/)"


class CbrFeed(RateFeed):
    name = "cbr"
    can_fetch = True
    description = "Central Bank of Russia daily rates (XML_daily.asp), quoted in RUB."

    @property
    def url(self) -> str:
        return self.settings.get("CBR_RATES_URL") or "https://www.cbr.ru/scripts/XML_daily.asp"

    @property
    def timeout(self) -> float:
        return float(self.settings.get("CBR_TIMEOUT_SECONDS") or 10)

    def fetch(self) -> FeedResult:
        return parse_cbr_daily(self._download())

    def _download(self) -> bytes:
        # The read timeout bounds each wait for bytes; the deadline bounds the whole
        # download, so a server that trickles bytes cannot hold the job for long.
        deadline = time.monotonic() + 2 * self.timeout
        try:
            with requests.get(
                self.url,
                timeout=(self.timeout, self.timeout),
                headers={"User-Agent": USER_AGENT, "Accept": "application/xml, text/xml"},
                stream=True,
            ) as response:
                if response.status_code != 200:
                    raise FeedUnavailable(f"{self.url} answered HTTP {response.status_code}")
                body = bytearray()
                for chunk in response.iter_content(chunk_size=16384):
                    body += chunk
                    if len(body) > MAX_DOCUMENT_BYTES:
                        raise FeedMalformed(f"the document is over {MAX_DOCUMENT_BYTES} bytes")
                    if time.monotonic() > deadline:
                        raise FeedUnavailable(f"{self.url} took over {2 * self.timeout:g} s")
                return bytes(body)
        except requests.Timeout as error:
            raise FeedUnavailable(f"{self.url} timed out after {self.timeout:g} s") from error
        except requests.RequestException as error:
            raise FeedUnavailable(f"{self.url} failed: {type(error).__name__}") from error


class _Forbidden(Exception):
    """Raised from expat callbacks for a construct we refuse (DTD, entity)."""


def _refuse(what: str):
    def handler(*_args):
        raise _Forbidden(what)

    return handler


def _read_document(body: bytes) -> tuple[dict[str, str], list[dict[str, str]]]:
    """The root's attributes and each ``Valute``'s child texts, by tag."""
    parser = xml.parsers.expat.ParserCreate()
    parser.StartDoctypeDeclHandler = _refuse("a DTD")
    parser.EntityDeclHandler = _refuse("an entity declaration")
    parser.UnparsedEntityDeclHandler = _refuse("an entity declaration")
    parser.ExternalEntityRefHandler = _refuse("an external entity")
    root: dict[str, str] = {}
    root_tag: list[str] = []
    entries: list[dict[str, str]] = []
    path: list[str] = []
    text: list[str] = []

    def start(tag: str, attributes: dict[str, str]) -> None:
        if not path:
            root_tag.append(tag)
            root.update(attributes)
        elif tag == "Valute" and len(path) == 1:
            entries.append({})
        path.append(tag)
        text.clear()

    def end(tag: str) -> None:
        path.pop()
        if len(path) == 2 and path[1] == "Valute" and entries:
            entries[-1][tag] = "".join(text).strip()
        text.clear()

    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = text.append
    try:
        parser.Parse(body, True)
    except _Forbidden as refused:
        raise FeedMalformed(f"the document contains {refused}; refused") from None
    except (xml.parsers.expat.ExpatError, LookupError, ValueError) as error:
        raise FeedMalformed(f"not well-formed XML: {error}") from None
    if root_tag != ["ValCurs"]:
        raise FeedMalformed(f"the root element is {root_tag[:1] or 'missing'}, not ValCurs")
    return root, entries


def _comma_decimal(value: str | None, what: str) -> Decimal:
    try:
        number = Decimal((value or "").replace(",", ".").replace("\xa0", "").replace(" ", ""))
    except InvalidOperation:
        raise FeedMalformed(f"{what} {value!r} is not a number") from None
    if not number.is_finite() or number <= 0:
        raise FeedMalformed(f"{what} {value!r} is not a positive number")
    return number


def parse_cbr_daily(body: bytes) -> FeedResult:
    """The rates of one ``XML_daily.asp`` document, or ``FeedMalformed`` saying why not."""
    root, entries = _read_document(body)
    try:
        published_on = datetime.strptime(root.get("Date", ""), "%d.%m.%Y").date()
    except ValueError:
        raise FeedMalformed(f"ValCurs Date {root.get('Date')!r} is not dd.mm.yyyy") from None
    if not entries:
        raise FeedMalformed("the document lists no Valute")
    rates: dict[str, FetchedRate] = {}
    for entry in entries:
        code = entry.get("CharCode", "").upper()
        if not is_currency_code(code):
            raise FeedMalformed(f"CharCode {code!r} is not an ISO 4217 currency")
        if code == QUOTE_CURRENCY or code in rates:
            raise FeedMalformed(f"CharCode {code} is listed twice or is the rouble itself")
        value = _comma_decimal(entry.get("Value"), f"{code} Value")
        nominal = _comma_decimal(entry.get("Nominal"), f"{code} Nominal")
        rate = (value / nominal).quantize(RATE_PLACES)
        if rate <= 0:
            raise FeedMalformed(f"{code} rate {value}/{nominal} rounds to zero")
        rates[code] = FetchedRate(code, QUOTE_CURRENCY, rate, published_on)
    return FeedResult(rates=tuple(rates.values()), published_on=published_on)
