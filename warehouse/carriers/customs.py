"""What a carrier's customs paperwork needs from the shop for a parcel that crosses a
border: who sells, who ships, when the invoice was made, and who receives it, by
the identity document the destination's customs ask for.

Carrier-neutral dataclasses: each adapter turns them into its own fields (CDEK's in
``warehouse/carriers/cdek/customs.py``, with the table of which route needs what).

The recipient's identity number never appears whole in a ``repr``, a log line or an
exception: ``RecipientIdentity`` shows itself masked (``1101**********002X``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

IDENTITY_KINDS = ("prc_resident_id", "passport", "tin")


def mask_number(number: str) -> str:
    """The first 4 and last 4 characters, the rest hidden; a short number hidden whole."""
    text = "".join(number.split())
    if len(text) <= 8:
        return "*" * len(text)
    return text[:4] + "*" * (len(text) - 8) + text[-4:]


@dataclass(frozen=True)
class Party:
    """A seller or shipper as the invoice names it. ``tax_id`` is the Russian INN or
    its foreign equivalent (China's unified social credit code, Kazakhstan's BIN...)."""

    name: str
    address: str
    tax_id: str = ""
    phone: str = ""

    def missing(self) -> tuple[str, ...]:
        """The fields an invoice cannot do without, left empty."""
        return tuple(name for name in ("name", "address", "tax_id") if not getattr(self, name))


@dataclass(frozen=True)
class RecipientIdentity:
    """The recipient's identity document, as the order's customs identity holds it.

    ``kind`` is one of ``IDENTITY_KINDS``. The number is only ever shown masked.
    """

    kind: str
    name: str
    number: str = field(repr=False)

    def __post_init__(self):
        if self.kind not in IDENTITY_KINDS:
            raise ValueError(f"an identity is one of {IDENTITY_KINDS}, not {self.kind!r}")

    @property
    def masked(self) -> str:
        return mask_number(self.number)

    def __repr__(self) -> str:
        return f"RecipientIdentity(kind={self.kind!r}, name={self.name!r}, number={self.masked!r})"


@dataclass(frozen=True)
class CustomsDeclaration:
    """The paperwork of one cross-border parcel.

    ``invoice_date`` is the day the shop invoiced the goods (the order's date);
    ``seller`` the seller of record, ``shipper`` who hands the parcel over;
    ``currency`` the currency the recipient paid in. ``recipient_identity`` is
    ``None`` when the order holds none.
    """

    invoice_date: date
    seller: Party
    shipper: Party
    currency: str
    recipient_identity: RecipientIdentity | None = None
