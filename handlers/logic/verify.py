"""Verification of the audit trail against its signed digests: for the whole stack (`tasktrail verify`) and for one
task (GET /tasks/{taskId}/proof). One implementation for both: the caller hands it the table's items, the digest
store, a signature check (offline with the public key, or KMS Verify) and the MAC keys.

What it finds, precisely:
- of the digests: a deleted digest (a delete marker, or a key the next digest pins and the bucket lacks), an edited
  one (a second version), a bad signature, a broken chain (a digest that does not pin the one before it, byte for
  byte), a gap (periods with no digest), digests sealed late (the digest function stopped), and the alterations the
  digest function saw on the stream (MODIFY, REMOVE, events without a valid MAC);
- of each event: altered (its hash at its key is not the one digested), moved (two events swapped between keys:
  their content hashes are digested at each other's keys), deleted (digested, and gone from the table), inserted
  outside the pipeline (no valid MAC), unproven (the digests of its periods are missing), undigested (never read from
  the stream in its 24 hours), or pending (its period is not sealed, or the stream not read that far, yet). A task
  with no finding is verified up to the end of the last period sealed.
"""

import json
import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from handlers.dal.audit_store import AuditStore
from handlers.dal.digest_store import DigestSigner, DigestStore, StoredObject
from handlers.dal.mac_keys import MacKeys
from handlers.dal.schema import TABLE_PARTITION_KEY, TABLE_SORT_KEY
from handlers.errors import TaskNotFoundError
from handlers.models.digests import (
    DIGESTS_PREFIX,
    SEAL_INTERVAL_SECONDS,
    bucket_of,
    digest_key,
    period_of_digest_key,
    period_start,
    sha256_hex,
    signed_hash,
    start_of,
)
from handlers.models.integrity import Item, content_hash, event_hash, mac_day, mac_matches
from handlers.models.output import ProofFinding, TaskProof
from handlers.models.timestamps import format_at, parse_at

SignatureCheck = Callable[[bytes, str], bool]
# How long a DynamoDB stream keeps a record (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Streams.html).
STREAM_RETENTION = timedelta(hours=24)


@dataclass(frozen=True)
class Finding:
    """Something that does not verify: what, where, and in words."""

    kind: str
    subject: str
    detail: str

    def as_dict(self) -> dict[str, str]:
        return {"kind": self.kind, "subject": self.subject, "detail": self.detail}


@dataclass
class Digest:
    """A digest as read back: its object, its document, and whether its signature holds."""

    stored: StoredObject
    document: dict[str, Any]
    signature_valid: bool

    @property
    def start(self) -> datetime:
        return start_of(self.document)

    @property
    def end(self) -> datetime:
        return parse_at(str(self.document["period"]["end"]))


@dataclass
class Digested:
    """What the digests say of the events, by task: each key's digested (hash, content hash, digest key), the
    alterations they recorded, and which periods they cover (an event whose periods have no digest is unproven, not
    forged)."""

    events: dict[str, dict[str, list[tuple[str, str, str]]]] = field(
        default_factory=lambda: defaultdict(lambda: defaultdict(list))
    )
    alterations: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: defaultdict(list))
    periods: set[datetime] = field(default_factory=set)
    period_seconds: int = 0
    sealed_until: datetime | None = None

    def covers(self, at: datetime, grace: timedelta) -> bool:
        """Whether every period an event written at `at` may have been read in has its digest."""
        if not self.period_seconds:
            return False
        first = period_start(at, self.period_seconds)
        last = period_start(at + grace, self.period_seconds)
        step = timedelta(seconds=self.period_seconds)
        start = first
        while start <= last:
            if start not in self.periods:
                return False
            start += step
        return True


@dataclass
class TaskReport:
    task_id: str
    verified: bool
    verified_up_to: str | None
    findings: list[Finding]
    events: list[dict[str, Any]]


def read_digests(
    store: DigestStore, check: SignatureCheck, since: datetime | None = None, *, readers: int = 1
) -> tuple[list[Digest], list[Finding]]:
    """Every digest (from `since`), each at the version the writer wrote (the first), with what is wrong with the
    objects themselves: deleted, edited, unsigned. `readers`: digests read at once."""
    findings: list[Finding] = []
    by_key: dict[str, list[Any]] = defaultdict(list)
    for version in store.versions(DIGESTS_PREFIX):
        by_key[version.key].append(version)
    firsts = []
    for key in sorted(by_key):
        if since is not None and period_of_digest_key(key) < since:
            continue
        # Oldest first (the latest last, when two share a second): the first version is the one the sealer wrote.
        versions = sorted(by_key[key], key=lambda v: (v.last_modified, v.latest))
        written = [v for v in versions if not v.delete_marker]
        if any(v.delete_marker for v in versions):
            findings.append(Finding("digest-deleted", key, "the digest was deleted (a delete marker hides it)"))
        if len(written) > 1:
            findings.append(Finding("digest-edited", key, f"{len(written)} versions; the digest is written once"))
        if written:
            firsts.append((key, written[0].version_id))
    digests = []
    for (key, _), stored in zip(firsts, _read_all(lambda first: store.get(*first), firsts, readers), strict=True):
        if stored is None:
            findings.append(Finding("digest-missing", key, "a version is listed but cannot be read"))
            continue
        document = json.loads(stored.body)
        valid = check(signed_hash(document), str(document.get("signature", "")))
        if not valid:
            findings.append(Finding("digest-signature", key, "the signature does not verify with the public key"))
        digests.append(Digest(stored, document, valid))
    return digests, findings


def _read_all(read: Callable[[Any], Any], wanted: list[Any], readers: int) -> list[Any]:
    """`read` of each, in order: one at a time in a function (the proof route), `readers` at once for a verifier."""
    if readers <= 1:
        return [read(each) for each in wanted]
    from concurrent.futures import ThreadPoolExecutor  # a verifier's only: off the functions' import path

    with ThreadPoolExecutor(readers) as pool:
        return list(pool.map(read, wanted))


def check_chain(
    digests: list[Digest], now: datetime, late_after: timedelta, *, from_first: bool = True
) -> list[Finding]:
    """Each digest pins the one before it, byte for byte; periods follow each other with no gap; none is late, and
    the newest is not older than it should be (`late_after`: the grace and the sealer's schedule). `from_first`: the
    digests start at the stack's first (so the first pins nothing)."""
    findings = []
    present = {digest.stored.key for digest in digests}
    if from_first and digests and digests[0].document.get("previous"):
        findings.append(_missing(digests[0]))
    for before, after in zip(digests, digests[1:], strict=False):
        pinned = after.document.get("previous") or {}
        if after.start != before.end:
            # Digests are missing between: the one after names the last of them, which was there when it was sealed.
            if pinned.get("key") and pinned["key"] not in present:
                findings.append(_missing(after))
            missing_to = period_of_digest_key(pinned["key"]) if pinned.get("key") not in present else after.start
            if missing_to > before.end:
                gap = f"no digest from {format_at(before.end)} to {format_at(missing_to)}"
                findings.append(Finding("digest-gap", after.stored.key, gap))
            continue
        # The bytes prove it; the version id only locates it (a copy of the bucket has versions of its own).
        expected = {"key": before.stored.key, "sha256": sha256_hex(before.stored.body)}
        if {name: pinned.get(name) for name in expected} != expected:
            findings.append(Finding("chain-broken", after.stored.key, f"it pins {pinned or 'nothing'}, not {expected}"))
    findings += _late_runs(digests, late_after)
    if digests and now - digests[-1].end > late_after + timedelta(seconds=digests[-1].document["period"]["seconds"]):
        findings.append(Finding("digest-gap", "now", f"no digest since {format_at(digests[-1].end)}"))
    return findings


def _missing(after: Digest) -> Finding:
    pinned = after.document["previous"]["key"]
    return Finding("digest-deleted", pinned, f"{after.stored.key} pins it, and the bucket no longer has it")


def _late_runs(digests: list[Digest], late_after: timedelta) -> list[Finding]:
    """Digests sealed late, a finding per run of them: while the digest function was stopped, nothing was sealed,
    and what the table held in that time was proven only once it ran again."""
    findings = []
    run: list[tuple[Digest, timedelta]] = []
    for digest in [*digests, None]:
        if digest is not None:
            late = parse_at(str(digest.document["sealedAt"])) - digest.end
            if late > late_after:
                run.append((digest, late))
                continue
        if run:
            first, last = run[0][0], run[-1][0]
            subject = first.stored.key if len(run) == 1 else f"{first.stored.key}..{last.stored.key}"
            delays = sorted(delay.total_seconds() for _, delay in run)
            detail = (
                f"{len(run)} period(s) from {format_at(first.start)} to {format_at(last.end)} sealed "
                f"{delays[-1]:.0f} s to {delays[0]:.0f} s after their end (allowed {late_after.total_seconds():.0f} s):"
                " the digest function did not run"
            )
            findings.append(Finding("digest-late", subject, detail))
            run = []
    return findings


def read_digested(
    store: DigestStore, digests: list[Digest], task_ids: Iterable[str] | None = None, *, readers: int = 1
) -> tuple[Digested, list[Finding]]:
    """The events the digests list (only the buckets of `task_ids`, when given), each bucket checked against the
    SHA-256 its digest pinned. `readers`: buckets read at once (a verifier of a whole stack reads thousands)."""
    wanted = None if task_ids is None else {bucket_of(task_id) for task_id in task_ids}
    digested = Digested(sealed_until=digests[-1].end if digests else None)
    findings = []
    pins = []
    for digest in digests:
        digested.periods.add(digest.start)
        digested.period_seconds = int(digest.document["period"]["seconds"])
        for alteration in digest.document.get("alterations", []):
            digested.alterations[alteration["taskId"]].append(alteration | {"digest": digest.stored.key})
        pins += [
            (digest, pinned)
            for pinned in digest.document.get("buckets", [])
            if wanted is None or pinned["bucket"] in wanted
        ]

    def read(pin: tuple[Digest, dict[str, Any]]) -> StoredObject | None:
        # The version pinned, or (in a copy of the bucket, whose version ids are its own) the object as it is.
        return store.get(pin[1]["key"], pin[1]["versionId"]) or store.get(pin[1]["key"])

    for (digest, pinned), stored in zip(pins, _read_all(read, pins, readers), strict=True):
        if stored is None or sha256_hex(stored.body) != pinned["sha256"]:
            findings.append(Finding("events-edited", pinned["key"], "the events bucket is not the one signed"))
            continue
        for leaf in json.loads(stored.body)["events"]:
            digested.events[leaf["taskId"]][leaf["sk"]].append((leaf["hash"], leaf["contentHash"], digest.stored.key))
    return digested, findings


def verify_task(
    task_id: str, items: Sequence[Item], digested: Digested, keys: MacKeys | None, grace: timedelta
) -> TaskReport:
    """One task's events (its items, in key order) against what the digests say of them."""
    findings: list[Finding] = []
    views = []
    table_keys = set()
    task_digested = digested.events.get(task_id, {})
    digested_content = {content: sk for sk, leaves in task_digested.items() for _, content, _ in leaves}
    for seq, item in enumerate(items, start=1):
        sk = str(item[TABLE_SORT_KEY]["S"])
        table_keys.add(sk)
        status, detail = _event_status(sk, item, task_digested, digested, digested_content, keys, grace)
        views.append({"seq": seq, "sk": sk, "type": str(item.get("type", {}).get("S", "")), "status": status} | detail)
        if status not in {"verified", "pending"}:
            findings.append(Finding(status, f"{task_id} {sk}", detail.get("detail", status)))
    for sk, leaves in sorted(task_digested.items()):
        if sk not in table_keys:
            findings.append(Finding("deleted", f"{task_id} {sk}", f"digested in {leaves[0][2]}, gone from the table"))
    for alteration in digested.alterations.get(task_id, []):
        kind = {"MODIFY": "modified", "REMOVE": "removed", "UNSIGNED": "inserted-outside"}[alteration["op"]]
        seen = f"the stream showed a {alteration['op']} of it ({alteration['digest']})"
        findings.append(Finding(kind, f"{task_id} {alteration['sk']}", seen))
    sealed_until = format_at(digested.sealed_until) if digested.sealed_until else None
    return TaskReport(task_id, not findings, sealed_until if not findings else None, findings, views)


def _event_status(
    sk: str,
    item: Item,
    task_digested: dict[str, list[tuple[str, str, str]]],
    digested: Digested,
    digested_content: dict[str, str],
    keys: MacKeys | None,
    grace: timedelta,
) -> tuple[str, dict[str, str]]:
    at = str(item.get("at", {}).get("S", ""))
    leaves = task_digested.get(sk, [])
    hashes = {leaf[0] for leaf in leaves}
    # A digested hash is proof enough: the digest function lists an event only once its MAC has verified.
    if event_hash(item) in hashes:
        return "verified", {"digest": leaves[0][2]}
    if leaves:
        moved_from = digested_content.get(content_hash(item))
        if moved_from is not None and moved_from != sk:
            return "moved", {"detail": f"its content was digested at {moved_from}: events were reordered"}
        return "altered", {"detail": f"its content is not what {leaves[0][2]} digested"}
    signed = keys is not None and bool(at) and mac_matches(keys.key_for(mac_day(at)), item)
    if keys is not None and not signed:
        return "inserted-outside", {"detail": "no valid MAC: not written by the pipeline's roles"}
    sealed = digested.sealed_until
    if sealed is None or not at or parse_at(at) + grace >= sealed:
        return "pending", {}
    if not digested.covers(parse_at(at), grace):
        return "unproven", {"detail": f"written at {at}, in a period whose digest is missing"}
    if not signed:
        return "inserted-outside", {"detail": f"in no digest, though its period is sealed (written at {at})"}
    # Written by the pipeline (its MAC verifies), not read from the stream yet: the digest function is behind (an
    # alarm watches the stream's iterator age). Past the stream's retention it never will be.
    if sealed - parse_at(at) < STREAM_RETENTION:
        return "pending", {"detail": "not read from the table's stream yet"}
    return "undigested", {"detail": f"written at {at}, never read from the stream (kept {STREAM_RETENTION})"}


def items_by_task(items: Iterable[Item]) -> dict[str, list[Item]]:
    """The table's items, by task, in key order."""
    tasks: dict[str, list[Item]] = defaultdict(list)
    for item in items:
        tasks[str(item[TABLE_PARTITION_KEY]["S"])].append(item)
    return {task: sorted(found, key=lambda i: str(i[TABLE_SORT_KEY]["S"])) for task, found in tasks.items()}


def late_after(digest: dict[str, Any]) -> timedelta:
    """How long after its period's end a digest may be sealed and not be late: its grace, and two runs of the
    sealer's schedule (one may fail, and be retried by the next)."""
    return timedelta(seconds=int(digest.get("graceSeconds", 0)) + 2 * SEAL_INTERVAL_SECONDS)


def prove_task(
    task_id: str,
    items: Sequence[Item],
    store: DigestStore,
    check: SignatureCheck,
    keys: MacKeys | None,
    period_seconds: int,
    grace: timedelta,
) -> TaskReport:
    """One task's proof, reading only what it needs: for each of its events, the digests of the periods it may have
    been read in (its own, and those the grace spans), their signatures, and the task's bucket in each. An event
    found in none of them was read late (the digest function had stopped) or not by the pipeline: the digests after
    them are read too, up to MAX_LATE_DIGESTS, before it is called inserted outside."""
    periods: set[datetime] = set()
    spread = 1 + math.ceil(grace.total_seconds() / period_seconds)
    for item in items:
        at = str(item.get("at", {}).get("S", ""))
        if at:
            start = period_start(parse_at(at), period_seconds)
            periods |= {start + timedelta(seconds=period_seconds * n) for n in range(spread + 1)}
    digests = [d for d in (_read_digest(store, digest_key(start), check) for start in sorted(periods)) if d]
    report, findings = _prove(task_id, items, store, digests, keys, grace)
    if periods and any(event["status"] in UNFOUND for event in report.events):
        later = store.keys(DIGESTS_PREFIX, digest_key(max(periods)))[:MAX_LATE_DIGESTS]
        digests += [d for d in (_read_digest(store, key, check) for key in later) if d]
        report, findings = _prove(task_id, items, store, digests, keys, grace)
    if findings:
        report.findings = findings + report.findings
        report.verified, report.verified_up_to = False, None
    return report


# The statuses of an event no digest read so far lists; and how many later digests a proof reads to find them.
UNFOUND = frozenset({"inserted-outside", "unproven"})
MAX_LATE_DIGESTS = 1_000


def _read_digest(store: DigestStore, key: str, check: SignatureCheck) -> Digest | None:
    stored = store.get(key)
    if stored is None:
        return None
    document = json.loads(stored.body)
    return Digest(stored, document, check(signed_hash(document), str(document.get("signature", ""))))


def _prove(
    task_id: str,
    items: Sequence[Item],
    store: DigestStore,
    digests: list[Digest],
    keys: MacKeys | None,
    grace: timedelta,
) -> tuple[TaskReport, list[Finding]]:
    digested, findings = read_digested(store, digests, [task_id])
    # What the proof read is sealed up to the newest of those digests; a later event is pending, not missing.
    report = verify_task(task_id, items, digested, keys, grace)
    findings += [
        Finding("digest-signature", d.stored.key, "the signature does not verify")
        for d in digests
        if not d.signature_valid
    ]
    return report, findings


def task_proof(
    task_id: str,
    store: AuditStore,
    digests: DigestStore,
    signer: DigestSigner,
    keys: MacKeys | None,
    period_seconds: int,
    grace_seconds: int,
) -> TaskProof:
    """GET /tasks/{taskId}/proof: the task's events against its digests, signatures checked by KMS."""
    items = store.items(task_id)
    if not items:
        raise TaskNotFoundError(f"no task {task_id!r}")
    report = prove_task(task_id, items, digests, signer.verify, keys, period_seconds, timedelta(seconds=grace_seconds))
    return TaskProof(
        taskId=task_id,
        verified=report.verified,
        verifiedUpTo=report.verified_up_to,
        events=report.events,
        findings=[ProofFinding(**finding.as_dict()) for finding in report.findings],
    )
