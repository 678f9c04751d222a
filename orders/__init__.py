"""Carts, checkout, orders, duties and payment adapters (arrives with the checkout issue)."""
