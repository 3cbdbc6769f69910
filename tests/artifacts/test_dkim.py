"""Real DKIM: mail signed with a key verifies against the record mailstack publishes for it.

The key is a fresh RSA 2048 key in the formats pulumi-tls emits (PKCS#1 private
PEM, SubjectPublicKeyInfo public PEM). The record goes through mailstack's own
builder and is served to dkimpy joined from its 255-character strings, the way
a resolver hands a multi-string TXT record to a verifier.
"""

from __future__ import annotations

from collections.abc import Callable

import dkim
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from components.mail_records import (
    TXT_STRING_MAX,
    DmarcParams,
    MailRecordParams,
    RecordValues,
    build_records,
    dkim_public_key_base64,
    txt_strings,
)

DOMAIN, SELECTOR = "example.com", "ms202611"
MESSAGE = (
    b"From: News <noreply@example.com>\r\n"
    b"To: reader@example.org\r\n"
    b"Subject: Welcome\r\n"
    b"Date: Mon, 02 Nov 2026 09:00:00 +0000\r\n"
    b"Message-ID: <welcome-1@example.com>\r\n"
    b"\r\n"
    b"Hello, and thanks for subscribing.\r\n"
)


def new_key() -> tuple[bytes, str]:
    """(PKCS#1 private PEM, SubjectPublicKeyInfo public PEM), as pulumi-tls gives them."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return private, public.decode()


@pytest.fixture(scope="module")
def key() -> tuple[bytes, str]:
    return new_key()


def published_dkim_content(public_pem: str) -> str:
    """The TXT content mailstack gives Cloudflare for this selector."""
    params = MailRecordParams(
        domain=DOMAIN,
        app_host=f"app.{DOMAIN}",
        mail_host=f"mail.{DOMAIN}",
        dmarc=DmarcParams("none", f"dmarc@{DOMAIN}"),
        dkim_selectors=(SELECTOR,),
    )
    values = RecordValues(
        "203.0.113.5", "2001:db8::5", {SELECTOR: dkim_public_key_base64(public_pem)}
    )
    (record,) = [r for r in build_records(params, values) if r.key == f"dkim-{SELECTOR}"]
    assert record.name == f"{SELECTOR}._domainkey.{DOMAIN}" and record.type == "TXT"
    return record.content


def serve(content: str, asked: list[bytes]) -> Callable[..., bytes | None]:
    """A dnsfunc answering only the selector's name, with the strings joined."""

    def dnsfunc(name: bytes, timeout: int = 5) -> bytes | None:
        asked.append(name)
        if name.rstrip(b".") == f"{SELECTOR}._domainkey.{DOMAIN}".encode():
            return "".join(txt_strings(content)).encode()
        return None

    return dnsfunc


def sign(private_pem: bytes, message: bytes = MESSAGE) -> bytes:
    signature: bytes = dkim.sign(
        message,
        SELECTOR.encode(),
        DOMAIN.encode(),
        private_pem,
        include_headers=[b"from", b"to", b"subject", b"date", b"message-id"],
    )
    return signature + message


def test_record_is_split_into_strings_of_at_most_255(key: tuple[bytes, str]) -> None:
    content = published_dkim_content(key[1])
    strings = txt_strings(content)
    assert len(strings) == 2  # a 2048-bit key's record is about 410 characters
    assert all(len(s) <= TXT_STRING_MAX for s in strings)
    assert len(strings[0]) == TXT_STRING_MAX
    assert content == " ".join(f'"{s}"' for s in strings)


def test_signed_message_verifies_against_the_published_record(key: tuple[bytes, str]) -> None:
    asked: list[bytes] = []
    signed = sign(key[0])
    assert dkim.verify(signed, dnsfunc=serve(published_dkim_content(key[1]), asked))
    assert [a.rstrip(b".") for a in asked] == [f"{SELECTOR}._domainkey.{DOMAIN}".encode()]


def test_tampered_message_fails(key: tuple[bytes, str]) -> None:
    signed = sign(key[0])
    tampered = signed.replace(b"thanks for subscribing", b"click here to win")
    assert tampered != signed
    assert not dkim.verify(tampered, dnsfunc=serve(published_dkim_content(key[1]), []))
    resubjected = signed.replace(b"Subject: Welcome", b"Subject: Urgent")
    assert not dkim.verify(resubjected, dnsfunc=serve(published_dkim_content(key[1]), []))


def test_message_signed_with_another_key_fails(key: tuple[bytes, str]) -> None:
    other_private, _ = new_key()
    signed = sign(other_private)
    assert not dkim.verify(signed, dnsfunc=serve(published_dkim_content(key[1]), []))


def test_record_from_only_one_string_fails(key: tuple[bytes, str]) -> None:
    """A resolver that dropped the second string would break verification: both matter."""
    first = txt_strings(published_dkim_content(key[1]))[0]
    signed = sign(key[0])
    assert not dkim.verify(signed, dnsfunc=lambda name, timeout=5: first.encode())
