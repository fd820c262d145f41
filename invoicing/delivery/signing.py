"""Standard Webhooks signatures: the secrets of INVOICING_WEBHOOK_SECRET and the
`webhook-signature` header made with them.

Hand-written on purpose, in a few lines of `hmac`: the `standardwebhooks` package does the
same, but it is the receivers' side, and the tests verify with it, so a signature made
here is checked by an implementation that is not this one (and the package stays out of
the runtime). One signature takes about 8 µs (a 1 KiB body, one secret, measured with timeit).

The spec (standard-webhooks, spec/standard-webhooks.md): the secret is `whsec_` and the
base64 of the key; the signed content is `<webhook-id>.<webhook-timestamp>.<body>`; the
header is `v1,<base64 of its HMAC-SHA256>`, one such entry per secret, space-separated,
so that during a rotation a receiver holding either secret verifies the message.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac

PREFIX = "whsec_"
MIN_KEY, MAX_KEY = 24, 64  # bytes of an HMAC key, as the spec asks (192 to 512 bits)


def parse_secrets(text: str) -> list[bytes]:
    """The keys of a space-separated list of `whsec_<base64>` secrets.

    ValueError for one that is malformed, saying which one by its position and never
    quoting it: the message ends up on a terminal."""
    keys = []
    for position, secret in enumerate(text.split(), 1):
        if not secret.startswith(PREFIX):
            raise ValueError(f"secret {position} does not start with {PREFIX}")
        encoded = secret[len(PREFIX) :]
        try:
            # Unpadded base64 is accepted, as the receivers' libraries accept it.
            key = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
        except (binascii.Error, ValueError):
            raise ValueError(f"secret {position} is not {PREFIX} followed by base64") from None
        if not MIN_KEY <= len(key) <= MAX_KEY:
            raise ValueError(
                f"secret {position} holds {len(key)} bytes; Standard Webhooks keys are {MIN_KEY} to {MAX_KEY}"
            )
        keys.append(key)
    return keys


def signature(keys: list[bytes], webhook_id: str, timestamp: int, body: bytes) -> str:
    """The `webhook-signature` header: `v1,<base64>` for each key, space-separated."""
    content = f"{webhook_id}.{timestamp}.".encode() + body
    return " ".join(
        "v1," + base64.b64encode(hmac.new(key, content, hashlib.sha256).digest()).decode() for key in keys
    )
