"""What the catalog needs from the packages above it, declared here and filled in at start.

The catalog sits below orders and the warehouse (README, "Architecture") and may not
import them, yet its answers show stock and delivery windows, the merchant API sets
stock, and a SKU still in an order that has not shipped must not be deleted. So the
catalog declares each need as a ``Protocol`` here, the package that knows the answer
implements it (``warehouse.catalog_ports``, ``orders.merchant_orders``), and
``shop.app`` connects the implementations when it builds the app.

A catalog used without them (a script that never built the app) fails at the first
use with ``PortNotConnected``, naming the port: an empty answer instead would show
every product as out of stock, or let a SKU in an open order be deleted.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

if TYPE_CHECKING:
    from sqlalchemy import ColumnElement, ScalarSelect, Select

    from catalog.models import Product, Sku
    from catalog.money import Money, RateTable


class PortNotConnected(RuntimeError):
    """A port the catalog needs has no implementation in this process."""


# ---------------------------------------------------------------- stock


@dataclass(frozen=True)
class NodeStock:
    """One SKU's count at one node, as the merchant API shows and checks it."""

    node: str
    on_hand: int
    reserved: int
    # The stock's own row, handed back unchanged in an ``OnHandUpdate`` so the
    # write touches the row that was read.
    level_id: int


@dataclass(frozen=True)
class OnHandUpdate:
    """Set the on-hand count of a SKU at a node (by code)."""

    sku_id: int
    node: str
    on_hand: int
    seen: NodeStock | None  # the count the change was planned against; None: no row yet


class StockPort(Protocol):
    """Stock per SKU and node: what shoppers may buy, what merchants keep."""

    def available_units(self, skus: ColumnElement[bool]) -> ScalarSelect[Any]:
        """SQL for the units available to sell (on hand less reserved, active nodes
        only) summed over the SKUs that the condition ``skus`` on ``Sku`` selects.

        SQL rather than numbers: a catalog page filters and sorts by it in the same
        statement that pages the products. The caller correlates it."""
        ...

    def with_stock_by_node(self, skus: Select[Any]) -> Select[Any]:
        """``skus`` (a SELECT with ``Sku`` in its FROM) with two more columns, the
        code of an active node and the units available there, one row per SKU and
        node (``None, None`` for a SKU with no stock), nodes in priority order
        after the caller's own order."""
        ...

    def node_codes(self) -> frozenset[str]:
        """Every node a merchant may set stock at."""
        ...

    def counts(self, sku_ids: Sequence[int]) -> dict[int, list[NodeStock]]:
        """The stock of each SKU by node (SKUs without any are left out). The caller
        keeps ``sku_ids`` to a few hundred per call."""
        ...

    def set_on_hand(self, updates: Sequence[OnHandUpdate], *, reason: str, actor: str) -> None:
        """Write on-hand counts in the caller's transaction; reserved units stay."""
        ...


# ---------------------------------------------------------------- delivery


@dataclass(frozen=True)
class DeliveryOption:
    """Whether one unit of a SKU can reach ``country``, and if so how."""

    country: str
    deliverable: bool
    nodes: tuple[str, ...] = ()  # every node that could ship it there
    reason: str | None = None  # why not, when not deliverable
    node: str | None = None  # the node the plan ships from
    lane: str | None = None
    transit_days: tuple[int, int] | None = None  # (min, max)
    delivery: tuple[date, date] | None = None  # (from, by)
    shipping: Money | None = None

    def as_json(self) -> dict[str, Any]:
        if not self.deliverable:
            return {
                "country": self.country,
                "deliverable": False,
                "nodes": list(self.nodes),
                "reason": self.reason,
            }
        return {
            "country": self.country,
            "deliverable": True,
            "nodes": list(self.nodes),
            "node": self.node,
            "lane": self.lane,
            "transit_days": {"min": self.transit_days[0], "max": self.transit_days[1]},
            "delivery": {
                "from": self.delivery[0].isoformat(),
                "by": self.delivery[1].isoformat(),
            },
            "shipping": self.shipping.as_json(),
        }


class DeliveryPort(Protocol):
    """Delivery windows and shipping costs, as checkout would plan them."""

    def options(
        self,
        product: Product,
        category_slug: str,
        sku: Sku,
        stock: Mapping[tuple[str, str], int],
        rates: RateTable,
        currency: str,
        only: str | None = None,
    ) -> list[DeliveryOption]:
        """For each destination served (or only ``only``): can one unit of ``sku``
        get there from the ``stock`` ((node, SKU code) -> units available), with
        costs in ``currency``."""
        ...


# ---------------------------------------------------------------- orders


class OpenOrdersPort(Protocol):
    """What orders still need of a SKU."""

    def unshipped_lines(self, sku_id: int) -> int:
        """How many order lines of ``sku_id`` belong to orders not shipped yet."""
        ...


# ---------------------------------------------------------------- connecting

Port = TypeVar("Port")

_connected: dict[type, Any] = {}


def connect(kind: type[Port], implementation: Port) -> None:
    """Make ``implementation`` answer for the port ``kind`` in this process (``shop.app``
    calls this at start; building the app again replaces it with its equal)."""
    _connected[kind] = implementation


def port(kind: type[Port]) -> Port:
    """The implementation connected for the port ``kind``."""
    try:
        return _connected[kind]
    except KeyError:
        raise PortNotConnected(
            f"The catalog's {kind.__name__} is not connected. Build the app with "
            "shop.create_app(), which connects it (shop.app._connect_packages), or "
            f"call catalog.ports.connect({kind.__name__}, ...) first."
        ) from None
