"""The CSV price-list reader: bytes in, rows in the JSON shape of a SKU out.

Pure and fast, so every odd file a merchant's spreadsheet can produce is a
case here rather than an API test.
"""

import csv
import io
import random

import pytest

from catalog.sku_csv import (
    COLUMNS,
    CSV_PROBLEM_DESCRIPTIONS,
    MAX_ROWS,
    STOCK_FORMAT_MESSAGE,
    CsvProblem,
    CsvRow,
    parse_sku_csv,
    parse_stock_cell,
)

DESIGN_COLUMNS = [
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
]
HEADER = ",".join(DESIGN_COLUMNS)

ALENKA = {
    "sku": "RU-ALENKA-100",
    "product_code": "ALENKA",
    "category": "confectionery",
    "name_en": "Alenka milk chocolate 100 g",
    "name_ru": "Шоколад Алёнка 100 г",
    "name_zh": "爱莲巧牛奶巧克力 100克",
    "description_en": "Milk chocolate, the classic.",
    "description_ru": "Молочный шоколад, классика.",
    "description_zh": "经典牛奶巧克力。",
    "origin_country": "RU",
    "hs_code": "180632",
    "weight_g": "100",
    "shelf_life_days": "365",
    "price": "18.50",
    "currency": "CNY",
    "stock": "RU-WH:400;CN-SFH:120",
}


def csv_line(columns=DESIGN_COLUMNS, **overrides) -> str:
    """One CSV line for ALENKA (with overrides) under ``columns``, quoted as Excel would."""
    values = {**ALENKA, **overrides}
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerow([values.get(name, "") for name in columns])
    return out.getvalue()[:-1]


def upload(*lines: str, header: str = HEADER, newline: str = "\n") -> bytes:
    return newline.join([header, *lines, ""]).encode()


def only_row(body: bytes) -> CsvRow:
    rows = parse_sku_csv(body)
    assert len(rows) == 1
    return rows[0]


def problem(body: bytes, **kwargs) -> CsvProblem:
    with pytest.raises(CsvProblem) as raised:
        parse_sku_csv(body, **kwargs)
    return raised.value


# --- the happy path ----------------------------------------------------------


def test_a_row_reads_into_the_json_shape_of_a_sku():
    row = only_row(upload(csv_line()))

    assert row == CsvRow(
        line=2,
        data={
            "sku": "RU-ALENKA-100",
            "product_code": "ALENKA",
            "category": "confectionery",
            "name": {
                "en": "Alenka milk chocolate 100 g",
                "ru": "Шоколад Алёнка 100 г",
                "zh": "爱莲巧牛奶巧克力 100克",
            },
            "description": {
                "en": "Milk chocolate, the classic.",
                "ru": "Молочный шоколад, классика.",
                "zh": "经典牛奶巧克力。",
            },
            "origin_country": "RU",
            "hs_code": "180632",
            "weight_g": "100",
            "shelf_life_days": "365",
            "price": {"amount": "18.50", "currency": "CNY"},
            "stock": {"RU-WH": "400", "CN-SFH": "120"},
        },
        errors={},
    )


def test_values_stay_strings_for_the_validator_to_judge():
    row = only_row(upload(csv_line(weight_g="1e3", price="18,50", shelf_life_days="-1")))

    assert row.data["weight_g"] == "1e3"
    assert row.data["shelf_life_days"] == "-1"
    assert row.data["price"] == {"amount": "18,50", "currency": "CNY"}
    assert row.errors == {}


def test_utf8_bom_from_excel_is_ignored():
    row = only_row(b"\xef\xbb\xbf" + upload(csv_line()))

    assert row.data["sku"] == "RU-ALENKA-100"
    assert row.errors == {}


def test_crlf_line_endings_read_like_lf_and_line_breaks_inside_values_become_lf():
    description = "First line\r\nsecond line"
    lf = parse_sku_csv(upload(csv_line(), csv_line(sku="B", description_en="x\ny")))
    crlf = parse_sku_csv(
        upload(csv_line(), csv_line(sku="B", description_en=description), newline="\r\n")
    )

    assert [row.line for row in lf] == [row.line for row in crlf] == [2, 3]
    assert crlf[0].data == lf[0].data
    assert crlf[1].data["description"]["en"] == "First line\nsecond line"


def test_multiline_quoted_description_keeps_line_numbers_true_to_the_file():
    body = upload(
        csv_line(sku="A"),
        csv_line(sku="B", description_ru="Строка 1\nСтрока 2\nСтрока 3"),
        csv_line(sku="C"),
        csv_line(sku="D", price="bad", stock="nonsense"),
    )
    rows = parse_sku_csv(body)

    assert [(row.line, row.data["sku"]) for row in rows] == [(2, "A"), (3, "B"), (6, "C"), (7, "D")]
    assert rows[1].data["description"]["ru"] == "Строка 1\nСтрока 2\nСтрока 3"
    assert rows[3].errors == {"stock": [STOCK_FORMAT_MESSAGE]}


def test_quoted_values_keep_commas_quotes_cyrillic_and_chinese():
    name_ru = 'Конфеты "Мишка косолапый", 250 г'
    name_zh = "“小熊”糖果，250克"
    body = upload(csv_line(name_en='Sweets "Clumsy bear", 250 g', name_ru=name_ru, name_zh=name_zh))
    row = only_row(body)

    assert '"Sweets ""Clumsy bear"", 250 g"' in body.decode()
    assert row.data["name"] == {
        "en": 'Sweets "Clumsy bear", 250 g',
        "ru": name_ru,
        "zh": name_zh,
    }


def test_a_space_before_an_opening_quote_is_fine():
    row = only_row(upload(csv_line().replace(",ALENKA,", ', "ALEN,KA",')))

    assert row.data["product_code"] == "ALEN,KA"
    assert row.errors == {}


def test_a_space_after_a_closing_quote_breaks_strict_csv_and_names_the_line():
    raised = problem(upload(GOOD, GOOD.replace(",RU,", ',"RU" ,')))

    assert raised.code == "malformed_csv"
    assert raised.line == 3
    assert "Line 3 has a space after the closing quote" in raised.detail


def test_cells_are_trimmed_including_ideographic_and_no_break_spaces():
    row = only_row(
        upload(csv_line(sku="  RU-ALENKA-100 ", name_zh="\u3000爱莲巧\u3000", hs_code="\xa0180632"))
    )

    assert row.data["sku"] == "RU-ALENKA-100"
    assert row.data["name"]["zh"] == "爱莲巧"
    assert row.data["hs_code"] == "180632"


def test_columns_may_come_in_any_order_and_any_case_with_spaces_around():
    shuffled = list(reversed(DESIGN_COLUMNS))
    header = ",".join(
        f" {name.upper()} " if i % 2 else name.title() for i, name in enumerate(shuffled)
    )
    row = only_row(upload(csv_line(shuffled), header=header))

    assert row.data == only_row(upload(csv_line())).data


def test_only_required_columns_are_needed():
    required = [
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
    ]
    row = only_row(upload(csv_line(required), header=",".join(required)))

    assert row.data == {
        "sku": "RU-ALENKA-100",
        "product_code": "ALENKA",
        "category": "confectionery",
        "name": {"en": "Alenka milk chocolate 100 g"},
        "origin_country": "RU",
        "hs_code": "180632",
        "weight_g": "100",
        "shelf_life_days": "365",
        "price": {"amount": "18.50", "currency": "CNY"},
    }


def test_optional_label_and_active_columns_are_read():
    columns = [*DESIGN_COLUMNS, "label_en", "label_ru", "label_zh", "active"]
    line = csv_line(columns, label_en="100 g bar", label_zh="100克", active="false")
    row = only_row(upload(line, header=",".join(columns)))

    assert row.data["label"] == {"en": "100 g bar", "zh": "100克"}
    assert row.data["active"] == "false"


def test_empty_optional_cells_are_left_out_and_empty_required_cells_kept_for_the_validator():
    columns = list(COLUMNS)
    blank = dict.fromkeys(columns, "")
    row = only_row(upload(csv_line(columns, **{**blank, "sku": "X"}), header=",".join(columns)))

    assert row.data == {
        "sku": "X",
        "product_code": "",
        "category": "",
        "name": {"en": ""},
        "origin_country": "",
        "hs_code": "",
        "weight_g": "",
        "shelf_life_days": "",
        "price": {"amount": "", "currency": ""},
    }
    assert row.errors == {}


def test_blank_lines_and_comma_only_rows_are_skipped():
    body = upload("", csv_line(sku="A"), "", ",,,,,,,,,,,,,,,", " , , ", csv_line(sku="B"), "")
    rows = parse_sku_csv(body)

    assert [(row.line, row.data["sku"]) for row in rows] == [(3, "A"), (7, "B")]


def test_blank_lines_before_the_header_are_skipped_and_lines_still_counted():
    rows = parse_sku_csv(b"\n\n" + upload(csv_line()))

    assert rows[0].line == 4


def test_empty_header_cells_from_excel_are_ignored_while_their_cells_stay_empty():
    header = HEADER + ",,"
    rows = parse_sku_csv(upload(csv_line() + ",,", csv_line(sku="B") + ",,oops", header=header))

    assert rows[0].errors == {}
    assert rows[1].errors == {
        "_row": ["This row has a value in a column with no name in the header."]
    }


@pytest.mark.parametrize(
    ("line", "fields"),
    [
        pytest.param(csv_line().replace("Alenka milk", "Alenka, milk"), 17, id="unquoted-comma"),
        pytest.param(csv_line().rsplit(",", 2)[0], 14, id="short"),
    ],
)
def test_a_row_with_another_number_of_fields_than_the_header_is_reported_on_the_row(line, fields):
    rows = parse_sku_csv(upload(csv_line(sku="A"), line, csv_line(sku="C")))

    assert [row.errors for row in rows[::2]] == [{}, {}]
    assert rows[1].line == 3
    # A shifted row may break other cells too (stock, here); _row says why.
    assert rows[1].errors["_row"] == [
        f"This row has {fields} fields but the header has 16; "
        "is a value with a comma not quoted, or a value missing?"
    ]


# --- stock -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cell", "stock", "problems"),
    [
        ("RU-WH:400", {"RU-WH": "400"}, []),
        ("RU-WH:400;CN-SFH:120", {"RU-WH": "400", "CN-SFH": "120"}, []),
        (" RU-WH : 400 ; CN-SFH:120 ", {"RU-WH": "400", "CN-SFH": "120"}, []),
        ("RU-WH:400;CN-SFH:120;", {"RU-WH": "400", "CN-SFH": "120"}, []),
        ("RU-WH:400;;CN-SFH:0", {"RU-WH": "400", "CN-SFH": "0"}, []),
        ("ru-wh:abc", {"ru-wh": "abc"}, []),  # node codes and numbers are the validator's
        ("RU-WH:400;CN-SFH 120", {"RU-WH": "400"}, [STOCK_FORMAT_MESSAGE]),
        ("RU-WH=400", {}, [STOCK_FORMAT_MESSAGE]),
        ("RU-WH:", {}, [STOCK_FORMAT_MESSAGE]),
        (":400", {}, [STOCK_FORMAT_MESSAGE]),
        ("RU-WH:4:00", {}, [STOCK_FORMAT_MESSAGE]),
        ("RU-WH:400, CN-SFH:120", {}, [STOCK_FORMAT_MESSAGE]),
        ("RU-WH:400;RU-WH:5", {"RU-WH": "400"}, ["Node RU-WH appears more than once."]),
        ("RU-WH:400;ru-wh:5", {"RU-WH": "400"}, ["Node ru-wh appears more than once."]),
        (
            "RU-WH:1;RU-WH:2;RU-WH:3;x",
            {"RU-WH": "1"},
            [STOCK_FORMAT_MESSAGE, "Node RU-WH appears more than once."],
        ),
    ],
)
def test_stock_cell_parsing(cell, stock, problems):
    assert parse_stock_cell(cell) == (stock, problems)


def test_a_bad_stock_cell_is_a_row_error_and_leaves_stock_out_of_the_data():
    rows = parse_sku_csv(upload(csv_line(sku="A", stock="RU-WH:1;RU-WH:2"), csv_line(sku="B")))

    assert rows[0].errors == {"stock": ["Node RU-WH appears more than once."]}
    assert "stock" not in rows[0].data
    assert rows[1].errors == {}


# --- files that cannot be read -----------------------------------------------

SEMICOLON_HEADER = HEADER.replace(",", ";")
GOOD = csv_line()


@pytest.mark.parametrize(
    ("body", "code", "line"),
    [
        pytest.param(b"", "empty_file", None, id="empty"),
        pytest.param(b" \r\n\t\n  ", "empty_file", None, id="whitespace"),
        pytest.param(b"\xef\xbb\xbf", "empty_file", None, id="bom-only"),
        pytest.param(upload(), "empty_file", 1, id="header-only"),
        pytest.param(upload("", ",,,", " "), "empty_file", 1, id="header-and-blank-rows"),
        pytest.param(
            upload(GOOD, GOOD).replace("Шоколад".encode(), "Шоколад".encode("cp1251"), 1),
            "not_utf8",
            2,
            id="cp1251",
        ),
        pytest.param(
            upload(GOOD, GOOD, GOOD.replace("爱莲巧", "ZH")).replace(
                "爱莲巧".encode(), "爱莲巧".encode("gbk")
            ),
            "not_utf8",
            2,
            id="gbk",
        ),
        pytest.param(upload(GOOD).decode().encode("utf-16"), "not_utf8", None, id="utf16"),
        pytest.param(upload(GOOD, GOOD, GOOD), "too_many_rows", 4, id="too-many-rows"),
        pytest.param(
            upload(GOOD, GOOD.replace(",ALENKA,", ',"ALENKA,'), GOOD, GOOD),
            "unterminated_quote",
            3,
            id="unterminated-quote",
        ),
        pytest.param(
            upload(GOOD, header='"' + HEADER),
            "unterminated_quote",
            1,
            id="unterminated-quote-in-header",
        ),
        pytest.param(upload(GOOD, header=SEMICOLON_HEADER), "wrong_delimiter", 1, id="semicolon"),
        pytest.param(
            upload(GOOD, header=HEADER.replace(",", "\t")), "wrong_delimiter", 1, id="tab"
        ),
        pytest.param(
            upload(GOOD, header=HEADER.replace(",price,currency", "")),
            "missing_columns",
            1,
            id="missing",
        ),
        pytest.param(
            upload(GOOD + ",x", header=HEADER + ",colour"), "unknown_columns", 1, id="unknown"
        ),
        pytest.param(
            upload(GOOD + ",x", header=HEADER + ", SKU"), "duplicate_columns", 1, id="duplicate"
        ),
        pytest.param(
            upload(GOOD, GOOD, GOOD.replace('"Milk', '"Milk" chocolate')),
            "malformed_csv",
            4,
            id="text-after-closing-quote",
        ),
    ],
)
def test_an_unreadable_file_is_one_problem_with_a_stable_code(body, code, line):
    raised = problem(body, max_rows=2)

    assert raised.code == code
    assert raised.code in CSV_PROBLEM_DESCRIPTIONS
    assert raised.line == line
    if line is not None:
        assert f"line {line}" in raised.detail.lower()


def test_every_problem_code_is_described_and_titled():
    assert set(CSV_PROBLEM_DESCRIPTIONS) == {
        "empty_file",
        "not_utf8",
        "too_many_rows",
        "unterminated_quote",
        "wrong_delimiter",
        "missing_columns",
        "unknown_columns",
        "duplicate_columns",
        "malformed_csv",
    }
    for code in CSV_PROBLEM_DESCRIPTIONS:
        assert CsvProblem(code, "detail").title != "Unreadable CSV file"


def test_excel_semicolon_export_is_refused_with_a_clear_message():
    raised = problem(upload(GOOD.replace(",", ";"), header=SEMICOLON_HEADER))

    assert raised.code == "wrong_delimiter"
    assert "semicolons (';')" in raised.detail
    assert "commas" in raised.detail
    assert "CSV UTF-8 (Comma delimited)" in raised.detail
    assert raised.errors == {"columns": ["separated by ';', expected ','"]}


def test_tab_separated_export_is_refused_naming_tabs():
    raised = problem(upload(header=HEADER.replace(",", "\t")))

    assert raised.code == "wrong_delimiter"
    assert "tabs" in raised.detail


def test_cp1251_file_is_refused_naming_the_first_bad_byte_and_its_line():
    body = upload(GOOD, GOOD.replace("Шоколад", "Shokolad"), GOOD, newline="\r\n")
    body = body.replace("Шоколад".encode(), "Шоколад".encode("cp1251"))
    raised = problem(body)

    assert raised.code == "not_utf8"
    assert raised.line == 2
    assert "byte 0xD8 on line 2" in raised.detail
    assert "CSV UTF-8" in raised.detail


def test_missing_columns_are_listed_and_a_misspelt_one_gets_a_suggestion():
    raised = problem(upload(GOOD, header=HEADER.replace("price", "prise").replace(",currency", "")))

    assert raised.code == "missing_columns"
    assert raised.errors == {
        "columns": ["missing: price, currency", "unknown: prise (did you mean price?)"]
    }
    assert "price, currency" in raised.detail


def test_unknown_columns_are_listed_in_file_order():
    raised = problem(upload(GOOD + ",,", header=HEADER + ",colour,Label_EM"))

    assert raised.code == "unknown_columns"
    assert raised.errors == {"columns": ["unknown: colour, label_em (did you mean label_en?)"]}


def test_duplicate_columns_are_named_whatever_their_case():
    raised = problem(upload(GOOD + ",x", header=HEADER + ",Price "))

    assert raised.code == "duplicate_columns"
    assert raised.errors == {"columns": ["duplicate: price"]}


def test_unterminated_quote_names_the_line_where_the_quote_opens_not_the_row():
    body = upload(
        GOOD,
        csv_line(description_en="one\ntwo").replace(",RU,", ',"RU,'),
        GOOD,
        GOOD,
    )
    raised = problem(body)

    # The row starts on line 3, its description spans lines 3-4, the open
    # quote is on line 4.
    assert raised.code == "unterminated_quote"
    assert raised.line == 4
    assert "starting on line 4" in raised.detail


def test_a_quote_left_open_in_the_last_row_is_never_closed():
    raised = problem(upload(GOOD, GOOD.replace(",RU,", ',"RU,').replace('"Milk', "Milk")))

    assert raised.code == "unterminated_quote"
    assert raised.line == 3
    assert "starting on line 3 is never closed" in raised.detail


def test_an_undoubled_quote_inside_a_multiline_value_names_its_own_line():
    line = csv_line(description_en='First line\nthe "classic" bar').replace('""', '"')
    raised = problem(upload(GOOD, line, GOOD))

    assert raised.code == "malformed_csv"
    assert raised.line == 4
    assert "Line 4 has a quote inside a quoted value (which starts on line 3)" in raised.detail


def test_a_quote_left_open_before_a_huge_unquoted_tail_is_found():
    tail = [
        csv_line(sku=f"S{i}", description_en="plain", description_ru="plain") for i in range(5_000)
    ]
    body = upload(GOOD, GOOD.replace(",RU,", ',"RU,').replace('"Milk', "Milk"), *tail)
    raised = problem(body)

    assert raised.code == "unterminated_quote"
    assert raised.line == 3


def test_problem_reads_as_its_detail():
    raised = problem(b"")

    assert str(raised) == raised.detail
    assert "empty" in raised.detail


# --- size and speed ----------------------------------------------------------


def many_rows(count: int) -> bytes:
    return upload(*(csv_line(sku=f"RU-ALENKA-{i}") for i in range(count)), newline="\r\n")


def test_max_rows_is_ten_thousand():
    assert MAX_ROWS == 10_000


def test_ten_thousand_rows_are_all_read_with_their_line_numbers():
    # Speed is measured by bench/bulk_upload.py, never asserted here.
    rows = parse_sku_csv(many_rows(MAX_ROWS))

    assert len(rows) == MAX_ROWS
    assert rows[-1].line == MAX_ROWS + 1
    assert rows[-1].data["sku"] == f"RU-ALENKA-{MAX_ROWS - 1}"


def test_ten_thousand_and_one_rows_are_refused():
    raised = problem(many_rows(MAX_ROWS + 1))

    assert raised.code == "too_many_rows"
    assert raised.line == MAX_ROWS + 2
    assert "10,000" in raised.detail


def test_reading_stops_at_the_first_row_past_the_limit():
    # The unterminated quote after the limit is never reached.
    body = upload(GOOD, GOOD, GOOD, GOOD.replace(",RU,", ',"RU,'))

    assert problem(body, max_rows=2).code == "too_many_rows"


# --- anything at all ---------------------------------------------------------


def rows_or_problem(body: bytes) -> list[CsvRow] | CsvProblem:
    try:
        return parse_sku_csv(body, max_rows=20)
    except CsvProblem as raised:
        return raised


def assert_rows_or_problem(body: bytes) -> None:
    outcome = rows_or_problem(body)
    if isinstance(outcome, CsvProblem):
        assert outcome.code in CSV_PROBLEM_DESCRIPTIONS
        assert outcome.detail
    else:
        assert outcome
        assert all(isinstance(row, CsvRow) for row in outcome)


def test_random_bytes_give_rows_or_a_csv_problem_and_nothing_else():
    rnd = random.Random(20261123)
    for _ in range(300):
        assert_rows_or_problem(rnd.randbytes(rnd.randrange(0, 400)))


CSV_SHRAPNEL = [",", '"', '""', "\n", "\r", "\r\n", ";", ":", " ", "\t", "\x00", "\ufeff"]
CSV_SHRAPNEL += ["RU-WH:4", "Ж", "中", "a", "", ",,,,,,,,,,,,,,,"]


def test_random_csv_shaped_text_gives_rows_or_a_csv_problem_and_nothing_else():
    rnd = random.Random(20261124)
    for _ in range(300):
        noise = "".join(rnd.choice(CSV_SHRAPNEL) for _ in range(rnd.randrange(0, 120)))
        assert_rows_or_problem((HEADER + "\n" + noise).encode())
        assert_rows_or_problem((HEADER + "\n" + GOOD + "\n" + noise).encode())


def test_dimension_columns_are_optional_and_each_given_cell_is_passed_on():
    columns = [*DESIGN_COLUMNS, "length_mm", "width_mm", "height_mm"]
    header = ",".join(columns)
    given = only_row(upload(csv_line(columns, length_mm="170", width_mm="80", height_mm="10"),
                            header=header))  # fmt: skip
    assert (given.data["length_mm"], given.data["width_mm"], given.data["height_mm"]) == (
        "170", "80", "10",
    )  # fmt: skip
    # An empty cell is "not given": the validator names it if its siblings are given.
    partial = only_row(upload(csv_line(columns, length_mm="170"), header=header))
    assert partial.data["length_mm"] == "170"
    assert "width_mm" not in partial.data
    assert "height_mm" not in partial.data
    assert "length_mm" not in only_row(upload(csv_line())).data  # columns left out
