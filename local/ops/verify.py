"""`tasktrail verify`: the audit trail against its signed digests, for the whole stack or one task. The digests'
signatures are checked offline, with the public key the stack publishes (the `digestPublicKey` output, or a PEM file
you trust more), so no AWS credential is needed for that part; reading the table and the bucket, and deriving the
events' MAC keys (kms:GenerateMac on the stack's MAC key), need yours."""

from __future__ import annotations

import base64
import json
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from local.ops.target import Target, TargetError

READERS = 8  # digests and event buckets read at once: S3 answers each GET in milliseconds, one at a time is slow


@dataclass
class Verification:
    """What `verify` found: the digests read, the tasks checked, and every finding."""

    digests: int
    first: str | None
    last: str | None
    tasks: int
    verified: int
    events: int
    pending: int  # events of periods not sealed yet (or not read from the stream yet): neither proven nor found wrong
    findings: list[dict[str, str]]
    seconds: float
    # The outbox reconciler's checkpoints, appended to the same table and checked like events (not counted above).
    checkpoints: int = 0

    def as_dict(self) -> dict[str, Any]:
        return self.__dict__.copy()


def offline_check(public_key_pem: str) -> Any:
    """A signature check with the public key alone: ECDSA P-256 over the digest's SHA-256 (as KMS signed it)."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

    key = serialization.load_pem_public_key(public_key_pem.encode())
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise TargetError("the digests' public key is not an elliptic-curve key")

    def check(digest_hash: bytes, signature: str) -> bool:
        try:
            key.verify(base64.b64decode(signature), digest_hash, ec.ECDSA(Prehashed(hashes.SHA256())))
        except (InvalidSignature, ValueError):
            return False
        return True

    return check


def verify(target: Target, since: datetime | None, task_id: str | None, public_key: Path | None) -> Verification:
    """Check every digest (from `since`), their chain and signatures, and every task's events (or one task's)."""
    from handlers.dal.digest_store import DigestStore
    from handlers.dal.keys import is_task_partition
    from handlers.dal.mac_keys import MacKeys
    from handlers.logic.verify import (
        check_chain,
        items_by_task,
        late_after,
        read_digested,
        read_digests,
        verify_task,
    )
    from handlers.models.timestamps import parse_at

    started = time.monotonic()
    if not target.digest_bucket:
        raise TargetError(f"{target.description} has no digestBucket output: it keeps no digests")
    pem = public_key.read_text(encoding="utf-8") if public_key else target.public_key_pem
    if not pem:
        raise TargetError(f"{target.description} has no digestPublicKey output; pass --public-key FILE")
    store = DigestStore(target.client("s3"), target.digest_bucket)
    audit = target.store()
    # The table is read while the digests are: two independent reads, each mostly waiting on the service.
    with ThreadPoolExecutor(1) as table_reader:
        reading = table_reader.submit(audit.items, task_id) if task_id else table_reader.submit(audit.all_items)
        digests, findings = read_digests(store, offline_check(pem), since, readers=READERS)
        digested, bucket_findings = read_digested(store, digests, [task_id] if task_id else None, readers=READERS)
        items = reading.result()
    now = datetime.now(UTC)
    allowed = late_after(digests[-1].document) if digests else late_after({})
    findings += check_chain(digests, now, allowed, from_first=since is None)
    # How long after its period an event may still be read into a chunk: the digest function's timeout and skew.
    grace = timedelta(seconds=int(digests[-1].document.get("graceSeconds", 0)) if digests else 0)
    if since is not None:
        items = [item for item in items if parse_at(str(item.get("at", {}).get("S", ""))) >= since]
    tasks = items_by_task(items)
    findings += bucket_findings
    # A task the digests name but the table no longer holds was deleted whole: it is checked like any other.
    names = {task_id} if task_id else set(tasks) | set(digested.events) | set(digested.alterations)
    if task_id and not tasks and not digested.events.get(task_id) and not digested.alterations.get(task_id):
        raise TargetError(f"no task {task_id!r} in {target.description}")
    keys = MacKeys(target.client("kms"), target.mac_key_id, target.table) if target.mac_key_id else None
    verified = pending = 0
    for name in sorted(names):
        report = verify_task(name, tasks.get(name, []), digested, keys, grace)
        if is_task_partition(name):  # a checkpoint is checked like an event, counted as neither task nor event
            verified += report.verified
            pending += sum(1 for event in report.events if event["status"] == "pending")
        findings += report.findings
    checkpoints = sum(len(found) for name, found in tasks.items() if not is_task_partition(name))
    return Verification(
        digests=len(digests),
        first=digests[0].document["period"]["start"] if digests else None,
        last=digests[-1].document["period"]["end"] if digests else None,
        tasks=sum(1 for name in names if is_task_partition(name)),
        verified=verified,
        events=len(items) - checkpoints,
        pending=pending,
        findings=[finding.as_dict() for finding in findings],
        seconds=round(time.monotonic() - started, 2),
        checkpoints=checkpoints,
    )


def report_text(verification: Verification) -> str:
    """The outcome, a line each: what was read, then every finding."""
    span = f"{verification.first} to {verification.last}" if verification.digests else "none yet"
    lines = [
        f"digests: {verification.digests} ({span})",
        f"tasks: {verification.tasks} ({verification.events} events), {verification.verified} verified up to "
        f"{verification.last or '-'}"
        + (f"; {verification.pending} events pending the next digest" if verification.pending else "")
        + (f"; {verification.checkpoints} reconciler checkpoints" if verification.checkpoints else ""),
    ]
    lines += [f"{f['kind']:<18} {f['subject']}: {f['detail']}" for f in verification.findings]
    lines.append("verified: no finding" if not verification.findings else f"{len(verification.findings)} findings")
    return "\n".join(lines)


def report_json(verification: Verification) -> str:
    return json.dumps(verification.as_dict(), indent=2)
