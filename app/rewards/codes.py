"""Codes and ids the rewards make: unguessable, and easy to read aloud or type."""

import secrets

# No 0/O, 1/I/L: a code read aloud or typed from a receipt cannot be misread.
ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
COUPON_CODE_LENGTH = 12  # 31^12: about 59 bits


def new_code(length: int = COUPON_CODE_LENGTH) -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(length))


def new_claim_id() -> str:
    return f"clm_{secrets.token_hex(10)}"
