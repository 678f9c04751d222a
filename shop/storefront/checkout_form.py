"""The checkout form as the JSON API sees it, and the API's answers as the form shows them.

The storefront does not keep its own copy of the checkout rules: the form's
fields become the same body ``POST /api/v1/orders`` takes and are checked
with the same schema (``OrderInSchema``) and the same PRC ID check checkout
runs. What comes back (field errors keyed ``shipping_address.city``,
problems such as ``insufficient_stock``) is put next to the form's own
fields, in the shopper's language: the messages the shop knows are
translated; anything else is shown as the service wrote it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

import marshmallow as ma

from orders.customs import prc_id, requires_customs_identity
from orders.schemas import OrderInSchema

# Form field -> the place of its value in the API's order body.
FIELD_PATHS = {
    "email": "email",
    "recipient": "shipping_address.recipient",
    "phone": "shipping_address.phone",
    "country": "shipping_address.country",
    "region": "shipping_address.region",
    "city": "shipping_address.city",
    "postal_code": "shipping_address.postal_code",
    "line1": "shipping_address.line1",
    "customs_name": "customs_identity.name",
    "customs_id_number": "customs_identity.id_number",
    "payment_adapter": "payment.adapter",
    "delivery_method": "delivery.method",
    "delivery_point": "delivery.point",
}
FORM_FIELDS = tuple(FIELD_PATHS)
CUSTOMS_FIELDS = ("customs_name", "customs_id_number")
# Never sent back to the browser: a page with an error must not carry the number
# (it would sit in the browser's cache and history).
SECRET_FIELDS = ("customs_id_number",)
_PATH_FIELDS = {path: name for name, path in FIELD_PATHS.items()}
MAX_FIELD_LENGTH = 500

Translate = Callable[..., str]


@dataclass
class CheckoutForm:
    """What the shopper typed (trimmed), and what is wrong with it, field by field."""

    values: dict[str, str] = field(default_factory=dict)
    errors: dict[str, list[str]] = field(default_factory=dict)
    # Problems of the order as a whole (stock, no lane, customs limits), already in
    # the shopper's language.
    problems: list[str] = field(default_factory=list)

    @classmethod
    def from_form(cls, form: Mapping[str, str]) -> CheckoutForm:
        return cls(
            values={name: (form.get(name) or "").strip()[:MAX_FIELD_LENGTH] for name in FORM_FIELDS}
        )

    def value(self, name: str) -> str:
        return "" if name in SECRET_FIELDS else self.values.get(name, "")

    @property
    def country(self) -> str:
        return self.values.get("country", "").upper()

    def needs_customs_identity(self, today: date) -> bool:
        return bool(self.country) and requires_customs_identity(self.country, today)


def order_body(form: CheckoutForm, *, cart_id: str, currency: str, today: date) -> dict[str, Any]:
    """The ``POST /api/v1/orders`` body for this form and cart.

    Empty boxes are left out rather than sent empty, so a required one reads
    "missing" (not "too short"); the customs identity goes only where the
    destination's policy asks for it.
    """
    values = form.values

    def filled(*names: str) -> dict[str, str]:
        return {
            FIELD_PATHS[name].split(".", 1)[1]: values[name] for name in names if values.get(name)
        }

    body: dict[str, Any] = {
        "cart_id": cart_id,
        "currency": currency,
        "shipping_address": filled(
            "recipient", "phone", "country", "region", "city", "postal_code", "line1"
        ),
        "payment": filled("payment_adapter"),
    }
    if values.get("email"):
        body["email"] = values["email"]
    if "country" in body["shipping_address"]:
        body["shipping_address"]["country"] = body["shipping_address"]["country"].upper()
    if form.needs_customs_identity(today):
        body["customs_identity"] = filled(*CUSTOMS_FIELDS)
    if values.get("delivery_method") == "pickup":
        body["delivery"] = {"method": "pickup", **filled("delivery_point")}
    return body


def check_order_body(body: dict[str, Any], today: date) -> tuple[dict[str, Any], dict]:
    """The body loaded by the API's schema, and every error found (``{path: [msg]}``).

    The PRC ID number is checked here too, with checkout's own function, so the
    shopper learns of every mistake at once rather than one round at a time.
    """
    try:
        loaded = OrderInSchema().load(body)
        errors: dict[str, list[str]] = {}
    except ma.ValidationError as invalid:
        loaded = {}
        errors = flatten_errors(invalid.messages)
    identity = body.get("customs_identity")
    path = "customs_identity.id_number"
    if identity is not None and identity.get("id_number") and path not in errors:
        try:
            prc_id.validate_prc_id(identity["id_number"], today)
        except prc_id.InvalidIdNumber as wrong:
            errors[path] = [str(wrong)]
    return loaded, errors


def flatten_errors(messages: Any, prefix: str = "") -> dict[str, list[str]]:
    """marshmallow's nested ``{"shipping_address": {"city": [...]}}`` as dotted paths."""
    if isinstance(messages, Mapping):
        flat: dict[str, list[str]] = {}
        for name, inner in messages.items():
            path = f"{prefix}.{name}" if prefix else str(name)
            for key, texts in flatten_errors(inner, path).items():
                flat.setdefault(key, []).extend(texts)
        return flat
    if isinstance(messages, (list, tuple)):
        texts = [m for m in messages if isinstance(m, str)]
        nested = [m for m in messages if not isinstance(m, str)]
        flat = {prefix: texts} if texts else {}
        for inner in nested:
            for key, more in flatten_errors(inner, prefix).items():
                flat.setdefault(key, []).extend(more)
        return flat
    return {prefix: [str(messages)]}


def place_errors(form: CheckoutForm, errors: Mapping[str, Any], translate: Translate) -> None:
    """Put the API's field errors next to the form's fields (translated); errors of
    parts of the body the form has no field for become problems of the whole form."""
    for path, texts in flatten_errors(dict(errors)).items():
        name = field_for(path)
        messages = [field_message(text, translate) for text in texts]
        if name is None:
            form.problems.extend(_whole_form_message(path, text, translate) for text in texts)
        else:
            form.errors.setdefault(name, []).extend(
                m for m in messages if m not in form.errors.get(name, [])
            )


def field_for(path: str) -> str | None:
    """The form field an error path belongs to: ``shipping_address.city`` -> ``city``;
    a whole missing group (``customs_identity``) -> its first field."""
    if path in _PATH_FIELDS:
        return _PATH_FIELDS[path]
    groups = {"customs_identity": "customs_name", "payment": "payment_adapter",
              "shipping_address": "recipient", "delivery": "delivery_point"}  # fmt: skip
    return groups.get(path)


# ------------------------------------------------------------------ messages

# What the services and the schema say (English), and how the storefront says it.
# The second member is a gettext msgid; named groups fill its {fields}.
_FIELD_MESSAGES: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern), msgid)
    for pattern, msgid in (
        (r"Missing data for required field\.", "Please fill in this field."),
        (r"Field may not be null\.", "Please fill in this field."),
        (r"Not a valid email address\.", "Enter an email address such as name@example.com."),
        (
            r"Length must be between (?P<min>\d+) and (?P<max>\d+)\.",
            "Enter between {min} and {max} characters.",
        ),
        (r"Longer than maximum length (?P<max>\d+)\.", "Enter at most {max} characters."),
        (r"Shorter than minimum length (?P<min>\d+)\.", "Enter at least {min} characters."),
        (
            r"Must not contain control characters\.",
            "Remove the control characters from this field.",
        ),
        (r"Not an ISO 3166-1 alpha-2 country code\.", "Choose a country from the list."),
        (
            r"Chinese customs need the buyer's real name for cross-border orders\.",
            "Chinese customs need the buyer's real name for cross-border orders.",
        ),
        (r"The ID number must be text\.", "Enter the ID number."),
        (
            r"A PRC resident ID number has 18 characters; this one has (?P<count>\d+)\.",
            "A PRC resident ID number has 18 characters; this one has {count}.",
        ),
        (
            r"A PRC resident ID number is 17 digits followed by a digit or the letter X\.",
            "A PRC resident ID number is 17 digits followed by a digit or the letter X.",
        ),
        (
            r"The birth date in this ID number \(characters 7 to 14\) is not a real date\.",
            "The birth date in this ID number (characters 7 to 14) is not a real date.",
        ),
        (
            r"The birth date in this ID number is before 1900\.",
            "The birth date in this ID number is before 1900.",
        ),
        (
            r"The birth date in this ID number is not in the past\.",
            "The birth date in this ID number is not in the past.",
        ),
        (
            r"This ID number's last character does not match the others; "
            r"check it for a mistyped digit\.",
            "This ID number's last character does not match the others; "
            "check it for a mistyped digit.",
        ),
        (r"Choose a pickup point\.", "Choose a pickup point."),
        (
            r"\S+ is not a pickup point in .*\.",
            "This pickup point is not in the list for your city any more; choose another.",
        ),
        (r"Needed to find pickup points\.", "Type the city to see its pickup points."),
        (
            r"No carrier delivers to pickup points at this address\.",
            "No pickup points deliver to this address; choose delivery to the door.",
        ),
        (r"Must be one of: .*", "Choose a way to pay."),
    )
)


def field_message(text: str, translate: Translate) -> str:
    """A service's field message in the shopper's language (as written if unknown)."""
    for pattern, msgid in _FIELD_MESSAGES:
        match = pattern.fullmatch(text)
        if match:
            return translate(msgid, **match.groupdict())
    return text


def _whole_form_message(path: str, text: str, translate: Translate) -> str:
    if path == "cart_id" and text == "The cart is empty.":
        return translate("Your cart is empty.")
    if path.startswith("cart_id.") and path.endswith(".sku"):
        return translate("Some goods in your cart are no longer on sale: remove them to check out.")
    if path == "shown_total":
        return translate(
            "The total has changed since it was shown: the cart, the prices or the delivery "
            "country changed meanwhile. Check the new total below and place the order again."
        )
    if path == "currency":
        return translate("Prices cannot be shown in this currency; choose another one.")
    return text


def _short_of_stock(lines: list[Mapping[str, Any]], translate: Translate) -> str:
    short = "; ".join(
        translate(
            "{sku}: {wanted} wanted, {available} available",
            sku=line.get("sku"),
            wanted=line.get("wanted"),
            available=line.get("available"),
        )
        for line in lines
    )
    return translate("Not enough stock: {lines}. Lower the quantity and try again.", lines=short)


def _names_delivery_point(errors: Any) -> bool:
    return bool(errors) and "delivery.point" in flatten_errors(errors)


def _amount(money: Mapping[str, Any]) -> Decimal:
    try:
        return Decimal(str(money.get("amount") or 0))
    except InvalidOperation:
        return Decimal(0)


def _single_item_refused(problem: Mapping[str, Any], annual: str, translate: Translate) -> str:
    """China's single item above the per-order limit, refused by the yearly allowance."""
    value = problem.get("value") or {}
    remaining = problem.get("remaining") or {}
    item = f"{value.get('amount', '')} {value.get('currency', '')}".strip()
    if _amount(value) > _amount(problem.get("limit") or {}):
        return translate(
            "This single item, {value}, is above the {limit} yearly allowance of Chinese "
            "customs for cross-border goods, so it cannot be sent to China.",
            value=item,
            limit=annual,
        )
    return translate(
        "This single item, {value}, can go to China with full taxes only within the buyer's "
        "{limit} yearly allowance of Chinese customs, and {remaining} of it is left this year.",
        value=item,
        limit=annual,
        remaining=f"{remaining.get('amount', '')} {remaining.get('currency', '')}".strip(),
    )


def problem_message(
    problem: Mapping[str, Any], translate: Translate, country_name: Callable[[str], str]
) -> str:
    """A problem (``DomainError.body()``) that stops the order, as the shopper reads it."""
    code = problem.get("code")
    if code == "insufficient_stock":
        return _short_of_stock(problem.get("lines") or [], translate)
    if code == "no_lane_to_destination":
        country = problem.get("country") or ""
        return translate(
            "We do not deliver to {country} yet.", country=country_name(country) if country else ""
        )
    if code == "corridor_refuses":
        # Named by country: the shopper can remove the goods or ship elsewhere, but
        # waiting for stock would not help. Lines also short come after, in one message.
        country = problem.get("country") or ""
        skus = ", ".join(str(line.get("sku")) for line in problem.get("lines") or [])
        refused = translate(
            "These goods cannot be delivered to {country}: {skus}. Remove them to check out.",
            country=country_name(country) if country else "",
            skus=skus,
        )
        short_lines = problem.get("short_lines") or []
        if short_lines:
            return f"{refused} {_short_of_stock(short_lines, translate)}"
        return refused
    if code == "customs_limit_exceeded":
        limit = problem.get("limit") or {}
        amount = f"{limit.get('amount', '')} {limit.get('currency', '')}".strip()
        if (problem.get("rule") or {}).get("id") == "single_item_over_limit":
            return _single_item_refused(problem, amount, translate)
        if problem.get("scope") == "annual":
            return translate(
                "This order would take the buyer's cross-border purchases this year over the "
                "{limit} allowance of Chinese customs.",
                limit=amount,
            )
        return translate(
            "This order is above the {limit} per-order limit of Chinese customs for "
            "cross-border goods. Split it into smaller orders.",
            limit=amount,
        )
    if code == "pickup_points_unavailable":
        return translate(
            "The pickup points cannot be shown right now. Choose delivery to the door, or "
            "try again in a few minutes."
        )
    if code == "validation_error" and _names_delivery_point(problem.get("errors")):
        return translate("Choose one of the pickup points in the list, or delivery to the door.")
    if code == "cart_checked_out":
        return translate("This cart has already been checked out.")
    if code == "not_found":
        return translate("Your cart has expired. Please add the goods again.")
    if code in ("concurrent_change", "database_unavailable", "service_unavailable"):
        return translate("Many people are checking out right now. Please try again.")
    if code == "idempotency_in_progress":
        return translate("Your order is still being placed. Wait a moment, then reload the page.")
    if code == "idempotency_key_reused":
        return translate("This checkout form was already sent. Reload the page to check out again.")
    if code == "unknown_currency":
        return translate("Prices cannot be shown in this currency; choose another one.")
    return str(problem.get("detail") or problem.get("title") or translate("Something went wrong."))
