"""The full PRC ID number at rest: encrypted with the configured Fernet key(s), or a key
derived from SECRET_KEY outside production; never readable with another key."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet

from orders.customs.id_vault import (
    IdVaultUnavailable,
    UndecryptableIdNumber,
    derive_key,
    vault_from_settings,
)

ID_NUMBER = "11010519491231002X"


def vault(key=None, secret="a-secret-key", environment="development"):  # noqa: S107 - a test secret
    return vault_from_settings(encryption_key=key, secret_key=secret, environment=environment)


def test_a_number_encrypts_to_a_token_that_hides_it_and_decrypts_back():
    keys = vault(Fernet.generate_key().decode())
    token = keys.encrypt(ID_NUMBER)
    assert ID_NUMBER not in token
    assert "002X" not in token
    assert len(token) <= 255, "fits the orders.customs_id_encrypted column"
    assert keys.decrypt(token) == ID_NUMBER


def test_the_same_number_encrypts_differently_each_time():
    keys = vault(Fernet.generate_key().decode())
    assert keys.encrypt(ID_NUMBER) != keys.encrypt(ID_NUMBER)


def test_another_key_cannot_read_it():
    token = vault(Fernet.generate_key().decode()).encrypt(ID_NUMBER)
    with pytest.raises(UndecryptableIdNumber) as refused:
        vault(Fernet.generate_key().decode()).decrypt(token)
    assert ID_NUMBER not in str(refused.value)


def test_a_tampered_token_is_refused():
    keys = vault(Fernet.generate_key().decode())
    token = keys.encrypt(ID_NUMBER)
    tampered = token[:-6] + ("A" if token[-6] != "A" else "B") + token[-5:]
    with pytest.raises(UndecryptableIdNumber):
        keys.decrypt(tampered)


def test_without_a_key_development_derives_one_from_the_secret_key():
    token = vault(secret="first-secret").encrypt(ID_NUMBER)
    assert vault(secret="first-secret").decrypt(token) == ID_NUMBER
    with pytest.raises(UndecryptableIdNumber):
        vault(secret="another-secret").decrypt(token)


def test_the_derived_key_is_a_fernet_key_and_not_the_secret_itself():
    derived = derive_key("first-secret")
    Fernet(derived)  # a valid key: 32 bytes, url-safe base64
    assert derived == derive_key("first-secret")
    assert derived != derive_key("another-secret")
    assert b"first-secret" not in derived


def test_production_refuses_to_work_without_its_own_key():
    with pytest.raises(IdVaultUnavailable, match="PAVILION_ID_ENCRYPTION_KEY"):
        vault(None, environment="production")
    assert vault(Fernet.generate_key().decode(), environment="production")


def test_a_malformed_key_is_refused_without_repeating_it():
    with pytest.raises(IdVaultUnavailable) as refused:
        vault("not-a-fernet-key-at-all")
    assert "not-a-fernet-key-at-all" not in str(refused.value)
    assert "key 1" in str(refused.value)


def test_keys_rotate_the_first_encrypts_and_any_decrypts():
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    written_before = vault(old).encrypt(ID_NUMBER)
    rotated = vault(f"{new}, {old}")
    assert rotated.decrypt(written_before) == ID_NUMBER
    written_after = rotated.encrypt(ID_NUMBER)
    assert vault(new).decrypt(written_after) == ID_NUMBER
    with pytest.raises(UndecryptableIdNumber):
        vault(old).decrypt(written_after)


def test_the_vault_never_shows_its_keys():
    key = Fernet.generate_key().decode()
    assert key not in repr(vault(key))
