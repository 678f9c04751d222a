"""The SCO Pavilion application: factory, configuration, web layer and CLI.

``shop.core`` is the ground every domain package stands on. Importing it must
not build the app, so ``create_app`` is looked up here only when asked for
(``from shop import create_app``, ``flask --app shop``).
"""

from __future__ import annotations

from typing import Any

__all__ = ["create_app"]


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from shop.app import create_app

        return create_app
    raise AttributeError(f"module 'shop' has no attribute {name!r}")
