"""Password hashing with argon2id (argon2-cffi), memory-hard by design."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from core.errors import ValidationError

MIN_LENGTH = 12
_HASHER = PasswordHasher()  # argon2id, the library's current recommended parameters


def check_strength(password: str) -> None:
    """Refuse passwords that are too short to resist guessing."""
    if len(password) < MIN_LENGTH:
        raise ValidationError(
            f"a password needs at least {MIN_LENGTH} characters", code="WEAK_PASSWORD"
        )


def hash_password(password: str) -> str:
    check_strength(password)
    return _HASHER.hash(password)


def verify_password(stored_hash: str, password: str) -> bool:
    """Whether `password` matches `stored_hash` (False for a malformed hash, never raises)."""
    try:
        return _HASHER.verify(stored_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(stored_hash: str) -> bool:
    """Whether the hash was made with weaker parameters than today's (re-hash on login)."""
    return _HASHER.check_needs_rehash(stored_hash)
