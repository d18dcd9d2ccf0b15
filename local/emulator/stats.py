"""Optional counters for the benchmarks: AWS requests by service and operation, and function invocation durations.

Off unless TASKTRAIL_LOCAL_STATS=1 is in the local cloud's environment; when off, callers test one module-level
boolean and nothing else runs. When on, the embedded emulator serves a snapshot at GET /_local/stats (and
DELETE /_local/stats resets it), so a bench can diff the counters between phases of a run.
"""

from __future__ import annotations

import math
import os
import threading
from collections import defaultdict
from typing import Any

ENV = "TASKTRAIL_LOCAL_STATS"
ENABLED = os.environ.get(ENV) == "1"
PATH = "/_local/stats"
# Bounded, so that a long run with stats on cannot grow without end; the benches stay far below it.
_MAX_DURATIONS = 200_000

_REQUEST_FIELDS = ("count", "requestBytes", "responseBytes", "units1KB", "responseUnits4KB", "units64KB")

_lock = threading.Lock()
# (service, operation) -> [requests, request bytes, response bytes, sum of per-request 1 KB, 4 KB and 64 KB units]
_requests: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0, 0, 0, 0, 0])
_invocations: dict[str, dict[str, Any]] = {}


def _units(size: int, unit: int) -> int:
    return max(1, math.ceil(size / unit))


def record_request(service: str, operation: str, request_bytes: int, response_bytes: int) -> None:
    """One AWS API request the emulator answered. The units are what AWS bills per request: DynamoDB writes per
    1 KB and reads per 4 KB (bounded here by the request and response sizes), SQS per 64 KB chunk of payload."""
    with _lock:
        row = _requests[(service, operation)]
        row[0] += 1
        row[1] += request_bytes
        row[2] += response_bytes
        row[3] += _units(request_bytes, 1024)
        row[4] += _units(response_bytes, 4096)
        row[5] += _units(request_bytes, 64 * 1024)


def record_invocation(function: str, memory_mb: int, ok: bool, handler_ms: float | None) -> None:
    """One invocation of a function; `handler_ms` is the time inside the handler, as Lambda bills it."""
    with _lock:
        row = _invocations.setdefault(
            function, {"memoryMb": memory_mb, "count": 0, "errors": 0, "billedMs": 0, "durationsMs": []}
        )
        row["count"] += 1
        row["errors"] += 0 if ok else 1
        if handler_ms is not None:
            row["billedMs"] += max(1, math.ceil(handler_ms))
            if len(row["durationsMs"]) < _MAX_DURATIONS:
                row["durationsMs"].append(round(handler_ms, 3))


def snapshot() -> dict[str, Any]:
    with _lock:
        requests = {
            f"{service}.{operation}": dict(zip(_REQUEST_FIELDS, row, strict=True))
            for (service, operation), row in sorted(_requests.items())
        }
        invocations = {name: {**row, "durationsMs": list(row["durationsMs"])} for name, row in _invocations.items()}
    return {"enabled": ENABLED, "requests": requests, "invocations": invocations}


def reset() -> None:
    with _lock:
        _requests.clear()
        _invocations.clear()
