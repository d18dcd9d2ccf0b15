"""What makes an audit event provable: its canonical bytes, its hash, and its MAC.

An event's hash is SHA-256 over its item's canonical form (every attribute but the MAC, DynamoDB-typed, keys sorted,
numbers normalised): the digests list it, and a verifier recomputes it from the table. Its content hash leaves the
key out, so that two events swapped between keys are told apart from two events altered. Its MAC is HMAC-SHA-256
over the same bytes with a key of the day that only the handlers' roles can derive (KMS GenerateMac on the stack's
HMAC key, once per environment and day): an item written by anyone else does not carry a valid one.
"""

import hashlib
import hmac
import json
from collections.abc import Mapping
from decimal import Decimal
from typing import Any, Final

from handlers.dal.schema import TABLE_PARTITION_KEY, TABLE_SORT_KEY

MAC_ATTRIBUTE = "mac"
MAC_ALGORITHM: Final = "HMAC_SHA_256"
KEY_ATTRIBUTES = frozenset({TABLE_PARTITION_KEY, TABLE_SORT_KEY})

Item = Mapping[str, Mapping[str, Any]]


def canonical(item: Item, *, with_key: bool = True) -> bytes:
    """The item's canonical bytes: sorted attributes, DynamoDB types kept, numbers normalised (DynamoDB streams
    "1.5" for a number written "1.50"), the MAC left out."""
    attributes = {
        name: _canonical_value(value)
        for name, value in item.items()
        if name != MAC_ATTRIBUTE and (with_key or name not in KEY_ATTRIBUTES)
    }
    return json.dumps(attributes, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def _canonical_value(value: Mapping[str, Any]) -> Any:
    ((kind, raw),) = value.items()
    if kind == "N":
        return {"N": _number(raw)}
    if kind == "NS":
        return {"NS": sorted(_number(n) for n in raw)}
    if kind in {"SS", "BS"}:
        return {kind: sorted(raw)}
    if kind == "M":
        return {"M": {name: _canonical_value(member) for name, member in sorted(raw.items())}}
    if kind == "L":
        return {"L": [_canonical_value(member) for member in raw]}
    return {kind: raw}


def _number(text: str) -> str:
    number = Decimal(text).normalize()
    return format(number, "f") if number == number.to_integral_value() else str(number)


def event_hash(item: Item) -> str:
    """SHA-256 of the item's canonical bytes, hex: what a digest lists for the event."""
    return hashlib.sha256(canonical(item)).hexdigest()


def content_hash(item: Item) -> str:
    """SHA-256 of the item without its key: the same for an event moved to another key."""
    return hashlib.sha256(canonical(item, with_key=False)).hexdigest()


def mac_message(table: str, day: str) -> bytes:
    """What the day's MAC key is derived from (KMS GenerateMac): the table and the UTC day, so that a key serves one
    stack's events of one day."""
    return f"tasktrail event MAC key|{table}|{day}".encode()


def mac_day(at: str) -> str:
    """The UTC day of an event's `at` (2026-12-01T10:00:00.000Z -> 2026-12-01): whose key its MAC is made with."""
    return at[:10]


def event_mac(key: bytes, item: Item) -> str:
    """HMAC-SHA-256 of the item's canonical bytes, hex."""
    return hmac.new(key, canonical(item), hashlib.sha256).hexdigest()


def mac_matches(key: bytes, item: Item) -> bool:
    """Whether the item carries the MAC `key` gives its canonical bytes (constant-time comparison)."""
    stored = (item.get(MAC_ATTRIBUTE) or {}).get("S")
    return isinstance(stored, str) and hmac.compare_digest(stored, event_mac(key, item))
