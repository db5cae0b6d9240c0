"""DingTalk callback crypto as the platform applies it (the sandbox's own, independent code).

``encrypt`` = base64(AES-256-CBC(PKCS7 to 32-byte blocks(16 random bytes + 4-byte big-endian
length + message + app key))), key = base64decode(aes_key + "="), IV = key[:16];
``msg_signature`` = sha1(''.join(sorted([token, timestamp, nonce, encrypt]))).
"""

import base64
import hashlib
import os
import struct

from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

__all__ = ["open_sealed", "seal", "sign"]


def _key(aes_key: str) -> bytes:
    return base64.b64decode(aes_key + "=")


def sign(token: str, timestamp: str, nonce: str, encrypt: str) -> str:
    """The ``msg_signature`` of one callback."""
    parts = sorted([token, timestamp, nonce, encrypt])
    return hashlib.sha1("".join(parts).encode()).hexdigest()  # noqa: S324 - DingTalk's scheme


def seal(aes_key: str, owner: str, message: str) -> str:
    """Encrypt ``message`` for ``owner`` (the app key)."""
    key = _key(aes_key)
    body = message.encode()
    plain = os.urandom(16) + struct.pack("!I", len(body)) + body + owner.encode()
    padder = padding.PKCS7(256).padder()
    padded = padder.update(plain) + padder.finalize()
    encryptor = Cipher(algorithms.AES(key), modes.CBC(key[:16])).encryptor()
    return base64.b64encode(encryptor.update(padded) + encryptor.finalize()).decode()


def open_sealed(aes_key: str, encrypt: str) -> tuple[str, str]:
    """Decrypt an ``encrypt`` text; returns (message, owner).

    Raises:
        ValueError: Not a valid ciphertext for this key.
    """
    key = _key(aes_key)
    decryptor = Cipher(algorithms.AES(key), modes.CBC(key[:16])).decryptor()
    padded = decryptor.update(base64.b64decode(encrypt)) + decryptor.finalize()
    unpadder = padding.PKCS7(256).unpadder()
    plain = unpadder.update(padded) + unpadder.finalize()
    (length,) = struct.unpack("!I", plain[16:20])
    return plain[20 : 20 + length].decode(), plain[20 + length :].decode()
