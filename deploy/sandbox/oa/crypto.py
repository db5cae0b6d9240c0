"""Feishu/Lark event crypto: AES-256-CBC bodies and request signatures (pure functions).

Key = sha256(Encrypt Key); a random 16-byte IV is prepended to the PKCS7-padded ciphertext and
the whole is base64-encoded into `{"encrypt": ...}`. `X-Lark-Signature` is
sha256(timestamp + nonce + encrypt_key + raw body), hex.
"""

import base64
import hashlib
import os

from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

__all__ = ["decrypt", "encrypt", "sign"]

_BLOCK = 16


def _key(encrypt_key: str) -> bytes:
    return hashlib.sha256(encrypt_key.encode()).digest()


def encrypt(encrypt_key: str, plaintext: str, *, iv: bytes | None = None) -> str:
    """Return base64(IV + AES-256-CBC(PKCS7(plaintext))) as Feishu puts it in `encrypt`.

    Args:
        encrypt_key: the app's Encrypt Key as shown in the developer console.
        plaintext: the event JSON.
        iv: a fixed IV for tests; random when omitted.
    """
    iv = iv if iv is not None else os.urandom(_BLOCK)
    if len(iv) != _BLOCK:
        raise ValueError("the IV must be 16 bytes")
    padder = padding.PKCS7(128).padder()
    padded = padder.update(plaintext.encode()) + padder.finalize()
    encryptor = Cipher(algorithms.AES(_key(encrypt_key)), modes.CBC(iv)).encryptor()
    return base64.b64encode(iv + encryptor.update(padded) + encryptor.finalize()).decode()


def decrypt(encrypt_key: str, encrypted: str) -> str:
    """Reverse `encrypt` (what a receiving app does).

    Raises:
        ValueError: the text is not a valid ciphertext for this key.
    """
    raw = base64.b64decode(encrypted)
    if len(raw) < 2 * _BLOCK or len(raw) % _BLOCK:
        raise ValueError("invalid ciphertext length")
    decryptor = Cipher(algorithms.AES(_key(encrypt_key)), modes.CBC(raw[:_BLOCK])).decryptor()
    padded = decryptor.update(raw[_BLOCK:]) + decryptor.finalize()
    unpadder = padding.PKCS7(128).unpadder()
    return (unpadder.update(padded) + unpadder.finalize()).decode()


def sign(timestamp: str, nonce: str, encrypt_key: str, body: bytes) -> str:
    """Return the `X-Lark-Signature` value for one pushed request body."""
    return hashlib.sha256((timestamp + nonce + encrypt_key).encode() + body).hexdigest()
