"""Fulfilment nodes, stock, routing, shipments, pick lists and carrier adapters."""
