"""The storefront's main pages pass axe-core's WCAG 2.1 A and AA rules (no serious or
critical violation), work from the keyboard, and fit a phone's width, in zh and ru.

axe-core is the npm registry's package, which ``.ci/run`` fetches into ``.cache/axe``
(``npm install --no-save --prefix .cache/axe axe-core@<version>``).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import PHONE
from tests.browser.storefront import (
    CHINESE_ADDRESS,
    ORDER_PAGE,
    RUSSIAN_ADDRESS,
    VALID_ID,
    add_to_cart,
    fill_checkout,
    fits_screen_width,
    go_to_cart,
    go_to_checkout,
    open_product,
    place_order,
    settle_in,
)
from tests.conftest import skip_or_fail

pytestmark = pytest.mark.browser

REPO_ROOT = Path(__file__).resolve().parents[2]
AXE_JS = REPO_ROOT / ".cache" / "axe" / "node_modules" / "axe-core" / "axe.min.js"
WCAG_21_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
BLOCKING_IMPACTS = {"serious", "critical"}
# Enough presses to cross a header and a product page; a page that needs more to reach
# its main action is itself a keyboard problem.
MAX_TABS = 60

SHOPPERS = {
    "zh": {
        "search": "蜂蜜",
        "product": "阿尔泰山百花蜂蜜",
        "currency": "CNY",
        "address": CHINESE_ADDRESS,
        "identity": ("张三", VALID_ID),
    },
    "ru": {
        "search": "мёд",
        "product": "Мёд алтайский горный, разнотравье",
        "currency": "RUB",
        "address": RUSSIAN_ADDRESS,
        "identity": None,
    },
}


@pytest.fixture(scope="module")
def axe_source() -> str:
    if not AXE_JS.exists():
        skip_or_fail(
            f"axe-core not found at {AXE_JS} (.ci/run fetches it: "
            "npm install --no-save --no-package-lock --prefix .cache/axe axe-core@4)"
        )
    return AXE_JS.read_text(encoding="utf-8")


def serious_violations(page: Page, axe_source: str) -> list[dict]:
    """axe-core's WCAG 2.1 A/AA violations on the page as it is now, serious or worse."""
    page.add_script_tag(content=axe_source)
    results = page.evaluate(
        "tags => axe.run(document, {runOnly: {type: 'tag', values: tags},"
        " resultTypes: ['violations']})",
        WCAG_21_AA,
    )
    return [v for v in results["violations"] if v["impact"] in BLOCKING_IMPACTS]


def describe(violations_by_page: dict[str, list[dict]]) -> str:
    lines = []
    for where, violations in violations_by_page.items():
        for violation in violations:
            lines.append(
                f"{where}: [{violation['impact']}] {violation['id']}: {violation['help']}"
                f" ({violation['helpUrl']})"
            )
            for node in violation["nodes"]:
                lines.append(f"    {json.dumps(node['target'], ensure_ascii=False)}")
                lines.append(f"      {node.get('failureSummary', '').replace(chr(10), ' ')}")
    return "\n".join(lines)


@pytest.mark.parametrize("lang", ["zh", "ru"])
def test_main_pages_have_no_serious_accessibility_violations(open_shopper, axe_source, lang):
    shopper_data = SHOPPERS[lang]
    address = shopper_data["address"]
    # The storefront's Content-Security-Policy forbids inline scripts, as it should;
    # this profile alone lets the test inject axe-core.
    shopper = open_shopper(PHONE, bypass_csp=True)
    page = shopper.page
    found: dict[str, list[dict]] = {}
    too_wide: list[str] = []

    def check(where: str) -> None:
        expect(page.locator("html")).to_have_attribute("lang", re.compile(rf"^{lang}"))
        shopper.shot(where)
        if not fits_screen_width(page):
            too_wide.append(where)
        violations = serious_violations(page, axe_source)
        if violations:
            found[where] = violations

    shopper.goto("/")
    settle_in(page, lang, shopper_data["currency"], address["country"])
    check("home")
    shopper.goto("/c/honey")
    check("category")
    shopper.goto(f"/search?q={shopper_data['search']}")
    check("search")
    open_product(page, shopper_data["product"])
    check("product")
    add_to_cart(page)
    go_to_cart(page)
    check("cart")
    go_to_checkout(page)
    check("checkout")

    # Sent empty past the browser's own checks, so that the server's errors show.
    page.locator("form:has(#place-order)").evaluate("form => { form.noValidate = true; }")
    assert place_order(page).status == 422
    check("checkout-with-errors")

    fill_checkout(page, address, shopper_data["identity"])
    place_order(page)
    expect(page).to_have_url(ORDER_PAGE)
    check("order")

    assert not found, "axe-core WCAG 2.1 A/AA violations:\n" + describe(found)
    assert not too_wide, f"pages that scroll sideways at 390 px: {too_wide}"


def tab_until_focused(page: Page, selector: str) -> int:
    """Press Tab until ``selector`` has focus; returns how many presses it took."""
    target = page.locator(selector)
    for presses in range(1, MAX_TABS + 1):
        page.keyboard.press("Tab")
        if target.evaluate("element => element === document.activeElement"):
            return presses
    raise AssertionError(f"{selector} not reached with {MAX_TABS} presses of Tab")


def shows_focus(page: Page, selector: str) -> bool:
    """Whether the focused element is drawn differently (an outline or a ring)."""
    return page.locator(selector).evaluate(
        """element => {
            const style = getComputedStyle(element);
            const outlined = style.outlineStyle !== 'none' && parseFloat(style.outlineWidth) > 0;
            return outlined || style.boxShadow !== 'none';
        }"""
    )


def test_the_keyboard_reaches_search_and_add_to_cart_with_visible_focus(open_shopper):
    shopper = open_shopper(PHONE)
    page = shopper.page
    shopper.goto("/")
    settle_in(page, "zh", "CNY", "CN")
    tab_until_focused(page, "#search")
    assert shows_focus(page, "#search"), "the search box shows no focus indicator"
    page.keyboard.type("蜂蜜")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    shopper.shot("searched-by-keyboard")

    open_product(page, SHOPPERS["zh"]["product"])
    page.locator("body").evaluate("body => document.activeElement.blur()")
    tab_until_focused(page, "#add-to-cart")
    assert shows_focus(page, "#add-to-cart"), "the add-to-cart button shows no focus indicator"
    shopper.shot("add-to-cart-focused")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    go_to_cart(page)
    expect(page.locator("main")).to_contain_text(SHOPPERS["zh"]["product"])
