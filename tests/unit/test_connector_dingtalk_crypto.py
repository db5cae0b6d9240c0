"""DingTalk callback crypto: ours and the sandbox's own code open each other's messages.

Fails closed on a wrong key, a wrong app or a forged signature.
"""

import base64
import hashlib

import pytest

from bizbus.connectors.dingtalk.crypto import DingTalkCrypto, aes_key_bytes, signature
from bizbus.deploy.sandbox.dingtalk import crypto as platform

AES_KEY = base64.b64encode(bytes(range(32))).decode().rstrip("=")
APP_KEY = "dingtestappkey"
TOKEN = "callback-token"  # noqa: S105 - a test value


@pytest.fixture
def crypto() -> DingTalkCrypto:
    return DingTalkCrypto(TOKEN, AES_KEY, [APP_KEY])


@pytest.mark.parametrize("message", ["success", '{"EventType":"check_url"}', "审批" * 40, "x" * 12])
def test_what_we_seal_the_platform_opens_and_back(crypto: DingTalkCrypto, message: str) -> None:
    assert platform.open_sealed(AES_KEY, crypto.encrypt(message)) == (message, APP_KEY)
    assert crypto.decrypt(platform.seal(AES_KEY, APP_KEY, message)) == message


def test_the_ciphertext_pads_to_32_byte_blocks(crypto: DingTalkCrypto) -> None:
    sealed = base64.b64decode(crypto.encrypt("a", random=bytes(16)))
    assert len(sealed) == 64  # 16 + 4 + 1 + 14 = 35 bytes, padded to two 32-byte blocks


def test_the_signature_is_sha1_of_the_sorted_parts() -> None:
    parts = ("token", "1700000000000", "nonce", "ENCRYPTED")
    expected = hashlib.sha1("".join(sorted(parts)).encode()).hexdigest()  # noqa: S324
    assert signature(*parts) == expected == platform.sign(*parts)


def test_a_forged_signature_is_not_signed(crypto: DingTalkCrypto) -> None:
    good = signature(TOKEN, "1", "n", "e")
    assert crypto.signed("1", "n", "e", good) and crypto.signed("1", "n", "e", good.upper())
    assert not crypto.signed("1", "n", "e", signature("other-token", "1", "n", "e"))


def test_a_message_for_another_app_or_key_is_refused(crypto: DingTalkCrypto) -> None:
    with pytest.raises(ValueError, match="another app"):
        crypto.decrypt(platform.seal(AES_KEY, "someone-else", "success"))
    other = base64.b64encode(bytes(range(1, 33))).decode().rstrip("=")
    with pytest.raises(ValueError):
        crypto.decrypt(platform.seal(other, APP_KEY, "success"))
    with pytest.raises(ValueError, match="base64"):
        crypto.decrypt("not base64!")


def test_the_corp_id_is_accepted_as_a_second_owner() -> None:
    crypto = DingTalkCrypto(TOKEN, AES_KEY, [APP_KEY, "dingcorp"])
    assert crypto.decrypt(platform.seal(AES_KEY, "dingcorp", "success")) == "success"


@pytest.mark.parametrize("bad", ["short", AES_KEY + "A", "!" * 43])
def test_an_aes_key_must_be_43_characters_of_base64(bad: str) -> None:
    with pytest.raises(ValueError):
        aes_key_bytes(bad)


def test_the_reply_is_a_signed_encrypted_success(crypto: DingTalkCrypto) -> None:
    reply = crypto.reply("success", timestamp="1700000000000", nonce="abc")
    assert reply["msg_signature"] == platform.sign(TOKEN, "1700000000000", "abc", reply["encrypt"])
    assert platform.open_sealed(AES_KEY, reply["encrypt"]) == ("success", APP_KEY)
