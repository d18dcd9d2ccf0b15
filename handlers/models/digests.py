"""The shapes of the audit trail's proof, in the digest bucket (S3, versioned, Object Lock in compliance mode):

- `chunks/<period>/<first seq>-<last seq>.json`: what one batch of the audit table's stream held (an entry per
  record: its key, its operation, its hashes, whether its MAC verified), written by the digest function as it reads
  the stream, under the period it read it in;
- `events/<period>/<bucket>.json`: a period's events, split over DIGEST_BUCKETS buckets by task, so that a task's
  proof reads one small object, not the whole period;
- `digests/<period>.json`: one per period, empty periods included: the period, its buckets pinned by SHA-256, the
  alterations seen (MODIFY and REMOVE records, events without a valid MAC), the previous digest pinned by key,
  version and SHA-256, and an ECDSA P-256 signature by the stack's KMS key over the SHA-256 of all of that.

Periods are aligned on the epoch: period k covers [k * seconds, (k + 1) * seconds). Keys sort by time as text.
"""

import hashlib
import json
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from handlers.models.timestamps import format_at, parse_at

FORMAT_VERSION = 1
# The sealer runs on an EventBridge schedule of this period (its shortest rate), sealing every period that is due.
SEAL_INTERVAL_SECONDS = 60
DIGEST_BUCKETS = 16
CHUNKS_PREFIX = "chunks/"
EVENTS_PREFIX = "events/"
DIGESTS_PREFIX = "digests/"
SIGNING_ALGORITHM: Final = "ECDSA_SHA_256"
# Operations of a stream record; the handlers only ever INSERT.
INSERT, MODIFY, REMOVE = "INSERT", "MODIFY", "REMOVE"


def period_start(moment: datetime, seconds: int) -> datetime:
    """The start of the period `moment` falls in."""
    epoch = int(moment.timestamp())
    return datetime.fromtimestamp(epoch - epoch % seconds, UTC)


def period_label(start: datetime) -> str:
    """A period's name in object keys: its start, compact UTC (20261201T100500Z)."""
    return start.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def period_of_label(label: str) -> datetime:
    return datetime.strptime(label, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)


def chunk_key(start: datetime, first_sequence: str, last_sequence: str) -> str:
    return f"{CHUNKS_PREFIX}{period_label(start)}/{first_sequence}-{last_sequence}.json"


def events_key(start: datetime, bucket: int) -> str:
    return f"{EVENTS_PREFIX}{period_label(start)}/{bucket:02d}.json"


def digest_key(start: datetime) -> str:
    return f"{DIGESTS_PREFIX}{period_label(start)}.json"


def period_of_digest_key(key: str) -> datetime:
    return period_of_label(key.removeprefix(DIGESTS_PREFIX).removesuffix(".json"))


def bucket_of(task_id: str) -> int:
    """The events bucket of a task: the same in every period, so that a task's proof reads one object a period."""
    return int(hashlib.sha256(task_id.encode()).hexdigest()[:8], 16) % DIGEST_BUCKETS


def document_bytes(document: dict[str, Any]) -> bytes:
    """A document's canonical bytes: sorted keys, no spaces (what is stored, hashed and signed)."""
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def signed_part(digest: dict[str, Any]) -> bytes:
    """What a digest's signature covers: the digest without its signature, canonically."""
    return document_bytes({name: value for name, value in digest.items() if name != "signature"})


def signed_hash(digest: dict[str, Any]) -> bytes:
    """SHA-256 of the signed part: what KMS signs (MessageType DIGEST)."""
    return hashlib.sha256(signed_part(digest)).digest()


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def period_bounds(start: datetime, seconds: int) -> dict[str, Any]:
    return {"start": format_at(start), "end": format_at(start + timedelta(seconds=seconds)), "seconds": seconds}


def start_of(digest: dict[str, Any]) -> datetime:
    return parse_at(str(digest["period"]["start"]))
