"""Canonical form of a payload, so that the same JSON object always hashes alike whatever its key order."""

import hashlib
import json
from typing import Any


def canonical_json(payload: dict[str, Any]) -> str:
    """Sorted keys, no spaces; non-ASCII kept as is so that stored and sent sizes stay those of the request."""
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def payload_hash(canonical: str) -> str:
    """SHA-256 of the canonical JSON, hex."""
    return hashlib.sha256(canonical.encode()).hexdigest()
