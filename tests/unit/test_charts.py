"""Server-side SVG charts: well-formed, accessible, escaped, and drawn to scale."""

from __future__ import annotations

from decimal import Decimal

from lxml import etree

from shop.admin.charts import Datum, bar_chart, chart_dom_id, line_chart, nice_ticks, x_labels

SVG = "{http://www.w3.org/2000/svg}"


def parse(svg: str) -> etree._Element:
    return etree.fromstring(svg.encode())  # raises on anything not well-formed


def bars(*pairs) -> list[Datum]:
    return [Datum(label, value, shown) for label, value, shown in pairs]


def test_a_bar_chart_is_an_image_named_by_its_title_and_description():
    root = parse(bar_chart(name="sales by node", title="Sales by node",
                           description="RU-WH sold 60.00 CNY, CN-SFH 180.00 CNY.",
                           bars=bars(("RU-WH", Decimal("60"), "60.00"),
                                     ("CN-SFH", Decimal("180"), "180.00")),
                           value_axis_label="Goods, CNY"))  # fmt: skip
    assert root.get("role") == "img"
    assert root.get("aria-labelledby") == "chart-sales-by-node-title chart-sales-by-node-desc"
    assert root.find(f"{SVG}title").text == "Sales by node"
    assert root.find(f"{SVG}title").get("id") == "chart-sales-by-node-title"
    assert root.find(f"{SVG}desc").text == "RU-WH sold 60.00 CNY, CN-SFH 180.00 CNY."
    texts = [t.text for t in root.iter(f"{SVG}text")]
    assert {"RU-WH", "CN-SFH", "60.00", "180.00", "Goods, CNY"} <= set(texts)
    assert not list(root.iter(f"{SVG}script"))


def test_bars_are_drawn_to_scale():
    root = parse(bar_chart(name="x", title="t", description="d",
                           bars=bars(("a", 50, None), ("b", 200, None), ("c", 0, None)),
                           value_axis_label="units"))  # fmt: skip
    widths = [float(rect.get("width")) for rect in root.iter(f"{SVG}rect")]
    assert widths[0] * 4 == widths[1]
    assert widths[2] == 0
    # The printed figure defaults to the value itself.
    assert "200" in [t.text for t in root.iter(f"{SVG}text")]


def test_text_from_merchants_is_escaped_not_markup():
    evil = '<script>alert("x")</script> & "Honey"'
    svg = bar_chart(name="skus", title=f"Top {evil}", description=evil,
                    bars=bars((evil, 3, evil)), value_axis_label=evil)  # fmt: skip
    root = parse(svg)
    assert "<script>" not in svg
    assert not list(root.iter(f"{SVG}script"))
    assert root.find(f"{SVG}desc").text == evil
    tooltip = root.find(f"{SVG}rect/{SVG}title").text
    assert tooltip == f"{evil}: {evil}"


def test_long_labels_are_clipped_with_the_full_text_in_the_tooltip():
    label = "Altai mountain honey, buckwheat, 500 g jar, gift box"
    root = parse(bar_chart(name="x", title="t", description="d", bars=bars((label, 1, "1")),
                           value_axis_label="units", label_width=140))  # fmt: skip
    shown = [t.text for t in root.iter(f"{SVG}text") if t.text and t.text.startswith("Altai")]
    assert shown == [label[:17] + "…"]  # (140 - 12) / 7 characters
    assert root.find(f"{SVG}rect/{SVG}title").text == f"{label}: 1"


def test_a_line_chart_has_a_point_per_day_and_both_axis_labels():
    days = [Datum(f"2026-11-{d:02d}", Decimal(d * 10), f"{d * 10}.00") for d in range(1, 29)]
    root = parse(line_chart(name="sales by day", title="Sales by day", description="28 days",
                            points=days, x_axis_label="Day (UTC)",
                            y_axis_label="Goods, CNY"))  # fmt: skip
    circles = list(root.iter(f"{SVG}circle"))
    assert len(circles) == 28
    assert circles[4].find(f"{SVG}title").text == "2026-11-05: 50.00"
    texts = [t.text for t in root.iter(f"{SVG}text")]
    assert {"Day (UTC)", "Goods, CNY", "2026-11-01", "2026-11-28"} <= set(texts)
    # A day's label every few days only: 28 would overlap.
    assert len([t for t in texts if t.startswith("2026-11-")]) <= 10
    ys = [float(c.get("cy")) for c in circles]
    assert ys == sorted(ys, reverse=True)  # rising sales go up the page


def test_an_empty_chart_says_so():
    for svg in (
        bar_chart(name="e", title="Nothing", description="none", bars=[],
                  value_axis_label="units"),
        line_chart(name="e", title="Nothing", description="none", points=[],
                   x_axis_label="day", y_axis_label="units"),
    ):  # fmt: skip
        root = parse(svg)
        assert [t.text for t in root.iter(f"{SVG}text")] == ["No data in this range"]


def test_all_zero_values_still_draw():
    root = parse(line_chart(name="z", title="t", description="d",
                            points=[Datum("a", 0), Datum("b", 0)], x_axis_label="x",
                            y_axis_label="y"))  # fmt: skip
    assert len(list(root.iter(f"{SVG}circle"))) == 2


def test_nice_ticks_cover_the_maximum_in_round_steps():
    assert nice_ticks(137) == [0, 50, 100, 150]
    assert nice_ticks(100) == [0, 25, 50, 75, 100]
    assert nice_ticks(Decimal("3.5")) == [0, 1, 2, 3, 4]
    assert nice_ticks(0) == [0, 1]


def test_dom_ids_are_safe():
    assert chart_dom_id("sales by <day>") == "chart-sales-by-day"


def test_x_labels_every_few_points_and_the_last_without_overlap():
    assert x_labels(5) == {0, 1, 2, 3, 4}
    assert x_labels(28) == {0, 4, 8, 12, 16, 20, 24, 27}
    # 24 and 25 would overlap: the last day wins.
    assert x_labels(26) == {0, 4, 8, 12, 16, 20, 25}
    assert x_labels(1) == {0}
