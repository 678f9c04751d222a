"""The header's language, currency and deliver-to switches in real Chromium: a form
posted with the page's CSRF token, which the script sends as soon as a choice is
picked, and whose button does the same without the script. What they choose is
remembered; what a link (or another site) asks for is shown and forgotten."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import DESKTOP
from tests.browser.storefront import choose, switch_language

pytestmark = pytest.mark.browser


def test_with_the_script_picking_a_currency_sends_the_form_and_it_is_remembered(open_shopper):
    shopper = open_shopper(DESKTOP, locale="en-US")
    page = shopper.page
    shopper.goto("/c/honey?sort=price_asc")
    switch = page.locator("form:has(#currency)")
    # The script sends the form itself: its button is for pages without the script.
    expect(switch.locator("button[type=submit]")).to_be_hidden()

    with page.expect_navigation():
        page.locator("#currency").select_option("KZT")
    expect(page).to_have_url(re.compile(r"/c/honey\?sort=price_asc$"))
    expect(page.locator("#currency")).to_have_value("KZT")
    expect(page.locator(".product-card .price").first).to_contain_text("KZT")
    shopper.shot("tenge-chosen")

    shopper.goto("/")  # a plain link: the cookie remembers the choice
    expect(page.locator("#currency")).to_have_value("KZT")
    choose(page, "ship-to", "KZ")
    switch_language(page, "ru")
    shopper.goto("/c/honey")
    expect(page.locator("html")).to_have_attribute("lang", "ru")
    expect(page.locator("#ship-to")).to_have_value("KZ")
    expect(page.locator("#currency")).to_have_value("KZT")
    assert shopper.script_errors == []


def test_a_keyboard_user_steps_through_the_currencies_without_leaving_the_page(open_shopper):
    """Arrow keys on a closed list change the choice at each press: the page must not
    go at the first one (WCAG 3.2.2), so the button comes back and Enter sends it."""
    shopper = open_shopper(DESKTOP, locale="en-US")
    page = shopper.page
    shopper.goto("/")
    page.evaluate("window.stillTheSameDocument = true")
    select = page.locator("#currency")
    first = select.input_value()
    select.focus()
    page.keyboard.press("ArrowDown")
    page.keyboard.press("ArrowDown")
    button = page.locator("form:has(#currency) button[type=submit]")
    expect(button).to_be_visible()
    chosen = select.input_value()
    assert chosen != first
    assert page.evaluate("window.stillTheSameDocument === true")
    shopper.shot("stepped-by-keyboard")

    with page.expect_navigation():
        page.keyboard.press("Enter")
    expect(page.locator("#currency")).to_have_value(chosen)
    shopper.goto("/c/honey")
    expect(page.locator("#currency")).to_have_value(chosen)


def test_without_the_script_the_buttons_send_the_switches(open_shopper):
    shopper = open_shopper(DESKTOP, locale="en-US", java_script_enabled=False)
    page = shopper.page
    shopper.goto("/c/honey")
    button = page.locator("form:has(#currency) button[type=submit]")
    expect(button).to_be_visible()
    page.locator("#currency").select_option("KZT")
    with page.expect_navigation():
        button.click()
    expect(page).to_have_url(re.compile(r"/c/honey$"))
    expect(page.locator("#currency")).to_have_value("KZT")
    expect(page.locator(".product-card .price").first).to_contain_text("KZT")

    page.locator("#ship-to").select_option("KZ")
    with page.expect_navigation():
        page.locator("form:has(#ship-to) button[type=submit]").click()
    switch_language(page, "zh")
    shopper.shot("chosen-without-script")

    shopper.goto("/")
    expect(page.locator("html")).to_have_attribute("lang", "zh")
    expect(page.locator("#currency")).to_have_value("KZT")
    expect(page.locator("#ship-to")).to_have_value("KZ")


def test_a_link_from_elsewhere_shows_its_choice_once_and_changes_nothing(open_shopper):
    shopper = open_shopper(DESKTOP, locale="en-US")
    page = shopper.page
    shopper.goto("/")
    choose(page, "currency", "RUB")

    # What another site could link to: the old switch address, and a page with choices.
    shopper.goto("/choose?currency=KZT&country=KZ&next=/c/honey")
    expect(page).to_have_url(re.compile(r"/c/honey\?"))
    expect(page.locator("#currency")).to_have_value("KZT")
    shopper.goto("/?lang=zh&currency=CNY")
    expect(page.locator("html")).to_have_attribute("lang", "zh")

    shopper.goto("/c/honey")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.locator("#currency")).to_have_value("RUB")
    expect(page.locator("#ship-to")).not_to_have_value("KZ")
    # Another site's form cannot send the page's token: the switch refuses it.
    refused = page.request.post(shopper.pavilion.url("/choose"), form={"currency": "KZT"})
    assert refused.status == 400
    page.reload()
    expect(page.locator("#currency")).to_have_value("RUB")
