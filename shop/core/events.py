"""Domain events: how a lower package tells a higher one what happened.

The warehouse must not set an order's status, yet an order follows its parcels.
So the warehouse *announces* (``publish(ShipmentsChanged(...))``) and orders
*listen* (``subscribe(ShipmentsChanged, handler)``, wired once at app start by
``shop.app``). Handlers run at once, in the publisher's thread and database
transaction: what they change commits or rolls back with the change that
caused it, and an exception in a handler fails the publisher's unit of work
like any other error there.

Events are frozen dataclasses owned by the package that publishes them; this
module knows none of them. The README's "Architecture" section lists which
events exist and who listens.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

Event = TypeVar("Event")
Handler = Callable[[Any], None]

_handlers: dict[type, list[Handler]] = {}


def subscribe(event_type: type[Event], handler: Callable[[Event], None]) -> None:
    """Call ``handler(event)`` for every published ``event_type``. Subscribing the
    same handler twice (an app built twice in one process) keeps one."""
    handlers = _handlers.setdefault(event_type, [])
    if handler not in handlers:
        handlers.append(handler)


def publish(event: Any) -> None:
    """Run every handler of ``type(event)``, in the order they subscribed."""
    for handler in tuple(_handlers.get(type(event), ())):
        handler(event)


def listeners(event_type: type) -> tuple[Handler, ...]:
    """Who listens to ``event_type`` (for tests and the README's table)."""
    return tuple(_handlers.get(event_type, ()))
