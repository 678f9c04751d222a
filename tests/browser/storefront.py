"""What a shopper does on the storefront, in the words of the page contract: roles,
labels and the ids the pages promise (``#search``, ``#add-to-cart``, ``#place-order``…),
so that a test reads as the journey it checks and a changed page breaks one place."""

from __future__ import annotations

import re
from decimal import Decimal

from playwright.sync_api import Page, expect
from playwright.sync_api import TimeoutError as PlaywrightTimeout

# A valid PRC resident ID number (GB 11643-1999, the DOMAIN.md example) and the same
# number with its check character mistyped.
VALID_ID = "11010519491231002X"
WRONG_CHECK_ID = VALID_ID[:-1] + "1"

CHINESE_ADDRESS = {
    "email": "zhang.san@example.com",
    "recipient": "张三",
    "phone": "+86 138 0000 0000",
    "country": "CN",
    "region": "山东省",
    "city": "青岛市",
    "postal_code": "266000",
    "line1": "市南区香港中路1号",
}
RUSSIAN_ADDRESS = {
    "email": "ivan.petrov@example.com",
    "recipient": "Иван Петров",
    "phone": "+7 900 000-00-00",
    "country": "RU",
    "region": "Москва",
    "city": "Москва",
    "postal_code": "101000",
    "line1": "ул. Тверская, д. 1, кв. 5",
}

HAN = re.compile(r"[\u4e00-\u9fff]")
CYRILLIC = re.compile(r"[А-Яа-яЁё]")
ORDER_PAGE = re.compile(r"/orders/[^/?#]+(\?[^#]*)?$")
PRODUCT_PAGE = re.compile(r"/p/[^/?#]+")

# How long a select that submits itself (a script may do that) has to start loading
# the next page; after that the shopper presses the form's button instead.
AUTOSUBMIT_GRACE_MS = 1_000


def amount_in(text: str) -> Decimal:
    """The number in a formatted price: ``¥1,090.00`` -> 1090.00, ``1 090,00 ₽`` -> 1090.00."""
    digits = re.sub(r"[^\d.,]", "", text)
    if not re.search(r"\d", digits):
        raise AssertionError(f"no amount in {text!r}")
    # Both locales here put two decimals after the last separator; the others group.
    whole, _, cents = re.sub(r"[.,](?=\d{2}$)", "|", digits).partition("|")
    return Decimal(re.sub(r"[.,]", "", whole) + "." + (cents or "0"))


def fits_screen_width(page: Page) -> bool:
    """No horizontal scrolling: nothing is wider than the screen."""
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def choose(page: Page, select_id: str, value: str) -> None:
    """Pick ``value`` in a header switch (currency, deliver to) and wait for the page
    it leads to; the select submits itself with the script, the button without it."""
    select = page.locator(f"#{select_id}")
    try:
        with page.expect_navigation(wait_until="commit", timeout=AUTOSUBMIT_GRACE_MS):
            select.select_option(value)
    except PlaywrightTimeout:
        with page.expect_navigation():
            page.locator(f"form:has(#{select_id}) [type=submit]").click()
    page.wait_for_load_state()
    expect(page.locator(f"#{select_id}")).to_have_value(value)


def switch_language(page: Page, lang: str) -> None:
    with page.expect_navigation():
        page.locator(f"nav.languages button[value={lang}]").click()
    expect(page.locator("html")).to_have_attribute("lang", re.compile(rf"^{lang}\b"))


def settle_in(page: Page, lang: str, currency: str, country: str) -> None:
    """Make the shopper's choices with the header's switches, which alone remember them
    (a link's ``?lang=`` or ``?currency=`` shows that page only)."""
    switch_language(page, lang)
    choose(page, "currency", currency)
    choose(page, "ship-to", country)


def search(page: Page, query: str) -> None:
    page.locator("#search").fill(query)
    with page.expect_navigation():
        page.locator("#search").press("Enter")
    expect(page).to_have_url(re.compile(r"/search\?(.+&)?q="))


def product_link(page: Page, name: str):
    """The link of the product card that shows ``name`` (the card may be the link)."""
    card = page.locator(".product-card").filter(has_text=name).first
    expect(card).to_be_visible()
    if card.evaluate("element => element.tagName") == "A":
        return card
    return card.locator("a[href*='/p/']").first


def open_product(page: Page, name: str) -> None:
    with page.expect_navigation():
        product_link(page, name).click()
    expect(page).to_have_url(PRODUCT_PAGE)
    expect(page.locator("h1")).to_contain_text(name)


def add_to_cart(page: Page, quantity: int = 1) -> None:
    page.locator("#quantity").fill(str(quantity))
    with page.expect_navigation():
        page.locator("#add-to-cart").click()


def go_to_cart(page: Page) -> None:
    with page.expect_navigation():
        page.locator("a[href^='/cart']").first.click()
    expect(page).to_have_url(re.compile(r"/cart(\?|$)"))


def go_to_checkout(page: Page) -> None:
    with page.expect_navigation():
        page.locator("#checkout-link").click()
    expect(page).to_have_url(re.compile(r"/checkout(\?|$)"))


def fill_checkout(
    page: Page, address: dict[str, str], identity: tuple[str, str] | None = None
) -> None:
    """Type the address (and the customs identity) as a shopper would, field by field;
    choosing the country first, because the form adapts to it."""
    country = page.locator("form:has(#place-order) select[name=country]")
    country.select_option(address["country"])
    for name, value in address.items():
        if name != "country":
            page.locator(f"form:has(#place-order) [name={name}]").fill(value)
    if identity is not None:
        customs_name, id_number = identity
        page.locator("[name=customs_name]").fill(customs_name)
        page.locator("[name=customs_id_number]").fill(id_number)
    page.locator("input[name=payment_adapter][value=manual]").check()
    # The summary refreshes itself as the address changes: read it once it has settled.
    page.wait_for_load_state("networkidle")


def place_order(page: Page):
    """Press "place order"; returns the response to the form's POST."""
    with page.expect_navigation() as navigation:
        page.locator("#place-order").click()
    return navigation.value
