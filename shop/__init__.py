"""The SCO Pavilion application: factory, configuration, errors, auth and CLI."""

from shop.app import create_app

__all__ = ["create_app"]
