"""The digest function's work: read the audit table's stream into chunks, and seal each period into a signed digest
chained to the one before it (handlers.models.digests says where each piece lives).

Reading (`ingest`): a batch of stream records becomes one chunk, under the period it is read in. An INSERT is an
event: its key, hash, content hash and whether its MAC verifies. The handlers never MODIFY or REMOVE an item, so
either is an alteration: recorded with the hashes before and after, and counted at once (an alarm watches it), as is
an INSERT without a valid MAC (written by someone other than the handlers).

Sealing (`seal`): on a schedule, each period whose end is older than the grace is sealed, in order, empty ones too
(so a stopped pipeline shows as a gap rather than as silence): its chunks are merged, its events written in buckets,
and its digest signed and written; the previous digest is pinned by key, version and SHA-256, so that a digest
removed, edited or reordered breaks the chain.
"""

import json
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from handlers.dal.digest_store import DigestSigner, DigestStore, StoredObject
from handlers.dal.mac_keys import MacKeys
from handlers.dal.schema import TABLE_PARTITION_KEY, TABLE_SORT_KEY
from handlers.errors import ServiceUnavailableError
from handlers.models.contract import Metric
from handlers.models.digests import (
    CHUNKS_PREFIX,
    DIGESTS_PREFIX,
    FORMAT_VERSION,
    INSERT,
    MODIFY,
    REMOVE,
    SIGNING_ALGORITHM,
    bucket_of,
    chunk_key,
    digest_key,
    document_bytes,
    events_key,
    period_bounds,
    period_label,
    period_of_digest_key,
    period_of_label,
    period_start,
    sha256_hex,
    signed_hash,
)
from handlers.models.integrity import Item, content_hash, event_hash, mac_day, mac_matches
from handlers.models.settings import DigestSettings
from handlers.models.timestamps import format_at
from handlers.observability import count, logger

# Periods sealed by one run at most: after an outage, the backlog is sealed over a few runs, oldest first.
MAX_SEALS_PER_RUN = 50
# How far back a sealer looks for the previous digest when the one just before is missing (a gap).
PREVIOUS_LOOKBACK_PERIODS = 2_000


@dataclass
class IngestResult:
    chunk: str | None
    events: int = 0
    altered: int = 0
    unsigned: int = 0


def ingest(
    records: list[dict[str, Any]], now: datetime, settings: DigestSettings, store: DigestStore, keys: MacKeys | None
) -> IngestResult:
    """Write the batch's chunk (once: a retried batch finds it there) under the period it is read in."""
    if not records:
        return IngestResult(None)
    entries = [_entry(record, keys) for record in records]
    start = period_start(now, settings.period_seconds)
    sequences = [str(record.get("dynamodb", {}).get("SequenceNumber", "")) for record in records]
    key = chunk_key(start, sequences[0], sequences[-1])
    chunk = {"version": FORMAT_VERSION, "period": period_label(start), "records": entries}
    store.put_new(key, document_bytes(chunk))
    result = IngestResult(key, events=sum(1 for entry in entries if entry["op"] == INSERT))
    for entry in entries:
        if entry["op"] in {MODIFY, REMOVE}:
            result.altered += 1
            logger.error("audit event altered", extra={"op": entry["op"], "taskId": entry["taskId"], "sk": entry["sk"]})
        elif not entry.get("macValid"):
            result.unsigned += 1
            logger.error("audit event without a valid MAC", extra={"taskId": entry["taskId"], "sk": entry["sk"]})
    count(Metric.DIGESTED_EVENTS, result.events)
    if result.altered:
        count(Metric.AUDIT_EVENTS_ALTERED, result.altered)
    if result.unsigned:
        count(Metric.AUDIT_EVENTS_UNSIGNED, result.unsigned)
    return result


def _entry(record: dict[str, Any], keys: MacKeys | None) -> dict[str, Any]:
    data = record.get("dynamodb") or {}
    op = str(record.get("eventName", ""))
    item_keys: Item = data.get("Keys") or {}
    entry: dict[str, Any] = {
        "op": op,
        "seq": str(data.get("SequenceNumber", "")),
        "taskId": _text(item_keys.get(TABLE_PARTITION_KEY)),
        "sk": _text(item_keys.get(TABLE_SORT_KEY)),
    }
    new, old = data.get("NewImage"), data.get("OldImage")
    if new is not None:
        entry |= {"hash": event_hash(new), "contentHash": content_hash(new), "at": _text(new.get("at"))}
    if old is not None:
        entry["oldHash"] = event_hash(old)
    if op == INSERT and new is not None:
        entry["macValid"] = _mac_valid(new, keys)
    return entry


def _mac_valid(item: Item, keys: MacKeys | None) -> bool | None:
    at = _text(item.get("at"))
    if keys is None:
        return None  # this stack does not sign its events
    return bool(at) and mac_matches(keys.key_for(mac_day(at)), item)


def _text(value: Any) -> str:
    return str(value.get("S", "")) if isinstance(value, dict) else ""


@dataclass
class SealResult:
    sealed: list[str] = field(default_factory=list)
    lag_seconds: float | None = None  # how far behind now the newest sealed period ends
    through: datetime | None = None  # the start of the newest period sealed


def due_period(now: datetime, settings: DigestSettings) -> datetime:
    """The newest period that may be sealed at `now`: its end plus the grace has passed."""
    seconds = settings.period_seconds
    return period_start(now - timedelta(seconds=settings.grace_seconds), seconds) - timedelta(seconds=seconds)


def seal(
    now: datetime,
    settings: DigestSettings,
    store: DigestStore,
    signer: DigestSigner,
    budget_seconds: float | None = None,
) -> SealResult:
    """Seal every period that is due (its end plus the grace has passed), oldest first, each chained to the last;
    within `budget_seconds` (the rest is left to the next run: a backlog after an outage must not time out a run,
    which would seal nothing and be retried into the same backlog)."""
    started = time.monotonic()
    seconds = settings.period_seconds
    due = due_period(now, settings)
    previous = _latest_digest(store, due + timedelta(seconds=seconds), seconds)
    start = period_of_digest_key(previous.key) + timedelta(seconds=seconds) if previous else _first_period(store, due)
    result = SealResult()
    # The chunks of every period due, listed once: a backlog of empty periods is then a Sign and a PUT each.
    chunks: dict[str, list[str]] = defaultdict(list)
    if start <= due:
        for key in store.keys(CHUNKS_PREFIX, f"{CHUNKS_PREFIX}{period_label(start)}"):
            chunks[key.removeprefix(CHUNKS_PREFIX).split("/", 1)[0]].append(key)
    while start <= due and len(result.sealed) < MAX_SEALS_PER_RUN:
        elapsed = time.monotonic() - started
        if budget_seconds is not None and elapsed > budget_seconds:
            break
        period_chunks = chunks.get(period_label(start), [])
        try:
            written = _seal_one(
                start, now + timedelta(seconds=elapsed), settings, store, signer, previous, period_chunks
            )
        except ServiceUnavailableError as exc:
            if not result.sealed:
                raise  # nothing sealed: the run failed, and is retried (the digest-errors alarm counts it)
            # What is sealed is chained and kept; the period in hand is sealed by the next run.
            logger.warning("sealing stopped", extra={"sealed": len(result.sealed), "error": str(exc)})
            break
        if written is not None:
            result.sealed.append(written.key)
        previous = written or store.get(digest_key(start))
        start += timedelta(seconds=seconds)
    result.through = period_of_digest_key(previous.key) if previous else None
    if result.through is not None:
        result.lag_seconds = (now - result.through - timedelta(seconds=seconds)).total_seconds()
    if result.sealed:
        count(Metric.DIGESTS_WRITTEN, len(result.sealed))
    return result


def _first_period(store: DigestStore, due: datetime) -> datetime:
    """Where the stack's first digest starts: at the oldest chunk, if one was read before anything was sealed."""
    oldest = store.keys(CHUNKS_PREFIX, max_keys=1)
    if not oldest:
        return due
    return min(due, period_of_label(oldest[0].removeprefix(CHUNKS_PREFIX).split("/", 1)[0]))


def _latest_digest(store: DigestStore, before: datetime, seconds: int) -> Any:
    """The newest digest of a period that starts before `before` (None before the first one)."""
    just_before = store.get(digest_key(before - timedelta(seconds=seconds)))
    if just_before is not None:
        return just_before
    lookback = before - timedelta(seconds=seconds * PREVIOUS_LOOKBACK_PERIODS)
    keys = [key for key in store.keys(DIGESTS_PREFIX, digest_key(lookback)) if key < digest_key(before)]
    return store.get(keys[-1]) if keys else None


def _seal_one(
    start: datetime,
    now: datetime,
    settings: DigestSettings,
    store: DigestStore,
    signer: DigestSigner,
    previous: Any,
    chunk_keys: list[str],
) -> Any:
    events: dict[int, dict[tuple[str, str, str], dict[str, Any]]] = defaultdict(dict)
    alterations: dict[tuple[str, str, str, str], dict[str, Any]] = {}
    for key in chunk_keys:
        chunk = store.get(key)
        for entry in json.loads(chunk.body)["records"] if chunk else []:
            _merge(entry, events, alterations)
    buckets = [_write_bucket(start, bucket, events[bucket], store) for bucket in sorted(events)]
    digest: dict[str, Any] = {
        "version": FORMAT_VERSION,
        "table": settings.audit_table_name,
        "period": period_bounds(start, settings.period_seconds),
        "sealedAt": format_at(now),
        "graceSeconds": settings.grace_seconds,
        "eventCount": sum(bucket["count"] for bucket in buckets),
        "buckets": buckets,
        "alterations": sorted(alterations.values(), key=lambda a: (a["taskId"], a["sk"], a["op"], a.get("hash", ""))),
        "previous": None if previous is None else _pin(previous),
        "signingAlgorithm": SIGNING_ALGORITHM,
        "signingKey": signer.key_id,
    }
    digest["signature"] = signer.sign(signed_hash(digest))
    body = document_bytes(digest)
    written = store.put_new(digest_key(start), body)
    if written is None:
        return None  # another sealer wrote it first: the caller reads that one as the next previous
    return StoredObject(digest_key(start), written, body)


def _write_bucket(
    start: datetime, bucket: int, leaves: dict[tuple[str, str, str], dict[str, Any]], store: DigestStore
) -> dict[str, Any]:
    ordered = sorted(leaves.values(), key=lambda leaf: (leaf["taskId"], leaf["sk"], leaf["hash"]))
    body = document_bytes({"version": FORMAT_VERSION, "period": period_label(start), "events": ordered})
    key = events_key(start, bucket)
    version = store.put_new(key, body) or _version_of(store, key)
    return {"bucket": bucket, "key": key, "versionId": version, "sha256": sha256_hex(body), "count": len(ordered)}


def _pin(stored: Any) -> dict[str, str]:
    """What a digest says of the one before it: its key, its version and the SHA-256 of its bytes."""
    return {"key": stored.key, "versionId": stored.version_id, "sha256": sha256_hex(stored.body)}


def _merge(
    entry: dict[str, Any],
    events: dict[int, dict[tuple[str, str, str], dict[str, Any]]],
    alterations: dict[tuple[str, str, str, str], dict[str, Any]],
) -> None:
    task_id, sk = entry["taskId"], entry["sk"]
    if entry["op"] == INSERT and entry.get("macValid") is not False:
        leaf = {name: entry[name] for name in ("taskId", "sk", "hash", "contentHash", "at")}
        events[bucket_of(task_id)][(task_id, sk, entry["hash"])] = leaf
        return
    kind = "UNSIGNED" if entry["op"] == INSERT else entry["op"]
    found = {"op": kind, "taskId": task_id, "sk": sk, "seq": entry.get("seq", "")}
    found |= {name: entry[name] for name in ("hash", "oldHash", "at") if entry.get(name)}
    alterations[(task_id, sk, kind, found.get("hash", found.get("oldHash", "")))] = found


def _version_of(store: DigestStore, key: str) -> str:
    existing = store.get(key)
    return existing.version_id if existing else "null"
