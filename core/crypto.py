"""Encryption at rest: AES-256-GCM envelopes under a master key.

Each record gets its own random data key; the data is sealed with it (AES-256-GCM, the
record's id as associated data, so a ciphertext cannot be moved to another row), and the data
key is wrapped by the master key (AES-256-GCM again). A record stores the master key's id, the
wrapped data key, the nonce and the ciphertext; never the plaintext, never the data key.

Master keys: `CHIMERA_SECRET_KEY` (base64 of 32 random bytes; several, comma-separated, the
first is the current one) or `CHIMERA_SECRET_KEY_FILE` (one key a line, the first current;
the local stack's is `<state>/secret.key`, created owner-only by `chimera stack up`). A key's id
is derived from the key itself, so a wrong key is recognised before anything is decrypted.

Rotation (`chimera keys rotate`) re-wraps each record's data key under the new current key: the
ciphertexts stay, no downtime. A process that meets a key id it does not know re-reads its key
file once, so running agents pick up a rotated file without a restart.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from core.errors import ConfigError
from core.private import private_dir

if TYPE_CHECKING:
    from core.settings import Settings

KEY_BYTES = 32
NONCE_BYTES = 12


class DecryptionError(ConfigError):
    """A record cannot be opened: unknown master key, or it was tampered with."""


def key_id(key: bytes) -> str:
    """The id stored with records sealed under `key` (not secret: a hash of the key)."""
    return hashlib.sha256(b"chimera-master-key:" + key).hexdigest()[:16]


def generate_key() -> str:
    """A new master key, as it is written in CHIMERA_SECRET_KEY or a key file."""
    return base64.urlsafe_b64encode(secrets.token_bytes(KEY_BYTES)).decode()


def parse_key(text: str, where: str) -> bytes:
    try:
        raw = base64.urlsafe_b64decode(text.strip().replace("+", "-").replace("/", "_"))
    except (binascii.Error, ValueError):
        raise ConfigError(f"{where}: a master key is not base64") from None
    if len(raw) != KEY_BYTES:
        raise ConfigError(f"{where}: a master key must be {KEY_BYTES} bytes, got {len(raw)}")
    return raw


@dataclass(frozen=True)
class Sealed:
    """One encrypted record as it is stored."""

    key_id: str
    wrapped_key: bytes  # nonce + AES-GCM(master, data key)
    nonce: bytes
    ciphertext: bytes


class Keyring:
    """The master keys of this process: the current one seals, any of them opens."""

    def __init__(self, keys: list[bytes], source: Path | None = None) -> None:
        if not keys:
            raise ConfigError("no master key")
        self._keys = {key_id(k): k for k in keys}
        self.current_id = key_id(keys[0])
        self.source = source

    @property
    def ids(self) -> list[str]:
        return list(self._keys)

    # --- loading ----------------------------------------------------------------------------
    @classmethod
    def from_text(cls, text: str, where: str, source: Path | None = None) -> Keyring:
        lines = [
            part.strip()
            for line in text.replace(",", "\n").splitlines()
            if (part := line.split("#", 1)[0]).strip()
        ]
        if not lines:
            raise ConfigError(f"{where} holds no master key")
        return cls([parse_key(line, where) for line in lines], source)

    @classmethod
    def from_file(cls, path: Path) -> Keyring:
        try:
            mode = path.stat().st_mode
            text = path.read_text()
        except FileNotFoundError:
            raise ConfigError(
                f"no master key: {path} does not exist (set CHIMERA_SECRET_KEY or "
                "CHIMERA_SECRET_KEY_FILE; `chimera keys generate` prints a new key)"
            ) from None
        if mode & 0o077:
            raise ConfigError(f"master key file {path} is readable by others: chmod 600 {path}")
        return cls.from_text(text, str(path), source=path)

    def reload(self) -> bool:
        """Re-read the key file (after a rotation by another process). True if it changed."""
        if self.source is None:
            return False
        fresh = Keyring.from_file(self.source)
        changed = fresh._keys.keys() != self._keys.keys() or fresh.current_id != self.current_id
        self._keys, self.current_id = fresh._keys, fresh.current_id
        return changed

    # --- sealing ------------------------------------------------------------------------------
    def _master(self, kid: str) -> bytes:
        if kid not in self._keys and self.reload() and kid in self._keys:
            return self._keys[kid]
        if kid not in self._keys:
            raise DecryptionError(
                f"a record is sealed under master key {kid}, which is not configured "
                f"(configured: {', '.join(self.ids)}): set the key it was written with"
            )
        return self._keys[kid]

    def _wrap(self, kid: str, data_key: bytes) -> bytes:
        nonce = os.urandom(NONCE_BYTES)
        return nonce + AESGCM(self._keys[kid]).encrypt(nonce, data_key, kid.encode())

    def _unwrap(self, sealed: Sealed) -> bytes:
        master = self._master(sealed.key_id)
        nonce, body = sealed.wrapped_key[:NONCE_BYTES], sealed.wrapped_key[NONCE_BYTES:]
        try:
            return AESGCM(master).decrypt(nonce, body, sealed.key_id.encode())
        except InvalidTag:
            raise DecryptionError(f"a data key under {sealed.key_id} does not open") from None

    def seal(self, plaintext: bytes, context: str) -> Sealed:
        """Encrypt `plaintext` for the record `context` (its id) under a fresh data key."""
        data_key = AESGCM.generate_key(bit_length=256)
        nonce = os.urandom(NONCE_BYTES)
        ciphertext = AESGCM(data_key).encrypt(nonce, plaintext, context.encode())
        return Sealed(self.current_id, self._wrap(self.current_id, data_key), nonce, ciphertext)

    def open(self, sealed: Sealed, context: str) -> bytes:
        """Decrypt a record sealed for `context`; DecryptionError if it does not open."""
        data_key = self._unwrap(sealed)
        try:
            return AESGCM(data_key).decrypt(sealed.nonce, sealed.ciphertext, context.encode())
        except InvalidTag:
            raise DecryptionError("a record does not open (tampered, or another row's)") from None

    def rewrap(self, sealed: Sealed) -> Sealed:
        """The same record with its data key wrapped under the current master key."""
        data_key = self._unwrap(sealed)
        return Sealed(
            self.current_id, self._wrap(self.current_id, data_key), sealed.nonce, sealed.ciphertext
        )


def load_keyring(secret_key: str | None, key_file: Path | None) -> Keyring:
    """The keyring from CHIMERA_SECRET_KEY, else the key file; a one-line ConfigError if none
    is configured or a key is malformed. Never a plaintext fallback."""
    if secret_key:
        return Keyring.from_text(secret_key, "CHIMERA_SECRET_KEY")
    if key_file is None:
        raise ConfigError(
            "no master key: set CHIMERA_SECRET_KEY or CHIMERA_SECRET_KEY_FILE "
            "(`chimera keys generate` prints a new key)"
        )
    return Keyring.from_file(key_file)


def ensure_key_file(path: Path) -> bool:
    """Create a key file with one new master key (owner-only) unless it exists. True if made."""
    if path.exists():
        return False
    private_dir(path.parent)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(generate_key() + "\n")
    return True


def prepend_key(path: Path, key: str) -> None:
    """Make `key` the current key of the key file, keeping the others (atomic, 0600)."""
    from core.credentials import write_private

    old = path.read_text() if path.exists() else ""
    write_private(path, key + "\n" + old)


def keyring_for(settings: Settings) -> Keyring:
    """The keyring `settings` name (CHIMERA_SECRET_KEY, else the key file in force)."""
    secret = settings.secret_key.get_secret_value() if settings.secret_key else None
    return load_keyring(secret, settings.secret_key_path)
