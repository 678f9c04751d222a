"""Placeholder: filled in by the storefront work."""
