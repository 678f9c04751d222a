"""One-time secrets as operators receive them: never the secret itself after the
answer that hands it over (tokens as operators see them: ``shop.core.auth.token_json``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Issued:
    """Something made with a secret the caller sees once (a token, a password)."""

    document: dict[str, Any]
    token: str | None = None
    password: str | None = None
