"""Remove PII and secrets from data before it is stored or logged (audit data above all).

What goes:

* values of keys that name secrets (`SECRET_NAMES`: authorization, password, token, api_key,
  client_secret, ...), in dicts, in JSON held in a string, in form-encoded bodies and query
  strings (`a=1&client_secret=...`), in `Name: value` headers (`X-Api-Key: ...`);
* credentials after `Bearer`/`Basic`/`Token` when they look like credentials (digits or
  symbols, or mixed case): "Basic Photography Tutorial for Beginners" stays as it is;
* well-known secret shapes: Google API keys, OpenAI-style keys, GitHub classic and
  fine-grained tokens, Slack tokens and webhooks, Stripe keys, AWS access key ids, secret
  access keys after their names, Azure account keys, JWTs, PEM private keys;
* payment card numbers (Luhn-checked, known brand prefixes and lengths), US social security
  numbers (valid area/group/serial), IBANs (mod-97 checksum and country length), public IP
  addresses (end users'; private, loopback and documentation ranges are infrastructure),
  e-mail addresses, phone numbers (international `+..`, NANP, national formats with a trunk 0).

What stays: ids, dates, counts, hashes, words, and URLs without secrets.

`SECRET_NAMES` is the ONE list of secret names: `skills.trends.common` filters query
parameters and scrubs upstream messages with `is_secret_name` and `mask_secret_assignments`.
"""

from __future__ import annotations

import functools
import ipaddress
import json
import re
from typing import Any

MASK = "[REDACTED]"

#: Names whose values are secrets (compared lower-case, `-` as `_`). A name also counts when
#: it ends with `_` + one of `SUFFIXES` (`youtube_api_key`, `x_refresh_token`).
SECRET_NAMES: tuple[str, ...] = (
    "authorization",
    "proxy_authorization",
    "cookie",
    "set_cookie",
    "password",
    "passwd",
    "pwd",
    "passphrase",
    "secret",
    "client_secret",
    "token",
    "access_token",
    "refresh_token",
    "id_token",
    "bearer_token",
    "auth_token",
    "session_token",
    "api_key",
    "apikey",
    "x_api_key",
    "api_token",
    "private_key",
    "secret_key",
    "secret_access_key",
    "access_key",
    "client_key",
    "account_key",
    "accountkey",
    "session",
    "credential",
    "credentials",
    "key",
    "signature",
    "sig",
    "code_verifier",
)
SUFFIXES: tuple[str, ...] = (
    "secret",
    "password",
    "passwd",
    "token",
    "api_key",
    "apikey",
    "private_key",
    "secret_key",
    "access_key",
)

_NAMES = "|".join(sorted((re.escape(n).replace("_", "[_-]") for n in SECRET_NAMES), key=len)[::-1])
_SUFFIX = "|".join(re.escape(s).replace("_", "[_-]") for s in SUFFIXES)
_NAME_RE = re.compile(rf"(?i)^(?:{_NAMES})$|[_-](?:{_SUFFIX})$")
# A secret name as a whole word inside text (for key=value, "key": "value", Key: value).
_NAME_IN_TEXT = rf"(?:[A-Za-z0-9]+[_-])*(?:{_NAMES}|{_SUFFIX})"


@functools.lru_cache(maxsize=4096)
def is_secret_name(name: str) -> bool:
    """Whether a key, parameter or header called `name` holds a secret."""
    return bool(_NAME_RE.search(name.strip()))


# --- Assignments: key=value, "key": "value", Header: value --------------------------------------
_QUOTED_PAIR = re.compile(
    rf"""(?ix)(?P<lead>["'](?P<name>{_NAME_IN_TEXT})["']\s*:\s*)
         (?P<value>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|[^\s,}}\]]+)"""
)
_FORM_PAIR = re.compile(
    rf"(?i)(?P<lead>(?:^|(?<=[?&;\s]))(?P<name>{_NAME_IN_TEXT})=)(?P<value>[^&#\s]*)"
)
_HEADER = re.compile(
    r"(?im)(?P<lead>^[ \t]*(?P<name>(?:proxy-)?authorization|cookie|set-cookie|api-key|"
    r"x-[a-z0-9-]*(?:key|token|secret|auth[a-z]*|signature))[ \t]*:[ \t]*)"
    r"(?P<value>\S.*?)[ \t]*$"
)
# Free text `password: hunter2x9` / `api key = ...`: only when the value looks like a secret.
_LOOSE_PAIR = re.compile(rf"(?i)(?P<lead>\b(?P<name>{_NAME_IN_TEXT})\s*[:=]\s*)(?P<value>\S+)")


def _quoted_value(match: re.Match[str]) -> str:
    value = match.group("value")
    if value[:1] in "\"'":
        return match.group("lead") + value[0] + MASK + value[0]
    return match.group("lead") + f'"{MASK}"' if value not in ("null", "true", "false") else match[0]


def _plain_value(match: re.Match[str]) -> str:
    return match.group("lead") + MASK if match.group("value") else match.group(0)


def _loose_value(match: re.Match[str]) -> str:
    return match.group("lead") + MASK if _credential_like(match.group("value")) else match[0]


def mask_secret_assignments(text: str) -> str:
    """`text` with the values of secret-named fields masked (JSON, form, headers)."""
    text = _QUOTED_PAIR.sub(_quoted_value, text)
    text = _FORM_PAIR.sub(_plain_value, text)
    text = _HEADER.sub(_plain_value, text)
    return _LOOSE_PAIR.sub(_loose_value, text)


# --- Credentials after an auth scheme ------------------------------------------------------------
def _credential_like(word: str) -> bool:
    """A token, not a word: 8+ characters with a digit or symbol, or mixed case inside."""
    word = word.strip("\"'.,;)")
    if len(word) < 8 or MASK in word:
        return False
    if any(ch.isdigit() for ch in word) or any(ch in "._~+/=-" for ch in word):
        return True
    return any(ch.isupper() for ch in word[1:]) and any(ch.islower() for ch in word)


_SCHEME = re.compile(r"(?i)\b(bearer|basic|token|digest)(\s+)([A-Za-z0-9._~+/=-]+)")


def _scheme(match: re.Match[str]) -> str:
    if _credential_like(match.group(3)):
        return f"{match.group(1)}{match.group(2)}{MASK}"
    return match.group(0)


# --- Shapes ---------------------------------------------------------------------------------
_SHAPES: list[re.Pattern[str]] = [
    re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?-----END [A-Z ]*PRIVATE KEY-----", re.S),
    re.compile(r"\bAIza[0-9A-Za-z_-]{35}\b"),  # Google API key
    re.compile(r"\bsk-(?:proj-|ant-)?[A-Za-z0-9_-]{16,}\b"),  # OpenAI / Anthropic style
    re.compile(r"\bgithub_pat_[A-Za-z0-9_]{22,}\b"),  # GitHub fine-grained
    re.compile(r"\bgh[pousr]_[A-Za-z0-9]{20,}\b"),  # GitHub classic
    re.compile(r"\bxox[abposr]-[A-Za-z0-9-]{10,}\b"),  # Slack tokens
    re.compile(r"\bxapp-\d-[A-Za-z0-9-]{10,}\b"),  # Slack app-level token
    re.compile(r"https://hooks\.slack\.com/services/[A-Za-z0-9/_-]+"),  # Slack webhook
    re.compile(r"\b(?:sk|rk|pk)_(?:live|test)_[A-Za-z0-9]{16,}\b"),  # Stripe keys
    re.compile(r"\bwhsec_[A-Za-z0-9]{16,}\b"),  # Stripe webhook secret
    re.compile(r"\b(?:AKIA|ASIA|ABIA|ACCA)[0-9A-Z]{16}\b"),  # AWS access key id
    re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\b"),  # JWT
]

# Payment cards: 13-19 digits, optionally in groups separated by one space or dash.
_CARD = re.compile(r"(?<![\w.-])\d(?:[ -]?\d){12,18}(?![\w-]|\.\d)")
# Brand prefixes (IIN ranges) and lengths: Visa, Mastercard, Amex, Discover, JCB, Diners, UnionPay.
_BRANDS: list[tuple[re.Pattern[str], tuple[int, ...]]] = [
    (re.compile(r"^4"), (13, 16, 19)),
    (re.compile(r"^(?:5[1-5]|2(?:2[2-9]|[3-6]\d|7[01]|720))"), (16,)),
    (re.compile(r"^3[47]"), (15,)),
    (re.compile(r"^(?:6011|65|64[4-9])"), (16, 19)),
    (re.compile(r"^35(?:2[89]|[3-8]\d)"), (16, 19)),
    (re.compile(r"^3(?:0[0-5]|[689])"), (14, 16, 19)),
    (re.compile(r"^62"), (16, 17, 18, 19)),
]


def luhn_valid(digits: str) -> bool:
    total = 0
    for index, ch in enumerate(reversed(digits)):
        n = int(ch)
        if index % 2:
            n = n * 2 - 9 if n > 4 else n * 2
        total += n
    return total % 10 == 0


def is_card_number(text: str) -> bool:
    """A payment card number: a brand's prefix and length, and a valid Luhn check digit."""
    digits = re.sub(r"[ -]", "", text)
    if not digits.isdigit():
        return False
    brand = any(p.match(digits) and len(digits) in lengths for p, lengths in _BRANDS)
    return brand and luhn_valid(digits)


_SSN = re.compile(r"(?<![\w-])(\d{3})-(\d{2})-(\d{4})(?![\w-])")


def _ssn(match: re.Match[str]) -> str:
    area, group, serial = match.groups()
    valid = area not in ("000", "666") and area[0] != "9" and group != "00" and serial != "0000"
    return "[SSN]" if valid else match.group(0)


# IBAN lengths per country (ISO 13616 registry, the commonly used ones).
IBAN_LENGTHS: dict[str, int] = {
    "AD": 24, "AE": 23, "AT": 20, "BA": 20, "BE": 16, "BG": 22, "BH": 22, "BR": 29, "CH": 21,
    "CY": 28, "CZ": 24, "DE": 22, "DK": 18, "EE": 20, "ES": 24, "FI": 18, "FO": 18, "FR": 27,
    "GB": 22, "GE": 22, "GI": 23, "GL": 18, "GR": 27, "HR": 21, "HU": 28, "IE": 22, "IL": 23,
    "IS": 26, "IT": 27, "JO": 30, "KW": 30, "KZ": 20, "LB": 28, "LI": 21, "LT": 20, "LU": 20,
    "LV": 21, "MC": 27, "MD": 24, "ME": 22, "MK": 19, "MT": 31, "MU": 30, "NL": 18, "NO": 15,
    "PK": 24, "PL": 28, "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22, "SA": 24, "SE": 24,
    "SI": 19, "SK": 24, "SM": 27, "TN": 24, "TR": 26, "UA": 29, "VG": 24, "XK": 20,
}  # fmt: skip
_IBAN = re.compile(
    r"(?<![A-Za-z0-9])([A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,4})?)(?![A-Za-z0-9])"
)


def is_iban(text: str) -> bool:
    """An IBAN: a known country's length and a valid ISO 7064 mod-97 checksum."""
    compact = text.replace(" ", "")
    if IBAN_LENGTHS.get(compact[:2]) != len(compact):
        return False
    rearranged = compact[4:] + compact[:4]
    number = "".join(str(int(ch, 36)) for ch in rearranged)
    return int(number) % 97 == 1


_IPV4 = re.compile(r"(?<![\w.])(?:\d{1,3}\.){3}\d{1,3}(?![\w.]|\.\d)")
_IPV6 = re.compile(r"(?<![\w:])(?:[0-9A-Fa-f]{0,4}:){2,7}[0-9A-Fa-f]{0,4}(?![\w:])")


def _public_ip(match: re.Match[str]) -> str:
    try:
        address = ipaddress.ip_address(match.group(0))
    except ValueError:
        return match.group(0)
    return "[IP]" if address.is_global else match.group(0)


_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")
_PHONES = [
    # International: + then 8-15 digits with separators.
    re.compile(r"(?<![\w+])\+\d[\d\s().-]{6,}\d(?!\w)"),
    # NANP: (555) 123-4567, 555-123-4567, 555.123.4567.
    re.compile(r"(?<![\w-])\(?\d{3}\)?[\s.-]\d{3}[\s.-]\d{4}(?![\w-])"),
    # National, with a trunk 0: 020 7946 0958, 07700 900123, 030 12345678, 01 23 45 67 89.
    re.compile(r"(?<![\w.+-])\(?0\d{1,4}\)?(?:[ -]\d{2,8}){1,4}(?![\w.-])"),
]


def _phone(match: re.Match[str]) -> str:
    text = match.group(0)
    digits = sum(ch.isdigit() for ch in text)
    return "[PHONE]" if 9 <= digits <= 15 else text


def _card(match: re.Match[str]) -> str:
    return "[CARD]" if is_card_number(match.group(0)) else match.group(0)


def _iban(match: re.Match[str]) -> str:
    return "[IBAN]" if is_iban(match.group(0)) else match.group(0)


# Cheap gate: a string with none of these cannot match any pattern (most audit strings are
# ids and words; the full patterns run only on the rest).
_SUSPECT = re.compile(
    r"[@=:]|\d[\s.-]?\d[\s.-]?\d|(?i:bearer|basic|token|digest|key|secret|password)|-----"
    r"|AIza|AKIA|ASIA|ABIA|ACCA|eyJ|sk[-_]|rk_|pk_|whsec_|xox|xapp-|gh[pousr]_|github_pat_"
)


def _json_in_string(text: str) -> str | None:
    """A string holding a JSON object or array, redacted as data (None if it is not one)."""
    stripped = text.strip()
    if not stripped or stripped[0] not in "{[" or stripped[-1] not in "}]":
        return None
    try:
        parsed = json.loads(stripped)
    except ValueError:
        return None
    if not isinstance(parsed, dict | list):
        return None
    redacted = redact(parsed)
    return text if redacted == parsed else json.dumps(redacted, ensure_ascii=False)


def redact_text(text: str) -> str:
    if not _SUSPECT.search(text):
        return text
    as_json = _json_in_string(text)
    if as_json is not None:
        return as_json
    for shape in _SHAPES:
        text = shape.sub(MASK, text)
    text = mask_secret_assignments(text)
    text = _SCHEME.sub(_scheme, text)
    text = _EMAIL.sub("[EMAIL]", text)
    text = _CARD.sub(_card, text)
    text = _IBAN.sub(_iban, text)
    text = _SSN.sub(_ssn, text)
    text = _IPV4.sub(_public_ip, text)
    text = _IPV6.sub(_public_ip, text)
    for phone in _PHONES:
        text = phone.sub(_phone, text)
    return text


def redact(value: Any) -> Any:
    """A copy of `value` (JSON-like data) with PII and secrets masked."""
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, dict):
        return {
            k: (
                MASK
                if isinstance(k, str) and is_secret_name(k) and v not in (None, "")
                else redact(v)
            )
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [redact(v) for v in value]
    if hasattr(value, "model_dump"):
        return redact(value.model_dump(mode="json"))
    return value
