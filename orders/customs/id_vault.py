"""The buyer's full PRC ID number, encrypted at rest for China's customs order record.

Everywhere else the shop keeps and shows the number masked (``1101**********002X``)
and as a keyed hash (``prc_id``); only the order record a customs broker submits
needs it whole. So checkout stores it once more as a Fernet token (AES-128-CBC with
an HMAC-SHA256, from ``cryptography``), and only the customs export decrypts it.

The key is ``ID_ENCRYPTION_KEY`` (env ``PAVILION_ID_ENCRYPTION_KEY``): a Fernet key,
or several separated by commas to rotate them (the first encrypts, any decrypts).
Outside production, when it is unset, a key is derived from ``SECRET_KEY`` with
HKDF under a fixed label, so a development shop works with no setup; production
refuses to encrypt or decrypt without its own key, because a key derived from the
session secret would be lost with it (and ``SECRET_KEY`` rotates for other reasons).

Nothing here logs or puts the number in an exception message.
"""

from __future__ import annotations

import base64

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from flask import current_app

# Changing this label changes every derived key: ciphertexts written before could
# then no longer be read. A new label is a new version, never an edit.
DERIVED_KEY_LABEL = b"sco-pavilion/customs/prc-id-number/fernet/v1"


class IdVaultUnavailable(RuntimeError):
    """The shop has no usable key for ID numbers (production without one, or a bad one)."""


class UndecryptableIdNumber(ValueError):
    """The stored ciphertext is not readable with the configured keys (rotated away,
    or derived from a ``SECRET_KEY`` that has changed since)."""


class IdVault:
    """Encrypts and decrypts ID numbers with the configured key(s)."""

    def __init__(self, keys: list[bytes]):
        if not keys:
            raise IdVaultUnavailable("No key for ID numbers.")
        self._fernet = MultiFernet([Fernet(key) for key in keys])

    def __repr__(self) -> str:  # never show key material, even in a debugger
        return "IdVault(<keys hidden>)"

    def encrypt(self, id_number: str) -> str:
        """The number as an ASCII Fernet token (about 120 characters for 18 digits)."""
        return self._fernet.encrypt(id_number.encode("utf-8")).decode("ascii")

    def decrypt(self, token: str) -> str:
        try:
            return self._fernet.decrypt(token.encode("ascii")).decode("utf-8")
        except (InvalidToken, UnicodeError):
            raise UndecryptableIdNumber(
                "The stored ID number cannot be decrypted with the configured key(s)."
            ) from None


def derive_key(secret_key: str) -> bytes:
    """A Fernet key derived from the app's ``SECRET_KEY`` (HKDF-SHA256, fixed label)."""
    if not secret_key:
        raise IdVaultUnavailable("SECRET_KEY is empty: no key can be derived for ID numbers.")
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=DERIVED_KEY_LABEL)
    return base64.urlsafe_b64encode(derived.derive(secret_key.encode("utf-8")))


def vault_from_settings(
    *, encryption_key: str | None, secret_key: str, environment: str
) -> IdVault:
    """The vault that the settings describe; ``IdVaultUnavailable`` says what is missing
    or malformed (never the key itself)."""
    listed = [part.strip() for part in (encryption_key or "").split(",") if part.strip()]
    if not listed:
        if environment == "production":
            raise IdVaultUnavailable(
                "PAVILION_ID_ENCRYPTION_KEY must be set when PAVILION_ENV=production: "
                "orders to China keep the buyer's ID number encrypted with it."
            )
        return IdVault([derive_key(secret_key)])
    keys = []
    for position, key in enumerate(listed, 1):
        try:
            Fernet(key)
        except ValueError:
            raise IdVaultUnavailable(
                f"PAVILION_ID_ENCRYPTION_KEY: key {position} is not a Fernet key (32 bytes, "
                "url-safe base64; make one with "
                '`python -c "from cryptography.fernet import Fernet; '
                'print(Fernet.generate_key().decode())"`).'
            ) from None
        keys.append(key.encode("ascii"))
    return IdVault(keys)


def current_vault() -> IdVault:
    """The app's vault, built once per app and settings (HKDF is cheap, but not free)."""
    config = current_app.config
    settings = (
        config.get("ID_ENCRYPTION_KEY"),
        config["SECRET_KEY"],
        config.get("PAVILION_ENV", "development"),
    )
    cached = current_app.extensions.get("id_vault")
    if cached is None or cached[0] != settings:
        vault = vault_from_settings(
            encryption_key=settings[0], secret_key=settings[1], environment=settings[2]
        )
        cached = (settings, vault)
        current_app.extensions["id_vault"] = cached
    return cached[1]


def encrypt_id(id_number: str) -> str:
    return current_vault().encrypt(id_number)


def decrypt_id(token: str) -> str:
    """Raises ``UndecryptableIdNumber``; only the customs order record calls this."""
    return current_vault().decrypt(token)
