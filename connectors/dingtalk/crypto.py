"""DingTalk callback crypto (``DingCallbackCrypto``): signature and AES-CBC envelope, pure.

``msg_signature`` = sha1 of the sorted concatenation of (token, timestamp, nonce, encrypt), hex.
``encrypt`` = base64(AES-256-CBC(PKCS7/32(random 16 B + 4-byte big-endian length + message +
owner key))) with key = base64decode(EncodingAESKey + "=") and IV = the key's first 16 bytes.
The owner key is the app key (or the corp id of older org callbacks); a message sealed for
another owner is refused.
"""

import base64
import binascii
import hashlib
import hmac
import os
import struct
from collections.abc import Sequence

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

__all__ = ["AES_KEY_LENGTH", "DingTalkCrypto", "aes_key_bytes", "signature"]

AES_KEY_LENGTH = 43
_BLOCK = 32  # DingTalk pads to 32-byte blocks, not AES's 16


def aes_key_bytes(aes_key: str) -> bytes:
    """The 32-byte AES key of a 43-character EncodingAESKey.

    Raises:
        ValueError: Not 43 characters of base64.
    """
    if len(aes_key) != AES_KEY_LENGTH:
        raise ValueError(f"the EncodingAESKey must be {AES_KEY_LENGTH} characters")
    try:
        key = base64.b64decode(aes_key + "=", validate=True)
    except binascii.Error:
        raise ValueError("the EncodingAESKey is not base64") from None
    if len(key) != 32:
        raise ValueError("the EncodingAESKey does not decode to 32 bytes")
    return key


def signature(token: str, timestamp: str, nonce: str, encrypt: str) -> str:
    """Return the ``msg_signature`` of one callback (hex sha1 of the sorted parts)."""
    return hashlib.sha1("".join(sorted((token, timestamp, nonce, encrypt))).encode()).hexdigest()  # noqa: S324 - DingTalk's scheme


class DingTalkCrypto:
    """Seal and open DingTalk callback messages for one app.

    Args:
        token: The callback token (签名 Token) of the event subscription.
        aes_key: The 43-character EncodingAESKey (加密 aes_key).
        owner_keys: Who a message may be sealed for: the app key, then the corp id if any.
    """

    def __init__(self, token: str, aes_key: str, owner_keys: Sequence[str]) -> None:
        if not owner_keys:
            raise ValueError("at least one owner key (the app key) is required")
        self.token = token
        self._key = aes_key_bytes(aes_key)
        self.owner_keys = tuple(owner_keys)

    def signed(self, timestamp: str, nonce: str, encrypt: str, given: str) -> bool:
        """True when ``given`` is the signature of these parts (constant-time compare)."""
        expected = signature(self.token, timestamp, nonce, encrypt)
        return hmac.compare_digest(expected, given.lower())

    def encrypt(self, message: str, *, random: bytes | None = None) -> str:
        """Return the ``encrypt`` text of ``message`` sealed for the first owner key."""
        head = random if random is not None else os.urandom(16)
        body = message.encode()
        plain = head + struct.pack(">I", len(body)) + body + self.owner_keys[0].encode()
        pad = _BLOCK - len(plain) % _BLOCK
        plain += bytes([pad]) * pad
        encryptor = Cipher(algorithms.AES(self._key), modes.CBC(self._key[:16])).encryptor()
        return base64.b64encode(encryptor.update(plain) + encryptor.finalize()).decode()

    def decrypt(self, encrypt: str) -> str:
        """Return the message of an ``encrypt`` text.

        Raises:
            ValueError: Not base64, a bad length or padding (a wrong key), or sealed for
                another owner.
        """
        try:
            data = base64.b64decode(encrypt, validate=True)
        except binascii.Error:
            raise ValueError("encrypt is not base64") from None
        if not data or len(data) % 16:
            raise ValueError("invalid ciphertext length")
        decryptor = Cipher(algorithms.AES(self._key), modes.CBC(self._key[:16])).decryptor()
        plain = decryptor.update(data) + decryptor.finalize()
        pad = plain[-1]
        if not 1 <= pad <= _BLOCK or plain[-pad:] != bytes([pad]) * pad:
            raise ValueError("bad padding (a wrong EncodingAESKey?)")
        plain = plain[:-pad]
        if len(plain) < 20:
            raise ValueError("message too short")
        (length,) = struct.unpack(">I", plain[16:20])
        if 20 + length > len(plain):
            raise ValueError("message length out of range")
        owner = plain[20 + length :].decode(errors="replace")
        if owner not in self.owner_keys:
            raise ValueError("message sealed for another app")
        return plain[20 : 20 + length].decode()

    def reply(self, message: str, *, timestamp: str, nonce: str) -> dict[str, str]:
        """The JSON answer DingTalk expects: ``message`` sealed and signed."""
        encrypt = self.encrypt(message)
        return {
            "msg_signature": signature(self.token, timestamp, nonce, encrypt),
            "timeStamp": timestamp,
            "nonce": nonce,
            "encrypt": encrypt,
        }
