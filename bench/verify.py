"""How long `tasktrail verify` takes over a large trail: the goal is 100,000 events verified in under a minute.

The trail is written straight into a running local cloud's audit table, as the functions write it (the handlers' own
AuditStore builds each item, MAC included, with the stack's MAC key), but in BatchWriteItem calls of 25: running
50,000 tasks through the API would take the better part of an hour here and prove nothing more about `verify`. The
stack's own digest function reads them from the table's stream and seals them, as it does any event; then `verify`
runs as a user runs it (`tasktrail verify --json`), and its time is the figure.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from localcloud import start_cloud

from handlers.dal.audit_store import AuditStore
from handlers.dal.mac_keys import MacKeys
from handlers.models.digests import DIGESTS_PREFIX, period_of_digest_key
from handlers.models.events import AuditEvent, EventType
from handlers.models.timestamps import format_at

GOAL_SECONDS = 60.0
BATCH = 25  # BatchWriteItem's limit


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=100_000, help="events to write (two per task)")
    args = parser.parse_args()

    cloud = start_cloud()
    try:
        dynamodb, kms = cloud.client("dynamodb", pool=8), cloud.client("kms")
        table = cloud.outputs["auditTableName"]
        store = AuditStore(dynamodb, table, MacKeys(kms, cloud.outputs["eventMacKeyArn"], table))
        run = uuid.uuid4().hex[:6]
        started = datetime.now(UTC)
        items = []
        for n in range(args.events // 2):
            at = started + timedelta(microseconds=n)
            task = f"bench-{run}-{n}"
            received = AuditEvent(
                task,
                EventType.RECEIVED,
                life=0,
                slot=0,
                at=format_at(at),
                fields={"payload": "{}", "payloadHash": "0" * 64},
            )
            succeeded = AuditEvent(task, EventType.SUCCEEDED, life=0, slot=99999, attempt=1, at=format_at(at))
            items += [store.item(received), store.item(succeeded)]

        def write(chunk: list[dict[str, object]]) -> None:
            requests = [{"PutRequest": {"Item": item}} for item in chunk]
            while requests:
                answer = dynamodb.batch_write_item(RequestItems={table: requests})
                requests = answer.get("UnprocessedItems", {}).get(table, [])

        t0 = time.monotonic()
        with ThreadPoolExecutor(4) as pool:
            list(pool.map(write, [items[i : i + BATCH] for i in range(0, len(items), BATCH)]))
        written, written_at = time.monotonic() - t0, datetime.now(UTC)
        print(f"wrote {len(items)} events in {written:.0f} s; waiting for the digest function to seal them")

        # Wait for the digests to pass the last write (cheap: one S3 listing a few seconds), then verify; a user
        # verifying during the catch-up would see those events as pending, not wrong.
        t0, s3, bucket = time.monotonic(), cloud.client("s3"), cloud.outputs["digestBucket"]
        while True:
            newest = newest_digest(s3, bucket)
            if newest is not None and newest > written_at:
                report, seconds = verify(cloud.state_dir)
                if report["pending"] == 0 or report["findings"]:
                    break
                print(f"  {report['pending']} events still pending (verify took {seconds:.1f} s)")
            else:
                print(
                    f"  sealed up to {newest:%H:%M:%S} after {time.monotonic() - t0:.0f} s"
                    if newest
                    else "  no digest yet"
                )
            time.sleep(15)
        print(f"sealed after {time.monotonic() - t0:.0f} s")
    finally:
        cloud.stop()

    for finding in report["findings"][:10]:
        print(f"  finding: {finding['kind']} {finding['subject']}: {finding['detail']}")
    verdict = "met" if seconds < GOAL_SECONDS and not report["findings"] else "NOT met"
    print(
        f"tasktrail verify: {report['events']} events of {report['tasks']} tasks against {report['digests']} digests "
        f"in {seconds:.1f} s wall ({report['seconds']:.1f} s inside), {len(report['findings'])} findings, "
        f"{report['verified']} tasks verified; goal {GOAL_SECONDS:.0f} s for 100,000 events ({verdict})"
    )


def newest_digest(s3: Any, bucket: str) -> datetime | None:
    """The start of the newest period sealed, from the digests' keys."""
    keys = [
        obj["Key"]
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=DIGESTS_PREFIX)
        for obj in page.get("Contents", [])
    ]
    return max(map(period_of_digest_key, keys), default=None)


def verify(state_dir: object) -> tuple[dict[str, Any], float]:
    """`tasktrail verify --json`, as a user runs it: its report and its wall time (start-up included)."""
    t0 = time.monotonic()
    done = subprocess.run(  # noqa: S603 - our own CLI
        [str(Path(sys.executable).with_name("tasktrail")), "verify", "--json", "--state-dir", str(state_dir)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    seconds = time.monotonic() - t0
    if done.returncode not in (0, 1):
        sys.exit(f"verify failed: {done.stderr[-2000:]}")
    return json.loads(done.stdout), seconds


if __name__ == "__main__":
    main()
