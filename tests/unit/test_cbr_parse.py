"""Reading the Central Bank of Russia's XML_daily.asp document."""

from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from catalog.rates.base import FeedMalformed
from catalog.rates.cbr import parse_cbr_daily

FIXTURE = Path(__file__).resolve().parents[2] / "catalog/rates/fixtures/cbr_daily.xml"


def document(*valutes: str, date_attr: str = 'Date="02.12.2026"', prolog: str = "") -> bytes:
    text = (
        '<?xml version="1.0" encoding="windows-1251"?>\n'
        f'{prolog}<ValCurs {date_attr} name="Foreign Currency Market">'
        + "".join(valutes)
        + "</ValCurs>"
    )
    return text.encode("cp1251")


def valute(code="CNY", nominal="1", value="11,2364", name="Юань"):
    return (
        f'<Valute ID="R0"><NumCode>156</NumCode><CharCode>{code}</CharCode>'
        f"<Nominal>{nominal}</Nominal><Name>{name}</Name><Value>{value}</Value></Valute>"
    )


def test_the_recorded_document_gives_every_currency_in_roubles_on_its_date():
    result = parse_cbr_daily(FIXTURE.read_bytes())

    assert result.published_on == date(2026, 12, 2)
    rates = {r.base: r for r in result.rates}
    assert len(rates) == 18
    assert {r.quote for r in result.rates} == {"RUB"}
    assert {r.effective_on for r in result.rates} == {date(2026, 12, 2)}
    assert rates["CNY"].rate == Decimal("11.2364")
    assert rates["USD"].rate == Decimal("79.7134")


def test_value_is_divided_by_nominal_and_read_with_a_comma_decimal():
    rates = {r.base: r.rate for r in parse_cbr_daily(FIXTURE.read_bytes()).rates}

    assert rates["KZT"] == Decimal("0.153245")  # 100 KZT = 15,3245 RUB
    assert rates["UZS"] == Decimal("0.0066287300")  # 10000 UZS = 66,2873 RUB
    assert rates["IRR"] == Decimal("0.0001895330")  # 100000 IRR = 18,9533 RUB


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (FIXTURE.read_bytes()[:500], "not well-formed"),
        (b"<html><body>Service Unavailable</body></html>", "not ValCurs"),
        (b"", "not well-formed"),
        (document(valute(), date_attr='Date="2026-12-02"'), "dd.mm.yyyy"),
        (document(valute(), date_attr=""), "dd.mm.yyyy"),
        (document(), "no Valute"),
        (document(valute(value="n/a")), "not a number"),
        (document(valute(value="0,0000")), "not a positive number"),
        (document(valute(value="-1,5")), "not a positive number"),
        (document(valute(nominal="0")), "not a positive number"),
        (document(valute(code="ZZZ")), "ISO 4217"),
        (document(valute(), valute()), "listed twice"),
        (document(valute(code="RUB")), "rouble"),
    ],
)
def test_a_document_with_anything_unreadable_is_refused_whole(body, reason):
    with pytest.raises(FeedMalformed, match=reason):
        parse_cbr_daily(body)


def test_one_bad_entry_refuses_the_good_ones_too():
    with pytest.raises(FeedMalformed, match="USD Value"):
        parse_cbr_daily(document(valute(), valute(code="USD", value="")))


def test_a_dtd_is_refused_before_any_entity_is_expanded():
    laughs = '<!DOCTYPE ValCurs [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;">]>\n'
    with pytest.raises(FeedMalformed, match="DTD"):
        parse_cbr_daily(document(valute(name="&lol2;"), prolog=laughs))


def test_an_external_entity_is_refused():
    external = '<!DOCTYPE ValCurs [<!ENTITY secret SYSTEM "file:///etc/passwd">]>\n'
    with pytest.raises(FeedMalformed, match="refused"):
        parse_cbr_daily(document(valute(name="&secret;"), prolog=external))


def test_a_utf8_document_reads_the_same():
    body = document(valute()).decode("cp1251").replace("windows-1251", "utf-8").encode("utf-8")

    assert parse_cbr_daily(body).rates[0].rate == Decimal("11.2364")
