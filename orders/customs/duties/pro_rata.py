"""Splitting an amount over lines in proportion to their values, to the last unit."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from orders.customs.duties.assessment import ZERO


def allocate_pro_rata(total: Decimal, weights: Sequence[Decimal]) -> list[Decimal]:
    """Split ``total`` in proportion to ``weights``; equal parts if they are all zero.

    The last share takes the remainder, so the shares add up to ``total`` exactly.
    """
    if not weights:
        return []
    base = sum(weights, ZERO)
    if base == 0:
        weights = [Decimal(1)] * len(weights)
        base = Decimal(len(weights))
    shares = [total * weight / base for weight in weights[:-1]]
    shares.append(total - sum(shares, ZERO))
    return shares
